#!/usr/bin/env bash
# instances: auto follows a CPU quota that changes (as a pod resized in place): clusterd runs in a
# v1 cpu cgroup with a quota of 1 CPU and starts 1 worker; the quota raised to 2 while it runs,
# auto_follow scales it to 2 workers; lowered again, it drains back to 1. Without auto_follow,
# `clusterctl scale web auto` does the same on demand. Status shows the derivation each time.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to make cgroups"
CPU=/sys/fs/cgroup/cpu
[[ -w $CPU && -e $CPU/cpu.cfs_quota_us ]] || skip "no writable v1 cpu controller"
[[ $(nproc) -ge 2 ]] || skip "needs 2 CPUs to see 2 workers"
CG=$CPU/clusterd-e2e-$$-$RANDOM
mkdir "$CG"
CGROUPS+=("$CG")
echo 100000 >"$CG/cpu.cfs_period_us"
quota() { echo "$1" >"$CG/cpu.cfs_quota_us"; }
quota 100000
PORT=$(free_port)
write_config() {  # write_config EXTRA
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: auto
    ready: notify
    stop_timeout: 3s
$1
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
start_in_cgroup() {
  bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$CG" \
    "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
  DAEMON=$!
}
reason() { "$CLUSTERCTL" status --json | /usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; print(a["instances"], a["instances_reason"])'; }
running() { [[ $("$CLUSTERCTL" status --json | /usr/bin/python3 "$SOURCE_DIR/tests/e2e/lib/status.py" pids | wc -w) -eq $1 && $(worker_count) -eq $1 ]]; }

write_config "    auto_follow: 1s"
start_in_cgroup
wait_for "1 worker under a 1-CPU quota" running 1
r1=$(reason)
[[ $r1 == "1 1: "*"quota 1.00"* ]] || fail "status under a 1-CPU quota: $r1"
quota 200000
wait_for "auto_follow to reach 2 workers" running 2
r2=$(reason)
[[ $r2 == "2 2: "*"quota 2.00"*"(auto_follow, was 1)" ]] || fail "after raising the quota: $r2"
quota 100000
wait_for "auto_follow to drain back to 1 worker" running 1
log_has 'event scaled|instances 2 -> 1' || fail "no scaled record in the log"

# Without auto_follow: nothing moves by itself; scale auto does it on demand.
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
write_config ""
start_in_cgroup
wait_for "1 worker again" running 1
quota 200000
"$CLUSTERCTL" scale web auto >"$T/out" || fail "scale auto: $(cat "$T/out")"
grep -q "scaled web from 1 to 2" "$T/out" || fail "scale auto said: $(cat "$T/out")"
wait_for "2 workers after scale auto" running 2
r3=$(reason)
[[ $r3 == "2 2: "*"quota 2.00"*"(scale auto, was 1)" ]] || fail "after scale auto: $r3"
pass "quota 1 -> $r1; raised -> $r2; lowered -> 1 worker; without auto_follow, scale auto -> $r3"
