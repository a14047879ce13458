# Shared helpers for the end-to-end tests: each test sources this file, writes a YAML config into
# its own temporary directory, starts the real clusterd with real workers on loopback, and asserts.
# Every process a test starts is killed by pid on exit; ports are ephemeral.
set -euo pipefail

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
CLUSTERD=$BUILD_DIR/clusterd
HELLO=$BUILD_DIR/worker/hello-worker
CLUSTERCTL=$BUILD_DIR/clusterctl
HTTP="python3 $SOURCE_DIR/tests/e2e/lib/http.py"
T=$(mktemp -d /tmp/clusterd-e2e.XXXXXX)
# Every wait is for a condition, bounded only so that a broken build fails instead of hanging:
# the bound is far above what any machine of this kind needs, and no test asserts a duration.
WAIT_BOUND=${CLUSTERD_WAIT_BOUND:-60}
DAEMON=""
DAEMONS=()  # every master start_daemon started
EXTRA_PIDS=()
CGROUPS=()  # cgroup directories a test made: removed (depth first) once its processes are gone
export CLUSTERD_SOCKET=$T/ctl.sock

cleanup() {
  local rc=$?
  if [[ -n $DAEMON ]] && kill -0 "$DAEMON" 2>/dev/null; then
    local workers
    workers=$(worker_pids || true)
    kill -TERM "$DAEMON" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$DAEMON" 2>/dev/null || true
    wait "$DAEMON" 2>/dev/null || true
    for p in $workers; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  for p in "${EXTRA_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for cg in "${CGROUPS[@]}"; do
    [[ -d $cg ]] || continue
    [[ -e $cg/cgroup.kill ]] && find "$cg" -name cgroup.kill -exec sh -c 'echo 1 >"$1"' _ {} \; 2>/dev/null
    for _ in $(seq 50); do find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null && break; sleep 0.1; done
  done
  if [[ $rc -ne 0 && $rc -ne 77 && -f $T/clusterd.log ]]; then
    echo "---- clusterd log (last 60 lines) ----"
    tail -n 60 "$T/clusterd.log"
  fi
  # E2E_KEEP=DIR keeps a failed test's directory (config, logs, worker files) for a post-mortem.
  if [[ $rc -ne 0 && $rc -ne 77 && -n ${E2E_KEEP:-} ]]; then
    cp -r "$T" "$E2E_KEEP/$(basename "$0" .sh).$$" 2>/dev/null || true
  fi
  # A master killed before it could remove its notify directory (in the runtime directory, or in
  # /dev/shm when that is not tmpfs) leaves it named after its pid: remove those of ours.
  for p in "${DAEMONS[@]}" $DAEMON; do
    kill -0 "$p" 2>/dev/null || rm -rf /dev/shm/notify."$p".??????
  done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
pass() { echo "PASS: $*"; }

# free_port: a port that was free a moment ago (bound to 0 and released).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# free_ports N: the first of N consecutive ports that were all free a moment ago.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
n = int(sys.argv[1])
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
    if base + n > 65535: continue
    held = []
    try:
        for p in range(base, base + n):
            t = socket.socket(); t.bind(("127.0.0.1", p)); held.append(t)
        print(base); break
    except OSError: pass
    finally:
        for t in held: t.close()
PY
}

# wait_for DESCRIPTION COMMAND...: polls COMMAND every 20 ms until it succeeds (at most
# WAIT_BOUND seconds).
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
wait_for() {
  local what=$1; shift
  local deadline=$(( $(now_ms) + WAIT_BOUND * 1000 ))
  until "$@" >/dev/null 2>&1; do
    (( $(now_ms) < deadline )) || fail "nothing after ${WAIT_BOUND}s waiting for: $what"
    sleep 0.02
  done
}

# start_daemon CONFIG [ARGS...]: runs clusterd in the background, logging to $T/clusterd.log.
start_daemon() {
  local config=$1; shift
  "$CLUSTERD" -c "$config" --log-level debug "$@" >"$T/clusterd.log" 2>&1 &
  DAEMON=$!
  DAEMONS+=("$DAEMON")
}

# reachable_binaries: copies clusterd, clusterctl and hello-worker into $T/bin and lets other
# users through $T, for a test that runs them as another uid: the checkout may be in a directory
# only root may enter (root's home is 0700 on Debian). Call it before writing the config.
reachable_binaries() {
  mkdir -p "$T/bin"
  cp "$CLUSTERD" "$CLUSTERCTL" "$HELLO" "$T/bin/"
  chmod 0711 "$T"
  chmod 0755 "$T/bin"
  CLUSTERD=$T/bin/clusterd
  CLUSTERCTL=$T/bin/clusterctl
  HELLO=$T/bin/hello-worker
}

# worker_pids: the daemon's direct children (its workers), one per line.
worker_pids() {
  [[ -r /proc/$DAEMON/task/$DAEMON/children ]] || return 0
  tr ' ' '\n' <"/proc/$DAEMON/task/$DAEMON/children" | grep -v '^$' || true
}
worker_count() { worker_pids | wc -l; }
has_workers() { [[ $(worker_count) -eq $1 ]]; }

# log_has PATTERN: the daemon's log contains the (extended regex) PATTERN.
log_has() { grep -Eq -- "$1" "$T/clusterd.log"; }
log_count() { grep -Ec -- "$1" "$T/clusterd.log" || true; }

# alive PID: the process exists and is not a zombie.
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
none_alive() { for p in "$@"; do alive "$p" && return 1; done; return 0; }

# log_ready N: at least N workers reported ready since the daemon started.
log_ready() { [[ $(log_count '-> running: READY=1') -ge $1 ]]; }

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# fd_count PID / rss_kb PID
fd_count() { ls "/proc/$1/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# status_ms: wall time of one `clusterctl status --json`, in ms (fails if it fails).
status_ms() {
  local t0 t1
  t0=$(now_ms); "$CLUSTERCTL" --timeout 5 status --json >/dev/null || return 1; t1=$(now_ms)
  echo $((t1 - t0))
}

# web_config INSTANCES MODE: the common config: app `web`, hello-worker, ready: notify, one
# listener `http` on 127.0.0.1:$PORT in MODE.
web_config() {
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: $1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: $2 }
YAML
}

# cgroup_parent: sets PARENT to a fresh cgroup v2 directory for this test (removed at exit) and
# CGROUP_MOUNT to the hierarchy's mount, or skips the test without root or a writable one.
cgroup_parent() {
  [[ $(id -u) -eq 0 ]] || skip "needs root to make cgroups"
  CGROUP_MOUNT=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
  [[ -n $CGROUP_MOUNT && -w $CGROUP_MOUNT ]] || skip "no writable cgroup v2 hierarchy"
  PARENT=$CGROUP_MOUNT/clusterd-e2e-$$-${RANDOM}
  CGROUPS+=("$PARENT")
}
