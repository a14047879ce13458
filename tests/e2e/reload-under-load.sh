#!/usr/bin/env bash
# 20 rolling reloads in a row while keep-alive and connection-per-request clients (wrk) hammer the
# cluster, in shared and reuseport mode: not one failed connection, not one non-2xx answer, and
# every worker pid changes at every reload.
source "$(dirname "$0")/lib/common.sh"
command -v wrk >/dev/null || skip "wrk is not installed"
RELOADS=${RELOADS:-$((20 / ${CLUSTERD_SLOWDOWN:-1}))}
pids() { "$CLUSTERCTL" status --json | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" pids; }
for mode in shared reuseport; do
  PORT=$(free_port)
  write_config() {
    cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    stop_timeout: 5s
    env: { GENERATION_MARK: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: $mode }
YAML
  }
  write_config 0
  start_daemon "$T/c.yaml"
  wait_for 10 "two workers ready" log_ready 2
  wrk -t1 -c16 -d25s "http://127.0.0.1:$PORT/read" >"$T/wrk-keepalive.out" 2>&1 &
  keep=$!; EXTRA_PIDS+=($keep)
  wrk -t1 -c8 -d25s -H "Connection: close" "http://127.0.0.1:$PORT/read" >"$T/wrk-close.out" 2>&1 &
  close=$!; EXTRA_PIDS+=($close)
  sleep 1
  # Reload back to back for as long as the load runs; at least $RELOADS must fit in it.
  i=0
  while kill -0 "$keep" 2>/dev/null; do
    before=$(pids)
    i=$((i + 1))
    write_config "$i"
    "$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || fail "$mode reload $i failed: $(cat "$T/reload.out")"
    kill -0 "$keep" 2>/dev/null || { i=$((i - 1)); break; }  # finished after the load: not counted
    after=$(pids)
    [[ $(wc -w <<<"$after") -eq 2 ]] || fail "$mode reload $i: running workers: $after"
    for p in $before; do
      grep -qw "$p" <<<"$after" && fail "$mode reload $i: pid $p survived ($before -> $after)"
    done
  done
  (( i >= RELOADS )) || fail "$mode: only $i reloads fit in the load window"
  wait "$keep"; wait "$close"
  for f in keepalive close; do
    out=$T/wrk-$f.out
    grep -q "requests in" "$out" || fail "$mode wrk ($f) did not finish: $(cat "$out")"
    if grep -qE "Socket errors|Non-2xx" "$out"; then fail "$mode wrk ($f) saw errors: $(cat "$out")"; fi
    echo "$mode $f: $(grep 'requests in' "$out" | sed 's/^ *//'), 0 errors, $i reloads"
  done
  kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
done
pass "at least $RELOADS reloads per mode under load: every pid replaced, no failed request"
