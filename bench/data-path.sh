#!/usr/bin/env bash
# Benchmark: does clusterd cost anything on the data path? wrk (--latency, -t2) against
#   clusterd   hello-workers started by clusterd (listen mode shared or reuseport)
#   by hand    the same hello-worker binary, started by a small launcher (below) that binds the
#              same kind of sockets (one shared socket, or one SO_REUSEPORT socket per worker;
#              SO_REUSEADDR, backlog 4096, like clusterd) and execs each worker with LISTEN_FDS=1,
#              LISTEN_FDNAMES=http and LISTEN_PID set in the child before exec
#   nginx      nginx with `return 200 "hello\n";`, the same number of worker_processes,
#              access_log off (installed with apt-get when missing and running as root)
# for WORKERS (default 1 2) workers, keep-alive (-cCONNS) and connection-per-request
# (-H 'Connection: close', -cCONNS_CLOSE). RUNS runs of DURATION seconds each, interleaved
# (clusterd, by hand, nginx, clusterd, ...) so that drift of a shared machine hits all alike.
# Prints medians (min-max of requests/s), the median p50/p99 latency, and the ratios
# clusterd / by hand (1.00 = the same; the min-max columns show the noise) and hello / nginx.
# wrk and the servers share the machine's CPUs: requests/s is a floor, not a capacity.
#   bench/data-path.sh            (WORKERS="1 2", RUNS=3, DURATION=10, CONNS=64, CONNS_CLOSE=64)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORKERS=${WORKERS:-1 2}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
CONNS_CLOSE=${CONNS_CLOSE:-64}
snapshot_binaries
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk"; exit 1; }
NGINX=$(command -v nginx || true)
[[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
if [[ -z $NGINX ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing nginx-light (apt-get)..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1; } || true
    # the package starts a system nginx on port 80: not ours, leave it; we run our own instance
    NGINX=$(command -v nginx || true); [[ -z $NGINX && -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx
  fi
  [[ -n $NGINX ]] || echo "nginx not found and cannot install it (needs root and apt-get): nginx rows skipped"
fi
echo "machine: $(machine)"
echo "data path: wrk -t2 --latency, ${DURATION}s x $RUNS runs per row, keepalive -c$CONNS, close -c$CONNS_CLOSE"
[[ -n $NGINX ]] && echo "nginx: $($NGINX -v 2>&1)"

# The by-hand launcher: launch.py MODE N BINARY; prints the port, then waits; SIGTERM stops all.
cat >"$T/launch.py" <<'PY'
import ctypes, os, signal, socket, sys
mode, n, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def listener(port, reuseport):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    return s
socks = [listener(0, mode == "reuseport")]
port = socks[0].getsockname()[1]
if mode == "reuseport":
    socks += [listener(port, True) for _ in range(n - 1)]
libc = ctypes.CDLL(None, use_errno=True)
kids = []
for i in range(n):
    s = socks[i if mode == "reuseport" else 0]
    pid = os.fork()
    if pid == 0:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the launcher
        if s.fileno() != 3:
            os.dup2(s.fileno(), 3)
        os.set_inheritable(3, True)  # Python's sockets are close-on-exec
        os.closerange(4, 1024)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="http", LISTEN_PID=str(os.getpid()),
                   CLUSTER_WORKER_ID=str(i), CLUSTER_WORKERS=str(n))
        env.pop("NOTIFY_SOCKET", None)
        os.execve(binary, [binary], env)
    kids.append(pid)
for s in socks:
    s.close()
print(port, flush=True)
def stop(*_):
    for k in kids:
        try:
            os.kill(k, signal.SIGTERM)
        except ProcessLookupError:
            pass
signal.signal(signal.SIGTERM, stop)
for k in kids:
    while True:
        try:
            os.waitpid(k, 0)
            break
        except InterruptedError:
            continue
PY

SERVER=""
stop_server() {
  if [[ -n $SERVER ]]; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=""; fi
}
trap 'stop_server; bench_cleanup' EXIT
wait_http() {  # wait_http PORT: until GET / answers
  for _ in $(seq 200); do
    python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$1),1); s.sendall(b'GET /read HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n'); sys.exit(0 if s.recv(64).startswith(b'HTTP/1.1 200') else 1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server on port $1 does not answer" >&2; return 1
}
# start_clusterd MODE N -> SERVER, PORT
start_clusterd() {
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$BUILD/worker/hello-worker"]
    instances: $2
    ready: notify
    stop_timeout: 5s
    listen:
      http: { address: "127.0.0.1:0", mode: $1 }
YAML
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level info >"$T/log" 2>&1 &
  SERVER=$!
  PORT=""
  for _ in $(seq 200); do
    PORT=$(sed -n 's/.*http listening on 127.0.0.1 port \([0-9]*\).*/\1/p' "$T/log" | head -1)
    [[ -n $PORT ]] && "$BUILD/clusterctl" -s "$T/ctl.sock" status --json 2>/dev/null | grep -q "\"ready\": $2," && return 0
    sleep 0.05
  done
  echo "clusterd did not start: $(tail -3 "$T/log")" >&2; return 1
}
start_hand() {
  # The port goes to its own file: the workers' log lines share stderr and may come first.
  python3 "$T/launch.py" "$1" "$2" "$BUILD/worker/hello-worker" >"$T/hand.port" 2>"$T/hand.out" &
  SERVER=$!
  for _ in $(seq 200); do
    PORT=$(head -1 "$T/hand.port")
    [[ -n $PORT && $(grep -c serving "$T/hand.out") -ge $2 ]] && return 0
    sleep 0.05
  done
  echo "launcher did not start: $(tail -3 "$T/hand.out")" >&2; return 1
}
start_nginx() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$T/nginx"
  cat >"$T/nginx/nginx.conf" <<CONF
worker_processes $2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;   # hello-worker has no per-connection request limit either
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / { default_type text/plain; return 200 "hello\n"; }
  }
}
CONF
  "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off; master_process on;' >"$T/nginx/out" 2>&1 &
  SERVER=$!
  wait_http "$PORT"
}
# run_wrk CLIENTS -> "rps p50_us p99_us errors"
run_wrk() {
  local header=() conns=$CONNS
  if [[ $1 == close ]]; then header=(-H "Connection: close"); conns=$CONNS_CLOSE; fi
  wrk -t2 -c"$conns" -d"${DURATION}s" --latency "${header[@]}" "http://127.0.0.1:$PORT/read" >"$T/wrk" 2>&1
  awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    /Socket errors/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx/ { err += $5 }
    END { printf "%d %.0f %.0f %d\n", rps, p50, p99, err }' "$T/wrk"
}

declare -A R  # R[key] = "rps p50 p99 err" lines
setups=(clusterd-shared hand-shared clusterd-reuseport hand-reuseport)
[[ -n $NGINX ]] && setups+=(nginx)
for n in $WORKERS; do
  for _ in $(seq "$RUNS"); do
    for setup in "${setups[@]}"; do
      case $setup in
        clusterd-*) start_clusterd "${setup#clusterd-}" "$n" ;;
        hand-*) start_hand "${setup#hand-}" "$n" ;;
        nginx) start_nginx x "$n" ;;
      esac
      wait_http "$PORT"
      for clients in keepalive close; do
        R[$n/$clients/$setup]+="$(run_wrk "$clients")"$'\n'
      done
      stop_server
    done
  done
done

summary() {  # summary KEY -> "median_rps min max p50 p99 err_total"
  printf '%s' "${R[$1]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
c = list(zip(*rows))
print(int(statistics.median(c[0])), int(min(c[0])), int(max(c[0])),
      statistics.median(c[1]), statistics.median(c[2]), int(sum(c[3])))'
}
lat() { awk -v u="$1" 'BEGIN{ if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.0f us", u }'; }
printf '%-8s %-10s %-20s %-26s %-10s %-10s %-7s\n' workers clients server "requests/s (min-max)" p50 p99 errors
for n in $WORKERS; do
  for clients in keepalive close; do
    for setup in "${setups[@]}"; do
      read -r med lo hi p50 p99 err < <(summary "$n/$clients/$setup")
      label=$setup; [[ $setup == nginx ]] && label="nginx (shared)"
      label=${label/hand-/by hand, }; label=${label/clusterd-/clusterd, }
      printf '%-8s %-10s %-20s %-26s %-10s %-10s %-7s\n' "$n" "$clients" "$label" "$med ($lo-$hi)" \
        "$(lat "$p50")" "$(lat "$p99")" "$err"
    done
  done
done
echo
printf '%-8s %-10s %-32s %-32s %-20s\n' workers clients "clusterd/by hand, shared" "clusterd/by hand, reuseport" "hello (by hand, shared)/nginx"
for n in $WORKERS; do
  for clients in keepalive close; do
    ratio() {  # ratio KEY_A KEY_B: median ratio and the range min(A)/max(B)..max(A)/min(B)
      read -r a alo ahi _ < <(summary "$1"); read -r b blo bhi _ < <(summary "$2")
      awk -v a="$a" -v b="$b" -v al="$alo" -v ah="$ahi" -v bl="$blo" -v bh="$bhi" \
        'BEGIN{ if (b > 0 && bh > 0 && bl > 0) printf "%.2f (%.2f-%.2f)", a / b, al / bh, ah / bl; else print "-" }'
    }
    ng="-"; [[ -n $NGINX ]] && ng=$(ratio "$n/$clients/hand-shared" "$n/$clients/nginx")
    printf '%-8s %-10s %-32s %-32s %-20s\n' "$n" "$clients" \
      "$(ratio "$n/$clients/clusterd-shared" "$n/$clients/hand-shared")" \
      "$(ratio "$n/$clients/clusterd-reuseport" "$n/$clients/hand-reuseport")" "$ng"
  done
done
echo "ratios of median requests/s; in brackets the widest range the run-to-run spread allows"
