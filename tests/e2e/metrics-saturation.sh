#!/usr/bin/env bash
# A stuck worker shows in its own accept queue: with reuseport each slot has its own socket, so
# when worker 0 is stopped (SIGSTOP) the connections the kernel hashes to its socket wait there,
# while worker 1's queue stays empty. clusterctl status --json shows the same numbers, and the
# queue drains once the worker runs again.
source "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || skip "python3-prometheus-client is not installed"
METRICS="$PY $SOURCE_DIR/tests/e2e/lib/metrics.py"
PORT=$(free_port)
web_config 2 reuseport
echo "metrics: \"unix:$T/metrics.sock\"" >>"$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "2 workers ready" log_ready 2
queue() {  # queue WORKER: web[WORKER]'s accept queue, from a fresh scrape
  curl -sf --max-time 10 --unix-socket "$T/metrics.sock" http://localhost/metrics -o "$T/m.txt" &&
    $METRICS get "$T/m.txt" clusterd_listener_accept_queue app=web listener=http worker="$1"
}
stuck=$("$CLUSTERCTL" status --json | $PY "$SOURCE_DIR/tests/e2e/lib/status.py" pids | cut -d' ' -f1)
kill -STOP "$stuck"
# 40 connections held open without a request: the kernel spreads them over both sockets.
$PY - "$PORT" 40 >"$T/clients" 2>&1 <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n)]
print("connected", len(held), flush=True)
time.sleep(120)
PY
EXTRA_PIDS+=($!)
wait_for "the clients to connect" grep -q "connected 40" "$T/clients"
queued_on() { local q; q=$(queue "$1") && [[ $q != absent ]] && (($2)); }
wait_for "connections queued on the stopped worker's socket" queued_on 0 'q > 0'
wait_for "the running worker's queue empty" queued_on 1 'q == 0'
q0=$(queue 0)
"$CLUSTERCTL" status --json >"$T/s.json"
sq=$($PY -c 'import json,sys; w=json.load(open(sys.argv[1]))["apps"][0]["workers"][0]; print(w["accept_queues"][0]["queued"])' "$T/s.json")
[[ $sq -gt 0 ]] || fail "status shows no queue for the stopped worker: $sq"
kill -CONT "$stuck"
wait_for "the queue to drain once the worker runs" queued_on 0 'q == 0'
pass "stopped worker: $q0 connections in its queue (status: $sq), running worker: 0; drained after SIGCONT"
