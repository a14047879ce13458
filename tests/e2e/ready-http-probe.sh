#!/usr/bin/env bash
# ready: {http: "GET /healthz"}: the master asks each worker on a port of its own
# (port_per_worker) and counts it ready only once /healthz answers 2xx or 3xx: before that it is
# starting, whatever the worker does. A deploy whose /healthz never answers 200 is rolled back,
# and `clusterctl reload` exits non-zero naming what the probe last got.
source "$(dirname "$0")/lib/common.sh"
BASE=$(free_ports 2)
NEXT=$(free_ports 2)
[[ -n $BASE && -n $NEXT ]] || fail "no two consecutive free ports"
cat >"$T/worker.py" <<'PY'
# /healthz answers 503 until the file $HEALTHY exists (never, when it is empty), then 200; every
# request is a line in $T/hits.<worker id>. Binds CLUSTER_LISTEN_HTTP, its own port.
import http.server, os, socket
host, port = os.environ["CLUSTER_LISTEN_HTTP"].rsplit(":", 1)
hits = os.path.join(os.environ["DIR"], "hits." + os.environ["CLUSTER_WORKER_ID"])
healthy = os.environ.get("HEALTHY", "")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(hits, "a") as f:
            f.write(self.path + "\n")
        ok = self.path != "/healthz" or (healthy and os.path.exists(healthy))
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
class S(http.server.HTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
S((host, int(port)), H).serve_forever()
PY
write_config() {  # PORT HEALTHY READY_TIMEOUT
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["python3", "$T/worker.py"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:$1", mode: worker, port_per_worker: true }
    ready: { http: "GET /healthz", interval: 50ms }
    ready_timeout: $3
    env: { DIR: "$T", HEALTHY: "$2" }
YAML
}
asked() { [[ $(grep -c healthz "$T/hits.$1" 2>/dev/null || true) -ge $2 ]]; }
write_config "$BASE" "$T/healthy" 60s
"$CLUSTERD" --check -c "$T/c.yaml" >/dev/null || fail "the config does not check"
start_daemon "$T/c.yaml"
# Each worker is asked on its own port, and answers 503 for now: both stay starting.
wait_for "worker 0 asked three times" asked 0 3
wait_for "worker 1 asked three times" asked 1 3
"$CLUSTERCTL" status --check >/dev/null && fail "ready while /healthz answers 503"
"$CLUSTERCTL" status web | grep -q starting || fail "not starting: $("$CLUSTERCTL" status web)"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BASE/healthz" | grep -q 503 ||
  fail "worker 0 is not on port $BASE"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((BASE + 1))/healthz" | grep -q 503 ||
  fail "worker 1 is not on port $((BASE + 1))"
touch "$T/healthy"
wait_for "both workers ready once /healthz answers 200" "$CLUSTERCTL" status --check
log_has 'its ready probe answered \(ready: http\)' || fail "the log does not say why they are ready"
# slot_pid N: the pid of worker N.
slot_pid() {
  "$CLUSTERCTL" status --json | python3 -c "import json, sys
print([w['pid'] for w in json.load(sys.stdin)['apps'][0]['workers'] if w['id'] == $1][0])"
}
before=$(slot_pid 1)
# A deploy (on the next ports) whose /healthz never answers 200: rolled back at ready_timeout.
write_config "$NEXT" "" 3s
rc=0; "$CLUSTERCTL" reload >"$T/reload" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "a deploy whose probe never succeeds reloaded with exit 0: $(cat "$T/reload")"
grep -q "rolled back" "$T/reload" || fail "not rolled back: $(cat "$T/reload")"
grep -q "GET /healthz: 503" "$T/reload" || fail "the probe's last failure is not named: $(cat "$T/reload")"
# The rollout is stop-first (the old worker of a slot stops before the new one is probed): the
# canary's slot runs generation 1 again, the other slot was never touched.
[[ $(slot_pid 1) == "$before" ]] || fail "worker 1 was replaced"
[[ $(worker_count) -eq 2 ]] || fail "not two workers after the rollback: $(worker_pids)"
"$CLUSTERCTL" status --check >/dev/null || fail "not ready after the rollback"
pass "ready: http: starting until /healthz answers 200 on each worker's own port; a deploy that never does is rolled back"
