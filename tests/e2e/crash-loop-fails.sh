#!/usr/bin/env bash
# A worker that keeps dying right after start backs off and ends in `failed` instead of looping.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0", "--exit-after", "20"]
    instances: 1
    max_restarts: 3
    restart_window: 60s
    backoff: { initial: 50ms, max: 1s, jitter: 0 }
YAML
start_daemon "$T/c.yaml"
wait_for "the slot to fail" log_has '-> failed: exit 3; more than 3 quick deaths'
[[ $(log_count 'spawned pid') -eq 4 ]] || fail "expected 4 starts, saw $(log_count 'spawned pid')"
log_has 'restarting in 50ms' || fail "no 50 ms backoff"
log_has 'restarting in 100ms' || fail "no 100 ms backoff"
log_has 'restarting in 200ms' || fail "no 200 ms backoff"
has_workers 0 || fail "a worker is still running"
kill -0 "$DAEMON" || fail "the daemon died"
pass "4 quick deaths -> failed, with 50/100/200 ms backoff"
