#!/usr/bin/env bash
# Roles on the control socket, with real uids: `read: [nobody]` may read (status, version) but
# not change anything; `admin: ["@daemon"]` (a group) may do everything; any other uid (bin) may
# not talk to the socket at all. A refusal names the verb and the role it needs.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to act as other users"
for u in nobody daemon bin; do getent passwd "$u" >/dev/null || skip "no user $u"; done
chmod 0711 "$T"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", read: [nobody], admin: ["@daemon"] }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
start_daemon "$T/c.yaml"
wait_for "the worker" has_workers 1
as() {  # as USER COMMAND...: runs clusterctl as USER, its output in $T/out, returns its exit code
  local user=$1; shift
  local rc=0
  setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --init-groups \
    env CLUSTERD_SOCKET="$T/ctl.sock" "$CLUSTERCTL" "$@" >"$T/out" 2>&1 || rc=$?
  return $rc
}
[[ $(stat -c %a "$T/ctl.sock") == 666 ]] || fail "the socket is $(stat -c %a "$T/ctl.sock"): named users could not connect"
as nobody status || fail "nobody (read) cannot read the status: $(cat "$T/out")"
rc=0; as nobody stop web || rc=$?
[[ $rc -eq 1 ]] || fail "nobody's stop exited $rc: $(cat "$T/out")"
grep -q "permission denied: 'stop' needs the admin role, which uid $(id -u nobody) does not have" "$T/out" ||
  fail "nobody's refusal: $(cat "$T/out")"
has_workers 1 || fail "the refused stop stopped something"
log_has "refused stop from uid $(id -u nobody)" || fail "the refusal was not logged"
as daemon stop web || fail "daemon (admin by group) cannot stop: $(cat "$T/out")"
wait_for "the worker to stop" has_workers 0
rc=0; as bin status || rc=$?
[[ $rc -eq 1 ]] || fail "bin (no role) got exit $rc: $(cat "$T/out")"
grep -q "permission denied: uid $(id -u bin) may not use this control socket" "$T/out" ||
  fail "bin's refusal: $(cat "$T/out")"
"$CLUSTERCTL" start web >/dev/null || fail "root is always admin"
pass "read for nobody (status yes, stop refused by name), admin for @daemon, nothing for bin"
