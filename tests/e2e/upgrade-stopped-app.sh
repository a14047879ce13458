#!/usr/bin/env bash
# A live upgrade while apps are stopped on purpose: their sockets do not listen (a stopped app
# refuses connections at once), and the new master takes them over as they are. Before, it
# refused them ("fd N is not its socket"), the hand-back failed the same way and the master
# exited, its workers with it; then, once it took them, it stopped them again, which left them
# shut for reading, and after `start` nearly every new connection read end-of-file at once. Here:
# `reuseport` and `shared` apps stopped, `clusterctl upgrade` succeeds with the same master pid,
# both ports still refuse at once, and after `start` every connection of a burst is answered.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
API_PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
  api:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$API_PORT", mode: shared }
YAML
start_daemon "$T/c.yaml"
wait_for "four workers ready" log_ready 4
refused() {  # refused PORT: a new connection is refused at once
  python3 -c 'import socket, sys
s = socket.socket(); s.settimeout(10)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except ConnectionRefusedError:
    sys.exit(0)
sys.exit("port %s accepted a connection" % sys.argv[1])' "$1"
}
idle() { [[ $("$CLUSTERCTL" status --json | python3 -c 'import json, sys
print(all(w["state"] == "idle" for a in json.load(sys.stdin)["apps"] for w in a["workers"]))') == True ]]; }

"$CLUSTERCTL" stop web >/dev/null
"$CLUSTERCTL" stop api >/dev/null
wait_for "every worker stopped" idle
rc=0
"$CLUSTERCTL" upgrade >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || fail "upgrade with stopped apps exited $rc: $(cat "$T/out")"
grep -q "upgraded: clusterd .* pid $DAEMON, upgrade 1" "$T/out" || fail "upgrade said: $(cat "$T/out")"
kill -0 "$DAEMON" 2>/dev/null || fail "the master is gone"
for p in $PORT $API_PORT; do refused "$p" || fail "stopped, port $p after the upgrade"; done

"$CLUSTERCTL" start web >/dev/null
"$CLUSTERCTL" start api >/dev/null
wait_for "four workers ready again" log_ready 8
for p in $PORT $API_PORT; do
  out=$($HTTP burst "$p" 40) || fail "port $p after start: $out"
done
pass "apps stopped across an upgrade: taken over, still refusing, then serving every connection"
