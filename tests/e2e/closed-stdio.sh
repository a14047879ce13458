#!/usr/bin/env bash
# A master started with stdin, stdout and stderr closed (as a careless init script does) gets
# /dev/null on fds 0-2 for good, so nothing of its own (a spawn slot, a worker's pipe) takes those
# numbers. With ~300 fds in its table every spawn goes through the spawn slots (a child sharing
# the table until it keeps only its low fds): a worker killed and restarted then still has its
# listener at 3, its output captured through a pipe at 1 and 2, and none of the master's
# placeholders (/dev/null) besides its stdin.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  idle:
    command: ["sleep", "3600"]
    instances: 70
  web:
    command: ["$HELLO", "--log-requests"]
    instances: 1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
"$CLUSTERD" -c "$T/c.yaml" <&- >&- 2>&- &
DAEMON=$!
ready() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys
apps = {a["name"]: a for a in json.load(sys.stdin)["apps"]}
sys.exit(0 if apps["idle"]["ready"] == 70 and apps["web"]["ready"] == 1 else 1)'
}
wait_for "71 workers ready" ready
for fd in 0 1 2; do
  [[ $(readlink "/proc/$DAEMON/fd/$fd") == /dev/null ]] || fail "master fd $fd: $(readlink "/proc/$DAEMON/fd/$fd")"
done
(( $(fd_count "$DAEMON") >= 256 )) || fail "only $(fd_count "$DAEMON") fds in the master: the slots are not used"
web_pid() { "$CLUSTERCTL" status web --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["pid"] or "")'; }
old=$(web_pid)
kill -KILL "$old"
replaced() { local p; p=$(web_pid); [[ -n $p && $p != "$old" ]] && ready; }
wait_for "web replaced and ready" replaced
new=$(web_pid)
[[ $(readlink "/proc/$new/fd/0") == /dev/null ]] || fail "worker stdin: $(readlink "/proc/$new/fd/0")"
for fd in 1 2; do
  [[ $(readlink "/proc/$new/fd/$fd") == pipe:* ]] || fail "worker fd $fd: $(readlink "/proc/$new/fd/$fd")"
done
[[ $(readlink "/proc/$new/fd/3") == socket:* ]] || fail "worker fd 3: $(readlink "/proc/$new/fd/3")"
nulls=$(for f in /proc/"$new"/fd/*; do readlink "$f"; done | grep -c '^/dev/null$' || true)
[[ $nulls == 1 ]] || fail "the worker holds $nulls fds on /dev/null (a slot's placeholder crossed the exec)"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "no answer from the new worker"
in_ring() { "$CLUSTERCTL" logs web -n 20 2>/dev/null | grep -q " $new out| .*GET /read"; }
wait_for "the new worker's request line in clusterctl logs" in_ring
pass "stdio closed at start: fds 0-2 are /dev/null; a respawn through the slots has exactly its own fds"
