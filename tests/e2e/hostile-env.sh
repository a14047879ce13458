#!/usr/bin/env bash
# A worker that runs as another user gets a clean environment. Attack: the master's environment
# (secrets such as SECRET_TOKEN, root's HOME) leaked into workers run as `user: nobody`, who could
# read it, and HOME=/root sent nobody's tools to root's files. Expected:
#  A `user: nobody`: no SECRET_TOKEN; HOME, USER, LOGNAME, SHELL from passwd; the default PATH;
#  B `user: nobody` and `inherit_env: [SECRET_TOKEN]` (added by a reload): gets
#    SECRET_TOKEN=hunter2, and still nobody's HOME;
#  C no `user:`: inherits everything, as before.
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to switch users"
getent passwd nobody >/dev/null || skip "no user nobody"
IFS=: read -r _ _ _ _ _ NOBODY_HOME NOBODY_SHELL < <(getent passwd nobody)
chmod 0711 "$T"
mkdir -m 0777 "$T/out"; chmod 0777 "$T/out"
cat >"$T/env.sh" <<SH
#!/bin/bash
env >"$T/out/\$1.tmp" && mv "$T/out/\$1.tmp" "$T/out/\$1.env"
exec sleep 600
SH
chmod 0755 "$T/env.sh"
app() {  # app NAME [EXTRA YAML LINE]: one app running env.sh, ready on exec
  printf '  %s:\n    command: ["%s", "%s"]\n    instances: 1\n    ready: exec\n' "$1" "$T/env.sh" "$1"
  [[ -z ${2:-} ]] || printf '    %s\n' "$2"
}
{ echo "control: { socket: \"$T/ctl.sock\" }"; echo "apps:"
  app a "user: nobody"; app c; } >"$T/c.yaml"
SECRET_TOKEN=hunter2 HOME=/root start_daemon "$T/c.yaml"
for app in a c; do wait_for "app $app's environment" test -f "$T/out/$app.env"; done
var() { sed -n "s/^$2=//p" "$T/out/$1.env"; }  # var APP NAME: its value, empty if unset
has() { grep -q "^$2=" "$T/out/$1.env"; }
expect() {  # expect APP NAME VALUE
  has "$1" "$2" || fail "app $1: no $2 in its environment: $(tr '\n' ' ' <"$T/out/$1.env")"
  [[ $(var "$1" "$2") == "$3" ]] || fail "app $1: $2='$(var "$1" "$2")', expected '$3'"
}

! has a SECRET_TOKEN || fail "app a (user nobody) got the master's SECRET_TOKEN=$(var a SECRET_TOKEN)"
expect a HOME "$NOBODY_HOME"
expect a USER nobody
expect a LOGNAME nobody
expect a SHELL "$NOBODY_SHELL"
expect a PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
has a CLUSTER_WORKER_ID || fail "app a lost the worker contract (CLUSTER_WORKER_ID)"
expect c SECRET_TOKEN hunter2
expect c HOME /root

# B is added by a reload (inherit_env is a key the daemon must know).
{ app b "user: nobody"; echo "    inherit_env: [SECRET_TOKEN]"; } >>"$T/c.yaml"
"$CLUSTERCTL" reload >"$T/reload.out" 2>&1 || fail "reload adding app b: $(cat "$T/reload.out")"
wait_for "app b's environment" test -f "$T/out/b.env"
expect b SECRET_TOKEN hunter2
expect b HOME "$NOBODY_HOME"
expect b USER nobody
pass "user: nobody gets a clean env (HOME=$NOBODY_HOME, USER/LOGNAME=nobody, SHELL=$NOBODY_SHELL), inherit_env passes SECRET_TOKEN, no user: inherits all"
