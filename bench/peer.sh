#!/usr/bin/env bash
# Benchmark (not a test): Gantry against the stack a GitHub user picks
# instead, each on a simulated GitHub-hosted runner, in one run.
#
# The peer stack does what a workflow built from docker/setup-buildx-action,
# docker/metadata-action, docker/build-push-action, aquasecurity/trivy-action
# and sigstore/cosign-installer does, step for step:
#   actions/setup-go's cache restored; PostgreSQL as a service container;
#   go vet and go test of the module Gantry's test stage tests; a
#   docker-container builder; docker buildx build --platform
#   linux/amd64,linux/arm64 with --cache-from/--cache-to
#   type=registry,mode=max, pushed by digest; trivy image on the pushed
#   digest (HIGH,CRITICAL fail) and a CycloneDX SBOM; cosign sign, and
#   cosign attest of the SLSA provenance and the SBOM, with a key; a tag per
#   metadata-action rule (branch, sha; semver and latest on a release).
# Gantry does what its workflow does: go run ./ci, publishing both
# platforms, keyed signing, writing its layer cache.
#
# Scenarios, each with a fresh runner for both sides: the Dagger engine's
# container and volume, the buildx builder's container and volume, the
# images Docker pulled, the Go caches (but what setup-go restores), Trivy's
# cache and ~/.cache are gone; only the registry (with both layer caches)
# and setup-go's saved cache stay.
#   1 cold       the first run of a repository: empty registry, no Go cache
#   2 rerun      the same commit again
#   3 change     a one-line change in app/
#   4 gomod      a dependency bump in go.mod (setup-go's key misses)
#   5 release    a release tag on the commit of 4 (Gantry promotes; the
#                peer stack rebuilds, as docker's docs have a tag push run
#                the same workflow)
#
#   go run ./testbed up > /tmp/bed.env && source /tmp/bed.env
#   go run ./testbed peer > /tmp/peer.env && source /tmp/peer.env
#   bench/peer.sh [SCENARIO...]
#
# Writes bench/out/peer/results.tsv (scenario, side, seconds, where the
# time went) and prints the table of docs/benchmarks.md;
# `go run ./testbed/benchplot bench/out/peer/results.tsv docs/peer-ratios.png`
# draws the ratios. Logs land in bench/out/peer/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH=peer.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh
require TESTBED_REGISTRY GANTRY_IMAGES GO_IMAGE RUNTIME_IMAGE POSTGRES_IMAGE _EXPERIMENTAL_DAGGER_RUNNER_HOST \
	_EXPERIMENTAL_DAGGER_CLI_BIN TESTBED_COSIGN3 TESTBED_BUILDX TESTBED_BUILDKIT_IMAGE
for tool in docker go git jq; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
TRIVY=$(ls -d "${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}"/bin/trivy-v*/trivy 2>/dev/null | grep -v '\.tmp-' | head -1)
[[ -x $TRIVY ]] || die "no trivy binary in the test bed's cache: run go run ./testbed up"
TRIVY_DB=$(jq -r .trivy_db_repository "$GANTRY_IMAGES")
COSIGN=$TESTBED_COSIGN3
SCENARIOS=("${@:-cold rerun change gomod release}")
read -r -a SCENARIOS <<<"${SCENARIOS[*]}"

OUT=$ROOT/bench/out/peer
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$OUT/src
worktree "$WORK"
commit() { git -C "$WORK" add -A && git -C "$WORK" -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }
RESULTS=$OUT/results.tsv
printf 'scenario\tside\tseconds\tbreakdown\n' >"$RESULTS"

ID=$(date +%s)
GANTRY_REPO=bench/gantry-$ID
PEER_REPO=bench/peer-$ID
export COSIGN_PASSWORD=bench
(cd "$OUT" && "$COSIGN" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"
PG_PORT=55499
# The builder's registry configuration: the bed's registries are plain HTTP
# (docker-container builders get it with --buildkitd-config).
BUILDKITD_TOML=$OUT/buildkitd.toml
for port in 5000 5001; do printf '[registry."172.17.0.1:%s"]\n  http = true\n  insecure = true\n' "$port"; done >"$BUILDKITD_TOML"

# ---- the fresh runner ------------------------------------------------------

# "_": the go command's ./... skips it (it holds a Go module cache).
RUNNER=$OUT/_runner
fresh_runner() {
	log "fresh runner: a new engine, a new builder, Docker's pulled images and every cache gone"
	docker rm -f -v bench-peer-pg buildx_buildkit_peer0 >/dev/null 2>&1 || true
	docker volume rm -f buildx_buildkit_peer0_state >/dev/null
	docker rm -f -v gantry-testbed-dagger >/dev/null
	docker volume rm -f gantry-testbed-dagger-state >/dev/null
	# `up` starts the bed's engine again, from its image, on an empty volume.
	go run ./testbed up >>"$OUT/testbed-up.log" 2>&1 || die "testbed up failed, see $OUT/testbed-up.log"
	docker image rm -f "$POSTGRES_IMAGE" "$GO_IMAGE" >/dev/null 2>&1 || true
	chmod -R u+w "$RUNNER" 2>/dev/null || true
	rm -rf "$RUNNER" && mkdir -p "$RUNNER"/{gantry,peer}
}

# actions/setup-go's cache (GOMODCACHE and GOCACHE, keyed by the hash of
# every go.sum, no restore-keys): restored when the key was saved before,
# saved at the end of a run whose key missed. One per repository (side).
gocache_key() { git -C "$WORK" ls-files -z '*go.sum' | (cd "$WORK" && xargs -0 cat) | sha256sum | cut -c1-16; }
setup_go() { # side: point Go at the runner's caches and restore them
	local dir=$RUNNER/$1
	export GOCACHE=$dir/go-build GOMODCACHE=$dir/go-mod
	mkdir -p "$GOCACHE" "$GOMODCACHE"
	local saved=$OUT/setup-go/$1-$(gocache_key).tar
	if [[ -f $saved ]]; then tar -C "$dir" -xf "$saved"; fi
}
setup_go_post() { # side: save the caches when the key missed
	local dir=$RUNNER/$1 saved
	saved=$OUT/setup-go/$1-$(gocache_key).tar
	[[ -f $saved ]] && return 0
	mkdir -p "$OUT/setup-go"
	tar -C "$dir" -cf "$saved.tmp" go-build go-mod && mv "$saved.tmp" "$saved"
}

# ---- each side, as its workflow runs on a push ----------------------------

# Each side runs in a subshell (its Go caches and Docker configuration are
# its runner's); step times go to $RUNNER/steps.tsv.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RUNNER/steps.tsv"; }
timed_step() { # side name command...
	local t0
	t0=$(now)
	"${@:3}" >>"$RUNNER/$1.log" 2>&1 || { echo "failed: ${*:3}" >>"$RUNNER/$1.log"; return 1; }
	record "$1" "$2" "$(elapsed "$t0")"
}
timed_setup_go() { # side
	local t0
	t0=$(now)
	setup_go "$1"
	record "$1" setup-go "$(elapsed "$t0")"
}

gantry_pipeline() { # ref
	cd "$WORK" && GITHUB_TOKEN=bench XDG_CACHE_HOME=$RUNNER/gantry/xdg CGO_ENABLED=0 GOFLAGS=-trimpath go run ./ci \
		--registry "$TESTBED_REGISTRY" --image "$GANTRY_REPO" --username bench --repository gantry-ci/gantry \
		--event push --ref "$1" --default-branch main \
		--platform linux/amd64,linux/arm64 --sign key --sign-key "$OUT/cosign.key" \
		--layer-cache "$TESTBED_REGISTRY/$GANTRY_REPO:buildcache" --report-dir "$RUNNER/gantry/reports"
}

gantry_run() ( # ref
	timed_setup_go gantry
	timed_step gantry "go run ./ci" gantry_pipeline "$1" || exit 1
	timed_step gantry setup-go-post setup_go_post gantry
)

pg_service() { # the job's services: postgres, waited for as Actions does (its health command)
	docker run -d --name bench-peer-pg -p "127.0.0.1:$PG_PORT:5432" -e POSTGRES_USER=bench -e POSTGRES_PASSWORD=bench \
		-e POSTGRES_DB=bench "$POSTGRES_IMAGE" || return 1
	local i
	for i in $(seq 240); do
		docker exec bench-peer-pg pg_isready -h 127.0.0.1 -U bench >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

go_tests() ( # the modules Gantry's test stage tests (ci/main.go: the root)
	cd "$WORK" && GOWORK=off TEST_DATABASE_URL="postgres://bench:bench@127.0.0.1:$PG_PORT/bench?sslmode=disable" \
		sh -c 'go vet ./... && go test -count=1 ./...'
)

setup_buildx() { # docker/setup-buildx-action with the docker-container driver
	# buildx starts the builder's container --privileged, which this host
	# refuses (TESTBED.md); it takes a container of that name that exists,
	# so create it first with the flags the bed's engine runs with.
	docker run -d --name buildx_buildkit_peer0 --init \
		--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
		--security-opt apparmor=unconfined --security-opt systempaths=unconfined \
		--device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
		-v buildx_buildkit_peer0_state:/var/lib/buildkit "$TESTBED_BUILDKIT_IMAGE" || return 1
	docker buildx create --name peer --driver docker-container --driver-opt "image=$TESTBED_BUILDKIT_IMAGE" \
		--buildkitd-config "$BUILDKITD_TOML" --bootstrap --use
}

peer_build() { # sha: both platforms, pushed by digest; writes digest and provenance.json
	local sha=$1 meta=$RUNNER/peer/metadata.json
	BUILDX_METADATA_PROVENANCE=max docker buildx build --builder peer --platform linux/amd64,linux/arm64 \
		--cache-from "type=registry,ref=$TESTBED_REGISTRY/$PEER_REPO:buildcache" \
		--cache-to "type=registry,ref=$TESTBED_REGISTRY/$PEER_REPO:buildcache,mode=max" \
		--build-arg GO_IMAGE="$GO_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
		--build-arg VERSION="${sha:0:7}" --build-arg COMMIT="$sha" \
		--label org.opencontainers.image.revision="$sha" \
		--label org.opencontainers.image.source=https://github.com/gantry-ci/gantry \
		--metadata-file "$meta" \
		--output "type=image,name=$TESTBED_REGISTRY/$PEER_REPO,push-by-digest=true,name-canonical=true,push=true" \
		"$WORK" || return 1
	jq -er '."containerimage.digest"' "$meta" >"$RUNNER/peer/digest" || return 1
	jq -e '[to_entries[] | select(.key | startswith("buildx.build.provenance")) | .value][0]' \
		"$meta" >"$RUNNER/peer/provenance.json"
}

trivy_scan() { # ref: the gate, then the SBOM
	local t=("$TRIVY" image --cache-dir "$RUNNER/peer/trivy" --db-repository "$TRIVY_DB" --insecure
		--skip-version-check --disable-telemetry --skip-java-db-update --quiet)
	"${t[@]}" --scanners vuln --severity HIGH,CRITICAL --exit-code 1 "$1" &&
		"${t[@]}" --skip-db-update --format cyclonedx --output "$RUNNER/peer/sbom.cdx.json" "$1"
}

cosign_sign() { # ref
	local c=("$COSIGN" --allow-insecure-registry --allow-http-registry)
	# No transparency log here: cosign v3 takes that only without a signing config.
	local k=(--yes --key "$OUT/cosign.key" --use-signing-config=false --tlog-upload=false)
	# BuildKit's provenance in the metadata file is SLSA v0.2.
	"${c[@]}" sign "${k[@]}" "$1" &&
		"${c[@]}" attest "${k[@]}" --type slsaprovenance --predicate "$RUNNER/peer/provenance.json" "$1" &&
		"${c[@]}" attest "${k[@]}" --type cyclonedx --predicate "$RUNNER/peer/sbom.cdx.json" "$1"
}

peer_tags() { # ref tags...
	local ref=$1 t args=()
	shift
	for t in "$@"; do args+=(-t "$TESTBED_REGISTRY/$PEER_REPO:$t"); done
	docker buildx imagetools create --builder peer "${args[@]}" "$ref"
}

peer_run() ( # ref
	local ref=$1 sha ref_digest
	local -a tags
	sha=$(git -C "$WORK" rev-parse HEAD)
	# metadata-action: type=ref,event=branch and type=sha; on a release,
	# type=semver {{version}} and {{major}}.{{minor}}, and latest (flavor auto).
	case $ref in
	refs/heads/*) tags=("${ref#refs/heads/}" "sha-${sha:0:7}") ;;
	refs/tags/v*) local v=${ref#refs/tags/v} && tags=("$v" "${v%.*}" latest "sha-${sha:0:7}") ;;
	*) die "no tag rule for $ref" ;;
	esac
	export DOCKER_CONFIG=$RUNNER/peer/docker
	mkdir -p "$DOCKER_CONFIG/cli-plugins" && ln -sf "$TESTBED_BUILDX" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
	timed_setup_go peer
	timed_step peer postgres pg_service || exit 1
	timed_step peer test go_tests || exit 1
	timed_step peer setup-buildx setup_buildx || exit 1
	timed_step peer build peer_build "$sha" || exit 1
	ref_digest=$TESTBED_REGISTRY/$PEER_REPO@$(cat "$RUNNER/peer/digest")
	timed_step peer scan trivy_scan "$ref_digest" || exit 1
	timed_step peer sign cosign_sign "$ref_digest" || exit 1
	timed_step peer tag peer_tags "$ref_digest" "${tags[@]}" || exit 1
	timed_step peer setup-go-post setup_go_post peer
)

# ---- the scenarios -------------------------------------------------------

declare -A T LOAD
scenario() { # name ref
	local name=$1 ref=$2 t0 side breakdown
	fresh_runner
	LOAD[$name]="$(cut -d' ' -f1 /proc/loadavg)"
	for side in gantry peer; do
		log "$name: $side"
		t0=$(now)
		"${side}_run" "$ref" || die "$name: $side failed, see $RUNNER/$side.log (kept in $OUT/$name-$side.log)"
		T[$name/$side]=$(elapsed "$t0")
		breakdown=$(awk -F'\t' -v s="$side" '$1 == s { printf "%s%s %s", sep, $2, $3; sep = ", " }' "$RUNNER/steps.tsv")
		if [[ $side == gantry ]]; then # the pipeline's stages, concurrent, from its run report
			breakdown+="; stages: $(jq -r '[.stages[] | "\(.name) \(.seconds * 10 | round / 10) \(.status)"] | join(", ")' \
				"$RUNNER/gantry/reports/run.json")"
		fi
		printf '%s\t%s\t%s\t%s\n' "$name" "$side" "${T[$name/$side]}" "$breakdown" >>"$RESULTS"
		cp "$RUNNER/$side.log" "$OUT/$name-$side.log"
		log "$name: $side ${T[$name/$side]} s ($breakdown)"
	done
	LOAD[$name]+=" → $(cut -d' ' -f1 /proc/loadavg)"
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${SCENARIOS[@]}"; do
	case $s in
	cold | rerun) scenario "$s" refs/heads/main ;;
	change)
		sed -i 's|^package main$|package main // bench: a one-line change|' "$WORK/app/main.go"
		grep -q 'bench: a one-line change' "$WORK/app/main.go" || die "the one-line change did not apply"
		commit "one-line change"
		scenario change refs/heads/main
		;;
	gomod)
		(cd "$WORK" && GOWORK=off go get github.com/labstack/echo/v4@v4.16.6) >>"$OUT/gomod.log" 2>&1 ||
			die "the dependency bump failed, see $OUT/gomod.log"
		commit "bump echo"
		scenario gomod refs/heads/main
		;;
	release)
		git -C "$WORK" tag v1.0.0
		scenario release refs/tags/v1.0.0
		;;
	*) die "unknown scenario $s: one of cold rerun change gomod release" ;;
	esac
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| scenario | Gantry (s) | peer stack (s) | Gantry / peer | load (1 min) before → after |"
echo "|---|---:|---:|---:|---|"
for s in "${SCENARIOS[@]}"; do
	echo "| $s | ${T[$s/gantry]} | ${T[$s/peer]} | $(ratio "${T[$s/gantry]}" "${T[$s/peer]}") | ${LOAD[$s]} |"
done
echo
echo "Raw numbers and where the time went: $RESULTS"
