#!/usr/bin/env bash
# Benchmark: what a crash-looping worker costs. One worker that exits at once (`/bin/false`),
# default restart policy (backoff from 100 ms doubling to 30 s, `failed` after 10 quick deaths in
# 60 s), for SECONDS_TO_WATCH seconds (default 10): CPU time of the master and of all the
# workers it started (the master's children's CPU, from /proc/PID/stat cutime+cstime), and the
# number of starts. PM2 7 burns 4.3 CPU-seconds in 10 s here. On demand only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WATCH=${SECONDS_TO_WATCH:-10}
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  crasher:
    command: ["/bin/false"]
    instances: 1
YAML
echo "machine: $(machine)"
"$BUILD/clusterd" -c "$T/c.yaml" --log-level info >"$T/log" 2>&1 &
DAEMON=$!
sleep "$WATCH"
hz=$(getconf CLK_TCK)
read -r utime stime cutime cstime < <(awk '{print $14, $15, $16, $17}' "/proc/$DAEMON/stat")
starts=$(grep -c "spawned pid" "$T/log" || true)
state=$("$BUILD/clusterctl" -s "$T/ctl.sock" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["workers"][0]["state"])')
printf '%-22s %-16s %-18s %-8s %-10s\n' "crash loop, ${WATCH}s" "master cpu" "workers' cpu" starts "slot state"
printf '%-22s %-16s %-18s %-8s %-10s\n' "/bin/false" "$(( (utime + stime) * 1000 / hz )) ms" \
  "$(( (cutime + cstime) * 1000 / hz )) ms" "$starts" "$state"
