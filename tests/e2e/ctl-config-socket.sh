#!/usr/bin/env bash
# clusterctl -c FILE talks to the daemon of that config: its control.socket, before
# $CLUSTERD_SOCKET; -s and -c together are a usage error, and so is a config that cannot be read.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 1 shared
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
"$CLUSTERCTL" -c "$T/c.yaml" status >"$T/out" 2>&1 || fail "-c: $(cat "$T/out")"
grep -q "^web" "$T/out" || fail "-c status: $(cat "$T/out")"
CLUSTERD_SOCKET=$T/elsewhere.sock "$CLUSTERCTL" -c "$T/c.yaml" status >/dev/null ||
  fail "-c does not come before CLUSTERD_SOCKET"
rc=0
CLUSTERD_SOCKET=$T/elsewhere.sock "$CLUSTERCTL" status >/dev/null 2>&1 || rc=$?
[[ $rc -eq 3 ]] || fail "without -c, CLUSTERD_SOCKET is used: exit $rc"
rc=0
"$CLUSTERCTL" -c "$T/c.yaml" -s "$T/ctl.sock" status >/dev/null 2>"$T/err" || rc=$?
[[ $rc -eq 2 ]] || fail "-s with -c: exit $rc"
echo "apps: [" >"$T/bad.yaml"
rc=0
"$CLUSTERCTL" -c "$T/bad.yaml" status >/dev/null 2>"$T/err" || rc=$?
[[ $rc -eq 2 ]] || fail "-c of a broken config: exit $rc"
grep -qF "clusterctl: -c $T/bad.yaml: no control socket without a valid config; -s SOCKET names it directly" "$T/err" ||
  fail "broken config: $(cat "$T/err")"
# No control.socket: the default path, the same the daemon would take for this user.
printf 'apps:\n  web:\n    command: ["%s"]\n' "$HELLO" >"$T/default.yaml"
mkdir -m 0700 "$T/rt"
rc=0
XDG_RUNTIME_DIR=$T/xdg RUNTIME_DIRECTORY=$T/rt "$CLUSTERCTL" -c "$T/default.yaml" status 2>"$T/err" || rc=$?
[[ $rc -eq 3 ]] && grep -qF "$T/rt/control.sock" "$T/err" || fail "default socket: $rc $(cat "$T/err")"
pass "-c takes the config's socket before CLUSTERD_SOCKET; -s with -c and a broken config exit 2"
