#!/usr/bin/env bash
# Fault injection on the reload path: for each thing a reload needs that can fail (a socket under
# an fd limit, a port another process holds, a unix socket in a directory that is gone, a control
# socket in an unsafe place, a user that does not exist), force the failure and check that the
# reload is refused whole with the cause named, the master lives, every worker pid is unchanged
# and the listener still serves. Before the prepare/apply split, an fd limit hit while binding
# the sockets of a grown reuseport app by SIGHUP ended the master and every worker with it.
source "$(dirname "$0")/lib/common.sh"
# UBSan's vptr check proves memory readable by writing it into a pipe (2 fds); with no fd left
# it reports a sound virtual call as "invalid vptr". Under the sanitizers case 1 leaves room for
# that pipe (3 free fds) and asks for more sockets than fit (4), so the reload still runs out.
ROOM=1 GROW=4
[[ -n ${CLUSTERD_SANITIZED:-} ]] && ROOM=3 GROW=6
PORT=$(free_port)
BUSY=$(free_port)
write() {  # write INSTANCES [EXTRA LISTENER LINE] [CONTROL SOCKET] [EXTRA APP KEYS]
  cat >"$T/c.yaml" <<YAML
control: { socket: "${3:-$T/ctl.sock}" }
apps:
  web:
    command: ["$HELLO"]
    instances: $1
    ready: notify
${4:-}
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
${2:-}
YAML
}
write 2
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
pids0=$(worker_pids | sort | xargs)
unchanged() {  # unchanged CASE: the master, the workers and the listener are as they were
  kill -0 "$DAEMON" 2>/dev/null || fail "$1: the master died"
  [[ $(worker_pids | sort | xargs) == "$pids0" ]] || fail "$1: workers changed: $pids0 -> $(worker_pids | xargs)"
  $HTTP get "$PORT" >/dev/null || fail "$1: the listener does not serve"
  "$CLUSTERCTL" status --json | grep -q '"instances": 2,' || fail "$1: instances changed"
}
reload_refused() {  # reload_refused CASE EXPECTED: clusterctl reload exits 1 naming the cause
  local rc=0
  "$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "$1: clusterctl reload exited $rc: $(cat "$T/reload.out")"
  grep -q "reload refused, nothing changed" "$T/reload.out" || fail "$1: $(cat "$T/reload.out")"
  grep -q -- "$2" "$T/reload.out" || fail "$1: the reply does not name '$2': $(cat "$T/reload.out")"
  unchanged "$1"
}

# 1. More reuseport sockets needed than there is room for fds: by SIGHUP, then by clusterctl.
write "$GROW"
hard=$(awk '/^Max open files/ {print $5}' "/proc/$DAEMON/limits")
# RLIMIT_NOFILE bounds fd numbers: below the second free number only one new fd fits (the config
# file is opened and closed first, then the first socket takes that number, the second fails).
free=$(python3 - "$DAEMON" "$ROOM" <<'PY'
import os, sys
used = {int(f) for f in os.listdir(f"/proc/{sys.argv[1]}/fd")}
free = [n for n in range(65536) if n not in used]
print(free[int(sys.argv[2])])
PY
)
prlimit --pid "$DAEMON" --nofile="$free:$hard"
before=$(log_count "reload refused")
kill -HUP "$DAEMON"
wait_for "the SIGHUP reload to be refused (or the master to die)" bash -c \
  "(( \$(grep -c 'reload refused' '$T/clusterd.log') > $before )) || ! kill -0 $DAEMON"
kill -0 "$DAEMON" 2>/dev/null || fail "SIGHUP under an fd limit ended the master: $(tail -2 "$T/clusterd.log")"
log_has "reload refused, nothing changed: .*Too many open files" || fail "SIGHUP: $(grep 'reload' "$T/clusterd.log" | tail -2)"
unchanged "SIGHUP under an fd limit"
reload_refused "clusterctl reload under an fd limit" "Too many open files"
prlimit --pid "$DAEMON" --nofile="$hard:$hard"

# 2. A new listener on a port another process holds.
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$BUSY)); s.listen(); time.sleep(600)" &
EXTRA_PIDS+=($!)
wait_for "the port to be taken" bash -c "ss -Hltn 'sport = :$BUSY' | grep -q ."
write 2 "      extra: { address: \"127.0.0.1:$BUSY\", mode: shared }"
reload_refused "a port in use" "Address already in use"

# 3. A unix listener in a directory that is gone (the config check says so), and one whose path
# is taken by a file that is not a socket (bind(2) says so, in the prepare phase).
write 2 "      sock: { address: \"unix:$T/gone/web.sock\", mode: shared }"
reload_refused "a removed directory" "directory '$T/gone' does not exist"
echo "not a socket" >"$T/taken.sock"
write 2 "      sock: { address: \"unix:$T/taken.sock\", mode: shared }"
reload_refused "a file in the socket's place" "taken.sock"

# 4. The control socket moved into a directory another user may write to.
mkdir -m 0777 "$T/unsafe"
chown nobody "$T/unsafe"
write 2 "" "$T/unsafe/ctl.sock"
reload_refused "an unsafe control directory" "not safe"

# 5. A user that does not exist (looked up outside the loop): the error names its place.
write 2 "" "" "    user: no-such-user-here"
reload_refused "an unknown user" "c.yaml:[0-9]*:[0-9]*: apps.web.user: user 'no-such-user-here' does not exist"

# After all that, a good reload still works.
write 3
"$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || fail "the good reload failed: $(cat "$T/reload.out")"
wait_for "three workers" has_workers 3
pass "fd limit (SIGHUP and clusterctl), port in use, removed directory, unsafe control dir, unknown user: each refused whole, nothing lost"
