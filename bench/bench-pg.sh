#!/bin/sh
# bench-pg.sh - make bench-pg: the benchmark scenarios on PostgreSQL (bench.sh with
# BENCH_PG), first with one flowd node, then with two nodes sharing the schema. The database
# is FLOWD_TEST_PG (a postgres:// URL) when set; otherwise a scratch cluster is started
# with scripts/pg.sh in a temporary directory and stopped (and removed) at the end.
# Every BENCH_* variable of bench.sh applies to both runs (BENCH_NODES is set here).
# Figures: bench/results-pg-1n.json and bench/results-pg-2n.json. Exit status 1 if either
# run failed a check.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

url=${FLOWD_TEST_PG:-}
if [ -z "$url" ]; then
    pgdir=$(mktemp -d "${TMPDIR:-/tmp}/flowd-bench-pg-XXXXXX")
    trap '"$root/scripts/pg.sh" stop "$pgdir"; rm -rf "$pgdir"' EXIT
    trap 'exit 130' INT TERM
    url=$("$root/scripts/pg.sh" start "$pgdir") || exit 1
    echo "bench-pg: scratch PostgreSQL cluster in $pgdir"
fi

rc=0
BENCH_PG=$url BENCH_NODES=1 "$here/bench.sh" || rc=1
BENCH_PG=$url BENCH_NODES=2 "$here/bench.sh" || rc=1
exit $rc
