#!/usr/bin/env bash
# A reload that adds slots and fails takes the added slots back with its rollback: the app has
# its old instances, each with a worker, and no socket listens for a slot that is not there (it
# would take its share of new connections and never answer them).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PORT=$(free_port)
write_config() {  # write_config INSTANCES COMMAND-JSON
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: $2
    instances: $1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
write_config 2 "[\"$HELLO\"]"
start_daemon "$T/c.yaml"
wait_for "two workers ready" states_are web "running running"

write_config 4 '["sh", "-c", "exit 1"]'
rc=0; "$CLUSTERCTL" reload >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "a reload to a command that exits 1 exited $rc: $(cat "$T/out")"
grep -q "failed: exit 1" "$T/out" && grep -q "rolled back to generation 1" "$T/out" ||
  fail "the reply does not report the rollback: $(cat "$T/out")"

# The reply comes once the rollout is over: the sockets are as they stay.
all_answered "$PORT" 30 "after the rolled-back scale-up"
[[ $(app_field web instances) == 2 ]] || fail "status says instances $(app_field web instances), want 2"
wait_for "two workers running at generation 1" states_are web "running running"
[[ $(worker_field web generation) == "1 1" ]] || fail "generations: $(worker_field web generation)"
[[ $(worker_field web id) == "0 1" ]] || fail "slots after the rollback: $(worker_field web id)"
has_workers 2 || fail "$(worker_count) worker processes, want 2"
[[ $(listening "$PORT") -eq 2 ]] || fail "$(listening "$PORT") sockets listen on the port, want 2"
rc=0; "$CLUSTERCTL" restart web --worker 2 >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "web has no worker 2" "$T/out" ||
  fail "restart --worker 2 after the rollback: exit $rc: $(cat "$T/out")"
pass "a failed reload to 4 instances rolled back to 2 slots, 2 sockets, 30/30 answered"
