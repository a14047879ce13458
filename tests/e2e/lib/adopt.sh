# Socket adoption with unmodified programs (docs/adoption.md): sourced after common.sh.
#
# adopt_round KIND COMMAND...: runs COMMAND (it binds $PORT itself, and answers HTTP with an
# X-Worker header) as app `web`, 4 workers, `ready: listen`, under KIND: `shared` or `reuseport`
# (a listener with adopt: true) or `all` (adopt: all, no listener in the config). Checks that all
# four workers answer on the port, that a kill -9 of one during a burst of new connections has
# none refused (they wait on the master's socket), and that the replacement serves; then stops
# the master.

stop_daemon() {
  kill -TERM "$DAEMON" 2>/dev/null || true
  wait_for "the master to stop" bash -c "! kill -0 $DAEMON 2>/dev/null"
  wait "$DAEMON" 2>/dev/null || true
}

adopt_config() {
  local kind=$1; shift
  local command
  command=$(printf '"%s", ' "$@")
  {
    echo "control: { socket: \"$T/ctl.sock\" }"
    echo "apps:"
    echo "  web:"
    echo "    command: [${command%, }]"
    echo "    instances: 4"
    echo "    ready: listen"
    echo "    ready_timeout: 30s"
    echo "    env: { PORT: \"$PORT\" }"
    if [[ $kind == all ]]; then
      echo "    adopt: all"
    else
      echo "    listen:"
      echo "      http: { address: \"127.0.0.1:$PORT\", mode: $kind, adopt: true }"
    fi
  } >"$T/c.yaml"
}

# all_four_answer: within 10 rounds of 200 new connections, one round reaches 4 workers.
all_four_answer() {
  local out
  for _ in $(seq 10); do
    out=$($HTTP spread "$PORT" 200) || fail "requests failed: $out"
    [[ $(head -1 <<<"$out") -eq 4 ]] && return 0
  done
  fail "4 workers never all answered in 10 rounds: $out"
}

adopt_round() {
  local kind=$1; shift
  PORT=$(free_port)
  adopt_config "$kind" "$@"
  "$CLUSTERD" --check -c "$T/c.yaml" >"$T/check" 2>&1 || fail "$kind: --check: $(cat "$T/check")"
  start_daemon "$T/c.yaml"
  wait_for "$kind: 4 workers ready" "$CLUSTERCTL" status --check
  all_four_answer
  kill_one_during_burst "$kind"
  if [[ $kind == all ]]; then  # status lists the socket adopt: all made, once, kept across the kill
    local listed
    listed=$("$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0].get("adopted"))')
    [[ $listed == "['[::]:$PORT']" ]] || fail "status lists as adopted: $listed, not [::]:$PORT"
  fi
  stop_daemon
}

# kill_one_during_burst LABEL: kill -9 of one worker during a burst of 200 new connections
# refuses none and leaves none unanswered; the replacement gets ready and all four answer.
kill_one_during_burst() {
  local label=$1 victim out
  victim=$(worker_pids | head -1)
  $HTTP count "$PORT" 200 30 split >"$T/count" 2>&1 &
  local load=$!
  EXTRA_PIDS+=("$load")
  kill -KILL "$victim"
  wait "$load" || true
  out=$(cat "$T/count")
  grep -q ' refused=0 ' <<<"$out" || fail "$label: connections refused while a worker died: $out"
  grep -q ' timed_out=0 ' <<<"$out" || fail "$label: connections never answered: $out"
  wait_for "$label: the killed worker replaced and ready" \
    bash -c "! kill -0 $victim 2>/dev/null && $CLUSTERCTL status --check"
  all_four_answer
  echo "$label: $out"
}
