#!/usr/bin/env bash
# Runs every libFuzzer target built by `make fuzz` (build-fuzz/fuzz_<name>) for FUZZ_SECONDS
# each (default 60), seeded with the committed corpus tests/fuzz/corpus/<name>/ and the
# dictionary tests/fuzz/<name>.dict. New inputs go to build-fuzz/corpus-<name>/, crashes
# to build-fuzz/crashes/<name>/ - never into the committed corpus: a crasher joins it (as
# crash-<what>) only once the bug is understood. Prints executions and crashes per target.
#
# Usage: scripts/fuzz.sh [target...]      FUZZ_SECONDS=300 FUZZ_JOBS=1 scripts/fuzz.sh expr
# Extra libFuzzer flags: FUZZ_FLAGS="-max_len=8192".
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.c; do
    n=${f##*/fuzz_}
    targets+=("${n%.c}")
  done
fi
for t in "${targets[@]}"; do
  [ -x "$out/fuzz_$t" ] || { echo "fuzz: $out/fuzz_$t is missing; run make fuzz" >&2; exit 2; }
done

# The request target keeps a store in $TMPDIR; give it a directory we can clean up.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowd-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  corpus=$out/corpus-$t
  crashes=$out/crashes/$t
  mkdir -p "$corpus" "$crashes"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log=$out/fuzz-$t.log
  echo "fuzz: $t for ${secs}s (log $log)"
  # New inputs land in the first directory only; the committed corpus is read, not written.
  "$out/fuzz_$t" "$corpus" "tests/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
    ${FUZZ_FLAGS:-} >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  n_crash=$(find "$crashes" -type f | wc -l)
  line="$t: ${execs:-?} executions, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l), rc $rc"
  if [ "$rc" -ne 0 ] || [ "$n_crash" -gt 0 ]; then
    failed=1
    line="$line, $n_crash crash file(s) in $crashes"
    grep -m 1 -E 'ERROR: (AddressSanitizer|libFuzzer)|runtime error|check failed' "$log" || true
  fi
  echo "$line"
  summary+=("$line")
done
echo "---"
printf '%s\n' "${summary[@]}"
exit $failed
