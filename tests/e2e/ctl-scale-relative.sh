#!/usr/bin/env bash
# clusterctl scale APP +N / -N: relative to the workers the app has when the daemon gets the
# request (before: `scale web +1` on 2 workers scaled to 1, a silent capacity cut, and `-1` was a
# usage error). 2 workers, +1 -> 3 running, -2 -> 1; -1 would leave none: refused (exit 1, the
# reason, `stop` suggested) and nothing changes. Counts that are not numbers, or too big, are
# usage errors (exit 2) that change nothing either.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
# "instances running pid,pid,..." of app web
shape() {
  "$CLUSTERCTL" status --json | python3 -c '
import json, sys
a = json.load(sys.stdin)["apps"][0]
running = [w for w in a["workers"] if w["state"] == "running"]
print(a["instances"], len(running), ",".join(str(w["pid"]) for w in a["workers"]))'
}
settled() {  # settled N: N instances, N running, no other slot, N worker processes
  local s; s=$(shape)
  [[ $s == "$1 $1 "* && $(tr ',' '\n' <<<"${s##* }" | wc -l) -eq $1 ]] && has_workers "$1"
}

"$CLUSTERCTL" scale web +1 >"$T/out" 2>&1 || fail "scale web +1: $(cat "$T/out")"
[[ $(cat "$T/out") == "scaled web from 2 to 3 (+1)" ]] || fail "scale +1 said: $(cat "$T/out")"
wait_for "3 workers running" settled 3
"$CLUSTERCTL" status web | grep -q "instances 3: set by scale +1 (was 2)" ||
  fail "instances reason: $("$CLUSTERCTL" status web)"

"$CLUSTERCTL" scale web -2 >"$T/out" 2>&1 || fail "scale web -2: $(cat "$T/out")"
[[ $(cat "$T/out") == "scaled web from 3 to 1 (-2)" ]] || fail "scale -2 said: $(cat "$T/out")"
wait_for "1 worker running" settled 1
before=$(shape)

rc=0; "$CLUSTERCTL" scale web -1 >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "scale web -1 with 1 worker: exit $rc: $(cat "$T/out")"
grep -qF "cannot scale web by -1: it has 1 worker and scale leaves at least 1; use \`stop web\` to stop them all" "$T/out" ||
  fail "scale -1 refusal: $(cat "$T/out")"
rc=0; "$CLUSTERCTL" scale web 0 >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -qF "scale needs at least 1 instance; use \`stop web\`" "$T/out" ||
  fail "scale web 0: exit $rc: $(cat "$T/out")"
usage() {  # usage ARG MESSAGE: `scale web ARG` is a usage error saying MESSAGE
  local rc=0
  "$CLUSTERCTL" scale web "$1" >"$T/out" 2>&1 || rc=$?
  [[ $rc -eq 2 ]] || fail "scale web '$1': exit $rc: $(cat "$T/out")"
  grep -qF -- "$2" "$T/out" || fail "scale web '$1' said: $(cat "$T/out")"
}
what="expected a number of workers (1 to 65536), +N or -N to add or remove N workers, or auto"
usage abc "$what; got 'abc'"
usage + "$what; got '+'"
usage +-1 "$what; got '+-1'"
usage 99999999999 "'99999999999' is over the limit of 65536 workers"
usage +99999999999 "'+99999999999' is over the limit of 65536 workers"
usage +0 "'+0' changes nothing"
rc=0; "$CLUSTERCTL" scale web +65536 >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -qF "65537 workers is over the limit of 65536" "$T/out" ||
  fail "scale web +65536: exit $rc: $(cat "$T/out")"
[[ $(shape) == "$before" ]] || fail "a refused scale changed something: $before -> $(shape)"
has_workers 1 || fail "worker processes after the refusals: $(worker_count)"
$HTTP spread "$PORT" 20 >/dev/null || fail "not serving after the refusals"
pass "scale +1: 2 -> 3, -2: 3 -> 1, -1 refused with the reason; bad counts are usage errors"
