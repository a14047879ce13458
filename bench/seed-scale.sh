#!/usr/bin/env bash
# Benchmark: the seed's scale, 128 workers of ~15 OS threads each, under load.
#   1. 128 hello-workers with --threads 15 (a shared listener), wrk keep-alive load running:
#      `clusterctl status --json` and a /metrics scrape must report 129 processes (the master and
#      128 workers) and the true thread total, equal to the sum of Threads: in /proc/PID/status of
#      the master and every worker read right before and after (threads are fixed after start, so
#      both reads agree; a difference fails the run). Their cost (median of RUNS calls, and the
#      master's CPU per call from /proc/PID/schedstat) is printed.
#   2. With golang-go installed: the same with a Go net/http worker (default GOMAXPROCS), its
#      threads as the Go runtime makes them; skipped otherwise (it is not a dependency).
#   3. The seed's lesson: requests/s of hello-worker with 1, 2 and N (= CPUs) single-threaded
#      workers against one worker with N threads (and 4 of each), wrk -t2 keep-alive, RUNS
#      interleaved runs of DURATION seconds.
#   bench/seed-scale.sh         (WORKERS=128 THREADS=15 RUNS=5 DURATION=5 CONNS=64)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORKERS=${WORKERS:-128}
THREADS=${THREADS:-15}
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
snapshot_binaries
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk"; exit 1; }
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || { echo "python3-prometheus-client not found"; exit 1; }
echo "machine: $(machine)"
ctl() { "$BUILD/clusterctl" -s "$T/ctl.sock" "$@"; }
ready_is() { ctl status --json 2>/dev/null | $PY 2>/dev/null -c 'import json,sys; a=json.load(sys.stdin)["apps"][0]; sys.exit(0 if a["ready"]==int(sys.argv[1]) else 1)' "$1"; }
wait_ready() { for _ in $(seq 3000); do ready_is "$1" && return 0; sleep 0.05; done; echo "not $1 ready: $(tail -3 "$T/log")"; exit 1; }
start() {  # start N COMMAND_JSON: clusterd with N workers of COMMAND on a shared listener
  PORT=$(port); MPORT=$(port)
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
metrics: "127.0.0.1:$MPORT"
apps:
  web:
    command: $2
    instances: $1
    ready: ${READY:-notify}
    stop_timeout: 10s
    listen:
      http: "127.0.0.1:$PORT"
YAML
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  wait_ready "$1"
}
stop() { kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""; }

# The check and the cost, under load: prints one table row.
observe() {  # observe LABEL
  wrk -t1 -c"$CONNS" -d"$((RUNS * 2 + 10))s" "http://127.0.0.1:$PORT/" >/dev/null 2>&1 &
  local wrk=$!
  sleep 1  # the connections are open (wrk has no ready signal); the check does not depend on it
  DAEMON=$DAEMON BUILD=$BUILD T=$T MPORT=$MPORT RUNS=$RUNS LABEL=$1 $PY - <<'PY'
import json, os, statistics, subprocess, sys, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families
d, runs = int(os.environ["DAEMON"]), int(os.environ["RUNS"])
ctl = [f"{os.environ['BUILD']}/clusterctl", "-s", f"{os.environ['T']}/ctl.sock"]
def proc_threads():  # the master and each of its children (the workers), from /proc
    pids = [d] + [int(p) for p in open(f"/proc/{d}/task/{d}/children").read().split()]
    total = 0
    for p in pids:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("Threads:"):
                total += int(line.split()[1])
    return len(pids), total
def cpu():
    return int(open(f"/proc/{d}/schedstat").read().split()[0])
s_ms, s_cpu, m_ms, m_cpu = [], [], [], []
for _ in range(runs):
    before = proc_threads()
    c0, t0 = cpu(), time.monotonic()
    status = json.loads(subprocess.run(ctl + ["status", "--json"], capture_output=True, check=True).stdout)
    s_ms.append((time.monotonic() - t0) * 1000); s_cpu.append((cpu() - c0) / 1e6)
    c0, t0 = cpu(), time.monotonic()
    page = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['MPORT']}/metrics", timeout=30).read().decode()
    m_ms.append((time.monotonic() - t0) * 1000); m_cpu.append((cpu() - c0) / 1e6)
    after = proc_threads()
    if before != after:
        sys.exit(f"/proc changed during the calls: {before} then {after}")
    got = {f.name: f.samples[0].value for f in text_string_to_metric_families(page)
           if f.name in ("clusterd_processes", "clusterd_threads")}
    shown = (status["totals"]["processes"], status["totals"]["threads"])
    scraped = (int(got["clusterd_processes"]), int(got["clusterd_threads"]))
    if shown != before or scraped != before:
        sys.exit(f"/proc: {before} (processes, threads); status: {shown}; /metrics: {scraped}")
med = statistics.median
print(f"{os.environ['LABEL']:<28} {before[0]:<10} {before[1]:<8} {'yes':<8} "
      f"{med(s_ms):>6.1f} ms {med(s_cpu):>6.1f} ms   {med(m_ms):>6.1f} ms {med(m_cpu):>6.1f} ms")
PY
  kill "$wrk" 2>/dev/null; wait "$wrk" 2>/dev/null || true
}

echo
echo "$WORKERS workers under wrk -t1 -c$CONNS keep-alive; $RUNS status calls and scrapes; /proc read around each"
printf '%-28s %-10s %-8s %-8s %-20s %s\n' workers processes threads "= /proc" "status (master CPU)" "/metrics (master CPU)"
start "$WORKERS" "[\"$BUILD/worker/hello-worker\", \"--threads\", \"$THREADS\"]"
observe "hello-worker --threads $THREADS"
stop
if command -v go >/dev/null; then
  mkdir -p "$T/go"
  cat >"$T/go/main.go" <<'GO'
package main

import (
	"net"
	"net/http"
	"os"
)

// Serves the socket clusterd passes (LISTEN_FDS=1, fd 3) and says READY=1 on NOTIFY_SOCKET.
func main() {
	l, err := net.FileListener(os.NewFile(3, "http"))
	if err != nil {
		panic(err)
	}
	if addr := os.Getenv("NOTIFY_SOCKET"); addr != "" {
		if c, err := net.Dial("unixgram", addr); err == nil {
			c.Write([]byte("READY=1"))
			c.Close()
		}
	}
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) }))
}
GO
  (cd "$T/go" && GOCACHE=$T/go/cache GOPATH=$T/go/path go mod init seed >/dev/null 2>&1 &&
    GOCACHE=$T/go/cache GOPATH=$T/go/path go build -o "$T/go/server" . ) || { echo "go build failed"; exit 1; }
  start "$WORKERS" "[\"$T/go/server\"]"
  observe "Go net/http (GOMAXPROCS=$(nproc))"
  stop
else
  echo "(no Go row: golang-go is not installed)"
fi

# The seed's lesson: the worker count is the dial.
echo
N=$(nproc)
echo "hello-worker requests/s, wrk -t2 -c$CONNS keep-alive, ${DURATION}s x $RUNS interleaved runs"
configs=("1 1" "2 1" "$N 1" "1 $N" "4 1" "1 4")
declare -A seen=() results=()
order=()
for c in "${configs[@]}"; do [[ -n ${seen[$c]:-} ]] || { seen[$c]=1; order+=("$c"); }; done
for _ in $(seq "$RUNS"); do
  for c in "${order[@]}"; do
    read -r w th <<<"$c"
    start "$w" "[\"$BUILD/worker/hello-worker\", \"--threads\", \"$th\"]"
    rps=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print int($2)}')
    results[$c]="${results[$c]:-} $rps"
    stop
  done
done
printf '%-22s %-28s %s\n' "workers x threads" "requests/s median (runs)" "vs 1 x 1"
one=""
for c in "${order[@]}"; do
  read -r w th <<<"$c"
  # shellcheck disable=SC2086
  m=$(printf '%s\n' ${results[$c]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  [[ -n $one ]] || one=$m
  printf '%-22s %-28s %s\n' "$w x $th" "$m (${results[$c]# })" "$(awk -v a="$m" -v b="$one" 'BEGIN{printf "%.2f", a/b}')"
done
