#!/usr/bin/env bash
# Config files whose walk would cost far more than the file, every one under the 1 MiB and
# 100000-node bounds: (a) a 78 KB file whose aliases stand for 2.7 GB of text (a 58 KB scalar
# behind 100 aliases in an env map, and that map in 460 apps); (b) a 400 KB app name above 30000
# env entries, each entry's dotted path repeating it (12 GB, no alias at all); (c) a map that
# contains itself (`&a {k: *a}`), walked around at every level (a 3 KB file gave 8 million
# errors in 2 GB). The old code made those copies: a 425 KB file passed --check at 5.8 GB and, as
# a reload, froze the master until the OOM killer took it. Expected: --check exits 2 with the
# limit at FILE:LINE:COL, its peak RSS far below what the expansion needs; a reload of (a) is
# refused, the master's peak RSS stays as small and its worker is kept.
source "$(dirname "$0")/lib/common.sh"
SANITIZED=${CLUSTERD_SANITIZED:-}
# Peak RSS bound in KiB: the refusals take 6 to 50 MiB here ((b) is yaml-cpp's tree of 60000
# nodes), about 4 times that under ASan (its shadow and quarantine). (a) alone needs 2.7 GB to
# expand, (b) 12 GB.
BOUND=$((128 * 1024))
[[ -n $SANITIZED ]] && BOUND=$((512 * 1024))
# Each run is bounded in address space too (not under ASan, which reserves terabytes), so that a
# build without the bounds fails here instead of taking the machine's memory.
AS=(prlimit --as=$((1 << 30)))
[[ -n $SANITIZED ]] && AS=()
cat >"$T/peak.py" <<'PY'
# peak.py OUT COMMAND...: runs COMMAND (output to OUT), prints its exit code and the peak RSS
# (KiB) of the largest process it waited for.
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    rc = subprocess.call(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
# expect_refused FILE PATTERN: --check exits 2, prints PATTERN, and peaks under BOUND.
expect_refused() {
  local rc peak
  read -r rc peak < <(python3 "$T/peak.py" "$T/out" timeout 120 "${AS[@]}" "$CLUSTERD" --check -c "$1")
  [[ $rc -eq 2 ]] || fail "--check -c $1: exit $rc, expected 2: $(tail -c 600 "$T/out")"
  grep -Eq -- "$2" "$T/out" || fail "--check -c $1: no /$2/ in: $(tail -c 600 "$T/out")"
  ((peak < BOUND)) || fail "--check -c $1: peak RSS $peak KiB, bound $BOUND KiB"
  echo "$(basename "$1"): refused, peak RSS $peak KiB"
}

python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
with open(t + "/bomb.yaml", "w") as f:  # (a)
    f.write("x:\n  s: &s " + "A" * 58000 + "\n  e: &e\n")
    f.writelines("    k%d: *s\n" % i for i in range(100))
    f.write('control: { socket: "%s/ctl.sock" }\napps:\n' % t)
    f.writelines("  a%d: {command: [/bin/sleep, '600'], env: *e}\n" % i for i in range(460))
with open(t + "/key.yaml", "w") as f:  # (b)
    f.write("apps:\n  ? " + "n" * 400000 + "\n  : command: [/bin/true]\n    env:\n")
    f.writelines("      k%d: v\n" % i for i in range(30000))
with open(t + "/cycle.yaml", "w") as f:  # (c)
    f.write("apps: &a {listen: *a, " + ", ".join("k%d: *a" % i for i in range(300)) + "}\n")
PY
expect_refused "$T/bomb.yaml" \
  "^$T/bomb.yaml:[0-9]+:[0-9]+: the document expands to more than 16777216 bytes of text through its aliases$"
expect_refused "$T/key.yaml" "^$T/key.yaml:2:5: apps\.n{128}\.\.\.: invalid app name"
expect_refused "$T/cycle.yaml" \
  "^$T/cycle.yaml:1:19: an alias inside the node it refers to \(a recursive document\) is not supported$"

# A running master asked to reload (a).
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  w:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
"${AS[@]}" "$CLUSTERD" -c "$T/c.yaml" --log-level debug >"$T/clusterd.log" 2>&1 &
DAEMON=$!
worker_pid() { "$CLUSTERCTL" --timeout 10 status --json | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" pids; }
has_pid() { [[ -n $(worker_pid) ]]; }
wait_for "the worker running" has_pid
before=$(worker_pid)
cp "$T/bomb.yaml" "$T/c.yaml"
rc=0; "$CLUSTERCTL" --timeout 60 reload >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "reload of the bomb: exit $rc, expected 1: $(tail -c 600 "$T/out")"
grep -q "expands to more than 16777216 bytes" "$T/out" || fail "reload of the bomb: $(tail -c 600 "$T/out")"
after=$(worker_pid) || fail "status does not answer after the refused reload"
[[ $after == "$before" ]] || fail "the worker changed: $before -> $after"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$DAEMON/status")
((hwm < BOUND)) || fail "the master's peak RSS is $hwm KiB after the refused reload, bound $BOUND KiB"
pass "2.7 GB of aliases, a 400 KB key over 30000 entries and a recursive map refused by --check under $BOUND KiB; the reload refused, master peak $hwm KiB, worker $after kept"
