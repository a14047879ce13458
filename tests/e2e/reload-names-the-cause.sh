#!/usr/bin/env bash
# A deploy that dies at start, under `clusterctl reload`, for programs that cannot send READY=1:
# an unmodified Node server (ready: listen, a missing module) and a Python one (ready: exec with
# its default min_ready, an unset variable). Each is rolled back, the old workers keep serving,
# reload exits non-zero naming the app and the worker's last words, and status says them too.
source "$(dirname "$0")/lib/common.sh"
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs nodejs)"

cat >"$T/server.js" <<'JS'
require('http').createServer((q, s) => s.end('v1\n')).listen(Number(process.env.PORT));
JS
cat >"$T/broken.js" <<'JS'
require('express-that-is-not-installed');
JS
cat >"$T/server.py" <<'PY'
import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"v1\n")
    def log_message(self, *a): pass
if "DB_URL" in os.environ and not os.environ["DB_URL"]:
    raise SystemExit("DB_URL not set")
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
PY

# check_round NAME: start v1, reload into the broken one, check the refusal and the survivors.
check_round() {
  local name=$1 want=$2
  start_daemon "$T/c.yaml"
  wait_for "$name: v1 ready" "$CLUSTERCTL" status --check
  local before
  before=$(worker_pids | sort)
  sed -i "$3" "$T/c.yaml"
  local rc=0
  "$CLUSTERCTL" reload >"$T/reload" 2>&1 || rc=$?
  [[ $rc -ne 0 ]] || fail "$name: a deploy that dies at start reloaded with exit 0: $(cat "$T/reload")"
  grep -q "rolled back" "$T/reload" || fail "$name: not rolled back: $(cat "$T/reload")"
  grep -qF "$want" "$T/reload" || fail "$name: the reply does not name the cause ($want): $(cat "$T/reload")"
  [[ $(curl -s "http://127.0.0.1:$PORT/") == v1 ]] || fail "$name: v1 does not serve after the rollback"
  [[ $(worker_pids | sort) == "$before" ]] || fail "$name: the old workers were replaced"
  "$CLUSTERCTL" status >"$T/status"
  grep -qF "$want" "$T/status" || grep -qF "$want" "$T/clusterd.log" ||
    fail "$name: the cause is nowhere: $(cat "$T/status")"
  kill -TERM "$DAEMON"
  wait_for "$name: the master to stop" bash -c "! kill -0 $DAEMON 2>/dev/null"
  echo "$name: $(cat "$T/reload" | tail -1)"
}

PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["node", "$T/server.js"]
    instances: 2
    ready: listen
    adopt: all
    env: { PORT: "$PORT" }
YAML
check_round node "Error: Cannot find module 'express-that-is-not-installed'" "s|$T/server.js|$T/broken.js|"

PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["python3", "$T/server.py"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared, adopt: true }
    env: { PORT: "$PORT", DB_URL: "postgres://db" }
YAML
check_round python "DB_URL not set" 's|DB_URL: "postgres://db"|DB_URL: ""|'
pass "a deploy that dies at start is rolled back and reload names why (node, python)"
