#!/usr/bin/env bash
# The control socket is 0660 and checks every peer with SO_PEERCRED: `nobody` gets no status,
# unless it is in control.group. Garbage, unknown commands and oversized lines get error replies
# and the daemon keeps serving; a live daemon's socket is not stolen by a second one.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to run a client as nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
chmod 755 "$T"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", max_clients: 4, idle_timeout: 1s }
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: 1
YAML
start_daemon "$T/c.yaml"
wait_for "the control socket" test -S "$T/ctl.sock"
[[ $(stat -c %a "$T/ctl.sock") == 660 ]] || fail "socket mode $(stat -c %a "$T/ctl.sock")"
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
rc=0; as_nobody "$CLUSTERCTL" status >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "nobody through 0660: exit $rc: $(cat "$T/out")"
grep -q "permission denied" "$T/out" || fail "message: $(cat "$T/out")"
chmod 666 "$T/ctl.sock"  # let nobody reach the SO_PEERCRED check itself
rc=0; as_nobody "$CLUSTERCTL" status >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "nobody past the file mode: exit $rc: $(cat "$T/out")"
grep -q "permission denied: uid $(id -u nobody)" "$T/out" || fail "message: $(cat "$T/out")"
grep -q "APP" "$T/out" && fail "nobody got a status"
log_has "control: refused uid $(id -u nobody)" || fail "refusal not logged"

python3 - "$T/ctl.sock" <<'PY' || fail "abuse replies"
import json, socket, sys, time
path = sys.argv[1]
def ask(payload, expect):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before it read everything: the reply is still there to read
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    reply = json.loads(data)
    assert reply["v"] == 1 and reply["ok"] is False and expect in reply["error"], (payload[:40], reply)
ask(b"garbage\n", "invalid JSON")
ask(b'{"cmd":"explode"}\n', "unknown command 'explode'")
ask(b'{"cmd":"scale","app":"web"}\n', "missing field 'instances'")
ask(b'{"cmd":"status","pad":"' + b"x" * 70000 + b'"}\n', "request longer than 65536 bytes")
# More clients than max_clients: the longest-idle one is closed to make room, so idle or stuck
# clients cannot lock the others out.
idle = [socket.socket(socket.AF_UNIX) for _ in range(4)]
for s in idle:
    s.connect(path)
time.sleep(0.2)
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b'{"cmd":"status"}\n')
reply = json.loads(s.makefile().readline())
assert reply["ok"] is True and "status" in reply, reply
s.close()
idle[0].settimeout(2)
assert idle[0].recv(10) == b"", "the oldest idle client was not evicted"
# Idle clients are dropped after idle_timeout (1 s).
for s in idle:
    s.settimeout(5)
    assert s.recv(10) == b"", "an idle client was not closed"
print("ok")
PY
"$CLUSTERCTL" status >/dev/null || fail "status after the abuse"
kill -0 "$DAEMON" || fail "the daemon died"

# A second daemon must not steal the live socket.
rc=0; "$CLUSTERD" -c "$T/c.yaml" >"$T/second.log" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "second daemon exit $rc"
grep -q "another clusterd is running on control socket" "$T/second.log" || fail "$(cat "$T/second.log")"
"$CLUSTERCTL" status >/dev/null || fail "the first daemon lost its socket"

# Members of control.group are let in.
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
[[ ! -e $T/ctl.sock ]] || fail "the socket file was left behind"
group=$(id -gn nobody)
sed -i "s|max_clients: 4|max_clients: 4, group: $group|" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the control socket" test -S "$T/ctl.sock"
[[ $(stat -c %G "$T/ctl.sock") == "$group" ]] || fail "socket group $(stat -c %G "$T/ctl.sock")"
as_nobody "$CLUSTERCTL" status >"$T/out" 2>&1 || fail "group member refused: $(cat "$T/out")"
pass "0660 + SO_PEERCRED, control.group, error replies, max_clients, idle timeout, no stealing"
