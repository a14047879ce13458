#!/usr/bin/env bash
# Restart counters are per slot and never go back: a crash counts once, rolling reloads (which
# start each slot's worker in its other lane) and a restart someone asked for count nothing, a
# max_memory replacement counts exactly 1 as `replaced`; /metrics says what status says, per
# slot; the memory-limit event names the generation the replaced worker ran.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PY=/usr/bin/python3
$PY -c 'import prometheus_client' 2>/dev/null || skip "python3-prometheus-client is not installed"
METRICS="$PY $SOURCE_DIR/tests/e2e/lib/metrics.py"
PORT=$(free_port)
HOG=$SOURCE_DIR/tests/e2e/lib/hog.py  # READY=1, then 96 MiB in its RSS
# The worker of slot 0 that takes $T/hog first runs the hog; every other one is a hello-worker.
cat >"$T/worker.sh" <<SH
#!/bin/sh
if [ "\$CLUSTER_WORKER_ID" = 0 ] && mv "$T/hog" "$T/hog.taken" 2>/dev/null; then
  echo \$\$ >"$T/hog.pid"
  exec python3 "$HOG"
fi
exec "$HELLO"
SH
chmod +x "$T/worker.sh"
write_config() {  # write_config V
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
metrics: { address: "unix:$T/metrics.sock" }
apps:
  web:
    command: ["$T/worker.sh"]
    instances: 2
    ready: notify
    env: { V: "$1" }
    max_memory: 64M
    memory_check_interval: 200ms
    stop_timeout: 2s
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
write_config 1
start_daemon "$T/c.yaml"
wait_for "two workers ready" states_are web "running running"
scrape() { curl -sf --max-time 10 --unix-socket "$T/metrics.sock" http://localhost/metrics -o "$T/m.txt"; }

# counts_are WHAT "R0 R1": status RESTARTS per slot, and /metrics per slot, are R0 and R1.
counts_are() {
  local what=$1 want=$2 i
  [[ $(worker_field web restarts) == "$want" ]] ||
    fail "$what: status RESTARTS per slot $(worker_field web restarts), want $want"
  scrape || fail "$what: no metrics page"
  read -r -a per_slot <<<"$want"
  for i in 0 1; do
    [[ $($METRICS sum "$T/m.txt" clusterd_worker_restarts_total app=web worker=$i) == "${per_slot[$i]}" ]] ||
      fail "$what: clusterd_worker_restarts_total of slot $i is $($METRICS sum "$T/m.txt" clusterd_worker_restarts_total app=web worker=$i), status says ${per_slot[$i]}"
  done
}
counts_are "at start" "0 0"

victim=$(worker_field web pid | cut -d' ' -f1)
kill -KILL "$victim"
wait_for "slot 0 restarted" bash -c "$(declare -f worker_field states_are); CLUSTERCTL=$CLUSTERCTL
  states_are web 'running running' && [[ \$(worker_field web pid | cut -d' ' -f1) != $victim ]]"
counts_are "after kill -9 of slot 0" "1 0"
[[ $($METRICS get "$T/m.txt" clusterd_worker_restarts_total app=web worker=0 reason=signal) == 1 ]] ||
  fail "the kill is not counted with reason signal: $(grep restarts_total "$T/m.txt")"

# Rolling reloads: every slot's worker is replaced by one in its other lane.
for v in 2 3 4; do
  write_config "$v"
  "$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "reload to V=$v: $(cat "$T/out")"
  grep -q "replaced with generation $v" "$T/out" || fail "reload to V=$v: $(cat "$T/out")"
  wait_for "two workers at generation $v" bash -c "$(declare -f worker_field); CLUSTERCTL=$CLUSTERCTL
    [[ \$(worker_field web generation) == '$v $v' ]]"
  counts_are "after the rolling reload to generation $v" "1 0"
done

# A restart someone asked for counts nothing; its worker is the hog, which max_memory replaces.
touch "$T/hog"
"$CLUSTERCTL" restart web --worker 0 >"$T/out" 2>&1 || fail "restart --worker 0: $(cat "$T/out")"
wait_for "the hog took slot 0" test -s "$T/hog.pid"
hog=$(cat "$T/hog.pid")
wait_for "the hog replaced" log_has 'web\[0\]: RSS [0-9]+ KiB above max_memory 65536 KiB; replacing it'
wait_for "the hog gone" bash -c "! kill -0 $hog 2>/dev/null || grep -q '^State:.*Z' /proc/$hog/status"
wait_for "two workers running" states_are web "running running"
counts_are "after the max_memory replacement" "2 0"
[[ $($METRICS get "$T/m.txt" clusterd_worker_restarts_total app=web worker=0 reason=replaced) == 1 ]] ||
  fail "the replacement is not counted once as replaced: $(grep restarts_total "$T/m.txt")"
"$CLUSTERCTL" events web --json -n 1000 2>/dev/null | $PY -c '
import json, sys
hog = int(sys.argv[1])
events = [json.loads(line) for line in sys.stdin if line.strip()]
limits = [e for e in events if e["kind"] == "memory-limit"]
if len(limits) != 1:
    sys.exit("want one memory-limit event, got %s" % limits)
e = limits[0]
got = (e["worker"], e["pid"], e["generation"])
if got != (0, hog, 4):
    sys.exit("the memory-limit event names (worker, pid, generation) %s; the hog ran as %s"
             % (got, (0, hog, 4)))
' "$hog" || fail "the memory-limit event"
all_answered "$PORT" 20 "after the replacement"
pass "restarts per slot: 1 after a kill, unchanged by 3 reloads and a restart, 2 after max_memory"
