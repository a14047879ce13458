#!/usr/bin/env bash
# After kill -9 of the master, without cgroups: its workers die with it (PR_SET_PDEATHSIG), but
# not what they started in a session of their own. Here each worker leaves such a process
# holding its listening socket (fd 3).
#  (a) shared mode: the next master on the same config could not bind (before: EADDRINUSE and
#      no hint); it finds the leftover, whose CLUSTER_INSTANCE is the recorded previous master,
#      now gone, ends it and starts; the port serves.
#  (b) reuseport mode: the next master's bind would succeed beside the leftover and share its
#      connections with it (before: it did, silently); the leftover is ended first. And (a)
#      again on a unix: socket (before: "Address already in use").
#  (c) a foreign process (a plain listener started by the test) holds the port: the master exits
#      1 naming its pid and command, and the process is untouched.
#  (d) a second master on the same config while the first runs: it exits 1 naming the first
#      master and its workers (their master is alive), and touches none of them.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/worker.sh" <<SH
#!/bin/bash
# A process in a session of its own keeps the listening socket, then the worker serves.
setsid python3 -c 'import os, socket, sys, time
s = socket.socket(fileno=3)
with open(sys.argv[1], "a") as f:
    f.write("%d\\n" % os.getpid())
time.sleep(600)' "$T/leftovers" </dev/null >/dev/null 2>&1 &
exec "$HELLO"
SH
chmod +x "$T/worker.sh"
config() {  # config MODE ADDRESS
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: off
apps:
  web:
    command: ["$T/worker.sh"]
    instances: 2
    ready: notify
    stop_timeout: 5s
    listen:
      http: { address: "$2", mode: $1 }
YAML
}
leftovers() { cat "$T/leftovers" 2>/dev/null; }
track_leftovers() { for p in $(leftovers); do EXTRA_PIDS+=("$p"); done; }

# serves ADDRESS: an HTTP request there is answered.
serves() {
  if [[ $1 == unix:* ]]; then
    curl -sf --max-time 10 --unix-socket "${1#unix:}" http://localhost/read -o /dev/null
  else
    $HTTP get "${1##*:}" >/dev/null
  fi
}

# (a), (b): a master killed with SIGKILL, then the next one on the same config.
for mode in shared reuseport unix; do
  address=127.0.0.1:$(free_port)
  [[ $mode == unix ]] && address=unix:$T/web.sock
  config "${mode/unix/shared}" "$address"
  rm -f "$T/leftovers"
  : >"$T/clusterd.log"  # (start_daemon truncates it too, but maybe after the first wait_for)
  start_daemon "$T/c.yaml"
  wait_for "$mode: 2 workers ready" log_ready 2
  wait_for "$mode: 2 leftovers" bash -c "[[ \$(wc -l <'$T/leftovers') -eq 2 ]]"
  track_leftovers
  old=$(leftovers)
  workers=$(worker_pids)
  kill -KILL "$DAEMON"
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=""
  # shellcheck disable=SC2086
  wait_for "$mode: the workers to die with their master" none_alive $workers
  for p in $old; do alive "$p" || fail "$mode: the leftover $p did not outlive the master"; done
  rm -f "$T/leftovers"
  : >"$T/clusterd.log"
  start_daemon "$T/c.yaml"
  wait_for "$mode: the next master's workers ready" log_ready 2
  track_leftovers
  # shellcheck disable=SC2086
  none_alive $old || fail "$mode: the leftovers $old of the killed master are still there"
  log_has "$address: held by pid [0-9]+ .*left by the previous clusterd \(CLUSTER_INSTANCE=[0-9-]+\), which is gone: ending them" ||
    fail "$mode: the next master did not say what it ended: $(grep -m1 "$address" "$T/clusterd.log")"
  log_has "ended 2 leftover processes" || fail "$mode: no count of the leftovers ended"
  serves "$address" || fail "$mode: the next master does not serve"
  grep -m1 "left by the previous clusterd" "$T/clusterd.log" | sed 's/^/  /'
  kill -TERM "$DAEMON"
  wait "$DAEMON" || fail "$mode: the next master did not stop cleanly"
  DAEMON=""
done

# (c) A foreign listener on the port: named, untouched, exit 1.
PORT=$(free_port)
config shared "127.0.0.1:$PORT"
python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open(sys.argv[2], "w").close()
time.sleep(600)' "$PORT" "$T/foreign.up" &
foreign=$!
EXTRA_PIDS+=("$foreign")
wait_for "the foreign listener" test -e "$T/foreign.up"
rc=0
timeout "$WAIT_BOUND" "$CLUSTERD" -c "$T/c.yaml" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "a master on a port a foreign process holds exited $rc: $(tail -3 "$T/out")"
grep -q "bind 127.0.0.1:$PORT: Address already in use by pid $foreign (python3 -c import socket, sys, time.*): not started by clusterd" "$T/out" ||
  fail "the error does not name the foreign process $foreign: $(grep -m1 'in use' "$T/out")"
alive "$foreign" || fail "the foreign process $foreign was touched"
grep -m1 "in use by" "$T/out" | sed 's/^/  /'
kill -KILL "$foreign"
wait "$foreign" 2>/dev/null || true

# (d) A second master on the same config while the first runs: named, untouched, exit 1.
rm -f "$T/leftovers"
: >"$T/clusterd.log"
start_daemon "$T/c.yaml"
wait_for "the first master's workers ready" log_ready 2
track_leftovers
first=$(worker_pids | sort | tr '\n' ' ')
rc=0
timeout "$WAIT_BOUND" "$CLUSTERD" -c "$T/c.yaml" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "a second master on the same config exited $rc: $(tail -3 "$T/out")"
grep -q "Address already in use by pid $DAEMON (clusterd .*): not started by clusterd" "$T/out" ||
  fail "the error does not name the running master $DAEMON: $(grep -m1 'in use' "$T/out")"
grep -q "its clusterd (CLUSTER_INSTANCE=[0-9-]*) is still running" "$T/out" ||
  fail "the error does not say the workers' master runs: $(grep -m1 'in use' "$T/out")"
[[ $(worker_pids | sort | tr '\n' ' ') == "$first" ]] || fail "the first master's workers changed"
for p in $(leftovers); do alive "$p" || fail "the running master's worker's process $p was ended"; done
$HTTP get "$PORT" >/dev/null || fail "the first master stopped serving"
pass "leftovers of a killed master ended by the next one (shared, reuseport, unix); a foreign holder and a running master named and untouched"
