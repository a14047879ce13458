#!/usr/bin/env bash
# ready: {http: "GET /healthz"} and a reload that keeps the ports: the old worker of slot N holds
# port + N with SO_REUSEPORT, so the rollout stops it before the new worker of the slot starts,
# and the probe can only be answered by the new one. A deploy whose /healthz answers 503, or that
# never binds, is rolled back with the probe's last failure named, and every slot answers 200
# from the old version again; the other slots serve all along.
source "$(dirname "$0")/lib/common.sh"
BASE=$(free_ports 3)
[[ -n $BASE ]] || fail "no three consecutive free ports"
cat >"$T/worker.py" <<'PY'
# MODE ok: /healthz answers 200; 503: it answers 503; nobind: the worker never binds. Every answer
# carries VERSION; every /healthz asked is a line in $DIR/hits.<VERSION>.<worker id>.
import http.server, os, socket, time
version, mode = os.environ["VERSION"], os.environ["MODE"]
if mode == "nobind":
    while True:
        time.sleep(3600)
host, port = os.environ["CLUSTER_LISTEN_HTTP"].rsplit(":", 1)
hits = os.path.join(os.environ["DIR"], "hits.%s.%s" % (version, os.environ["CLUSTER_WORKER_ID"]))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            with open(hits, "a") as f:
                f.write("asked\n")
        code = 503 if mode == "503" and self.path == "/healthz" else 200
        body = version.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(http.server.HTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()
S((host, int(port)), H).serve_forever()
PY
# READY_TIMEOUT is short only where the deploy is meant to fail (the test waits it out); a good
# generation gets ample time, since a rollback starts it again under the rolled back one's
# ready_timeout, on a machine that may be busy with other tests.
write_config() {  # VERSION MODE [READY_TIMEOUT]
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["python3", "$T/worker.py"]
    instances: 3
    listen:
      http: { address: "127.0.0.1:$BASE", mode: worker, port_per_worker: true }
    ready: { http: "GET /healthz", interval: 50ms }
    ready_timeout: ${3:-60s}
    stop_timeout: 5s
    env: { DIR: "$T", VERSION: "$1", MODE: "$2" }
YAML
}
# answer PORT: "CODE BODY" of GET /healthz there ("000" when nothing answers).
answer() { curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$1/healthz" || true; }
all_answer() {  # VERSION: every slot's port answers 200 with it
  local i
  for i in 0 1 2; do [[ $(answer $((BASE + i))) == "$1 200" ]] || return 1; done
}
asked() { [[ $(grep -c asked "$T/hits.$1" 2>/dev/null || true) -ge $2 ]]; }
write_config v1 ok
"$CLUSTERD" --check -c "$T/c.yaml" >/dev/null || fail "the config does not check"
start_daemon "$T/c.yaml"
wait_for "three workers ready" "$CLUSTERCTL" status --check
all_answer v1 || fail "not every slot answers v1: $(answer "$BASE") $(answer $((BASE + 1)))"

# v2 answers /healthz with 503, on the same ports: the probe must reach v2 alone. Its
# ready_timeout leaves the checks below ample time while slot 0 runs v2.
write_config v2 503 10s
rc=0
"$CLUSTERCTL" reload >"$T/reload2" 2>&1 &
reload=$!
EXTRA_PIDS+=("$reload")
probed_or_over() { asked v2.0 2 || ! kill -0 "$reload" 2>/dev/null; }
wait_for "slot 0's new worker probed (or the reload over)" probed_or_over
if kill -0 "$reload" 2>/dev/null; then
  # Stop-first: slot 0's old worker is gone, the new one alone holds the port; the others serve.
  [[ $(answer "$BASE") == "v2 503" ]] || fail "port $BASE is not v2's alone: $(answer "$BASE")"
  [[ $(answer $((BASE + 1))) == "v1 200" ]] || fail "slot 1 stopped serving during the rollout"
  [[ $(answer $((BASE + 2))) == "v1 200" ]] || fail "slot 2 stopped serving during the rollout"
fi
wait "$reload" || rc=$?
[[ $rc -ne 0 ]] || fail "a deploy whose /healthz answers 503 reloaded with exit 0: $(cat "$T/reload2")"
grep -q "rolled back" "$T/reload2" || fail "not rolled back: $(cat "$T/reload2")"
grep -q "GET /healthz: 503" "$T/reload2" ||
  fail "the probe's last failure is not named: $(cat "$T/reload2")"
"$CLUSTERCTL" status --check >/dev/null || fail "not ready after the rollback"
all_answer v1 || fail "after the rollback not every slot answers v1: $(answer "$BASE")"

# v3 never binds: only the old worker could answer its probe, were it still there.
write_config v3 nobind 3s
rc=0; "$CLUSTERCTL" reload >"$T/reload3" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "a deploy that never binds reloaded with exit 0: $(cat "$T/reload3")"
grep -q "rolled back" "$T/reload3" || fail "not rolled back: $(cat "$T/reload3")"
grep -q "connect: Connection refused" "$T/reload3" ||
  fail "the probe's last failure is not named: $(cat "$T/reload3")"
# The failed worker's line names its own generation, not the one its slot went back to.
log_has 'web\[0\] gen 3: starting -> idle: not ready within ready_timeout' ||
  fail "the failed worker's line does not name generation 3"
all_answer v1 || fail "after the second rollback not every slot answers v1: $(answer "$BASE")"

# A good deploy on the same ports goes through, slot by slot.
write_config v4 ok
"$CLUSTERCTL" reload >"$T/reload4" 2>&1 || fail "a good deploy failed: $(cat "$T/reload4")"
all_answer v4 || fail "not every slot answers v4 after the reload: $(answer "$BASE")"
"$CLUSTERCTL" status --check >/dev/null || fail "not ready after the good reload"
pass "ready: http, same ports: the old worker stops before the new one is probed; bad deploys are rolled back"
