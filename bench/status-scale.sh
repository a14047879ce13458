#!/usr/bin/env bash
# Benchmark: the whole `clusterctl status` (table) and `clusterctl status --json` (process start,
# request, the master's reads and encoding, the client's decode and print) with N idle workers
# (`sleep`, no listener, output captured: `logs: capture`), paired run by run with one process
# that does the bare reads of the same workers (`bench/baseline status 1 PID...`: every
# /proc/N/stat, then each worker's statm and affinity, nothing encoded), so that drift hits both;
# and the master's RSS, PSS and threads, and the reply's bytes per worker. Run it on demand.
#   bench/status-scale.sh [N ...]       (default: 16 256 1024; RUNS=7 pairs each)
#   BUILD_DIR=... selects the binaries (default build/).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
g++ -O2 -std=c++20 -pthread "$ROOT/bench/baseline.cc" -o "$T/baseline"
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(16 256 1024)
RUNS=${RUNS:-7}
ctl() { "$BUILD/clusterctl" -s "$T/ctl.sock" "$@"; }
running() {
  ctl status --json 2>/dev/null |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==a["instances"] else 1)' 2>/dev/null
}
# us COMMAND...: runs it (output discarded) and prints its wall time in microseconds
us() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  local t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) ))
}
echo "machine: $(machine)"
echo "$RUNS pairs per size (clusterctl status, clusterctl status --json, bare reads; ratio of medians, range of the pairs)"
printf '%-8s %-22s %-22s %-18s %-18s %-10s %-22s %-8s\n' workers "status p50 (min-max)" \
  "--json p50 (min-max)" "bare reads p50" "table / bare" "json / bare" "master RSS / PSS" "B/worker"
for n in "${SIZES[@]}"; do
  idle_config "$T/c.yaml" "$n" "$T/ctl.sock"
  sed -i 's/^    stop_timeout: 5s$/    stop_timeout: 5s\n    logs: capture/' "$T/c.yaml"
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 600); do running && break; sleep 0.05; done
  running || { echo "workers did not start: $(tail -3 "$T/log")"; exit 1; }
  mapfile -t pids < <(ctl status --json | python3 -c 'import json,sys
for w in json.load(sys.stdin)["apps"][0]["workers"]: print(w["pid"])')
  raw=$(printf '{"cmd":"status"}\n' | python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); d=b""
while not d.endswith(b"\n"):
    c=s.recv(1<<20)
    if not c: break
    d+=c
print(len(d))' "$T/ctl.sock")
  table=() json=() bare=()
  for _ in $(seq "$RUNS"); do
    table+=("$(us ctl status)")
    json+=("$(us ctl status --json)")
    bare+=("$(us "$T/baseline" status 1 "${pids[@]}")")
  done
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$DAEMON/status")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$DAEMON/smaps_rollup")
  PYTHONPATH="$ROOT/bench" python3 - "$n" "$rss" "$pss" "$raw" "${table[*]}" "${json[*]}" "${bare[*]}" <<'PY'
import statistics as st, sys
n, rss, pss, raw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
table, js, bare = ([int(x) / 1000 for x in a.split()] for a in sys.argv[5:8])
from stats import cell, ratio
print(f"{n:<8} {cell(table):<22} {cell(js):<22} {st.median(bare):.1f} ms{'':<10} {ratio(table, bare):<18} "
      f"{ratio(js, bare):<18} {rss / 1024:.1f} / {pss / 1024:.1f} MiB{'':<6} {raw // n}")
PY
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
done
