#!/bin/sh
# bench.sh - runs flowd's named benchmark scenarios (make bench, make bench-smoke), each
# against a fresh flowd (new temporary data directory, started by cbbench), prints one
# result line per scenario and writes the figures as one JSON document.
#
# Environment: BENCH_N (100000 executions/requests per scenario), BENCH_C (64 in flight),
# BENCH_WAITING (1000000 waiting executions), BENCH_SKIP_1M=1 (skip waiting-1m),
# BENCH_MIXED_SECS (30), BENCH_SCENARIOS (a space-separated subset), BENCH_SMOKE=1 (small
# sizes, results to build/bench/results-smoke.json), BENCH_OUT (the JSON file), FLOWD,
# CBBENCH, BASELINE (binaries). Exit status 1 if any scenario failed a check.
#
# PostgreSQL: BENCH_PG=URL (a postgres:// URL, libpq syntax) runs the flowd scenarios on
# PostgreSQL, each in a fresh schema of that database that cbbench creates and drops, with
# BENCH_NODES (1 or 2) flowd processes sharing it; the result lines name the mode
# (report-failed[pg,2n]) and the figures go to bench/results-pg-Nn.json (smoke:
# build/bench/results-smoke-pg-Nn.json). The baseline runs as usual (it has no store; its
# rate stays the 1.0 of the ratios) but baseline-epoll2 is left out, and the smoke run
# leaves both out. waiting-1m defaults to 100,000 waiting executions on PostgreSQL
# (BENCH_WAITING sets it): at the rates measured there (starts ~1,300/s, dispatch
# ~350/s, RESULTS.md) a million would take over an hour.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
FLOWD=${FLOWD:-$root/build/flowd}
CBBENCH=${CBBENCH:-$root/build/bench/cbbench}
BASELINE=${BASELINE:-$root/build/bench/baseline}
PG=${BENCH_PG:-}
NODES=${BENCH_NODES:-1}
case $NODES in 1|2) ;; *) echo "bench.sh: BENCH_NODES must be 1 or 2" >&2; exit 2 ;; esac
if [ "$NODES" != 1 ] && [ -z "$PG" ]; then
    echo "bench.sh: BENCH_NODES=$NODES needs BENCH_PG (nodes share a PostgreSQL schema)" >&2
    exit 2
fi

suffix=; tag=; all="baseline baseline-epoll2"
if [ -n "$PG" ]; then
    suffix=-pg-${NODES}n; tag="[pg,${NODES}n]"; all=baseline
fi
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
    N=${BENCH_N:-500}; C=${BENCH_C:-16}; WAITING=${BENCH_WAITING:-2000}
    MIXED_SECS=${BENCH_MIXED_SECS:-3}; PREPOP=500; REPORTS=500; SKIP_1M=0
    BUSY_MS=0 # no timing figures matter here: skip the half-second machine-busy sample
    if [ -n "$PG" ]; then
        N=${BENCH_N:-300}; WAITING=${BENCH_WAITING:-1000}; MIXED_SECS=${BENCH_MIXED_SECS:-2}
        PREPOP=300; REPORTS=300; all=
    fi
    OUT=${BENCH_OUT:-$root/build/bench/results-smoke$suffix.json}
else
    N=${BENCH_N:-100000}; C=${BENCH_C:-64}; WAITING=${BENCH_WAITING:-1000000}
    [ -n "$PG" ] && WAITING=${BENCH_WAITING:-100000}
    MIXED_SECS=${BENCH_MIXED_SECS:-30}; PREPOP=10000; REPORTS=10000
    SKIP_1M=${BENCH_SKIP_1M:-0}; BUSY_MS=500
    OUT=${BENCH_OUT:-$here/results$suffix.json}
fi
SCENARIOS=${BENCH_SCENARIOS:-"$all report-failed report-succeeded start-execution retry-catch mixed waiting-1m"}

for b in "$FLOWD" "$CBBENCH" "$BASELINE"; do
    [ -x "$b" ] || { echo "bench.sh: $b is missing (make all && make -C bench)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/flowd-bench-run-XXXXXX")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no -- src 2>/dev/null | wc -l)
store=sqlite
[ -n "$PG" ] && store="PostgreSQL, $NODES node$( [ "$NODES" != 1 ] && echo s)"
echo "bench: commit $commit$( [ "$dirty" -gt 0 ] && echo " (+$dirty modified files under src/)"), $store, N=$N C=$C waiting=$WAITING mixed=${MIXED_SECS}s, logs in $work"

failed=0
parts=
for s in $SCENARIOS; do
    # The flowd scenarios get the store's options (the URL stays one quoted word).
    if [ -n "$PG" ]; then set -- --pg "$PG" --nodes "$NODES"; else set --; fi
    case $s in
    baseline) args="--scenario baseline --baseline-mode tpc --n $N"; set -- ;;
    baseline-epoll2) args="--scenario baseline --baseline-mode epoll2 --n $N"; set -- ;;
    report-failed|report-succeeded|start-execution|retry-catch) args="--scenario $s --n $N" ;;
    mixed) args="--scenario mixed --n $N --seconds $MIXED_SECS --prepop $PREPOP" ;;
    waiting-1m)
        if [ "$SKIP_1M" = 1 ]; then echo "waiting-1m$tag        skipped (BENCH_SKIP_1M=1)"; continue; fi
        args="--scenario waiting-1m --n $WAITING --reports $REPORTS" ;;
    *) echo "bench.sh: unknown scenario $s" >&2; failed=1; continue ;;
    esac
    # The tpc baseline is the 1.0 of every ratio; without it there are no ratios.
    # shellcheck disable=SC2086
    "$CBBENCH" $args "$@" --concurrency "$C" --busy-ms "$BUSY_MS" --flowd "$FLOWD" \
        --baseline "$BASELINE" --ratio-to "$work/baseline.json" --json "$work/$s.json" \
        --logdir "$work" >"$work/$s.out" 2>&1
    rc=$?
    line=$(sed -n 's/^RESULT //p' "$work/$s.out" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        failed=1
        echo "${line:-$s$( [ $# -gt 0 ] && echo "$tag") FAIL (no result)}"
        echo "  $s failed (exit $rc); the end of $work/$s.out:"
        grep -v '^RESULT ' "$work/$s.out" | tail -n 8 | sed 's/^/    /'
        # A scenario that failed before writing its JSON still gets an entry.
        [ -s "$work/$s.json" ] || printf '{"scenario":"%s","ok":false}\n' "$s" >"$work/$s.json"
    else
        echo "$line"
    fi
    parts="$parts $work/$s.json"
done

# One document: the run's context, then the scenarios in order (no jq needed).
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    printf '{\n  "commit": "%s",\n  "src_modified_files": %s,\n' "$commit" "$dirty"
    printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "machine": {"nproc": %s, "cpu": "%s", "kernel": "%s"},\n' "$(nproc)" "$cpu" \
        "$(uname -r)"
    printf '  "config": {"n": %s, "concurrency": %s, "waiting": %s, "mixed_seconds": %s, ' \
        "$N" "$C" "$WAITING" "$MIXED_SECS"
    printf '"smoke": %s, "store": "%s", "nodes": %s},\n' \
        "$( [ "${BENCH_SMOKE:-0}" = 1 ] && echo true || echo false)" \
        "$( [ -n "$PG" ] && echo postgres || echo sqlite)" "$NODES"
    printf '  "ok": %s,\n  "scenarios": [\n' "$( [ $failed = 0 ] && echo true || echo false)"
    sep=
    for p in $parts; do
        printf '%s' "$sep"
        cat "$p"
        sep=',
'
    done
    printf '\n  ]\n}\n'
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
echo "bench: wrote $OUT$( [ $failed = 0 ] || echo "; SOME SCENARIOS FAILED (logs in $work)")"
[ $failed = 0 ] && [ "${BENCH_KEEP_LOGS:-0}" != 1 ] && rm -rf "$work"
exit $failed
