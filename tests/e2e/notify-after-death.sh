#!/usr/bin/env bash
# What a dead worker left behind knows its NOTIFY_SOCKET. The replacement must never be reachable
# through its predecessor's socket: its name is new for every worker process (a layer of
# docs/reliability.md; reusing sockets to save a bind() per respawn would open this, and a kernel
# without SO_PASSPIDFD takes a datagram on its socket and uid alone). A
# setsid'ed escapee (it survives its worker without cgroups) sends READY=1 to the old path while
# the replacement starts, itself and from children that exit at once: the replacement has a
# socket of its own and stays starting.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/escapee.py" <<'PY'
import os, socket, sys, time
path, worker, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while os.path.exists(f"/proc/{worker}"):  # until the worker is gone (killed by the test)
    time.sleep(0.01)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sent = 0
for i in range(100):
    if i % 2 == 0:
        try:
            s.sendto(b"READY=1\nSTATUS=forged", path)
            sent += 1
        except OSError:
            pass
    elif os.fork() == 0:  # a sender that is gone before the master reads its datagram
        try:
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", path)
        finally:
            os._exit(0)
    else:
        os.wait()
    time.sleep(0.02)
open(out + ".tmp", "w").write(str(sent))
os.rename(out + ".tmp", out)
PY
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
# The first worker leaves an escapee behind and serves; its replacements never say READY=1.
if mkdir "$1/first" 2>/dev/null; then
  setsid python3 "$1/escapee.py" "$NOTIFY_SOCKET" $$ "$1/sent" </dev/null >/dev/null 2>&1 &
  echo $! >"$1/escapee.pid"
  echo "$NOTIFY_SOCKET" >"$1/path"
  exec python3 -c 'import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
time.sleep(600)'
fi
echo "$NOTIFY_SOCKET" >"$1/path2"
exec sleep 600
SH
chmod +x "$T/worker.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: off
apps:
  web:
    command: ["$T/worker.sh", "$T"]
    instances: 1
    ready: notify
    ready_timeout: 120s
    min_uptime: 0
    stop_timeout: 2s
YAML
start_daemon "$T/c.yaml"
wait_for "the first worker ready" log_ready 1
first=$(worker_pids | head -1)
wait_for "the escapee's pid" test -s "$T/escapee.pid"
EXTRA_PIDS+=("$(cat "$T/escapee.pid")")  # killed by pid at the end, whatever happens
kill -KILL "$first"
wait_for "the escapee's datagrams" test -s "$T/sent"
sent=$(cat "$T/sent")
state=$("$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["state"])')
[[ $state == starting ]] || fail "the replacement is '$state' after $sent forged READY=1 from its predecessor's escapee"
[[ $(log_count "-> running: READY=1") -eq 1 ]] || fail "a second READY=1 was accepted"
[[ -s $T/path2 && $(cat "$T/path2") != "$(cat "$T/path")" ]] ||
  fail "the replacement was handed its predecessor's notify socket $(cat "$T/path")"
[[ ! -e $(cat "$T/path") ]] || fail "the dead worker's notify socket $(cat "$T/path") is still there"
pass "an escapee of the dead worker cannot reach its replacement ($sent of 50 datagrams delivered)"
