#!/usr/bin/env bash
# A read-role user cannot lock the admins out with follow streams. `nobody` (read role) opens 80
# `events --follow` streams, more than its uid may hold (8) and more than control.max_clients
# (64): exactly 8 follow, the others are refused by name or closed. While they are open, root's
# status, stop, start and reload each succeed on the first try (before: every place was taken by
# a stream and root got "too many clients (64)"). Then the streams are abandoned (the client is
# SIGKILLed): the daemon lets go of every one of them at once, without any event being published
# to them (before: a closed follower was noticed only when the next event was written to it), so
# root succeeds on the first try again and `nobody` may follow 8 times anew, not a 9th.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to act as another user"
getent passwd nobody >/dev/null || skip "no user nobody"
reachable_binaries
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", read: [nobody] }
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: 1
    ready: notify
YAML
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
# The daemon's end of each connection on its control socket (state 03: connected).
connections() { grep -c " 03 [0-9]* $T/ctl.sock\$" /proc/net/unix || true; }
no_connections() { [[ $(connections) -eq 0 ]]; }
# follow N SECONDS: as nobody, N `events --follow` requests, one connection each; prints how many
# follow (their first line is an event), were refused (an error line) or closed, then holds
# them open for SECONDS (bounded; the test kills it sooner).
cat >"$T/follow.py" <<'PY'
import json, socket, sys, time
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b'{"cmd":"events","follow":true,"lines":1}\n')
    socks.append(s)
following, refused, closed, errors = 0, 0, 0, set()
for s in socks:
    s.settimeout(60)  # a bound against a hang, not a speed target
    line = s.makefile("rb").readline()
    if not line:
        closed += 1
        continue
    reply = json.loads(line)
    if reply.get("ok") and "event" in reply:
        following += 1
    else:
        refused += 1
        errors.add(reply.get("error"))
print(f"following {following} refused {refused} closed {closed}", flush=True)
for e in sorted(errors):
    print("error:", e, flush=True)
time.sleep(hold)
PY
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
  /usr/bin/python3 "$T/follow.py" "$T/ctl.sock" 80 120 >"$T/attack" 2>&1 &
attacker=$!; EXTRA_PIDS+=($attacker)
wait_for "the follow requests answered" grep -q "^following" "$T/attack"
grep -q "^following 8 refused" "$T/attack" || fail "nobody's follow streams: $(cat "$T/attack")"
grep -q "error: too many follow streams for uid $(id -u nobody) (8 open); end one first" "$T/attack" ||
  fail "the refusal does not name the limit: $(cat "$T/attack")"
first_try() {  # first_try VERB...: root's clusterctl VERB succeeds at its first call
  "$CLUSTERCTL" "$@" >"$T/out" 2>&1 || fail "root's '$*' with nobody's streams: $(cat "$T/out")"
}
first_try status
first_try stop web
first_try start web
first_try reload
echo "while nobody holds its streams: $(head -1 "$T/attack"); root's status, stop, start, reload done"

kill -KILL "$attacker"; wait "$attacker" 2>/dev/null || true
first_try status
# Nothing has been published to the dead streams since (no event: a status is not one).
wait_for "the daemon to let go of the abandoned streams" no_connections
first_try stop web
first_try start web
first_try reload
as_nobody /usr/bin/python3 "$T/follow.py" "$T/ctl.sock" 9 0 >"$T/again" 2>&1 || fail "$(cat "$T/again")"
grep -q "^following 8 refused 1 closed 0" "$T/again" || fail "nobody following anew: $(cat "$T/again")"
kill -0 "$DAEMON" || fail "the master died"
pass "80 follow streams of a read user: 8 follow, root's verbs pass, abandoned streams freed at once"
