#!/usr/bin/env bash
# Benchmark: what worker logging costs. hello-worker (WORKERS of them, reuseport) answers wrk
# (-t2 -cCONNS keep-alive) and, with --log-requests, writes one line per request to stdout:
#   none     no log line (the baseline)
#   inherit  logs: inherit, the master's stdout is a file: the workers write to it directly
#   file     logs: { mode: capture, file: ..., console: false }: through the master to a file
#   console  logs: capture, the master's own output is a file: through the master to it
#   journal  logs: journal, to a systemd-journald of its own (started in a private mount
#            namespace on tmpfs; skipped when there is no systemd-journald binary)
# RUNS rounds of DURATION seconds, the modes interleaved in each round. Prints per mode the
# median requests/s (min-max), the ratio to `none` of the same run, and the master's CPU time
# per MB of output it handled (utime+stime of clusterd / bytes of log lines written).
#   bench/logs.sh            (WORKERS=2, RUNS=3, DURATION=8, CONNS=64)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
MODES=${MODES:-none inherit file console journal}
JOURNALD=/lib/systemd/systemd-journald
snapshot_binaries
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk"; exit 1; }
[[ -x $JOURNALD ]] || MODES=${MODES/journal/}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TICK=$(getconf CLK_TCK)
echo "machine: $(machine)"
echo "logs: $WORKERS hello-workers, wrk -t2 -c$CONNS keep-alive, ${DURATION}s x $RUNS rounds; one ~40-byte line per request"

config() {  # config MODE
  local logs=capture flag='"--log-requests"'
  case $1 in
    none) flag= ;;
    inherit) logs=inherit ;;
    file) logs="{ mode: capture, file: \"$T/app.log\", console: false, max_size: 64M, keep: 1 }" ;;
    console) logs=capture ;;
    journal) logs=journal ;;
  esac
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$BUILD/worker/hello-worker"${flag:+, $flag}]
    instances: $WORKERS
    ready: notify
    logs: $logs
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}

start() {  # start MODE: clusterd (and, for journal, journald) in the background; DAEMON set
  rm -f "$T/out.log" "$T/app.log"*
  if [[ $1 == journal ]]; then
    # A private mount namespace: journald's sockets on a tmpfs /run/systemd, its files on a
    # tmpfs /var/log/journal; clusterd runs in the same namespace (exec), wrk outside.
    unshare --mount --propagation private bash -c '
      mkdir -p /run/systemd /var/log/journal
      mount -t tmpfs bench-run /run/systemd && mount -t tmpfs bench-journal /var/log/journal
      mkdir -p /run/systemd/journal
      '"$JOURNALD"' >/dev/null 2>&1 &
      echo $! >"'"$T"'/journald.pid"
      for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
      exec "$@"' bench "$BUILD/clusterd" -c "$T/c.yaml" >"$T/out.log" 2>&1 &
  else
    "$BUILD/clusterd" -c "$T/c.yaml" >"$T/out.log" 2>&1 &
  fi
  DAEMON=$!
  for _ in $(seq 200); do
    "$BUILD/clusterctl" -s "$T/ctl.sock" status --json 2>/dev/null |
      python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(a["ready"] != a["instances"])' 2>/dev/null && return 0
    sleep 0.05
  done
  echo "clusterd did not get ready ($1)"; cat "$T/out.log"; exit 1
}

stop() {
  kill -TERM "$DAEMON" 2>/dev/null || true
  wait "$DAEMON" 2>/dev/null || true
  DAEMON=""
  if [[ -f $T/journald.pid ]]; then kill "$(cat "$T/journald.pid")" 2>/dev/null || true; rm -f "$T/journald.pid"; fi
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A R  # R[mode] = "rps master_ms bytes" lines
for round in $(seq "$RUNS"); do
  for mode in $MODES; do
    config "$mode"
    start "$mode"
    before=$(ticks "$DAEMON")
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/read" >"$T/wrk" 2>&1
    after=$(ticks "$DAEMON")
    rps=$(awk '/Requests\/sec/ {print int($2)}' "$T/wrk")
    requests=$(awk '/requests in/ {print $1}' "$T/wrk")
    bytes=0
    [[ $mode != none ]] && bytes=$((requests * 40))
    R[$mode]+="$rps $(( (after - before) * 1000 / TICK )) $bytes"$'\n'
    stop
  done
done

printf '%-9s %-24s %-14s %-22s\n' mode "requests/s (min-max)" "vs none" "master CPU per MB"
base=$(printf '%s' "${R[none]:-}" | python3 -c 'import statistics,sys; r=[int(l.split()[0]) for l in sys.stdin if l.strip()]; print(statistics.median(r) if r else 0)')
for mode in $MODES; do
  printf '%s' "${R[$mode]}" | python3 -c '
import statistics, sys
mode, base = sys.argv[1], float(sys.argv[2])
rows = [list(map(int, l.split())) for l in sys.stdin if l.strip()]
rps = [r[0] for r in rows]
med = statistics.median(rps)
mb = sum(r[2] for r in rows) / 1e6
cpu = sum(r[1] for r in rows)
per_mb = "%.1f ms/MB" % (cpu / mb) if mb > 0 else "-"
ratio = "%.2f" % (med / base) if base else "-"
print("%-9s %-24s %-14s %-22s" % (mode, "%d (%d-%d)" % (med, min(rps), max(rps)), ratio, per_mb))' "$mode" "$base"
done
