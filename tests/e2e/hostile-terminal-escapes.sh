#!/usr/bin/env bash
# A worker's STATUS= text reaches the operator's terminal through `clusterctl status`. Attack: a
# worker sends terminal escapes in STATUS= (set the window title, erase the line, write the
# clipboard with OSC 52) and they were printed raw. Expected: the human table shows them escaped
# as \xNN, with no ESC or BEL byte; --json carries the exact text.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-notify >/dev/null || skip "systemd-notify is not installed"
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
systemd-notify --ready --status=$'\e]0;owned\a\e[2K\e]52;c;ZXZpbA==\a'
exec sleep 600
SH
chmod +x "$T/worker.sh"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  esc:
    command: ["$T/worker.sh"]
    instances: 1
    ready: notify
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
pass "STATUS= escapes shown as \\xNN in the table (no ESC/BEL byte), exact in --json"
