#!/bin/sh
# pg.sh - a scratch PostgreSQL cluster for tests and benchmarks, on a Unix socket only.
#
#   scripts/pg.sh start DIR   creates (if needed) and starts a cluster in DIR; prints the
#                             flowd store URL (postgres:///flowd?host=DIR&user=postgres)
#   scripts/pg.sh stop DIR    stops it
#   scripts/pg.sh url DIR     prints the URL again
#
# Uses Debian's server binaries (package postgresql). PostgreSQL refuses to run as root, so
# as root the cluster belongs to the postgres user the package created. Authentication is
# "trust" on the socket: the socket lives in DIR and nothing else can reach it.
set -eu

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] || {
    echo "pg.sh: PostgreSQL server binaries not found; run: apt-get install -y postgresql" >&2
    exit 1
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

url() {
    echo "postgres:///flowd?host=$dir&user=postgres"
}

case $cmd in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -E UTF8 --locale=C -U postgres \
            --auth=trust >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 256MB
fsync = on
synchronous_commit = on
full_page_writes = on
wal_buffers = 16MB
max_wal_size = 2GB
checkpoint_timeout = 15min
log_min_messages = warning
CONF
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    fi
    as_owner "$bindir/psql" -h "$dir" -U postgres -d postgres -qAtc \
        "SELECT 1 FROM pg_database WHERE datname = 'flowd'" | grep -q 1 ||
        as_owner "$bindir/psql" -h "$dir" -U postgres -d postgres -qc "CREATE DATABASE flowd"
    url
    ;;
stop)
    dir=$(cd "$dir" && pwd)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
url)
    dir=$(cd "$dir" && pwd)
    url
    ;;
*)
    echo "usage: $0 start|stop|url DIR" >&2
    exit 2
    ;;
esac
