#!/usr/bin/env bash
# The one test command of the project: `bash ci/test.sh` (CI runs it with
# CI=true on a fresh machine). It installs what it needs, starts a throwaway
# PostgreSQL 15 for the app's database tests, in CI turns transparent huge
# pages on for the run, brings the offline test bed up
# (docs/testbed.md), vets and tests the three modules, then takes the bed down
# and checks that nothing of it is left.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
# Every host build with the settings gantry-publish is compiled with
# (static, paths trimmed): the tests, the e2e's pipeline binary and the
# publisher then share one compile of the ci module's dependencies, where
# the publisher compiled them again (167 CPU-s on a fresh machine,
# 2026-12-04).
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath"

# Each phase's line says when it started, so a run's log shows where the
# time went (docs/testbed.md records a fresh machine's phases).
started=$SECONDS
log() { printf '\n=== [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*" >&2; }

pgbin=/usr/lib/postgresql/15/bin

# 1. Debian packages (PostgreSQL 15 server and client). The test bed
#    installs its own (docker.io, docker-registry, debootstrap, …).
missing=()
[ -x "$pgbin/initdb" ] && [ -x "$pgbin/pg_ctl" ] || missing+=(postgresql-15)
command -v psql >/dev/null || missing+=(postgresql-client-15)
command -v runuser >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

# 2. A throwaway PostgreSQL 15 on a loopback port, as the postgres user
#    (initdb refuses root), stopped on exit.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pgport=55432
while ! port_free "$pgport"; do
	pgport=$((pgport + 1))
	[ "$pgport" -lt 55532 ] || { echo "no free port for PostgreSQL in 55432-55531" >&2; exit 1; }
done
pgdir="$(mktemp -d /tmp/gantry-test-pg.XXXXXX)"
chown postgres:postgres "$pgdir"
pg() { runuser -u postgres -- "$@"; }
stop_pg() {
	pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$pgdir"
}
trap stop_pg EXIT
log "starting PostgreSQL 15 on 127.0.0.1:$pgport ($pgdir)"
printf 'gantry' > "$pgdir/pw"
chown postgres:postgres "$pgdir/pw"
pg "$pgbin/initdb" -D "$pgdir/data" -U gantry --pwfile="$pgdir/pw" \
	--auth-local=trust --auth-host=scram-sha-256 >"$pgdir/initdb.log"
pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
	-o "-c listen_addresses=127.0.0.1 -p $pgport -k $pgdir -c fsync=off" start >/dev/null
pg "$pgbin/createdb" -h "$pgdir" -p "$pgport" -U gantry gantry_test
export TEST_DATABASE_URL="postgres://gantry:gantry@127.0.0.1:$pgport/gantry_test?sslmode=disable"

# 3. In CI, transparent huge pages for all memory, not only where a process
#    asks (madvise). On the VMs CI runs on (Firecracker, a paravirtualized
#    kernel) page faults are dear, and every Go compile faults in its whole
#    heap: a cold `go build std` spent 15 % of its samples in the kernel's
#    pvm_irq_enable under those faults, and took 36 s instead of 63 with huge
#    pages (docs/testbed.md). A machine-wide setting, so only when CI=true,
#    and put back on exit.
thp=/sys/kernel/mm/transparent_hugepage/enabled
thp_was=
if [ "${CI:-}" = true ] && [ -w "$thp" ] && ! grep -q '\[always\]' "$thp"; then
	thp_was="$(sed -E 's/.*\[([a-z]+)\].*/\1/' "$thp")"
	log "transparent huge pages: always (was $thp_was; put back on exit)"
	echo always >"$thp"
fi
restore_thp() { [ -z "$thp_was" ] || echo "$thp_was" >"$thp" || true; }
trap 'stop_pg; restore_thp' EXIT

# 4. The offline test bed: Docker, registries, Dagger engine, stand-ins.
log "bringing the test bed up"
go run ./testbed up >"$pgdir/testbed.env"
# shellcheck source=/dev/null
source "$pgdir/testbed.env"

# 5. Vet and test the three modules: root, ci and testbed (the `work` pattern
#    covers the workspace).
status=0
log "go vet work"
go vet work || status=$?
# The bed's own proof runs first and alone: it says whether the bed works
# before anything is tested on it, and its Docker build of the app must not
# share 2 cores with the e2e runs' cold builds (beside them it once took
# 14 minutes and hit its deadline).
if [ "$status" -eq 0 ]; then
	log "go test ./testbed/proof (the bed works)"
	go test -count=1 -timeout 30m ./testbed/proof || status=$?
fi
if [ "$status" -eq 0 ]; then
	log "go test work (all but the bed's proof)"
	# The e2e runs wait on the engine much of the time (services, probes,
	# pulls) and share its cache, so four at a time finish sooner than two.
	# A failing `go list` must fail the run, not leave `go test` with no
	# packages (it would test the root package alone), so no pipe into mapfile.
	if all="$(go list work)"; then
		mapfile -t pkgs < <(grep -v '/testbed/proof$' <<<"$all")
		export GANTRY_E2E_TIMINGS="$pgdir/e2e-timings.txt"
		go test -count=1 -parallel 4 -timeout 60m "${pkgs[@]}" || status=$?
		if [ -s "$GANTRY_E2E_TIMINGS" ]; then
			log "e2e tests, slowest first"
			cat "$GANTRY_E2E_TIMINGS" >&2
		fi
	else
		status=1
	fi
fi

# 6. Take the bed down, then check that nothing of it is left.
log "taking the test bed down"
go run ./testbed down || status=$?
TESTBED_EXPECT_DOWN=1 go test -count=1 -run 'TestDown' ./testbed/proof || status=$?

log "done, exit $status"
exit "$status"
