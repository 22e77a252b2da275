package standin

import (
	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/gantry-ci/gantry/testbed/internal/layer"
	"github.com/gantry-ci/gantry/testbed/internal/rootfs"
)

// PostgresRef is the PostgreSQL stand-in.
const PostgresRef = Repo + "postgres:15"

// PGData is the default data directory, as in the official image.
const PGData = "/var/lib/postgresql/data"

// PostgresRootFS is Debian's PostgreSQL 15 without the cluster its
// post-install script creates: the entrypoint makes one on first start.
var PostgresRootFS = rootfs.Spec{
	Name:    "postgres",
	Include: []string{"postgresql-15", "postgresql-client-15"},
	Post: `
rm -rf "$ROOTFS/var/lib/postgresql/15" "$ROOTFS/etc/postgresql/15"
mkdir -p "$ROOTFS` + PGData + `" "$ROOTFS/var/run/postgresql" "$ROOTFS/docker-entrypoint-initdb.d"
chroot "$ROOTFS" chown postgres:postgres ` + PGData + ` /var/run/postgresql
chmod 1777 "$ROOTFS` + PGData + `"
chmod 3777 "$ROOTFS/var/run/postgresql"
`,
}

// PostgresEntrypoint behaves like the official image's entrypoint for the
// variables the project uses: POSTGRES_USER (default postgres),
// POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
// POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS, PGDATA, and
// scripts in /docker-entrypoint-initdb.d. It initialises an empty PGDATA,
// drops from root to the postgres user and execs postgres as PID 1.
const PostgresEntrypoint = `#!/bin/bash
# Gantry test bed: entrypoint of the PostgreSQL stand-in.
set -Eeuo pipefail

export PGDATA="${PGDATA:-` + PGData + `}"

# "docker run IMAGE -c foo=bar" means postgres with those options.
if [ "$#" -eq 0 ] || [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
		echo "error: the database is not initialised and POSTGRES_PASSWORD is not set;" >&2
		echo "       set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without one" >&2
		exit 1
	fi
	pwargs=()
	if [ -n "${POSTGRES_PASSWORD:-}" ]; then
		pwfile="$(mktemp)"
		printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
		pwargs=(--pwfile="$pwfile")
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
	initdb --username="$user" "${pwargs[@]}" --auth-local=trust --auth-host="$method" \
		-D "$PGDATA" ${POSTGRES_INITDB_ARGS:-}
	rm -f "${pwfile:-}"
	echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
	echo "host all all all $method" >> "$PGDATA/pg_hba.conf"

	# Create the database and run init scripts on a server that only
	# listens on its Unix socket.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
	export PGUSER="$user" PGHOST=/var/run/postgresql
	if [ "$db" != postgres ]; then
		psql -v ON_ERROR_STOP=1 --dbname postgres --set db="$db" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh) echo "running $f"; . "$f" ;;
		*.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --dbname "$db" -f "$f" ;;
		*) [ -e "$f" ] && echo "ignoring $f" ;;
		esac
	done
	unset PGUSER PGHOST
	pg_ctl -D "$PGDATA" -m fast -w stop
	echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
`

// PostgresConfig is the PostgreSQL stand-in's config.
func PostgresConfig() v1.Config {
	return v1.Config{
		Entrypoint:   []string{"docker-entrypoint.sh"},
		Cmd:          []string{"postgres"},
		Env:          []string{"PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PGDATA=" + PGData, "LANG=C.UTF-8"},
		ExposedPorts: map[string]struct{}{"5432/tcp": {}},
		Volumes:      map[string]struct{}{PGData: {}},
		StopSignal:   "SIGINT",
	}
}

// Postgres assembles the PostgreSQL stand-in on the Debian layer at
// debianLayer.
func Postgres(debianLayer string) (v1.Image, error) {
	base, err := layer.Open(debianLayer)
	if err != nil {
		return nil, err
	}
	ep, err := layer.FromFiles([]layer.File{
		layer.Text("usr/local/bin/docker-entrypoint.sh", 0o755, PostgresEntrypoint),
	})
	if err != nil {
		return nil, err
	}
	return layer.Image("amd64", PostgresConfig(),
		layer.Part{Layer: base, Why: "debootstrap --variant=minbase --include=postgresql-15 " + rootfs.Suite + "; cluster removed"},
		layer.Part{Layer: ep, Why: "docker-entrypoint.sh"},
	)
}
