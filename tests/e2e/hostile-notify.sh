#!/usr/bin/env bash
# Notify sockets against other local users and other processes of the worker's own uid:
#  (a) another user pre-binds the abstract names the old scheme would use next
#      (clusterd/<master pid>/<n>): respawns must still work (before: EADDRINUSE until failed);
#  (b) another user cannot list the notify directory or create anything in it;
#  (c) a process of the worker's uid that is not one of its processes reads NOTIFY_SOCKET from
#      the worker's environ and sends READY=1: it must not count (before: it did);
#  (d) a short-lived `systemd-notify --ready` child of a shell worker still counts;
#  (e) a flood of such forgeries is logged once, counted, not line by line;
#  (f) with per-worker cgroups, a forger that sends and exits at once does not count either,
#      while (d) still does.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to act as other users"
getent passwd nobody >/dev/null || skip "no user nobody"
chmod 0711 "$T"
mkdir -m 0777 "$T/out"
# (An array, not a function: a function run with & is a subshell, and killing it by pid would
# leave its child running.)
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
cat >"$T/quiet.sh" <<'SH'
#!/bin/bash
exec sleep 600
SH
cat >"$T/notify.sh" <<'SH'
#!/bin/bash
systemd-notify --ready
exec sleep 600
SH
chmod +x "$T/quiet.sh" "$T/notify.sh"
config() {  # config CGROUPS
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: $1
apps:
  victim:
    command: ["$T/quiet.sh"]
    user: nobody
    instances: 1
    ready: notify
    ready_timeout: 120s
  shell:
    command: ["$T/notify.sh"]
    user: nobody
    instances: 1
    ready: notify
YAML
}
state_of() {  # state_of APP
  "$CLUSTERCTL" status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["state"])'
}
pid_of() {
  "$CLUSTERCTL" status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["pid"])'
}
# forge PID [linger]: as nobody, sends READY=1 to the notify socket in PID's environment, then
# waits for $T/go before exiting (linger) or exits at once.
forge() {
  local sock
  sock=$(tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^NOTIFY_SOCKET=//p')
  "${NOBODY[@]}" /usr/bin/python3 - "$sock" "${2:-}" "$T/go" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", sys.argv[1])
while sys.argv[2] == "linger" and not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
PY
  EXTRA_PIDS+=($!)
}

config off
# (a) Before the master starts its workers: it is not up yet, so pre-bind for the pid it will get.
start_daemon "$T/c.yaml"
"${NOBODY[@]}" /usr/bin/python3 - "$DAEMON" "$T/out/held" <<'PY' &
import os, socket, sys, time
held = []
for n in range(1, 300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(f"\0clusterd/{sys.argv[1]}/{n}")
        held.append(s)
    except OSError:
        pass
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(len(held)))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
time.sleep(600)
PY
EXTRA_PIDS+=($!)
wait_for "the names to be pre-bound" test -e "$T/out/held"
(( $(cat "$T/out/held") > 200 )) || fail "only $(cat "$T/out/held") names could be pre-bound"
wait_for "the shell worker ready" log_has "shell\[0\] gen 1: starting -> running: READY=1"
for i in 1 2 3; do
  old=$(pid_of shell)
  kill -KILL "$old"
  wait_for "respawn $i" bash -c "p=\$($(declare -f pid_of); CLUSTERCTL=$CLUSTERCTL pid_of shell); [[ \$p != None && \$p != $old ]]"
done
log_has "EADDRINUSE|Address already in use" && fail "a respawn hit a pre-bound name"
[[ $(state_of shell) != failed ]] || fail "the shell slot failed"

# (b) The directory is closed to other users.
dir=$(dirname "$(tr '\0' '\n' <"/proc/$(pid_of shell)/environ" | sed -n 's/^NOTIFY_SOCKET=//p')")
"${NOBODY[@]}" ls "$dir" >/dev/null 2>&1 && fail "nobody can list $dir"
"${NOBODY[@]}" touch "$dir/x" 2>/dev/null && fail "nobody can create files in $dir"

# (c) A forger of the worker's uid, outside its tree, alive while the master looks.
victim=$(pid_of victim)
forge "$victim" linger
wait_for "the forgery to be rejected" log_has "victim\[0\].*ignored a notify message"
touch "$T/go"
[[ $(state_of victim) == starting ]] || fail "a forged READY=1 counted: victim is $(state_of victim)"
# (d) is the shell app itself: ready through systemd-notify, a child that exits at once.
[[ $(state_of shell) == running ]] || fail "systemd-notify --ready from a shell worker did not count"

# (e) A flood: one line, the rest counted.
rm -f "$T/go"
for _ in $(seq 200); do forge "$victim"; done
wait "${EXTRA_PIDS[@]: -200}" 2>/dev/null || true
lines=$(log_count "ignored a notify message")
(( lines <= 2 )) || fail "a flood of forgeries became $lines log lines"
"$CLUSTERCTL" status >/dev/null || fail "status during the flood"
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""

# (f) With per-worker cgroups (a cgroup v2 parent of our own), the kernel remembers where even a
# sender already gone was.
MOUNT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
if [[ -n $MOUNT && -w $MOUNT ]]; then
  CG=$MOUNT/clusterd-e2e-$$
  mkdir "$CG"
  CGROUPS+=("$CG")
  config "$CG"
  : >"$T/clusterd.log"
  start_daemon "$T/c.yaml"
  wait_for "the shell worker ready (cgroups)" log_has "shell\[0\] gen 1: starting -> running: READY=1"
  log_has "per-worker cgroups under $CG" || fail "cgroups not in use: $(grep -m1 cgroups "$T/clusterd.log")"
  victim=$(pid_of victim)
  grep -q "^0::${CG#"$MOUNT"}/workers/victim/0/" "/proc/$victim/cgroup" ||
    fail "victim not in its cgroup: $(grep '^0::' "/proc/$victim/cgroup")"
  forge "$victim"  # sends and exits at once
  wait_for "the gone forger to be rejected" log_has "victim\[0\].*outside the worker's cgroup"
  [[ $(state_of victim) == starting ]] || fail "a forger already gone counted with cgroups"
  echo "cgroups: a forger that exited before the master looked was rejected"
else
  echo "SKIP (f): no writable cgroup v2 hierarchy"
fi
pass "pre-bound names, closed directory, a forger of the same uid (alive, flooding, gone with cgroups) rejected; systemd-notify from a shell worker counts"
