#!/usr/bin/env bash
# Benchmark (not a test): what `go run ./ci` compiles, before and after a
# change (issue 23: keep the pipeline's own compile in check when the
# verifier moves to the host). For each commit, in a worktree of it:
#   cold   `go build ./ci` with an empty Go build cache (the module cache
#          stays warm: downloads are not compiles);
#   warm   the same again, the build cache filled: what every later
#          `go run ./ci` pays;
# and, at the newer commit, `go build` of the pipeline and gantry-verify
# together, cold: what linking the verifier into `go run ./ci` would add.
#
#   bench/compile.sh [OLD [NEW]]      (defaults: HEAD~1 and HEAD)
#
# Prints one line per measurement and the ratios new/old.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(git rev-parse --short "${1:-HEAD~1}")
NEW=$(git rev-parse --short "${2:-HEAD}")
OUT=$PWD/bench/out/compile
rm -rf "$OUT" && mkdir -p "$OUT"
trap 'git worktree remove --force "$OUT/old" 2>/dev/null; git worktree remove --force "$OUT/new" 2>/dev/null' EXIT
git worktree add -q --detach "$OUT/old" "$OLD"
git worktree add -q --detach "$OUT/new" "$NEW"

# seconds runs go build in dir with the build cache cache and prints the
# wall time in seconds.
seconds() {
	local dir=$1 cache=$2; shift 2
	local start end
	start=$(date +%s.%N)
	(cd "$dir/ci" && GOCACHE=$cache GOFLAGS= go build -o /dev/null "$@")
	end=$(date +%s.%N)
	echo "$end - $start" | bc
}

declare -A t
for side in old new; do
	cache=$OUT/cache-$side
	rm -rf "$cache" && mkdir -p "$cache"
	t[$side-cold]=$(seconds "$OUT/$side" "$cache" .)
	t[$side-warm]=$(seconds "$OUT/$side" "$cache" .)
done
cache=$OUT/cache-both && mkdir -p "$cache"
# Two packages at once: one go build that compiles both, links each.
t[new-with-verifier-cold]=$(cd "$OUT/new/ci" && start=$(date +%s.%N) && GOCACHE=$cache GOFLAGS= go build -o "$OUT" . ./cmd/gantry-verify && end=$(date +%s.%N) && echo "$end - $start" | bc)

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)"
printf '%-28s %8s\n' measurement seconds
for k in old-cold new-cold old-warm new-warm new-with-verifier-cold; do
	printf '%-28s %8.1f\n' "$k ($([[ $k == old* ]] && echo "$OLD" || echo "$NEW"))" "${t[$k]}"
done
printf 'cold new/old %.2f, warm new/old %.2f, verifier linked too / pipeline alone (cold) %.2f\n' \
	"$(echo "${t[new-cold]} / ${t[old-cold]}" | bc -l)" "$(echo "${t[new-warm]} / ${t[old-warm]}" | bc -l)" \
	"$(echo "${t[new-with-verifier-cold]} / ${t[new-cold]}" | bc -l)"
