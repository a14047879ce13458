#!/usr/bin/env bash
# A live upgrade execs the new binary only once it proved, in its rehearsal, that it decoded the
# very state it was sent (the handshake, docs/upgrade.md#the-handshake), and only the file that
# rehearsed. Stand-ins for the new binary that exit 0 and are refused: /bin/true; a script that
# reads the state and says nothing; scripts that answer on fd 4 with garbage, an overlong line, a
# well-formed handshake with a wrong digest, and one with the right digest (the SHA-256 of what they
# read on fd 3) but another upgrade protocol. Each time `clusterctl upgrade --binary X` exits 1 with the
# reason, the workers keep their pids, the listener serves, the master runs on with no more fds or
# children than before. The same script answering this protocol, which then runs clusterd, is
# exec'd: so the digest the others sent is the one expected, and only the protocol was wrong.
# Last, scripts that answer right and then change their file (replaced by another at the path,
# or written to) are refused at the exec, and what was put at the path never runs.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/upgrade.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v sha256sum >/dev/null || skip "sha256sum is not installed"
PORT=$(free_port)
# The upgrade protocol this clusterd speaks: the state document's version.
PROTOCOL=$(sed -n 's/^inline constexpr int kUpgradeVersion = \([0-9]*\);.*/\1/p' \
  "$SOURCE_DIR/supervisor/daemon/upgrade_state.h")
[[ -n $PROTOCOL ]] || fail "no kUpgradeVersion in upgrade_state.h"

# answers NAME PROTOCOL [DIGEST]: a stand-in that, in its rehearsal, answers the handshake of
# PROTOCOL with DIGEST (default: the SHA-256 of the state it got on fd 3) and exits 0; run for
# the take-over, it runs clusterd.
answers() {
  cat >"$T/$1" <<SH
#!/bin/sh
case " \$* " in
  *" --upgrade-check "*)
    sum=\$(sha256sum </proc/self/fd/3 | cut -d' ' -f1)
    printf 'clusterd-upgrade-handshake protocol=%s version=9.9.9 sha256=%s\n' $2 "${3:-\$sum}" >&4
    ${4:-}
    exit 0 ;;
esac
exec "$CLUSTERD" "\$@"
SH
  chmod 755 "$T/$1"
}

# says NAME SHELL-COMMAND: a stand-in whose rehearsal runs SHELL-COMMAND and exits 0.
says() {
  printf '#!/bin/sh\ncat /proc/self/fd/3 >/dev/null\n%s\nexit 0\n' "$2" >"$T/$1"
  chmod 755 "$T/$1"
}

web_config 2 reuseport
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
wait_for "two running workers in status" both_running
BEFORE=$(workers)
START=$(status_py 's["master"]["start_time_s"]')
PIDS=$(status_py '" ".join(sorted(str(w["pid"]) for w in s["apps"][0]["workers"]))')
wait_for "no control client left" no_clients
FDS=$(fd_count "$DAEMON")

# 1. Binaries that exit 0 without proving anything.
prove="the new binary did not prove it read the state"
failed_upgrade "/bin/true" /bin/true "$prove: no handshake"
says silent ":"
failed_upgrade "a script that reads the state and exits 0" "$T/silent" "$prove: no handshake"
says garbage "echo hello >&4"
failed_upgrade "garbage on fd 4" "$T/garbage" "$prove: a malformed handshake: \"hello"
says overlong "yes x | head -c 100000 >&4"
failed_upgrade "an overlong line on fd 4" "$T/overlong" "$prove: an overlong handshake"
answers wrong-digest "$PROTOCOL" "$(printf '0%.0s' {1..64})"
failed_upgrade "a handshake with a wrong digest" "$T/wrong-digest" \
  "$prove: it decoded another state (sha256 0000000000000000\.\.\., sent [0-9a-f]\{16\}\.\.\.)"
answers other-protocol $((PROTOCOL + 1))
failed_upgrade "a handshake of another protocol with the right digest" "$T/other-protocol" \
  "$prove: it speaks upgrade protocol $((PROTOCOL + 1)); this master speaks $PROTOCOL"

# 2. The same script answering this master's protocol: the digest it computes is the one
# expected. It is exec'd and runs clusterd, which takes over.
answers protocol-1 "$PROTOCOL"
"$CLUSTERCTL" upgrade --binary "$T/protocol-1" >"$T/out" 2>"$T/err" \
  || fail "the handshake with the right digest and protocol was refused: $(cat "$T/out" "$T/err")"
grep -Eq "^upgraded: clusterd [^ ]+ pid $DAEMON, upgrade 1$" "$T/out" || fail "the upgrade said: $(cat "$T/out")"
log_has "upgrade: $T/protocol-1 \(clusterd 9\.9\.9\) decoded the state" || fail "the log does not name the handshake's version"
untouched "the upgrade through a script" 1
[[ $(cat "/proc/$DAEMON/comm") == clusterd ]] || fail "the master is named $(cat "/proc/$DAEMON/comm"), not clusterd"
wait_for "no control client left" no_clients
FDS=$(fd_count "$DAEMON")

# 3. A script that answers right, then is replaced at its path by another file, or changed in
# place, before the exec: refused; the file put there never runs.
printf '#!/bin/sh\ntouch "%s"\nexit 0\n' "$T/replacement.ran" >"$T/replacement"
chmod 755 "$T/replacement"
answers replaced "$PROTOCOL" "" "cp -p '$T/replacement' '$T/replacement.new' && mv -f '$T/replacement.new' '$T/replaced'"
failed_upgrade "a binary replaced after its rehearsal" "$T/replaced" \
  "$T/replaced is not the file that rehearsed any more (replaced or changed since): retry" 1
[[ ! -e $T/replacement.ran ]] || fail "the file put at the path after the rehearsal ran"
answers changed "$PROTOCOL" "" "echo '# changed' >>'$T/changed'"
failed_upgrade "a binary changed after its rehearsal" "$T/changed" \
  "$T/changed is not the file that rehearsed any more (replaced or changed since): retry" 1

pass "exit 0 without a handshake, garbage, an overlong line, a wrong digest, another protocol and" \
  "a file changed after its rehearsal were refused; the right handshake upgraded"
