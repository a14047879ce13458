#!/usr/bin/env bash
# The control socket's directory is trusted only when it is safe. Attack: another user owns (or
# can write) the directory, so they can swap the socket for their own and answer in the daemon's
# name, or a umask of 000 leaves a freshly created directory world-writable.
#  (a) clusterd refuses to start with its control socket in a directory owned by nobody, 0777;
#  (b) clusterctl refuses to talk to a socket (with a forging listener) in such a directory;
#  (c) under umask 000 a created socket directory is not writable by group or others.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to chown to nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
chmod 0711 "$T"  # nobody must reach $T/evil2 for (b)
app_config() {  # app_config SOCKET: a minimal config with its control socket at SOCKET
  cat >"$T/c.yaml" <<YAML
control: { socket: "$1" }
apps:
  idle:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
}
exited() { ! alive "$DAEMON"; }
exited_or_listening() { exited || [[ -S $1 ]]; }

# (a) a directory owned by another user, writable by all.
mkdir "$T/evil"; chown nobody "$T/evil"; chmod 0777 "$T/evil"
app_config "$T/evil/ctl.sock"
start_daemon "$T/c.yaml"
wait_for "clusterd to exit or listen in $T/evil" exited_or_listening "$T/evil/ctl.sock"
exited || fail "(a) clusterd runs with its control socket in a nobody-owned 0777 dir"
rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 1 ]] || fail "(a) clusterd exited $rc with its socket in a nobody-owned 0777 dir: $(cat "$T/clusterd.log")"
grep -q "not safe" "$T/clusterd.log" || fail "(a) no 'not safe' in: $(cat "$T/clusterd.log")"
[[ ! -e $T/evil/ctl.sock ]] || fail "(a) a socket was created in $T/evil"

# (b) a forged daemon, run by nobody, in a nobody-owned 0777 directory.
mkdir "$T/evil2"; chown nobody "$T/evil2"; chmod 0777 "$T/evil2"
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
while True:
    c, _ = s.accept()
    c.makefile("rb").readline()
    c.sendall(b"{\"v\":1,\"ok\":true,\"message\":\"forged\"}\n"); c.close()
' "$T/evil2/ctl.sock" &
EXTRA_PIDS+=($!)
wait_for "the forger to listen" test -S "$T/evil2/ctl.sock"
[[ $(stat -c %U "$T/evil2/ctl.sock") == nobody ]] || fail "(b) setup: the forged socket is not nobody's"
rc=0; "$CLUSTERCTL" -s "$T/evil2/ctl.sock" version >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "(b) clusterctl exited $rc talking to a forged socket: $(cat "$T/out")"
grep -q "not trusting control socket" "$T/out" || fail "(b) no 'not trusting control socket' in: $(cat "$T/out")"
! grep -q forged "$T/out" || fail "(b) clusterctl believed the forger: $(cat "$T/out")"

# (c) umask 000 and a socket directory that does not exist yet.
app_config "$T/fresh/sub/ctl.sock"
umask 000
start_daemon "$T/c.yaml"
umask 077
wait_for "the control socket in $T/fresh/sub" test -S "$T/fresh/sub/ctl.sock"
"$CLUSTERCTL" -s "$T/fresh/sub/ctl.sock" status >"$T/out" 2>&1 || fail "(c) status: $(cat "$T/out")"
mode=$(stat -c %a "$T/fresh/sub")
(( (8#$mode & 8#022) == 0 )) || fail "(c) under umask 000 the socket directory was created $mode"
pass "unsafe control dir refused (exit 1, 'not safe'), forged socket not trusted, umask 000 dir created $mode"
