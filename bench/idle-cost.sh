#!/usr/bin/env bash
# Benchmark: what an idle cluster costs the master. WORKERS idle hello-workers (shared listener,
# ready: notify); once all are ready and 1 s has passed, the master's CPU time and context switches
# are read twice, DURATION seconds apart:
#   cpu      utime+stime from /proc/PID/stat (clock ticks, 10 ms) and the exact time on a CPU
#            from /proc/PID/schedstat (ns)
#   wakeups  voluntary+nonvoluntary context switches from /proc/PID/status (every wakeup of an
#            idle event loop is one voluntary switch when it goes back to sleep)
# Rows: the plain config (no feature needs sampling: the target is 0 wakeups), then with
# `max_memory` (a memory check every memory_check_interval, MEMCHECK=1s here) and with
# `max_memory` at the default 5s interval: the wakeups should be exactly DURATION/interval.
#   bench/idle-cost.sh                (WORKERS=16, DURATION=60)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORKERS=${WORKERS:-16}
DURATION=${DURATION:-60}
MEMCHECK=${MEMCHECK:-1s}
snapshot_binaries
HZ=$(getconf CLK_TCK)
echo "machine: $(machine)"
echo "idle cost of the master: $WORKERS idle hello-workers, ${DURATION}s window"
sample() {  # sample PID: "ticks ns voluntary nonvoluntary"
  local ticks ns v nv
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")  # comm has no spaces here ("clusterd")
  ns=$(awk '{print $1}' "/proc/$1/schedstat")
  v=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status")
  nv=$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "/proc/$1/status")
  echo "$ticks $ns $v $nv"
}
printf '%-32s %-12s %-16s %-22s %-11s %-14s\n' config "cpu (ticks)" "cpu (schedstat)" "switches (vol+invol)" "wakeups/s" "cpu/wakeup"
for variant in plain "max_memory, interval $MEMCHECK" "max_memory, interval 5s"; do
  extra=""
  case $variant in
    plain) ;;
    "max_memory, interval 5s") extra="    max_memory: 1G" ;;
    *) extra=$'    max_memory: 1G\n'"    memory_check_interval: $MEMCHECK" ;;
  esac
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$BUILD/worker/hello-worker"]
    instances: $WORKERS
    ready: notify
    stop_timeout: 5s
    listen:
      http: { address: "127.0.0.1:0", mode: shared }
$extra
YAML
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  ok=""
  for _ in $(seq 200); do
    if "$BUILD/clusterctl" -s "$T/ctl.sock" status --json 2>/dev/null | grep -q "\"ready\": $WORKERS,"; then ok=1; break; fi
    sleep 0.05
  done
  [[ -n $ok ]] || { echo "workers did not start: $(tail -3 "$T/log")"; exit 1; }
  sleep 1
  read -r t0 n0 v0 i0 < <(sample "$DAEMON")
  sleep "$DURATION"
  read -r t1 n1 v1 i1 < <(sample "$DAEMON")
  v=$((v1 - v0)); i=$((i1 - i0))
  printf '%-32s %-12s %-16s %-22s %-11s %-14s\n' "$variant" \
    "$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN{printf "%.0f ms", t * 1000 / hz}')" \
    "$(awk -v n=$((n1 - n0)) 'BEGIN{printf "%.3f ms", n / 1e6}')" \
    "$((v + i)) ($v+$i)" "$(awk -v s="$v" -v d="$DURATION" 'BEGIN{printf "%.2f", s / d}')" \
    "$(awk -v n=$((n1 - n0)) -v s="$v" 'BEGIN{if (s) printf "%.2f ms", n / 1e6 / s; else print "-"}')"
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
done
echo "wakeups/s counts voluntary switches (the loop going back to sleep); involuntary ones are preemptions"
echo "processes on this host: $(ls -d /proc/[0-9]* | wc -l) (a memory check scans all of /proc)"
echo "target: 0 wakeups in the plain row (no timer unless a feature needs sampling)"
