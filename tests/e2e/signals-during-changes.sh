#!/usr/bin/env bash
# Signals that arrive in the middle of something: SIGTERM during a reload abandons the rollout
# (the waiting clusterctl reload is told, exit 1) and stops everything, old and new workers;
# SIGHUP during a stop is ignored (logged); both end with exit 0 and nothing left running.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
write() {
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--ready-delay", "$1"]
    instances: 2
    ready: notify
    ready_timeout: 20s
    stop_timeout: 3s
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
YAML
}
write 0
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
write 3000   # the new generation takes 3 s to get ready
"$CLUSTERCTL" reload >"$T/reload.out" 2>&1 &
reload=$!
wait_for "the canary starting" log_has "gen 2: spawned pid"
pids=$(worker_pids)
kill -TERM "$DAEMON"
rc=0; wait "$reload" || rc=$?
[[ $rc -eq 1 ]] || fail "the waiting reload exited $rc: $(cat "$T/reload.out")"
grep -q "abandoned: clusterd is stopping" "$T/reload.out" || fail "reload said: $(cat "$T/reload.out")"
rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 0 ]] || fail "clusterd exited $rc"
# shellcheck disable=SC2086
none_alive $pids || fail "workers left after TERM during a reload"

write 0
sed -i "s|\"$HELLO\", \"--ready-delay\", \"0\"|\"$HELLO\", \"--ignore-term\"|" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "two workers" has_workers 2
pids=$(worker_pids)
kill -TERM "$DAEMON"
sleep 0.3
kill -HUP "$DAEMON"
wait_for "the HUP to be ignored" log_has "SIGHUP: ignored, clusterd is stopping"
rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 0 ]] || fail "clusterd exited $rc"
# shellcheck disable=SC2086
none_alive $pids || fail "workers left after TERM + HUP"
pass "TERM during a reload abandons it cleanly; HUP during a stop is ignored; exit 0 both times"
