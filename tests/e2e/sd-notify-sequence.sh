#!/usr/bin/env bash
# sd-notify-sequence: what the master tells its own supervisor (systemd's sd_notify protocol),
# without systemd: a datagram socket of the test stands in for NOTIFY_SOCKET. Expected, in order:
# READY=1 with STATUS=web 2/2 ready once both workers are ready; WATCHDOG=1 about every 0.5 s
# (WATCHDOG_USEC=1000000, WATCHDOG_PID = the master); on a reload RELOADING=1 with
# MONOTONIC_USEC=, then READY=1; on SIGTERM STOPPING=1.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
NOTIFY=$T/notify.sock
write_config() {
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    stop_timeout: 5s
    env: { GENERATION_MARK: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
write_config 0

# The listener: one line per datagram, "<monotonic seconds> <fields joined by |>".
python3 "$SOURCE_DIR/tests/e2e/lib/notify_listener.py" "$NOTIFY" "$T/notify.log" &
EXTRA_PIDS+=($!)
wait_for "the notify socket" test -S "$NOTIFY"

# WATCHDOG_PID must be the master's own pid: the bash wrapper exports its pid, then execs clusterd.
NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=1000000 CLUSTERD="$CLUSTERD" CONFIG="$T/c.yaml" \
  bash -c 'export WATCHDOG_PID=$$; exec "$CLUSTERD" -c "$CONFIG" --log-level debug' >"$T/clusterd.log" 2>&1 &
DAEMON=$!

notes() { cut -d' ' -f2- "$T/notify.log"; }
has_note() { notes | grep -Eq -- "$1"; }
wait_for "READY=1" has_note '(^|\|)READY=1(\||$)'
first_ready=$(notes | grep -E '(^|\|)READY=1(\||$)' | head -1)
[[ $first_ready == *"STATUS=web 2/2 ready"* ]] || fail "the first READY=1 is '$first_ready', without STATUS=web 2/2 ready"
[[ $(worker_count) -eq 2 ]] || fail "READY=1 with $(worker_count) workers"
$HTTP get "$PORT" >/dev/null || fail "ready but not serving"

sleep 2.6   # about five watchdog pings at 0.5 s
write_config 1
"$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || fail "reload failed: $(cat "$T/reload.out")"
sleep 0.3
kill -TERM "$DAEMON"
wait "$DAEMON" || fail "clusterd exited $? on SIGTERM"
DAEMON=""
sleep 0.2

echo "---- notifications ----"; cat "$T/notify.log"
# The sequence without the watchdog pings and plain STATUS= updates.
seq=$(notes | grep -v '^WATCHDOG=1$' | grep -Eo '(READY=1|RELOADING=1|STOPPING=1)' | paste -sd' ')
[[ $seq == "READY=1 RELOADING=1 READY=1 STOPPING=1" ]] || fail "sequence '$seq', expected 'READY=1 RELOADING=1 READY=1 STOPPING=1'"
notes | grep -E '(^|\|)RELOADING=1(\||$)' | grep -Eq '(^|\|)MONOTONIC_USEC=[0-9]+(\||$)' ||
  fail "RELOADING=1 without MONOTONIC_USEC=: $(notes | grep RELOADING)"
# MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds: close to the listener's own clock.
python3 - "$T/notify.log" <<'PY' || fail "MONOTONIC_USEC is not CLOCK_MONOTONIC at the reload"
import re, sys
for line in open(sys.argv[1]):
    m = re.search(r"MONOTONIC_USEC=(\d+)", line)
    if m:
        got, seen = int(m.group(1)) / 1e6, float(line.split()[0])
        print("MONOTONIC_USEC %.6f s, received at %.3f s" % (got, seen))
        sys.exit(0 if -0.01 <= seen - got < 2 else 1)  # the receive time is rounded to 1 ms
sys.exit(1)
PY
last_ready=$(notes | grep -E '(^|\|)READY=1(\||$)' | tail -1)
[[ $last_ready == *"STATUS=web 2/2 ready"* ]] || fail "the READY=1 after the reload is '$last_ready'"

# Watchdog pings: WATCHDOG=1 at about half of WATCHDOG_USEC, from READY=1 to STOPPING=1.
python3 - "$T/notify.log" <<'PY' || fail "watchdog pings are not about every 0.5 s"
import sys
times = [float(l.split()[0]) for l in open(sys.argv[1]) if "WATCHDOG=1" in l.split(" ", 1)[1].strip().split("|")]
gaps = [b - a for a, b in zip(times, times[1:])]
print("WATCHDOG=1 x%d, gaps %s" % (len(times), " ".join("%.2f" % g for g in gaps)))
sys.exit(0 if len(times) >= 4 and all(0.3 <= g <= 0.75 for g in gaps) else 1)
PY
pass "READY=1 (web 2/2 ready), WATCHDOG=1 every ~0.5 s, RELOADING=1+MONOTONIC_USEC then READY=1, STOPPING=1"
