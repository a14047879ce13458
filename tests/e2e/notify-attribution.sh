#!/usr/bin/env bash
# Without per-worker cgroups, a notify datagram counts only when its sender can be shown to be the
# worker or one of its processes; a sender already gone when the master reads it cannot be (that
# was the hole: a same-uid process sending READY=1 from children that exit at once won most
# slots). Ten slots whose workers never say READY=1 get forged READY=1s:
#  (a) from short-lived children of a process of the same uid outside the workers' trees, the
#      master stopped meanwhile (SIGSTOP), so that every sender is gone when it reads them;
#  (b) the same with the master running;
#  (c) from a process a worker of another app left behind, handed to the master as subreaper
#      (so its parent is the master), itself and from its short-lived children.
# None counts; the master logs one line, counts the rest. Meanwhile a shell worker's own
# `systemd-notify --ready` and a Python child that sends READY=1, waits for the master
# (sd_notify_barrier: BARRIER=1) and exits at once, are ready.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-notify >/dev/null || skip "no systemd-notify"
command -v curl >/dev/null || skip "no curl"
SLOTS=10
cat >"$T/quiet.sh" <<'SH'
#!/bin/bash
exec sleep 600
SH
cat >"$T/notify.sh" <<'SH'
#!/bin/bash
systemd-notify --ready
exec sleep 600
SH
cat >"$T/barrier.sh" <<'SH'
#!/bin/bash
python3 -c '
import array, os, socket
path = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", path)
r, w = os.pipe()
s.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))], 0, path)
os.close(w)
os.read(r, 1)  # EOF once the master has closed its copy: it has read READY=1 by then
'
exec sleep 600
SH
# forge.py MODE OUT LIST [WORKER]: sends READY=1 to every socket in the file LIST from
# short-lived children (each reaped before the next); in `orphan` mode it first waits until its
# parent is no longer WORKER (it was handed to the master) and sends one from itself too. Writes
# how many datagrams it sent to OUT.
cat >"$T/forge.py" <<'PY'
import os, socket, sys, time
mode, out, sockets = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "orphan":
    open(out + ".started", "w").close()  # in a session of its own by now: its worker may go
    worker = int(sys.argv[4])
    for _ in range(12000):  # until its worker is gone and the list is there (bounded: 240 s)
        if os.getppid() != worker and os.path.exists(sockets):
            break
        time.sleep(0.02)
    with open(out + ".parent", "w") as f:
        f.write(str(os.getppid()))
paths = open(sockets).read().split()
sent = 0
for path in paths:
    if mode == "orphan":
        try:
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", path)
            sent += 1
        except OSError:
            pass
    for _ in range(5):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", path)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)  # reaped at once: gone before the master looks
        os.close(r)
        os.close(w)
        sent += os.waitstatus_to_exitcode(status) == 0
with open(out + ".tmp", "w") as f:
    f.write(str(sent))
os.rename(out + ".tmp", out)
PY
cat >"$T/leave.sh" <<SH
#!/bin/bash
# Leaves a forger in a session of its own and exits: the master adopts it as subreaper.
setsid python3 "$T/forge.py" orphan "$T/sent.orphan" "$T/sockets.orphan" \$\$ </dev/null >/dev/null 2>&1 &
echo \$! >"$T/orphan.pid"
# Not before it has left this session: the master ends the session of a worker that exits.
for _ in \$(seq 3000); do [[ -e $T/sent.orphan.started ]] && break; sleep 0.02; done
SH
chmod +x "$T"/*.sh
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
metrics: { address: "unix:$T/metrics.sock" }
cgroups: off
apps:
  victim:
    command: ["$T/quiet.sh"]
    instances: $SLOTS
    ready: notify
    ready_timeout: 300s
  shell:
    command: ["$T/notify.sh"]
    instances: 1
    ready: notify
  barrier:
    command: ["$T/barrier.sh"]
    instances: 1
    ready: notify
  other:
    command: ["$T/leave.sh"]
    instances: 1
    ready: exec
    restart: never
YAML
start_daemon "$T/c.yaml"
wait_for "the shell worker ready" log_has "shell\[0\] gen 1: starting -> running: READY=1"
wait_for "the barrier worker ready" log_has "barrier\[0\] gen 1: starting -> running: READY=1"
wait_for "the other app's worker to leave its forger" test -s "$T/orphan.pid"
EXTRA_PIDS+=("$(cat "$T/orphan.pid")")
echo "mode: $(grep -m1 -o 'no per-worker cgroups.*\|per-worker cgroups under.*' "$T/clusterd.log")"
echo "notify: $(grep -m1 -o 'notify: .*' "$T/clusterd.log" || echo 'no line about notify checks')"

victims() {
  "$CLUSTERCTL" status victim --json |
    python3 -c 'import json,sys; [print(w["pid"], w["state"]) for w in json.load(sys.stdin)["apps"][0]["workers"]]'
}
wait_for "$SLOTS victims started" bash -c "[[ \$($(declare -f victims); CLUSTERCTL=$CLUSTERCTL victims | grep -c ' starting$') -eq $SLOTS ]]"
for pid in $(victims | awk '{print $1}'); do
  tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^NOTIFY_SOCKET=//p'
done >"$T/sockets.tmp"
[[ $(wc -l <"$T/sockets.tmp") -eq $SLOTS ]] || fail "not $SLOTS notify sockets: $(cat "$T/sockets.tmp")"
mv "$T/sockets.tmp" "$T/sockets"

rejected() {
  curl -sf --max-time 10 --unix-socket "$T/metrics.sock" http://localhost/metrics |
    awk '$1 == "clusterd_notify_rejected_total" {print $2}'
}
# check_forgeries SENT WHAT: once the master has read them all (each refusal is counted), or one
# counted, no victim may be ready.
check_forgeries() {
  local sent=$1 n won
  settled() {
    victims | grep -qv ' starting$' && return 0
    n=$(rejected)
    [[ -n $n ]] && (( ${n%.*} >= sent ))
  }
  wait_for "the master to read the forged datagrams ($2)" settled
  won=$(victims | grep -vc ' starting$' || true)
  (( won == 0 )) || fail "forged READY=1 ($2) won $won of $SLOTS slots: $(victims | tr '\n' ' ')"
  n=$(rejected)
  [[ ${n%.*} -eq $sent ]] || fail "$sent forgeries sent, $n refused ($2)"
}
# (a) Every sender is gone before the master reads a thing.
kill -STOP "$DAEMON"
python3 "$T/forge.py" stopped "$T/sent.stopped" "$T/sockets" || { kill -CONT "$DAEMON"; fail "forger (a)"; }
kill -CONT "$DAEMON"
sent=$(cat "$T/sent.stopped")
(( sent == SLOTS * 5 )) || fail "only $sent of $((SLOTS * 5)) forged datagrams could be sent (a)"
check_forgeries "$sent" "senders gone, the master stopped"
# (b) The same, the master running.
python3 "$T/forge.py" running "$T/sent.running" "$T/sockets" || fail "forger (b)"
sent=$(( sent + $(cat "$T/sent.running") ))
check_forgeries "$sent" "senders gone, the master running"
# (c) The orphan sends once it has been handed to the master and has the list. (Not during (a):
# a socket holds 10 datagrams at most by default, and a sender to a full one waits.)
cp "$T/sockets" "$T/sockets.orphan"
wait_for "the orphan's datagrams" test -s "$T/sent.orphan"
[[ $(cat "$T/sent.orphan.parent") == "$DAEMON" ]] ||
  fail "the orphan's parent is $(cat "$T/sent.orphan.parent"), not the master $DAEMON"
sent=$(( sent + $(cat "$T/sent.orphan") ))
check_forgeries "$sent" "an orphan handed to the master"
lines=$(log_count "victim\[[0-9]+\].*ignored a notify message")
(( lines >= 1 && lines <= 2 )) || fail "$sent refusals became $lines log lines"
log_has "ignored a notify message from uid $(id -u) pid [0-9]+, (gone before|not one of the worker's processes)" ||
  fail "the refusal does not say why: $(grep -m1 'ignored a notify' "$T/clusterd.log")"
grep -m1 "ignored a notify message" "$T/clusterd.log"
for app in shell barrier; do
  state=$("$CLUSTERCTL" status "$app" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["state"])')
  [[ $state == running ]] || fail "$app is $state"
done
pass "$sent forged READY=1 (senders gone, the master stopped and running; an orphan handed to the master) refused on all $SLOTS slots in $lines log line(s); systemd-notify --ready and a Python child with BARRIER=1 count"
