#!/usr/bin/env bash
# max_memory: a worker whose RSS (with its children) stays above the limit is replaced
# gracefully: the new worker is ready before the old one is stopped. Without max_memory the
# master arms no sampling timer at all. Then with a cgroup per worker: where the v2 memory
# controller is available, max_memory is the cgroup's memory.high and the kernel's report
# replaces the worker; where it is not (these test machines), the master says once that it
# samples instead, and does.
source "$(dirname "$0")/lib/common.sh"
HOG=$SOURCE_DIR/tests/e2e/lib/hog.py  # READY=1, then 96 MiB in its RSS
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  hog:
    command: ["python3", "$HOG"]
    instances: 1
    ready: notify
    max_memory: 64M
    memory_check_interval: 200ms
    stop_timeout: 2s
YAML
start_daemon "$T/c.yaml"
wait_for "the hog ready" log_ready 1
first=$(worker_pids | head -1)
wait_for "the replacement" log_has "hog\[0\]: RSS [0-9]+ KiB above max_memory 65536 KiB; replacing it"
wait_for "the old worker stopped" log_has "pid $first exited"
# The new worker became ready before the old one was told to stop.
ready_line=$(grep -n "replaced slot 0 with generation 1" "$T/clusterd.log" | head -1 | cut -d: -f1)
stop_line=$(grep -n "running -> stopping: sending SIGTERM" "$T/clusterd.log" | head -1 | cut -d: -f1)
[[ -n $ready_line && -n $stop_line && $ready_line -lt $stop_line ]] || fail "the old worker was stopped before its replacement was ready"
log_has "hog worker 0 replaced \(RSS" || fail "no outcome line"

mount=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
if [[ $(id -u) -ne 0 || -z $mount || ! -w $mount ]]; then
  pass "a worker over max_memory was replaced, new one ready first (no cgroup v2 to try)"
  exit 0
fi
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
PARENT=$mount/clusterd-e2e-$$-${RANDOM}
CGROUPS+=("$PARENT")
sed -i "s|^apps:|cgroups: $PARENT\napps:|" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the hog ready in its cgroup" log_ready 1
wait_for "the replacement" log_has "hog\[0\]: (RSS|memory over).* max_memory .*; replacing it"
if grep -qw memory "$mount/cgroup.controllers"; then
  log_has "memory.high" || fail "a memory controller, but the replacement did not come from memory.high"
else
  [[ $(log_count "hog: max_memory is sampled every memory_check_interval: max_memory not applied \(the memory controller\)") -eq 1 ]] ||
    fail "no memory controller: the fallback to sampling was not said exactly once"
fi
pass "a worker over max_memory was replaced, new one ready first; with cgroups too"
