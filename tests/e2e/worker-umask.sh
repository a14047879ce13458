#!/usr/bin/env bash
# A worker's umask is its app's `umask:` (022 unless set), never the master's own: here the
# master runs with umask 000, which workers used to inherit (every file they made was writable by
# all). Each worker creates a file and a directory named after its pid; their modes show its
# umask. (1) no `umask:` -> 0644 and 0755; (2) a reload adds an app with `umask: "027"` -> 0640
# and 0750, the first app's worker untouched; (3) a reload changes it to 077 -> the app is rolled
# and its new worker makes 0600 and 0700.
source "$(dirname "$0")/lib/common.sh"
writer='d=$0; touch "$d/$$.file"; mkdir "$d/$$.dir"; exec sleep 600'
mkdir -p "$T/out/plain" "$T/out/masked"
app() {  # app NAME [UMASK]
  printf '  %s:\n    command: ["/bin/sh", "-c", %s, "%s"]\n    instances: 1\n' \
    "$1" "'$writer'" "$T/out/$1"
  [[ -z ${2:-} ]] || printf '    umask: "%s"\n' "$2"
}
config() { { printf 'control: { socket: "%s" }\napps:\n' "$T/ctl.sock"; "$@"; } >"$T/c.yaml"; }
files() { ls "$T/out/$1"/*.file 2>/dev/null | wc -l; }
has_files() { [[ $(files "$1") -ge $2 ]]; }
newest() { ls -t "$T/out/$1"/*.file | head -1; }
# modes APP FILE_MODE DIR_MODE: the newest worker of APP made its file and directory with these.
modes() {
  local file dir
  file=$(newest "$1"); dir=${file%.file}.dir
  wait_for "$1's directory" test -d "$dir"
  [[ $(stat -c %a "$file") == "$2" && $(stat -c %a "$dir") == "$3" ]] ||
    fail "$1: file $(stat -c %a "$file"), directory $(stat -c %a "$dir"); expected $2 and $3"
}

config app plain
umask 000
start_daemon "$T/c.yaml"
umask 022
wait_for "the master running" test -e "/proc/$DAEMON/status"
# The master narrows its umask for a moment while it binds a socket (a notify socket at each
# spawn): its own umask is the one it has between those.
master_umask() { grep -Eq '^Umask:\s+0000$' "/proc/$DAEMON/status"; }
wait_for "the master's umask 0000" master_umask
# (1) the default.
wait_for "plain's worker" has_files plain 1
modes plain 644 755
plain=$(newest plain)

# (2) a configured umask.
config eval 'app plain; app masked 027'
"$CLUSTERD" --check -c "$T/c.yaml" >"$T/check.out" 2>&1 || fail "(2) --check: $(cat "$T/check.out")"
"$CLUSTERCTL" --timeout 30 reload >"$T/reload.out" 2>&1 || fail "(2) reload: $(cat "$T/reload.out")"
wait_for "masked's worker" has_files masked 1
modes masked 640 750
[[ $(files plain) -eq 1 && $(newest plain) == "$plain" ]] || fail "(2) plain was restarted"

# (3) a changed umask rolls the app.
config eval 'app plain; app masked 077'
"$CLUSTERCTL" --timeout 30 reload >"$T/reload.out" 2>&1 || fail "(3) reload: $(cat "$T/reload.out")"
wait_for "masked's new worker" has_files masked 2
modes masked 600 700
[[ $(files plain) -eq 1 ]] || fail "(3) plain was restarted"
pass "master at umask 000; workers 0644/0755 by default, 0640/0750 with umask 027, 0600/0700 after a reload to 077"
