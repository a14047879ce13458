#!/usr/bin/env bash
# Bad input is refused with a clear error and the right exit code, and nothing is left running:
# exit 2 for config problems (syntax, unknown keys, missing or non-executable command, unknown
# user), exit 1 for runtime ones (address in use).
source "$(dirname "$0")/lib/common.sh"
expect() {  # expect CODE PATTERN: run clusterd on $T/c.yaml
  local code=$1 pattern=$2 rc=0
  "$CLUSTERD" -c "$T/c.yaml" >"$T/out" 2>&1 || rc=$?
  [[ $rc -eq $code ]] || { cat "$T/out"; fail "expected exit $code, got $rc"; }
  grep -Eq -- "$pattern" "$T/out" || { cat "$T/out"; fail "expected message /$pattern/"; }
}
printf 'apps:\n  web:\n    comand: ["%s"]\n' "$HELLO" >"$T/c.yaml"
expect 2 "c.yaml:3:5: apps.web.comand: unknown key"
"$CLUSTERD" --check -c "$T/c.yaml" >/dev/null 2>&1 && fail "--check accepted an unknown key"

printf 'apps:\n  web:\n    command: ["%s/nope"]\n' "$T" >"$T/c.yaml"
expect 2 "c.yaml:3:14: apps.web.command: .*not found"
touch "$T/plain"
printf 'apps:\n  web:\n    command: ["%s/plain"]\n' "$T" >"$T/c.yaml"
expect 2 "c.yaml:3:14: apps.web.command: .*not executable"
printf 'apps:\n  web:\n    command: ["%s"]\n    user: no-such-user-xyz\n' "$HELLO" >"$T/c.yaml"
expect 2 "c.yaml:4:11: apps.web.user: .*no-such-user-xyz"
printf 'apps: [1, 2\n' >"$T/c.yaml"
expect 2 "c.yaml:[0-9]+:[0-9]+: "
expect_missing() { local rc=0; "$CLUSTERD" -c "$T/missing.yaml" >"$T/out" 2>&1 || rc=$?; [[ $rc -eq 2 ]]; }
expect_missing || fail "a missing config file does not exit 2"
grep -q "missing.yaml: .*No such file" "$T/out" || fail "missing file message: $(cat "$T/out")"

# An address in use: exit 1, no worker started, no socket left bound.
python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$T/port" &
EXTRA_PIDS+=($!)
wait_for "the blocker to listen" test -s "$T/port"
busy=$(cat "$T/port")
printf 'apps:\n  web:\n    command: ["%s"]\n    instances: 2\n    listen:\n      http: "127.0.0.1:%s"\n' "$HELLO" "$busy" >"$T/c.yaml"
expect 1 "bind 127.0.0.1:$busy: Address already in use"
grep -q "spawned" "$T/out" && fail "a worker was started despite the bind failure"
pass "config errors exit 2 with file:line:col; an address in use exits 1 before any spawn"
