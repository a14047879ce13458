#!/usr/bin/env bash
# systemd-e2e.sh: clusterd under a REAL systemd 252, booted as PID 1 of a systemd-nspawn
# container, on a host whose own PID 1 is not systemd (Debian 12, root).
#
# The container boots the host's own /usr read-only on a tmpfs root (nspawn --directory=/
# --volatile=yes: no download of a root file system, ~2 s to boot), so the built binaries find
# the host's shared libraries. Inside it:
#   /opt/clusterd          BUILD_DIR, read-only (clusterd, clusterctl, worker/hello-worker)
#   /usr/local/bin         clusterd and clusterctl (symlinks into /opt/clusterd), so the unit
#                          files run VERBATIM from SOURCE_DIR/systemd
#   /etc/systemd/system    copies of clusterd.service, clusterd.socket, clusterd@.service
#   /etc/clusterd          clusterd.yaml: app web, 2 hello-workers, listener http on
#                          127.0.0.1:8080 (the port of the shipped clusterd.socket), reuseport
#   /opt/clusterd-tests    SOURCE_DIR/tests, read-only (client.py)
# The container has its own network namespace (loopback only): every request is made inside it.
#
# Checks (one PASS/FAIL line each): a. systemd-analyze verify, b. socket activation, c. reload
# under load, d. a refused reload, e. stop, f. WatchdogSec on a SIGSTOPped master, g. kill -9 of
# the master with the fd store, h. journald priorities, i. systemd-analyze security of the shipped
# unit, j. a user: worker on a privileged port and a unix socket inside its sandbox
# (hardening-checks.sh), k. journal mode: a worker's line found by CLUSTERD_WORKER= with the
# worker's own _PID (logs-checks.sh), l. a live upgrade of the master (clusterctl upgrade): same
# MainPID, NRestarts, workers, cgroup tree and fd store.
#
# Usage (root): BUILD_DIR=/work/main/build SOURCE_DIR=/work/main bash tests/systemd/systemd-e2e.sh
# Exit: 0 all passed, 1 a check failed, 77 this machine cannot run it (not root, no systemd,
# no systemd-nspawn obtainable). systemd-nspawn is not installed (that would upgrade the host's
# systemd in lock-step): its .debs are downloaded once and extracted under $CACHE.
# Knobs: CACHE (/var/tmp/clusterd-systemd-e2e); DEADLINE_S (180: then the run stops; with the
# command in progress, <= 60 s, and the cleanup, <= 30 s, it stays under CTest's 300 s);
# ONLY="b c" (a subset of the checks: b starts the socket, the others start the service if it is
# not running, h needs d's refused reload); KEEP=1 (leave the container running, for debugging).
# A normal run takes about 30 s (the nspawn download adds 2 s once).
set -uo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
CACHE=${CACHE:-/var/tmp/clusterd-systemd-e2e}
DEADLINE_S=${DEADLINE_S:-180}
PORT=8080                      # the shipped clusterd.socket's; the container has its own loopback
CTL=/run/clusterd/control.sock
UNIT=clusterd.service

now_us() { echo "${EPOCHREALTIME/./}"; }
since() { local d=$(( $(now_us) - $1 )); printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000)); }  # seconds
t0=$(now_us)
say() { printf '[%7ss] %s\n' "$(since "$t0")" "$*"; }
skip() { echo "SKIP: $*"; exit 77; }
PASSED=0 FAILED=0 FAILED_NAMES=""
pass() { PASSED=$((PASSED + 1)); say "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=" ${CHECK:-?}"; say "FAIL: $*"; }

# ------------------------------------------------------------------ can this machine run it?
[[ $(id -u) -eq 0 ]] || skip "needs root (systemd-nspawn)"
[[ -x /lib/systemd/systemd ]] || skip "systemd is not installed on the host (its /usr is booted)"
[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 is missing (the in-container clients need it)"
for tool in nsenter unshare timeout flock ps; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done
BUILD_DIR=$(cd "$BUILD_DIR" && pwd) || { echo "FAIL: no BUILD_DIR"; exit 1; }
SOURCE_DIR=$(cd "$SOURCE_DIR" && pwd) || { echo "FAIL: no SOURCE_DIR"; exit 1; }
for f in clusterd clusterctl worker/hello-worker; do
  [[ -x $BUILD_DIR/$f ]] || { echo "FAIL: $BUILD_DIR/$f is not built"; exit 1; }
done
for f in clusterd.service clusterd.socket clusterd@.service; do
  [[ -f $SOURCE_DIR/systemd/$f ]] || { echo "FAIL: $SOURCE_DIR/systemd/$f is missing"; exit 1; }
done

mkdir -p "$CACHE"
STAGE=$(mktemp -d "$CACHE/run.XXXXXX")
MACHINE=clusterd-e2e-$$
NSPAWN_PID="" LEADER="" CG_DIRS="" WATCHDOG_PID=""

# ------------------------------------------------------------------ teardown (every exit path)
waitgone() { local i; for ((i = 0; i < $1 * 5; i++)); do kill -0 "$NSPAWN_PID" 2>/dev/null || return 0; sleep 0.2; done; return 1; }
find_leader() { { ps -o pid=,comm= --ppid "$NSPAWN_PID" 2>/dev/null || true; } | awk '$2=="systemd"{print $1; exit}'; }
shutdown_container() {
  [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null || return 0
  [[ -n $LEADER ]] || LEADER=$(find_leader)
  # Never SIGKILL nspawn alone: the container's systemd would be orphaned. poweroff; else nspawn's
  # SIGTERM (clean halt), a second one (immediate); last, SIGKILL the container's PID 1.
  if [[ -n $LEADER ]]; then
    timeout 10 nsenter --target "$LEADER" --mount --pid -- /usr/bin/systemctl poweroff --no-block >/dev/null 2>&1 \
      || kill -TERM "$NSPAWN_PID" 2>/dev/null
  else
    kill -TERM "$NSPAWN_PID" 2>/dev/null
  fi
  waitgone 15 || { kill -TERM "$NSPAWN_PID" 2>/dev/null; waitgone 5; } || {
    say "forcing the container down"
    [[ -n $LEADER ]] || LEADER=$(find_leader)
    [[ -n $LEADER ]] && kill -KILL "$LEADER" 2>/dev/null
    waitgone 5 || kill -KILL "$NSPAWN_PID" 2>/dev/null; }
  wait "$NSPAWN_PID" 2>/dev/null
  say "container stopped"
}
cleanup() {
  local rc=$?
  trap - EXIT TERM INT
  [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null && wait "$WATCHDOG_PID" 2>/dev/null
  if [[ ${KEEP:-0} == 1 && -n $LEADER ]]; then
    say "KEEP=1: nsenter --target $LEADER -a; stop it with systemctl poweroff inside, then rmdir$CG_DIRS and rm -r $STAGE"
    exit $rc
  fi
  if (( rc != 0 && rc != 77 )) && [[ -n $LEADER ]] && kill -0 "$LEADER" 2>/dev/null; then
    echo "---- journal of $UNIT (last 60 lines) ----"
    IN journalctl -u $UNIT --no-pager -n 60 -o short-monotonic 2>&1 || true
  fi
  shutdown_container
  local d
  for d in $CG_DIRS; do [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
  for d in $CG_DIRS; do [[ -d $d ]] && say "WARNING: cgroup $d left behind"; done
  if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    say "WARNING: nspawn $NSPAWN_PID still runs; leaving $STAGE"
  else
    rm -rf "$STAGE"
  fi
  say "done in $(since "$t0") s"
  exit $rc
}
trap cleanup EXIT
trap 'say "FAIL: interrupted (deadline of ${DEADLINE_S}s or a signal)"; exit 1' TERM INT
# The whole run is bounded: past DEADLINE_S, TERM ourselves (the trap runs once the current
# command, itself bounded by timeout(1), returns), so CTest never has to SIGKILL a live container.
# (the sleep is killed with it, and holds no pipe of ours: CTest waits for its output to close)
( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep "$DEADLINE_S" & s=$!; wait $s && kill -TERM $$ ) \
  </dev/null >/dev/null 2>&1 &
WATCHDOG_PID=$!

# ------------------------------------------------------------------ systemd-nspawn (cached)
setup_nspawn() {
  if command -v systemd-nspawn >/dev/null; then NSPAWN=(systemd-nspawn); return 0; fi
  local d=$CACHE/nspawn
  (
    flock 9
    [[ -x $d/usr/bin/systemd-nspawn ]] && exit 0
    say "downloading systemd-container + libsystemd-shared (extracted under $d, not installed)"
    rm -rf "$CACHE/debs" "$d.tmp" && mkdir -p "$CACHE/debs" || exit 1
    dl() { (cd "$CACHE/debs" && timeout 60 apt-get -q -o APT::Sandbox::User=root download systemd-container libsystemd-shared) >/dev/null 2>&1; }
    dl || { timeout 60 apt-get -q update >/dev/null 2>&1; dl; } || exit 1
    for f in "$CACHE"/debs/*.deb; do dpkg-deb -x "$f" "$d.tmp" || exit 1; done
    mv "$d.tmp" "$d"
  ) 9>"$CACHE/.lock" || return 1
  NSPAWN=(env "LD_LIBRARY_PATH=$d/usr/lib/x86_64-linux-gnu/systemd" "$d/usr/bin/systemd-nspawn")
  "${NSPAWN[@]}" --version >/dev/null 2>&1
}
setup_nspawn || skip "systemd-nspawn is not installed and could not be downloaded (apt-get download systemd-container)"
say "$("${NSPAWN[@]}" --version | head -1)"

# ------------------------------------------------------------------ what goes into the container
mkdir -p "$STAGE/bin" "$STAGE/units" "$STAGE/etc-clusterd" "$STAGE/preset"
# The empty /etc makes this a first boot, when systemd enables every unit its presets allow
# (Debian: all), clusterd.socket and clusterd.service included: they would start at boot, before
# any check. Nothing is enabled here; the checks start what they test.
echo 'disable *' >"$STAGE/preset/00-clusterd-e2e.preset"
ln -s /opt/clusterd/clusterd "$STAGE/bin/clusterd"
ln -s /opt/clusterd/clusterctl "$STAGE/bin/clusterctl"
cp "$SOURCE_DIR"/systemd/{clusterd.service,clusterd.socket,clusterd@.service} "$STAGE/units/"
# A sanitizer build: LeakSanitizer stops the world with ptrace, which the unit's system call
# filter (@system-service) refuses, so it would end every run with a fatal error. AddressSanitizer
# and UBSan still check everything; only the leak check is off, in this test only.
if [[ -n ${CLUSTERD_SANITIZED:-} ]]; then
  mkdir -p "$STAGE/units/$UNIT.d"
  printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$STAGE/units/$UNIT.d/sanitizer.conf"
fi
grep -q "^ListenStream=127.0.0.1:$PORT$" "$STAGE/units/clusterd.socket" ||
  sed -i "s/^ListenStream=.*/ListenStream=127.0.0.1:$PORT/" "$STAGE/units/clusterd.socket"
write_config() {  # write_config MARK: the config, with GENERATION_MARK=MARK (a change rolls web)
  cat >"$STAGE/etc-clusterd/clusterd.yaml.new" <<YAML
apps:
  web:
    command: ["/opt/clusterd/worker/hello-worker"]
    instances: 2
    ready: notify
    ready_timeout: 10s
    stop_timeout: 5s
    env: { GENERATION_MARK: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
  mv "$STAGE/etc-clusterd/clusterd.yaml.new" "$STAGE/etc-clusterd/clusterd.yaml"
}
write_config 0
cp "$STAGE/etc-clusterd/clusterd.yaml" "$STAGE/etc-clusterd/demo.yaml"

# ------------------------------------------------------------------ boot
# Own cgroups (hybrid hosts: name=systemd v1 + cgroup2 'unified'): nspawn --keep-unit leaves
# payload/ and supervisor/ cgroups behind; under e2e-<pid>/ they are removed at the end. A private
# mount namespace with a tmpfs on /run/systemd: on a host whose /run is on disk nspawn would leave
# /run/systemd/nspawn{,-root} behind.
[[ -d /run/systemd ]] || mkdir -p /run/systemd
if [[ -d /sys/fs/cgroup/systemd ]]; then
  for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [[ -e $h/cgroup.procs ]] && mkdir -p "$h/e2e-$$" && CG_DIRS="$CG_DIRS $h/e2e-$$"
  done
fi
say "booting systemd in nspawn (host /usr, tmpfs root)"
CG_DIRS="$CG_DIRS" unshare --mount --propagation private sh -c '
    for d in $CG_DIRS; do echo $$ > "$d/cgroup.procs"; done
    mount -t tmpfs -o mode=755 e2e-run /run/systemd && exec "$@"' sh \
  "${NSPAWN[@]}" --quiet --register=no --keep-unit --private-network --machine="$MACHINE" \
  --console=pipe --directory=/ --volatile=yes \
  --bind-ro="$BUILD_DIR:/opt/clusterd" --bind-ro="$SOURCE_DIR/tests:/opt/clusterd-tests" \
  --bind-ro="$STAGE/bin:/usr/local/bin" --bind="$STAGE/units:/etc/systemd/system" \
  --bind="$STAGE/etc-clusterd:/etc/clusterd" --bind-ro="$STAGE/preset:/etc/systemd/system-preset" \
  -b -- systemd.mask=systemd-firstboot.service </dev/null >"$STAGE/nspawn.log" 2>&1 &
NSPAWN_PID=$!   # unshare and sh exec: this is nspawn

IN() {  # IN CMD...: run CMD inside the container (at most 60 s, or $IN_TIMEOUT)
  timeout -k 5 "${IN_TIMEOUT:-60}" nsenter --target "$LEADER" --mount --uts --ipc --net --pid --cgroup -- \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb SYSTEMD_PAGER= \
    SYSTEMD_COLORS=0 "$@"
}
boot_deadline=$(( $(date +%s) + 60 ))
while [[ -z $LEADER ]]; do
  kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$STAGE/nspawn.log"; echo "FAIL: nspawn exited"; exit 1; }
  (( $(date +%s) < boot_deadline )) || { echo "FAIL: no container init after 60 s"; exit 1; }
  LEADER=$(find_leader); sleep 0.1
done
while :; do
  st=$(IN systemctl is-system-running 2>/dev/null)
  case $st in running | degraded) break ;; esac
  (( $(date +%s) < boot_deadline )) || { echo "FAIL: boot timed out (state '$st')"; cat "$STAGE/nspawn.log"; exit 1; }
  sleep 0.2
done
say "container booted: '$st' (its PID 1 is host pid $LEADER)"
[[ $st == running ]] || IN systemctl --failed --no-pager

# ------------------------------------------------------------------ helpers
prop() { IN systemctl show -p "$1" --value $UNIT; }
# wait_prop PROP REGEX TIMEOUT_S: polls every 0.1 s; true once it matches. VALUE has the last value.
wait_prop() {
  local deadline=$(( $(date +%s%N) / 1000000 + $3 * 1000 ))
  while :; do
    VALUE=$(prop "$1")
    [[ $VALUE =~ $2 ]] && return 0
    (( $(date +%s%N) / 1000000 < deadline )) || return 1
    sleep 0.1
  done
}
worker_pids() { IN clusterctl -s $CTL status --json 2>/dev/null | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" pids 2>/dev/null; }
http_get() { IN python3 /opt/clusterd-tests/systemd/client.py get $PORT "${1:-10}"; }
journal_count() { IN journalctl -u $UNIT --no-pager -o cat 2>/dev/null | grep -Ec -- "$1"; }
# journal_has REGEX: true once a line of the unit's journal matches (journald may write a line a
# moment after the event: wait for it, up to 30 s).
journal_has() {
  local deadline=$(( $(date +%s) + 30 ))
  until (( $(journal_count "$1") > 0 )); do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.2
  done
}
# up: the service is active, its StatusText says both workers are ready, and it serves.
up() {
  wait_prop ActiveState '^active$' "${1:-20}" || { echo "ActiveState=$VALUE SubState=$(prop SubState) Result=$(prop Result)"; return 1; }
  wait_prop StatusText 'web 2/2 ready' 10 || { echo "StatusText='$VALUE'"; return 1; }
  http_get 10 >/dev/null || { echo "GET /read failed"; return 1; }
}
# ensure_up: for a check that needs a running service whatever the previous check left behind.
# After two starts that failed, the rest fail at once instead of waiting 20 s each.
START_FAILURES=0
ensure_up() {
  [[ $(prop ActiveState) == active ]] && return 0
  (( START_FAILURES < 2 )) || return 1
  IN systemctl reset-failed $UNIT >/dev/null 2>&1
  IN_TIMEOUT=30 IN systemctl start --no-block $UNIT >/dev/null 2>&1
  up 20 >/dev/null && return 0
  START_FAILURES=$((START_FAILURES + 1))
  IN_TIMEOUT=45 IN systemctl stop $UNIT >/dev/null 2>&1
  return 1
}
same_words() { [[ $(tr ' ' '\n' <<<"$1" | sort | xargs) == $(tr ' ' '\n' <<<"$2" | sort | xargs) ]]; }
none_shared() { local p; for p in $1; do grep -qw "$p" <<<"$2" && return 1; done; return 0; }

# ------------------------------------------------------------------ a. systemd-analyze verify
check_a() {
  CHECK=a
  out=$(IN systemd-analyze verify /etc/systemd/system/clusterd.service /etc/systemd/system/clusterd.socket \
        /etc/systemd/system/clusterd@demo.service 2>&1)
  rc=$?
  if [[ $rc -eq 0 && -z $out ]]; then
    pass "a. systemd-analyze verify clusterd.service clusterd.socket clusterd@demo.service: no error, no warning"
  elif [[ $rc -eq 0 ]]; then
    pass "a. systemd-analyze verify passes (with warnings: $(tr '\n' ' ' <<<"$out"))"
  else
    fail "a. systemd-analyze verify exited $rc: $out"
  fi
}

# ------------------------------------------------------------------ b. socket activation
check_b() {
  CHECK=b
  IN systemctl start clusterd.socket
  if ! wait_prop SubState '^dead$' 1; then
    fail "b. before any connection $UNIT is already $(prop ActiveState)"
  elif [[ $(IN systemctl show -p SubState --value clusterd.socket) != listening ]]; then
    fail "b. clusterd.socket is not listening: $(IN systemctl status --no-pager clusterd.socket 2>&1 | head -5)"
  else
    t=$(now_us)
    if worker=$(http_get 30); then
      took=$(since "$t")
      local listening
      listening=$(IN ss -Hltn "sport = :$PORT" | wc -l)
      if ! why=$(up 5); then
        fail "b. activated and answered, but: $why"
      elif ! journal_has "listener http.*'http'"; then
        fail "b. the journal does not say listener http took the socket passed as 'http'"
      elif (( listening != 2 )); then
        fail "b. $listening sockets listen on port $PORT, expected 2 (the .socket's for slot 0, slot 1's beside it)"
      else
        pass "b. the first connection activated $UNIT and got a 200 from worker $worker after $took s; listener http took the passed 'http' socket, slot 1 listens beside it; $(IN systemctl show -p ActiveState,SubState,StatusText $UNIT | xargs)"
      fi
    else
      fail "b. the first connection got no 200 within 30 s; $(IN systemctl show -p ActiveState,SubState,Result,StatusText $UNIT | xargs)"
    fi
  fi
}

# ------------------------------------------------------------------ c. reload under load
check_c() {
  CHECK=c
  if ! ensure_up; then
    fail "c. $UNIT does not run: $(IN systemctl show -p ActiveState,SubState,Result,StatusText $UNIT | xargs)"
    return
  fi
  local before after took reload_rc load_rc poller load end_state end_status states notes problems="" skip_lines
  before=$(worker_pids)
  write_config 1
  # PID 1 at debug level logs every notification ("Got notification message from PID N
  # (RELOADING=1, ...)") and state change: the proof of the protocol, however fast the reload.
  IN systemd-analyze log-level debug
  skip_lines=$(IN journalctl -u $UNIT --no-pager -o cat | wc -l)
  rm -f "$STAGE/units/stop-poll"
  # Polls ActiveState and StatusText as fast as systemctl answers, until told to stop (<= 30 s).
  IN bash -c 'end=$((SECONDS + 30)); while ((SECONDS < end)) && [[ ! -e /etc/systemd/system/stop-poll ]]; do
                systemctl show -p ActiveState,StatusText clusterd.service | paste -sd" "; done' >"$STAGE/states" 2>&1 &
  poller=$!
  IN python3 /opt/clusterd-tests/systemd/client.py stream $PORT 6 200 >"$STAGE/load-c" 2>&1 &
  load=$!
  sleep 1.5
  local t=$(now_us)
  IN_TIMEOUT=45 IN systemctl reload $UNIT >"$STAGE/reload-c" 2>&1
  reload_rc=$?
  took=$(since "$t")
  wait $load; load_rc=$?
  sleep 0.3; touch "$STAGE/units/stop-poll"; wait $poller; rm -f "$STAGE/units/stop-poll"
  wait_prop ActiveState '^active$' 10; end_state=$VALUE
  wait_prop StatusText 'web 2/2 ready' 10; end_status=$VALUE
  after=$(worker_pids)
  IN systemd-analyze log-level info
  IN journalctl -u $UNIT --no-pager -o cat | tail -n +$((skip_lines + 1)) >"$STAGE/journal-c"
  states=$(grep -o 'ActiveState=[a-z]*' "$STAGE/states" | sort -u | xargs)
  # The master's notifications during the reload, in order: RELOADING=1 with MONOTONIC_USEC=,
  # then READY=1.
  notes=$(grep -o 'Got notification message from PID [0-9]* (.*)' "$STAGE/journal-c" | grep -v 'WATCHDOG=1)$' |
          sed 's/Got notification message from //; s/MONOTONIC_USEC=[0-9]*/MONOTONIC_USEC=N/' | paste -sd'|')
  [[ $reload_rc -eq 0 ]] || problems+="; systemctl reload exited $reload_rc: $(cat "$STAGE/reload-c")"
  [[ $load_rc -eq 0 ]] || problems+="; failed requests: $(cat "$STAGE/load-c")"
  [[ $(wc -w <<<"$after") -eq 2 ]] && none_shared "$before" "$after" || problems+="; workers $before -> $after (want 2, all new)"
  grep -q 'ActiveState=reloading' "$STAGE/states" || grep -q 'Changed running -> reload' "$STAGE/journal-c" ||
    problems+="; ActiveState never 'reloading' (polled: $states)"
  [[ $notes =~ RELOADING=1.*MONOTONIC_USEC=N.*STATUS=reloading.*READY=1 ]] ||
    problems+="; notifications were not RELOADING=1+MONOTONIC_USEC+STATUS=reloading..., then READY=1: '$notes'"
  [[ $end_state == active ]] || problems+="; ends $end_state"
  [[ $end_status == *"web 2/2 ready"* ]] || problems+="; ends with StatusText '$end_status'"
  if [[ -z $problems ]]; then
    pass "c. systemctl reload took $took s under load: workers $before -> $after; polled $states; notifications: $notes; load: $(head -c 110 "$STAGE/load-c")"
  else
    fail "c. reload${problems}"
  fi
}

# ------------------------------------------------------------------ d. a refused reload
check_d() {
  CHECK=d
  if ! ensure_up; then
    fail "d. $UNIT does not run"
  else
    before=$(worker_pids)
    cp "$STAGE/etc-clusterd/clusterd.yaml" "$STAGE/good.yaml"
    printf 'apps:\n  web: [unclosed\n    command: {\n' >"$STAGE/etc-clusterd/clusterd.yaml"
    IN_TIMEOUT=30 IN systemctl reload $UNIT >"$STAGE/reload-d" 2>&1
    reload_rc=$?
    wait_prop ActiveState '^active$' 10; state=$VALUE
    problems=""
    [[ $reload_rc -ne 0 ]] || problems+="; systemctl reload exited 0"
    [[ $state == active ]] || problems+="; the service is $state"
    http_get 10 >/dev/null || problems+="; GET /read failed afterwards"
    same_words "$before" "$(worker_pids)" || problems+="; workers changed: $before -> $(worker_pids)"
    mv "$STAGE/good.yaml" "$STAGE/etc-clusterd/clusterd.yaml"
    if [[ -z $problems ]]; then
      pass "d. invalid YAML: systemctl reload exited $reload_rc ($(head -1 "$STAGE/reload-d")), still active, same workers, still serving"
    else
      fail "d. refused reload${problems}"
    fi
  fi
}

# ------------------------------------------------------------------ e. stop
check_e() {
  CHECK=e
  if ! ensure_up; then
    fail "e. $UNIT does not run"
  else
    workers=$(worker_pids)
    t=$(now_us)
    IN_TIMEOUT=50 IN systemctl stop $UNIT >/dev/null 2>&1
    took=$(since "$t")
    shown=$(IN systemctl show -p ActiveState,Result,MainPID $UNIT | xargs)
    left=$(IN pgrep -a -f 'hello-worker|/opt/clusterd/clusterd' | xargs)
    drained=""
    for p in $workers; do
      journal_has "pid $p exited \(exit 0\)" || drained+=" $p"
    done
    if [[ $shown == *ActiveState=inactive* && $shown == *Result=success* && $shown == *MainPID=0* && -z $left && -z $drained ]]; then
      pass "e. systemctl stop took $took s: $shown; workers $workers drained (exit 0); no clusterd or hello-worker process left"
    else
      fail "e. after stop: $shown; processes left: '${left:-none}'; workers without 'exited (exit 0)' in the journal: '${drained:-none}'"
    fi
  fi
}

# ------------------------------------------------------------------ f. WatchdogSec
check_f() {
  CHECK=f
  mkdir -p "$STAGE/units/$UNIT.d"
  printf '[Service]\nWatchdogSec=3s\n' >"$STAGE/units/$UNIT.d/watchdog.conf"
  IN systemctl daemon-reload
  if ! ensure_up; then
    fail "f. $UNIT does not start: $(IN systemctl show -p ActiveState,SubState,Result,StatusText $UNIT | xargs)"
  elif [[ $(prop WatchdogUSec) != 3s ]]; then
    fail "f. the drop-in was not applied: WatchdogUSec=$(prop WatchdogUSec)"
  else
    main=$(prop MainPID) restarts=$(prop NRestarts) workers=$(worker_pids)
    n_wd=$(journal_count "Failed with result 'watchdog'")
    sleep 4   # longer than WatchdogSec: the master pings on its own
    if [[ $(prop ActiveState) != active || $(prop MainPID) != "$main" ]]; then
      fail "f. the healthy master did not survive 4 s with WatchdogSec=3s (no WATCHDOG=1?): $(IN systemctl show -p ActiveState,Result,MainPID $UNIT | xargs)"
    else
      t=$(now_us)
      IN kill -STOP "$main"
      got_result=""
      for _ in $(seq 150); do   # at most 15 s
        [[ $(prop Result) == watchdog ]] && { got_result=yes; break; }
        (( $(journal_count "Failed with result 'watchdog'") > n_wd )) && { got_result=journal; break; }
        sleep 0.1
      done
      took=$(since "$t")
      if [[ -z $got_result ]]; then
        fail "f. no Result=watchdog 15 s after SIGSTOP: $(IN systemctl show -p ActiveState,SubState,Result $UNIT | xargs)"
        IN kill -CONT "$main" 2>/dev/null
      elif ! why=$(up 20); then
        fail "f. Result=watchdog after $took s, but no restart: $why"
      else
        new_main=$(prop MainPID) new_workers=$(worker_pids)
        if [[ $new_main != "$main" && $(prop NRestarts) -gt $restarts ]] && none_shared "$workers" "$new_workers"; then
          pass "f. SIGSTOPped master: Result=watchdog after $took s, restarted (MainPID $main -> $new_main, NRestarts=$(prop NRestarts)), new workers $new_workers serve"
        else
          fail "f. after the watchdog: MainPID $main -> $new_main, NRestarts $restarts -> $(prop NRestarts), workers $workers -> $new_workers"
        fi
      fi
    fi
  fi
}

# ------------------------------------------------------------------ g. kill -9 with the fd store
check_g() {
  CHECK=g
  if ! ensure_up; then
    fail "g. $UNIT does not run"
  else
    main=$(prop MainPID) restarts=$(prop NRestarts) workers=$(worker_pids)
    inodes=$(IN python3 /opt/clusterd-tests/systemd/client.py listen-inodes "$main" $PORT)
    IN python3 /opt/clusterd-tests/systemd/client.py stream $PORT 6 200 >"$STAGE/load-g" 2>&1 &
    load=$!
    sleep 1.5
    t=$(now_us)
    IN kill -KILL "$main"
    back=""
    for _ in $(seq 200); do   # at most 20 s
      m=$(prop MainPID)
      [[ $m != 0 && $m != "$main" && $(prop StatusText) == *"web 2/2 ready"* ]] && { back=yes; break; }
      sleep 0.1
    done
    took=$(since "$t")
    wait $load
    stats=$(cat "$STAGE/load-g")
    refused=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["refused"])' "$stats" 2>/dev/null || echo "?")
    problems=""
    if [[ -z $back ]]; then
      problems+="; not back within 20 s: $(IN systemctl show -p ActiveState,SubState,Result,StatusText $UNIT | xargs)"
    else
      new_main=$(prop MainPID) new_workers=$(worker_pids)
      new_inodes=$(IN python3 /opt/clusterd-tests/systemd/client.py listen-inodes "$new_main" $PORT)
      [[ $(prop NRestarts) -gt $restarts ]] || problems+="; NRestarts did not grow"
      none_shared "$workers" "$new_workers" || problems+="; workers $workers -> $new_workers"
      http_get 10 >/dev/null || problems+="; the new workers do not serve"
      [[ -n $inodes && $inodes == "$new_inodes" ]] ||
        problems+="; listening sockets not taken back from the fd store (inodes '$inodes' -> '$new_inodes')"
    fi
    [[ $refused == 0 ]] || problems+="; $refused connections refused"
    if [[ -z $problems ]]; then
      pass "g. kill -9 of the master: back in $took s (MainPID $main -> $new_main), the same listening sockets ($inodes) from the fd store, 0 refused; load: $stats"
    else
      fail "g. kill -9 of the master${problems}; load: $stats"
    fi
  fi
}

# ------------------------------------------------------------------ h. journald priorities
check_h() {
  CHECK=h
  IN journalctl -u $UNIT --no-pager -o json _COMM=clusterd >"$STAGE/journal.json" 2>/dev/null
  verdict=$(python3 - "$STAGE/journal.json" <<'PY'
import json, re, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
msgs = [(int(e.get("PRIORITY", 6)), e.get("MESSAGE", "")) for e in entries]
msgs = [(p, m if isinstance(m, str) else "") for p, m in msgs]
prefixed = [m for _, m in msgs if re.match(r"^<\d>", m)]
low = [m for p, m in msgs if p <= 4]
if not msgs:
    print("FAIL no journal entry from clusterd")
elif prefixed:
    print("FAIL %d messages keep a literal <N> prefix, e.g. %r" % (len(prefixed), prefixed[0][:100]))
elif not low:
    print("FAIL %d messages, none at warning or above (the refused reload should be)" % len(msgs))
else:
    print("PASS %d messages, %d at warning or above, e.g. %r" % (len(msgs), len(low), low[0][:100]))
PY
  )
  if [[ $verdict == PASS* ]]; then pass "h. journald: ${verdict#PASS }"; else fail "h. journald: ${verdict#FAIL }"; fi
}

# ------------------------------------------------------------------ l. live upgrade
# unit_procs: cgroup:pid of every process in the unit's cgroup tree, in each hierarchy that has it
# (cgroup2, or a hybrid host's name=systemd and unified).
unit_procs() {
  local cg; cg=$(prop ControlGroup)
  [[ -n $cg ]] || return 0
  IN sh -c 'for d in /sys/fs/cgroup"$1" /sys/fs/cgroup/systemd"$1" /sys/fs/cgroup/unified"$1"; do
              [ -d "$d" ] && find "$d" -name cgroup.procs -exec grep -H . {} +; done' sh "$cg" |
    sed 's|^/sys/fs/cgroup||; s|/cgroup.procs:|:|' | sort
}
# status_procs: the pids `systemctl status` shows in the unit's CGroup tree.
status_procs() {
  IN systemctl status --no-pager -n 0 $UNIT | sed -n '/CGroup:/,$p' |
    sed -nE 's/^[^0-9]*(─|-)([0-9]+) .*/\2/p' | sort -n | xargs
}
# fd_store: the number of fds in the unit's fd store, "n/a" on a systemd without NFileDescriptorStore.
fd_store() { local n; n=$(prop NFileDescriptorStore); echo "${n:-n/a}"; }
unit_state() { IN systemctl show -p MainPID,ActiveState,SubState,NRestarts $UNIT | sort | xargs; }
check_l() {
  CHECK=l
  if ! ensure_up; then fail "l. $UNIT does not run"; return; fi
  local main shown workers procs status store out rc problems=""
  main=$(prop MainPID) shown=$(unit_state)
  workers=$(worker_pids) procs=$(unit_procs) status=$(status_procs) store=$(fd_store)
  out=$(IN clusterctl -s $CTL upgrade 2>&1); rc=$?
  [[ $rc -eq 0 && $out =~ ^upgraded:\ clusterd\ [^\ ]+\ pid\ $main,\ upgrade\ [0-9]+$ ]] ||
    problems+="; clusterctl upgrade exited $rc: $out"
  wait_prop StatusText 'web 2/2 ready' 10 || problems+="; StatusText '$VALUE'"
  [[ $(unit_state) == "$shown" && $shown == *"ActiveState=active"*"SubState=running"* ]] ||
    problems+="; $shown -> $(unit_state)"
  [[ -n $workers && $(worker_pids) == "$workers" ]] || problems+="; workers $workers -> $(worker_pids)"
  [[ $(unit_procs) == "$procs" ]] || problems+="; cgroup procs $(xargs <<<"$procs") -> $(unit_procs | xargs)"
  [[ -n $status && $(status_procs) == "$status" ]] || problems+="; systemctl status lists $status -> $(status_procs)"
  [[ $(fd_store) == "$store" ]] || problems+="; fd store $store -> $(fd_store) fds"
  http_get 10 >/dev/null || problems+="; GET /read failed afterwards"
  if [[ -z $problems ]]; then
    pass "l. clusterctl upgrade: '$out'; still $shown; workers $workers, cgroup tree ($status) and fd store ($store fds) unchanged"
  else
    fail "l. live upgrade${problems}"
  fi
}

source "$SOURCE_DIR/tests/systemd/hardening-checks.sh"
source "$SOURCE_DIR/tests/systemd/logs-checks.sh"

# ------------------------------------------------------------------ run them
for c in ${ONLY:-a b c d e f g h i j k l}; do "check_$c"; done
IN_TIMEOUT=50 IN systemctl stop $UNIT clusterd.socket >/dev/null 2>&1
say "$PASSED passed, $FAILED failed${FAILED_NAMES:+ (checks:$FAILED_NAMES)}"
(( FAILED == 0 && PASSED > 0 ))
