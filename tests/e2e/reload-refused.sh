#!/usr/bin/env bash
# Every error path of a reload leaves the running cluster unchanged: invalid YAML, a missing file,
# a command that does not exist, an address already in use; by clusterctl and by SIGHUP. A valid
# reload adds and removes apps, and a reload of one named app rolls it even when unchanged.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port); PORT2=$(free_port)
cat >"$T/good.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT", mode: shared }
YAML
cp "$T/good.yaml" "$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
snapshot() { "$CLUSTERCTL" status --json | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" snapshot; }
before=$(snapshot)
refused() {  # refused PATTERN: clusterctl reload exits 1 with PATTERN and nothing changes
  local rc=0
  "$CLUSTERCTL" reload >"$T/out" 2>&1 || rc=$?
  [[ $rc -eq 1 ]] || fail "expected exit 1, got $rc: $(cat "$T/out")"
  grep -Eq -- "$1" "$T/out" || fail "expected /$1/ in: $(cat "$T/out")"
  grep -q "nothing changed" "$T/out" || fail "no 'nothing changed' in: $(cat "$T/out")"
  [[ $(snapshot) == "$before" ]] || fail "the cluster changed: $before -> $(snapshot)"
}
printf 'apps: [\n' >"$T/c.yaml"
refused "c.yaml:2:1: "
rm "$T/c.yaml"
refused "c.yaml: .*No such file or directory"
sed "s|\"$HELLO\"|\"$T/missing-binary\"|" "$T/good.yaml" >"$T/c.yaml"
refused "apps.web.command: .*not found"
python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$T/busy" &
EXTRA_PIDS+=($!)
wait_for "the blocker to listen" test -s "$T/busy"
busy=$(cat "$T/busy")
sed "s|127.0.0.1:$PORT|127.0.0.1:$busy|" "$T/good.yaml" >"$T/c.yaml"
refused "bind 127.0.0.1:$busy: Address already in use"

# SIGHUP with an invalid file: logged, nothing changes.
printf 'apps: {web: {command: 5}}\n' >"$T/c.yaml"
kill -HUP "$DAEMON"
wait_for "the refusal in the log" log_has "reload refused, nothing changed"
[[ $(snapshot) == "$before" ]] || fail "SIGHUP with a bad file changed the cluster"

# A valid reload: add `api`, keep `web` unchanged (its workers stay).
cp "$T/good.yaml" "$T/c.yaml"
cat >>"$T/c.yaml" <<YAML
  api:
    command: ["$HELLO"]
    instances: 1
    ready: notify
    listen:
      http: { address: "127.0.0.1:$PORT2", mode: reuseport }
YAML
"$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "valid reload: $(cat "$T/out")"
grep -q "added api" "$T/out" || fail "reload message: $(cat "$T/out")"
wait_for "api ready" log_ready 3
$HTTP get "$PORT2" >/dev/null || fail "the new app does not serve"
web_now=$(snapshot | tr ' ' '\n' | grep '^web/' | tr '\n' ' ')
[[ "$web_now" == "$(tr ' ' '\n' <<<"$before" | grep '^web/' | tr '\n' ' ')" ]] || fail "unchanged web was restarted: $before -> $web_now"

# reload APP rolls that app even though its config is unchanged.
"$CLUSTERCTL" reload web >"$T/out" 2>&1 || fail "reload web: $(cat "$T/out")"
grep -q "web: 2 worker(s) replaced with generation 2" "$T/out" || fail "$(cat "$T/out")"

# A changed listener address is bound anew; the old one closes once its workers are gone.
PORT3=$(free_port)
sed "s|127.0.0.1:$PORT|127.0.0.1:$PORT3|" "$T/good.yaml" >"$T/moved.yaml"
sed -n '/^  api:/,$p' "$T/c.yaml" >>"$T/moved.yaml"
cp "$T/moved.yaml" "$T/c.yaml"
"$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "reload to a new port: $(cat "$T/out")"
$HTTP spread "$PORT3" 20 >/dev/null || fail "web does not serve on its new port"
$HTTP get "$PORT" >/dev/null 2>&1 && fail "the old port still answers"
sed "s|127.0.0.1:$PORT3|127.0.0.1:$PORT|" "$T/moved.yaml" >"$T/c.yaml"
"$CLUSTERCTL" reload >"$T/out" 2>&1 || fail "reload back to the first port: $(cat "$T/out")"

# SIGHUP with a valid file: remove `api`.
cp "$T/good.yaml" "$T/c.yaml"
kill -HUP "$DAEMON"
wait_for "api removed" log_has "reload: removed api"
wait_for "api's worker gone" bash -c "! $CLUSTERCTL status --json | grep -q '\"api\"'"
$HTTP spread "$PORT" 20 >/dev/null || fail "web does not serve after the reloads"
pass "bad YAML, missing file, missing command, busy port and bad SIGHUP changed nothing; apps added and removed"
