#!/usr/bin/env bash
# Benchmark (not a test): Gantry against the plain-docker way, on the offline
# test bed, in one run:
#   (a) cold: empty engine cache / empty BuildKit cache and Trivy cache
#   (b) warm, nothing changed
#   (c) after a one-line change in app/
#   (d) cold again, with the test stage and both platforms (linux/amd64 and
#       linux/arm64), which is what a GitHub Actions run does
# The plain-docker way is: docker build, docker run postgres + the image and
# curl /health, trivy on `docker save`, and in (d) docker push to the local
# registry.
# In (a) to (c) Gantry runs --dry-run --skip-tests (the plain way runs no
# tests, and a publishing run can't skip them) on the native platform, and
# neither side pushes; Gantry still does more (outage check, SARIF, SBOM,
# healthcheck run). In (d) the plain way first runs go vet and go test of
# both shipped modules in the Go image against a PostgreSQL container, then
# its native-platform steps: Debian's docker 20.10 has no buildx, so it
# can't build or push a multi-platform image; Gantry builds, scans and
# publishes both.
# (b) answers from Gantry's run cache (same inputs as the run before); (b')
# is the same run with --rerun, which goes through the engine's cache.
# Cold means nothing cached on either side: the engine's cache is pruned
# (which drops the images it pulled) and Docker loses its build cache and
# its copies of the base images.
#
#   go run ./testbed up && eval "$(go run ./testbed env)"
#   bench/pipeline.sh
#
# Prints each time, the ratios against the targets, the runtime image size and
# the binary size, and each Gantry run's stage times on stderr. Outputs land
# in bench/out/pipeline/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { echo "bench/pipeline.sh: $*" >&2; exit 1; }
for v in TESTBED_REGISTRY GANTRY_IMAGES GO_IMAGE RUNTIME_IMAGE POSTGRES_IMAGE _EXPERIMENTAL_DAGGER_RUNNER_HOST; do
	[[ -n ${!v:-} ]] || die "$v is unset: bring the test bed up and source its env file (see docs/testbed.md)"
done
for tool in docker go git curl jq; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
# BuildKit, as the Dockerfile's cache mounts need: docker 23+ clients only
# have it through buildx; Debian's 20.10 client has it built in.
BUILD_CLI=docker
docker buildx version >/dev/null 2>&1 || BUILD_CLI=/usr/bin/docker
TRIVY=$(ls -d "${GANTRY_TESTBED_CACHE:-$HOME/.cache/gantry-testbed}"/bin/trivy-v*/trivy 2>/dev/null | grep -v '\.tmp-' | head -1)
[[ -x $TRIVY ]] || die "no trivy binary in the test bed's cache"
TRIVY_DB=$(jq -r .trivy_db_repository "$GANTRY_IMAGES")

OUT=$ROOT/bench/out/pipeline
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$OUT/src
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# A private copy of the work tree, committed, so runs publish clean commits.
mkdir -p "$WORK" && git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$WORK" -xf -
git -C "$WORK" init -q -b main
commit() { git -C "$WORK" add -A && git -C "$WORK" -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }
commit "bench"

log "building the pipeline binary"
go build -o "$OUT/gantry" ./ci

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

gantry_full() { # label, extra flags...
	local label=$1 log=$OUT/gantry-$1.log
	shift
	(cd "$WORK" && GITHUB_TOKEN=bench GANTRY_RUN_CACHE="$OUT/run-cache" "$OUT/gantry" \
		--registry "$TESTBED_REGISTRY" --image bench/gantry --username bench --report-dir "$OUT/reports" "$@" \
		>"$log" 2>&1) || die "gantry failed, see $log"
	# Each stage's time, for the breakdown in docs/benchmarks.md.
	grep -E '^gantry: [a-z]+ +(passed|FAILED|cancelled|skipped)|^Wall time' "$log" | sed "s/^/  [$label] /" >&2 || true
}
# A publishing run can't skip the tests, so (a) to (c) are dry runs on both
# sides: nothing is pushed (the push cost about 1 s each side when both did).
gantry() { gantry_full "$1" "${@:2}" --skip-tests --dry-run; }

step() { # one step of the plain way; stops it at the first failure
	"$@" >>"$OUT/plain.log" 2>&1 || { echo "failed: $*" >>"$OUT/plain.log"; return 1; }
}

plain_steps() {
	local sha tag
	sha=$(git -C "$WORK" rev-parse HEAD)
	tag=$TESTBED_REGISTRY/bench/plain:$sha
	# The daemon's BuildKit resolver ignores insecure-registries, so pull the
	# base images with the daemon (as a cold build would fetch them).
	local base
	for base in "$GO_IMAGE" "$RUNTIME_IMAGE"; do
		docker image inspect "$base" >/dev/null 2>&1 || step docker pull -q "$base" || return 1
	done
	DOCKER_BUILDKIT=1 step "$BUILD_CLI" build -q -t "$tag" --build-arg GO_IMAGE="$GO_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
		--build-arg VERSION="${sha:0:12}" --build-arg COMMIT="$sha" "$WORK" || return 1
	step docker network create bench-plain || return 1
	step docker run -d --name bench-plain-pg --network bench-plain -e POSTGRES_USER=bench \
		-e POSTGRES_PASSWORD=bench -e POSTGRES_DB=bench "$POSTGRES_IMAGE" || return 1
	step docker run -d --name bench-plain-app --network bench-plain -p 127.0.0.1:18090:8080 \
		-e DATABASE_URL="postgres://bench:bench@bench-plain-pg:5432/bench?sslmode=disable" "$tag" || return 1
	local i
	for i in $(seq 90); do
		curl -fs http://127.0.0.1:18090/health >/dev/null && break
		sleep 1
	done
	step curl -fs http://127.0.0.1:18090/health || return 1
	step docker rm -f bench-plain-app bench-plain-pg || return 1
	step docker network rm bench-plain || return 1
	step docker save -o "$OUT/plain.tar" "$tag" || return 1
	step "$TRIVY" image --input "$OUT/plain.tar" --cache-dir "$OUT/trivy-cache" --db-repository "$TRIVY_DB" --insecure \
		--skip-version-check --disable-telemetry --skip-java-db-update --scanners vuln \
		--severity HIGH,CRITICAL --exit-code 1 --quiet || return 1
	[[ ${PUSH:-} != 1 ]] || step docker push -q "$tag"
}

# The test stage the plain way: go vet and go test of each shipped module in
# the Go image, against a PostgreSQL container.
plain_test_steps() {
	local url="postgres://bench:bench@bench-plain-testpg:5432/bench?sslmode=disable"
	step docker network create bench-plain-test || return 1
	step docker run -d --name bench-plain-testpg --network bench-plain-test -e POSTGRES_USER=bench \
		-e POSTGRES_PASSWORD=bench -e POSTGRES_DB=bench "$POSTGRES_IMAGE" || return 1
	step docker run --rm --network bench-plain-test -v "$WORK:/src" -w /src -e GOWORK=off -e GOFLAGS=-mod=readonly \
		-e TEST_DATABASE_URL="$url" "$GO_IMAGE" \
		sh -c 'for m in . ci; do (cd "$m" && go vet ./... && go test -count=1 ./...) || exit 1; done' || return 1
	step docker rm -f bench-plain-testpg || return 1
	step docker network rm bench-plain-test
}

plain_full() {
	plain_test_steps || {
		docker rm -f bench-plain-testpg >/dev/null 2>&1
		docker network rm bench-plain-test >/dev/null 2>&1
		die "plain docker tests failed, see $OUT/plain.log"
	}
	PUSH=1 plain
}

cold() { # both sides lose everything they cached
	"$_EXPERIMENTAL_DAGGER_CLI_BIN" core engine local-cache prune >/dev/null 2>&1 ||
		die "could not prune the engine cache"
	docker builder prune -af >/dev/null
	docker image rm -f "$GO_IMAGE" "$RUNTIME_IMAGE" "$POSTGRES_IMAGE" >/dev/null 2>&1 || true
	docker image ls -q "$TESTBED_REGISTRY/bench/plain" | xargs -r docker image rm -f >/dev/null 2>&1 || true
	rm -rf "$OUT/trivy-cache" "$OUT/run-cache"
}

plain() {
	plain_steps || {
		docker rm -f bench-plain-app bench-plain-pg >/dev/null 2>&1
		docker network rm bench-plain >/dev/null 2>&1
		die "plain docker failed, see $OUT/plain.log"
	}
}

timed() { # name command...
	local t0
	t0=$(now)
	"${@:2}"
	T[$1]=$(elapsed "$t0")
	log "$1: ${T[$1]} s (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
}
declare -A T

log "(a) cold: pruning the engine cache; BuildKit's cache, the base images and Trivy's cache"
# Both sides start with nothing: the engine prune also drops the images it
# pulled, so Docker loses its copies of the same images too.
cold
timed gantry_cold gantry cold
timed plain_cold plain

log "(b) warm, no change"
timed gantry_warm gantry warm
timed gantry_rerun gantry rerun --rerun
timed plain_warm plain

log "(c) one-line change in app/"
echo "// bench: one-line change $(date +%s)" >>"$WORK/app/main.go"
commit "one-line change"
timed gantry_change gantry change
timed plain_change plain

log "(d) cold, with tests, both platforms (Gantry) / native only (plain)"
echo "// bench: another change $(date +%s)" >>"$WORK/app/main.go"
commit "another change"
cold
timed gantry_full gantry_full full --platform linux/amd64,linux/arm64
timed plain_full plain_full

tag=$TESTBED_REGISTRY/bench/plain:$(git -C "$WORK" rev-parse HEAD)
image_bytes=$(docker image inspect -f '{{.Size}}' "$tag")
cid=$(docker create "$tag")
docker cp "$cid:/app" "$OUT/app.bin" >/dev/null
docker rm "$cid" >/dev/null
binary_bytes=$(stat -c %s "$OUT/app.bin")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "MET" : "MISSED" }'; }
cat <<EOF

| run | Gantry (s) | plain docker (s) |
|---|---|---|
| (a) cold | ${T[gantry_cold]} | ${T[plain_cold]} |
| (b) warm, no change | ${T[gantry_warm]} | ${T[plain_warm]} |
| (b') warm, no change, --rerun | ${T[gantry_rerun]} | |
| (c) one-line change | ${T[gantry_change]} | ${T[plain_change]} |
| (d) cold, tests, both platforms (plain: native) | ${T[gantry_full]} | ${T[plain_full]} |

| ratio | value | target | |
|---|---|---|---|
| Gantry cold / plain cold | $(ratio "${T[gantry_cold]}" "${T[plain_cold]}") | <= 0.80 | $(verdict "$(ratio "${T[gantry_cold]}" "${T[plain_cold]}")" 0.80) |
| Gantry warm --rerun / plain warm | $(ratio "${T[gantry_rerun]}" "${T[plain_warm]}") | <= 1.00 | $(verdict "$(ratio "${T[gantry_rerun]}" "${T[plain_warm]}")" 1.00) |
| Gantry change / plain change | $(ratio "${T[gantry_change]}" "${T[plain_change]}") | <= 1.20 | $(verdict "$(ratio "${T[gantry_change]}" "${T[plain_change]}")" 1.20) |
| Gantry warm (run cache) / plain warm | $(ratio "${T[gantry_warm]}" "${T[plain_warm]}") | <= 0.50 | $(verdict "$(ratio "${T[gantry_warm]}" "${T[plain_warm]}")" 0.50) |
| Gantry cold with tests, 2 platforms / plain with tests, 1 platform | $(ratio "${T[gantry_full]}" "${T[plain_full]}") | | |

| size | bytes | |
|---|---|---|
| runtime image (docker image inspect) | $image_bytes | |
| binary /app | $binary_bytes | |
| image - binary | $((image_bytes - binary_bytes)) | target <= 3145728: $(verdict "$((image_bytes - binary_bytes))" 3145728) |
EOF
