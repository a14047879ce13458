#!/usr/bin/env bash
# `clusterctl describe APP` shows what an app runs and how: its command, ready mode, listeners and
# the sockets `adopt: all` made, env names with values only on --env and secret-looking ones
# always "(redacted)", a worker's last exit with its last words, every string escaped for the
# terminal; --json parses; an unknown app exits 1 naming the apps (before: no such verb, exit 2).
source "$(dirname "$0")/lib/common.sh"
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs nodejs)"
PORT=$(free_port)
cat >"$T/server.js" <<'JS'
require('http').createServer((req, res) => res.end('ok\n')).listen(Number(process.env.PORT));
JS
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  api:
    command: ["node", "$T/server.js"]
    instances: 2
    ready: listen
    ready_timeout: 30s
    adopt: all
    env: { PORT: "$PORT", MODE: "production", API_KEY: "k-sekrit-1", db_password: "p-sekrit-2" }
  bad:
    command: ["sh", "-c", "echo 'goodbye \e[31mred'; exit 3"]
    restart: never
YAML
start_daemon "$T/c.yaml"
wait_for "api ready" bash -c "'$CLUSTERCTL' status --check | grep -q '^api: 2/2 ready'"
wait_for "bad's last words" bash -c "'$CLUSTERCTL' describe bad | grep -q goodbye"

"$CLUSTERCTL" describe api >"$T/api.txt" || fail "describe api: $(cat "$T/api.txt")"
grep -q "^command: node $T/server.js$" "$T/api.txt" || fail "no command: $(cat "$T/api.txt")"
grep -q "^ready: listen$" "$T/api.txt" || fail "no ready mode: $(cat "$T/api.txt")"
grep -q "^generation: 1$" "$T/api.txt" || fail "no generation: $(cat "$T/api.txt")"
grep -q "^config: .*c.yaml$" "$T/api.txt" || fail "no config file: $(cat "$T/api.txt")"
grep -q "^adopted (adopt: all):" "$T/api.txt" || fail "no adopted sockets: $(cat "$T/api.txt")"
grep -q "^  .*:$PORT$" "$T/api.txt" || fail "the adopted socket is not :$PORT: $(cat "$T/api.txt")"
grep -qx "  MODE" "$T/api.txt" || fail "MODE not listed by name alone: $(cat "$T/api.txt")"
grep -qx "  API_KEY=(redacted)" "$T/api.txt" || fail "API_KEY not redacted: $(cat "$T/api.txt")"
grep -qx "  db_password=(redacted)" "$T/api.txt" || fail "db_password: $(cat "$T/api.txt")"
! grep -q "production\|sekrit" "$T/api.txt" || fail "values without --env: $(cat "$T/api.txt")"

"$CLUSTERCTL" describe api --env >"$T/env.txt" || fail "describe --env"
grep -qx "  MODE=production" "$T/env.txt" || fail "--env shows no value: $(cat "$T/env.txt")"
! grep -q "sekrit" "$T/env.txt" || fail "--env shows a secret: $(cat "$T/env.txt")"

"$CLUSTERCTL" describe api --env --json >"$T/api.json" || fail "describe --json"
python3 - "$T/api.json" "$PORT" <<'PY' || fail "describe --json: $(cat "$T/api.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "api" and d["fields"]["ready"] == "listen", d
env = {e["name"]: e["value"] for e in d["env"]}
assert env == {"PORT": sys.argv[2], "MODE": "production", "API_KEY": "(redacted)",
               "db_password": "(redacted)"}, env
assert any(a.endswith(":" + sys.argv[2]) for a in d["adopted"]), d["adopted"]
assert len(d["workers"]) == 2, d["workers"]
PY

"$CLUSTERCTL" describe bad >"$T/bad.txt" || fail "describe bad"
grep -q "^  0: .*last exit: .*3.*: goodbye" "$T/bad.txt" || fail "no last exit: $(cat "$T/bad.txt")"
! grep -q $'\e' "$T/bad.txt" || fail "a raw escape reached the terminal: $(cat -v "$T/bad.txt")"

rc=0
"$CLUSTERCTL" describe nope >"$T/nope.txt" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "unknown app: exit $rc: $(cat "$T/nope.txt")"
grep -q "no app named 'nope'; apps: api, bad" "$T/nope.txt" || fail "$(cat "$T/nope.txt")"
pass "describe: command, listeners, adopted sockets, env redacted, last words, JSON, unknown app"
