#!/usr/bin/env bash
# Installs the Debian packages flowd needs when they are missing (as root), or prints the
# exact command to run. Usage: deps.sh build|test|fuzz|pg. "test" also needs Node.js and npm,
# "fuzz" clang with libFuzzer, "pg" the PostgreSQL server (for the PostgreSQL suites and
# benchmarks; flowd itself only needs the client library).
set -euo pipefail
need=(build-essential pkg-config libjansson-dev libyaml-dev libmicrohttpd-dev libsqlite3-dev
      libssl-dev libcurl4-openssl-dev libxml2-dev libpq-dev)
if [ "${1:-build}" = fuzz ]; then
  need+=(clang libclang-rt-14-dev)
fi
if [ "${1:-build}" = pg ]; then
  need+=(postgresql)
fi
if [ "${1:-build}" = test ]; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "flowd: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "flowd: missing Debian packages. Run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
