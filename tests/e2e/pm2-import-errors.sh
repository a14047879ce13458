#!/usr/bin/env bash
# clusterctl import refuses what it cannot convert, saying why: an ecosystem.config.js without
# node in PATH (and how to do without), one node cannot evaluate, a file that is not an ecosystem
# file, a missing file; a .yaml ecosystem file is read as it is.
source "$(dirname "$0")/lib/common.sh"
cat >"$T/ecosystem.config.js" <<'JS'
module.exports = { apps: [{ name: "api", script: "server.js", instances: 2 }] };
JS
rc=0
PATH=/nonexistent "$CLUSTERCTL" import "$T/ecosystem.config.js" >"$T/out" 2>"$T/err" || rc=$?
[[ $rc -eq 1 && ! -s $T/out ]] || fail "without node: exit $rc, output $(cat "$T/out")"
grep -qF "clusterctl: import: $T/ecosystem.config.js is JavaScript: evaluating it needs node, which is not in PATH; install nodejs, or write the file's value as JSON" "$T/err" ||
  fail "without node: $(cat "$T/err")"
if command -v node >/dev/null; then
  echo 'throw new Error("no config here")' >"$T/broken.config.js"
  rc=0
  "$CLUSTERCTL" import "$T/broken.config.js" >/dev/null 2>"$T/err" || rc=$?
  [[ $rc -eq 1 ]] && grep -qF "node could not evaluate $T/broken.config.js: Error: no config here" "$T/err" ||
    fail "broken js: $rc $(cat "$T/err")"
  "$CLUSTERCTL" import "$T/ecosystem.config.js" >"$T/out" 2>"$T/err" || fail "with node: $(cat "$T/err")"
  grep -qF "    instances: 2" "$T/out" || fail "with node: $(cat "$T/out")"
fi
echo '{"name": 42}' >"$T/x.json"
rc=0
"$CLUSTERCTL" import "$T/x.json" >/dev/null 2>"$T/err" || rc=$?
[[ $rc -eq 1 ]] && grep -qF "42.script: not supported: missing: this app has nothing to run" "$T/err" &&
  grep -qF "clusterctl: import: no app to import" "$T/err" || fail "no app: $rc $(cat "$T/err")"
rc=0
"$CLUSTERCTL" import "$T/missing.json" >/dev/null 2>"$T/err" || rc=$?
[[ $rc -eq 1 ]] && grep -qF "clusterctl: import: cannot read $T/missing.json: No such file or directory" "$T/err" ||
  fail "missing: $rc $(cat "$T/err")"
rc=0
"$CLUSTERCTL" import >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no file: exit $rc"
cat >"$T/ecosystem.yaml" <<'YAML'
apps:
  - name: worker
    script: worker.py
    instances: 3
YAML
"$CLUSTERCTL" import "$T/ecosystem.yaml" >"$T/out" 2>"$T/err" || fail "yaml: $(cat "$T/err")"
grep -qF "    command: [python3, worker.py]" "$T/out" && grep -qF "    cwd: $T" "$T/out" ||
  fail "yaml: $(cat "$T/out")"
pass "import refuses without node, a broken file, no app, no file; reads YAML"
