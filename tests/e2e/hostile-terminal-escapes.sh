#!/usr/bin/env bash
# A worker's STATUS= text reaches the operator's terminal through `clusterctl status`. Attack: a
# worker sends terminal escapes in STATUS= (set the window title, erase the line, write the
# clipboard with OSC 52) and they were printed raw. Expected: the human table shows them escaped
# as \xNN, with no ESC or BEL byte; --json carries the exact text.
# Then the same with C1 controls, which need no ESC: U+009B (CSI) and U+009D (OSC), 0xC2 0x9B
# and 0xC2 0x9D in UTF-8, in STATUS= and in the worker's output, and a lone 0x9B byte (CSI to a
# terminal in an 8-bit mode) in its output; they passed raw through `clusterctl status`, `logs`,
# the master's log and the log file. Expected: \xc2\x9b, \xc2\x9d, \x9b everywhere, no C1.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-notify >/dev/null || skip "systemd-notify is not installed"
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
systemd-notify --ready --status=$'\e]0;owned\a\e[2K\e]52;c;ZXZpbA==\a'
exec sleep 600
SH
chmod +x "$T/worker.sh"
cat >"$T/c1.sh" <<'SH'
#!/bin/bash
printf 'out \xc2\x9b2J \xc2\x9d0;owned\xc2\x9c lone \x9b[1m end\n'
systemd-notify --ready --status=$'csi \xc2\x9b2J osc \xc2\x9d0;owned\xc2\x9c'
exec sleep 600
SH
chmod +x "$T/c1.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  esc:
    command: ["$T/worker.sh"]
    instances: 1
    ready: notify
  c1:
    command: ["$T/c1.sh"]
    instances: 1
    ready: notify
    logs: { file: "$T/c1.log" }
YAML
start_daemon "$T/c.yaml"
status_text() {
  "$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["apps"][0]["workers"][0]["status_text"]))'
}
has_status_text() { [[ $(status_text) != "''" ]]; }
wait_for "the worker's status text" has_status_text

# The JSON form carries the exact text, escape characters included.
"$CLUSTERCTL" status --json >"$T/status.json" || fail "status --json failed"
python3 - "$T/status.json" <<'PY' || fail "status --json: the status text is not the one sent: $(status_text)"
import json, sys
want = "\x1b]0;owned\x07\x1b[2K\x1b]52;c;ZXZpbA==\x07"
got = json.load(open(sys.argv[1]))["apps"][0]["workers"][0]["status_text"]
sys.exit(0 if got == want else 1)
PY

# The human table: no ESC, no BEL; the escaped form instead.
"$CLUSTERCTL" status >"$T/status.txt" || fail "status failed"
esc=$(grep -c $'\x1b' "$T/status.txt" || true)
bel=$(grep -c $'\x07' "$T/status.txt" || true)
[[ $esc -eq 0 && $bel -eq 0 ]] || fail "raw control bytes in 'clusterctl status' ($esc line(s) with ESC, $bel with BEL): $(grep -a $'\x1b' "$T/status.txt" | cat -v)"
grep -qF '\x1b]0;owned\x07\x1b[2K\x1b]52;c;ZXZpbA==\x07' "$T/status.txt" || fail "no escaped status text in: $(cat "$T/status.txt")"
# Neither does the daemon's own log carry them raw.
! grep -q $'\x1b' "$T/clusterd.log" || fail "raw ESC in the daemon log: $(grep -a $'\x1b' "$T/clusterd.log" | cat -v)"

# C1 controls: exact in --json, escaped everywhere a human reads them.
c1_ready() { "$CLUSTERCTL" status c1 --json | grep -q '"state": "running"'; }
wait_for "the C1 worker ready" c1_ready
c1_logged() { "$CLUSTERCTL" logs c1 --json | grep -q ' end"'; }
wait_for "the C1 worker's output line" c1_logged
wait_for "the C1 line in the log file" grep -q ' end' "$T/c1.log"
"$CLUSTERCTL" status c1 --json >"$T/c1.json" || fail "status c1 --json failed"
python3 - "$T/c1.json" <<'PY' || fail "status --json: the C1 status text is not the one sent"
import json, sys
got = json.load(open(sys.argv[1]))["apps"][0]["workers"][0]["status_text"]
sys.exit(0 if got == "csi \u009b2J osc \u009d0;owned\u009c" else 1)
PY
"$CLUSTERCTL" status c1 >"$T/c1-status.txt" || fail "status c1 failed"
"$CLUSTERCTL" logs c1 >"$T/c1-logs.txt" 2>/dev/null || fail "logs c1 failed"
# no_c1 FILE WHAT: FILE is UTF-8 with no C1 character (and no ESC)
no_c1() {
  python3 - "$1" <<'PY' || fail "$2: raw C1 or invalid UTF-8: $(cat -v "$1" | tail -5)"
import sys
text = open(sys.argv[1], "rb").read().decode("utf-8")  # strict: a lone 0x9B fails here
sys.exit(1 if any(0x80 <= ord(c) <= 0x9F or c == "\x1b" for c in text) else 0)
PY
}
no_c1 "$T/c1-status.txt" "clusterctl status"
no_c1 "$T/c1-logs.txt" "clusterctl logs"
no_c1 "$T/clusterd.log" "the master's log"
no_c1 "$T/c1.log" "the log file"
status_escaped='csi \xc2\x9b2J osc \xc2\x9d0;owned\xc2\x9c'
output_escaped='out \xc2\x9b2J \xc2\x9d0;owned\xc2\x9c lone \x9b[1m end'
grep -qF "$status_escaped" "$T/c1-status.txt" || fail "status: no escaped C1: $(cat "$T/c1-status.txt")"
# Over the protocol the lone byte became U+FFFD (JSON is UTF-8): the C1 characters stay escaped.
grep -qF 'out \xc2\x9b2J \xc2\x9d0;owned\xc2\x9c lone ' "$T/c1-logs.txt" || fail "logs: $(cat "$T/c1-logs.txt")"
grep -qF "STATUS=$status_escaped" "$T/clusterd.log" || fail "master log: no escaped STATUS= line"
grep -qF "c1[0] out: $output_escaped" "$T/clusterd.log" || fail "master log: no escaped output line"
grep -qF "c1[0] out: $output_escaped" "$T/c1.log" || fail "log file: $(cat "$T/c1.log")"
pass "ESC escapes and C1 controls shown as \\xNN in status, logs, the master log and the log file; exact in --json"
