#!/usr/bin/env bash
# `clusterctl status --detail` shows each worker's PSS, USS and open fds as columns of the table
# (before: the flag changed nothing in it); the fds are those /proc lists. Without --detail the
# table has no such columns and the JSON says null for them (the daemon did not read them).
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
"$CLUSTERCTL" status >"$T/plain.txt" || fail "status"
! head -1 "$T/plain.txt" | grep -qE '\b(PSS|USS|FDS)\b' || fail "PSS/USS/FDS without --detail: $(head -1 "$T/plain.txt")"
"$CLUSTERCTL" status --json >"$T/plain.json" || fail "status --json"
"$CLUSTERCTL" status --detail >"$T/detail.txt" || fail "status --detail"
"$CLUSTERCTL" status --json --detail >"$T/detail.json" || fail "status --json --detail"
python3 - "$T/plain.txt" "$T/detail.txt" "$T/plain.json" "$T/detail.json" <<'PY' || fail "status --detail: $(cat "$T/detail.txt")"
import json, os, re, sys
plain_txt, detail_txt = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines()
plain, detail = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
errors = []
for w in plain["apps"][0]["workers"]:
    for key in ("pss_kb", "uss_kb", "fds", "cpu_user_s", "tree_cpu_user_s", "cgroup"):
        if key in w:  # a plain status leaves out what only --detail reads and shows
            errors.append(f"without detail, worker {w['id']} has {key} {w[key]!r}")
if plain["master"]["fds"] is not None:
    errors.append(f"without detail, master.fds is {plain['master']['fds']!r}")
header = detail_txt[0]
starts = [m.start() for m in re.finditer(r"\S+( \S+)?(?=\s{2}|$)", header)]
names = [header[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
for name in ("PSS", "USS", "FDS"):
    if name not in names:
        errors.append(f"no {name} column in: {header}")
if not errors:
    def cell(row, name):
        i = names.index(name)
        return row[starts[i]:starts[i + 1] if i + 1 < len(starts) else None].strip()
    rows = [r for r in detail_txt[1:] if r.startswith("web ")]
    if len(rows) != 2:
        errors.append(f"{len(rows)} worker rows")
    for row in rows:
        pid = int(cell(row, "PID"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        if cell(row, "FDS") != str(fds):
            errors.append(f"pid {pid}: FDS {cell(row, 'FDS')!r}, /proc says {fds}")
        for name in ("PSS", "USS"):
            if not re.fullmatch(r"[0-9.]+ (KB|MB|GB)", cell(row, name)) or cell(row, name).startswith("0 "):
                errors.append(f"pid {pid}: {name} {cell(row, name)!r}")
for w in detail["apps"][0]["workers"]:
    if not (isinstance(w["pss_kb"], int) and w["pss_kb"] > 0 and isinstance(w["fds"], int) and w["fds"] > 3):
        errors.append(f"--json --detail: worker {w['id']} pss_kb {w['pss_kb']!r} fds {w['fds']!r}")
print("\n".join(errors) or "ok")
sys.exit(1 if errors else 0)
PY
pass "status --detail: PSS, USS, FDS columns (fds as in /proc); null without --detail"
