#!/usr/bin/env bash
# port_env: PORT on a listener: a program that reads only $PORT (PM2's increment_var, Heroku's
# PORT) gets its port there: port + N for worker N of a port_per_worker listener, where each
# binds its own; the listener's port for a shared one, where adoption hands each worker's own
# bind() the master's socket. The program is the same file in both, unchanged.
source "$(dirname "$0")/lib/common.sh"
BASE=$(free_ports 2)
SHARED=$(free_port)
[[ -n $BASE ]] || fail "no two consecutive free ports"
cat >"$T/server.py" <<'PY'
# Binds 127.0.0.1:$PORT itself and answers every request with its worker id and pid.
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s %d\n" % (os.environ["CLUSTER_WORKER_ID"], os.getpid())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
PY
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  own:
    command: ["python3", "$T/server.py"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:$BASE", mode: worker, port_per_worker: true, port_env: PORT }
    ready: tcp
  shared:
    command: ["python3", "$T/server.py"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:$SHARED", adopt: true, port_env: PORT }
YAML
"$CLUSTERD" --check -c "$T/c.yaml" >/dev/null || fail "--check refuses the config"
start_daemon "$T/c.yaml"
wait_for "all four workers ready" "$CLUSTERCTL" status --check
answer() { curl -s --max-time 5 "http://127.0.0.1:$1/"; }
[[ $(answer "$BASE" | cut -d' ' -f1) == 0 ]] || fail "port $BASE is not worker 0's: $(answer "$BASE")"
[[ $(answer $((BASE + 1)) | cut -d' ' -f1) == 1 ]] ||
  fail "port $((BASE + 1)) is not worker 1's: $(answer $((BASE + 1)))"
# Each shared worker bound the same port and got the master's socket: both answer on it.
declare -A seen=()
both_answered() {
  local reply; reply=$(answer "$SHARED") || return 1
  seen[${reply%% *}]=1
  [[ ${#seen[@]} -eq 2 ]]
}
wait_for "both shared workers answering on $SHARED" both_answered
for pid in $(worker_pids); do
  tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^PORT=' || fail "worker $pid has no PORT"
done
pass "port_env: PORT is port + N with port_per_worker, the listener's port when shared"
