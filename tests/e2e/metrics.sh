#!/usr/bin/env bash
# The metrics endpoint, read by Debian's prometheus_client parsers: both formats parse strictly,
# follow the naming rules and agree; every worker's processes, threads, fds, RSS, PSS and USS
# match /proc; /healthz follows readiness; restarts, control requests and reloads are counted;
# a reload moves the endpoint (unix socket -> TCP) and a reload to a taken address is refused
# with the old endpoint still serving; nobody scraping means an idle master.
source "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || skip "python3-prometheus-client is not installed"
METRICS="$PY $SOURCE_DIR/tests/e2e/lib/metrics.py"
PORT=$(free_port)
API_PORT=$(free_port)
write_config() {  # write_config METRICS-ADDRESS
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
metrics: { address: "$1" }
apps:
  web:
    command: ["$HELLO", "--fork-child"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
  api:
    command: ["$HELLO", "--threads", "3"]
    instances: 1
    ready: notify
    listen:
      http: "127.0.0.1:$API_PORT"
YAML
}
write_config "unix:$T/metrics.sock"
start_daemon "$T/c.yaml"
wait_for "3 workers ready" log_ready 3
scrape() {  # scrape OUT [PATH] [ACCEPT]: GET over the unix socket; fails on a non-2xx answer
  curl -sf --max-time 10 --unix-socket "$T/metrics.sock" ${3:+-H "Accept: $3"} \
    "http://localhost${2:-/metrics}" -o "$1"
}
metric() { $METRICS get "$T/m.txt" "$@"; }

# ---- both formats, the naming rules, the numbers against /proc
scrape "$T/m.txt"
scrape "$T/m.om" /metrics "application/openmetrics-text; version=1.0.0"
"$CLUSTERCTL" status --json --detail >"$T/status.json"
summary=$($METRICS check "$T/m.txt" "$T/m.om" "$T/status.json") || fail "$summary"
echo "$summary"
ctype=$(curl -s --unix-socket "$T/metrics.sock" -o /dev/null -w '%{content_type}' \
  -H 'Accept: application/openmetrics-text' http://localhost/metrics)
[[ $ctype == application/openmetrics-text* ]] || fail "OpenMetrics content type: $ctype"
[[ $(metric clusterd_worker_processes app=web worker=0 generation=1) -eq 2 ]] ||
  fail "web[0] with --fork-child is not 2 processes: $(metric clusterd_worker_processes app=web worker=0 generation=1)"
[[ $(metric clusterd_worker_threads app=api worker=0 generation=1) -eq 3 ]] ||
  fail "api[0] with --threads 3 is not 3 threads"
[[ $(metric clusterd_listener_accept_queue_limit app=web listener=http worker=1) -gt 0 ]] ||
  fail "no accept queue limit for web[1]'s own socket"
[[ $(metric clusterd_listener_accept_queue app=api listener=http) == 0 ]] ||
  fail "no accept queue for api's shared socket"
grep -q 'pid=' "$T/m.txt" && fail "a pid as a label"

# ---- /healthz follows readiness; 404 elsewhere
scrape "$T/h" /healthz || fail "healthz is not 200 with every worker ready: $(cat "$T/h")"
"$CLUSTERCTL" stop api >/dev/null
code=$(curl -s --unix-socket "$T/metrics.sock" -o "$T/h" -w '%{http_code}' http://localhost/healthz)
[[ $code == 503 ]] && grep -qx "api: 0/1 ready (stopped)" "$T/h" || fail "healthz with api stopped: $code $(cat "$T/h")"
"$CLUSTERCTL" start api >/dev/null
wait_for "healthz 200 again" scrape "$T/h" /healthz
code=$(curl -s --unix-socket "$T/metrics.sock" -o /dev/null -w '%{http_code}' http://localhost/nope)
[[ $code == 404 ]] || fail "GET /nope answered $code"

# ---- counters: a crash, control requests by result, reloads
victim=$("$CLUSTERCTL" status --json | $PY "$SOURCE_DIR/tests/e2e/lib/status.py" pids | cut -d' ' -f1)
kill -KILL "$victim"
restarted() {
  scrape "$T/m.txt" && [[ $(metric clusterd_worker_restarts_total app=web worker=0 reason=signal) == 1 ]]
}
wait_for "web[0]'s restart counted with reason signal" restarted
"$CLUSTERCTL" scale nosuch 2 >/dev/null 2>&1 || true
echo "apps: [" >>"$T/c.yaml"
"$CLUSTERCTL" reload >/dev/null 2>&1 && fail "a broken config reloaded"
scrape "$T/m.txt"
[[ $(metric clusterd_control_requests_total verb=scale result=error) -ge 1 ]] || fail "scale error not counted"
[[ $(metric clusterd_control_requests_total verb=stop result=ok) -ge 1 ]] || fail "stop not counted"
[[ $(metric clusterd_reloads_total result=refused) -eq 1 ]] || fail "refused reload not counted"
[[ $(metric clusterd_reloads_total result=applied) -eq 0 ]] || fail "applied reloads: $(metric clusterd_reloads_total result=applied)"

# ---- nobody scraping: the master sleeps (no timer, no polling of /proc)
master_switches() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$DAEMON/status"; }
before=$(master_switches); sleep 1; after=$(master_switches)
[[ $before -eq $after ]] || fail "the idle master woke $((after - before)) times in 1 s"

# ---- a reload moves the endpoint to TCP; a taken address is refused and the old one serves on
MPORT=$(free_port)
write_config "127.0.0.1:$MPORT"
"$CLUSTERCTL" reload >/dev/null || fail "reload to TCP metrics refused"
curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics" -o "$T/m.txt" || fail "no metrics on TCP"
[[ -e $T/metrics.sock ]] && curl -s --max-time 2 --unix-socket "$T/metrics.sock" http://localhost/ -o /dev/null &&
  fail "the old unix endpoint still answers"
write_config "127.0.0.1:$API_PORT"
out=$("$CLUSTERCTL" reload 2>&1) && fail "metrics on a listener's address reloaded: $out"
grep -q "metrics.address: 127.0.0.1:$API_PORT is already used by apps.api.listen.http" <<<"$out" ||
  fail "refusal: $out"
python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1], flush=True); import time; time.sleep(120)" >"$T/taken" &
EXTRA_PIDS+=($!)
wait_for "a port held by another process" test -s "$T/taken"
write_config "127.0.0.1:$(cat "$T/taken")"
out=$("$CLUSTERCTL" reload 2>&1) && fail "metrics on a taken port reloaded: $out"
grep -q "reload refused, nothing changed: .*127.0.0.1:$(cat "$T/taken")" <<<"$out" || fail "refusal: $out"
curl -sf --max-time 10 "http://127.0.0.1:$MPORT/metrics" -o "$T/m.txt" || fail "the endpoint died with the refused reload"
[[ $(metric clusterd_reloads_total result=applied) -eq 1 ]] || fail "applied reloads: $(metric clusterd_reloads_total result=applied)"
pass "$summary; healthz, counters, idle master, endpoint moved by reload and kept on refusal"
