#!/usr/bin/env bash
# Rolling reloads in a row (RELOADS, 10 by default) while keep-alive and connection-per-request
# clients (wrk) hammer the cluster, in shared and reuseport mode: not one failed connection, not
# one non-2xx answer, and every worker pid changes at every reload. The load runs until the
# reloads are done (it is stopped then), so a slow machine does fewer requests, not fewer reloads.
source "$(dirname "$0")/lib/common.sh"
command -v wrk >/dev/null || skip "wrk is not installed"
RELOADS=${RELOADS:-10}
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
  wait_for "two workers ready" log_ready 2
  # wrk's -d is only an upper bound: SIGINT ends it and it prints its summary.
  wrk -t1 -c16 -d300s "http://127.0.0.1:$PORT/read" >"$T/wrk-keepalive.out" 2>&1 &
  keep=$!; EXTRA_PIDS+=($keep)
  wrk -t1 -c8 -d300s -H "Connection: close" "http://127.0.0.1:$PORT/read" >"$T/wrk-close.out" 2>&1 &
  close=$!; EXTRA_PIDS+=($close)
  sleep 1
  for i in $(seq "$RELOADS"); do
    kill -0 "$keep" 2>/dev/null || fail "$mode: the load ended before reload $i"
    before=$(pids)
    write_config "$i"
    "$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || fail "$mode reload $i failed: $(cat "$T/reload.out")"
    after=$(pids)
    [[ $(wc -w <<<"$after") -eq 2 ]] || fail "$mode reload $i: running workers: $after"
    for p in $before; do
      grep -qw "$p" <<<"$after" && fail "$mode reload $i: pid $p survived ($before -> $after)"
    done
  done
  sleep 0.5  # some load after the last reload too
  kill -INT "$keep" "$close"
  wait "$keep" || true; wait "$close" || true
  for f in keepalive close; do
    out=$T/wrk-$f.out
    grep -q "requests in" "$out" || fail "$mode wrk ($f) did not finish: $(cat "$out")"
    if grep -qE "Socket errors|Non-2xx" "$out"; then fail "$mode wrk ($f) saw errors: $(cat "$out")"; fi
    echo "$mode $f: $(grep 'requests in' "$out" | sed 's/^ *//'), 0 errors, $RELOADS reloads"
  done
  kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
done
pass "$RELOADS reloads per mode under load: every pid replaced, no failed request"
