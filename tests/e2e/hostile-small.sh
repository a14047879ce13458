#!/usr/bin/env bash
# Small hostile or odd inputs, one block each (attack -> expected):
#  (a) WATCHDOG_USEC / EXTEND_TIMEOUT_USEC of 2^64-1 overflowed the deadline into the past and
#      got the worker killed at once -> deadlines saturate, the worker keeps running;
#  (b) `cwd: app` with `command: ["./run.sh"]` passed --check but every spawn failed -> it starts;
#  (c) limits.nofile above fs.nr_open passed --check (every spawn would fail) -> exit 2;
#  (d) unix: listeners take socket_mode / socket_group (old: unknown keys) -> 660 nogroup;
#  (e) a newline in a request's app name could forge a line in the daemon's log -> escaped;
#  (f) the stale-socket probe blocked in connect() on a live socket with a full backlog (and,
#      once a signal broke the wait, replaced it) -> "another clusterd is running", file kept.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-notify >/dev/null || skip "systemd-notify is not installed"
getent group nogroup >/dev/null || skip "no group nogroup"
MAX=18446744073709551615
cat >"$T/wd.sh" <<SH
#!/bin/bash
systemd-notify WATCHDOG_USEC=$MAX
systemd-notify --ready
exec sleep 600
SH
cat >"$T/ext.sh" <<SH
#!/bin/bash
systemd-notify EXTEND_TIMEOUT_USEC=$MAX
touch "$T/extended"
until [ -e "$T/go" ]; do sleep 0.05; done
systemd-notify --ready
exec sleep 600
SH
mkdir "$T/app"
printf '#!/bin/bash\ntouch started\nexec sleep 600\n' >"$T/app/run.sh"
chmod +x "$T/wd.sh" "$T/ext.sh" "$T/app/run.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  wd: { command: ["$T/wd.sh"], instances: 1, ready: notify }
  ext: { command: ["$T/ext.sh"], instances: 1, ready: notify, ready_timeout: 10s }
  rel: { command: ["./run.sh"], cwd: app, instances: 1 }
YAML
cd "$T"  # (b): the relative cwd is relative to the daemon's
"$CLUSTERD" --check -c c.yaml >"$T/out" 2>&1 || fail "(b) --check: $(cat "$T/out")"
start_daemon c.yaml
field() {  # field APP KEY: the first worker's KEY in status --json
  "$CLUSTERCTL" status "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['apps'][0]['workers'][0]['$2'])"
}
is_running() { [[ $(field "$1" state) == running ]]; }
round_trips() { "$CLUSTERCTL" status >/dev/null && "$CLUSTERCTL" status >/dev/null; }

# (a) WATCHDOG_USEC=2^64-1, then READY=1.
either() { eval "$1" || log_has "$2"; }  # either CONDITION PATTERN: it holds, or PATTERN is logged
wait_for "wd ready (or its watchdog fired)" either "is_running wd" "no WATCHDOG=1"
pid=$(field wd pid)
round_trips || fail "(a) status does not answer"
! log_has "no WATCHDOG=1" || fail "(a) WATCHDOG_USEC=$MAX fired the watchdog: $(grep 'no WATCHDOG' "$T/clusterd.log")"
[[ $(field wd pid) == "$pid" ]] || fail "(a) WATCHDOG_USEC=$MAX: worker $pid replaced by $(field wd pid)"
# EXTEND_TIMEOUT_USEC=2^64-1 before READY=1: the worker waits, not killed, until we say go.
wait_for "ext to extend its start (or be killed)" either "test -e $T/extended" "ext.*no READY=1 within"
! log_has "ext.*no READY=1 within" || fail "(a) EXTEND_TIMEOUT_USEC=$MAX: $(grep -m1 'ext.*no READY=1 within' "$T/clusterd.log")"
pid=$(field ext pid)
round_trips || fail "(a) status does not answer"
[[ $(field ext pid) == "$pid" ]] || fail "(a) EXTEND_TIMEOUT_USEC=$MAX: worker $pid replaced by $(field ext pid)"
alive "$pid" || fail "(a) EXTEND_TIMEOUT_USEC=$MAX: worker $pid killed"
touch "$T/go"
wait_for "ext ready" is_running ext
[[ $(field ext pid) == "$pid" ]] || fail "(a) ext: worker $pid replaced by $(field ext pid) on its way to ready"

# (b) relative cwd and command: the worker really started there.
wait_for "rel's marker (or its failure)" either "test -e $T/app/started" "rel.*cannot start"
! log_has "rel.*cannot start" || fail "(b) $(grep -m1 'rel.*cannot start' "$T/clusterd.log")"
is_running rel || fail "(b) rel is $(field rel state)"

# (c) limits.nofile above the kernel's fs.nr_open.
printf 'apps:\n  w: { command: ["/bin/sleep", "600"], limits: { nofile: %d } }\n' \
  $(($(cat /proc/sys/fs/nr_open) + 1)) >"$T/nofile.yaml"
rc=0; "$CLUSTERD" --check -c "$T/nofile.yaml" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q "fs.nr_open" "$T/out" || fail "(c) nofile > fs.nr_open: exit $rc: $(cat "$T/out")"

# (d) a unix listener's socket_mode and socket_group, added by a reload.
cat >>"$T/c.yaml" <<YAML
  web:
    command: ["$HELLO"]
    instances: 1
    ready: notify
    listen:
      s: { address: "unix:$T/s.sock", mode: shared, socket_mode: "0660", socket_group: nogroup }
YAML
"$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "(d) reload with socket_mode/socket_group: $(cat "$T/out")"
wait_for "web ready" is_running web
[[ $(stat -c '%a %G' "$T/s.sock") == "660 nogroup" ]] || fail "(d) s.sock is $(stat -c '%a %G' "$T/s.sock")"

# (e) a newline in a request field must not start a line of its own in the log.
"$CLUSTERCTL" stop $'web\nFAKE-LINE injected' >"$T/out" 2>&1 && fail "(e) stop of a bogus app succeeded"
"$CLUSTERCTL" reload $'web\nFAKE-LINE by reload' >"$T/out" 2>&1 && fail "(e) reload of a bogus app succeeded"
"$CLUSTERCTL" status >/dev/null || fail "(e) status does not answer"  # (e)'s request is logged by now
! grep -aq '^FAKE-LINE' "$T/clusterd.log" || fail "(e) forged log line: $(grep -a -B1 '^FAKE-LINE' "$T/clusterd.log")"

# (f) a live control socket whose backlog is full is not stale.
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
/usr/bin/python3 - "$T/busy.sock" "$T/busy.ready" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(0)
clients = []
try:
    while True:  # fill the backlog: connect until the kernel says EAGAIN
        c = socket.socket(socket.AF_UNIX); c.setblocking(False); c.connect(sys.argv[1]); clients.append(c)
except BlockingIOError:
    pass
open(sys.argv[2], "w").write(str(len(clients)))
time.sleep(600)
PY
EXTRA_PIDS+=($!)
wait_for "the backlog full" test -s "$T/busy.ready"
sed "s|$T/ctl.sock|$T/busy.sock|" "$T/c.yaml" >"$T/busy.yaml"
start_daemon "$T/busy.yaml"
exited() { ! alive "$DAEMON"; }
wait_for "clusterd to refuse the live socket" exited
rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 1 ]] || fail "(f) clusterd exited $rc on a live socket: $(cat "$T/clusterd.log")"
log_has "another clusterd is running" || fail "(f) no 'another clusterd is running': $(cat "$T/clusterd.log")"
[[ -S $T/busy.sock ]] || fail "(f) the live socket $T/busy.sock was unlinked"
pass "2^64-1 watchdog/extend saturate, relative cwd+command run, nofile > fs.nr_open refused, unix socket 660 nogroup, no forged log line, live socket with full backlog kept"
