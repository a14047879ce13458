#!/usr/bin/env bash
# A failed reuseport slot's socket stops listening, so the kernel sends its share of new
# connections to the slots that serve instead of queueing them where nobody will accept them;
# `restart --worker N` makes it listen again and serve.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PORT=$(free_port)
# min_uptime 1h: every kill is a quick death, however slow the machine.
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    min_uptime: 1h
    max_restarts: 2
    backoff: { initial: 10ms, max: 20ms }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
start_daemon "$T/c.yaml"
wait_for "two workers ready" states_are web "running running"
wait_for "two listening sockets" listening_is "$PORT" 2

# kill -9 worker 1 whenever it has a process, until the slot gives up.
for _ in $(seq 10); do
  [[ $(worker_field web state | cut -d' ' -f2) == failed ]] && break
  pid=$(worker_field web pid | cut -d' ' -f2)
  if [[ $pid =~ ^[0-9]+$ ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    wait_for "worker 1 ($pid) gone" bash -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"
  fi
  wait_for "worker 1 restarted or failed" bash -c "$(declare -f worker_field); CLUSTERCTL=$CLUSTERCTL
    read -r _ p <<<\"\$(worker_field web pid)\"; read -r _ s <<<\"\$(worker_field web state)\"
    [[ \$s == failed || (\$p != $pid && \$p != None) ]]"
done
[[ $(worker_field web state) == "running failed" ]] || fail "worker 1 did not fail: $(worker_field web state)"
log_has 'web\[1\].*-> failed: signal SIGKILL; more than 2 quick deaths' || fail "no failed transition in the log"

# The master stops the socket in the same turn as the slot fails, before it answers status.
all_answered "$PORT" 20 "with slot 1 failed"
failed_counts=$COUNTS
listening_is "$PORT" 1 || fail "with slot 1 failed, $(listening "$PORT") sockets listen"

"$CLUSTERCTL" restart web --worker 1 >"$T/out" 2>&1 || fail "restart --worker 1: $(cat "$T/out")"
wait_for "worker 1 running again" states_are web "running running"
listening_is "$PORT" 2 || fail "slot 1 serves again, yet $(listening "$PORT") socket(s) listen"
connections "$PORT" 40
[[ $ANSWERED -eq 40 ]] || fail "after restart --worker 1: of 40 new connections, $COUNTS"
$HTTP spread "$PORT" 40 >"$T/spread" || fail "spread after the restart: $(cat "$T/spread")"
[[ $(head -1 "$T/spread") -eq 2 ]] || fail "only $(head -1 "$T/spread") worker(s) answered after the restart"
pass "failed slot: 20 new connections $failed_counts; restarted: 2 sockets listen, both workers answer"
