#!/usr/bin/env bash
# Benchmark: `clusterctl status --json` with and without per-worker cgroups, on a host with
# NOISE unrelated processes besides (default 1000 `sleep`s): without cgroups a status scans all of
# /proc, so it pays for every process of the host; with them it reads our workers' cgroups only.
# Two masters run side by side with the same N idle workers, and their status calls alternate
# (A B A B) so drift hits both. Needs root and a writable cgroup v2 hierarchy.
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
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
ready() { "$BUILD/clusterctl" -s "$1" status --json 2>/dev/null |
  python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==a["instances"] else 1)'; }
p50() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "machine: $(machine); $(ls /proc | grep -c '^[0-9]') processes on the host with $NOISE unrelated sleeps"
g++ -O2 -std=c++20 -pthread "$ROOT/bench/baseline.cc" -o "$T/baseline"
printf '%-8s %-22s %-22s %-8s %-16s %s\n' workers "/proc scan p50" "cgroups p50" ratio "bare reads p50" "cgroups / bare"
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
  scan=(); cg=()
  for _ in $(seq "$RUNS"); do
    t0=$(now_us); "$BUILD/clusterctl" -s "$T/scan.sock" status --json >/dev/null; scan+=($(($(now_us) - t0)))
    t0=$(now_us); "$BUILD/clusterctl" -s "$T/cgroups.sock" status --json >/dev/null; cg+=($(($(now_us) - t0)))
  done
  a=$(p50 "${scan[@]}"); b=$(p50 "${cg[@]}")
  # The floor: the same files read bare (bench/baseline.cc), no encoding, no client.
  dirs=$("$BUILD/clusterctl" -s "$T/cgroups.sock" status --json --detail | python3 -c 'import json,sys; print(" ".join(w["cgroup"] for w in json.load(sys.stdin)["apps"][0]["workers"]))')
  # shellcheck disable=SC2086
  bare=$("$T/baseline" cgroups "$RUNS" $dirs)
  range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "(%.1f-%.1f)", lo/1000, hi/1000}'; }
  printf '%-8s %-22s %-22s %-8s %-16s %s\n' "$n" "$(awk -v x="$a" 'BEGIN{printf "%.1f ms", x/1000}') $(range "${scan[@]}")" \
    "$(awk -v x="$b" 'BEGIN{printf "%.1f ms", x/1000}') $(range "${cg[@]}")" \
    "$(awk -v x="$b" -v y="$a" 'BEGIN{printf "%.2f", x/y}')" \
    "$(awk -v x="$bare" 'BEGIN{printf "%.1f ms", x/1000}')" "$(awk -v x="$b" -v y="$bare" 'BEGIN{printf "%.2f", x/y}')"
  for d in "${DAEMONS[@]}"; do kill -TERM "$d"; wait "$d" || true; done
  DAEMONS=()
done
