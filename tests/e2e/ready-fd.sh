#!/usr/bin/env bash
# ready: fd (s6's notification-fd): a worker that cannot send READY=1 writes a line to the fd
# named by CLUSTER_READY_FD; one that never writes it is killed at ready_timeout, and a deploy
# that never says it is ready is rolled back.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/worker.sh" <<'SH'
#!/bin/sh
# Serves nothing: says it is ready (when SAY_READY is yes), then waits.
[ "$SAY_READY" = yes ] && echo ready >&"$CLUSTER_READY_FD"
exec sleep 600
SH
chmod +x "$T/worker.sh"
write_config() {
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  job:
    command: ["$T/worker.sh"]
    instances: 2
    ready: fd
    ready_timeout: $2
    env: { SAY_READY: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
YAML
}
write_config yes 30s
start_daemon "$T/c.yaml"
wait_for "both workers ready by their line" "$CLUSTERCTL" status --check
log_has 'a line on its ready fd \(ready: fd\)' || fail "the log does not say why they are ready"
before=$(worker_pids | sort)
# A deploy whose workers never write the line: rolled back at ready_timeout, reload exits 1.
write_config no 2s
rc=0; "$CLUSTERCTL" reload >"$T/reload" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "a deploy that never says ready reloaded with exit 0: $(cat "$T/reload")"
grep -q "rolled back" "$T/reload" || fail "not rolled back: $(cat "$T/reload")"
[[ $(worker_pids | sort) == "$before" ]] || fail "the ready workers were replaced"
"$CLUSTERCTL" status --check >/dev/null || fail "not ready after the rollback"
pass "ready: fd: a line makes a worker ready; none in ready_timeout is a failed start"
