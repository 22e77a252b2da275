# Shared by the bench scripts that source it: messages, clocks, ratios and
# a copy of the work tree to run on. BENCH names the script in messages.

die() { echo "bench/$BENCH: $*" >&2; exit 1; }
log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# require VAR...: each must be set, as the test bed's env file sets it.
require() {
	local v
	for v in "$@"; do
		[[ -n ${!v:-} ]] || die "$v is unset: bring the test bed up and source its env file (see docs/testbed.md)"
	done
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# worktree DIR: the tracked and untracked (not ignored) files, as a fresh
# git repository with one commit.
worktree() {
	mkdir -p "$1" && git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$1" -xf -
	git -C "$1" init -q -b main
	git -C "$1" add -A
	git -C "$1" -c user.name=bench -c user.email=bench@example.com commit -qm bench
}
