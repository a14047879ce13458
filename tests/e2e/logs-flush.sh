#!/usr/bin/env bash
# `clusterctl logs --flush [APP]` (the verb `flush`, admin) empties the app's recent output lines
# (what `clusterctl logs` shows) and truncates its `logs.file`, leaving other apps alone; without
# APP every app's. Lines written after it land in the file and the ring as before. A read-role
# client is refused and nothing is flushed (before: no such option, exit 2).
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to run a client as nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
reachable_binaries
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", read: [nobody] }
apps:
  web:
    command: ["sh", "-c", "echo before-flush; for i in \$(seq 600); do [ -e $T/go ] && break; sleep 0.1; done; echo after-flush; exec sleep 600"]
    logs: { mode: capture, file: "$T/web.log" }
  other:
    command: ["sh", "-c", "echo other-line; exec sleep 600"]
    logs: { mode: capture }
YAML
start_daemon "$T/c.yaml"
shows() {  # shows APP TEXT: `clusterctl logs APP` has TEXT (read whole: no SIGPIPE under pipefail)
  "$CLUSTERCTL" logs "$1" -n 100 >"$T/logs" 2>/dev/null && grep -q -- "$2" "$T/logs"
}
wait_for "web's line in its ring" shows web before-flush
wait_for "web's line in its file" grep -q before-flush "$T/web.log"
wait_for "other's line" shows other other-line

rc=0
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
  "$CLUSTERCTL" logs --flush web >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "nobody's flush: exit $rc: $(cat "$T/out")"
grep -q "permission denied: 'flush' needs the admin role" "$T/out" || fail "$(cat "$T/out")"
shows web before-flush || fail "a refused flush emptied the ring"
grep -q before-flush "$T/web.log" || fail "a refused flush emptied the file"

"$CLUSTERCTL" logs --flush web >"$T/out" 2>&1 || fail "logs --flush web: $(cat "$T/out")"
grep -q "^flushed web: [1-9][0-9]* lines\?, $T/web.log emptied$" "$T/out" || fail "reply: $(cat "$T/out")"
! shows web before-flush || fail "web's ring still has its line"
wait_for "web's file emptied" bash -c "[[ ! -s '$T/web.log' ]]"
shows other other-line || fail "flushing web emptied other's ring"

touch "$T/go"
wait_for "web's next line in its ring" shows web after-flush
wait_for "web's next line in its file" grep -q after-flush "$T/web.log"
! grep -q before-flush "$T/web.log" || fail "the file has the flushed line again"

"$CLUSTERCTL" logs --flush >"$T/out" 2>&1 || fail "logs --flush: $(cat "$T/out")"
grep -q "other: [1-9][0-9]* lines\?" "$T/out" || fail "reply for every app: $(cat "$T/out")"
! shows other other-line || fail "a flush of every app left other's line"
pass "logs --flush empties an app's ring and file (admin only), then every app's"
