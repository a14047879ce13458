#!/usr/bin/env bash
# Output across a live upgrade (logs: capture): a worker's lines written after the upgrade still
# reach the app's log file and `clusterctl logs`, from the same worker (before: the new master
# read the taken-over pipes and dropped every line).
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 1 reuseport
sed -i -e "s|command: \\[\"$HELLO\"\\]|command: [\"$HELLO\", \"--log-requests\"]|" \
  -e "s|    ready: notify|    ready: notify\n    logs: { file: \"$T/web.log\", console: false }|" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
lines() { grep -c "GET /read" "$T/web.log" 2>/dev/null || true; }
more_lines_than() { (( $(lines) > $1 )); }
request() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read?$1" || fail "request $1 failed"; }
request before
wait_for "the request before the upgrade in the log file" more_lines_than 0
pid=$(worker_pids)
out=$("$CLUSTERCTL" upgrade) || fail "upgrade: $out"
request after
wait_for "the request after the upgrade in the log file" more_lines_than 1
[[ $(worker_pids) == "$pid" ]] || fail "the worker changed: $pid -> $(worker_pids)"
in_ring() { "$CLUSTERCTL" logs web -n 10 2>/dev/null | grep -q "GET /read 2"; }  # its 2nd request
wait_for "the line in clusterctl logs" in_ring
pass "worker $pid's lines reach the file and the ring after the upgrade"
