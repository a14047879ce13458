#!/usr/bin/env bash
# A worker running as `user: nobody` owns its log directory and replaces its log file by a FIFO;
# logrotate then asks for a reopen. The master opens a log file with O_NONBLOCK and writes only a
# regular file: it refuses this one and says so once, counts the worker's lines as dropped, and
# goes on writing another app's file; status answers; SIGTERM ends it. Then a reader holds the
# FIFO open (the open succeeds, a write would block once the pipe is full): refused the same way,
# nothing enters the FIFO. (Before: the one file thread blocked in open(2) on the FIFO for good:
# no app's file got another line, and the master hung on SIGTERM joining that thread.)
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to run a worker as nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
NOGROUP=$(id -gn nobody)
chmod 0711 "$T"
mkdir "$T/logs" "$T/other"
chown "nobody:$NOGROUP" "$T/logs"
talk() { echo "[\"/bin/sh\", \"-c\", \"i=0; while :; do i=\$((i+1)); echo $1 line \$i; sleep 0.02; done\"]"; }
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  victim:
    command: $(talk victim)
    user: nobody
    logs: { file: "$T/logs/victim.log", console: false }
  other:
    command: $(talk other)
    logs: { file: "$T/other/other.log", console: false }
YAML
start_daemon "$T/c.yaml"
as_nobody() { setpriv --reuid nobody --regid "$NOGROUP" --clear-groups "$@"; }
lines() { wc -l <"$1"; }
grows() { local file=$1 from=$2; (( $(lines "$file") > from + 10 )); }
dropped() {
  "$CLUSTERCTL" --timeout 5 status victim --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["log_dropped_bytes"])'
}
more_dropped() { (( $(dropped) > $1 )); }
wait_for "victim's lines in its file" test -s "$T/logs/victim.log"
wait_for "other's lines in its file" test -s "$T/other/other.log"

# 1. The FIFO, no reader: an open without O_NONBLOCK would wait for one forever.
# (Made aside and renamed over the file: the master re-creates a removed log file as soon as a
# line comes, so an rm then mkfifo could find the name taken again.)
as_nobody sh -c "mkfifo -m 0666 '$T/logs/fifo' && mv -f '$T/logs/fifo' '$T/logs/victim.log'"
"$CLUSTERCTL" reopen >/dev/null || fail "reopen failed"
n=$(lines "$T/other/other.log")
wait_for "other's lines to go on into its file" grows "$T/other/other.log" "$n"
wait_for "victim's next lines to be refused" more_dropped 0
REFUSED="logs: $T/logs/victim.log is a FIFO: only a regular file is written"
wait_for "the master to say why" log_has "$REFUSED"
"$CLUSTERCTL" --timeout 5 status >/dev/null || fail "status does not answer"

# 2. A reader holds it open and never reads.
setpriv --reuid nobody --regid "$NOGROUP" --clear-groups /usr/bin/python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").close()
time.sleep(600)' "$T/logs/victim.log" "$T/logs/reader-up" &
EXTRA_PIDS+=($!)
wait_for "the FIFO's reader" test -e "$T/logs/reader-up"
d=$(dropped)
wait_for "victim's lines to be refused with a reader there" more_dropped "$d"
n=$(lines "$T/other/other.log")
wait_for "other's lines to go on into its file" grows "$T/other/other.log" "$n"
[[ -p $T/logs/victim.log ]] || fail "the FIFO is gone: the master replaced the worker's file"
python3 - "$T/logs/victim.log" <<'PY' || fail "lines were written into the FIFO"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    data = os.read(fd, 65536)
except BlockingIOError:
    data = b""
sys.exit(1 if data else 0)
PY
said=$(log_count "$REFUSED")
[[ $said -eq 1 ]] || fail "the refusal was said $said times, not once"
total=$(dropped)

# 3. SIGTERM ends the master.
kill -TERM "$DAEMON"
wait_for "the master to end on SIGTERM" none_alive "$DAEMON"
wait "$DAEMON" || fail "the master exited with status $?"
pass "a FIFO swapped in for a worker's log file is refused, said once, $total bytes counted dropped; another app's file goes on; status answers; SIGTERM ends the master"
