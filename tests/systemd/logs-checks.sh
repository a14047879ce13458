# Check k of systemd-e2e.sh (sourced by it; it uses its helpers): `logs: auto` under systemd is
# journal mode. A worker's own line is in the journal with the app's fields, in the worker's name
# (_PID is the worker's, _SYSTEMD_UNIT the service's), and the master's lifecycle events carry the
# same fields.

# ------------------------------------------------------------------ k. journal mode
check_k() {
  CHECK=k
  if ! ensure_up; then fail "k. $UNIT does not run"; return; fi
  local pid0
  pid0=$(IN clusterctl -s $CTL status --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["pid"])')
  [[ $pid0 =~ ^[0-9]+$ ]] || { fail "k. no pid for web[0]: '$pid0'"; return; }
  found() {
    IN journalctl -u $UNIT --no-pager -o json CLUSTERD_APP=web CLUSTERD_WORKER=0 \
      "CLUSTERD_PID=$pid0" >"$STAGE/journal-k.json" 2>/dev/null
    grep -q "serving" "$STAGE/journal-k.json"
  }
  local deadline=$(( $(date +%s) + 30 ))
  until found; do
    (( $(date +%s) < deadline )) || break
    sleep 0.2
  done
  IN journalctl --no-pager -o json CLUSTERD_APP=web CLUSTERD_EVENT=spawned \
    >"$STAGE/journal-k-events.json" 2>/dev/null
  verdict=$(python3 - "$STAGE/journal-k.json" "$STAGE/journal-k-events.json" "$pid0" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
pid = sys.argv[3]
mine = [e for e in lines if "serving" in str(e.get("MESSAGE", ""))]
problems = []
if not mine:
    problems.append("no line of web[0] (pid %s) found by CLUSTERD_WORKER=0 under -u clusterd.service" % pid)
else:
    e = mine[0]
    for key, want in (("_PID", pid), ("SYSLOG_IDENTIFIER", "web"), ("CLUSTERD_GENERATION", None),
                      ("_SYSTEMD_UNIT", "clusterd.service"), ("CLUSTERD_STREAM", "stderr")):
        if key not in e or (want is not None and e[key] != want):
            problems.append("%s=%r (want %r)" % (key, e.get(key), want))
spawned = [e for e in events if e.get("CLUSTERD_PID") == pid]
if not spawned:
    problems.append("no CLUSTERD_EVENT=spawned entry for pid %s" % pid)
elif spawned[0].get("SYSLOG_IDENTIFIER") != "clusterd" or spawned[0].get("CLUSTERD_WORKER") != "0":
    problems.append("spawned event fields: %r" % {k: v for k, v in spawned[0].items() if k.startswith(("CLUSTERD", "SYSLOG"))})
if problems:
    print("FAIL " + "; ".join(problems))
else:
    print("PASS web[0]'s line %r has _PID=%s, _SYSTEMD_UNIT=%s, SYSLOG_IDENTIFIER=web, "
          "CLUSTERD_GENERATION=%s; its spawned event has the same CLUSTERD_* fields"
          % (mine[0]["MESSAGE"][:50], pid, mine[0]["_SYSTEMD_UNIT"], mine[0]["CLUSTERD_GENERATION"]))
PY
  )
  if [[ $verdict == PASS* ]]; then pass "k. journal mode: ${verdict#PASS }"; else fail "k. journal mode: ${verdict#FAIL }"; fi
}
