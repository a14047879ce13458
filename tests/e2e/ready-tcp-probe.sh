#!/usr/bin/env bash
# ready: tcp: a worker counts as ready once the master can connect to its own port
# (port_per_worker): not before it binds, whatever else it does, and at once after.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/worker.py" <<'PY'
# Binds CLUSTER_LISTEN_TCP only once the file $GO exists (the test makes it), then waits.
import os, socket, time
host, port = os.environ["CLUSTER_LISTEN_TCP"].rsplit(":", 1)
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.05)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
PY
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  svc:
    command: ["python3", "$T/worker.py"]
    instances: 1
    listen:
      tcp: { address: "127.0.0.1:$PORT", mode: worker, port_per_worker: true }
    ready: tcp
    ready_timeout: 60s
    env: { GO: "$T/go" }
YAML
start_daemon "$T/c.yaml"
refused() { [[ $(log_count 'ready probe: connect: Connection refused') -ge 3 ]]; }
wait_for "the probe refused three times" refused
"$CLUSTERCTL" status --check >/dev/null && fail "ready before the worker bound its port"
"$CLUSTERCTL" status svc | grep -q starting || fail "not starting: $("$CLUSTERCTL" status svc)"
touch "$T/go"
wait_for "ready once the worker listens" "$CLUSTERCTL" status --check
log_has 'its port took a connection \(ready: tcp\)' || fail "the log does not say why it is ready"
# No try outlives the probe: the master holds no TCP socket to the worker's port any more.
probe_sockets() { ss -tanp state all "( dport = :$PORT )" 2>/dev/null | grep -c "pid=$DAEMON," || true; }
no_probe_socket() { [[ $(probe_sockets) -eq 0 ]]; }
wait_for "no probe socket left in the master" no_probe_socket
# A worker killed is probed again from its replacement's start, and that probe ends too.
old=$(worker_pids)
kill -KILL "$old"
replaced_and_ready() {
  local now; now=$(worker_pids)
  [[ -n $now && $now != "$old" ]] && "$CLUSTERCTL" status --check
}
wait_for "the replacement ready" replaced_and_ready
wait_for "no probe socket left after the replacement" no_probe_socket
pass "ready: tcp: starting until the worker's own port takes a connection, then ready"
