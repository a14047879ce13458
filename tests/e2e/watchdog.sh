#!/usr/bin/env bash
# watchdog: a worker that stops sending WATCHDOG=1 is killed (SIGABRT) and replaced; it got
# WATCHDOG_USEC in its environment.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-notify >/dev/null || skip "systemd-notify is not installed"
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
echo "$WATCHDOG_USEC" >"$PWD/watchdog_usec"
systemd-notify --ready
for i in 1 2 3 4 5; do systemd-notify WATCHDOG=1; sleep 0.1; done
exec sleep 600   # hangs: no more pings
SH
chmod +x "$T/worker.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  hang:
    command: ["$T/worker.sh"]
    cwd: $T
    instances: 1
    ready: notify
    watchdog: 800ms
    stop_timeout: 1s
YAML
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
first=$(worker_pids | head -1)
[[ $(cat "$T/watchdog_usec") == 800000 ]] || fail "WATCHDOG_USEC=$(cat "$T/watchdog_usec")"
wait_for "the watchdog to fire" log_has "no WATCHDOG=1 for 800ms; sending SIGABRT"
wait_for "the worker replaced" log_has "pid $first exited \(signal SIGABRT\)"
wait_for "a new worker ready" log_ready 2
"$CLUSTERCTL" status --json | grep -q '"last_exit": "no WATCHDOG=1 within the watchdog interval' || fail "status: $("$CLUSTERCTL" status --json)"
pass "a silent worker was killed with SIGABRT after 800 ms and replaced"
