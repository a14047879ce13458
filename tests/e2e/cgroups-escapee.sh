#!/usr/bin/env bash
# A cgroup per worker holds its whole tree, escapees included: each worker starts a grandchild
# that double-forks and calls setsid (a new session, reparented to the master) while keeping the
# listening socket. Status counts it from the worker's cgroup; `clusterctl stop`, a restart of
# the slot and a clean stop of the master each leave no process of the tree, and the next master
# binds the port again.
source "$(dirname "$0")/lib/common.sh"
cgroup_parent
PY=/usr/bin/python3
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: $PARENT
apps:
  web:
    command: ["bash", "-c", "( setsid sleep 600 </dev/null >/dev/null 2>&1 & ); exec \"\$0\"", "$HELLO"]
    instances: 2
    ready: notify
    stop_timeout: 3s
    memory_max: 256M
    listen:
      http: "127.0.0.1:$PORT"
YAML
start_daemon "$T/c.yaml"
wait_for "2 workers ready" log_ready 2
status_field() {  # status_field EXPR: EXPR of the status JSON, w the first worker
  "$CLUSTERCTL" status --json | $PY -c "import json,sys; s=json.load(sys.stdin); w=s['apps'][0]['workers'][0]; print($1)"
}
cg=$("$CLUSTERCTL" status --json --detail | $PY -c "import json,sys; print(json.load(sys.stdin)['apps'][0]['workers'][0]['cgroup'])")  # with --detail
[[ $cg =~ ^$PARENT/workers/web/0/[0-9]+$ ]] || fail "worker 0's cgroup is '$cg', not $PARENT/workers/web/0/N"
worker=$(status_field "w['pid']")
escapee() {  # escapee CGROUP: the sleep in it (not the worker)
  local p
  for p in $(cat "$1/cgroup.procs" 2>/dev/null); do
    [[ $(cat /proc/$p/comm 2>/dev/null) == sleep ]] && echo "$p"
  done
  return 0
}
has_escapees() {  # has_escapees CGROUP...: each has its sleep
  local c
  for c in "$@"; do [[ -n $(escapee "$c") ]] || return 1; done
}
worker0_running() { [[ $(status_field "w['state']") == running ]]; }
wait_for "the escapee in worker 0's cgroup" has_escapees "$cg"
e0=$(escapee "$cg")
[[ $(ps -o sid= -p "$e0" | tr -d ' ') -eq $e0 ]] || fail "the escapee $e0 is not a session leader"
[[ $(ps -o ppid= -p "$e0" | tr -d ' ') -eq $DAEMON ]] || fail "the escapee $e0 was not reparented to the master"
procs=$(status_field "w['processes']")
[[ $procs -eq $(wc -l <"$cg/cgroup.procs") && $procs -eq 2 ]] ||
  fail "status counts $procs processes for worker 0; its cgroup has $(wc -l <"$cg/cgroup.procs")"
grep -qx "$worker" "$cg/cgroup.procs" || fail "worker $worker is not in $cg"
threads=$(status_field "w['tree_threads']")
[[ $threads -eq $(wc -l <"$cg/cgroup.threads") ]] ||
  fail "status counts $threads threads for worker 0; its cgroup has $(wc -l <"$cg/cgroup.threads")"
# The tree's CPU time is its cgroup's cpu.stat, with --detail only; it covers the worker's own.
[[ $(status_field "w.get('tree_cpu_user_s')") == None ]] || fail "tree CPU without --detail"
tree_cpu=$("$CLUSTERCTL" status --json --detail | $PY -c "import json,sys; w=json.load(sys.stdin)['apps'][0]['workers'][0]
print(w['tree_cpu_user_s'] + w['tree_cpu_system_s'] - (w['cpu_user_s'] + w['cpu_system_s']))")
$PY -c "import sys; sys.exit(0 if float(sys.argv[1]) > -0.02 else 1)" "$tree_cpu" ||
  fail "the tree's CPU time is $tree_cpu s below the worker's own"
# memory_max: in the worker's cgroup where the v2 memory controller exists, else said once.
if grep -qw memory "$CGROUP_MOUNT/cgroup.controllers"; then
  [[ $(cat "$cg/memory.max") == 268435456 ]] || fail "memory.max of $cg is $(cat "$cg/memory.max")"
else
  [[ $(log_count "web: memory_max not applied \(the memory controller\)") -eq 1 ]] ||
    fail "memory_max without a memory controller: $(grep -c memory_max "$T/clusterd.log") lines"
fi

# A restart of slot 0 ends its escapee with it.
"$CLUSTERCTL" restart web --worker 0 >/dev/null
wait_for "worker 0's old tree to be gone" none_alive "$worker" "$e0"
wait_for "worker 0 back" worker0_running
cgs() { "$CLUSTERCTL" status --json --detail | $PY -c "import json,sys; print(' '.join(w['cgroup'] for w in json.load(sys.stdin)['apps'][0]['workers']))"; }
read -r cg cg1 <<<"$(cgs)"
wait_for "the new escapees" has_escapees "$cg" "$cg1"
e0=$(escapee "$cg"); e1=$(escapee "$cg1")

# A stop ends every tree; a start brings them back.
"$CLUSTERCTL" stop web >/dev/null
wait_for "every escapee gone after stop" none_alive $e0 $e1
"$CLUSTERCTL" start web >/dev/null
wait_for "2 workers ready again" log_ready 5
read -r cg cg1 <<<"$(cgs)"
wait_for "new escapees" has_escapees "$cg" "$cg1"
left=("$(escapee "$cg")" "$(escapee "$cg1")")

# A clean stop of the master leaves nothing, and the next master binds the port.
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
none_alive "${left[@]}" || fail "escapees ${left[*]} outlived the master's clean stop"
: >"$T/clusterd.log"
start_daemon "$T/c.yaml"
wait_for "the next master's workers" log_ready 2
log_has "Address already in use" && fail "the next master could not bind: $(grep 'Address already' "$T/clusterd.log")"
$HTTP get "$PORT" >/dev/null || fail "the next master does not serve"
[[ $(log_count "web: memory_max not applied") -le 1 ]] || fail "the memory_max warning repeats"
pass "memory_max applied or said once; each worker and its setsid escapee in $PARENT/workers/web/N, counted from the cgroup; restart, stop and a clean master stop end them; the next master binds"
