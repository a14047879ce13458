#!/usr/bin/env bash
# A cgroups: parent that the config names but that cannot be used ends the start with exit 1 and
# the reason, before any worker runs: a config that asks for per-worker cgroups never runs
# silently without them (auto, by contrast, falls back and says so).
source "$(dirname "$0")/lib/common.sh"
mount=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $mount ]] || skip "no cgroup v2 hierarchy"
outside=/dev/shm/clusterd-cgroups-test-$$  # an absolute path, not under the cgroup v2 mount
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: $outside
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
rc=0
timeout 30 "$CLUSTERD" -c "$T/c.yaml" >"$T/clusterd.log" 2>&1 || rc=$?  # bounded: a build that ignored it would run on
[[ $rc -eq 1 ]] || fail "exit $rc with an unusable cgroups: parent"
log_has "cgroups: $outside cannot be used: cgroups: $outside is not under the cgroup v2 mount $mount" ||
  fail "no reason given: $(cat "$T/clusterd.log")"
log_has "spawned" && fail "a worker was started"
[[ -e $outside ]] && { rm -rf "$outside"; fail "clusterd created $outside"; }
sed -i "s|^cgroups: .*|cgroups: auto|" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the worker under cgroups: auto" has_workers 1
pass "exit 1 naming the unusable parent, no worker; auto starts (falling back if it must)"
