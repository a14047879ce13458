#!/usr/bin/env bash
# Benchmark: what socket adoption costs (docs/adoption.md). bench/adopt_bench.cc plays the master
# with clusterd's OS layer and core (the daemon is not involved), against one hello-worker
# (--threads 1) on a shared 127.0.0.1 socket:
#   requests/s   wrk -t2 -cCONNS, keep-alive, DURATION seconds per run, RUNS runs interleaved
#                (plain, filter, adopted, plain, ...) so that drift of a shared machine hits all:
#                  plain    the socket at fd 3 (LISTEN_FDS), no filter
#                  filter   the same under the adoption filter: what the filter costs the
#                           worker's every system call
#                  adopted  no fd 3: the worker binds the port itself (--listen) and gets the
#                           master's socket
#                medians (min-max), and the median (min-max) of each run's ratio to plain's
#   syscalls     PAIRS workers timing getppid() (a system call the vDSO does not answer), under
#                the filter and without it, alternating: what the filter adds to every system
#                call (the kernel's slower entry path; the filter itself is not run for a call
#                it always allows, Linux 5.11+)
#   round trip   ROUNDS rounds of socket+bind+listen+close in a worker: under the filter with
#                both calls answered by the master (adopted) or let through (proceed), and with
#                no filter (kernel); the median microseconds of a round
#   spawn        SPAWNS starts of /bin/true with the filter and without, alternating: the median
#                microseconds spawn() blocks the master (with the filter and no spawn slots,
#                until the child has it and a fd table of its own; with slots, as the daemon
#                runs, not at all) and until the child has exec'd
#   bench/adoption.sh          (RUNS=5, DURATION=5, CONNS=64, ROUNDS=2000, PAIRS=10, SPAWNS=500)
# On demand only. Talks only to 127.0.0.1; everything lives in a temp dir.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-2000}
PAIRS=${PAIRS:-10}
SPAWNS=${SPAWNS:-500}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk"; exit 1; }
cmake --build "$BUILD" --target adopt-bench hello-worker >/dev/null
BUILT=$BUILD
snapshot_binaries
cp "$BUILT/adopt-bench" "$T/bin/"
echo "machine: $(machine)"
echo "socket adoption: hello-worker --threads 1, wrk -t2 -c$CONNS, ${DURATION}s x $RUNS runs; $ROUNDS rounds; $PAIRS pairs"
BIN="$T/bin" RUNS="$RUNS" DURATION="$DURATION" CONNS="$CONNS" ROUNDS="$ROUNDS" PAIRS="$PAIRS" SPAWNS="$SPAWNS" \
python3 - <<'PY'
import os, re, statistics, subprocess, sys

bin_dir = os.environ["BIN"]
runs, duration = int(os.environ["RUNS"]), int(os.environ["DURATION"])
conns, rounds = int(os.environ["CONNS"]), int(os.environ["ROUNDS"])
pairs, spawns = int(os.environ["PAIRS"]), int(os.environ["SPAWNS"])
bench = os.path.join(bin_dir, "adopt-bench")
hello = os.path.join(bin_dir, "worker", "hello-worker")
modes = ["plain", "filter", "adopted"]

def one_run(mode):
    p = subprocess.Popen([bench, "serve", mode, hello], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            sys.exit(f"adoption: adopt-bench serve {mode} did not start")
        out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s",
                              f"http://127.0.0.1:{line[1]}/read"],
                             capture_output=True, text=True, timeout=duration + 60).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not m:
            sys.exit(f"adoption: no Requests/sec from wrk:\n{out}")
        return float(m.group(1))
    finally:
        p.stdin.close()
        p.wait(timeout=30)

results = {m: [] for m in modes}
for _ in range(runs):
    for mode in modes:
        results[mode].append(one_run(mode))
def spread(values, fmt):
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"

print(f"{'mode':<10}{'requests/s':>12}  {'min-max':<15}{'/ plain':>9}  {'min-max':<11}")
for mode in modes:
    r = results[mode]
    ratios = [x / p for x, p in zip(r, results["plain"])]
    print(f"{mode:<10}{statistics.median(r):>12.0f}  {spread(r, '{:.0f}'):<15}"
          f"{statistics.median(ratios):>9.3f}  {spread(ratios, '{:.3f}'):<11}")

out = subprocess.run([bench, "syscalls", str(pairs)], capture_output=True, text=True,
                     timeout=600).stdout
rows = [line.split() for line in out.splitlines() if line.strip()]
filt = [float(r[1]) for r in rows]
plain_ns = [float(r[3]) for r in rows]
ratios = [f / p for f, p in zip(filt, plain_ns)]
print(f"\n{'getppid()':<12}{'median ns':>10}  {'min-max':<13}")
print(f"{'plain':<12}{statistics.median(plain_ns):>10.1f}  {spread(plain_ns, '{:.1f}'):<13}")
print(f"{'filter':<12}{statistics.median(filt):>10.1f}  {spread(filt, '{:.1f}'):<13}"
      f"  filter / plain {statistics.median(ratios):.3f} ({spread(ratios, '{:.3f}')})")

out = subprocess.run([bench, "roundtrip", str(rounds)], capture_output=True, text=True,
                     timeout=600).stdout
times = dict(line.split() for line in out.splitlines() if line.strip())
kernel = float(times["kernel"])
print(f"\n{'round (socket+bind+listen+close)':<34}{'median us':>10}{'- kernel':>10}")
for kind in ("kernel", "proceed", "adopted"):
    us = float(times[kind])
    print(f"{kind:<34}{us:>10.2f}{us - kernel:>10.2f}")

# Without spawn slots spawn() waits for the child's filter; with them (as the daemon runs) the
# listener is taken later and spawn() returns at once.
for extra, title in (([], "no slots"), (["slots"], "slots")):
    out = subprocess.run([bench, "spawn", str(spawns)] + extra, capture_output=True, text=True,
                         timeout=600).stdout
    spawn = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    print(f"\n{'spawn /bin/true, ' + title:<26}{'spawn() us':>11}{'exec us':>9}")
    for kind in ("plain", "filter"):
        print(f"{kind:<26}{float(spawn[kind][0]):>11.1f}{float(spawn[kind][1]):>9.1f}")
    print(f"{'filter / plain':<26}{float(spawn['filter'][0]) / float(spawn['plain'][0]):>11.2f}"
          f"{float(spawn['filter'][1]) / float(spawn['plain'][1]):>9.2f}")
PY
