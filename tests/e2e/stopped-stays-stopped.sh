#!/usr/bin/env bash
# A stopped app stays stopped until `start`: a reload that changes only instances, a reload that
# changes env and instances, a scale, and a reload to a command that cannot run change the app
# but start nothing, and each says so; its sockets keep refusing. `start` then starts the
# generation the last reload made (docs/reload.md, "A stopped app").
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PORT=$(free_port)
write_config() {  # write_config INSTANCES V COMMAND-JSON
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: $3
    instances: $1
    ready: notify
    env: { V: "$2" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
write_config 2 1 "[\"$HELLO\"]"
start_daemon "$T/c.yaml"
wait_for "two workers ready" states_are web "running running"
"$CLUSTERCTL" stop web >/dev/null || fail "stop"
wait_for "both idle" states_are web "idle idle"

# still_stopped WHAT INSTANCES: no worker, status stopped with INSTANCES slots, nothing listens.
still_stopped() {
  local what=$1 n=$2
  has_workers 0 || fail "$what: $(worker_count) worker(s) started"
  [[ $(worker_field web state) == "$(printf 'idle %.0s' $(seq "$n") | sed 's/ $//')" ]] ||
    fail "$what: states $(worker_field web state)"
  [[ $(app_field web stopped) == True ]] || fail "$what: status does not say stopped"
  [[ $(app_field web instances) == "$n" ]] || fail "$what: instances $(app_field web instances), want $n"
  [[ $(listening "$PORT") -eq 0 ]] || fail "$what: $(listening "$PORT") socket(s) listen"
  all_refused "$PORT" 10 "$what"
}
# reload WHAT: the reload succeeds (its reply in $T/reply).
reload() {
  local rc=0
  "$CLUSTERCTL" reload >"$T/reply" 2>&1 || rc=$?
  [[ $rc -eq 0 ]] || fail "$1: reload exited $rc: $(cat "$T/reply")"
}
# replied WHAT PATTERN: the reload's reply matches PATTERN (grep -E) and replaced nothing.
replied() {
  grep -Eq "$2" "$T/reply" || fail "$1: the reply does not say the app is stopped: $(cat "$T/reply")"
  grep -q "replaced" "$T/reply" && fail "$1: the reply says replaced: $(cat "$T/reply")"
  true
}

# (a) only instances changes: the app is scaled, nothing starts.
write_config 3 1 "[\"$HELLO\"]"
reload "(a) instances 2 -> 3"
still_stopped "(a) reload to instances 3" 3
replied "(a)" 'web instances 2 -> 3 \(stopped: none starts until `start`\)'

# (b) env and instances: a new generation for `start`, nothing starts.
write_config 4 2 "[\"$HELLO\"]"
reload "(b) env and instances"
still_stopped "(b) reload of env and instances" 4
replied "(b)" 'web is stopped: generation 2 starts at `start web`'
grep -q 'web instances 3 -> 4' "$T/reply" || fail "(b): the reply does not say instances 3 -> 4: $(cat "$T/reply")"
[[ $(app_field web generation) == 2 ]] || fail "(b): generation $(app_field web generation)"

# (c) scale: nothing starts, and the reply says so.
"$CLUSTERCTL" scale web 3 >"$T/reply" 2>&1 || fail "(c) scale: $(cat "$T/reply")"
still_stopped "(c) scale web 3" 3
grep -q 'scaled web from 4 to 3; web is stopped: none starts until `start`' "$T/reply" ||
  fail "(c) scale reply: $(cat "$T/reply")"

# (d) a command that exits 1: nothing runs it yet, so nothing fails or rolls back.
write_config 3 2 '["sh", "-c", "exit 1"]'
reload "(d) a command that exits 1"
still_stopped "(d) reload to a failing command" 3
replied "(d)" 'web is stopped: generation 3 starts at `start web`'
[[ $(app_field web generation) == 3 ]] || fail "(d): generation $(app_field web generation)"

# start: generation 3 starts in every slot, under the restart policy (not a rollout: no canary,
# nothing to roll back to), so its workers crash and back off.
lines=$(wc -l <"$T/clusterd.log")
"$CLUSTERCTL" start web >"$T/out" 2>&1 || fail "start: $(cat "$T/out")"
for i in 0 1 2; do
  wait_for "slot $i backing off at generation 3" log_has "web\[$i\] gen 3: starting -> backoff: exit 1"
done
tail -n +"$((lines + 1))" "$T/clusterd.log" | grep 'spawned pid' | grep -v ' gen 3: ' &&
  fail "start spawned a worker of another generation"
"$CLUSTERCTL" events web -n 1000 >"$T/events" 2>/dev/null
grep -Eq ' (rollback|rollout-started) ' "$T/events" && fail "start rolled out: $(grep -E 'rollback|rollout' "$T/events")"
[[ $(app_field web stopped) == False ]] || fail "started, yet status says stopped"

# A reload to a command that runs rolls the started app, and it serves.
write_config 3 3 "[\"$HELLO\"]"
"$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "reload to a working command: $(cat "$T/out")"
wait_for "three workers running" states_are web "running running running"
all_answered "$PORT" 30 "after start and a reload to a working command"
pass "a stopped app stays stopped through reloads and a scale, refusing; start starts generation 3"
