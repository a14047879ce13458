#!/usr/bin/env bash
# Benchmark: a live upgrade of the master (clusterctl upgrade, the same binary) with N idle workers
# (`sleep`, no listener), against what it replaces: a restart of the master (SIGTERM, then a new
# master until every worker runs again), measured in the same run. Per size, RUNS upgrades:
#   answered  `clusterctl upgrade` started -> its reply (written by the new master)
#   status    `clusterctl upgrade` started -> the new master's answer to `clusterctl status`
#   rehearsal / exec+take-over   the master's own log lines (1 ms resolution)
#   state     the size of the state document
#   master CPU  the master's CPU time for one upgrade (schedstat)
# then RUNS restarts. The verdict is the ratio status / restart (an upgrade must cost a fraction of
# a restart), not an absolute time.
#   bench/upgrade.sh [N ...]     (default: 16 1024; RUNS=5)
# On demand only, never in CI. Everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(16 1024)
RUNS=${RUNS:-5}
snapshot_binaries
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
ctl() { "$BUILD/clusterctl" -s "$T/ctl.sock" "$@"; }
all_running() {
  ctl status --json 2>/dev/null | python3 -c '
import json, sys
a = json.load(sys.stdin)["apps"][0]
sys.exit(0 if a["ready"] == a["instances"] == int(sys.argv[1]) else 1)' "$1" 2>/dev/null
}
wait_running() {  # wait_running N: bounded (60 s), fails the benchmark otherwise
  for _ in $(seq 1200); do all_running "$1" && return 0; sleep 0.05; done
  echo "workers did not all run: $(tail -3 "$T/log")"; exit 1
}
cpu_ns() { cut -d' ' -f1 "/proc/$DAEMON/schedstat"; }
start_master() {
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level info >>"$T/log" 2>&1 &
  DAEMON=$!
}
stats() {  # stats VALUES...: "p50 (min-max)"
  local sorted; sorted=($(printf '%s\n' "$@" | sort -n))
  echo "${sorted[$((${#sorted[@]} / 2))]} (${sorted[0]}-${sorted[$((${#sorted[@]} - 1))]})"
}
# log_ms PATTERN: the time of the last log line matching PATTERN, in ms since midnight
log_ms() {
  grep -E "$1" "$T/log" | tail -1 | awk '{split($2, t, ":"); printf "%d\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000}'
}

echo "machine: $(machine)"
echo "live upgrade vs restart of the master, $RUNS runs each (ms; p50 (min-max))"
printf '%-8s %-18s %-18s %-12s %-14s %-10s %-12s %-18s %-8s\n' workers answered status \
  rehearsal exec+take-over state "master CPU" "restart (all run)" ratio
for n in "${SIZES[@]}"; do
  idle_config "$T/c.yaml" "$n" "$T/ctl.sock"
  : >"$T/log"
  start_master
  wait_running "$n"
  answered=() status=() rehearsal=() takeover=() cpu=()
  for i in $(seq "$RUNS"); do
    c0=$(cpu_ns); t0=$(now_us)
    ctl upgrade >"$T/up.out" || { echo "upgrade $i failed: $(cat "$T/up.out")"; exit 1; }
    t1=$(now_us)
    ctl status >/dev/null
    t2=$(now_us); c1=$(cpu_ns)
    grep -q "upgrade $i\$" "$T/up.out" || { echo "upgrade $i said: $(cat "$T/up.out")"; exit 1; }
    answered+=($(( (t1 - t0) / 1000 ))); status+=($(( (t2 - t0) / 1000 )))
    cpu+=($(( (c1 - c0) / 1000000 )))
    r=$(log_ms "rehearses taking over"); x=$(log_ms "executing .* in place"); u=$(log_ms "upgraded to clusterd")
    rehearsal+=($((x - r))); takeover+=($((u - x)))
  done
  state=$(grep -oE "[0-9]+ bytes of state" "$T/log" | tail -1 | cut -d' ' -f1)
  pids_before=$(tr ' ' '\n' <"/proc/$DAEMON/task/$DAEMON/children" | grep -c . || true)
  restart=()
  for _ in $(seq "$RUNS"); do
    t0=$(now_us)
    kill -TERM "$DAEMON"; wait "$DAEMON" || true
    start_master
    wait_running "$n"
    restart+=($(( ($(now_us) - t0) / 1000 )))
  done
  s50=$(stats "${status[@]}"); r50=$(stats "${restart[@]}")
  ratio=$(python3 -c "print(f'{${s50%% *} / ${r50%% *}:.2f}')")
  printf '%-8s %-18s %-18s %-12s %-14s %-10s %-12s %-18s %-8s\n' "$n" "$(stats "${answered[@]}")" \
    "$s50" "$(stats "${rehearsal[@]}")" "$(stats "${takeover[@]}")" "$((state / 1024)) KiB" \
    "$(stats "${cpu[@]}")" "$r50" "$ratio"
  [[ $pids_before -eq $n ]] || echo "  (the master had $pids_before children after the upgrades, not $n)"
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
done
echo "status: upgrade started -> the new master answered; ratio: that / a restart until every"
echo "worker runs again (lower is better: the upgrade keeps every worker, the restart starts all)"
