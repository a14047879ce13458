"""What the random walk (walk.py) reads of the real cluster: clusterctl's answers, /proc, the
metrics page, the event ring and the listeners. Reading only: every judgement is in walk.py.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time

# This directory has an http.py of its own, which would hide the standard library's from
# prometheus_client: it is left out of the path while the client is imported.
_path = sys.path
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
sys.path = _path


class Failure(Exception):
    """A check failed; the message says what was expected and what was found."""


# ---- /proc

def read(path):
    with open(path, "rb") as f:
        return f.read()


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (field 3 is index 0), or None."""
    try:
        text = read("/proc/%d/stat" % pid).decode()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def alive(pid):
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def ppid(pid):
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def age_s(pid):
    """Seconds since the process started, from its start time in clock ticks after boot."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    start = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return float(read("/proc/uptime").split()[0]) - start


def threads(pid):
    """Threads of the process, counted from /proc/PID/task (0 if it is gone)."""
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def children(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            out += [int(c) for c in read("/proc/%d/task/%s/children" % (pid, task)).split()]
    except OSError:
        pass
    return out


def tree(pid):
    """pid and all its descendants, from the children lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def marked(mark):
    """{pid: CLUSTER_APP} of every process whose environment has WALK_MARK=mark."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = read("/proc/%s/environ" % name).split(b"\0")
        except OSError:
            continue
        if ("WALK_MARK=" + mark).encode() not in env:
            continue
        app = [e[len(b"CLUSTER_APP="):].decode() for e in env if e.startswith(b"CLUSTER_APP=")]
        found[int(name)] = app[0] if app else None
    return found


# ---- clusterctl

class Ctl:
    def __init__(self, clusterctl, bound):
        self.clusterctl = clusterctl
        self.bound = bound

    def run(self, *args):
        """(exit code, stdout + stderr) of one clusterctl command."""
        try:
            p = subprocess.run([self.clusterctl] + list(args), capture_output=True, text=True,
                               timeout=self.bound)
        except subprocess.TimeoutExpired:
            raise Failure("clusterctl %s gave no answer within %ss" % (" ".join(args), self.bound))
        return p.returncode, (p.stdout + p.stderr).strip()

    def status(self):
        rc, out = self.run("status", "--json")
        if rc != 0:
            raise Failure("status --json exited %d: %s" % (rc, out))
        return json.loads(out)

    def events(self):
        rc, out = self.run("events", "--json", "-n", "1000")
        if rc != 0:
            raise Failure("events --json exited %d: %s" % (rc, out))
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# ---- metrics

def get(path, target, bound):
    """(status code, body) of GET `target` on the unix socket `path`."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(bound)
    try:
        s.connect(path)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: walk\r\nConnection: close\r\n\r\n" % target.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        raise Failure("GET %s on %s: %s" % (target, path, e))
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/1.1 ") else b"0"
    return int(status), body.decode()


def scrape(path, bound):
    """{(name, frozenset(labels)): value} of the text page served on the unix socket `path`."""
    code, body = get(path, "/metrics", bound)
    if code != 200:
        raise Failure("/metrics answered %d: %r" % (code, body[:80]))
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


# ---- listeners

def probe(port, n, bound):
    """Opens n connections at once to 127.0.0.1:port and asks each for GET /read. A list of
    (outcome, detail): ("answered", (status, worker id, pid)), ("refused", None),
    ("timeout", what), ("error", what)."""
    results = [None] * n

    def one(k):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(bound)
        try:
            try:
                s.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                results[k] = ("refused", None)
                return
            s.sendall(b"GET /read HTTP/1.1\r\nHost: walk\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            status = int(head[0].split()[1]) if head and head[0].startswith("HTTP/") else 0
            worker = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-worker:")]
            wid, _, wpid = (worker[0] if worker else "/").partition("/")
            results[k] = ("answered", (status, wid, int(wpid) if wpid.isdigit() else 0))
        except socket.timeout:
            results[k] = ("timeout", "no answer within %ss" % bound)
        except OSError as e:
            results[k] = ("error", str(e))
        finally:
            s.close()

    started = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return results


def wait_until(bound, what, predicate):
    """Calls predicate() every 20 ms until it returns None (met) or bound seconds passed; it
    returns a string saying what is still missing, which the Failure quotes."""
    deadline = time.monotonic() + bound
    while True:
        missing = predicate()
        if missing is None:
            return
        if time.monotonic() > deadline:
            raise Failure("nothing after %ss waiting for %s: %s" % (bound, what, missing))
        time.sleep(0.02)
