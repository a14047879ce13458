#!/usr/bin/env bash
# SIGKILL of the master leaves no worker behind (PR_SET_PDEATHSIG), and a new master can start
# on the same ports right away.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--fork-child"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
start_daemon "$T/c.yaml"
wait_for "workers ready" log_ready 2
pids=$(worker_pids)
grandchildren=""
for p in $pids; do grandchildren+=" $(cat /proc/$p/task/$p/children 2>/dev/null || true)"; done
[[ -n ${grandchildren// /} ]] || fail "--fork-child started no child"
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null || true
DAEMON=""
# shellcheck disable=SC2086
wait_for "every worker and its child to die" none_alive $pids $grandchildren
start_daemon "$T/c.yaml"
wait_for "a new master's workers ready" log_ready 2
$HTTP get "$PORT" >/dev/null || fail "the new master does not serve"
pass "no worker outlived the master; a new master started cleanly"
