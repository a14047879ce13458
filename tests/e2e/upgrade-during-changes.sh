#!/usr/bin/env bash
# Upgrades of the master while workers change under it. (1) A worker killed with SIGKILL just
# before `clusterctl upgrade`, during the rehearsal (`--upgrade-check`) and during the exec itself
# (`--upgrade-from`, between the old master and the new one): each time the upgrade succeeds, the
# dead worker is reaped (no zombie), its slot is running again with a new pid and one more
# restart, and the other slot is untouched. (2) An upgrade in each phase of a rollout (the canary
# starting, the canary's wait, the rolling slot starting): the rollout finishes under the new
# master, every worker on the new generation with the new config, the canary never restarted.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/upgrade.sh"
command -v curl >/dev/null || skip "curl is not installed"
PORT=$(free_port)
REAL=$CLUSTERD
UPGRADES=0

write_config() {  # write_config MARK READY_DELAY_MS
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["$HELLO", "--ready-delay", "$2"]
    instances: 2
    ready: notify
    ready_timeout: 30s
    stop_timeout: 5s
    min_uptime: 0
    rollout: { batch: 1, canary_time: 3s }
    env: { GENERATION_MARK: "$1" }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}

# slot ID: "pid restarts state generation" of the slot's one worker, or "several" during a rollout.
slot() {
  status_py "(lambda ws: ' '.join(str(ws[0][k]) for k in ('pid', 'restarts', 'state', 'generation')) if len(ws) == 1 else 'several')([w for w in s['apps'][0]['workers'] if w['id'] == $1])"
}
# slot_back ID OLD_PID: the slot has one worker, running, that is not OLD_PID.
slot_back() {
  local pid state
  read -r pid _ state _ <<<"$(slot "$1")"
  [[ $state == running && $pid != "$2" && $pid != None ]]
}
rollout() { status_py 's["apps"][0]["rollout"]'; }
rollout_is() { [[ $(rollout) == "$1" ]]; }
all_running() {
  [[ $(status_py '[w["state"] for w in s["apps"][0]["workers"]] == ["running"] * 2') == True ]]
}

# try_upgrade ARGS...: one `clusterctl upgrade`, its output in $T/up.out and its exit code in
# $T/up.rc; false only for the documented refusal while a worker is between fork and exec (the
# replacement of a worker just killed can be there), which is worth a retry.
try_upgrade() {
  local rc=0
  "$CLUSTERCTL" upgrade "$@" >"$T/up.out" 2>&1 || rc=$?
  echo "$rc" >"$T/up.rc"
  [[ $rc -ne 1 ]] || ! grep -q "between fork and exec" "$T/up.out"
}

# upgrade WHAT [ARGS...]: one more successful `clusterctl upgrade`.
upgrade() {
  local what=$1; shift
  UPGRADES=$((UPGRADES + 1))
  wait_for "$what: an upgrade not refused for a worker between fork and exec" try_upgrade "$@"
  [[ $(cat "$T/up.rc") -eq 0 ]] || fail "$what: upgrade exited $(cat "$T/up.rc"): $(cat "$T/up.out")"
  grep -Eq "^upgraded: clusterd [^ ]+ pid $DAEMON, upgrade $UPGRADES$" "$T/up.out" \
    || fail "$what: the upgrade said: $(cat "$T/up.out")"
  [[ $(status_py 's["master"]["upgrades"]') == "$UPGRADES" ]] || fail "$what: status counts $(status_py 's["master"]["upgrades"]') upgrades, want $UPGRADES"
}

# A stand-in for the new binary: runs the real one, but first, in the phase named in
# $T/kill-phase (--upgrade-check or --upgrade-from), SIGKILLs the worker whose pid is in $T/victim.
# Builtins only: during the exec this shell is the master, and any child it waited for could make
# it reap one of the master's workers.
cat >"$T/killing-clusterd" <<SH
#!/bin/sh
phase= victim=
read -r phase <"$T/kill-phase" || true
read -r victim <"$T/victim" || true
if [ -n "\$phase" ] && [ -n "\$victim" ] && [ ! -e "$T/killed" ]; then
  for a in "\$@"; do
    case "\$a" in
      "\$phase"*) kill -KILL "\$victim"; : >"$T/killed"; break ;;
    esac
  done
fi
exec "$REAL" "\$@"
SH
chmod 755 "$T/killing-clusterd"
: >"$T/kill-phase"
: >"$T/victim"

# killed_during WHAT SLOT OTHER [UPGRADE-ARGS...]: kills SLOT's worker (at once, or through the
# stand-in when $T/kill-phase names a phase), upgrades, and checks the slot came back and OTHER
# did not change.
killed_during() {
  local what=$1 id=$2 other=$3 victim restarts other_before now; shift 3
  read -r victim restarts _ <<<"$(slot "$id")"
  other_before=$(slot "$other")
  rm -f "$T/killed"
  echo "$victim" >"$T/victim"
  [[ -s $T/kill-phase ]] || kill -KILL "$victim"
  upgrade "$what" "$@"
  [[ ! -s $T/kill-phase || -e $T/killed ]] || fail "$what: the stand-in never saw $(cat "$T/kill-phase")"
  wait_for "$what: worker $victim reaped" gone "$victim"
  wait_for "$what: slot $id running again with a new pid" slot_back "$id" "$victim"
  read -r _ now _ <<<"$(slot "$id")"
  [[ $now -eq $((restarts + 1)) ]] || fail "$what: slot $id has $now restarts, had $restarts"
  [[ $(slot "$other") == "$other_before" ]] || fail "$what: slot $other changed: $other_before -> $(slot "$other")"
  no_zombies || fail "$what: zombies under the master: $(ps --ppid "$DAEMON" -o pid=,stat=,args=)"
  echo "$what: slot $id $victim -> $(slot "$id")"
}

# upgrade_in_phase PHASE: waits for the rollout to be in PHASE and upgrades the master then.
upgrade_in_phase() {
  wait_for "the rollout in phase $1" rollout_is "$1"
  upgrade "an upgrade in rollout phase $1"
  [[ $(rollout) != None ]] || fail "the rollout was over right after the upgrade in phase $1"
}

# check_rolled GENERATION CANARY: no rollout, both workers running GENERATION with its config, the
# canary still slot 0's worker, no old worker left.
check_rolled() {
  local w id pid gen
  [[ $(rollout) == None ]] || fail "still in rollout $(rollout)"
  all_running || fail "not every worker is running: $(status_py 's["apps"][0]["workers"]')"
  for w in $(status_py '" ".join("%s:%s:%s" % (w["id"], w["pid"], w["generation"]) for w in s["apps"][0]["workers"])'); do
    IFS=: read -r id pid gen <<<"$w"
    [[ $gen == "$1" ]] || fail "slot $id runs generation $gen, want $1"
    tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "GENERATION_MARK=2" || fail "slot $id ($pid) runs the old config"
    [[ $id != 0 || $pid == "$2" ]] || fail "the canary $2 was replaced by $pid"
  done
  for p in $OLD; do wait_for "the old worker $p reaped" gone "$p"; done
}

write_config 1 0
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
wait_for "two running workers in status" all_running

# 1. A worker dies around the upgrade.
killed_during "killed just before the upgrade" 0 1 --binary "$REAL"
echo "--upgrade-check" >"$T/kill-phase"
killed_during "killed during the rehearsal" 1 0 --binary "$T/killing-clusterd"
echo "--upgrade-from" >"$T/kill-phase"
killed_during "killed during the exec" 0 1 --binary "$T/killing-clusterd"
: >"$T/kill-phase"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "not serving after the kills"

# 2. A rollout that the master's upgrades interrupt three times: generation 2 takes 4 s to get
# ready, and the canary must stay ready 3 s before slot 1 follows.
OLD=$(status_py '" ".join(str(w["pid"]) for w in s["apps"][0]["workers"])')
write_config 2 4000
"$CLUSTERCTL" reload --no-wait >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
gen=$(status_py 's["apps"][0]["generation"]')
upgrade_in_phase canary
canary=$(status_py '[w["pid"] for w in s["apps"][0]["workers"] if w["id"] == 0 and w["generation"] == '"$gen"'][0]')
upgrade_in_phase canary-wait
upgrade_in_phase rolling
wait_for "the rollout to finish" rollout_is None
wait_for "both workers running generation $gen" all_running
check_rolled "$gen" "$canary"
events=$("$CLUSTERCTL" events -n 1000 --json)
grep -q '"kind":"rollout-done"' <<<"$events" || fail "no rollout-done event after the upgrades: $events"
no_zombies || fail "zombies under the master: $(ps --ppid "$DAEMON" -o pid=,stat=,args=)"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/read" || fail "not serving after the rollout"
# Once it is over, each slot's idle lane still names the forgotten generation: no obstacle.
upgrade "an upgrade after the rollout"

pids=$(status_py '" ".join(str(w["pid"]) for w in s["apps"][0]["workers"])')
kill -TERM "$DAEMON"; rc=0; wait "$DAEMON" || rc=$?; DAEMON=""
[[ $rc -eq 0 ]] || fail "the upgraded master exited $rc on SIGTERM"
# shellcheck disable=SC2086
none_alive $pids || fail "workers left after the upgraded master stopped"
pass "workers killed around $((UPGRADES - 3)) upgrades came back; a rollout survived 3 upgrades and finished"
