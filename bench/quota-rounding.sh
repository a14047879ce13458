#!/usr/bin/env bash
# Benchmark: how many workers a fractional CPU quota wants. hello-worker (reuseport) with 1, then
# 2 workers, clusterd and its workers in a v1 cpu cgroup with a quota of QUOTA CPUs (default
# 1.5); wrk (-t1 -c32 keep-alive, DURATION s, outside the cgroup) measures requests/s. RUNS
# rounds, the two counts alternating. Needs root and the v1 cpu controller.
#   bench/quota-rounding.sh        (QUOTA=1.5 RUNS=3 DURATION=6)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
QUOTA=${QUOTA:-1.5}
RUNS=${RUNS:-3}
DURATION=${DURATION:-6}
CPU=/sys/fs/cgroup/cpu
[[ -w $CPU && -e $CPU/cpu.cfs_quota_us ]] || { echo "no writable v1 cpu controller"; exit 1; }
CG=$CPU/clusterd-bench-$$
mkdir "$CG"
trap 'bench_cleanup; rmdir "$CG" 2>/dev/null || true' EXIT
echo 100000 >"$CG/cpu.cfs_period_us"
awk -v q="$QUOTA" 'BEGIN{printf "%d\n", q*100000}' >"$CG/cpu.cfs_quota_us"
rps() {  # rps N: requests/s of N workers under the quota
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$BUILD/worker/hello-worker"]
    instances: $1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$port", mode: reuseport }
YAML
  bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$CG" \
    "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/" -o /dev/null && break; sleep 0.05; done
  wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {printf "%d\n", $2}'
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
}
echo "machine: $(machine); quota $QUOTA CPUs (cpu.cfs_quota_us), wrk -t1 -c32 outside the cgroup"
one=(); two=()
for _ in $(seq "$RUNS"); do one+=("$(rps 1)"); two+=("$(rps 2)"); done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %-28s %s\n' workers "requests/s median (runs)" "vs 1 worker"
printf '%-10s %-28s %s\n' 1 "$(med "${one[@]}") (${one[*]})" 1.00
printf '%-10s %-28s %s\n' 2 "$(med "${two[@]}") (${two[*]})" "$(awk -v a="$(med "${two[@]}")" -v b="$(med "${one[@]}")" 'BEGIN{printf "%.2f", a/b}')"
