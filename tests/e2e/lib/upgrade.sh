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
