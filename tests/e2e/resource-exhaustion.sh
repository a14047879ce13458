#!/usr/bin/env bash
# When the master cannot fork (pids limit of its cgroup) or runs out of file descriptors
# (RLIMIT_NOFILE), it logs the failure, backs off without spinning, keeps the running workers,
# and recovers by itself when the resource returns. A full disk under its log changes nothing.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root for cgroups, prlimit and mounts"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    max_restarts: 3
    backoff: { initial: 50ms, max: 400ms }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }   # the survivor takes every connection
YAML
spins() {  # spins SECONDS: fails if the master used more than 20% of a CPU meanwhile
  local t0 t1 hz
  hz=$(getconf CLK_TCK); t0=$(cpu_ticks "$DAEMON"); sleep "$1"; t1=$(cpu_ticks "$DAEMON")
  (( (t1 - t0) * 100 <= hz * $1 * 20 )) || fail "the master spun: $((t1 - t0)) ticks in $1 s"
}

# 1. pids limit: the cgroup v1 pids controller, or cgroup v2 pids.max.
cg=""
if [[ -w /sys/fs/cgroup/pids/cgroup.procs ]]; then
  cg=/sys/fs/cgroup/pids/clusterd-test-$$
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw pids /sys/fs/cgroup/cgroup.controllers; then
  cg=/sys/fs/cgroup/clusterd-test-$$
fi
if [[ -n $cg ]] && mkdir "$cg" 2>/dev/null; then
  bash -c 'echo $$ >"$1/cgroup.procs" && exec "$2" -c "$3" --log-level debug' _ "$cg" "$CLUSTERD" "$T/c.yaml" >"$T/clusterd.log" 2>&1 &
  DAEMON=$!
  wait_for "two workers ready" log_ready 2
  survivor=$(worker_pids | tail -1)
  victim=$(worker_pids | head -1)
  echo 2 >"$cg/pids.max"          # the master and one worker: no room for a replacement
  kill -KILL "$victim"
  wait_for "a failed fork" log_has "out of a resource: retrying with backoff"
  spins 2
  alive "$survivor" || fail "the running worker was lost"
  $HTTP get "$PORT" >/dev/null || fail "the surviving worker does not serve"
  "$CLUSTERCTL" status --json | grep -q '"state": "failed"' && fail "a slot was marked failed for want of pids"
  echo max >"$cg/pids.max"
  wait_for "the replacement once forks work again" has_workers 2
  wait_for "it is ready" log_ready 3
  kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
  rmdir "$cg"
  pass "pids.max: fork failures backed off, no spin, no failed slot, recovered"
else
  echo "SKIP part 1: no writable pids cgroup here"
fi

# 2. EMFILE in the master. Not under the sanitizers: their runtime needs fds of its own (UBSan
# probes memory through a pipe), so it reports false errors once none are left.
if [[ -n ${CLUSTERD_SANITIZED:-} ]]; then
  echo "SKIP part 2 in a sanitizer build: the sanitizer runtime itself needs free fds"
else
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
hard=$(awk '/^Max open files/ {print $5}' "/proc/$DAEMON/limits")
# Only the soft limit, down to 4: no new fd can get a number (RLIMIT_NOFILE bounds fd numbers,
# not their count), while the ones it holds stay open. (Raising a lowered hard limit back would
# need CAP_SYS_RESOURCE.)
prlimit --pid "$DAEMON" --nofile="4:$hard"
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "EMFILE at spawn" log_has "Too many open files.*out of a resource"
spins 2
has_workers 1 || fail "expected the other worker to keep running"
prlimit --pid "$DAEMON" --nofile="$hard:$hard"
wait_for "the replacement once fds are back" has_workers 2
"$CLUSTERCTL" status >/dev/null || fail "status after EMFILE"
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
pass "EMFILE: backed off, no spin, recovered"
fi

# 3. A full disk under the log.
mkdir "$T/logfs"
mount -t tmpfs -o size=64k clusterd-test-log "$T/logfs"
trap 'umount "$T/logfs" 2>/dev/null || true; cleanup' EXIT
"$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/logfs/clusterd.log" 2>&1 &
DAEMON=$!
wait_for "two workers" has_workers 2
dd if=/dev/zero of="$T/logfs/fill" bs=4k 2>/dev/null || true   # until ENOSPC
for i in 1 2 3; do
  victim=$(worker_pids | head -1)
  kill -KILL "$victim"
  wait_for "replacement $i" bash -c "$(declare -f worker_pids); DAEMON=$DAEMON; ! worker_pids | grep -qx $victim && [[ \$(worker_pids | wc -l) -eq 2 ]]"
done
spins 1
"$CLUSTERCTL" status >/dev/null || fail "status with a full log disk"
rm "$T/logfs/fill"
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
umount "$T/logfs"
pass "full log disk: workers still replaced, status answers"
