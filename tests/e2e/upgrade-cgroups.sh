#!/usr/bin/env bash
# A live upgrade with a cgroup per worker: the new master takes the workers' cgroups over (status
# shows the same paths and mode), a worker killed afterwards is replaced in a cgroup of its own
# (numbered above every one the previous master made, never joining one), `clusterctl stop`
# empties a worker's cgroup through cgroup.kill, and a clean stop of the upgraded master removes
# every worker cgroup.
source "$(dirname "$0")/lib/common.sh"
cgroup_parent
PY=/usr/bin/python3
PORT=$(free_port)
web_config 2 reuseport
echo "cgroups: $PARENT" >>"$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "2 workers ready" log_ready 2

status_py() {  # status_py EXPR: EXPR of the status JSON `s` (--detail: with each worker's cgroup)
  "$CLUSTERCTL" status --json --detail | $PY -c "import json,sys; s=json.load(sys.stdin); print($1)"
}
workers() { status_py '" ".join("%s:%s:%s" % (w["id"], w["pid"], w["cgroup"]) for w in s["apps"][0]["workers"])'; }
# in_own_cgroups: each worker's cgroup.procs is exactly that worker
in_own_cgroups() {
  local w id pid cg
  for w in $(workers); do
    IFS=: read -r id pid cg <<<"$w"
    [[ $(cat "$cg/cgroup.procs" 2>/dev/null | xargs) == "$pid" ]] || return 1
  done
}
slot0_replaced() { [[ $(status_py 's["apps"][0]["workers"][0]["state"]') == running && $(status_py 's["apps"][0]["workers"][0]["pid"]') != "$1" ]]; }
empty() { [[ -z $(cat "$1/cgroup.procs" 2>/dev/null) ]]; }
no_worker_cgroups() { [[ -z $(find "$PARENT/workers" -mindepth 3 -type d 2>/dev/null) ]]; }

in_own_cgroups || fail "before the upgrade, the workers are not each in their own cgroup: $(workers)"
before=$(workers)
mode=$(status_py 's["master"]["cgroups"]')
[[ $mode == "per-worker cgroups under $PARENT/workers"* ]] || fail "cgroup mode: $mode"
out=$("$CLUSTERCTL" upgrade) || fail "upgrade: $out"
[[ $(workers) == "$before" ]] || fail "the workers' cgroups changed: $before -> $(workers)"
[[ $(status_py 's["master"]["cgroups"]') == "$mode" ]] || fail "the mode changed: $(status_py 's["master"]["cgroups"]')"

# Replaced after the upgrade: a fresh cgroup, above the previous master's numbers.
IFS=: read -r _ pid0 cg0 <<<"$(workers | cut -d' ' -f1)"
highest=$(find "$PARENT/workers" -mindepth 3 -maxdepth 3 -type d -printf '%f\n' | sort -n | tail -1)
kill -KILL "$pid0"
wait_for "slot 0 replaced" slot0_replaced "$pid0"
IFS=: read -r _ _ fresh <<<"$(workers | cut -d' ' -f1)"
[[ $fresh != "$cg0" && ${fresh##*/} -gt $highest ]] || fail "the replacement's cgroup $fresh (highest before: $highest)"
wait_for "each worker alone in its cgroup" in_own_cgroups

# The taken-over cgroups still end a tree, and go once the master stops.
IFS=: read -r _ _ cg1 <<<"$(workers | cut -d' ' -f2)"
"$CLUSTERCTL" stop web >/dev/null || fail "stop web"
wait_for "slot 1's cgroup empty" empty "$cg1"
kill -TERM "$DAEMON"; rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 0 ]] || fail "the upgraded master exited $rc"
wait_for "no worker cgroup left" no_worker_cgroups
pass "an upgrade kept each worker's cgroup ($before); a replacement got ${fresh##*/} > $highest; stop and exit cleaned them"
