#!/usr/bin/env bash
# socket-activation: clusterd started by systemd-socket-activate (the LISTEN_FDS protocol of a
# .socket unit, without systemd) takes the socket passed as "http" for slot 0 of the listener
# named http, binds slot 1 beside it on the same port (reuseport), and both workers serve. A
# passed socket whose name matches no listener is named in the log.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
PORT=$(free_port)
SPARE=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    stop_timeout: 5s
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML

# It listens on both addresses, waits for the first connection, then execs clusterd with
# LISTEN_FDS=2 LISTEN_FDNAMES=http:bogus and LISTEN_PID=its own pid (the same process).
systemd-socket-activate -l "127.0.0.1:$PORT" -l "127.0.0.1:$SPARE" --fdname=http:bogus \
  -E "CLUSTERD_SOCKET=$T/ctl.sock" \
  "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
DAEMON=$!
listening() { ss -Hltn "sport = :$PORT" | grep -q .; }
wait_for "systemd-socket-activate listening" listening
[[ $(worker_count) -eq 0 ]] || fail "workers before the first connection"

# The first connection starts clusterd; it is answered once a worker takes the passed socket.
if ! first=$($HTTP get "$PORT" 2>"$T/get.err"); then
  # systemd-socket-activate sets no SO_REUSEPORT on its socket (a .socket unit does with
  # ReusePort=yes): clusterd has to set it on the passed socket before binding slot 1 beside it.
  log_has "Address already in use" &&
    fail "slot 1's bind failed beside the passed socket, which has no SO_REUSEPORT: $(grep -m1 'Address already in use' "$T/clusterd.log")"
  fail "the first connection got no 200: $(tail -1 "$T/get.err")"
fi
[[ $(cat "/proc/$DAEMON/comm") == clusterd ]] || fail "pid $DAEMON is $(cat "/proc/$DAEMON/comm"), not clusterd"
wait_for "two workers ready" log_ready 2
log_has "listener http.*'http'" || fail "the log does not say listener http uses the passed socket 'http'"
log_has "'bogus'.*(no listener|matches no|unmatched|unused)" ||
  fail "the log does not report the passed socket 'bogus' as matching no listener"

# The passed socket serves slot 0, and clusterd's own SO_REUSEPORT socket serves slot 1.
spread=$($HTTP spread "$PORT" 200) || fail "failed requests: $spread"
[[ $(head -1 <<<"$spread") -eq 2 ]] || fail "$(head -1 <<<"$spread") distinct workers answered, expected 2"
n=$(ss -Hltn "sport = :$PORT" | wc -l)
[[ $n -eq 2 ]] || fail "$n listening sockets on port $PORT, expected 2 (the passed one and slot 1's)"
grep -E "listener http.*'http'|'bogus'.*(no listener|matches no|unmatched|unused)" "$T/clusterd.log" | sed 's/^/log: /'
pass "socket-activated: first answer from $first; 2 workers over 200 connections; 'http' used, 'bogus' reported"
