#!/usr/bin/env bash
# shared mode: the master binds once and every worker accepts from that socket.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 shared
start_daemon "$T/c.yaml"
wait_for 10 "two workers ready" log_ready 2
out=$($HTTP spread "$PORT" 200) || fail "requests failed: $out"
distinct=$(head -1 <<<"$out")
[[ $distinct -eq 2 ]] || fail "expected 2 distinct workers, saw $distinct"
pass "200 connections spread over $distinct workers"
