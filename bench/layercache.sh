#!/usr/bin/env bash
# Benchmark (not a test): the registry layer cache on an ephemeral runner,
# simulated on the offline test bed: before each run the engine's state is
# pruned and Gantry's host cache (the publisher binary) removed; the run
# cache is off. A publishing run only writes the layer cache, every other
# run only reads it (docs/pipeline.md, "Layer cache"), so the runs, in one go, are:
#   cold       publish (tests, native platform, unsigned), no layer cache;
#   fill       the same with the layer cache: what every publishing run
#              pays, since none reads it;
#   pr-cold    a pull request's run (every stage but publish), no cache;
#   pr-warm    the same with the layer cache, no change;
#                                                  target <= 0.5 x pr-cold
#   pr-change  the same after a one-line change in app/;
#                                                  target <= 0.6 x pr-cold
#
#   go run ./testbed up && eval "$(go run ./testbed env)"
#   bench/layercache.sh
#
# Prints each time and the ratios; each run's stage times go to stderr.
# Outputs land in bench/out/layercache/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH=layercache.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh
require TESTBED_REGISTRY GANTRY_IMAGES _EXPERIMENTAL_DAGGER_RUNNER_HOST _EXPERIMENTAL_DAGGER_CLI_BIN

OUT=$ROOT/bench/out/layercache
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$OUT/src
worktree "$WORK"
commit() { git -C "$WORK" add -A && git -C "$WORK" -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }

log "building the pipeline binary"
go build -o "$OUT/gantry" ./ci

declare -A T
IMAGE=bench/layercache-$RANDOM
CACHE=$TESTBED_REGISTRY/$IMAGE:buildcache

ephemeral() { # what a fresh runner has: an empty engine, no ~/.cache/gantry
	"$_EXPERIMENTAL_DAGGER_CLI_BIN" core engine local-cache prune >/dev/null 2>&1 || die "could not prune the engine cache"
	rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}/gantry/publisher"
}
run() { # label, extra flags...; records T[label]
	local label=$1 log=$OUT/gantry-$1.log t0
	shift
	ephemeral
	t0=$(now)
	(cd "$WORK" && GITHUB_TOKEN=bench GANTRY_RUN_CACHE=off "$OUT/gantry" \
		--registry "$TESTBED_REGISTRY" --image "$IMAGE" --username bench --repository gantry-ci/gantry \
		--sign off --rerun --report-dir "$OUT/reports" "$@" >"$log" 2>&1) || die "gantry failed, see $log"
	T[$label]=$(elapsed "$t0")
	grep -E '^gantry: [a-z]+ +(passed|FAILED|cancelled|skipped)|^gantry: layer cache|^gantry: session closed' "$log" | sed "s/^/  [$label] /" >&2 || true
	log "$label: ${T[$label]} s"
}

PR=(--event pull_request --ref refs/pull/1/merge)
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run cold --layer-cache off
run fill --layer-cache "$CACHE"
run pr-cold --layer-cache off "${PR[@]}"
run pr-warm --layer-cache "$CACHE" "${PR[@]}"
sed -i 's|^package main$|package main // bench: a one-line change|' "$WORK/app/main.go"
grep -q 'bench: a one-line change' "$WORK/app/main.go" || die "the one-line change did not apply"
commit "one-line change"
run pr-change --layer-cache "$CACHE" "${PR[@]}"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "publish, no layer cache           ${T[cold]} s"
echo "publish, writing the layer cache  ${T[fill]} s   ($(ratio "${T[fill]}" "${T[cold]}") x cold)"
echo "pull request, no layer cache      ${T[pr-cold]} s"
echo "pull request, reading, no change  ${T[pr-warm]} s   ($(ratio "${T[pr-warm]}" "${T[pr-cold]}") x pr-cold, target <= 0.5)"
echo "pull request, one-line change     ${T[pr-change]} s   ($(ratio "${T[pr-change]}" "${T[pr-cold]}") x pr-cold, target <= 0.6)"
