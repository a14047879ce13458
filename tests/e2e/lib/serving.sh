# shellcheck shell=bash
# Helpers for the tests of which sockets serve (sourced after common.sh): new connections counted
# as answered, refused or timed out, the listening sockets of a port, an app's fields in status.

# connections PORT N: N new connections at once, one request each (tests/e2e/lib/http.py count);
# sets COUNTS to "answered=A refused=R timed_out=T other=O", ANSWERED and REFUSED to those
# numbers. The first errors, if any, are in $T/count.
connections() {
  $HTTP count "$1" "$2" 10 >"$T/count" || true
  COUNTS=$(head -1 "$T/count")
  local word
  ANSWERED=0 REFUSED=0
  for word in $COUNTS; do
    case $word in
      answered=*) ANSWERED=${word#*=} ;;
      refused=*) REFUSED=${word#*=} ;;
    esac
  done
}

# all_answered PORT N WHAT: every one of N new connections gets its 200, else the test fails
# with the three counts.
all_answered() {
  connections "$1" "$2"
  [[ $ANSWERED -eq $2 ]] || fail "$3: of $2 new connections, $COUNTS ($(tail -n +2 "$T/count" | head -3 | tr '\n' ' '))"
}

# all_refused PORT N WHAT: every one of N new connections is refused (or reset) at once: none is
# answered and none waits.
all_refused() {
  connections "$1" "$2"
  [[ $REFUSED -eq $2 ]] || fail "$3: of $2 new connections, $COUNTS ($(tail -n +2 "$T/count" | head -3 | tr '\n' ' '))"
}

# listening PORT: how many sockets listen on 127.0.0.1:PORT.
listening() { ss -Hltn "sport = :$1" | wc -l; }
listening_is() { [[ $(listening "$1") -eq $2 ]]; }

# bindable PORT: another process can bind 127.0.0.1:PORT (SO_REUSEADDR off); prints the error
# otherwise.
bindable() {
  python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    print(e)
    sys.exit(1)' "$1"
}

# app_field APP KEY: a field of an app in `status --json` (Python's repr of it).
app_field() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys
print(next(a for a in json.load(sys.stdin)["apps"] if a["name"] == sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# worker_field APP KEY: that field of each worker of APP, space-separated, in slot order.
worker_field() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys
app = next(a for a in json.load(sys.stdin)["apps"] if a["name"] == sys.argv[1])
print(" ".join(str(w[sys.argv[2]]) for w in app["workers"]))' "$1" "$2"
}
states_are() { [[ $(worker_field "$1" state) == "$2" ]]; }
