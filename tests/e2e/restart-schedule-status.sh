#!/usr/bin/env bash
# restart_schedule is carried out: status (--json and the table) shows when it fires next, the
# same time --check says, a reload that changes the schedule changes it, and the start no longer
# says it is not carried out. (The firing itself is a unit test over the daemon loop with a fake
# clock: tests/unit/schedule_test.cc.)
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
web_config 2 reuseport
with_schedule() { python3 - "$T/c.yaml" "$1" <<'PY'
import re, sys
path, schedule = sys.argv[1], sys.argv[2]
text = re.sub(r'    restart_schedule: .*\n', '', open(path).read())
open(path, 'w').write(text.replace('    ready: notify\n', '    ready: notify\n    restart_schedule: "%s"\n' % schedule))
PY
}
# When "TZ=UTC M H * * *" fires next, as status prints it.
expected() { python3 - "$1" "$2" <<'PY'
import datetime, sys
m, h = int(sys.argv[1]), int(sys.argv[2])
now = datetime.datetime.now(datetime.timezone.utc)
t = now.replace(hour=h, minute=m, second=0, microsecond=0)
if t <= now: t += datetime.timedelta(days=1)
s = t.strftime('%Y-%m-%d %H:%M')
print('%s UTC (%s UTC)' % (s, s))
PY
}
next_restart() { "$CLUSTERCTL" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["next_restart"])'; }
next_is() { [[ $(next_restart) == "$1" ]]; }

with_schedule "TZ=UTC 30 4 * * *"
"$CLUSTERD" --check -c "$T/c.yaml" >"$T/check" || fail "--check refused: $(cat "$T/check")"
start_daemon "$T/c.yaml"
wait_for "two workers ready" log_ready 2
want=$(expected 30 4)
grep -qF "restart_schedule TZ=UTC 30 4 * * *: next $want" "$T/check" ||
  fail "--check says another time than $want: $(cat "$T/check")"
# The minute may turn between the two reads only at 04:30 UTC: read again then.
next_is "$want" || next_is "$(expected 30 4)" || fail "status --json next_restart: $(next_restart), want $want"
"$CLUSTERCTL" status >"$T/table"
grep -qF "web: restart_schedule next $(expected 30 4)" "$T/table" ||
  grep -qF "web: restart_schedule next $want" "$T/table" || fail "status table: $(cat "$T/table")"
log_has "not yet carried out" && fail "the start still says restart_schedule is not carried out"

with_schedule "TZ=UTC 15 22 * * *"
"$CLUSTERCTL" reload >/dev/null || fail "reload"
want=$(expected 15 22)
wait_for "the new schedule in status" bash -c "[[ \$($(declare -f next_restart); CLUSTERCTL=$CLUSTERCTL next_restart) == '$want' ]]"
"$CLUSTERCTL" status --json | python3 -c 'import json,sys; assert all(w["generation"] == 1 for w in json.load(sys.stdin)["apps"][0]["workers"])' ||
  fail "a reload that changes only restart_schedule replaced workers"
pass "status shows the next scheduled restart (json and table), as --check does; a reload changes it"
