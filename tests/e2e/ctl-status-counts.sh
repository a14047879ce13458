#!/usr/bin/env bash
# clusterctl status reports what /proc says: threads of a 4-thread worker, processes of a worker
# that forked a child, and totals for the whole tree, compared with an independent reading.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  threads:
    command: ["$HELLO", "--threads", "4", "--listen", "127.0.0.1:0"]
    instances: 2
    ready: notify
  forks:
    command: ["$HELLO", "--fork-child", "--listen", "127.0.0.1:0"]
    instances: 1
    ready: notify
YAML
start_daemon "$T/c.yaml"
wait_for "three workers ready" log_ready 3
forked() {
  local pid
  pid=$("$CLUSTERCTL" status forks --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["pid"])')
  [[ -n $(cat "/proc/$pid/task/$pid/children" 2>/dev/null) ]]
}
wait_for "the forked child" forked
"$CLUSTERCTL" status --json >"$T/status.json" || fail "status failed"
"$CLUSTERCTL" status >"$T/status.txt" || fail "human status failed"
grep -q "whole tree: 5 processes" "$T/status.txt" || fail "human totals: $(cat "$T/status.txt")"
python3 - "$T/status.json" "$DAEMON" <<'PY' || fail "status does not match /proc"
import json, os, sys
status = json.load(open(sys.argv[1]))
master = int(sys.argv[2])
def field(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
parents = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        parents[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
def subtree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parents.items() if pp == p]
    return out
errors = []
assert status["master"]["pid"] == master
if status["master"]["threads"] != 1:
    errors.append(f"master threads {status['master']['threads']}")
tree = subtree(master)
if status["totals"]["processes"] != len(tree):
    errors.append(f"totals.processes {status['totals']['processes']} != {len(tree)}")
threads = sum(field(p, "Threads") for p in tree)
if status["totals"]["threads"] != threads:
    errors.append(f"totals.threads {status['totals']['threads']} != {threads}")
apps = {a["name"]: a for a in status["apps"]}
for w in apps["threads"]["workers"]:
    real = field(w["pid"], "Threads")
    if w["threads"] != real or real < 4:  # --threads 4 runs the loop on 4 threads
        errors.append(f"threads worker {w['id']}: status {w['threads']}, /proc {real}")
    if w["processes"] != 1:
        errors.append(f"threads worker {w['id']}: processes {w['processes']}")
fw = apps["forks"]["workers"][0]
if fw["processes"] != 2 or len(subtree(fw["pid"])) != 2:
    errors.append(f"forks worker: processes {fw['processes']}, /proc {len(subtree(fw['pid']))}")
for a in status["apps"]:
    for w in a["workers"]:
        for key in ("id", "pid", "state", "generation", "uptime_s", "restarts", "threads",
                    "rss_kb", "cpu_percent", "cpus", "processes", "last_exit", "status_text"):
            if key not in w:
                errors.append(f"missing worker field {key}")
        if w["state"] != "running" or w["rss_kb"] <= 0:
            errors.append(f"worker {a['name']}/{w['id']}: {w['state']} rss {w['rss_kb']}")
    if a["ready"] != a["instances"]:
        errors.append(f"{a['name']}: ready {a['ready']} of {a['instances']}")
print("\n".join(errors) or f"ok: {len(tree)} processes, {threads} threads")
sys.exit(1 if errors else 0)
PY
pass "status matches /proc: $(tail -1 "$T/status.txt")"
