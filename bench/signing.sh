#!/usr/bin/env bash
# Benchmark (not a test): what signing and promotion cost, on the offline
# test bed, both sides in one run.
#   (s) a warm full run (tests, native platform, publish) signed with a key
#       against the same run unsigned (--sign off), alternating, ROUNDS
#       times, each with --rerun so every stage goes through the engine's
#       cache. Target: signed / unsigned - 1 <= 0.10. Smoke, on the critical
#       path, varies by about ±0.5 s between runs, as much as signing costs,
#       so the script also reads signing's own cost out of each run's log:
#       the publish stage, and the time outside the pipeline (the key is
#       decrypted before the engine is contacted), signed against unsigned.
#   (p) a release-tag run that promotes the tested digest against a cold
#       signed run of the same commit (engine cache pruned before each), and
#       the promotion again warm. Target: promotion / cold <= 0.15.
#
#   go run ./testbed up && eval "$(go run ./testbed env)"
#   bench/signing.sh            # ROUNDS=6 by default
#
# Prints each time and the ratios; each run's stage times go to stderr.
# Outputs land in bench/out/signing/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-6}

die() { echo "bench/signing.sh: $*" >&2; exit 1; }
for v in TESTBED_REGISTRY TESTBED_COSIGN GANTRY_IMAGES _EXPERIMENTAL_DAGGER_RUNNER_HOST _EXPERIMENTAL_DAGGER_CLI_BIN; do
	[[ -n ${!v:-} ]] || die "$v is unset: bring the test bed up and source its env file (see docs/testbed.md)"
done

OUT=$ROOT/bench/out/signing
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$OUT/src
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# A private copy of the work tree, committed, so runs publish clean commits.
mkdir -p "$WORK" && git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$WORK" -xf -
git -C "$WORK" init -q -b main
git -C "$WORK" add -A && git -C "$WORK" -c user.name=bench -c user.email=bench@example.com commit -qm bench

log "building the pipeline binary; making a key pair"
go build -o "$OUT/gantry" ./ci
COSIGN_PASSWORD=bench "$TESTBED_COSIGN" generate-key-pair --output-key-prefix "$OUT/cosign" >/dev/null 2>&1 ||
	die "cosign generate-key-pair failed"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
declare -A T

run() { # label, image, extra flags...; records T[label]
	local label=$1 image=$2 log=$OUT/gantry-$1.log t0
	shift 2
	t0=$(now)
	(cd "$WORK" && GITHUB_TOKEN=bench COSIGN_PASSWORD=bench GANTRY_RUN_CACHE=off "$OUT/gantry" \
		--registry "$TESTBED_REGISTRY" --image "bench/$image" --username bench --repository gantry-ci/gantry \
		--report-dir "$OUT/reports" "$@" >"$log" 2>&1) || die "gantry failed, see $log"
	T[$label]=$(elapsed "$t0")
	grep -E '^gantry: [a-z]+ +(passed|FAILED|cancelled|skipped)|^Wall time|^promoted' "$log" | sed "s/^/  [$label] /" >&2 || true
	log "$label: ${T[$label]} s"
}
signed() { run "$1" signed --sign-key "$OUT/cosign.key" "${@:2}"; }
unsigned() { run "$1" unsigned --sign off "${@:2}"; }
prune() {
	"$_EXPERIMENTAL_DAGGER_CLI_BIN" core engine local-cache prune >/dev/null 2>&1 || die "could not prune the engine cache"
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
log "(p) cold signed run of main (the digest to promote)"
prune
signed cold
unsigned warmup --rerun

log "(s) warm full runs, unsigned and signed, $ROUNDS rounds"
for i in $(seq "$ROUNDS"); do
	unsigned "unsigned$i" --rerun
	signed "signed$i" --rerun
done

log "(p) promotion of v0.0.1, cold, then warm"
git -C "$WORK" tag v0.0.1
prune
signed promote-cold --ref refs/tags/v0.0.1
git -C "$WORK" tag v0.0.2
signed promote-warm --ref refs/tags/v0.0.2
grep -q '^promoted sha256:' "$OUT/gantry-promote-cold.log" || die "the release run did not promote, see $OUT/gantry-promote-cold.log"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

sum() { local s=0 k; for k in "$@"; do s=$(awk -v a="$s" -v b="${T[$k]}" 'BEGIN { print a + b }'); done; echo "$s"; }
# secs: a Go duration ("900ms", "1.5s", "1m2.3s") in seconds.
secs() { awk -v d="$1" 'BEGIN { s = 0; if (match(d, /[0-9.]+m[^s]/)) { s += substr(d, RSTART, RLENGTH - 2) * 60; d = substr(d, RSTART + RLENGTH - 1) }
	if (d ~ /ms$/) s += substr(d, 1, length(d) - 2) / 1000; else if (d ~ /s$/) s += substr(d, 1, length(d) - 1); printf "%.3f", s }'; }
# own: what signing itself adds to a run, read from its log: the publish
# stage, and the time before the pipeline starts (where the key is
# decrypted) plus the session's close, i.e. the run's time minus its
# "gantry: done in". Smoke, on the critical path, varies by ±0.5 s from
# run to run; this does not.
own() { # label -> "publish outside"
	local log=$OUT/gantry-$1.log
	local pub done
	pub=$(secs "$(grep -oP '^gantry: publish +passed in \K\S+' "$log")")
	done=$(secs "$(grep -oP '^gantry: done in \K\S+' "$log")")
	awk -v p="$pub" -v d="$done" -v t="${T[$1]}" 'BEGIN { printf "%.3f %.3f", p, t - d }'
}
mean_own() { # prefix -> mean publish, mean outside over the rounds
	local i p=0 o=0 a b
	for i in $(seq "$ROUNDS"); do read -r a b <<<"$(own "$1$i")"; p=$(awk -v x="$p" -v y="$a" 'BEGIN { print x + y }'); o=$(awk -v x="$o" -v y="$b" 'BEGIN { print x + y }'); done
	awk -v p="$p" -v o="$o" -v n="$ROUNDS" 'BEGIN { printf "%.2f %.2f", p / n, o / n }'
}
U=$(sum $(for i in $(seq "$ROUNDS"); do echo "unsigned$i"; done))
S=$(sum $(for i in $(seq "$ROUNDS"); do echo "signed$i"; done))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "| measure | seconds | ratio | target |"
echo "|---|---|---|---|"
for i in $(seq "$ROUNDS"); do
	echo "| round $i: warm unsigned / signed | ${T[unsigned$i]} / ${T[signed$i]} | $(ratio "${T[signed$i]}" "${T[unsigned$i]}") | |"
done
echo "| (s) warm signed / unsigned, $ROUNDS rounds | $S / $U | $(ratio "$S" "$U") | ≤ 1.10 |"
read -r SP SO <<<"$(mean_own signed)"
read -r UP UO <<<"$(mean_own unsigned)"
UMEAN=$(awk -v u="$U" -v n="$ROUNDS" 'BEGIN { printf "%.2f", u / n }')
echo "| (s) signing's own cost: publish stage signed / unsigned (mean) | $SP / $UP | | |"
echo "| (s) signing's own cost: before the pipeline and after it, signed / unsigned (mean) | $SO / $UO | | |"
echo "| (s) signing's own cost over the warm unsigned run | $(awk -v a="$SP" -v b="$UP" -v c="$SO" -v d="$UO" 'BEGIN { printf "%.2f", a - b + c - d }') / $UMEAN | $(awk -v a="$SP" -v b="$UP" -v c="$SO" -v d="$UO" -v m="$UMEAN" 'BEGIN { printf "%.2f", 1 + (a - b + c - d) / m }') | ≤ 1.10 |"
echo "| (p) promotion (cold engine) / cold signed run | ${T[promote-cold]} / ${T[cold]} | $(ratio "${T[promote-cold]}" "${T[cold]}") | ≤ 0.15 |"
echo "| promotion (warm engine) / cold signed run | ${T[promote-warm]} / ${T[cold]} | $(ratio "${T[promote-warm]}" "${T[cold]}") | |"
