#!/usr/bin/env bash
# A worker under `adopt: all` shuts the shared socket the master made down (shutdown() of a
# listening socket takes it out of LISTEN for every holder): a live upgrade still takes the
# socket over (it is still the app's) instead of being refused at every try until a reload.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
cat >"$T/worker.py" <<'PY'
import os, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(16)
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.02)
s.shutdown(socket.SHUT_RDWR)
open(os.environ["DONE"], "w").close()
time.sleep(3600)
PY
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: [python3, "$T/worker.py"]
    instances: 1
    adopt: all
    env: { PORT: "$PORT", GO: "$T/go", DONE: "$T/done" }
YAML
start_daemon "$T/c.yaml"
wait_for "the worker ready (its listen() adopted)" "$CLUSTERCTL" status --check
before=$(worker_pids)
touch "$T/go"
wait_for "the worker shut the socket down" test -e "$T/done"
"$CLUSTERCTL" upgrade >"$T/upgrade" 2>&1 || fail "upgrade refused: $(cat "$T/upgrade")"
[[ $(worker_pids) == "$before" ]] || fail "the worker changed in an upgrade"
listed=$("$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0].get("adopted"))')
[[ $listed == "['127.0.0.1:$PORT']" ]] || fail "the made socket is not the app's after the upgrade: $listed"
pass "a made socket a worker shut down is taken over by a live upgrade"
