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

# A live upgrade cannot hand the workers' filters over yet: refused, naming why, nothing touched.
PORT=$(free_port)
adopt_config all node "$T/server.js"
start_daemon "$T/c.yaml"
wait_for "4 workers ready" "$CLUSTERCTL" status --check
before=$(worker_pids | sort)
if "$CLUSTERCTL" upgrade >"$T/upgrade" 2>&1; then fail "upgrade under adoption: $(cat "$T/upgrade")"; fi
grep -q "socket adoption" "$T/upgrade" || fail "the refusal does not say why: $(cat "$T/upgrade")"
[[ $(worker_pids | sort) == "$before" ]] || fail "workers changed by a refused upgrade"
all_four_answer
pass "node server.listen(PORT) unchanged: shared, reuseport and adopt: all serve on 4 workers"
