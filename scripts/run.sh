#!/usr/bin/env bash
# make run: starts flowd on embedded SQLite in ./data (extra flags from ARGS) and shows how
# to talk to it. Stop it with Ctrl-C; the data stays in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'TXT'
Starting flowd (Ctrl-C stops it; state is kept in ./data).

In another terminal, with the credentials flowd wrote on its first start:
  set -a; . ./data/credentials; set +a
  export FLOWD_ENDPOINT=http://127.0.0.1:8080
  build/flowctl call CreateFlow --Name hello --Definition @examples/hello.yaml
  build/flowctl call StartExecution --FlowName hello --Input '{"name":"flowd"}'
  build/flowctl call ListExecutions --FlowName hello
See README.md for a callback walk-through (ReportTaskFailed and friends).

TXT
exec build/flowd "$@"
