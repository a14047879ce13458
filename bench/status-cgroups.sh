#!/usr/bin/env bash
# Benchmark: `clusterctl status --json` with and without per-worker cgroups, on a host with
# NOISE unrelated processes besides (default 1000 `sleep`s): without cgroups a status scans all of
# /proc, so it pays for every process of the host; with them it reads our workers' cgroups only.
# Two masters run side by side with the same N idle workers, and their status calls alternate
# (A B A B) so drift hits both. With cgroups, the whole command (table and --json) is paired run
# by run with one process doing the bare reads of the same cgroups (`bench/baseline cgroups 1
# DIR...`, timed whole, as bench/status-scale.sh times its bare reads); the median of RUNS rounds
# inside one process (no process start) is printed beside as "floor". Needs root and a writable
# cgroup v2 hierarchy.
#   bench/status-cgroups.sh [N ...]     (default 16 128 1024; RUNS=11 calls each; NOISE=1000)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(16 128 1024)
RUNS=${RUNS:-11}
NOISE=${NOISE:-1000}
mount=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[[ -n $mount && -w $mount ]] || { echo "no writable cgroup v2 hierarchy: nothing to compare"; exit 1; }
PARENT=$mount/clusterd-bench-$$
NOISE_PIDS=()
DAEMONS=()
cleanup_all() {
  for d in "${DAEMONS[@]}"; do kill -TERM "$d" 2>/dev/null || true; wait "$d" 2>/dev/null || true; done
  for p in "${NOISE_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${NOISE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done  # reaped quietly
  for _ in $(seq 50); do  # the last workers' cgroups empty out as they are reaped
    [[ -d $PARENT ]] || break
    find "$PARENT" -depth -type d -exec rmdir {} + 2>/dev/null && break
    sleep 0.1
  done
  bench_cleanup
}
trap cleanup_all EXIT
for _ in $(seq "$NOISE"); do sleep 3600 & NOISE_PIDS+=($!); done
ready() { "$BUILD/clusterctl" -s "$1" status --json 2>/dev/null |
  python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==a["instances"] else 1)'; }
echo "machine: $(machine); $(ls /proc | grep -c '^[0-9]') processes on the host with $NOISE unrelated sleeps"
g++ -O2 -std=c++20 -pthread "$ROOT/bench/baseline.cc" -o "$T/baseline"
# us COMMAND...: runs it (output discarded) and prints its wall time in microseconds
us() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  local t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) ))
}
printf '%-8s %-20s %-20s %-20s %-7s %-11s %-18s %-18s %s\n' workers "/proc scan --json" \
  "cgroups --json" "cgroups table" ratio "bare reads" "json / bare" "table / bare" floor
for n in "${SIZES[@]}"; do
  for mode in scan cgroups; do
    idle_config "$T/$mode.yaml" "$n" "$T/$mode.sock" "$([[ $mode == cgroups ]] && echo "$PARENT" || echo off)"
    "$BUILD/clusterd" -c "$T/$mode.yaml" --log-level warn >"$T/$mode.log" 2>&1 &
    DAEMONS+=($!)
  done
  for mode in scan cgroups; do
    for _ in $(seq 1200); do ready "$T/$mode.sock" && break; sleep 0.05; done
    ready "$T/$mode.sock" || { echo "$mode: workers did not start: $(tail -3 "$T/$mode.log")"; exit 1; }
  done
  # The same files read bare (bench/baseline.cc): each cgroup's cgroup.procs, each member's stat
  # and statm, the worker's affinity; no encoding, no client.
  dirs=$("$BUILD/clusterctl" -s "$T/cgroups.sock" status --json --detail | python3 -c 'import json,sys; print(" ".join(w["cgroup"] for w in json.load(sys.stdin)["apps"][0]["workers"]))')
  scan=() cg=() table=() bare=()
  for _ in $(seq "$RUNS"); do
    scan+=("$(us "$BUILD/clusterctl" -s "$T/scan.sock" status --json)")
    cg+=("$(us "$BUILD/clusterctl" -s "$T/cgroups.sock" status --json)")
    table+=("$(us "$BUILD/clusterctl" -s "$T/cgroups.sock" status)")
    # shellcheck disable=SC2086
    bare+=("$(us "$T/baseline" cgroups 1 $dirs)")
  done
  # shellcheck disable=SC2086
  floor=$("$T/baseline" cgroups "$RUNS" $dirs)
  PYTHONPATH="$ROOT/bench" python3 - "$n" "$floor" "${scan[*]}" "${cg[*]}" "${table[*]}" "${bare[*]}" <<'PY'
import statistics as st, sys
n, floor = int(sys.argv[1]), int(sys.argv[2]) / 1000
scan, cg, table, bare = ([int(x) / 1000 for x in a.split()] for a in sys.argv[3:7])
from stats import cell, ratio
print(f"{n:<8} {cell(scan):<20} {cell(cg):<20} {cell(table):<20} {st.median(cg) / st.median(scan):<7.2f} "
      f"{st.median(bare):.1f} ms{'':<4} {ratio(cg, bare):<18} {ratio(table, bare):<18} {floor:.1f} ms")
PY
  for d in "${DAEMONS[@]}"; do kill -TERM "$d"; wait "$d" || true; done
  DAEMONS=()
done
