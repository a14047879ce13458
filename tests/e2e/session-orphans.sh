#!/usr/bin/env bash
# Without cgroups, the processes a worker started in its session go with it even when they left
# its process group (bash job control puts each background job in a group of its own): when the
# worker is SIGKILLed (they are reparented to the master) and when its stop times out (they are
# still below it). Other workers' trees are left alone. The master finds them among its own
# tree, not by scanning the host's processes.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
cgroups: off
apps:
  web:
    command: ["bash", "-c", "set -m; sleep 600 & echo \$! >$T/job.\$CLUSTER_WORKER_ID.\$\$; exec \"\$0\"", "$HELLO"]
    instances: 2
    ready: notify
    stop_timeout: 1s
    min_uptime: 0
    listen:
      http: "127.0.0.1:$PORT"
YAML
start_daemon "$T/c.yaml"
wait_for "2 workers ready" log_ready 2
job_of() {  # job_of WORKER_PID: the background job that worker started
  cat "$T"/job.*."$1" 2>/dev/null
}
worker_of() {  # worker_of ID: the pid of worker ID, from status
  "$CLUSTERCTL" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['apps'][0]['workers'][$1]['pid'])"
}
w0=$(worker_of 0)
w1=$(worker_of 1)
wait_for "worker 0's job" job_of "$w0"
wait_for "worker 1's job" job_of "$w1"
j0=$(job_of "$w0")
j1=$(job_of "$w1")
[[ $(ps -o pgid= -p "$j0" | tr -d ' ') -ne $w0 ]] || fail "the job $j0 is in its worker's process group"
[[ $(ps -o sid= -p "$j0" | tr -d ' ') -eq $w0 ]] || fail "the job $j0 is not in its worker's session"

# SIGKILL: the job is reparented to the master, then ended with its worker's session.
kill -KILL "$w0"
wait_for "worker 0's job to end with it" none_alive "$j0"
alive "$j1" || fail "worker 1's job $j1 was killed with worker 0's session"
wait_for "worker 0 back" bash -c "[[ \$($CLUSTERCTL status --json | python3 -c \"import json,sys; w=json.load(sys.stdin)['apps'][0]['workers'][0]; print(w['state'], w['pid'])\") == 'running '* ]]"

# A stop that times out (the worker ignores SIGTERM): the job below it goes with the SIGKILL.
w0=$(worker_of 0)
wait_for "worker 0's new job" job_of "$w0"
j0=$(job_of "$w0")
kill -STOP "$w0"  # cannot act on SIGTERM: the stop times out and the SIGKILL follows
"$CLUSTERCTL" restart web --worker 0 >/dev/null
wait_for "the stuck worker and its job to end" none_alive "$w0" "$j0"
alive "$j1" || fail "worker 1's job $j1 was killed with worker 0's"
pass "a worker's session ends with it, its peers' do not"
