#!/usr/bin/env bash
# Benchmark: a rolling reload under load of one unmodified Node app (it calls server.listen(PORT)
# itself), run by PM2's cluster mode and by clusterd (adopt: all), in the same run:
#   pm2 / plain        `pm2 reload app`; the app answers SIGINT (PM2's reload signal) with a plain
#                      server.close()
#   clusterd / plain   `clusterctl reload` of a changed env; the same app, the same close() on
#                      SIGTERM (clusterd's stop signal)
#   clusterd / drain   the drain recipe of config/examples/recipes/server.js: `Connection: close`
#                      while draining, then net.Server#close()
# wrk drives each (keep-alive, CONNS connections, DURATION seconds) while RELOADS reloads replace
# every worker, one after the other (the first after 2 s); ROUNDS rounds, the rows interleaved.
# Prints requests/s and failed requests (wrk socket errors + non-2xx) per row, medians (min-max).
# PM2 comes from the npm registry into the temp dir (PM2_VERSION, default 5), its home there too.
#   bench/pm2-reload.sh          (ROUNDS=3, DURATION=10, RELOADS=2, CONNS=16, INSTANCES=2)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RELOADS=${RELOADS:-2}
CONNS=${CONNS:-16}
INSTANCES=${INSTANCES:-2}
PM2_VERSION=${PM2_VERSION:-5}
for tool in node npm wrk; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install nodejs npm wrk)"; exit 1; }
done
cmake --build "$BUILD" --target clusterd clusterctl >/dev/null
snapshot_binaries
npm install --prefix "$T/pm2" --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION" >"$T/npm.log" 2>&1 ||
  { echo "npm install pm2 failed:"; cat "$T/npm.log"; exit 1; }
PM2="$T/pm2/node_modules/.bin/pm2"
export PM2_HOME="$T/pm2-home"
pm2_cleanup() { "$PM2" kill >/dev/null 2>&1 || true; bench_cleanup; }
trap pm2_cleanup EXIT

cat >"$T/plain.js" <<'JS'
// The app as many are written: server.listen(PORT), and a plain close() on the stop signal.
'use strict';
const http = require('http');
const server = http.createServer((req, res) => res.end(`hello from ${process.pid}\n`));
server.listen(Number(process.env.PORT));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
JS
cp "$ROOT/config/examples/recipes/server.js" "$T/drain.js"

answers() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null | grep -q 200; }
wait_answers() {
  for _ in $(seq 300); do answers "$1" && return 0; sleep 0.05; done
  echo "nothing answers on port $1"; exit 1
}

# load PORT RELOAD_COMMAND...: wrk for DURATION seconds, RELOADS reloads during it; the wrk output
# in $T/wrk.
load() {
  local port=$1; shift
  wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/" >"$T/wrk" 2>&1 &
  local wrk_pid=$!
  sleep 2
  for r in $(seq "$RELOADS"); do "$@" "$r" >>"$T/reloads.log" 2>&1; done
  wait "$wrk_pid"
}

pm2_reload() { "$PM2" reload app; }
run_pm2() {
  local port; port=$(port)
  PORT=$port "$PM2" start "$T/plain.js" --name app -i "$INSTANCES" >"$T/pm2.log" 2>&1
  wait_answers "$port"
  load "$port" pm2_reload
  "$PM2" delete app >/dev/null 2>&1
}

clusterd_config() {  # clusterd_config SCRIPT PORT MARK
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  app:
    command: ["node", "$1"]
    instances: $INSTANCES
    adopt: all
    ready: listen
    stop_timeout: 10s
    env: { PORT: "$2", MARK: "$3" }
YAML
}
clusterd_reload() { clusterd_config "$SCRIPT" "$PORT_NOW" "$1"; "$BUILD/clusterctl" -s "$T/ctl.sock" reload; }
run_clusterd() {
  SCRIPT=$1 PORT_NOW=$(port)
  clusterd_config "$SCRIPT" "$PORT_NOW" 0
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/clusterd.log" 2>&1 &
  DAEMON=$!
  wait_answers "$PORT_NOW"
  load "$PORT_NOW" clusterd_reload
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
}

rows=("pm2 plain" "clusterd plain" "clusterd drain")
declare -A rates fails
for round in $(seq "$ROUNDS"); do
  for row in "${rows[@]}"; do
    case $row in
      "pm2 plain") run_pm2 ;;
      "clusterd plain") run_clusterd "$T/plain.js" ;;
      "clusterd drain") run_clusterd "$T/drain.js" ;;
    esac
    rates[$row]+="$(wrk_rate "$T/wrk") "
    fails[$row]+="$(wrk_errors "$T/wrk") "
  done
done
echo "machine: $(machine); node $(node --version), pm2 $("$PM2" --version 2>/dev/null | tail -1)"
echo "one Node app (server.listen(PORT)), $INSTANCES workers, wrk -t2 -c$CONNS keep-alive ${DURATION}s, $RELOADS reloads per run, $ROUNDS runs interleaved"
printf '%-16s %-24s %-24s\n' runner "requests/s" "failed requests"
for row in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-16s %-24s %-24s\n' "$row" "$(median_range ${rates[$row]})" "$(median_range ${fails[$row]})"
done
