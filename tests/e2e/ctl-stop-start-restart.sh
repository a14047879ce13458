#!/usr/bin/env bash
# clusterctl stop / start / restart APP / restart APP --worker N, and errors for unknown apps.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
pids() { "$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["apps"][0]["workers"]))'; }
states() { "$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(" ".join(w["state"] for w in json.load(sys.stdin)["apps"][0]["workers"]))'; }
states_are() { [[ $(states) == "$1" ]]; }

"$CLUSTERCTL" stop web | grep -q "stopping web" || fail "stop"
wait_for "both idle" states_are "idle idle"
has_workers 0 || fail "workers still running after stop"
"$CLUSTERCTL" start web >/dev/null || fail "start"
wait_for "both running" states_are "running running"
read -r a0 a1 <<<"$(pids)"
"$CLUSTERCTL" restart web --worker 1 >/dev/null || fail "restart --worker 1"
wait_for "worker 1 replaced" bash -c "[[ \$($(declare -f pids); CLUSTERCTL=$CLUSTERCTL pids | cut -d' ' -f2) != $a1 ]]"
wait_for "both running" states_are "running running"
read -r b0 b1 <<<"$(pids)"
[[ $b0 == "$a0" ]] || fail "restart --worker 1 also replaced worker 0"
"$CLUSTERCTL" restart web >/dev/null || fail "restart"
wait_for "both replaced" bash -c "$(declare -f pids); CLUSTERCTL=$CLUSTERCTL; read -r x y <<<\"\$(pids)\"; [[ \$x != $b0 && \$y != $b1 && \$x != None && \$y != None ]]"
wait_for "both running" states_are "running running"
$HTTP spread "$PORT" 50 >/dev/null || fail "not serving after the restarts"

rc=0; "$CLUSTERCTL" stop nope 2>"$T/err" || rc=$?
[[ $rc -eq 1 ]] || fail "unknown app: exit $rc"
grep -q "no app named 'nope'; apps: web" "$T/err" || fail "unknown app message: $(cat "$T/err")"
rc=0; "$CLUSTERCTL" restart web --worker 7 2>"$T/err" || rc=$?
[[ $rc -eq 1 ]] && grep -q "has no worker 7" "$T/err" || fail "bad worker: $rc $(cat "$T/err")"
rc=0; "$CLUSTERCTL" scale web 2>/dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "usage error exit $rc"
rc=0; "$CLUSTERCTL" -s "$T/nothing.sock" status 2>"$T/err" || rc=$?
[[ $rc -eq 3 ]] || fail "no daemon: exit $rc"
grep -q "$T/nothing.sock" "$T/err" || fail "no-daemon message lacks the path: $(cat "$T/err")"
pass "stop, start, restart of one worker and of all; errors exit 1/2/3"
