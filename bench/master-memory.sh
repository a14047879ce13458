#!/usr/bin/env bash
# Benchmark: the master's memory with N idle `sleep` workers whose output it captures
# (`logs: capture`: two pipes a worker), in KiB: VmRSS, RssAnon (its heap and stacks) and RssFile
# (the binary's and the libraries' pages) from /proc/PID/status, and PSS split the same way from
# /proc/PID/smaps_rollup. Each size is read twice: once all workers run, and after STATUS calls of
# `clusterctl status --json` (the reply of N workers is built and freed). The last line fits the
# anonymous memory a worker costs from the two largest sizes.
#   bench/master-memory.sh [N ...]     (default: 1 256 1024; STATUS=3)
#   BUILD_DIR=... selects the binaries (default build/). On demand only; ~10 s at the defaults.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
snapshot_binaries
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(1 256 1024)
STATUS=${STATUS:-3}
ctl() { "$BUILD/clusterctl" -s "$T/ctl.sock" "$@"; }
running() {  # running N: all N workers run
  ctl status --json 2>/dev/null | python3 -c 'import json,sys
a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==int(sys.argv[1]) else 1)' "$1" 2>/dev/null
}
PIDS=()
# Stops the daemon, then SIGKILLs by pid any worker it left behind (none should be left).
stop_all() {
  [[ -n $DAEMON ]] && { kill -TERM "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; }
  DAEMON=""
  local pid left=0
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; left=$((left + 1)); fi
  done
  ((left == 0)) || echo "warning: $left workers outlived the master and were killed" >&2
  PIDS=()
}
trap 'stop_all; bench_cleanup' EXIT
# mem PID: "rss anon file pss pss_anon pss_file" (KiB)
mem() {
  local s r
  s=$(awk '/^VmRSS/ {a=$2} /^RssAnon/ {b=$2} /^RssFile/ {c=$2} END {print a, b, c}' "/proc/$1/status")
  r=$(awk '/^Pss:/ {a=$2} /^Pss_Anon/ {b=$2} /^Pss_File/ {c=$2} END {print a, b, c}' "/proc/$1/smaps_rollup")
  echo "$s $r"
}
echo "machine: $(machine)"
echo "master memory (KiB), N sleep workers, logs: capture; after the start / after $STATUS status --json"
printf '%-8s %-8s %-8s %-8s %-8s %-9s %-9s   %-8s %-8s %-8s\n' workers RSS RssAnon RssFile PSS \
  Pss_Anon Pss_File RSS PSS RssAnon
declare -A ANON
for n in "${SIZES[@]}"; do
  idle_config "$T/c.yaml" "$n" "$T/ctl.sock"
  sed -i 's/^    stop_timeout: 5s$/    stop_timeout: 5s\n    logs: capture/' "$T/c.yaml"
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 600); do running "$n" && break; sleep 0.05; done
  mapfile -t PIDS < <(ctl status --json | python3 -c 'import json,sys
for w in json.load(sys.stdin)["apps"][0]["workers"]: print(w["pid"])')
  running "$n" || { echo "workers did not start: $(tail -3 "$T/log")"; exit 1; }
  sleep 0.5  # the last spawns' buffers are freed; nothing else runs
  read -r rss anon file pss panon pfile < <(mem "$DAEMON")
  for _ in $(seq "$STATUS"); do ctl status --json >/dev/null; done
  read -r rss2 anon2 _ pss2 _ _ < <(mem "$DAEMON")
  ANON[$n]=$anon
  printf '%-8s %-8s %-8s %-8s %-8s %-9s %-9s   %-8s %-8s %-8s\n' "$n" "$rss" "$anon" "$file" \
    "$pss" "$panon" "$pfile" "$rss2" "$pss2" "$anon2"
  stop_all
done
if ((${#SIZES[@]} >= 2)); then
  a=${SIZES[-2]} b=${SIZES[-1]}
  echo "anonymous memory a worker, after the start, $a -> $b workers:" \
    "$(((ANON[$b] - ANON[$a]) * 1024 / (b - a))) B"
fi
