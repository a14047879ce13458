#!/usr/bin/env bash
# A worker running as `user: nobody` owns the directory above its log directory ($T/logs): it
# renames the log directory away and puts a symbolic link to another directory in its place
# ($T/logs/web -> $T/elsewhere, root's, empty); logrotate then asks for a reopen. The master
# walks the log file's directory one component at a time and follows no link that anyone but
# root could have made: nothing is created or appended in $T/elsewhere, the master says why, the
# worker's lines are counted as dropped. Once the worker puts the directory back, its file is
# written again. A link root made in a directory only root may write to ($T/trusted ->
# $T/real) is followed. (Before: O_NOFOLLOW guarded only the last component, and root created
# and appended $T/elsewhere/web.log.)
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to run a worker as nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
NOGROUP=$(id -gn nobody)
chmod 0711 "$T"
mkdir -p "$T/logs/web" "$T/elsewhere" "$T/real"
chown "nobody:$NOGROUP" "$T/logs"
ln -s "$T/real" "$T/trusted"
talk() { echo "[\"/bin/sh\", \"-c\", \"i=0; while :; do i=\$((i+1)); echo $1 line \$i; sleep 0.02; done\"]"; }
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: $(talk web)
    instances: 1
    user: nobody
    logs: { file: "$T/logs/web/web.log", console: false }
  other:
    command: $(talk other)
    instances: 1
    logs: { file: "$T/trusted/other.log", console: false }
YAML
start_daemon "$T/c.yaml"
as_nobody() { setpriv --reuid nobody --regid "$NOGROUP" --clear-groups "$@"; }
lines() { wc -l <"$1"; }
grows() { local file=$1 from=$2; (( $(lines "$file") > from + 10 )); }
dropped() {
  "$CLUSTERCTL" --timeout 5 status web --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["apps"][0]["log_dropped_bytes"])'
}
more_dropped() { (( $(dropped) > $1 )); }
wait_for "web's lines in its file" test -s "$T/logs/web/web.log"
wait_for "other's lines in its file, through the trusted link" test -s "$T/real/other.log"

# The swap, then the reopen logrotate asks for.
as_nobody sh -c "mv '$T/logs/web' '$T/logs/web.old' && ln -s '$T/elsewhere' '$T/logs/web'"
"$CLUSTERCTL" reopen >/dev/null || fail "reopen failed"
elsewhere_empty() { [[ -z $(ls -A "$T/elsewhere") ]] || fail "the master wrote where the link points: $(ls -lA "$T/elsewhere")"; }
handled() { more_dropped 0 || [[ -n $(ls -A "$T/elsewhere") ]]; }
wait_for "web's next lines to be handled" handled
elsewhere_empty
REFUSED="logs: not writing $T/logs/web/web.log: $T/logs/web is a symbolic link and its directory belongs to uid $(id -u nobody)"
wait_for "the master to say why" log_has "$REFUSED"
d=$(dropped)
wait_for "more of web's lines to be refused" more_dropped "$((d + 500))"
n=$(lines "$T/real/other.log")
wait_for "other's lines to go on into its file" grows "$T/real/other.log" "$n"
elsewhere_empty
said=$(log_count "$REFUSED")
[[ $said -eq 1 ]] || fail "the refusal was said $said times, not once"

# The worker puts its directory back: the next line opens the file again (a new walk).
as_nobody sh -c "rm '$T/logs/web' && mv '$T/logs/web.old' '$T/logs/web'"
n=$(lines "$T/logs/web/web.log")
wait_for "web's lines in its file again" grows "$T/logs/web/web.log" "$n"
elsewhere_empty
kill -0 "$DAEMON" || fail "the master died"
pass "a log directory swapped for a worker's symbolic link is not followed (said once, $(dropped) bytes counted dropped, $T/elsewhere empty); a root-made link in a root-only directory is; the file is written again once the directory is back"
