#!/usr/bin/env bash
# Benchmark: clusterd's figures as ratios to what the kernel itself needs for the same work
# (bench/baseline.cc, built here), measured in the same run, paired run by run (A B A B) so
# that drift hits both. Absolute times are printed too, as information.
#   status  `clusterctl status --json` minus `clusterctl version` (the client's start and one
#           round trip) vs the bare /proc reads of the same workers (baseline status)
#   spawn   `clusterctl scale idle N` from 1 until status shows N running vs N posix_spawns of
#           the same binary that each return once exec'd (baseline spawn)
#   bench/baseline-ratios.sh [N]     (default 1024 `sleep` workers, RUNS=7)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
N=${1:-1024}
RUNS=${RUNS:-7}
g++ -O2 -std=c++20 "$ROOT/bench/baseline.cc" -o "$T/baseline"
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
p50() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
ctl() { "$BUILD/clusterctl" -s "$T/ctl.sock" "$@"; }
running_is() {
  ctl status --json 2>/dev/null | python3 2>/dev/null -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]
sys.exit(0 if a["ready"]==int(sys.argv[1]) and len(a["workers"])==int(sys.argv[1]) else 1)' "$1"
}
wait_running() { for _ in $(seq 6000); do running_is "$1" && return 0; sleep 0.01; done; echo "not $1 running"; exit 1; }
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: off
apps:
  idle:
    command: ["/bin/sleep", "3600"]
    instances: 1
    stop_timeout: 5s
YAML
"$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
DAEMON=$!
wait_running 1
echo "machine: $(machine); $N sleep workers, $RUNS pairs"

# spawn: A = clusterd scales 1 -> N and all are running; B = N posix_spawns.
a=(); b=()
for _ in $(seq "$RUNS"); do
  t0=$(now_us); ctl scale idle "$N" >/dev/null; wait_running "$N"; a+=($((($(now_us) - t0) / 1000)))
  ctl scale idle 1 >/dev/null; wait_running 1
  b+=($("$T/baseline" spawn "$N" /bin/sleep 3600 | cut -d. -f1))
done
printf '%-8s %-24s %-24s %s\n' what "clusterd ms p50 (range)" "baseline ms p50 (range)" ratio
printf '%-8s %-24s %-24s %s\n' spawn "$(p50 "${a[@]}") ($(spread "${a[@]}"))" \
  "$(p50 "${b[@]}") ($(spread "${b[@]}"))" "$(awk -v x="$(p50 "${a[@]}")" -v y="$(p50 "${b[@]}")" 'BEGIN{printf "%.2f", x/y}')"

# status: A = status --json minus version (both whole client runs); B = the bare reads.
ctl scale idle "$N" >/dev/null; wait_running "$N"
pids=$(ctl status --json | python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["apps"][0]["workers"]))')
a=(); b=(); v=()
for _ in $(seq "$RUNS"); do
  t0=$(now_us); ctl version >/dev/null; t1=$(now_us)
  ctl status --json >/dev/null; t2=$(now_us)
  v+=($(((t1 - t0) / 100))); a+=($(((t2 - t1 - (t1 - t0)) / 100)))
  # shellcheck disable=SC2086
  b+=($(($("$T/baseline" status 3 $pids) / 100)))
done
tenth() { awk -v x="$1" 'BEGIN{printf "%.1f", x/10}'; }
printf '%-8s %-24s %-24s %s\n' status "$(tenth "$(p50 "${a[@]}")") ($(tenth "$(printf '%s\n' "${a[@]}" | sort -n | head -1)")-$(tenth "$(printf '%s\n' "${a[@]}" | sort -n | tail -1)"))" \
  "$(tenth "$(p50 "${b[@]}")") ($(tenth "$(printf '%s\n' "${b[@]}" | sort -n | head -1)")-$(tenth "$(printf '%s\n' "${b[@]}" | sort -n | tail -1)"))" \
  "$(awk -v x="$(p50 "${a[@]}")" -v y="$(p50 "${b[@]}")" 'BEGIN{printf "%.2f", x/y}')"
echo "(status: clusterd's figure excludes the client's start and round trip, $(tenth "$(p50 "${v[@]}")") ms, and includes JSON encode and decode)"
