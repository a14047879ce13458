# Sourced by the bench/ scripts: the paths, a temp dir removed on exit together with the daemon
# the script started (set DAEMON to its pid), a snapshot of the binaries, and the machine line
# every table starts with.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
# BENCH_TMP: where the sockets and files go (default /tmp; the workers' notify sockets go there
# too when it is tmpfs, else to /dev/shm: docs/reliability.md, "the directory")
T=$(mktemp -d "${BENCH_TMP:-/tmp}/clusterd-bench.XXXXXX")
DAEMON=""
bench_cleanup() {
  if [[ -n $DAEMON ]]; then kill -TERM "$DAEMON" 2>/dev/null || true; wait "$DAEMON" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap bench_cleanup EXIT

# Copies the binaries into $T/bin and points BUILD there: a rebuild of build/ during the run
# cannot break it.
snapshot_binaries() {
  mkdir -p "$T/bin/worker"
  cp "$BUILD/clusterd" "$BUILD/clusterctl" "$T/bin/" && cp "$BUILD/worker/hello-worker" "$T/bin/worker/"
  BUILD=$T/bin
}

# "2 CPUs, Linux 6.18.44, AMD EPYC"
machine() {
  echo "$(nproc) CPUs, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}

# idle_config FILE N SOCKET [CGROUPS]: app `idle`, N `sleep` workers (no listener), the control
# socket at SOCKET, and `cgroups: CGROUPS` when given.
idle_config() {
  {
    echo "control: { socket: \"$3\" }"
    if [[ -n ${4:-} ]]; then echo "cgroups: $4"; fi
    cat <<YAML
apps:
  idle:
    command: ["sleep", "3600"]
    instances: $2
    stop_timeout: 5s
YAML
  } >"$1"
}

# port: a port of 127.0.0.1 nobody listens on right now.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk_errors WRK_OUTPUT: failed requests (socket errors + non-2xx); wrk_rate WRK_OUTPUT: requests/s.
wrk_errors() {
  awk '/Socket errors/ {gsub(",",""); n += $4 + $6 + $8 + $10} /Non-2xx/ {n += $5} END {print n + 0}' "$1"
}
wrk_rate() { awk '/Requests\/sec/ {print int($2)}' "$1"; }

# median_range N...: "median (min-max)" of the numbers.
median_range() {
  python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")' "$@"
}

# fd3_against_adopted TITLE COLUMN: RUNS pairs of the caller's `run fd3` and `run adopted` (each
# prints one number), alternating so that drift hits both; prints the machine, TITLE, the
# medians (min-max) under COLUMN and each pair's ratio adopted / fd 3.
fd3_against_adopted() {
  local title=$1 column=$2 a b fd3=() adopted=() ratios=()
  for _ in $(seq "$RUNS"); do
    a=$(run fd3); b=$(run adopted)
    fd3+=("$a"); adopted+=("$b")
    ratios+=("$(python3 -c "print(f'{$b / $a:.3f}')")")
  done
  echo "machine: $(machine); node $(node --version)"
  echo "$title"
  printf '%-10s %-26s\n' socket "$column"
  printf '%-10s %-26s\n' "fd 3" "$(median_range "${fd3[@]}")"
  printf '%-10s %-26s\n' adopted "$(median_range "${adopted[@]}")"
  echo "adopted / fd 3 per run: ${ratios[*]}; median $(median_range "${ratios[@]}")"
}
