#!/usr/bin/env bash
# make run: starts flowd on embedded SQLite in ./data (extra flags from ARGS) and shows how
# to talk to it. Stop it with Ctrl-C; the data stays in ./data.
set -euo pipefail
cd "$(dirname "$0")/.."
# The address the hints below use: --listen from the arguments, else FLOWD_LISTEN, else the
# default.
listen=${FLOWD_LISTEN:-127.0.0.1:8080}
prev=
for a in "$@"; do
  case "$a" in
    --listen=*) listen=${a#--listen=} ;;
    *) [ "$prev" = --listen ] && listen=$a ;;
  esac
  prev=$a
done
cat <<TXT
Starting flowd (Ctrl-C stops it; state is kept in ./data).

In another terminal, with the credentials flowd wrote on its first start:
  set -a; . ./data/credentials; set +a
  export FLOWD_ENDPOINT=http://$listen
  build/flowctl call CreateFlow --Name hello --Definition @examples/hello.yaml
  build/flowctl call StartExecution --FlowName hello --Input '{"name":"flowd"}'
  build/flowctl call ListExecutions --FlowName hello
See README.md for a callback walk-through (ReportTaskFailed and friends).

TXT
exec build/flowd "$@"
