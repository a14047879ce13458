#!/usr/bin/env bash
# reuseport: the master keeps the slot's socket while its worker is dead, so connections made
# during the gap wait in the queue and are served by the replacement instead of being refused.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--ready-delay", "300"]
    instances: 1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "the victim to be gone" none_alive "$victim"
# The replacement sleeps 300 ms before it accepts; these 50 connections land in the gap.
out=$($HTTP burst "$PORT" 50) || fail "connections made while the slot was empty failed: $out"
log_ready 2 || fail "the replacement did not report ready"
pass "50 connections made while the slot had no worker were all served ($out)"
