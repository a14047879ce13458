#!/usr/bin/env bash
# New connections reach every worker, in both modes where the master binds: `shared` (one socket
# every worker accepts from) and `reuseport` (one SO_REUSEPORT socket per slot).
source "$(dirname "$0")/lib/common.sh"
for mode in shared reuseport; do
  PORT=$(free_port)
  web_config 2 "$mode"
  start_daemon "$T/c.yaml"
  wait_for "two workers ready" log_ready 2
  out=$($HTTP spread "$PORT" 200) || fail "$mode: requests failed: $out"
  distinct=$(head -1 <<<"$out")
  [[ $distinct -eq 2 ]] || fail "$mode: expected 2 distinct workers, saw $distinct"
  echo "$mode: 200 connections spread over $distinct workers"
  kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
done
pass "connections spread over every worker in shared and reuseport mode"
