#!/usr/bin/env bash
# Upgrades that fail leave the old master exactly as it was. Stand-ins for the new binary: a path
# that does not exist, a file that is not executable, one that exits 1 at once, one that reads the
# state on fd 3 and dies of SIGSEGV, one that hangs. Each time `clusterctl upgrade --binary X`
# exits 1 with `upgrade failed: <reason>` on stderr, the workers keep their pids, the listener
# serves, status answers with 0 upgrades, the master holds no more fds than before and has no
# child but its workers (the hanging one is gone). SIGUSR2 upgrades from the path the daemon was
# started from, and logs a failure when the file there is replaced by one that fails. A real
# upgrade still succeeds afterwards.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/upgrade.sh"
command -v curl >/dev/null || skip "curl is not installed"
PORT=$(free_port)
REAL=$CLUSTERD
CLUSTERD=$T/clusterd  # the daemon runs from a copy, so that SIGUSR2's binary can be swapped
cp "$REAL" "$CLUSTERD"

upgrades() { status_py 's["master"]["upgrades"]'; }
upgrades_are() { [[ $(upgrades) == "$1" ]]; }
upgrade_failures_logged() { log_count '[Uu]pgrade.*fail'; }
more_failures_than() { (( $(upgrade_failures_logged) > $1 )); }
upgrade_events() {
  "$CLUSTERCTL" events -n 1000 --json | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["kind"] == "upgrade"))'
}

# The stand-ins for a new binary.
make_fakes() {
  printf '#!/bin/sh\nexit 0\n' >"$T/not-executable"
  chmod 644 "$T/not-executable"
  printf '#!/bin/sh\nexit 1\n' >"$T/exits"
  cat >"$T/crashes" <<SH
#!/bin/sh
cat /proc/self/fd/3 >"$T/state.json"
cat <&3 >/dev/null
ulimit -c 0
kill -SEGV \$\$
SH
  cat >"$T/hangs" <<SH
#!/bin/sh
echo \$\$ >"$T/hang.pid"
exec sleep 60
SH
  chmod 755 "$T/exits" "$T/crashes" "$T/hangs"
}

# check_state FILE: what the crashing stand-in read on fd 3 (through /proc, from offset 0) is the
# versioned state document.
check_state() {
  python3 - "$1" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
if state.get("format") != "clusterd-upgrade-state" or state.get("version") != 2:
    sys.exit("fd 3 held %r" % {k: state.get(k) for k in ("format", "version")})
PY
}

web_config 2 reuseport
make_fakes
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
wait_for "two running workers in status" both_running
BEFORE=$(workers)
START=$(status_py 's["master"]["start_time_s"]')
PIDS=$(status_py '" ".join(sorted(str(w["pid"]) for w in s["apps"][0]["workers"]))')
wait_for "no control client left" no_clients
FDS=$(fd_count "$DAEMON")
check_master 0 || fail "the master before any upgrade"

# 1. Five binaries that cannot take over.
failed_upgrade "a missing binary" "$T/no-such-clusterd" "cannot execute"
failed_upgrade "a binary that is not executable" "$T/not-executable" "cannot execute"
failed_upgrade "a binary that exits 1" "$T/exits" "exit 1"
failed_upgrade "a binary that crashes after reading the state" "$T/crashes" "signal SIGSEGV"
[[ -s $T/state.json ]] || fail "the crashing binary read nothing on fd 3"
check_state "$T/state.json" || fail "the state on fd 3"
failed_upgrade "a binary that hangs" "$T/hangs" "timed out"
[[ -s $T/hang.pid ]] || fail "the hanging binary never ran"
hang=$(cat "$T/hang.pid")
wait_for "the hanging binary ($hang) to be killed and reaped" gone "$hang"
[[ $(upgrade_events) -eq 0 ]] || fail "upgrade events after failed upgrades"

# 2. SIGUSR2: the binary at the path the daemon was started from. It works, then the file there is
# replaced by one that exits 1: the failure is logged and the master stays.
kill -USR2 "$DAEMON"
wait_for "the SIGUSR2 upgrade" upgrades_are 1
untouched "SIGUSR2" 1
[[ $(upgrade_events) -ge 1 ]] || fail "no upgrade event after the SIGUSR2 upgrade"
failures=$(upgrade_failures_logged)
cp "$T/exits" "$T/exits.new"
mv -f "$T/exits.new" "$CLUSTERD"
kill -USR2 "$DAEMON"
wait_for "the failed SIGUSR2 upgrade to be logged" more_failures_than "$failures"
untouched "SIGUSR2 to a binary that exits 1" 1

# 3. A real upgrade after all that.
"$CLUSTERCTL" upgrade --binary "$REAL" >"$T/out" 2>"$T/err" \
  || fail "the real upgrade failed: $(cat "$T/out" "$T/err")"
grep -Eq "^upgraded: clusterd [^ ]+ pid $DAEMON, upgrade 2$" "$T/out" || fail "the real upgrade said: $(cat "$T/out")"
untouched "the real upgrade" 2

kill -TERM "$DAEMON"; rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 0 ]] || fail "the upgraded master exited $rc on SIGTERM"
# shellcheck disable=SC2086
none_alive $PIDS || fail "workers left after the upgraded master stopped"
pass "five failed upgrades changed nothing; SIGUSR2 upgrades and logs its failure; a real upgrade still works"
