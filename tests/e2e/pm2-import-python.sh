#!/usr/bin/env bash
# clusterctl import, with the real node, of config/examples/pm2/python-worker (a Python queue
# worker, interpreter python3, 2 instances): the report names every key, `clusterd --check`
# accepts the config, and clusterd runs the same workers: two python3 processes that say what
# they do, a killed one replaced, each stopped with SIGTERM and exiting on its own.
source "$(dirname "$0")/lib/common.sh"
command -v node >/dev/null || skip "node is not installed (the example is an ecosystem.config.js)"
cp -r "$SOURCE_DIR/config/examples/pm2/python-worker" "$T/"
"$CLUSTERCTL" import "$T/python-worker/ecosystem.config.js" >"$T/c.yaml" 2>"$T/report" ||
  fail "import: $(cat "$T/report")"
for line in \
  "queue-worker.interpreter: mapped to command[0]: python3" \
  "queue-worker.script: mapped to command: python3 worker.py" \
  "queue-worker.args: mapped to command, after the script: --queue emails --batch 10" \
  "queue-worker.instances: mapped to instances: 2" \
  "queue-worker.kill_timeout: mapped to stop_timeout: 3s" \
  "queue-worker.restart_delay: approximated: backoff: {initial: 2s, max: 2s}" \
  "ecosystem.config.js: 9 mapped, 3 approximated, 0 not supported"; do
  grep -qF -- "$line" "$T/report" || fail "the report lacks '$line':
$(cat "$T/report")"
done
grep -qF "    command: [python3, worker.py, --queue, emails, --batch, 10]" "$T/c.yaml" ||
  fail "command: $(cat "$T/c.yaml")"
grep -qF "    cwd: $T/python-worker" "$T/c.yaml" || fail "cwd: $(cat "$T/c.yaml")"
echo "control: { socket: \"$T/ctl.sock\" }" >>"$T/c.yaml"
"$CLUSTERD" --check -c "$T/c.yaml" >"$T/check" 2>&1 || fail "--check refused the import: $(cat "$T/check")"
grep -q "app queue-worker: instances 2: set in config" "$T/check" || fail "check: $(cat "$T/check")"

start_daemon "$T/c.yaml"
said() { [[ $("$CLUSTERCTL" logs queue-worker -n 100 2>/dev/null | grep -c "taking jobs from emails in batches of 10") -ge $1 ]]; }
wait_for "both workers to take jobs" said 2
has_workers 2 || fail "$(worker_count) workers"
for p in $(worker_pids); do
  [[ $(tr '\0' ' ' <"/proc/$p/cmdline") == *python3\ worker.py\ --queue\ emails\ --batch\ 10\  ]] ||
    fail "worker $p runs $(tr '\0' ' ' <"/proc/$p/cmdline")"
  [[ $(readlink "/proc/$p/cwd") == "$T/python-worker" ]] || fail "worker $p runs in $(readlink "/proc/$p/cwd")"
  tr '\0' '\n' <"/proc/$p/environ" | grep -qx "QUEUE_URL=redis://127.0.0.1:6379/0" || fail "env of $p"
done
victim=$(worker_pids | head -1)
kill -KILL "$victim"
wait_for "the killed worker replaced" said 3
wait_for "two workers again" has_workers 2
workers=$(worker_pids)
kill -TERM "$DAEMON"
wait "$DAEMON" || fail "clusterd exited $?"
DAEMON=""
# A clean stop: each worker got SIGTERM and said so (kill_timeout -> stop_timeout: 3s).
[[ $(grep -c "stopped" "$T/clusterd.log") -ge 2 ]] || fail "the workers did not stop on SIGTERM"
none_alive $workers || fail "a worker outlived clusterd"
pass "imported python-worker: checked, two python3 workers run, a killed one comes back"
