#!/usr/bin/env bash
# A stopped app refuses new connections at once instead of letting them wait in a queue nobody
# accepts from, yet keeps its address (no other process can take it); restart of a stopped app
# is refused and starts nothing; `start` serves again. In reuseport mode (web) and in shared
# mode (api).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/serving.sh"
PORT=$(free_port)
API_PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 3
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
  api:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$API_PORT", mode: shared }
YAML
start_daemon "$T/c.yaml"
wait_for "five workers ready" log_ready 5
all_answered "$PORT" 30 "web before the stop"
all_answered "$API_PORT" 30 "api before the stop"

# refuse_then_serve APP PORT "RUNNING-STATES"
refuse_then_serve() {
  local app=$1 port=$2 running=$3 out rc
  "$CLUSTERCTL" stop "$app" >"$T/out" 2>&1 || fail "stop $app: $(cat "$T/out")"
  # The sockets stop listening in the same turn as the stop, while the workers still drain.
  all_refused "$port" 20 "$app stopped"
  out=$(bindable "$port") && fail "$app stopped: another process could bind 127.0.0.1:$port"
  [[ $out == *"Address already in use"* ]] || fail "$app stopped: binding its address: $out"
  [[ $(app_field "$app" stopped) == True ]] || fail "$app: status does not say stopped"
  wait_for "$app's workers gone" states_are "$app" "$(sed 's/running/idle/g' <<<"$running")"
  "$CLUSTERCTL" status "$app" | grep -q "^$app: stopped" || fail "$app: the table does not say stopped"
  rc=0; "$CLUSTERCTL" restart "$app" --worker 1 >"$T/out" 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "restart $app --worker 1 of a stopped app exited $rc: $(cat "$T/out")"
  grep -q "$app is stopped; \`clusterctl start $app\` starts it" "$T/out" ||
    fail "restart $app --worker 1 refusal: $(cat "$T/out")"
  rc=0; "$CLUSTERCTL" restart "$app" >"$T/out" 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "restart $app of a stopped app exited $rc: $(cat "$T/out")"
  [[ $(worker_field "$app" pid) != *[0-9]* ]] || fail "a refused restart started a worker: $(worker_field "$app" pid)"
  all_refused "$port" 20 "$app stopped, after the refused restarts"
  "$CLUSTERCTL" start "$app" >"$T/out" 2>&1 || fail "start $app: $(cat "$T/out")"
  wait_for "$app running again" states_are "$app" "$running"
  all_answered "$port" 30 "$app started again"
}
refuse_then_serve web "$PORT" "running running running"
[[ $(listening "$PORT") -eq 3 ]] || fail "web started: $(listening "$PORT") sockets listen, want 3"
refuse_then_serve api "$API_PORT" "running running"
[[ $(listening "$API_PORT") -eq 1 ]] || fail "api started: $(listening "$API_PORT") sockets listen, want 1"
all_answered "$PORT" 30 "web, after api's stop and start"
pass "stopped apps (reuseport, shared) refuse at once and keep their address; restart refused; start serves"
