#!/usr/bin/env bash
# make test: unit tests (C), then end-to-end tests (real flowd + official npm SDKs + flowctl).
# Ends with one line "N passed, N failed" summing both.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

"$build/unit_tests" | tee "$log/unit"
unit_rc=${PIPESTATUS[0]}
up=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log/unit")
uf=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log/unit")
[ -n "$up" ] || { up=0; uf=1; }

scripts/e2e.sh "$build" | tee "$log/e2e"
e2e_rc=${PIPESTATUS[0]}
ep=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log/e2e" | tail -n 1)
ef=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log/e2e" | tail -n 1)
[ -n "$ep" ] || { ep=0; ef=1; }

passed=$((up + ep))
failed=$((uf + ef))
if [ "$unit_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$e2e_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "unit: $up passed, $uf failed; e2e: $ep passed, $ef failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
