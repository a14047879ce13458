#!/usr/bin/env bash
# A worker cannot reach the terminal clusterd was started from. clusterd runs on a pseudo-
# terminal (as from an admin's shell); a worker running as nobody tries TIOCSTI (pushing a
# command line into the admin's shell) on the terminal it inherited as stdout, and /dev/tty.
# Each worker is in a session of its own, without a controlling terminal, stdin /dev/null:
# both attempts fail (before: TIOCSTI worked, the terminal was the worker's controlling one).
source "$(dirname "$0")/lib/common.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root to run a worker as nobody"
getent passwd nobody >/dev/null || skip "no user nobody"
chmod 0711 "$T"
mkdir -m 0777 "$T/out"
cat >"$T/probe.py" <<'PY'
import fcntl, os, sys, termios, time
lines = []
try:
    fcntl.ioctl(1, termios.TIOCSTI, b"X")  # fd 1 is the terminal clusterd runs on
    lines.append("tiocsti ok")
except OSError as e:
    lines.append(f"tiocsti {e.errno}")
try:
    os.open("/dev/tty", os.O_RDWR)
    lines.append("devtty ok")
except OSError as e:
    lines.append(f"devtty {e.errno}")
fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
lines.append(f"session {fields[3]} tty {fields[4]} pid {os.getpid()}")
lines.append("stdin " + os.readlink("/proc/self/fd/0"))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("\n".join(lines) + "\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
PY
cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  probe:
    command: ["/usr/bin/python3", "$T/probe.py", "$T/out/result"]
    user: nobody
    instances: 1
YAML
# clusterd on a pseudo-terminal: the pty's other side is read (and kept) by this script.
python3 - "$CLUSTERD" "$T/c.yaml" "$T/tty.out" <<'PY' &
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-c", sys.argv[2], "--log-level", "debug"])
with open(sys.argv[3], "wb", buffering=0) as out:
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            out.write(data)
    except OSError:
        pass
PY
EXTRA_PIDS+=($!)
wait_for "the probe's result" test -e "$T/out/result"
DAEMON=$(pgrep -f "^$CLUSTERD -c $T/c.yaml" | head -1)
cat "$T/out/result"
grep -qx "tiocsti ok" "$T/out/result" && fail "a worker pushed input into clusterd's terminal"
grep -qx "devtty ok" "$T/out/result" && fail "a worker opened clusterd's terminal as its controlling tty"
read -r _ session _ tty _ pid < <(grep '^session' "$T/out/result")
[[ $session == "$pid" ]] || fail "the worker is not in a session of its own (session $session, pid $pid)"
[[ $tty == 0 ]] || fail "the worker has a controlling terminal ($tty)"
grep -qx "stdin /dev/null" "$T/out/result" || fail "stdin is not /dev/null: $(grep stdin "$T/out/result")"
pass "TIOCSTI and /dev/tty fail for a worker; own session, no controlling tty, stdin /dev/null"
