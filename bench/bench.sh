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
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
FLOWD=${FLOWD:-$root/build/flowd}
CBBENCH=${CBBENCH:-$root/build/bench/cbbench}
BASELINE=${BASELINE:-$root/build/bench/baseline}

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
    N=${BENCH_N:-500}; C=${BENCH_C:-16}; WAITING=${BENCH_WAITING:-2000}
    MIXED_SECS=${BENCH_MIXED_SECS:-3}; PREPOP=500; REPORTS=500; SKIP_1M=0
    OUT=${BENCH_OUT:-$root/build/bench/results-smoke.json}
else
    N=${BENCH_N:-100000}; C=${BENCH_C:-64}; WAITING=${BENCH_WAITING:-1000000}
    MIXED_SECS=${BENCH_MIXED_SECS:-30}; PREPOP=10000; REPORTS=10000
    SKIP_1M=${BENCH_SKIP_1M:-0}
    OUT=${BENCH_OUT:-$here/results.json}
fi
SCENARIOS=${BENCH_SCENARIOS:-"baseline baseline-epoll2 report-failed report-succeeded start-execution retry-catch mixed waiting-1m"}

for b in "$FLOWD" "$CBBENCH" "$BASELINE"; do
    [ -x "$b" ] || { echo "bench.sh: $b is missing (make all && make -C bench)" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/flowd-bench-run-XXXXXX")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no -- src 2>/dev/null | wc -l)
echo "bench: commit $commit$( [ "$dirty" -gt 0 ] && echo " (+$dirty modified files under src/)"), N=$N C=$C waiting=$WAITING mixed=${MIXED_SECS}s, logs in $work"

failed=0
parts=
for s in $SCENARIOS; do
    case $s in
    baseline) args="--scenario baseline --baseline-mode tpc --n $N" ;;
    baseline-epoll2) args="--scenario baseline --baseline-mode epoll2 --n $N" ;;
    report-failed|report-succeeded|start-execution|retry-catch) args="--scenario $s --n $N" ;;
    mixed) args="--scenario mixed --n $N --seconds $MIXED_SECS --prepop $PREPOP" ;;
    waiting-1m)
        if [ "$SKIP_1M" = 1 ]; then echo "waiting-1m        skipped (BENCH_SKIP_1M=1)"; continue; fi
        args="--scenario waiting-1m --n $WAITING --reports $REPORTS" ;;
    *) echo "bench.sh: unknown scenario $s" >&2; failed=1; continue ;;
    esac
    # The tpc baseline is the 1.0 of every ratio; without it there are no ratios.
    # shellcheck disable=SC2086
    "$CBBENCH" $args --concurrency "$C" --flowd "$FLOWD" --baseline "$BASELINE" \
        --ratio-to "$work/baseline.json" --json "$work/$s.json" --logdir "$work" \
        >"$work/$s.out" 2>&1
    rc=$?
    line=$(sed -n 's/^RESULT //p' "$work/$s.out" | tail -n 1)
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        failed=1
        echo "${line:-$s FAIL (no result)}"
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
    printf '"smoke": %s},\n' "$( [ "${BENCH_SMOKE:-0}" = 1 ] && echo true || echo false)"
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
