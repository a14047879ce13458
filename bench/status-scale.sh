#!/usr/bin/env bash
# Benchmark: `clusterctl status --json` wall time, and the master's RSS and threads, with N idle
# workers (`sleep`, no listener). Prints a table; run it on demand, not in CI.
#   bench/status-scale.sh [N ...]       (default: 16 256 1024; 11 status calls each)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(16 256 1024)
RUNS=${RUNS:-11}
now_ns() { date +%s%N; }
running() {
  "$BUILD/clusterctl" -s "$T/ctl.sock" status --json 2>/dev/null |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==a["instances"] else 1)'
}
echo "machine: $(machine)"
printf '%-8s %-14s %-22s %-12s %-14s %-8s\n' workers "all running" "status p50 (min-max)" "master RSS" "RSS/worker" threads
base_rss=""
for n in "${SIZES[@]}"; do
  idle_config "$T/c.yaml" "$n" "$T/ctl.sock"
  start=$(now_ns)
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 600); do running && break; sleep 0.05; done
  running || { echo "workers did not start: $(tail -3 "$T/log")"; exit 1; }
  up_ms=$(( ($(now_ns) - start) / 1000000 ))
  times=()
  for _ in $(seq "$RUNS"); do
    t0=$(now_ns)
    "$BUILD/clusterctl" -s "$T/ctl.sock" status --json >/dev/null
    times+=($(( ($(now_ns) - t0) / 1000 )))
  done
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  p50=${sorted[$((RUNS / 2))]}; lo=${sorted[0]}; hi=${sorted[$((RUNS - 1))]}
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$DAEMON/status")
  threads=$(awk '/Threads/ {print $2}' "/proc/$DAEMON/status")
  [[ -n $base_rss ]] || { base_rss=$rss; base_n=$n; }
  per=$(( n > base_n ? (rss - base_rss) * 1024 / (n - base_n) : 0 ))
  printf '%-8s %-14s %-22s %-12s %-14s %-8s\n' "$n" "${up_ms} ms" \
    "$(awk -v a="$p50" -v b="$lo" -v c="$hi" 'BEGIN{printf "%.1f ms (%.1f-%.1f)", a/1000, b/1000, c/1000}')" \
    "$(awk -v r="$rss" 'BEGIN{printf "%.1f MiB", r/1024}')" "$( ((per)) && echo "${per} B" || echo -)" "$threads"
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
done
