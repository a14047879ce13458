#!/usr/bin/env bash
# An unmodified Node server (`server.listen(PORT)`: it binds [::]:PORT itself) gets the master's
# socket under adopt: true (shared and reuseport) and adopt: all: 4 workers answer on one port,
# `ready: listen` says when each is up, and a kill -9 during a burst refuses no connection.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/adopt.sh"
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs nodejs)"
cat >"$T/server.js" <<'JS'
const http = require('http');
http.createServer((req, res) => {
  res.setHeader('X-Worker', String(process.pid));
  res.end('node ' + process.pid + '\n');
}).listen(Number(process.env.PORT));
JS
for kind in shared reuseport all; do adopt_round "$kind" node "$T/server.js"; done

# A live upgrade hands the workers' filters and the sockets adopt: all made to the new master:
# the workers keep running; a bind made after the exec (app `late` waits for a file) is answered
# by the new master, and a worker killed after it gets the socket made before it.
cat >"$T/late.js" <<'JS'
const fs = require('fs');
const http = require('http');
const timer = setInterval(() => {
  if (!fs.existsSync(process.env.GO)) return;
  clearInterval(timer);
  http.createServer((req, res) => res.end('late ' + process.pid)).listen(Number(process.env.PORT));
}, 20);
JS
PORT=$(free_port)
LATE_PORT=$(free_port)
adopt_config all node "$T/server.js"
cat >>"$T/c.yaml" <<YAML
  late:
    command: [node, "$T/late.js"]
    instances: 1
    adopt: all
    ready: exec
    min_ready: 0s
    env: { PORT: "$LATE_PORT", GO: "$T/go" }
YAML
start_daemon "$T/c.yaml"
wait_for "5 workers ready" "$CLUSTERCTL" status --check
before=$(worker_pids | sort)
late_pid=$("$CLUSTERCTL" status --json | python3 -c "import json,sys; print([w['pid'] for a in json.load(sys.stdin)['apps'] if a['name'] == 'late' for w in a['workers']][0])")
"$CLUSTERCTL" upgrade >"$T/upgrade" 2>&1 || fail "upgrade under adoption: $(cat "$T/upgrade")"
[[ $(worker_pids | sort) == "$before" ]] || fail "workers changed by an upgrade"
adopted() {
  "$CLUSTERCTL" status --json | python3 -c "import json,sys; print([a.get('adopted') for a in json.load(sys.stdin)['apps'] if a['name'] == '$1'][0])"
}
[[ $(adopted web) == "['[::]:$PORT']" ]] || fail "web's made socket not kept: $(adopted web)"
all_four_answer
touch "$T/go"
wait_for "late's bind answered" bash -c "curl -s http://127.0.0.1:$LATE_PORT/ | grep -q late"
# By the new master, through the filter it took over: the same process answers (a filter left
# behind fails the bind with ENOSYS: node exits, and a new worker would answer).
[[ $(curl -s "http://127.0.0.1:$LATE_PORT/") == "late $late_pid" ]] ||
  fail "late's bind was not answered through the handed filter: $(curl -s "http://127.0.0.1:$LATE_PORT/"), not late $late_pid"
[[ $(adopted late) == "['[::]:$LATE_PORT']" ]] || fail "late's socket not made: $(adopted late)"
kill_one_during_burst "after the upgrade"
[[ $(adopted web) == "['[::]:$PORT']" ]] || fail "web made another socket: $(adopted web)"
pass "node server.listen(PORT) unchanged: shared, reuseport and adopt: all serve on 4 workers, and across a live upgrade"
