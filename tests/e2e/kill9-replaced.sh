#!/usr/bin/env bash
# A worker killed with SIGKILL is replaced, and the replacement serves.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "the victim to be reaped" log_has "pid $victim exited \(signal SIGKILL\)"
wait_for "a replacement to be ready" log_ready 3
wait_for "two workers again" has_workers 2
worker_pids | grep -qx "$victim" && fail "victim $victim still listed"
out=$($HTTP spread "$PORT" 100) || fail "requests failed after the restart: $out"
[[ $(head -1 <<<"$out") -eq 2 ]] || fail "the replacement does not serve: $out"
pass "worker $victim replaced; both slots serve"
