#!/usr/bin/env bash
# make test: every suite in turn - C unit tests, the fuzz-corpus replay, then the end-to-end
# tests (a real flowd driven by the official npm SDKs and flowctl, which includes the race,
# crash, store-fault and hostile-input suites). Each suite ends with a count line; this script
# ends with one line "N passed, N failed" summing them all.
#
# With FLOWD_TEST_PG set to a PostgreSQL URL (libpq syntax; .ci/run starts a scratch cluster
# with scripts/pg.sh and sets it), the store's unit tests and the whole end-to-end suite
# run a second time on PostgreSQL (the multi-node tests run only then), and bench-smoke
# adds its PostgreSQL scenarios. Without it those suites are left out.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
summary=()

# Runs a suite, keeps its output visible, and adds its counts from the last line that says
# "N passed, N failed" (C runners) or from TAP's "# pass N" / "# fail N" (node).
suite() {
  local name=$1
  shift
  "$@" 2>&1 | tee "$log/$name"
  local rc=${PIPESTATUS[0]} p f
  # TAP's own totals first: a test's diagnostics may contain "N passed, N failed" too.
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log/$name" | tail -n 1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log/$name" | tail -n 1)
  if [ -z "$p" ]; then
    p=$(sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1/p' "$log/$name" | tail -n 1)
    f=$(sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2/p' "$log/$name" | tail -n 1)
  fi
  [ -n "$p" ] || { p=0; f=1; }
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  passed=$((passed + p))
  failed=$((failed + f))
  summary+=("$name: $p passed, $f failed")
}

# Every benchmark scenario at a small size: checks that each runs and verifies, never times.
bench_smoke() {
  local out ok bad
  out=$(make -s --no-print-directory bench-smoke BUILD="$build" 2>&1)
  local rc=$?
  printf '%s\n' "$out"
  ok=$(printf '%s\n' "$out" | grep -cE '^[a-z0-9-]+(\[[a-z0-9,]+\])? +ok ')
  bad=$(printf '%s\n' "$out" | grep -cE '^[a-z0-9-]+(\[[a-z0-9,]+\])? +(FAIL|fail|error)')
  [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
  echo "bench-smoke: $ok passed, $bad failed"
  return "$rc"
}

pg=${FLOWD_TEST_PG:-}
unset FLOWD_TEST_PG
suite unit "$build/unit_tests"
[ -x "$build/fuzz_replay" ] && suite replay "$build/fuzz_replay" tests/fuzz/corpus
suite e2e scripts/e2e.sh "$build"
if [ -n "$pg" ]; then
  export FLOWD_TEST_PG=$pg
  suite unit-pg "$build/unit_tests" store mns
  suite e2e-pg scripts/e2e.sh "$build"
fi
suite bench-smoke bench_smoke

printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
