# Shared by the live-upgrade tests (tests/e2e/upgrade-*.sh): what the status says of the
# master and its workers, and what the master holds (children, fds, clients).
# status_py EXPR: prints the Python expression EXPR of the status object `s`
status_py() {
  "$CLUSTERCTL" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}
workers() {  # id:pid:restarts:state of every worker, in status order
  status_py '" ".join("%s:%s:%s:%s" % (w["id"], w["pid"], w["restarts"], w["state"]) for w in s["apps"][0]["workers"])'
}
both_running() {
  [[ $(status_py '[w["state"] for w in s["apps"][0]["workers"]] == ["running"] * 2') == True ]]
}
children() { worker_pids | sort | xargs; }
only_workers_are_children() { [[ $(children) == "$PIDS" ]]; }
no_zombies() { ! ps --ppid "$DAEMON" -o stat= 2>/dev/null | grep -q '^Z'; }
no_clients() { [[ $(ss -Hx state connected src "$T/ctl.sock" | wc -l) -eq 0 ]]; }
fds_back() { no_clients && [[ $(fd_count "$DAEMON") -eq $FDS ]]; }
gone() { [[ ! -e /proc/$1 ]]; }

# The checks of an upgrade that must change nothing. They use what the test set: DAEMON, PORT,
# BEFORE (workers before), START (the master's start_time_s), FDS (its fd count, no client).

# check_master UPGRADES: pid and start time unchanged; UPGRADES upgrades, upgraded_at_s set
# exactly when there was one.
check_master() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys
m = json.load(sys.stdin)["master"]
want, start, pid = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
bad = []
if m["pid"] != pid: bad.append("pid %s, not %s" % (m["pid"], pid))
if abs(m["start_time_s"] - start) > 0.05: bad.append("start_time_s %s, was %s" % (m["start_time_s"], start))
if m["upgrades"] != want: bad.append("upgrades %s, want %s" % (m["upgrades"], want))
if (m["upgraded_at_s"] is None) != (want == 0): bad.append("upgraded_at_s %s" % m["upgraded_at_s"])
sys.exit("; ".join(bad) or None)' "$1" "$START" "$DAEMON"
}

# untouched WHAT UPGRADES: the master runs on as before, with UPGRADES successful upgrades.
untouched() {
  local after
  kill -0 "$DAEMON" 2>/dev/null || fail "$1: the master died"
  after=$(workers) || fail "$1: status does not answer"
  [[ $after == "$BEFORE" ]] || fail "$1: workers changed: $BEFORE -> $after"
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "$1: the listener does not serve"
  "$CLUSTERCTL" status >/dev/null || fail "$1: the human status does not answer"
  check_master "$2" || fail "$1: the master"
  wait_for "$1: no child of the master but its workers" only_workers_are_children
  no_zombies || fail "$1: zombies under the master: $(ps --ppid "$DAEMON" -o pid=,stat=,args=)"
}

# failed_upgrade WHAT BINARY REASON [UPGRADES]: `clusterctl upgrade --binary BINARY` fails with
# REASON (a grep pattern) and changes nothing, not even the master's open fds; the master has had
# UPGRADES (default 0) successful upgrades.
failed_upgrade() {
  local what=$1 binary=$2 reason=$3 upgrades=${4:-0} rc=0
  "$CLUSTERCTL" upgrade --binary "$binary" >"$T/out" 2>"$T/err" || rc=$?
  [[ $rc -eq 1 ]] || fail "$what: upgrade exited $rc: $(cat "$T/out" "$T/err")"
  grep -q "upgrade failed:.*$reason" "$T/err" || fail "$what: no 'upgrade failed: ...$reason' in: $(cat "$T/err")"
  untouched "$what" "$upgrades"
  wait_for "$what: the master's fds back to $FDS" fds_back
  echo "$what: $(cat "$T/err")"
}
