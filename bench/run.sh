#!/bin/sh
# run.sh NAME [cbbench args...] - one measurement against a fresh flowd: starts build/flowd
# on 127.0.0.1:0 with a new temporary data directory, runs cbbench with --pid (and
# perf stat -e task-clock on flowd when perf is installed), then stops flowd and removes the
# directory. Writes NAME.out, NAME.json and NAME.perf in the current directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
FLOWD=${FLOWD:-$here/../build/flowd}
CBBENCH=${CBBENCH:-$here/../build/bench/cbbench}
name=$1; shift
data=$(mktemp -d)
FLOWD_ACCESS_KEY_ID=bench FLOWD_ACCESS_KEY_SECRET=benchsecret \
    "$FLOWD" --listen 127.0.0.1:0 --data "$data" >"$name.flowd.out" 2>"$name.flowd.err" &
fpid=$!
port=
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$name.flowd.out")
    [ -n "$port" ] && break
    sleep 0.2
done
ppid=
if command -v perf >/dev/null 2>&1; then
    perf stat -e task-clock -p "$fpid" -o "$name.perf" &
    ppid=$!
fi
"$CBBENCH" --endpoint "http://127.0.0.1:$port" --ak bench --secret benchsecret \
    --pid "$fpid" --json "$name.json" "$@" >"$name.out" 2>&1
rc=$?
echo "rc=$rc" >>"$name.out"
[ -n "$ppid" ] && { kill -INT "$ppid"; wait "$ppid"; }
kill "$fpid"; wait "$fpid"
du -sh "$data" >>"$name.out"
rm -rf "$data"
cat "$name.out"
exit $rc
