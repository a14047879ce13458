#!/usr/bin/env bash
# SIGTERM: every worker gets its stop signal and drains; the master exits 0 with nothing left.
# A worker that ignores the stop signal is SIGKILLed after stop_timeout, and a second SIGTERM does
# not cut the drain short.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
  stubborn:
    command: ["$HELLO", "--ignore-term", "--listen", "127.0.0.1:0"]
    instances: 1
    stop_timeout: 1s
YAML
start_daemon "$T/c.yaml"
wait_for "web ready" log_ready 2
wait_for "three workers" has_workers 3
pids=$(worker_pids)
kill -TERM "$DAEMON"
sleep 0.2
kill -TERM "$DAEMON"
wait "$DAEMON" && rc=0 || rc=$?
[[ $rc -eq 0 ]] || fail "clusterd exited $rc"
# shellcheck disable=SC2086
none_alive $pids || fail "workers left behind: $pids"
log_has 'already stopping' || fail "the second SIGTERM was not noticed"
log_has 'still running after stop_timeout; sending SIGKILL' || fail "no SIGKILL after stop_timeout"
log_has 'web\[0\] gen 1: pid [0-9]+ exited \(exit 0\)' || fail "web[0] did not exit 0 on SIGTERM"
DAEMON=""
pass "graceful stop: exit 0, no process left, stubborn worker killed after stop_timeout"
