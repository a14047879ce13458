#!/usr/bin/env bash
# A new binary that passes the rehearsal but whose take-over fails (--upgrade-fault throw, crash,
# hang) hands everything back to the previous binary. Each time `clusterctl upgrade --binary X`
# exits 1 with the reason on stderr; the master keeps its pid, its control socket (same file,
# answering) and as many open fds as before; the workers keep their pids and restart counts; the
# listener serves; `upgrades` stays 0; the master's children are exactly its workers (no zombie)
# and no process of the faulty binary is left; the log says the previous binary took the state
# back. A real upgrade succeeds afterwards, as upgrade 1.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/upgrade.sh"
command -v curl >/dev/null || skip "curl is not installed"
PORT=$(free_port)
# The master gets no fd from whatever runs this test: such an fd would leave at the first exec and
# throw the fd count off.
for fd in /proc/$$/fd/*; do fd=${fd##*/}; (( fd > 2 && fd != 255 )) && eval "exec $fd<&-"; done

fd_targets() { readlink "/proc/$DAEMON"/fd/* | sed -E 's/^(socket|pipe):.*/\1/' | sort; }  # what, not which
# wait_fds WHAT: waits (as wait_for does) for the master's fd count to be back to $FDS; else says
# which fds are new.
wait_fds() {
  local deadline=$(( $(now_ms) + WAIT_BOUND * 1000 ))
  until fds_back; do
    (( $(now_ms) < deadline )) || fail "$1: the master holds $(fd_count "$DAEMON") fds, not $FDS;" \
      "new: $(comm -13 "$T/fds" <(fd_targets) | xargs), gone: $(comm -23 "$T/fds" <(fd_targets) | xargs)"
    sleep 0.02
  done
}
# faulty_left: a pid the faulty binary ran as (its rehearsals) that is not the master and still
# runs a clusterd upgrade step.
faulty_left() {
  local p
  for p in $(sort -u "$T/faulty.pids"); do
    [[ $p == "$DAEMON" ]] && continue
    grep -qa -- '--upgrade' "/proc/$p/cmdline" 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}
# faulty FAULT: a stand-in that passes the rehearsal and takes over with --upgrade-fault FAULT;
# every pid it runs as is appended to $T/faulty.pids.
faulty() {
  cat >"$T/faulty-$1" <<SH
#!/bin/sh
echo \$\$ >>"$T/faulty.pids"
case " \$* " in *" --upgrade-check "*) exec "$CLUSTERD" "\$@";; esac
exec "$CLUSTERD" "\$@" --upgrade-fault $1
SH
  chmod 755 "$T/faulty-$1"
}

web_config 2 reuseport
: >"$T/faulty.pids"
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
wait_for "two running workers in status" both_running
BEFORE=$(workers)
PIDS=$(status_py '" ".join(sorted(str(w["pid"]) for w in s["apps"][0]["workers"]))')
CTL_INODE=$(stat -c %i "$T/ctl.sock")
wait_for "no control client left" no_clients
FDS=$(fd_count "$DAEMON")
fd_targets >"$T/fds"

n=0
for fault in throw crash hang; do
  case $fault in
    throw) reason="injected fault: throw" ;;
    crash) reason="the new master crashed while taking over \(SIGSEGV\)" ;;
    hang) reason="the take-over did not finish within [0-9]+ s" ;;  # its bound (SIGALRM)
  esac
  faulty "$fault"
  n=$((n + 1))
  rc=0
  "$CLUSTERCTL" upgrade --binary "$T/faulty-$fault" >"$T/out" 2>"$T/err" || rc=$?
  [[ $rc -eq 1 ]] || fail "$fault: upgrade exited $rc: $(cat "$T/out" "$T/err")"
  grep -qE "upgrade failed: $reason$" "$T/err" || fail "$fault: no 'upgrade failed: $reason' in: $(cat "$T/err")"
  grep -qx "$DAEMON" "$T/faulty.pids" || fail "$fault: the faulty binary never ran as the master (pid $DAEMON)"
  kill -0 "$DAEMON" 2>/dev/null || fail "$fault: the master died"
  [[ $(status_py 's["master"]["pid"]') == "$DAEMON" ]] || fail "$fault: status names another master pid"
  after=$(workers) || fail "$fault: status does not answer"
  [[ $after == "$BEFORE" ]] || fail "$fault: workers changed: $BEFORE -> $after"
  [[ $(status_py 's["master"]["upgrades"]') == 0 ]] || fail "$fault: upgrades is $(status_py 's["master"]["upgrades"]'), not 0"
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "$fault: the listener does not serve"
  [[ -S $T/ctl.sock && $(stat -c %i "$T/ctl.sock") == "$CTL_INODE" ]] || fail "$fault: the control socket file is gone or new"
  "$CLUSTERCTL" status >/dev/null || fail "$fault: the human status does not answer"
  wait_for "$fault: no child of the master but its workers ($PIDS)" only_workers_are_children
  no_zombies || fail "$fault: zombies under the master: $(ps --ppid "$DAEMON" -o pid=,stat=,args=)"
  if left=$(faulty_left); then fail "$fault: a process of the faulty binary is left: $(ps -o pid=,ppid=,args= -p "$left")"; fi
  wait_fds "$fault"
  (( $(log_count 'the previous binary took its state back') >= n )) ||
    fail "$fault: the log does not say the previous binary took its state back"
  echo "$fault: $(cat "$T/err")"
done

"$CLUSTERCTL" upgrade --binary "$CLUSTERD" >"$T/out" 2>"$T/err" \
  || fail "the real upgrade failed: $(cat "$T/out" "$T/err")"
grep -Eq "^upgraded: clusterd [^ ]+ pid $DAEMON, upgrade 1$" "$T/out" || fail "the real upgrade said: $(cat "$T/out")"
[[ $(workers) == "$BEFORE" ]] || fail "the real upgrade changed the workers: $BEFORE -> $(workers)"
[[ $(status_py 's["master"]["upgrades"]') == 1 ]] || fail "upgrades is not 1 after the real upgrade"
pass "three failed take-overs (throw, crash, hang) handed everything back; a real upgrade then works"
