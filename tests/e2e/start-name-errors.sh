#!/usr/bin/env bash
# A start that fails on several unknown names reports each on a line of its own, at its key:
# never one line with the others folded into it as escaped newlines (`\x0a`). The names are in
# control.read and control.admin: `clusterd --check`'s lookups and the daemon's own, at start,
# both list every one.
source "$(dirname "$0")/lib/common.sh"
for u in no-such-user-one no-such-user-two; do
  getent passwd "$u" >/dev/null && skip "user $u exists"
done
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", read: [no-such-user-one], admin: [no-such-user-two] }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
rc=0
"$CLUSTERD" -c "$T/c.yaml" >"$T/clusterd.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "clusterd started with two unknown users"
log_has "spawned" && fail "a worker was started despite the unknown users"
grep -qF '\x0a' "$T/clusterd.log" && fail "an error line carries escaped newlines: $(grep -F '\x0a' "$T/clusterd.log")"
[[ $(log_count "control\.read: user 'no-such-user-one' does not exist") -eq 1 ]] ||
  fail "no line of its own for the first user: $(cat "$T/clusterd.log")"
[[ $(log_count "control\.admin: user 'no-such-user-two' does not exist") -eq 1 ]] ||
  fail "no line of its own for the second user: $(cat "$T/clusterd.log")"
[[ $(log_count "no-such-user-one.*no-such-user-two") -eq 0 ]] || fail "both users on one line"
pass "exit $rc, each unknown user on a line of its own at its key"
