#!/usr/bin/env bash
# A crash loop ends in `failed` after max_restarts quick deaths in a row, even when the backoff
# spreads them wider than restart_window (so they are never max_restarts + 1 within it); the
# failed slot's socket then refuses new connections instead of queueing them. The defaults
# (10 deaths, backoff from 100 ms, 60 s window) are the unit test "a crash loop fails with the
# defaults" in tests/unit/serving_test.cc: the same rule, without an 80-second test.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["sh", "-c", "exit 1"]
    instances: 1
    ready: notify
    restart_window: 100ms
    backoff: { initial: 10ms, max: 40ms }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
start_daemon "$T/c.yaml"
starts() { log_count 'web\[0\] gen 1: spawned pid'; }
# Failed, or more starts than the 11 that max_restarts 10 allows: a build that never gives up
# fails here at once instead of at the bound.
wait_for "the slot to fail, or start a 12th time" bash -c "$(declare -f log_count); T=$T
  grep -q -- '-> failed' \"$T/clusterd.log\" || (( \$(log_count 'web\\[0\\] gen 1: spawned pid') > 11 ))"
[[ $(worker_field web state) == failed ]] ||
  fail "after $(starts) quick deaths the slot is $(worker_field web state), not failed"
[[ $(starts) -eq 11 ]] || fail "$(starts) starts, want 11 (10 restarts)"
log_has 'web\[0\] gen 1: starting -> failed: exit 1; more than 10 quick deaths in a row, giving up' ||
  fail "the log does not say 'in a row': $(grep -- '-> failed' "$T/clusterd.log")"
"$CLUSTERCTL" events web -n 1000 >"$T/events" 2>/dev/null
grep -q ' failed web\[0\] gen 1: .*more than 10 quick deaths in a row' "$T/events" ||
  fail "no failed event saying 'in a row': $(grep failed "$T/events")"
[[ $(worker_field web last_exit) == "exit 1" ]] || fail "last exit: $(worker_field web last_exit)"
all_refused "$PORT" 10 "the only slot failed"
kill -0 "$DAEMON" || fail "the daemon died"
pass "11 quick deaths in a row, never 11 within 100 ms: failed, said 'in a row'; new connections refused"
