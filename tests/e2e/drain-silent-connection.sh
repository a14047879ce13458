#!/usr/bin/env bash
# Drain with connections that have not sent a request: one that stays silent is closed cleanly
# (FIN, no reset) after hello-worker's --drain-idle grace instead of holding the worker until the
# stop timeout; one that sends its first request during the grace gets a full answer with
# Connection: close. The worker exits 0 on its own, long before stop_timeout.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
GRACE_MS=1500
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--drain-idle", "$GRACE_MS"]
    instances: 1
    ready: notify
    stop_timeout: 60s
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
YAML
start_daemon "$T/c.yaml"
wait_for "worker ready" log_ready 1
# Two connections, accepted by the worker before the stop, neither has sent anything. The client
# prints when it is connected, then waits for the drain to begin (a file) and acts.
python3 - "$PORT" "$T" >"$T/client.out" 2>&1 <<'PY' &
import os, socket, sys, time
port, tmp = int(sys.argv[1]), sys.argv[2]
silent = socket.create_connection(("127.0.0.1", port), 5)
late = socket.create_connection(("127.0.0.1", port), 5)
open(os.path.join(tmp, "connected"), "w").close()
deadline = time.monotonic() + 30
while not os.path.exists(os.path.join(tmp, "draining")):
    if time.monotonic() > deadline: sys.exit("the drain never began")
    time.sleep(0.01)
# The late one sends its first request now, inside the grace.
late.sendall(b"GET /read HTTP/1.1\r\nHost: t\r\n\r\n")
late.settimeout(10)
answer = b""
while True:
    chunk = late.recv(4096)
    if not chunk: break
    answer += chunk
head = answer.split(b"\r\n\r\n", 1)[0].decode()
print("late:", head.splitlines()[0] if head else "nothing",
      "close" if "Connection: close" in head else "keep-alive")
# The silent one must see a clean end of stream, not a reset, within the grace and a margin.
silent.settimeout(30)
t0 = time.monotonic()
try:
    data = silent.recv(4096)
    print("silent:", "eof" if data == b"" else "data %r" % data[:40],
          "after %.1f s" % (time.monotonic() - t0))
except ConnectionResetError:
    print("silent: reset")
except socket.timeout:
    print("silent: timeout")
PY
EXTRA_PIDS+=($!)
client=$!
wait_for "client connected" test -e "$T/connected"
worker=$(worker_pids)
# Both connections are in the worker's accept queue or accepted; give it a moment to accept them
# (it logs nothing per connection, so wait on its socket count instead).
accepted() { [[ $(ls -l "/proc/$worker/fd" 2>/dev/null | grep -c socket) -ge 3 ]]; }
wait_for "worker accepted both connections" accepted
start=$(now_ms)
kill -TERM "$DAEMON"
wait_for "the drain to begin" log_has 'draining 2 connections'
touch "$T/draining"
wait "$DAEMON" && rc=0 || rc=$?
took=$(( $(now_ms) - start ))
DAEMON=""
wait "$client" || fail "client failed: $(cat "$T/client.out")"
[[ $rc -eq 0 ]] || fail "clusterd exited $rc"
grep -q '^late: HTTP/1.1 200 OK close$' "$T/client.out" ||
  fail "the request sent during the grace was not answered with Connection: close: $(cat "$T/client.out")"
grep -q '^silent: eof' "$T/client.out" || fail "the silent connection: $(cat "$T/client.out")"
log_has 'exited \(exit 0\)' || fail "the worker did not exit 0 on its own: $(grep exited "$T/clusterd.log")"
log_has 'drained, exiting' || fail "the worker did not drain: $(grep -E 'drain|exited' "$T/clusterd.log")"
# The grace ended the silent connection, not the worker's own drain deadline (10 s) nor the
# master's stop_timeout (60 s).
log_has 'drain deadline reached' && fail "the silent connection held the drain to its deadline"
log_has 'still running after stop_timeout' && fail "the master had to SIGKILL the worker"
pass "silent connection closed after the grace, late request answered; stop took $took ms"
