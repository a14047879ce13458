#!/usr/bin/env bash
# The metrics endpoint against hostile clients: a local process keeps 40 connections open that
# never send a request (reopening any that close) while Prometheus scrapes: every scrape is
# served (before: the 16 places stayed taken and each scrape was refused; then, under CPU load, a
# scraper could be evicted between its connect and its request); a request over 8 KiB
# is cut off; POST gets 405; the master keeps supervising throughout.
source "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3
PORT=$(free_port)
MPORT=$(free_port)
web_config 1 reuseport
echo "metrics: \"127.0.0.1:$MPORT\"" >>"$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
$PY - "$MPORT" 40 45 >"$T/idle" 2>&1 <<'PY' &
import socket, sys, time
port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
held, opened, end = [], 0, time.time() + seconds
while time.time() < end:  # bounded: at most `seconds`
    held = [s for s in held if s.fileno() != -1]
    for s in list(held):  # drop the ones the server closed
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                s.close(); held.remove(s)
        except BlockingIOError:
            pass
        except OSError:
            s.close(); held.remove(s)
    while len(held) < n:
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=2)); opened += 1
        except OSError:
            break
    print("opened", opened, flush=True)
    time.sleep(0.05)
PY
EXTRA_PIDS+=($!)
wait_for "the idle connections" grep -q "opened 40" "$T/idle"
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" -o "$T/m"; }
for i in 1 2 3 4 5; do
  scrape || fail "scrape $i among 40 idle connections was refused ($(tail -1 "$T/idle"))"
  grep -q '^clusterd_worker_up{app="web",worker="0",generation="1"} 1$' "$T/m" || fail "scrape $i: no worker"
done
opened=$(tail -1 "$T/idle")
big=$($PY -c "print('GET /metrics HTTP/1.1\r\nX: ' + 'a' * 9000 + '\r\n\r\n', end='')")
answer=$(printf '%s' "$big" | curl -s --max-time 5 "telnet://127.0.0.1:$MPORT" 2>/dev/null | head -c 100 || true)
[[ -z $answer ]] || fail "a 9 KiB request was answered: $answer"
code=$(curl -s --max-time 5 -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics")
[[ $code == 405 ]] || fail "POST answered $code"
"$CLUSTERCTL" restart web >/dev/null || fail "the master stopped answering"
wait_for "the restarted worker" log_ready 2
scrape || fail "no scrape after the abuse"
pass "5 scrapes served among 40 idle connections ($opened), a 9 KiB request cut off, POST 405, supervision intact"
