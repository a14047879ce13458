#!/usr/bin/env bash
# clusterd -d: the command returns once the apps are ready, and they serve; the master's and the
# workers' lines go to --log-file, rotated before it passes --log-max-size (at a line's end, at
# most --log-keep old files); the master stopped by its pid takes its log writer with it. A bad
# config, a busy port and a worker that exits at once each make -d exit non-zero with the reason.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
LOG=$T/log/clusterd.log  # its directory does not exist yet
# The chatty worker writes 3000 numbered lines of 100 bytes (300 KB), then sleeps.
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--threads", "1"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:$PORT" }
  chatty:
    command: ["python3", "-c", "import sys, time\nfor i in range(3000): print('line %05d ' % i + 'x' * 88)\nsys.stdout.flush()\ntime.sleep(3600)"]
    instances: 1
    logs: { mode: capture, console: true }
YAML
"$CLUSTERD" -d -c "$T/c.yaml" --log-file "$LOG" --log-max-size 64K --log-keep 2 \
  >"$T/out" 2>"$T/err" || fail "-d exited $?: $(cat "$T/out" "$T/err")"
grep -qE "^clusterd: started, pid [0-9]+ \(log writer [0-9]+\): web 2/2 ready, chatty 1/1 ready; its log $LOG$" "$T/out" ||
  fail "the command said: $(cat "$T/out" "$T/err")"
DAEMON=$(sed -E 's/.* pid ([0-9]+) .*/\1/' "$T/out")
writer=$(sed -E 's/.*log writer ([0-9]+)\).*/\1/' "$T/out")
EXTRA_PIDS+=("$writer")
alive "$DAEMON" || fail "no master"
# The apps serve, right when the command returned.
$HTTP get "$PORT" >/dev/null || fail "web does not answer"
"$CLUSTERCTL" status --check >/dev/null || fail "status --check: $("$CLUSTERCTL" status)"

# The log: the master's lines, then the chatty worker's, rotated at 64K with 2 kept.
last_line() { grep -q "chatty\[0\] out: line 02999 " "$LOG"; }
wait_for "the chatty worker's last line in the log" last_line
[[ -f $LOG.1 && -f $LOG.2 && ! -e $LOG.3 ]] || fail "rotation: $(ls -l "$T/log")"
for f in "$LOG" "$LOG.1" "$LOG.2"; do
  (($(stat -c %s "$f") <= 65536)) || fail "$f is $(stat -c %s "$f") bytes, over 64K"
  [[ -z $(tail -c 1 "$f") ]] || fail "$f does not end at a line's end"
done
# Each kept line is whole: the rotated files hold consecutive lines, none cut.
cat "$LOG.2" "$LOG.1" "$LOG" | grep -o "out: line [0-9]*.*" | awk '
  { n = $3 + 0; if (seen && n != prev + 1) { print "gap after " prev; exit 1 }
    if (length($0) != 104) { print "cut line " $0; exit 1 }; prev = n; seen = 1 }' >"$T/gaps" ||
  fail "lines in the kept logs: $(cat "$T/gaps")"

# Stopped by its pid: the workers, then the log writer, are gone.
workers=$(worker_pids)
kill -TERM "$DAEMON"
gone() { ! alive "$1"; }
wait_for "the master to exit" gone "$DAEMON"
wait_for "the log writer to exit" gone "$writer"
none_alive $workers || fail "a worker outlived the master"
grep -q "stopping" "$LOG" || fail "the master's stop is not in the log"
DAEMON=""

# A bad config: the command says why, and starts nothing.
printf 'apps:\n  web:\n    command: ["%s"]\n    instanses: 2\n' "$HELLO" >"$T/bad.yaml"
rc=0
"$CLUSTERD" -d -c "$T/bad.yaml" --log-file "$T/bad.log" >"$T/out" 2>"$T/err" || rc=$?
((rc == 2)) || fail "a bad config: exit $rc"
grep -q "bad.yaml:4:5: apps.web.instanses: unknown key; did you mean instances?" "$T/err" ||
  fail "a bad config: $(cat "$T/err")"

# A port in use: the master exits, the command says so and shows the end of its log.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("bound", flush=True); time.sleep(600)' \
  "$PORT" >"$T/holder" &
EXTRA_PIDS+=($!)
wait_for "the port held" grep -q bound "$T/holder"
sed -i '/chatty/,$d' "$T/c.yaml"
rc=0
"$CLUSTERD" -d -c "$T/c.yaml" --log-file "$T/busy.log" >"$T/out" 2>"$T/err" || rc=$?
((rc == 1)) || fail "a busy port: exit $rc: $(cat "$T/out" "$T/err")"
grep -q "^clusterd: not started: it exited with status 1$" "$T/err" || fail "busy: $(cat "$T/err")"
grep -qi "127.0.0.1:$PORT.*in use\|in use.*127.0.0.1:$PORT\|$PORT.*in use" "$T/err" ||
  fail "the reason is not shown: $(cat "$T/err")"

# A worker that exits at once: -d exits 1 with the status; the master keeps running.
cat >"$T/dies.yaml" <<YAML
control: { socket: "$T/ctl-dies.sock" }
apps:
  dies:
    command: ["sh", "-c", "echo cannot open the database >&2; exit 3"]
    instances: 1
YAML
rc=0
"$CLUSTERD" -d -c "$T/dies.yaml" --log-file "$T/dies.log" >"$T/out" 2>"$T/err" || rc=$?
DAEMON=$(grep -oE "pid [0-9]+" "$T/err" | head -1 | cut -d' ' -f2)
((rc == 1)) || fail "a dying worker: exit $rc: $(cat "$T/out" "$T/err")"
grep -qE "^clusterd: a worker failed to start, pid [0-9]+: dies 0/1 ready" "$T/err" ||
  fail "a dying worker: $(cat "$T/err")"
wait_for "the worker's reason in the log" grep -q "cannot open the database" "$T/dies.log"
alive "$DAEMON" || fail "the master did not keep running"
pass "-d returned with the apps serving; its log rotated at 64K (2 kept, whole lines); stopped by pid with its writer; bad config, busy port and dying worker refused with the reason"
