#!/usr/bin/env bash
# The Node recipe (config/examples/recipes/node.yaml, server.js unchanged: server.listen(PORT)),
# with the real node: 4 workers answer on the one port; a kill -9 of one during a burst of new
# connections refuses none; a reload (DEPLOY changed: a new generation) under keep-alive and
# connection-per-request load fails no request with the drain recipe. For information only, the
# same reload with a plain server.close() on SIGTERM (it closes the idle keep-alive connections at
# once). Then a deploy that dies at start (a require of a missing module) is rolled back under
# `clusterctl reload web`: it exits non-zero, the old workers keep serving.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/adopt.sh"
source "$(dirname "$0")/lib/recipe.sh"
command -v node >/dev/null || skip "node is not installed (scripts/deps.sh installs nodejs)"

recipe_copy node
recipe_round "node (the drain recipe)"

# The same program with a plain server.close() on SIGTERM, reported, not asserted.
recipe_copy node
sed -i '/^process.on(.SIGTERM/,$d' server.js
echo "process.on('SIGTERM', () => server.close(() => process.exit(0)));" >>server.js
recipe_start
reload_under_load 1
echo "plain server.close(), reload under load: keep-alive $LOAD_KEEP; connection per request $LOAD_NEW"
grep '^error:' "$T/load-keep" "$T/load-new" | head -3 || true
stop_daemon

# A deploy that dies at start: server.js now requires a module that is not there.
recipe_copy node
recipe_start
before=$(worker_pids | sort)
$HTTP load "$PORT" 120 4 keepalive >"$T/load-keep" 2>&1 &
load=$!
EXTRA_PIDS+=("$load")
wait_for "the load under way" grep -q "first answer" "$T/load-keep"
sed -i "1i const pg = require('pg');" server.js
rc=0
"$CLUSTERCTL" reload web >"$T/reload" 2>&1 || rc=$?
kill -INT "$load"
wait "$load" || true
echo "reload of a deploy that cannot start, exit $rc:"
sed 's/^/  | /' "$T/reload"
[[ $rc -ne 0 ]] || fail "reload of a deploy that dies at start exited 0: $(cat "$T/reload")"
grep -q "rolled back" "$T/reload" || fail "the reply does not say it rolled back: $(cat "$T/reload")"
grep -q "Cannot find module" "$T/reload" || fail "the reply does not name the missing module: $(cat "$T/reload")"
[[ $(worker_pids | sort) == "$before" ]] || fail "the old workers were replaced: $before -> $(worker_pids)"
grep -q " failed=0" "$T/load-keep" || fail "requests failed during the rollback: $(cat "$T/load-keep")"
all_four_answer
pass "node recipe: 4 workers, kill -9 refuses none, drain reload fails no request, a broken deploy rolled back"
