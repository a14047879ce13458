#!/usr/bin/env bash
# clusterd --print-unit -c FILE writes a unit that runs that config: `systemd-analyze verify`
# finds nothing to say, the Exec lines run this clusterd with this config (and --env), the
# shipped sandbox is kept, ProtectHome is read-only only when an app lives under a home, and a
# log file outside the writable directories is made writable.
source "$(dirname "$0")/lib/common.sh"
command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
clusterd_path=$(readlink -f "$CLUSTERD")
mkdir -p "$T/logs"
cat >"$T/c.yaml" <<YAML
apps:
  web:
    command: ["$HELLO", "--listen", "127.0.0.1:0"]
    cwd: "$T"
    env_production: { MODE: prod }
    logs: { file: "$T/logs/web.log" }
YAML
"$CLUSTERD" --print-unit -c "$T/c.yaml" --env production >"$T/clusterd-e2e.service" 2>"$T/err" ||
  fail "--print-unit: $(cat "$T/err")"
[[ ! -s $T/err ]] || fail "--print-unit said: $(cat "$T/err")"
systemd-analyze verify "$T/clusterd-e2e.service" >"$T/verify" 2>&1 || fail "verify: $(cat "$T/verify")"
[[ ! -s $T/verify ]] || fail "systemd-analyze verify: $(cat "$T/verify")"
unit=$T/clusterd-e2e.service
grep -qxF "ExecStart=$clusterd_path --fd-store -c $T/c.yaml --env production" "$unit" ||
  fail "ExecStart: $(grep Exec "$unit")"
grep -qxF "ExecStartPre=$clusterd_path --check -c $T/c.yaml --env production" "$unit" ||
  fail "ExecStartPre: $(grep Exec "$unit")"
grep -qxF "ExecReload=$(dirname "$clusterd_path")/clusterctl -c $T/c.yaml reload" "$unit" ||
  fail "ExecReload: $(grep Exec "$unit")"
for kept in "ProtectHome=yes" "ProtectSystem=strict" "NoNewPrivileges=yes" "Type=notify" \
  "SystemCallFilter=@system-service" "ReadWritePaths=-/run -/tmp -/var/tmp"; do
  grep -qxF "$kept" "$unit" || fail "the unit lacks $kept"
done
# The same config, its app in root's home and its log in a directory the sandbox keeps read-only
# (not /tmp, /run or /var/tmp): the home is readable, the log directory writable.
if [[ -d /root && $(id -u) -eq 0 ]]; then
  logs=$(mktemp -d /var/lib/clusterd-e2e.XXXXXX)
  trap 'r=$?; rm -rf "$logs"; (exit $r); cleanup' EXIT
  sed -e "s|cwd: \"$T\"|cwd: /root|" -e "s|$T/logs/web.log|$logs/web.log|" "$T/c.yaml" >"$T/home.yaml"
  "$CLUSTERD" --print-unit -c "$T/home.yaml" >"$T/clusterd-home.service" 2>"$T/err" ||
    fail "--print-unit (home): $(cat "$T/err")"
  grep -qxF "ProtectHome=read-only" "$T/clusterd-home.service" || fail "ProtectHome: $(grep ProtectHome "$T/clusterd-home.service")"
  grep -qxF "ReadWritePaths=-$logs" "$T/clusterd-home.service" ||
    fail "ReadWritePaths: $(grep ReadWritePaths "$T/clusterd-home.service")"
  systemd-analyze verify "$T/clusterd-home.service" >"$T/verify" 2>&1 || fail "verify: $(cat "$T/verify")"
  [[ ! -s $T/verify ]] || fail "systemd-analyze verify (home): $(cat "$T/verify")"
fi
# A relative command without cwd is named: under systemd clusterd runs from /.
printf 'apps:\n  rel:\n    command: ["./hello-worker"]\n' >"$T/rel.yaml"
cp "$HELLO" "$T/hello-worker"
(cd "$T" && "$CLUSTERD" --print-unit -c rel.yaml >/dev/null 2>"$T/err") || fail "relative: $(cat "$T/err")"
grep -qF "clusterd: app rel: a relative command or cwd is taken from clusterd's working directory, which is / under systemd" "$T/err" ||
  fail "no warning for a relative command: $(cat "$T/err")"
pass "--print-unit: verify-clean, Exec lines of this config, sandbox kept, home read-only when needed"
