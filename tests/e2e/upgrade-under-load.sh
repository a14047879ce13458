#!/usr/bin/env bash
# Live upgrades of the master under load, in shared and reuseport mode: UPGRADES (5) `clusterctl
# upgrade` in a row with the same binary while wrk keeps 50 keep-alive connections busy and a
# status loop asks all along. Every upgrade exits 0 and names the upgrade; not one request and not
# one status call fails; the master keeps its pid and start time; every worker keeps its pid and
# restart count; status counts the upgrades; the events record one `upgrade` per upgrade.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/upgrade.sh"
command -v wrk >/dev/null || skip "wrk is not installed"
UPGRADES=${UPGRADES:-5}

status_pids() { status_py '" ".join(sorted(str(w["pid"]) for w in s["apps"][0]["workers"]))'; }
connections() { ss -Htn state established "( sport = :$PORT )" | wc -l; }
load_connected() { (( $(connections) >= 50 )); }
status_calls() { wc -l <"$T/status.log"; }
more_calls_than() { (( $(status_calls) > $1 )); }

# check_master UPGRADES START_TIME T0: pid, start time and upgrade count as expected; the last
# upgrade (if any) not before T0.
check_master() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys, time
m = json.load(sys.stdin)["master"]
want, start, t0, pid = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
bad = []
if m["pid"] != pid: bad.append("pid %s, not %s" % (m["pid"], pid))
if abs(m["start_time_s"] - start) > 0.05: bad.append("start_time_s %s, was %s" % (m["start_time_s"], start))
if m["upgrades"] != want: bad.append("upgrades %s, want %s" % (m["upgrades"], want))
at = m["upgraded_at_s"]
if want == 0 and at is not None: bad.append("upgraded_at_s %s before any upgrade" % at)
if want > 0 and (at is None or not t0 - 1 <= at <= time.time() + 1):
    bad.append("upgraded_at_s %s, the upgrade started at %s" % (at, t0))
sys.exit("; ".join(bad) or None)' "$@" "$DAEMON"
}

# status_loop: one `clusterctl status` after another until $T/stop exists; a line per call.
status_loop() {
  while [[ ! -e $T/stop ]]; do
    if "$CLUSTERCTL" status --json >/dev/null 2>"$T/status.err"; then
      echo ok
    else
      echo "failed (exit $?): $(cat "$T/status.err")"
    fi
  done >>"$T/status.log"
}

# upgrade N: the Nth upgrade, with the default binary (odd N) or --binary (even N).
upgrade() {
  local n=$1 args=() out
  (( n % 2 == 0 )) && args=(--binary "$CLUSTERD")
  "$CLUSTERCTL" upgrade "${args[@]}" >"$T/upgrade.out" 2>"$T/upgrade.err" \
    || fail "$mode: upgrade $n failed: $(cat "$T/upgrade.out" "$T/upgrade.err")"
  out=$(cat "$T/upgrade.out")
  [[ $out =~ ^upgraded:\ clusterd\ ([^ ]+)\ pid\ ([0-9]+),\ upgrade\ ([0-9]+)$ ]] \
    || fail "$mode: upgrade $n said: $out"
  [[ ${BASH_REMATCH[1]} == "$VERSION" ]] || fail "$mode: upgrade $n: version ${BASH_REMATCH[1]}, status says $VERSION"
  [[ ${BASH_REMATCH[2]} == "$DAEMON" ]] || fail "$mode: upgrade $n: pid ${BASH_REMATCH[2]}, the master is $DAEMON"
  [[ ${BASH_REMATCH[3]} == "$n" ]] || fail "$mode: upgrade $n called itself upgrade ${BASH_REMATCH[3]}"
}

# count_upgrade_events FILE: distinct `upgrade` records in the events histories in FILE (the ring
# may restart at each upgrade, so each history is read right after its upgrade).
count_upgrade_events() {
  python3 - "$1" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    e = json.loads(line)
    if e["kind"] == "upgrade":
        seen.add((e["seq"], e["time_ms"]))
print(len(seen))
PY
}

# check_wrk NAME: wrk finished, no socket error, no non-2xx answer.
check_wrk() {
  local out=$T/wrk-$1.out
  grep -q "requests in" "$out" || fail "$mode wrk ($1) did not finish: $(cat "$out")"
  if grep -qE "Socket errors|Non-2xx" "$out"; then fail "$mode wrk ($1) saw errors: $(cat "$out")"; fi
  echo "$mode $1: $(grep 'requests in' "$out" | sed 's/^ *//'), 0 errors, $UPGRADES upgrades"
}

for mode in shared reuseport; do
  PORT=$(free_port)
  rm -f "$T/stop" "$T/status.log" "$T/events.json"
  web_config 2 "$mode"
  start_daemon "$T/c.yaml"
  wait_for "$mode: two workers ready" log_ready 2
  wait_for "$mode: two running workers in status" both_running
  before=$(workers)
  start_time=$(status_py 's["master"]["start_time_s"]')
  VERSION=$(status_py 's["master"]["version"]')
  check_master 0 "$start_time" 0 || fail "$mode: the master before any upgrade"

  # wrk's -d is only an upper bound: SIGINT ends it and it prints its summary.
  wrk -t2 -c50 -d300s "http://127.0.0.1:$PORT/read" >"$T/wrk-keepalive.out" 2>&1 &
  keep=$!; EXTRA_PIDS+=("$keep")
  wait_for "$mode: wrk's 50 connections" load_connected
  status_loop &
  loop=$!; EXTRA_PIDS+=("$loop")
  wait_for "$mode: the status loop's first answer" test -s "$T/status.log"
  calls_before=$(status_calls)

  for i in $(seq "$UPGRADES"); do
    kill -0 "$keep" 2>/dev/null || fail "$mode: the load ended before upgrade $i"
    t0=$EPOCHREALTIME
    upgrade "$i"
    check_master "$i" "$start_time" "$t0" || fail "$mode: the master after upgrade $i"
    "$CLUSTERCTL" events -n 1000 --json >>"$T/events.json" || fail "$mode: events after upgrade $i"
  done
  wait_for "$mode: a status call after the last upgrade" more_calls_than "$(status_calls)"
  touch "$T/stop"; wait "$loop" || true
  kill -0 "$keep" 2>/dev/null || fail "$mode: the load ended during the upgrades"
  kill -INT "$keep"; wait "$keep" || true
  check_wrk keepalive

  calls=$(status_calls); failed=$(grep -vc '^ok$' "$T/status.log" || true)
  [[ $failed -eq 0 ]] || fail "$mode: $failed of $calls status calls failed: $(grep -v '^ok$' "$T/status.log" | head -3)"
  (( calls > calls_before )) || fail "$mode: no status call during the upgrades"
  after=$(workers)
  [[ $after == "$before" ]] || fail "$mode: workers changed across the upgrades: $before -> $after"
  [[ $(children) == "$(status_pids)" ]] || fail "$mode: the master's children $(children), status says $(status_pids)"
  no_zombies || fail "$mode: zombies under the master: $(ps --ppid "$DAEMON" -o pid=,stat=,args=)"
  events=$(count_upgrade_events "$T/events.json")
  [[ $events -eq $UPGRADES ]] || fail "$mode: $events upgrade events for $UPGRADES upgrades"
  echo "$mode: $UPGRADES upgrades, $calls status calls (0 failed), workers $after unchanged"

  pids=$(status_pids)
  kill -TERM "$DAEMON"; rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
  [[ $rc -eq 0 ]] || fail "$mode: the upgraded master exited $rc on SIGTERM"
  # shellcheck disable=SC2086
  none_alive $pids || fail "$mode: workers left after the upgraded master stopped"
done
pass "$UPGRADES upgrades per mode under load: same master, same workers, no failed request or status call"
