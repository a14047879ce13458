#!/usr/bin/env bash
# Benchmark: rolling reloads under load. For each listener mode and worker count, wrk drives the
# cluster (keep-alive, and connection-per-request) while clusterctl reload replaces every worker
# RELOADS times. Prints requests/s, failed requests (wrk socket errors + non-2xx) and the reload
# duration (median, max). On demand only: bench/reload-under-load.sh [N ...]
# A reload slower than 1 s keeps the daemon's log (info level) in SLOW_LOG_DIR (default /tmp)
# and says so under the table, so an outlier can be explained.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(2 8 32)
RELOADS=${RELOADS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
SLOW_LOG_DIR=${SLOW_LOG_DIR:-/tmp}
slow=()
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
echo "machine: $(machine); $RELOADS reloads in ${SECONDS_PER_RUN}s of load per row"
printf '%-10s %-8s %-10s %-14s %-12s %-12s %-22s\n' mode workers clients "requests/s" failed "reload p50" "reload max"
for mode in ${MODES:-shared reuseport worker}; do
  for n in "${SIZES[@]}"; do
    for clients in keepalive close; do
      PORT=$(port)
      write() {
        cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$BUILD/worker/hello-worker"]
    instances: $n
    ready: notify
    stop_timeout: 5s
    rollout: { batch: $(( n > 4 ? n / 4 : 1 )) }
    env: { MARK: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: $mode }
YAML
      }
      write 0
      "$BUILD/clusterd" -c "$T/c.yaml" --log-level info >"$T/log" 2>&1 &
      DAEMON=$!
      for _ in $(seq 200); do "$BUILD/clusterctl" -s "$T/ctl.sock" status --json 2>/dev/null | grep -q "\"ready\": $n," && break; sleep 0.05; done
      header=(); [[ $clients == close ]] && header=(-H "Connection: close")
      conns=32; [[ $clients == close ]] && conns=16
      wrk -t2 -c$conns -d"${SECONDS_PER_RUN}s" "${header[@]}" "http://127.0.0.1:$PORT/read" >"$T/wrk" 2>&1 &
      wrk_pid=$!
      sleep 1
      durations=()
      for r in $(seq "$RELOADS"); do
        write "$r"
        t0=$(now_ms)
        "$BUILD/clusterctl" -s "$T/ctl.sock" reload >/dev/null 2>&1 || echo "reload $r failed" >&2
        durations+=($(( $(now_ms) - t0 )))
        if (( durations[-1] > 1000 )); then
          kept="$SLOW_LOG_DIR/clusterd-slow-reload-$mode-$n-$clients-$r.log"
          cp "$T/log" "$kept" && slow+=("$mode $n $clients reload $r: ${durations[-1]} ms, log in $kept")
        fi
        sleep 0.5
      done
      wait "$wrk_pid"
      sorted=($(printf '%s\n' "${durations[@]}" | sort -n))
      rps=$(wrk_rate "$T/wrk")
      printf '%-10s %-8s %-10s %-14s %-12s %-12s %-22s\n' "$mode" "$n" "$clients" "$rps" "$(wrk_errors "$T/wrk")" \
        "${sorted[$(( ${#sorted[@]} / 2 ))]} ms" "${sorted[-1]} ms"
      kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
    done
  done
done
for line in "${slow[@]}"; do echo "slow: $line"; done
