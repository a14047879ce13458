#!/usr/bin/env bash
# watch: a change under a watched directory replaces the app's workers one by one through the
# rollout (both pids replaced, never 0 ready workers meanwhile); an ignored change restarts
# nothing (the next real change makes exactly one restart, logged as that change); a burst of 200
# writes makes one or two restarts; a flood of 10,000 files makes at most two, and status answers
# all the while; a file name with a newline and escape bytes is one escaped log line; after a
# live upgrade the new master watches anew.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
SRC=$T/src
mkdir -p "$SRC/node_modules/pkg"
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO"]
    instances: 2
    ready: notify
    rollout: { batch: 1 }
    watch:
      paths: ["$SRC"]
      ignore: [node_modules, "*.log"]
      debounce: 1s
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
# app: "GENERATION READY ROLLOUT PENDING WATCHING PIDS..." of the app (ROLLOUT, PENDING: - or x).
app() {
  "$CLUSTERCTL" --timeout 5 status --json | python3 -c '
import json, sys
a = json.load(sys.stdin)["apps"][0]
pids = sorted(str(w["pid"]) for w in a["workers"] if w["state"] == "running")
print(a["generation"], a["ready"], "x" if a.get("rollout") else "-",
      "x" if a.get("watch_pending") else "-", a.get("watching", 0), *pids)'
}
restarts() { log_count 'web: watch: replacing its workers one by one'; }
# settled_at GEN: the app is at generation GEN or later, no rollout, no watch restart pending.
settled_at() {
  local s; s=$(app) || return 1
  read -r gen _ rollout pending _ <<<"$s"
  [[ $gen -ge $1 && $rollout == - && $pending == - ]]
}

start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
read -r gen0 _ _ _ watching pids0 <<<"$(app)"
[[ $watching -ge 1 ]] || fail "status shows no watch: $(app)"
"$CLUSTERCTL" describe web | grep -q "$SRC" || fail "describe does not show the watched path"
log_has 'watch is checked but not yet carried out' && fail "the start still says watch is not carried out"

# 1. A file touched: both workers replaced, one at a time, never 0 ready.
touch "$SRC/app.js"
min_ready=99
deadline=$(( $(now_ms) + WAIT_BOUND * 1000 ))
while true; do
  s=$(app) || fail "status did not answer while rolling"
  read -r gen ready rollout pending _ pids <<<"$s"
  (( ready < min_ready )) && min_ready=$ready
  if [[ $gen -gt $gen0 && $rollout == - && $pending == - ]]; then
    for p in $pids0; do [[ " $pids " == *" $p "* ]] && fail "worker $p was not replaced: $s"; done
    [[ $(wc -w <<<"$pids") -eq 2 ]] || fail "expected 2 running workers after the restart: $s"
    break
  fi
  (( $(now_ms) < deadline )) || fail "no restart after touching a file: $s"
  sleep 0.02
done
[[ $min_ready -ge 1 ]] || fail "the app had $min_ready ready workers while it rolled"
[[ $(restarts) -eq 1 ]] || fail "one change made $(restarts) restarts"
log_has "web: watch: $SRC/app.js changed" || fail "the change is not named in the log"
gen1=$((gen0 + 1))

# 2. Ignored changes restart nothing: the next real change makes exactly one restart, and the
# burst it starts is named after it (were the ignored ones seen, they came first).
echo x >"$SRC/node_modules/pkg/index.js"
echo x >"$SRC/node_modules/new.js"
echo x >"$SRC/debug.log"
touch "$SRC/real.js"
wait_for "the restart after a real change" settled_at $((gen1 + 1))
[[ $(restarts) -eq 2 ]] || fail "ignored changes and one real one made $(( $(restarts) - 1 )) restarts"
log_has "web: watch: $SRC/real.js changed" || fail "the burst was not started by the real change"
log_has "watch: .*(node_modules|debug\.log) changed" && fail "an ignored change was taken"
read -r gen2 _ <<<"$(app)"
[[ $gen2 -eq $((gen1 + 1)) ]] || fail "generation $gen2, expected $((gen1 + 1))"

# 3. A burst of 200 writes (in a new subdirectory too): one restart, or one more after it.
mkdir "$SRC/lib"
for i in $(seq 200); do echo "$i" >"$SRC/lib/f$((i % 20)).js"; done
wait_for "the burst's restart" settled_at $((gen2 + 1))
burst=$(( $(restarts) - 2 ))
[[ $burst -ge 1 && $burst -le 2 ]] || fail "a burst of 200 writes made $burst restarts"
read -r gen3 _ <<<"$(app)"

# 4. A flood of 10,000 files: status answers throughout, at most two restarts.
python3 -c '
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(10000):
    with open(os.path.join(d, "f%d.js" % i), "w") as f:
        f.write("x")
' "$SRC/flood" &
FLOOD=$!
EXTRA_PIDS+=("$FLOOD")
answered=0
while kill -0 "$FLOOD" 2>/dev/null; do
  app >/dev/null || fail "status did not answer during the flood"
  answered=$((answered + 1))
done
wait "$FLOOD" || fail "the flood writer failed"
app >/dev/null || fail "status did not answer after the flood"
wait_for "the flood's restart" settled_at $((gen3 + 1))
flood=$(( $(restarts) - 2 - burst ))
[[ $flood -ge 1 && $flood -le 2 ]] || fail "a flood of 10,000 files made $flood restarts"

# 5. A name with a newline and escape bytes: one restart, and one log line that names it escaped
# (no forged line, no raw escape byte).
read -r gen4 _ <<<"$(app)"
touch "$SRC/"$'evil\nforged: line\e[31m.js'
wait_for "the restart after a hostile name" settled_at $((gen4 + 1))
log_has 'watch: .*evil\\x0aforged: line\\x1b\[31m\.js changed' || fail "the hostile name is not escaped in the log"
log_has '^forged: line' && fail "a file name forged a log line"
grep -q $'\e' "$T/clusterd.log" && fail "a raw escape byte reached the log"

# 6. After a live upgrade the new master watches anew: a change is one restart.
read -r gen5 _ <<<"$(app)"
before=$(restarts)
rc=0; "$CLUSTERCTL" upgrade >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 0 ]] || fail "upgrade exited $rc: $(cat "$T/out")"
read -r _ _ _ _ watching _ <<<"$(app)"
[[ $watching -ge 1 ]] || fail "the upgraded master watches nothing: $(app)"
touch "$SRC/after-upgrade.js"
wait_for "the restart after the upgrade" settled_at $((gen5 + 1))
[[ $(( $(restarts) - before )) -eq 1 ]] || fail "a change after the upgrade made $(( $(restarts) - before )) restarts"
kill -0 "$DAEMON" || fail "clusterd is gone"
pass "a change rolls the workers one by one (min ready $min_ready); ignored changes restart nothing; 200 writes: $burst restart(s); 10,000 files: $flood restart(s), status answered $answered times meanwhile; watched again after an upgrade"
