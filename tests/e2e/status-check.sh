#!/usr/bin/env bash
# `clusterctl status --check [APP]`, the readiness probe: 0 when every app (or APP) has all its
# workers ready, 1 while one does not (a stopped app, a worker not ready yet), 3 with no daemon.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
cat >>"$T/c.yaml" <<YAML
  slow:
    command: ["$HELLO", "--ready-delay", "600000"]
    instances: 1
    ready: notify
    ready_timeout: 10m
YAML
rc=0; "$CLUSTERCTL" status --check >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 3 ]] || fail "no daemon: exit $rc"
start_daemon "$T/c.yaml"
wait_for "web ready" log_ready 2
rc=0; "$CLUSTERCTL" status --check >"$T/out" || rc=$?
[[ $rc -eq 1 ]] && grep -q "slow: 0/1 ready (not ready)" "$T/out" || fail "slow not ready: exit $rc, $(cat "$T/out")"
"$CLUSTERCTL" status --check web >"$T/out" || fail "web alone: $(cat "$T/out")"
grep -qx "web: 2/2 ready" "$T/out" || fail "web's line: $(cat "$T/out")"
"$CLUSTERCTL" stop slow >/dev/null
"$CLUSTERCTL" stop web >/dev/null
rc=0; "$CLUSTERCTL" status --check web >"$T/out" || rc=$?
[[ $rc -eq 1 ]] || fail "a stopped app passes the check: $(cat "$T/out")"
grep -qx "web: 0/2 ready (stopped)" "$T/out" || fail "the check does not say web is stopped: $(cat "$T/out")"
"$CLUSTERCTL" start web >/dev/null
wait_for "web ready again" "$CLUSTERCTL" status --check web
pass "exit 3 without a daemon, 1 while an app is short of ready workers, 0 when all are ready"
