# Checks i and j of systemd-e2e.sh (sourced by it; they use its helpers): the shipped unit's
# sandbox is tight by systemd's own measure, and workers still do what real workers do inside it.

# ------------------------------------------------------------------ i. systemd-analyze security
check_i() {
  CHECK=i
  local unit out score scores=() bad=()
  for unit in clusterd.service clusterd@demo.service; do
    out=$(IN systemd-analyze security --no-pager "$unit" 2>&1)
    score=$(sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\) .*/\1/p" <<<"$out")
    if [[ -z $score ]]; then
      bad+=("$unit: no overall exposure level: $(tail -3 <<<"$out" | tr '\n' ' ')")
    elif ! awk -v s="$score" 'BEGIN { exit !(s <= 4.5) }'; then
      bad+=("$unit: exposure $score, above 4.5")
    fi
    scores+=("$unit ${score:-?}")
  done
  if ((${#bad[@]} == 0)); then
    pass "i. systemd-analyze security: exposure $(IFS=,; echo "${scores[*]}") (each at most 4.5: OK)"
  else
    fail "i. systemd-analyze security: ${bad[*]}"
  fi
}

# ------------------------------------------------------------------ j. a worker inside the sandbox
# An app `hard` of one python worker as `nobody`, with a privileged port (81) and a unix: listener
# under /run, added by a reload; its answer on each socket is what it could do (hardened_worker.py).
write_hardened_config() {
  write_config 0
  cat >>"$STAGE/etc-clusterd/clusterd.yaml" <<YAML
  hard:
    command: ["/usr/bin/python3", "/opt/clusterd-tests/systemd/hardened_worker.py"]
    user: nobody
    instances: 1
    ready: notify
    ready_timeout: 20s
    listen:
      low: "127.0.0.1:81"
      local: "unix:/run/clusterd-hard.sock"
YAML
}

check_j() {
  CHECK=j
  if ! ensure_up; then fail "j. $UNIT does not run"; return; fi
  local nobody problems="" answers
  nobody=$(IN id -u nobody)
  write_hardened_config
  IN_TIMEOUT=45 IN systemctl reload $UNIT >"$STAGE/reload-j" 2>&1 ||
    problems+="; the reload adding app hard failed: $(tr '\n' ' ' <"$STAGE/reload-j")"
  answers=$(IN python3 - <<'PY' 2>&1
import json, socket
for family, address in ((socket.AF_INET, ("127.0.0.1", 81)), (socket.AF_UNIX, "/run/clusterd-hard.sock")):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(address)
    print(s.makefile().readline().strip())
PY
  )
  echo "$answers" >"$STAGE/answers-j"
  verdict=$(python3 - "$nobody" "$STAGE/answers-j" <<'PY'
import json, sys
nobody = int(sys.argv[1])
lines = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith("{")]
problems = []
if len(lines) != 2:
    problems.append("expected an answer on port 81 and on the unix socket, got %r" % open(sys.argv[2]).read()[-300:])
for line in lines[:1]:
    r = json.loads(line)
    if r["uid"] != nobody:
        problems.append("uid %s, not nobody's %d" % (r["uid"], nobody))
    for key in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY"):
        if not r[key].startswith("ok mode=750 uid=%d" % nobody):
            problems.append("%s: %s" % (key, r[key]))
    for key in ("jit", "proc"):
        if r[key] != "ok":
            problems.append("%s: %s" % (key, r[key]))
    if sorted(r["sockets"]) != ["local", "low"]:
        problems.append("sockets %r" % r["sockets"])
print("; ".join(problems) if problems else "PASS")
PY
  )
  [[ $verdict == PASS ]] || problems+="; $verdict"
  hard_pid=$(IN clusterctl -s $CTL status --json 2>/dev/null | python3 -c '
import json, sys
apps = json.load(sys.stdin)["apps"]
print(" ".join(str(w["pid"]) for a in apps if a["name"] == "hard" for w in a["workers"] if w.get("threads", 0) >= 1))' 2>&1)
  [[ $hard_pid =~ ^[0-9]+$ ]] || problems+="; status shows no thread count for hard's worker: '$hard_pid'"
  write_config 0
  IN_TIMEOUT=45 IN systemctl reload $UNIT >/dev/null 2>&1 || problems+="; the reload removing app hard failed"
  if [[ -z $problems ]]; then
    pass "j. inside the sandbox, app hard as nobody ($nobody) served on 127.0.0.1:81 and a unix socket in /run, wrote to its runtime, state, cache and logs directories (mode 750, its own), mapped W+X memory; status counts its threads (pid $hard_pid)"
  else
    fail "j. hardened worker${problems}"
  fi
}
