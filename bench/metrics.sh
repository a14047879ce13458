#!/usr/bin/env bash
# Benchmark: what a Prometheus scrape costs, next to a `clusterctl status --json` of the same
# workers in the same run (the same /proc reads, a different encoding), and what `clusterctl top`
# costs itself and the master at 1 s refreshes. Prints tables; run it on demand, not in CI.
#   bench/metrics.sh [N ...]     (default: 16 128 1024 workers; RUNS scrapes each, default 21)
#   TOP_WORKERS=128 TOP_SECONDS=10 for the top part
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(16 128 1024)
RUNS=${RUNS:-21}
TOP_WORKERS=${TOP_WORKERS:-128}
TOP_SECONDS=${TOP_SECONDS:-10}
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
ready() {
  curl -s --max-time 5 --unix-socket "$T/m.sock" -o /dev/null -w '%{http_code}' http://localhost/healthz | grep -qx 200
}
start() {  # start N: N idle workers, each a hello-worker on its own reuseport socket
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
metrics: "unix:$T/m.sock"
apps:
  web:
    command: ["$BUILD/worker/hello-worker"]
    instances: $1
    ready: notify
    stop_timeout: 5s
    listen:
      http: { address: "127.0.0.1:$port", mode: reuseport }
YAML
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 1200); do ready && return 0; sleep 0.05; done
  echo "workers did not start: $(tail -3 "$T/log")"; exit 1
}
stop() { kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""; }
# median_of CMD...: runs CMD RUNS times (alternating with the other measure by the caller) and
# prints the median wall time in microseconds.
p50() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(machine)"
echo
echo "scrape vs status, paired run by run (A B C D, A B C D, ...); master CPU from its /proc ticks"
echo "  GET /: the same curl for a page with no numbers (the client's and HTTP's own cost)"
echo "  status --detail: the same /proc reads as a scrape, as JSON; status --json: without PSS, USS, fds"
printf '%-8s %-10s %-12s %-17s %-15s %-24s %-18s %-10s %-8s\n' workers "GET /" "scrape p50" \
  "status --detail" "status --json" "(scrape - GET /)/detail" "master CPU/scrape" page series
for n in "${SIZES[@]}"; do
  start "$n"
  floors=(); scrapes=(); statuses=(); tables=(); t_scrape=0
  for _ in $(seq "$RUNS"); do
    t0=$(now_us)
    curl -sf --unix-socket "$T/m.sock" http://localhost/ -o /dev/null
    floors+=($(($(now_us) - t0)))
    c0=$(ticks "$DAEMON"); t0=$(now_us)
    curl -sf --unix-socket "$T/m.sock" http://localhost/metrics -o "$T/page"
    t1=$(now_us); c1=$(ticks "$DAEMON")
    scrapes+=($((t1 - t0))); t_scrape=$((t_scrape + c1 - c0))
    t0=$(now_us)
    "$BUILD/clusterctl" -s "$T/ctl.sock" status --json --detail >/dev/null
    statuses+=($(($(now_us) - t0)))
    t0=$(now_us)
    "$BUILD/clusterctl" -s "$T/ctl.sock" status --json >/dev/null
    tables+=($(($(now_us) - t0)))
  done
  f=$(p50 "${floors[@]}"); a=$(p50 "${scrapes[@]}"); b=$(p50 "${statuses[@]}"); c=$(p50 "${tables[@]}")
  ms() { awk -v x="$1" 'BEGIN{printf "%.1f ms", x/1000}'; }
  printf '%-8s %-10s %-12s %-17s %-15s %-24s %-18s %-10s %-8s\n' "$n" "$(ms "$f")" "$(ms "$a")" \
    "$(ms "$b")" "$(ms "$c")" "$(awk -v x="$a" -v f="$f" -v y="$b" 'BEGIN{printf "%.2f", (x-f)/y}')" \
    "$(awk -v t="$t_scrape" -v r="$RUNS" -v hz="$HZ" 'BEGIN{printf "%.1f ms", 1000*t/hz/r}')" \
    "$(($(stat -c %s "$T/page") / 1024)) KiB" "$(grep -vc '^#' "$T/page")"
  stop
done

echo
echo "clusterctl top at ${TOP_WORKERS} workers, 1 s refresh, ${TOP_SECONDS} s (target: top under 2% of one core)"
start "$TOP_WORKERS"
m0=$(ticks "$DAEMON")
used=$( { bash -c '"$0" -s "$1" top --plain -i 1 -n "$2" >/dev/null; times' \
  "$BUILD/clusterctl" "$T/ctl.sock" "$TOP_SECONDS"; } | tail -1)
m1=$(ticks "$DAEMON")
stop
top_cpu=$(awk '{ split($1,u,"m"); split($2,s,"m"); printf "%.3f", u[1]*60 + u[2] + s[1]*60 + s[2] }' <<<"$used")
printf '%-28s %-12s %-14s\n' "" "CPU seconds" "% of one core"
printf '%-28s %-12s %-14s\n' "clusterctl top (plain)" "$top_cpu" \
  "$(awk -v c="$top_cpu" -v s="$TOP_SECONDS" 'BEGIN{printf "%.2f%%", 100*c/s}')"
printf '%-28s %-12s %-14s\n' "the master answering it" "$(awk -v t=$((m1 - m0)) -v hz="$HZ" 'BEGIN{printf "%.3f", t/hz}')" \
  "$(awk -v t=$((m1 - m0)) -v hz="$HZ" -v s="$TOP_SECONDS" 'BEGIN{printf "%.2f%%", 100*t/hz/s}')"
