#!/usr/bin/env bash
# clusterd as PID 1 of a new PID namespace (a container's entrypoint): it reaps orphans of a
# worker that double-forks, turns SIGTERM into a graceful stop, and exits 0.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root for a PID namespace"
unshare --pid --fork --mount-proc true 2>/dev/null || skip "unshare --pid does not work here"
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
# Double fork: the grandchild is orphaned at once and reparented to PID 1 (clusterd).
( sleep 0.3 & )
( sleep 600 & echo $! >"$PWD/orphan.$CLUSTER_WORKER_ID" )
exec sleep 600
SH
chmod +x "$T/worker.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  forker:
    command: ["$T/worker.sh"]
    cwd: $T
    instances: 2
YAML
unshare --pid --fork --mount-proc "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
UNSHARE=$!
EXTRA_PIDS+=($UNSHARE)
wait_for "clusterd to start" log_has "spawned pid"
wait_for "the short-lived orphans to be reaped" bash -c "[[ \$(grep -c 'reaped pid .* an orphan' $T/clusterd.log) -ge 2 ]]"
log_has "clusterd .* pid 1 starting" || fail "clusterd is not PID 1: $(head -3 "$T/clusterd.log")"
# No zombie anywhere in the namespace: every process under unshare is alive.
init=$(pgrep -P "$UNSHARE" -x clusterd)
zombies=$(ps -o stat= --ppid "$init" | grep -c Z || true)
[[ $zombies -eq 0 ]] || fail "$zombies zombies under PID 1"
kill -TERM "$init"
rc=0; wait "$UNSHARE" || rc=$?
[[ $rc -eq 0 ]] || fail "exit code $rc after SIGTERM"
log_has "SIGTERM: stopping every worker gracefully" || fail "SIGTERM was not a graceful stop"
pass "PID 1: orphans reaped, SIGTERM drained, exit 0"
