#!/usr/bin/env bash
# Benchmark: requests/s of one Node app under clusterd, its socket taken at fd 3 (LISTEN_FDS:
# `server.listen({fd: 3})`) against the same app binding its port itself under adoption
# (`server.listen(PORT)`, adopt: true on the same listener): what adoption costs a real
# program's requests (the filter's few nanoseconds on each of its system calls). INSTANCES
# workers on one shared listener, wrk -t2 -cCONNS keep-alive for DURATION seconds, RUNS runs
# with the two kinds alternating; medians (min-max) and each run pair's ratio.
#   bench/adoption-node.sh          (RUNS=5, DURATION=5, CONNS=32, INSTANCES=2)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
INSTANCES=${INSTANCES:-2}
for tool in node wrk; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install nodejs wrk)"; exit 1; }
done
cmake --build "$BUILD" --target clusterd clusterctl >/dev/null
snapshot_binaries
cat >"$T/server.js" <<'JS'
'use strict';
const http = require('http');
const server = http.createServer((req, res) => res.end(`hello from ${process.pid}\n`));
// Told by the config: fd 3 (clusterd passes it either way), or the port, bound under adoption.
server.listen(process.env.TAKE === 'fd3' ? {fd: 3} : Number(process.env.PORT));
JS
run() {  # run fd3|adopted: requests/s
  local kind=$1 port adopt=false
  port=$(port)
  [[ $kind == adopted ]] && adopt=true
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["node", "$T/server.js"]
    instances: $INSTANCES
    ready: exec
    min_ready: 0s
    env: { PORT: "$port", TAKE: "$kind" }
    listen:
      http: { address: "127.0.0.1:$port", mode: shared, adopt: $adopt }
YAML
  if [[ $kind == fd3 ]]; then sed -i 's/, adopt: false//' "$T/c.yaml"; fi
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.05
  done
  wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/" >"$T/wrk" 2>&1
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
  wrk_rate "$T/wrk"
}
fd3_against_adopted "one Node app, $INSTANCES workers on a shared listener, wrk -t2 -c$CONNS keep-alive ${DURATION}s, $RUNS runs alternating" \
  "requests/s"
