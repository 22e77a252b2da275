#!/usr/bin/env bash
# Benchmark (not a test): the registry layer cache on an ephemeral runner,
# simulated on the offline test bed: before each run the engine's state is
# pruned and Gantry's host cache (the publisher binary) removed; the run
# cache is off. All runs are full runs (tests, native platform, publish,
# unsigned), in one go:
#   cold     no layer cache;
#   fill     with the layer cache, empty (what a first runner pays);
#   warm     with the layer cache and no change;         target <= 0.5 x cold
#   change   with the layer cache and a one-line change in app/;
#                                                         target <= 0.6 x cold
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

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run cold --layer-cache off
run fill --layer-cache "$CACHE"
run warm --layer-cache "$CACHE"
sed -i 's|^package main$|package main // bench: a one-line change|' "$WORK/app/main.go"
grep -q 'bench: a one-line change' "$WORK/app/main.go" || die "the one-line change did not apply"
commit "one-line change"
run change --layer-cache "$CACHE"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "cold (no layer cache)         ${T[cold]} s"
echo "fill (empty layer cache)      ${T[fill]} s   ($(ratio "${T[fill]}" "${T[cold]}") x cold)"
echo "ephemeral warm (no change)    ${T[warm]} s   ($(ratio "${T[warm]}" "${T[cold]}") x cold, target <= 0.5)"
echo "ephemeral, one-line change    ${T[change]} s   ($(ratio "${T[change]}" "${T[cold]}") x cold, target <= 0.6)"
