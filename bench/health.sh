#!/usr/bin/env bash
# Benchmark (not a test): the service's GET /health against pgbench running
# the same "SELECT 1" straight on PostgreSQL, at the same concurrency, one
# after the other. It prints both throughputs, their ratio and the /health
# latency percentiles, and compares them with targets; it never fails on a
# missed target.
#
#   bench/health.sh                                  # throwaway PostgreSQL
#   DATABASE_URL=postgres://u:p@127.0.0.1:5432/db bench/health.sh
#   DURATION=10s CONNECTIONS=32 bench/health.sh
#
# Needs go, wrk, pgbench, curl, and for the throwaway server PostgreSQL's
# initdb/pg_ctl (PG_BIN, default: the newest /usr/lib/postgresql/*/bin).
# Outputs land in bench/out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-18080}
PG_PORT=${PG_PORT:-55433}
OUT=${OUT:-bench/out}
TARGET_RATIO=0.8
TARGET_P99_MS=5

die() { echo "bench/health.sh: $*" >&2; exit 1; }
for tool in go wrk pgbench curl awk; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

# pgbench -T takes whole seconds; accept 15, 15s or 2m.
case $DURATION in
*m) SECONDS_RUN=$((${DURATION%m} * 60)) ;;
*s) SECONDS_RUN=${DURATION%s} ;;
*) SECONDS_RUN=$DURATION ;;
esac
[[ $SECONDS_RUN =~ ^[0-9]+$ && $SECONDS_RUN -gt 0 ]] || die "DURATION=$DURATION is not a number of seconds (15s) or minutes (1m)"

mkdir -p "$OUT"
WORK=$(mktemp -d)
APP_PID=
PG_DATA=

as_postgres() {
	# initdb refuses to run as root.
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
	if [[ -n $APP_PID ]]; then
		kill -TERM "$APP_PID" 2>/dev/null || true
		wait "$APP_PID" 2>/dev/null || true
	fi
	if [[ -n $PG_DATA ]]; then
		as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${DATABASE_URL:-} ]]; then
	PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
	[[ -x $PG_BIN/initdb ]] || die "no DATABASE_URL and no PostgreSQL binaries (set PG_BIN)"
	PG_DATA=$WORK/pgdata
	[[ $(id -u) == 0 ]] && chown postgres "$WORK"
	echo "starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT ($PG_BIN)"
	as_postgres "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust >"$OUT/initdb.log" 2>&1 ||
		die "initdb failed; see $OUT/initdb.log"
	as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$WORK/postgres.log" \
		-o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null ||
		die "PostgreSQL did not start; is port $PG_PORT free?"
	DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
fi

# libpq (pgbench) rejects pgx's pool_* parameters.
PGBENCH_URL=$(sed -E 's/([?&])pool_[a-z_]+=[^& ]*&?/\1/g; s/[?&]$//; s/ pool_[a-z_]+=[^ ]*//g' <<<"$DATABASE_URL")

echo "building the service"
GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$WORK/app" ./app

echo "starting the service on 127.0.0.1:$PORT (log: $OUT/app.log)"
DATABASE_URL=$DATABASE_URL ADDR=127.0.0.1:$PORT LOG_LEVEL=${LOG_LEVEL:-info} APP_ENV=bench \
	"$WORK/app" >"$OUT/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break
	kill -0 "$APP_PID" 2>/dev/null || die "the service exited; see $OUT/app.log"
	sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" || die "/health is not 200; see $OUT/app.log"

echo "SELECT 1;" >"$WORK/select1.sql"
# Other work on the machine skews both runs; record how busy it was.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# A short warm-up of both, so neither run pays for connection setup.
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "http://127.0.0.1:$PORT/health" >/dev/null
pgbench -n -f "$WORK/select1.sql" -c "$CONNECTIONS" -j "$THREADS" -T 2 "$PGBENCH_URL" >/dev/null 2>&1

echo "wrk: $CONNECTIONS connections, $THREADS threads, $DURATION on /health"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency "http://127.0.0.1:$PORT/health" | tee "$OUT/wrk.txt"

echo "pgbench: $CONNECTIONS clients, $THREADS threads, ${SECONDS_RUN}s of SELECT 1 (simple protocol)"
pgbench -n -f "$WORK/select1.sql" -M simple -c "$CONNECTIONS" -j "$THREADS" -T "$SECONDS_RUN" "$PGBENCH_URL" 2>&1 | tee "$OUT/pgbench.txt"

# wrk prints latencies as 812.00us, 1.23ms or 1.02s.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else { printf "nan" }
	}'
}
rps=$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk.txt")
p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$OUT/wrk.txt")")
p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$OUT/wrk.txt")
tps=$(awk '/^tps = / {print $3; exit}' "$OUT/pgbench.txt")
[[ -n $rps && -n $tps ]] || die "could not read the results; see $OUT/wrk.txt and $OUT/pgbench.txt"
ratio=$(awk -v a="$rps" -v b="$tps" 'BEGIN {printf "%.2f", a / b}')
verdict() { if awk -v ok="$1" 'BEGIN {exit !ok}'; then echo PASS; else echo MISS; fi; }

{
	echo
	echo "== Service /health vs pgbench ($(nproc) cores, $CONNECTIONS connections, ${SECONDS_RUN}s each) =="
	echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "pool: $(grep -o '"pool_max_conns":[0-9]*' "$OUT/app.log" | head -n1 | cut -d: -f2) connections"
	printf '/health throughput   %12.1f req/s\n' "$rps"
	printf 'pgbench SELECT 1     %12.1f tps\n' "$tps"
	printf 'ratio                %12s   target >= %s   %s\n' "$ratio" "$TARGET_RATIO" "$(verdict "$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN {print (r >= t)}')")"
	printf '/health p50          %12s ms\n' "$p50"
	printf '/health p99          %12s ms   target <= %s ms   %s\n' "$p99" "$TARGET_P99_MS" "$(verdict "$(awk -v p="$p99" -v t="$TARGET_P99_MS" 'BEGIN {print (p <= t)}')")"
	if [[ -n $non2xx ]]; then
		echo "WARNING: $non2xx /health responses were not 200; the throughput includes failures"
	fi
} | tee "$OUT/summary.txt"
