#!/usr/bin/env bash
# instances: auto is the CPUs this process may use: the affinity mask, capped by a cgroup quota.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: auto
YAML
ncpu=$(nproc)
out=$("$CLUSTERD" --check -c "$T/c.yaml")
grep -q "instances $ncpu: affinity" <<<"$out" || fail "expected $ncpu instances: $out"

# Under taskset -c 0 there is one usable CPU, whatever the host has.
out=$(taskset -c 0 "$CLUSTERD" --check -c "$T/c.yaml")
grep -q "instances 1: affinity 0, no cgroup quota" <<<"$out" || fail "taskset -c 0: $out"
taskset -c 0 "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
DAEMON=$!
wait_for "the worker to start" log_has 'spawned pid'
sleep 0.3  # a second worker, if any, would be spawned in the same loop turn; give it a moment
has_workers 1 || fail "under taskset -c 0 the daemon runs $(worker_count) workers"
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
pass "auto = $ncpu CPUs; 1 under taskset -c 0"

# Under a cgroup CPU quota of 1 CPU (v1 cpu.cfs_quota_us, or v2 cpu.max).
cg=""
if [[ -w /sys/fs/cgroup/cpu/cgroup.procs ]]; then
  cg=/sys/fs/cgroup/cpu/clusterd-test-$$
  mkdir "$cg"
  echo 100000 >"$cg/cpu.cfs_period_us"
  echo 100000 >"$cg/cpu.cfs_quota_us"
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
  cg=/sys/fs/cgroup/clusterd-test-$$
  echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  mkdir "$cg"
  echo "100000 100000" >"$cg/cpu.max" || { rmdir "$cg"; cg=""; }
fi
if [[ -z $cg ]]; then
  skip "no writable cgroup with the cpu controller here (need root and cgroup v1 cpu or v2 cpu)"
fi
out=$(bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" --check -c "$3"' _ "$cg" "$CLUSTERD" "$T/c.yaml")
rmdir "$cg" 2>/dev/null || true
grep -q "instances 1: affinity .*, cgroup quota 1.00" <<<"$out" || fail "cgroup quota 1 CPU: $out"
pass "cgroup quota of 1 CPU gives 1 instance: $out"
