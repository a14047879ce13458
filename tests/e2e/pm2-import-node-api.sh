#!/usr/bin/env bash
# clusterctl import, with the real node, of config/examples/pm2/node-api (a Node API in cluster
# mode with env_production, cron_restart and max_memory_restart): the report names every key and
# the config carries them; `clusterd --check --env production` accepts it; clusterd runs the API
# with env_production, every worker answering on the one port.
# Cluster mode becomes `adopt: all` with `ready: listen`: the unmodified server.js binds its own
# port, and every worker gets the master's socket.
source "$(dirname "$0")/lib/common.sh"
command -v node >/dev/null || skip "node is not installed (the example is an ecosystem.config.js)"
PORT=$(free_port)
cp -r "$SOURCE_DIR/config/examples/pm2/node-api" "$T/"
sed -i "s/PORT: 8080/PORT: $PORT/" "$T/node-api/ecosystem.config.js"
"$CLUSTERCTL" import "$T/node-api/ecosystem.config.js" >"$T/c.yaml" 2>"$T/report" ||
  fail "import: $(cat "$T/report")"
for line in \
  "api.exec_mode: approximated: cluster -> adopt: all" \
  "api.instances: mapped to instances: max" \
  "api.max_memory_restart: mapped to max_memory: 300M" \
  "api.cron_restart: approximated: restart_schedule: \"TZ=local 0 3 * * *\"" \
  "api.wait_ready: approximated: ready: listen" \
  "api.env_production: mapped to env_production (clusterd --env production)" \
  "ecosystem.config.js: 14 mapped, 6 approximated, 0 not supported"; do
  grep -qF -- "$line" "$T/report" || fail "the report lacks '$line':
$(cat "$T/report")"
done
for line in "    command: [node, --max-old-space-size=256, ./dist/server.js]" "    instances: max" \
  "    adopt: all" "    ready: listen" "    max_memory: 300M" \
  "    restart_schedule: \"TZ=local 0 3 * * *\"" "      PORT: \"$PORT\""; do
  grep -qF -- "$line" "$T/c.yaml" || fail "the config lacks '$line':
$(cat "$T/c.yaml")"
done
echo "control: { socket: \"$T/ctl.sock\" }" >>"$T/c.yaml"
mkdir -p "$T/node-api/logs"
rc=0
"$CLUSTERD" --check --env production -c "$T/c.yaml" >"$T/check" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || fail "--check refused the import: $(cat "$T/check")"
grep -q "app api: restart_schedule TZ=local 0 3 \* \* \*: next " "$T/check" || fail "$(cat "$T/check")"

start_daemon "$T/c.yaml" --env production
ready() { "$CLUSTERCTL" status --check >/dev/null; }
wait_for "every worker of api ready" ready
answer() {
  python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=5))["env"])' "$PORT"
}
[[ $(answer) == production ]] || fail "the API does not run with env_production: $(answer)"
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "the killed worker replaced and ready" bash -c "! kill -0 $victim 2>/dev/null && $CLUSTERCTL status --check"
[[ $(answer) == production ]] || fail "not serving after a worker was killed"
pass "imported node-api: checked, runs with env_production on one port, a killed worker comes back"
