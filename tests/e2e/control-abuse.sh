#!/usr/bin/env bash
# Control socket abuse: 1,000 idle connections, slow-loris clients sending a byte a second,
# 16 MiB lines, clients that vanish mid-reply. Meanwhile every status call from others answers
# (within clusterctl's 5 s timeout: the bound of a broken loop, not a speed target; the figures
# are printed, and bench/ measures latency), a killed worker is still replaced, and the master's
# memory stays bounded.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", idle_timeout: 3s }
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: 2
    ready: notify
YAML
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
rss0=$(rss_kb "$DAEMON")
python3 - "$T/ctl.sock" >"$T/abuse.out" 2>&1 <<'PY' &
import socket, sys, threading, time
path = sys.argv[1]
held = []
# 1,000 idle connections.
for _ in range(1000):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        held.append(s)
    except OSError:
        s.close()
# Slow-loris: a byte a second of a request that never ends.
loris = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX); s.connect(path); loris.append(s)
def dribble():
    for i in range(6):
        for s in loris:
            try: s.send(b"{")
            except OSError: pass
        time.sleep(1)
threading.Thread(target=dribble, daemon=True).start()
# 16 MiB lines, and clients that ask for a status and vanish before reading it.
for _ in range(4):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    try: s.sendall(b"x" * (16 << 20) + b"\n")
    except OSError: pass
    s.close()
for _ in range(50):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    s.sendall(b'{"cmd":"status"}\n'); s.close()
print("abuse sent", len(held), "idle", flush=True)
time.sleep(6)
PY
abuser=$!; EXTRA_PIDS+=($abuser)
wait_for "the abuse to be under way" grep -q "abuse sent" "$T/abuse.out"
worst=0
for i in $(seq 20); do
  ms=$(status_ms) || fail "status failed under abuse (call $i)"
  (( ms > worst )) && worst=$ms
  sleep 0.1
done
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "the replacement" bash -c "$(declare -f worker_pids); DAEMON=$DAEMON; ! worker_pids | grep -qx $victim && [[ \$(worker_pids | wc -l) -eq 2 ]]"
wait "$abuser" || true
rss1=$(rss_kb "$DAEMON")
kill -0 "$DAEMON" || fail "the master died"
# ASan's quarantine keeps freed memory on purpose: the RSS bound holds for the real build.
[[ -n ${CLUSTERD_SANITIZED:-} ]] || (( rss1 < rss0 + 8192 )) || fail "RSS grew from $rss0 to $rss1 KiB"
log_has "too many clients; closing the longest-idle one" || fail "no eviction logged"
wait_for "idle clients dropped" bash -c "(( \$(ls /proc/$DAEMON/fd | wc -l) < 100 ))"
pass "1000 idle + slow-loris + 16 MiB lines + vanishing clients: status worst $worst ms, worker replaced, RSS $rss0 -> $rss1 KiB"
