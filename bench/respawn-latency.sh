#!/usr/bin/env bash
# Benchmark: how fast a killed worker is replaced. One hello-worker (reuseport, instances 1,
# ready: notify, min_uptime 0 so a death restarts at once) is killed with SIGKILL KILLS times.
# Right after each kill a client connects (the connection waits in the slot's queue, which the
# master keeps open) and sends a request; we time:
#   reaped   kill -> the master logged "pid N exited"           (log timestamp, 1 ms resolution)
#   spawned  kill -> the master logged "spawned pid M"           (log timestamp, 1 ms resolution)
#   ready    kill -> the master logged "starting -> running: READY=1" (log timestamp, 1 ms)
#   served   kill -> the replacement's HTTP answer was read      (time.monotonic, ~1 us)
# and count refused/reset connections (must be 0). Prints p50/p99/max per column.
#   bench/respawn-latency.sh            KILLS=200 by default (env KILLS=20 for a quick run)
# On demand only, never in CI. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KILLS=${KILLS:-200}
snapshot_binaries
echo "machine: $(machine)"
echo "respawn latency: $KILLS SIGKILLs of 1 hello-worker (reuseport, ready: notify, min_uptime 0)"
BUILD="$BUILD" T="$T" KILLS="$KILLS" python3 - <<'PY'
import datetime, json, os, re, signal, socket, subprocess, sys, time

build, tmp, kills = os.environ["BUILD"], os.environ["T"], int(os.environ["KILLS"])
cfg = os.path.join(tmp, "c.yaml")
with open(cfg, "w") as f:
    f.write(f"""control: {{ socket: "{tmp}/ctl.sock" }}
apps:
  web:
    command: ["{build}/worker/hello-worker"]
    instances: 1
    ready: notify
    min_uptime: 0
    max_restarts: 1000000
    stop_timeout: 5s
    listen:
      http: {{ address: "127.0.0.1:0", mode: reuseport }}
""")
logpath = os.path.join(tmp, "log")
log = open(logpath, "w")
daemon = subprocess.Popen([f"{build}/clusterd", "-c", cfg, "--log-level", "info"],
                          stdout=log, stderr=subprocess.STDOUT)
TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) info (.*)$")

class Log:
    """Reads the daemon's log incrementally; yields (wall time, text) per line."""
    def __init__(self, path):
        self.f = open(path)
        self.buf = ""
        self.pending = []  # parsed lines not yet consumed by wait_for
    def read(self):
        self.buf += self.f.read()
        *done, self.buf = self.buf.split("\n")
        for line in done:
            m = TS.match(line)
            if m:
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
                self.pending.append((t, m.group(2)))
    def wait_for(self, pattern, deadline):
        """Consumes lines up to and including the first that matches."""
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            self.read()
            while self.pending:
                t, text = self.pending.pop(0)
                m = rx.search(text)
                if m:
                    return t, m
            time.sleep(0.0005)
        raise TimeoutError(f"no log line matching {pattern!r}; tail: {open(logpath).read()[-600:]}")

def request(port, timeout=5.0):
    """GET /read on a fresh connection; returns None on success, else the error."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /read HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "closed without an answer"
            data += chunk
        return None if data.startswith(b"HTTP/1.1 200") else "answer " + data.split(b"\r\n")[0].decode()
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()

rows = {"reaped": [], "spawned": [], "ready": [], "served": []}
errors = {}
try:
    lg = Log(logpath)
    _, m = lg.wait_for(r"http listening on 127\.0\.0\.1 port (\d+)", time.monotonic() + 10)
    port = int(m.group(1))
    _, m = lg.wait_for(r"spawned pid (\d+)", time.monotonic() + 10)
    pid = int(m.group(1))
    lg.wait_for(r"starting -> running: READY=1", time.monotonic() + 10)
    assert request(port) is None, "the first worker does not answer"
    for k in range(kills):
        time.sleep(0.02)  # let the new worker settle
        wall0 = time.time()
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        err = request(port)
        t1 = time.monotonic()
        if err:
            errors[err] = errors.get(err, 0) + 1
        else:
            rows["served"].append((t1 - t0) * 1000)
        deadline = time.monotonic() + 10
        t, _ = lg.wait_for(rf"pid {pid} exited", deadline)
        rows["reaped"].append((t - wall0) * 1000)
        t, m = lg.wait_for(r"spawned pid (\d+)", deadline)
        rows["spawned"].append((t - wall0) * 1000)
        pid = int(m.group(1))
        t, _ = lg.wait_for(r"starting -> running: READY=1", deadline)
        rows["ready"].append((t - wall0) * 1000)
finally:
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

print(f"{'from the kill until':<34} {'n':>5} {'p50':>9} {'p99':>9} {'max':>9}")
labels = {"reaped": "the master reaped it (log, 1 ms)",
          "spawned": "a new one spawned (log, 1 ms)",
          "ready": "it sent READY=1 (log, 1 ms)",
          "served": "it answered HTTP (client, 1 us)"}
for key in ("reaped", "spawned", "ready", "served"):
    v = rows[key]
    if v:
        print(f"{labels[key]:<34} {len(v):>5} {pct(v, 50):>6.2f} ms {pct(v, 99):>6.2f} ms {max(v):>6.2f} ms")
print("log times are the daemon's ms timestamps, truncated: up to 1 ms early; 'served' is exact")
refused = sum(errors.values())
print(f"refused or reset connections: {refused}" + (f" {errors}" if errors else ""))
s = rows["served"]
if s:
    # Absolute times do not travel between machines: the verdict on speed is the ratio to the
    # kernel's own floor (bench/baseline-ratios.sh); here only what holds anywhere is judged.
    print(f"refused connections (must be 0): {'ok' if refused == 0 else 'FAILED'}; absolute times are "
          f"information, the speed verdict is bench/baseline-ratios.sh's")
PY
