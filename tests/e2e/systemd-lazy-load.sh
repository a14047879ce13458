#!/usr/bin/env bash
# systemd-lazy-load: libsystemd is loaded only when systemd's protocol is in use. A master started
# without NOTIFY_SOCKET, WATCHDOG_USEC or LISTEN_FDS runs its workers (which notify it) and
# answers status without ever mapping libsystemd; the same master given NOTIFY_SOCKET (a datagram
# socket of the test standing in for systemd) loads it and sends READY=1 through it.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
maps_libsystemd() { grep -q 'libsystemd' "/proc/$1/maps"; }

env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID -u LISTEN_FDS -u LISTEN_PID \
  -u LISTEN_FDNAMES "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
DAEMON=$!
DAEMONS+=("$DAEMON")
wait_for "both workers ready" "$CLUSTERCTL" status --check
"$CLUSTERCTL" status >/dev/null || fail "status failed"
! maps_libsystemd "$DAEMON" || fail "libsystemd mapped without systemd: $(grep libsystemd "/proc/$DAEMON/maps" | head -1)"
kill -TERM "$DAEMON"
wait "$DAEMON" || fail "the master exited with $?"

# Under (a stand-in for) systemd: READY=1 arrives, through the library loaded for it.
NOTIFY=$T/notify.sock
python3 "$SOURCE_DIR/tests/e2e/lib/notify_listener.py" "$NOTIFY" "$T/notify.log" &
EXTRA_PIDS+=($!)
wait_for "the notify socket" test -S "$NOTIFY"
NOTIFY_SOCKET=$NOTIFY "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
DAEMON=$!
DAEMONS+=("$DAEMON")
wait_for "READY=1 on the notify socket" grep -Eq '^[0-9.]+ (.*\|)?READY=1(\||$)' "$T/notify.log"
maps_libsystemd "$DAEMON" || fail "READY=1 sent, but libsystemd is not mapped"
pass "libsystemd mapped only under systemd's protocol"
