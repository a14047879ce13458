#!/usr/bin/env bash
# A model-based random walk of every command against the real daemon (tests/e2e/lib/walk.py):
# scale N and +N/-N, reloads (good, refused, rolled back, with instance changes), restart of an
# app and of one worker, stop, start, kill -9, a max_memory replacement and a live upgrade, in a
# seeded random order. After each step, once the cluster is quiescent: status equals the model
# and /proc (pids, parents, threads, processes, totals), the metrics equal status and the model
# (restart counters per slot and cause), the events tell the step's story, no process of the
# apps lives outside the master's tree, `status --check` and /healthz say who is ready, and every
# listener answers 10 new connections (or refuses them at once when its app is stopped).
#   WALK_SEED=N          replay a walk (the seed is printed first, and in any failure)
#   WALK_STEPS=N         steps (default 25); WALK_SECONDS=S: walk for S seconds
#   WALK_LOG=FILE        keep the daemon's log there
#   WALK_SECONDS=600 bash tests/e2e/walk.sh      the long walk
source "$(dirname "$0")/lib/common.sh"
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || skip "python3-prometheus-client is not installed"
export WALK_DIR=$T CLUSTERCTL HELLO WALK_BOUND=$WAIT_BOUND
export WEB_PORT=$(free_port) API_PORT=$(free_port)
WALK="$PY $SOURCE_DIR/tests/e2e/lib/walk.py"
$WALK config
start_daemon "$T/c.yaml"
wait_for "the first workers ready" log_ready 4
rc=0
DAEMON=$DAEMON $WALK run | tee "$T/walk.out" || rc=$?
[[ -z ${WALK_LOG:-} ]] || cp "$T/clusterd.log" "$WALK_LOG"
[[ $rc -eq 0 ]] || fail "$(grep -m1 '^walk failed' "$T/walk.out" || echo "the walk exited $rc")"
pass "$(tail -n 1 "$T/walk.out")"
