#!/usr/bin/env bash
# Runs the end-to-end suite (tests/e2e) against the binaries of a build directory.
# Usage: scripts/e2e.sh <build dir> [test file ...]
# Installs the pinned npm packages (npm ci) when node_modules is missing or older than
# package-lock.json, then runs node's test runner with the TAP reporter; the caller reads
# the closing "# pass N" / "# fail N" lines. Exits non-zero when any test fails.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 <build dir> [test file ...]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
shift
case "$build" in
  /*) ;;
  *) build="$root/$build" ;;
esac
build=$(cd "$build" 2>/dev/null && pwd) || { echo "e2e: no build directory $1" >&2; exit 2; }
for b in flowd flowctl; do
  [ -x "$build/$b" ] || { echo "e2e: $build/$b is missing; run make all first" >&2; exit 2; }
done
export FLOWD_BIN="$build/flowd" FLOWCTL_BIN="$build/flowctl"

command -v node >/dev/null 2>&1 || { echo "e2e: node is missing (scripts/deps.sh test)" >&2; exit 2; }
cd "$root/tests/e2e"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(*.test.js)
fi
# --test-concurrency needs Node.js 20; Debian 12's own nodejs is 18.
conc=()
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] && conc=(--test-concurrency=2)
exec node --test --test-reporter=tap "${conc[@]}" "${files[@]}"
