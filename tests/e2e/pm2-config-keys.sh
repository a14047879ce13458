#!/usr/bin/env bash
# The config keys a PM2 user reaches for, through the real clusterd: PM2's names in a config get a
# hint (max_memory_restart -> max_memory), instances: max and -1 are derived from the CPUs and
# explained, and `clusterd --env production` runs workers with env_production over env (a name no
# app has is refused at start, naming the ones there are).
source "$(dirname "$0")/lib/common.sh"
cat >"$T/pm2.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  api:
    command: ["$HELLO"]
    max_memory_restart: 300M
    exec_mode: cluster
    instances: 0
YAML
rc=0
"$CLUSTERD" --check -c "$T/pm2.yaml" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "--check of PM2 keys: exit $rc"
for line in \
  "pm2.yaml:5:5: apps.api.max_memory_restart: unknown key; did you mean max_memory? (PM2's name)" \
  "pm2.yaml:6:5: apps.api.exec_mode: unknown key; PM2's exec_mode: cluster mode is adopt: all" \
  "pm2.yaml:7:16: apps.api.instances: expected auto, max, -1 or an integer from 1 to 65536, got '0' (PM2's 0 is every CPU: write max)"; do
  grep -qF -- "$line" "$T/out" || fail "no '$line' in: $(cat "$T/out")"
done

cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  max:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: max
  less:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    instances: -1
YAML
out=$(taskset -c 0 "$CLUSTERD" --check -c "$T/c.yaml")
grep -qF "app max: instances 1: max: affinity 0, no cgroup quota" <<<"$out" || fail "max on 1 CPU: $out"
grep -qF "app less: instances 1: -1: all but one of 1 (at least 1): affinity 0, no cgroup quota" <<<"$out" ||
  fail "-1 on 1 CPU: $out"
if [[ $(nproc) -ge 2 ]]; then
  out=$(taskset -c 0,1 "$CLUSTERD" --check -c "$T/c.yaml")
  grep -qF "app max: instances 2: max: affinity 0-1, no cgroup quota" <<<"$out" || fail "max on 2 CPUs: $out"
  grep -qF "app less: instances 1: -1: all but one of 2: affinity 0-1, no cgroup quota" <<<"$out" ||
    fail "-1 on 2 CPUs: $out"
fi

cat >"$T/env.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  api:
    command: ["sh", "-c", "echo \"env NODE_ENV=\$NODE_ENV PORT=\$PORT DEBUG=\$DEBUG\"; exec sleep 600"]
    instances: 1
    env: { NODE_ENV: development, PORT: "3000", DEBUG: "1" }
    env_production: { NODE_ENV: production, PORT: "8080" }
YAML
rc=0
"$CLUSTERD" -c "$T/env.yaml" --env prodution >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "an unknown environment: exit $rc"
grep -qF "env.yaml: --env prodution: no app has env_prodution; the apps have env_production" "$T/out" ||
  fail "unknown environment: $(cat "$T/out")"
start_daemon "$T/env.yaml" --env production
said() { "$CLUSTERCTL" logs api -n 10 2>/dev/null | grep -qF "env NODE_ENV=production PORT=8080 DEBUG=1"; }
wait_for "the worker to run with env_production over env" said
pass "PM2 names get hints; instances max and -1 explained; --env production merges env_production"
