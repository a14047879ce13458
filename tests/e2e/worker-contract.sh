#!/usr/bin/env bash
# What a worker sees: its slot's sockets at fd 3.. with LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID
# (its own pid), CLUSTER_APP / CLUSTER_WORKER_ID / CLUSTER_WORKERS, the app's env, CLUSTER_LISTEN_
# for worker-mode listeners, cwd and CPU pinning; readiness from a child process's
# `systemd-notify --ready` is attributed to the worker.
source "$(dirname "$0")/lib/common.sh"
P1=$(free_port); P2=$(free_port)
cat >"$T/worker.sh" <<'SH'
#!/bin/bash
out=$PWD/env.$CLUSTER_WORKER_ID
{ echo "pid=$$"; env | grep -E '^(LISTEN_|CLUSTER_|GOMAXPROCS|NOTIFY_SOCKET)' | sort
  echo "fd3=$(readlink /proc/$$/fd/3)"; echo "fd4=$(readlink /proc/$$/fd/4)"
  grep Cpus_allowed_list /proc/$$/status; } >"$out.tmp"
mv "$out.tmp" "$out"
systemd-notify --ready --status="worker $CLUSTER_WORKER_ID up"
exec sleep 600
SH
chmod +x "$T/worker.sh"
mkdir "$T/wd"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$T/worker.sh"]
    instances: 2
    cpu_affinity: per-worker
    cwd: $T/wd
    ready: notify
    ready_timeout: 60s
    env: { GOMAXPROCS: 1 }
    listen:
      http: { address: "127.0.0.1:$P1", mode: reuseport }
      admin: { address: "unix:$T/admin.sock", mode: shared }
      direct: { address: "127.0.0.1:$P2", mode: worker }
YAML
start_daemon "$T/c.yaml"
wait_for "both workers ready via systemd-notify" log_ready 2
for id in 0 1; do
  f=$T/wd/env.$id
  [[ -f $f ]] || fail "worker $id wrote no env"
  pid=$(sed -n 's/^pid=//p' "$f")
  grep -qx "LISTEN_PID=$pid" "$f" || fail "LISTEN_PID is not the worker's pid: $(cat "$f")"
  grep -qx "LISTEN_FDS=2" "$f" || fail "LISTEN_FDS: $(cat "$f")"
  grep -qx "LISTEN_FDNAMES=http:admin" "$f" || fail "LISTEN_FDNAMES: $(cat "$f")"
  grep -qx "CLUSTER_APP=web" "$f" || fail "CLUSTER_APP"
  grep -qx "CLUSTER_WORKER_ID=$id" "$f" || fail "CLUSTER_WORKER_ID"
  grep -qx "CLUSTER_WORKERS=2" "$f" || fail "CLUSTER_WORKERS"
  grep -qx "CLUSTER_LISTEN_DIRECT=127.0.0.1:$P2" "$f" || fail "CLUSTER_LISTEN_DIRECT"
  grep -qx "GOMAXPROCS=1" "$f" || fail "app env"
  sock=$(sed -n 's/^NOTIFY_SOCKET=//p' "$f")
  [[ -S $sock ]] || fail "NOTIFY_SOCKET is not a socket: $sock"
  [[ $(stat -c %a "$sock") == 600 ]] || fail "notify socket mode $(stat -c %a "$sock")"
  grep -q "^fd3=socket:" "$f" || fail "fd 3 is not a socket"
  grep -q "^fd4=socket:" "$f" || fail "fd 4 is not a socket"
  # Once the script has exec'd sleep, nothing but 0-2 and the two sockets may be open.
  wait_for "worker $id to exec sleep" grep -qx sleep "/proc/$pid/comm"
  fds=$(ls "/proc/$pid/fd" | sort -n | tr '\n' ' ')
  [[ $fds == "0 1 2 3 4 " ]] || fail "worker $id has fds $fds: $(ls -l "/proc/$pid/fd")"
  expected_cpu=$(( id % $(nproc) ))
  grep -Eq "Cpus_allowed_list:\s+$expected_cpu\$" "$f" || fail "worker $id not pinned: $(grep Cpus "$f")"
done
# reuseport: the two workers got different sockets for http, the same one for admin.
s0=$(grep '^fd3=' "$T/wd/env.0"); s1=$(grep '^fd3=' "$T/wd/env.1")
[[ $s0 != "$s1" ]] || fail "reuseport slots share one socket"
a0=$(grep '^fd4=' "$T/wd/env.0"); a1=$(grep '^fd4=' "$T/wd/env.1")
[[ $a0 == "$a1" ]] || fail "shared listener differs between workers"
log_has 'STATUS=worker 1 up' || fail "STATUS from systemd-notify not seen"
pass "fds, LISTEN_*, CLUSTER_*, env, cwd, pinning and child-process readiness"
