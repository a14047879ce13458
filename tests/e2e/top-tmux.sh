#!/usr/bin/env bash
# `clusterctl top` as a person sees it, in a real terminal (tmux): a row per worker, a worker
# killed with -9 shows its restart, keys sort, `q` and Ctrl-C leave the alternate screen with the
# terminal's settings as they were; without a terminal it prints plain tables, no escapes.
source "$(dirname "$0")/lib/common.sh"
command -v tmux >/dev/null || skip "tmux is not installed"
PORT=$(free_port)
web_config 3 reuseport
start_daemon "$T/c.yaml"
wait_for "3 workers ready" log_ready 3
export TMUX_TMPDIR=$T  # a tmux server of this test's own
SESSION=top
tmux new-session -d -s $SESSION -x 150 -y 40 "env -i PATH=/usr/bin:/bin TERM=xterm HOME=$T bash --norc --noprofile"
EXTRA_PIDS+=($(tmux display -p -t $SESSION '#{pid}'))
trap 'tmux kill-server 2>/dev/null || true; cleanup' EXIT
screen() { tmux capture-pane -p -t $SESSION; }
shows() { screen | grep -Eq -- "$1"; }
alternate() { [[ $(tmux display -p -t $SESSION '#{alternate_on}') == "$1" ]]; }
run_top() {  # run_top: starts top in the pane, its terminal settings saved before and after
  tmux send-keys -t $SESSION "stty -a >$T/stty.before; CLUSTERD_SOCKET=$T/ctl.sock $CLUSTERCTL top -i 0.2; echo TOP-EXIT=\$?; stty -a >$T/stty.after" Enter
  wait_for "top's screen" shows "clusterd top"
}
rows() { screen | grep -cE '^web +[0-9]+ +[0-9]+ +running'; }
rows_are() { [[ $(rows) -eq $1 ]]; }

run_top
alternate 1 || fail "top is not on the alternate screen"
wait_for "3 running rows" rows_are 3
victim=$(worker_pids | head -1)
kill -KILL "$victim"
restarted() { screen | grep -E '^web ' | grep -v " $victim " | awk '{print $13}' | grep -qx 1; }
wait_for "a row with 1 restart (pid $victim killed)" restarted
screen | grep -q "exited" || fail "no exit event shown: $(screen)"
wait_for "web's totals with the restart" shows "^web: 3/3 ready, gen 1, .*; cpu [0-9.]+%, mem [0-9.]+[KMG], 3 threads, 3 processes, 1 restarts"
tmux send-keys -t $SESSION c
wait_for "sort by cpu" shows "sort: cpu"
tmux send-keys -t $SESSION q
wait_for "top to end on q" shows "TOP-EXIT=0"
alternate 0 || fail "the alternate screen is still on after q"
wait_for "stty after q" test -s "$T/stty.after"
diff "$T/stty.before" "$T/stty.after" >&2 || fail "q left the terminal settings changed"
shows "clusterd top" && fail "top's screen is still visible after q"

tmux send-keys -t $SESSION "clear" Enter
rm -f "$T/stty.after"
run_top
tmux send-keys -t $SESSION C-c
wait_for "top to end on Ctrl-C" shows "TOP-EXIT=0"
alternate 0 || fail "the alternate screen is still on after Ctrl-C"
wait_for "stty after Ctrl-C" test -s "$T/stty.after"
diff "$T/stty.before" "$T/stty.after" >&2 || fail "Ctrl-C left the terminal settings changed"

"$CLUSTERCTL" top -n 2 -i 0.1 >"$T/plain" </dev/null || fail "plain top failed"
[[ $(grep -c '^clusterd top ' "$T/plain") -eq 2 ]] || fail "not 2 plain tables: $(cat "$T/plain")"
[[ $(grep -cE '^web +[0-9]+ ' "$T/plain") -eq 6 ]] || fail "not 3 rows per table: $(cat "$T/plain")"
grep -q $'\033' "$T/plain" && fail "escape sequences in the plain output"
pass "3 rows, the killed worker's restart shown, sort key, q and Ctrl-C restore the terminal; plain tables without a terminal"
