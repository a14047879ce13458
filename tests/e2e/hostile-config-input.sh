#!/usr/bin/env bash
# Config input that is not a small regular file. Attacks: a config path pointing at a device or a
# FIFO (whoever can put one there blocks the open or feeds endless bytes: the old code read
# /dev/zero until bad_alloc, blocked on a FIFO forever, and a reload did so inside the event
# loop, freezing the daemon); a "billion laughs" YAML whose aliases expand to 10^10 nodes; a huge
# file. Expected: exit 2 with "not a regular file", "expands to more than 100000 nodes" (with
# FILE:LINE:COL), "larger than 1048576 bytes"; a reload from a FIFO is refused and the daemon
# keeps answering with its worker untouched.
source "$(dirname "$0")/lib/common.sh"
# check FILE: runs `clusterd --check -c FILE`, bounded in time and address space (the old code
# would otherwise read /dev/zero into memory until the machine runs out); sets rc, output in $T/out.
check() {
  rc=0
  # AddressSanitizer reserves terabytes of address space for its shadow: there, time bounds it.
  local as=(prlimit --as=$((512 << 20)))
  [[ -n ${CLUSTERD_SANITIZED:-} ]] && as=()
  timeout 20 "${as[@]}" "$CLUSTERD" --check -c "$1" >"$T/out" 2>&1 || rc=$?
}
expect_refused() {  # expect_refused FILE PATTERN: exit 2 and PATTERN in the output
  check "$1"
  [[ $rc -eq 2 ]] || fail "--check -c $1: exit $rc, expected 2: $(tail -c 600 "$T/out")"
  grep -Eq -- "$2" "$T/out" || fail "--check -c $1: no /$2/ in: $(tail -c 600 "$T/out")"
}

# (a) a character device that never ends.
expect_refused /dev/zero "^/dev/zero: not a regular file"
# (b) a FIFO no one writes to.
mkfifo "$T/fifo.yaml"
expect_refused "$T/fifo.yaml" "fifo.yaml: not a regular file"

# (d) billion laughs: a0 is 10 scalars, each a<i> 10 aliases of a<i-1>: 10^10 nodes once expanded.
python3 - >"$T/laughs.yaml" <<'PY'
print("laughs:\n  a0: &a0 [" + ", ".join(["x"] * 10) + "]")
for i in range(1, 10):
    print("  a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)))
print('apps:\n  w:\n    command: ["/bin/sleep", "600"]')
PY
expect_refused "$T/laughs.yaml" "laughs.yaml:[0-9]+:[0-9]+: .*expands to more than 100000 nodes"

# (e) a valid config padded with comments to 2 MiB.
printf 'apps:\n  w:\n    command: ["/bin/sleep", "600"]\n' >"$T/big.yaml"
python3 -c 'import sys; sys.stdout.write(("# " + "p" * 77 + "\n") * (2 * 1024 * 1024 // 80))' >>"$T/big.yaml"
expect_refused "$T/big.yaml" "big.yaml: larger than 1048576 bytes"

# (c) a running daemon whose config path becomes a FIFO: the reload is refused, nothing blocks.
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  w:
    command: ["/bin/sleep", "600"]
    instances: 1
YAML
start_daemon "$T/c.yaml"
worker_pid() { "$CLUSTERCTL" --timeout 10 status --json | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" pids; }
has_pid() { [[ -n $(worker_pid) ]]; }
wait_for "the worker running" has_pid
before=$(worker_pid)
mv "$T/c.yaml" "$T/c.bak"; mkfifo "$T/c.yaml"
rc=0; "$CLUSTERCTL" --timeout 10 reload >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "(c) reload from a FIFO: exit $rc, expected 1: $(cat "$T/out")"
grep -q "not a regular file" "$T/out" || fail "(c) reload from a FIFO: $(cat "$T/out")"
after=$(worker_pid) || fail "(c) status does not answer after a reload from a FIFO"
[[ $after == "$before" ]] || fail "(c) the worker changed: $before -> $after"
pass "/dev/zero, a FIFO, billion laughs and a 2 MiB file refused (exit 2); a reload from a FIFO refused, daemon answering, worker $after kept"
