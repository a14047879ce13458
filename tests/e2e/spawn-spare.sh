#!/usr/bin/env bash
# After a spawn the master makes the next worker's notify socket (and output pipes) ahead, so a
# respawn goes from the exit to the clone without binding a socket. The notify directory then
# holds one socket more than there are workers; the replacement of a SIGKILLed worker gets exactly
# that socket as NOTIFY_SOCKET, the dead worker's socket file goes and a new spare is made. A
# datagram someone sent to the spare before its worker existed is dropped and said in the log,
# never read as the worker's (its forged STATUS= does not show). A stopped master leaves no
# directory behind.
source "$(dirname "$0")/lib/common.sh"
command -v curl >/dev/null || skip "curl is not installed"
PORT=$(free_port)
web_config 1 reuseport
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
web_pid() { worker_pids | head -1; }
notify_of() { tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^NOTIFY_SOCKET=//p'; }
old=$(web_pid)
sock=$(notify_of "$old")
[[ -S $sock ]] || fail "the worker's NOTIFY_SOCKET $sock is not a socket"
dir=${sock%/*}
sockets() { find "$dir" -maxdepth 1 -type s | sort; }
two_sockets() { [[ $(sockets | wc -l) -eq 2 ]]; }
wait_for "the worker's socket and a spare in $dir" two_sockets
spare=$(sockets | grep -vxF "$sock")
[[ $(stat -c %a "$spare") == 600 ]] || fail "the spare $spare has mode $(stat -c %a "$spare")"
# A forged datagram queued on the spare, as root (the socket is root's here).
python3 - "$spare" <<'PY' || fail "could not send to the spare"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=forged before the worker existed", sys.argv[1])
PY
kill -KILL "$old"
# Its own environment only once it has exec'd (before, /proc shows the master's memory).
replaced() {
  local p; p=$(web_pid)
  [[ -n $p && $p != "$old" && $(cat "/proc/$p/comm" 2>/dev/null) == hello-worker ]]
}
wait_for "a replacement" replaced
new=$(web_pid)
[[ $(notify_of "$new") == "$spare" ]] || fail "the replacement got $(notify_of "$new"), not the spare $spare"
wait_for "the replacement ready" log_ready 2
old_gone() { [[ ! -e $sock ]]; }
wait_for "the dead worker's socket file removed" old_gone
wait_for "a new spare beside the replacement's socket" two_sockets
[[ $(sockets | grep -vxF "$spare") != "$sock" ]] || fail "the dead worker's socket came back"
(( $(log_count 'dropped 1 notify datagram sent to a socket before its worker existed') == 1 )) ||
  fail "the forged datagram was not said to be dropped"
"$CLUSTERCTL" status --json | grep -q 'forged' && fail "the forged STATUS= reached status"
log_has 'ignored a notify message' && fail "the forged datagram was read as a notify message"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "the replacement does not serve"
kill -TERM "$DAEMON"
wait "$DAEMON" || fail "the master exited $?"
[[ ! -e $dir ]] || fail "the notify directory $dir is left: $(ls -A "$dir" | xargs)"
pass "the replacement got the spare socket made ahead; a datagram queued on it was dropped"
