#!/usr/bin/env bash
# Refusals on a control socket anyone may connect to (a `read:` list makes it 0666) cannot flood
# the log: `bin` (no role) connects 3,000 times and `nobody` (read role) asks for `stop` 1,000
# times; each is refused by name, but the log gets at most one line per uid and kind of refusal a
# minute (before: one line per connection, 3,000 lines in 2 s). The count is not lost: when the
# daemon stops it logs how many lines it left out, and with the lines logged they add up to
# every refusal. The counts do not depend on the machine's speed: a burst that lasts over a
# minute may log a second line, which says how many it stands for.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to act as other users"
for u in nobody bin; do getent passwd "$u" >/dev/null || skip "no user $u"; done
reachable_binaries
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock", read: [nobody] }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
start_daemon "$T/c.yaml"
wait_for "the worker" has_workers 1
[[ $(stat -c %a "$T/ctl.sock") == 666 ]] || fail "the socket is $(stat -c %a "$T/ctl.sock")"
# flood N REQUEST: N connections in turn, each sends REQUEST (if any) and reads the one reply;
# prints how many replies carried the expected refusal.
cat >"$T/flood.py" <<'PY'
import json, socket, sys
path, n, request, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
refused = 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)  # a bound against a hang, not a speed target
    s.connect(path)
    if request:
        try:
            s.sendall(request + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it read the request: the reply is still there to read
    reply = json.loads(s.makefile("rb").readline())
    s.close()
    if not reply["ok"] and expect in reply["error"]:
        refused += 1
print(refused, flush=True)
PY
as() { local user=$1; shift; setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups "$@"; }
bin_uid=$(id -u bin) nobody_uid=$(id -u nobody)
n=$(as bin /usr/bin/python3 "$T/flood.py" "$T/ctl.sock" 3000 "" \
  "permission denied: uid $bin_uid may not use this control socket")
[[ $n -eq 3000 ]] || fail "$n of bin's 3000 connections were refused by name"
n=$(as nobody /usr/bin/python3 "$T/flood.py" "$T/ctl.sock" 1000 '{"cmd":"stop","app":"web"}' \
  "permission denied: 'stop' needs the admin role, which uid $nobody_uid does not have")
[[ $n -eq 1000 ]] || fail "$n of nobody's 1000 stops were refused by name"
has_workers 1 || fail "a refused stop stopped the worker"
"$CLUSTERCTL" status >/dev/null || fail "root's status after the floods"
bin_lines=$(log_count "control: refused uid $bin_uid pid [0-9]+: no role")
stop_lines=$(log_count "control: refused stop from uid $nobody_uid pid [0-9]+: needs the admin role")
(( bin_lines >= 1 && bin_lines <= 3 )) || fail "bin's 3000 refusals took $bin_lines log lines"
(( stop_lines >= 1 && stop_lines <= 3 )) || fail "nobody's 1000 refused stops took $stop_lines log lines"
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
# accounted KEY PATTERN: the lines logged that match PATTERN, each with the refusals it says it
# stands for ("(N more like it ..."), plus what the daemon said at its stop it left out for KEY.
accounted() {
  /usr/bin/python3 - "$T/clusterd.log" "$1" "$2" <<'PY'
import re, sys
log, key, pattern = sys.argv[1:]
n = 0
for line in open(log, errors="replace"):
    if re.search(pattern, line):
        more = re.search(r"\((\d+) more like it", line)
        n += 1 + (int(more.group(1)) if more else 0)
    left = re.search(r"control: (\d+) warnings left out of the log since the last one about (.*)$", line)
    if left and left.group(2) == key:
        n += int(left.group(1))
print(n)
PY
}
total=$(accounted "uid $bin_uid: refused, no role" "control: refused uid $bin_uid pid [0-9]+: no role")
[[ $total -eq 3000 ]] || fail "bin's refusals add up to $total, not 3000: $(grep "uid $bin_uid" "$T/clusterd.log")"
total=$(accounted "uid $nobody_uid: refused, needs a role" "control: refused stop from uid $nobody_uid")
[[ $total -eq 1000 ]] || fail "nobody's refused stops add up to $total, not 1000: $(grep "uid $nobody_uid" "$T/clusterd.log")"
pass "3000 connections without a role: $bin_lines log line(s); 1000 refused stops: $stop_lines; all counted"
