#!/usr/bin/env bash
# clusterd's stderr is a pipe nobody reads (a log collector that hung), and a worker has filled
# it. The master's log lines must not block it: a killed worker is still replaced and status
# still answers (before: the master blocked in write(2) on its first line, and supervision
# stopped with it). The worker that fills it writes there directly (logs: inherit); another one
# in capture mode goes on writing through the master, which drops what its output cannot take
# (counted in status) and still keeps the lines for clusterctl logs.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/noisy.sh" <<'SH'
#!/bin/bash
head -c 300000 /dev/zero | tr '\0' 'x' >&2   # more than a pipe holds: this worker blocks
exec sleep 600
SH
chmod +x "$T/noisy.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  noisy:
    command: ["$T/noisy.sh"]
    instances: 1
    logs: inherit
  chatty:
    command: ["/bin/sh", "-c", "while :; do echo chatty line; sleep 0.01; done"]
    instances: 1
    logs: capture
  web:
    command: ["$HELLO"]
    instances: 1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
YAML
mkfifo "$T/stderr"
exec 3<>"$T/stderr"  # held open, never read: writers block (or, non-blocking, fail) once full
"$CLUSTERD" -c "$T/c.yaml" --log-level debug 2>"$T/stderr" >&2 &
DAEMON=$!
web_pid() {
  "$CLUSTERCTL" status web --json 2>/dev/null |
    python3 -c 'import json,sys; w=json.load(sys.stdin)["apps"][0]["workers"][0]; print(w["pid"] if w["state"]=="running" else "")'
}
wait_for "web ready" bash -c "[[ -n \$($(declare -f web_pid); CLUSTERCTL=$CLUSTERCTL web_pid) ]]"
# Full: the noisy worker's writer (tr, its child) sleeps in pipe_write.
full() {
  local noisy
  noisy=$("$CLUSTERCTL" status noisy --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["pid"])')
  for p in $(pgrep -P "$noisy"); do [[ $(cat "/proc/$p/wchan" 2>/dev/null) == *pipe_write ]] && return 0; done
  return 1
}
wait_for "the pipe to be full (a writer blocked in it)" full
old=$(web_pid)
kill -KILL "$old"
wait_for "the killed worker to be replaced" bash -c "p=\$($(declare -f web_pid); CLUSTERCTL=$CLUSTERCTL web_pid); [[ -n \$p && \$p != $old ]]"
"$CLUSTERCTL" --timeout 5 status >/dev/null || fail "status does not answer"
dropped() { "$CLUSTERCTL" status chatty --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["log_dropped_bytes"])'; }
wait_for "chatty's console lines to be dropped and counted" bash -c "(( \$($(declare -f dropped); CLUSTERCTL=$CLUSTERCTL dropped) > 0 ))"
"$CLUSTERCTL" --timeout 5 logs chatty -n 1 2>/dev/null | grep -q "chatty line" ||
  fail "clusterctl logs does not show chatty's lines"
kill -0 "$DAEMON" || fail "the master died"
exec 3<&-
pass "with stderr full and unread, a killed worker was replaced, status answered, $(dropped) bytes of chatty's console output were dropped and counted, and clusterctl logs still had its lines"
