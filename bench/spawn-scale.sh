#!/usr/bin/env bash
# Benchmark: starting and stopping N workers. For each N, clusterd starts N hello-workers (one
# `shared` listener on an ephemeral port, ready: notify) or N `sleep` workers (ready: exec), with
# --log-level info and warn, RUNS times each. Columns (medians of RUNS, min-max in brackets):
#   spawned  clusterd started -> the last "spawned pid" log line (info only; ms timestamps)
#   ready    clusterd started -> the master's own sd_notify READY=1, which it sends once every
#            worker is ready: clusterd runs with NOTIFY_SOCKET pointing at a socket of this script
#            (as under systemd Type=notify); monotonic clock, ~0.1 ms
#   stop     SIGTERM to the master -> the master has exited (every worker drained and reaped)
#   cpu      the master's CPU time from start to READY=1 (/proc/PID/schedstat, ns)
#   blocked  ready - cpu - run-queue wait of the master: time it slept (in clone3, read, epoll)
#   bench/spawn-scale.sh [N ...]          (default 1 16 256 1024; RUNS=3)
# BENCH_DATA_DIR=DIR also writes DIR/spawn-scale.dat (one row per N/kind/log, medians, ms).
# PROFILE=1 also runs `perf trace -s` (else `strace -c`) on the master for the largest N (hello,
# info) and prints its syscall summary: where the master spends its start-up.
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SIZES=("$@"); ((${#SIZES[@]})) || SIZES=(1 16 256 1024)
RUNS=${RUNS:-3}
snapshot_binaries
echo "machine: $(machine)"
echo "spawn and stop N workers; medians of $RUNS runs (min-max)"
BUILD="$BUILD" T="$T" RUNS="$RUNS" SIZES="${SIZES[*]}" DATA="${BENCH_DATA_DIR:-}" \
PROFILE="${PROFILE:-0}" python3 - <<'PY'
import datetime, os, re, shutil, signal, socket, statistics, subprocess, sys, time

build, tmp = os.environ["BUILD"], os.environ["T"]
runs = int(os.environ["RUNS"])
sizes = [int(n) for n in os.environ["SIZES"].split()]
TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) info (.*)$")

def config(n, kind):
    cfg = os.path.join(tmp, "c.yaml")
    if kind == "hello":
        app = f"""    command: ["{build}/worker/hello-worker"]
    ready: notify
    listen:
      http: {{ address: "127.0.0.1:0", mode: shared }}
"""
    else:
        app = """    command: ["sleep", "3600"]
    ready: exec
"""
    with open(cfg, "w") as f:
        f.write(f"""control: {{ socket: "{tmp}/ctl.sock", max_clients: 4 }}
apps:
  w:
    instances: {n}
    stop_timeout: 10s
    ready_timeout: 60s
{app}""")
    return cfg

def schedstat(pid):
    """(ns on a CPU, ns waiting for a CPU) of the process's main thread."""
    with open(f"/proc/{pid}/schedstat") as f:
        run, wait, _ = f.read().split()
    return int(run), int(wait)

def one_run(n, kind, level, wrap=()):
    cfg = config(n, kind)
    npath = os.path.join(tmp, "notify.sock")
    if os.path.exists(npath):
        os.unlink(npath)
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    ns.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    ns.settimeout(0.5)
    env = dict(os.environ, NOTIFY_SOCKET=npath)
    logpath = os.path.join(tmp, "log")
    with open(logpath, "w") as log:
        wall0 = time.time()
        t0 = time.monotonic()
        p = subprocess.Popen([*wrap, f"{build}/clusterd", "-c", cfg, "--log-level", level],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    ready = cpu = blocked = None
    try:
        deadline = t0 + 120
        while ready is None and time.monotonic() < deadline:
            try:
                msg = ns.recv(65536)
            except socket.timeout:
                if p.poll() is not None:
                    break
                continue
            if b"READY=1" in msg.split(b"\n"):
                ready = (time.monotonic() - t0) * 1000
                if not wrap:
                    run, wait = schedstat(p.pid)
                    cpu, blocked = run / 1e6, ready - (run + wait) / 1e6
        if ready is None:
            raise RuntimeError(f"N={n} {kind}: no READY=1 from clusterd; log tail: "
                               + open(logpath).read()[-500:])
    finally:
        ts = time.monotonic()
        target = p.pid
        if wrap:  # signal clusterd itself, the tracer's child; the tracer exits after it
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
            target = int(kids[0]) if kids else p.pid
        os.kill(target, signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        stop = (time.monotonic() - ts) * 1000
        ns.close()
    spawned = None
    if level == "info":
        last, count = None, 0
        for line in open(logpath):
            m = TS.match(line)
            if m and " spawned pid " in m.group(2):
                count += 1
                last = m.group(1)
        if count >= n and last:
            t = datetime.datetime.strptime(last, "%Y-%m-%d %H:%M:%S.%f").timestamp()
            spawned = (t - wall0) * 1000
    return spawned, ready, stop, cpu, blocked

def fmt(v):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    med = statistics.median(v)
    return f"{med:.0f} ({min(v):.0f}-{max(v):.0f})" if med >= 10 else \
           f"{med:.1f} ({min(v):.1f}-{max(v):.1f})"

print(f"{'workers':<8} {'kind':<14} {'log':<5} {'spawned ms':<18} {'ready ms':<18} "
      f"{'stop ms':<18} {'master cpu ms':<18} {'master blocked ms':<18}")
data = []
for n in sizes:
    for kind in ("hello", "sleep"):
        for level in ("info", "warn"):
            res = [one_run(n, kind, level) for _ in range(runs)]
            cols = list(zip(*res))
            label = "hello/notify" if kind == "hello" else "sleep/exec"
            print(f"{n:<8} {label:<14} {level:<5} {fmt(cols[0]):<18} {fmt(cols[1]):<18} "
                  f"{fmt(cols[2]):<18} {fmt(cols[3]):<18} {fmt(cols[4]):<18}", flush=True)
            med = lambda c: statistics.median([x for x in c if x is not None]) \
                if any(x is not None for x in c) else float("nan")
            data.append((n, kind, level, *(med(c) for c in cols)))
hello_1024 = [d for d in data if d[0] == 1024 and d[1] == "hello" and d[2] == "info"]
if hello_1024:
    # An absolute time, information only: the spawn verdict is the ratio to N bare posix_spawns
    # measured in the same run (bench/baseline-ratios.sh).
    print(f"1024 hello-workers ready in {hello_1024[0][4]:.0f} ms (the 1 s figure of earlier "
          f"rounds is information; the verdict is bench/baseline-ratios.sh's ratio)")
if os.environ["DATA"]:
    os.makedirs(os.environ["DATA"], exist_ok=True)
    with open(os.path.join(os.environ["DATA"], "spawn-scale.dat"), "w") as f:
        f.write("# workers kind log spawned_ms ready_ms stop_ms master_cpu_ms master_blocked_ms (medians)\n")
        for row in data:
            f.write(" ".join(str(x) if not isinstance(x, float) else f"{x:.2f}" for x in row) + "\n")

if os.environ["PROFILE"] == "1":
    n = max(sizes)
    out = os.path.join(tmp, "trace.txt")
    if shutil.which("perf") and subprocess.run(["perf", "trace", "-s", "-o", out, "true"],
                                               capture_output=True).returncode == 0:
        print(f"\nperf trace -s of the master (not its children), {n} hello-workers, log info, "
              f"start to stop: where the master waits, per syscall (ms)")
        one_run(n, "hello", "info", wrap=("perf", "trace", "-s", "--no-inherit", "-o", out))
        lines = [l for l in open(out).read().splitlines() if re.match(r"\s+(syscall|-|\w+\s+\d)", l)]
        print("\n".join(lines[:14]))
    elif shutil.which("strace"):
        print(f"\nstrace -c of the master (not its children), {n} hello-workers, log info, "
              f"start to stop (strace slows every syscall: counts matter more than times)")
        one_run(n, "hello", "info", wrap=("strace", "-c", "-o", out))
        print("\n".join(open(out).read().splitlines()[:16]))
    else:
        print("PROFILE=1: neither perf nor strace found; skipped")
PY
