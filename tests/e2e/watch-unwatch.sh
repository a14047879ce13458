#!/usr/bin/env bash
# watch: a reload that drops an app's watch, or the app, closes its inotify instance at once (not
# at the tree's next change): reloads back and forth never add instances, so the per-user
# inotify limit (fs.inotify.max_user_instances, 128) is never reached by reloads.
source "$(dirname "$0")/lib/common.sh"
SRC=$T/src
mkdir -p "$SRC"
config() {  # config WATCH(yes|no)
  {
    echo "control: { socket: \"$T/ctl.sock\" }"
    echo "apps:"
    echo "  web:"
    echo "    command: [sleep, \"3600\"]"
    echo "    instances: 1"
    if [[ $1 == yes ]]; then echo "    watch: [\"$SRC\"]"; fi
  } >"$T/c.yaml"
}
instances() { find "/proc/$DAEMON/fd" -lname 'anon_inode:inotify' 2>/dev/null | wc -l; }
config yes
start_daemon "$T/c.yaml"
wait_for "the app ready" "$CLUSTERCTL" status --check
base=$(instances)
[[ $base -ge 1 ]] || fail "no inotify instance while watching"
for round in 1 2 3 4 5; do
  config no
  "$CLUSTERCTL" reload >/dev/null || fail "round $round: reload without watch refused"
  wait_for "round $round: the instance closed" bash -c "[[ \$(find /proc/$DAEMON/fd -lname 'anon_inode:inotify' | wc -l) -eq $((base - 1)) ]]"
  config yes
  "$CLUSTERCTL" reload >/dev/null || fail "round $round: reload with watch refused"
  wait_for "round $round: watching again" bash -c "[[ \$(find /proc/$DAEMON/fd -lname 'anon_inode:inotify' | wc -l) -eq $base ]]"
done
[[ $(instances) -eq $base ]] || fail "inotify instances grew over reloads: $(instances), was $base"
pass "a dropped watch closes its inotify instance; 5 reloads back and forth add none"
