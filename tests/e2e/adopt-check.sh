#!/usr/bin/env bash
# Socket adoption needs the kernel's seccomp user notification: `clusterd --check` accepts a
# config that uses it where the machine can do it, and where seccomp(2) is refused (as the
# shipped unit's SystemCallFilter=@system-service alone did) both --check and a start refuse it,
# naming the key and the call, instead of starting workers whose binds fall back to their own.
# A config without adoption is not refused there.
source "$(dirname "$0")/lib/common.sh"
port=$(free_port)
cat >"$T/adopt.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
    listen:
      http: { address: "127.0.0.1:$port", adopt: true }
YAML
cat >"$T/plain.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: ["/bin/sleep", "600"]
    instances: 1
    listen:
      http: { address: "127.0.0.1:$port" }
YAML

"$CLUSTERD" --check -c "$T/adopt.yaml" >"$T/check.log" 2>&1 ||
  fail "--check refused adoption on this machine: $(cat "$T/check.log")"

# Runs the rest of its arguments with seccomp(2) failing with EPERM (a filter installed first,
# then exec).
cat >"$T/no-seccomp.py" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
SECCOMP_NR = 317 if os.uname().machine == "x86_64" else 277
def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
program = b"".join([
    stmt(0x20, 0),                      # ld [nr]
    jump(0x15, SECCOMP_NR, 0, 1),       # jeq seccomp
    stmt(0x06, 0x00050000 | 1),         # ret ERRNO(EPERM)
    stmt(0x06, 0x7fff0000),             # ret ALLOW
])
buf = ctypes.create_string_buffer(program)
fprog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buf))
fbuf = ctypes.create_string_buffer(fprog)
if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.addressof(fbuf), 0, 0) != 0:
    sys.exit("cannot install the test's filter: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
PY
no_seccomp() { python3 "$T/no-seccomp.py" "$@"; }
no_seccomp "$CLUSTERD" --check -c "$T/plain.yaml" >"$T/plain.log" 2>&1 ||
  fail "--check refused a config without adoption under the filter: $(cat "$T/plain.log")"

rc=0
no_seccomp "$CLUSTERD" --check -c "$T/adopt.yaml" >"$T/check.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "--check exit $rc, expected 2: $(cat "$T/check.log")"
want="$T/adopt.yaml:7:50: apps.web.listen.http.adopt: socket adoption needs seccomp user notification with SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9 or later), and here seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER) failed: Operation not permitted (a SystemCallFilter= without seccomp?)"
grep -qxF "$want" "$T/check.log" || fail "--check said: $(cat "$T/check.log")"

rc=0
no_seccomp "$CLUSTERD" -c "$T/adopt.yaml" >"$T/clusterd.log" 2>&1 || rc=$?
[[ $rc -ne 0 ]] || fail "clusterd started without the kernel feature"
grep -qF "apps.web.listen.http.adopt: socket adoption needs seccomp user notification" "$T/clusterd.log" ||
  fail "the start did not say why: $(cat "$T/clusterd.log")"
grep -q "spawned" "$T/clusterd.log" && fail "a worker was started"
pass "accepted here; refused at --check (exit 2) and at start (exit $rc) where seccomp is refused"
