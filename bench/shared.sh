#!/usr/bin/env bash
# Benchmark (not a test): one shared engine for many runners, on the
# offline test bed. Four clones at four commits (each an empty commit on
# the same tree, so each builds its own binary) publish to four images
# through the bed engine's TCP address (TESTBED_ENGINE_TCP), in one go:
#   concurrent   the four at once, on the shared engine, emptied first;
#   sequential   the same four one after another on that engine, emptied
#                first (the first run fills it for the other three);
#   fresh        each of the four alone on an emptied engine, as four
#                ephemeral runners would: their sum is the compute four
#                runners spend, their longest the wall time of four
#                runners side by side.
# Every run is a full run (tests, native platform, publish, unsigned, no
# layer cache, no run cache). Before each engine reset Gantry's host cache
# (the publisher binary) is removed too.
#
#   go run ./testbed up && eval "$(go run ./testbed env)"
#   bench/shared.sh
#
# Prints each time and the ratios; logs land in bench/out/shared/
# (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH=shared.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh
require TESTBED_REGISTRY TESTBED_ENGINE_TCP GANTRY_IMAGES _EXPERIMENTAL_DAGGER_CLI_BIN

OUT=$ROOT/bench/out/shared
rm -rf "$OUT" && mkdir -p "$OUT"
worktree "$OUT/base"
for i in 1 2 3 4; do
	git clone -q "$OUT/base" "$OUT/clone$i"
	git -C "$OUT/clone$i" -c user.name=bench -c user.email=bench@example.com commit -q --allow-empty -m "clone $i"
done

log "building the pipeline binary"
go build -o "$OUT/gantry" ./ci

declare -A T
SUFFIX=$RANDOM

empty() { # an emptied shared engine, no ~/.cache/gantry/publisher
	_EXPERIMENTAL_DAGGER_RUNNER_HOST=$TESTBED_ENGINE_TCP "$_EXPERIMENTAL_DAGGER_CLI_BIN" core engine local-cache prune >/dev/null 2>&1 ||
		die "could not prune the engine cache"
	rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}/gantry/publisher"
}
one() { # phase, clone number: one full run against the shared engine
	local log=$OUT/gantry-$1-$2.log
	(cd "$OUT/clone$2" && GITHUB_TOKEN=bench GANTRY_RUN_CACHE=off _EXPERIMENTAL_DAGGER_RUNNER_HOST=$TESTBED_ENGINE_TCP "$OUT/gantry" \
		--registry "$TESTBED_REGISTRY" --image "bench/shared$2-$SUFFIX" --username bench --repository gantry-ci/gantry \
		--sign off --rerun --layer-cache off --report-dir "$OUT/reports-$1-$2" >"$log" 2>&1) || die "gantry failed, see $log"
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
empty
t0=$(now)
pids=()
for i in 1 2 3 4; do one concurrent "$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || die "a concurrent run failed"; done
T[concurrent]=$(elapsed "$t0")
log "concurrent: ${T[concurrent]} s"

empty
t0=$(now)
for i in 1 2 3 4; do one sequential "$i"; done
T[sequential]=$(elapsed "$t0")
log "sequential: ${T[sequential]} s"

sum=0 max=0
for i in 1 2 3 4; do
	empty
	t0=$(now)
	one fresh "$i"
	t=$(elapsed "$t0")
	log "fresh $i: $t s"
	sum=$(awk -v a="$sum" -v b="$t" 'BEGIN { printf "%.1f", a + b }')
	max=$(awk -v a="$max" -v b="$t" 'BEGIN { printf "%.1f", (b > a) ? b : a }')
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "four at once, one shared engine        ${T[concurrent]} s"
echo "the four one after another, same engine ${T[sequential]} s   (concurrent = $(ratio "${T[concurrent]}" "${T[sequential]}") x this)"
echo "four fresh engines, summed             $sum s   (concurrent = $(ratio "${T[concurrent]}" "$sum") x this)"
echo "four fresh engines, the longest        $max s   (concurrent = $(ratio "${T[concurrent]}" "$max") x this)"
