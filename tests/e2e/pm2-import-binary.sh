#!/usr/bin/env bash
# clusterctl import of config/examples/pm2/binary (a program with interpreter: none, two
# instances in fork mode, each binding its own address): the report names every key, `clusterd
# --check` accepts the config, and clusterd runs the same program: both instances serve, a
# killed one comes back. The example's program is hello-worker, put where the file says.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cp -r "$SOURCE_DIR/config/examples/pm2/binary" "$T/"
mkdir -p "$T/binary/bin"
cp "$HELLO" "$T/binary/bin/edge-server"
sed -i "s/127.0.0.1:9080/127.0.0.1:$PORT/" "$T/binary/ecosystem.json"
"$CLUSTERCTL" import "$T/binary/ecosystem.json" >"$T/c.yaml" 2>"$T/report" ||
  fail "import: $(cat "$T/report")"
for line in \
  "edge.interpreter: mapped to command: the script is the program (none)" \
  "edge.script: mapped to command: ./bin/edge-server" \
  "edge.args: mapped to command, after the script: --listen 127.0.0.1:$PORT --threads 1" \
  "edge.exec_mode: mapped to the default: each worker runs on its own, binding its own ports" \
  "edge.max_memory_restart: mapped to max_memory: 512M" \
  "edge.out_file: mapped to logs: nowhere but the ring" \
  "ecosystem.json: 11 mapped, 1 approximated, 0 not supported"; do
  grep -qF -- "$line" "$T/report" || fail "the report lacks '$line':
$(cat "$T/report")"
done
echo "control: { socket: \"$T/ctl.sock\" }" >>"$T/c.yaml"
"$CLUSTERD" --check -c "$T/c.yaml" >"$T/check" 2>&1 || fail "--check refused the import: $(cat "$T/check")"

start_daemon "$T/c.yaml"
running() { [[ $("$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(sum(w["state"] == "running" for w in json.load(sys.stdin)["apps"][0]["workers"]))') -eq $1 ]]; }
wait_for "two workers running" running 2
serves() { $HTTP get "$PORT" /read >/dev/null; }
wait_for "the program to serve" serves
$HTTP spread "$PORT" 200 >"$T/spread" || fail "spread: $(cat "$T/spread")"
[[ $(head -1 "$T/spread") -eq 2 ]] || fail "not both instances served: $(cat "$T/spread")"
workers=$(worker_pids)
[[ $(wc -w <<<"$workers") -eq 2 ]] || fail "workers: $workers"
for p in $workers; do
  [[ $(readlink "/proc/$p/exe") == "$T/binary/bin/edge-server" ]] || fail "worker $p runs $(readlink "/proc/$p/exe")"
done
kill -KILL "$(head -1 <<<"$workers")"
wait_for "the killed worker replaced" bash -c "[[ \$(tr ' ' '\n' </proc/$DAEMON/task/$DAEMON/children | grep -c .) -eq 2 ]] && ! kill -0 $(head -1 <<<"$workers") 2>/dev/null"
wait_for "two workers running" running 2
wait_for "the program to serve" serves
pass "imported binary: checked, both instances of the program serve, a killed one comes back"
