#!/usr/bin/env bash
# scale 2 -> 5 -> 1 while clients keep connecting, in shared and reuseport mode: no request fails.
# Scaling down in reuseport mode closes the removed slots' sockets; the connections still queued
# there migrate to the remaining sockets only with net.ipv4.tcp_migrate_req=1, so the test runs in
# a network namespace of its own where it can set that without touching the host.
source "$(dirname "$0")/lib/common.sh"
if [[ -z ${IN_NETNS:-} ]]; then
  [[ $(id -u) -eq 0 ]] || skip "needs root for a private network namespace"
  command -v unshare >/dev/null || skip "no unshare"
  trap - EXIT; rm -rf "$T"
  exec unshare --net env IN_NETNS=1 bash "$0"
fi
ip link set lo up 2>/dev/null || python3 -c 'import socket' # lo is needed for 127.0.0.1
sysctl -qw net.ipv4.tcp_migrate_req=1 || skip "this kernel has no net.ipv4.tcp_migrate_req"
for mode in shared reuseport; do
  PORT=$(free_port)
  web_config 2 "$mode"
  start_daemon "$T/c.yaml"
  wait_for "two workers ready" log_ready 2
  $HTTP load "$PORT" 6 4 >"$T/load.out" 2>&1 &
  load=$!
  EXTRA_PIDS+=($load)
  sleep 1
  "$CLUSTERCTL" scale web 5 >/dev/null || fail "scale to 5"
  wait_for "five workers" has_workers 5
  sleep 1.5
  "$CLUSTERCTL" scale web 1 >/dev/null || fail "scale to 1"
  wait_for "one worker" has_workers 1
  wait "$load" || fail "$mode: requests failed while scaling: $(cat "$T/load.out")"
  "$CLUSTERCTL" status --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; assert a["instances"]==1 and len(a["workers"])==1, a' || fail "status after scale"
  echo "$mode: $(head -1 "$T/load.out")"
  kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
done
pass "scale 2 -> 5 -> 1 under load in shared and reuseport modes without a failed request"
