#!/usr/bin/env bash
# user/group drop the worker's credentials, limits.nofile sets its RLIMIT_NOFILE, an IPv6
# listener serves on [::1], and a Unix listener's socket file is removed on a graceful stop.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to switch users"
getent passwd nobody >/dev/null || skip "no user nobody"
reachable_binaries
v6=""
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  V6PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
  v6="      v6: { address: \"[::1]:$V6PORT\", mode: shared }"
fi
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 1
    user: nobody
    limits: { nofile: 4321 }
    ready: notify
    listen:
      sock: { address: "unix:$T/web.sock", mode: shared }
$v6
YAML
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
pid=$(worker_pids | head -1)
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[[ $uid -eq $(id -u nobody) ]] || fail "worker uid $uid"
gid=$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")
[[ $gid -eq $(id -g nobody) ]] || fail "worker gid $gid"
grep -E "^Max open files +4321 +4321" "/proc/$pid/limits" >/dev/null || fail "nofile: $(grep 'open files' "/proc/$pid/limits")"
[[ -S $T/web.sock ]] || fail "no unix socket"
curl -sf --unix-socket "$T/web.sock" http://x/read | grep -q "hello" || fail "unix listener does not serve"
if [[ -n $v6 ]]; then
  curl -sf "http://[::1]:$V6PORT/read" | grep -q hello || fail "IPv6 listener does not serve"
fi
kill -TERM "$DAEMON"; wait "$DAEMON"; DAEMON=""
[[ ! -e $T/web.sock ]] || fail "the unix socket file was left behind"
pass "user nobody, nofile 4321, unix socket${v6:+ and [::1]} served, socket file removed on stop"
