#!/usr/bin/env bash
# An unknown verb or option is named, with the verbs (or the verb's options) to choose from and
# the nearest one when it is a near miss, and exits 2 without talking to the daemon (before:
# "A subcommand is required" for `clusterctl frobnicate`, "The following arguments were not
# expected" for an option).
source "$(dirname "$0")/lib/common.sh"
verbs="commands: status, version, scale, start, stop, restart, reload, logs, events, reopen, upgrade, describe, flush, top, import"
expect() {  # expect "ARGS" LINE1 LINE2: clusterctl ARGS exits 2 and prints these two lines
  local rc=0
  # shellcheck disable=SC2086
  "$CLUSTERCTL" $1 >"$T/out" 2>"$T/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "clusterctl $1: exit $rc: $(cat "$T/err")"
  [[ ! -s $T/out ]] || fail "clusterctl $1 printed on stdout: $(cat "$T/out")"
  [[ $(sed -n 1p "$T/err") == "$2" ]] || fail "clusterctl $1, first line: $(cat "$T/err")"
  [[ $(sed -n 2p "$T/err") == "$3"* ]] || fail "clusterctl $1, second line: $(cat "$T/err")"
}
# No daemon is needed to say any of this: the socket does not exist.
export CLUSTERD_SOCKET=$T/none.sock
expect "frobnicate" "clusterctl: unknown command 'frobnicate'" "$verbs; clusterctl --help says"
expect "stauts" "clusterctl: unknown command 'stauts'; did you mean 'status'?" "$verbs"
expect "stp web" "clusterctl: unknown command 'stp'; did you mean 'stop'?" "$verbs"
expect "describ web" "clusterctl: unknown command 'describ'; did you mean 'describe'?" "$verbs"
expect "" "clusterctl: a command is required" "$verbs"
expect "status --jsno" "clusterctl: status: unknown option '--jsno'; did you mean '--json'?" \
  "status options: --json, --check, --detail; clusterctl status --help says more"
expect "logs --folow" "clusterctl: logs: unknown option '--folow'; did you mean '--follow'?" \
  "logs options: -w, --worker, -n, --lines, -f, --follow, --since, --json"
expect "--sokcet x status" "clusterctl: unknown option '--sokcet'; did you mean '--socket'?" \
  "options: --version, -s, --socket, -c, --config, --timeout; clusterctl --help says more"
expect "stop web extra" "clusterctl: stop: unexpected argument 'extra'" \
  "clusterctl stop --help says what it takes"
expect "scale web --1" "clusterctl: scale: unknown option '--1'" "scale takes no options"
# A known verb still reaches the daemon: exit 3, no daemon here.
rc=0; "$CLUSTERCTL" status 2>"$T/err" || rc=$?
[[ $rc -eq 3 ]] || fail "status without a daemon: exit $rc: $(cat "$T/err")"
rc=0; "$CLUSTERCTL" --help >"$T/out" || rc=$?
[[ $rc -eq 0 ]] && grep -q "scale" "$T/out" || fail "--help: exit $rc"
pass "unknown verbs and options named with a did-you-mean, exit 2"
