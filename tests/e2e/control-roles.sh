#!/usr/bin/env bash
# Roles on the control socket, with real uids: `read: [nobody]` may read (status, version) but
# not change anything; `admin: ["@daemon"]` (a group) may do everything; any other uid (bin) may
# not talk to the socket at all. A refusal names the verb and the role it needs. Then a reload
# grants roles to users who could not even connect (the socket file 0660, the daemon's group):
# `control.group: bin` hands the file to that group, the first `read:` list makes it 0666, and
# dropping both takes it back; each newly allowed user connects at once.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to act as other users"
for u in nobody daemon bin sys; do getent passwd "$u" >/dev/null || skip "no user $u"; done
reachable_binaries
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
echo "read for nobody (status yes, stop refused by name), admin for @daemon, nothing for bin"

kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
roles() {  # roles [SETTINGS]: the config with `control: { socket, SETTINGS }`
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock"${1:+, $1} }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
}
socket_is() { [[ $(stat -c '%a %G' "$T/ctl.sock") == "$1" ]]; }
cannot_connect() {  # cannot_connect USER: the socket file itself keeps USER out
  local rc=0
  as "$1" status || rc=$?
  [[ $rc -eq 1 ]] && grep -q "permission denied connecting to the control socket" "$T/out"
}
reload_to() {  # reload_to [SETTINGS]: writes the config and reloads it, as root
  roles "${1:-}"
  "$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "reload to {${1:-}}: $(cat "$T/out")"
}
roles ""
: >"$T/clusterd.log"
start_daemon "$T/c.yaml"
wait_for "the worker (no roles)" has_workers 1
socket_is "660 root" || fail "without roles the socket is $(stat -c '%a %G' "$T/ctl.sock")"
cannot_connect bin || fail "bin reached the socket without a role: $(cat "$T/out")"
cannot_connect sys || fail "sys reached the socket without a role: $(cat "$T/out")"

reload_to "group: bin"
socket_is "660 bin" || fail "after control.group: bin the socket is $(stat -c '%a %G' "$T/ctl.sock")"
as bin stop web || fail "bin (admin through control.group) cannot stop after the reload: $(cat "$T/out")"
wait_for "the worker to stop (bin)" has_workers 0
cannot_connect sys || fail "sys reached the socket with only control.group set: $(cat "$T/out")"

reload_to "group: bin, read: [sys]"
socket_is "666 bin" || fail "after read: [sys] the socket is $(stat -c '%a %G' "$T/ctl.sock")"
as sys status || fail "sys (read, granted by the reload) cannot read the status: $(cat "$T/out")"
rc=0; as sys start web || rc=$?
[[ $rc -eq 1 ]] && grep -q "'start' needs the admin role" "$T/out" || fail "sys's start: $(cat "$T/out")"
as bin start web || fail "bin lost its role: $(cat "$T/out")"
wait_for "the worker to start again" has_workers 1

reload_to ""
socket_is "660 root" || fail "with the roles dropped the socket is $(stat -c '%a %G' "$T/ctl.sock")"
cannot_connect sys || fail "sys still reaches the socket: $(cat "$T/out")"
cannot_connect bin || fail "bin still reaches the socket: $(cat "$T/out")"
"$CLUSTERCTL" status >/dev/null || fail "root lost the socket"
pass "roles by name and group; a reload that grants or drops them sets the socket file's mode and group"
