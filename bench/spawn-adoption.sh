#!/usr/bin/env bash
# Benchmark: what adoption costs the start of a real program. clusterd starts INSTANCES workers
# of one unmodified Node app and the time is taken from clusterd's launch to the moment the
# last worker's server is listening (each worker writes the wall clock from its 'listening'
# event into a file): with its socket taken at fd 3 (LISTEN_FDS, `server.listen({fd: 3})`,
# no filter) against the same app binding its port itself under adoption (`adopt: true`: the
# seccomp filter installed before exec, the bind() and listen() answered by the master).
# RUNS pairs, the two kinds alternating; medians (min-max) and the median of each pair's ratio.
#   bench/spawn-adoption.sh          (RUNS=7, INSTANCES=4)
# The master's own part, spawn() of /bin/true with the filter and without, is in
# bench/adoption.sh ("spawn"). On demand only. Talks only to 127.0.0.1; all in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-7}
INSTANCES=${INSTANCES:-4}
command -v node >/dev/null || { echo "node not found (apt-get install nodejs)"; exit 1; }
cmake --build "$BUILD" --target clusterd clusterctl >/dev/null
snapshot_binaries
cat >"$T/server.js" <<'JS'
'use strict';
const fs = require('fs');
const http = require('http');
const server = http.createServer((req, res) => res.end('hello\n'));
server.on('listening', () => {
  const now = performance.timeOrigin + performance.now();  // ms since the epoch, fractional
  fs.appendFileSync(process.env.DONE, `${process.pid} ${now.toFixed(3)}\n`);
});
server.listen(process.env.TAKE === 'fd3' ? {fd: 3} : Number(process.env.PORT));
JS
run() {  # run fd3|adopted: milliseconds from clusterd's launch to the last worker listening
  local kind=$1 port adopt=", adopt: true" start
  port=$(port)
  [[ $kind == fd3 ]] && adopt=""
  rm -f "$T/done"
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["node", "$T/server.js"]
    instances: $INSTANCES
    ready: exec
    min_ready: 0s
    env: { PORT: "$port", TAKE: "$kind", DONE: "$T/done" }
    listen:
      http: { address: "127.0.0.1:$port", mode: shared$adopt }
YAML
  start=$EPOCHREALTIME
  "$BUILD/clusterd" -c "$T/c.yaml" --log-level warn >"$T/log" 2>&1 &
  DAEMON=$!
  for _ in $(seq 600); do
    [[ -f $T/done && $(wc -l <"$T/done") -ge $INSTANCES ]] && break
    sleep 0.01
  done
  [[ $(wc -l <"$T/done" 2>/dev/null || echo 0) -ge $INSTANCES ]] || { cat "$T/log" >&2; exit 1; }
  kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=""
  python3 -c 'import sys; s=float(sys.argv[1])*1000; print(f"{max(float(l.split()[1]) for l in open(sys.argv[2])) - s:.1f}")' \
    "$start" "$T/done"
}
fd3_against_adopted "clusterd's launch to the last of $INSTANCES Node workers listening, $RUNS runs alternating" \
  "ms to all listening"
