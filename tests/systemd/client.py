"""Clients for the systemd end-to-end test; they run INSIDE the container (standard library only).

  client.py get PORT [TIMEOUT_S]      one GET /read on a new connection; waits up to TIMEOUT_S
                                      (default 30) for the answer, which may take a socket
                                      activation; prints the X-Worker header; exit 0 on a 200
  client.py stream PORT SECONDS [RATE]
                                      opens RATE (default 200) new connections a second for
                                      SECONDS, without waiting for earlier ones, one GET each;
                                      waits up to 20 s for every answer, then prints one JSON
                                      line: started, ok, refused (ECONNREFUSED), reset, eof,
                                      timeout, other, the worker pids that answered and the first
                                      errors. Exit 0 if every connection got a 200.
  client.py listen-inodes PID PORT    the inodes of the TCP sockets listening on PORT that process
                                      PID holds, sorted, one line
"""
import errno
import json
import os
import selectors
import socket
import sys
import time

REQUEST = b"GET /read HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


def parse(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    worker = ""
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "x-worker":
            worker = v.strip()
    return status, worker


def get(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    s.sendall(REQUEST)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status, worker = parse(data)
    print(worker)
    return 0 if status == 200 else 1


def stream(port, seconds, rate):
    sel = selectors.DefaultSelector()
    counts = dict(started=0, ok=0, refused=0, reset=0, eof=0, timeout=0, other=0)
    errors, workers = [], set()
    conns = {}  # sock -> [deadline, phase, buffer, started_at]
    start = time.monotonic()
    stop_opening = start + min(seconds, 60.0)
    interval = 1.0 / rate
    next_open = start

    def finish(s, outcome, detail=None):
        sel.unregister(s)
        s.close()
        conns.pop(s, None)
        counts[outcome] += 1
        if detail and len(errors) < 8:
            errors.append("%.2fs %s: %s" % (time.monotonic() - start, outcome, detail))

    while True:
        now = time.monotonic()
        while now >= next_open and now < stop_opening:
            next_open += interval
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            counts["started"] += 1
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                counts["refused" if rc == errno.ECONNREFUSED else "other"] += 1
                continue
            conns[s] = [now + 20.0, "connect", b""]
            sel.register(s, selectors.EVENT_WRITE)
        if now >= stop_opening and not conns:
            break
        for s, st in list(conns.items()):
            if now > st[0]:
                finish(s, "timeout", st[1])
        wait = max(0.0, min(next_open - now, 0.05)) if now < stop_opening else 0.05
        for key, _ in sel.select(wait):
            s = key.fileobj
            st = conns.get(s)
            if st is None:
                continue
            if st[1] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(s, "refused" if err == errno.ECONNREFUSED else "other", os.strerror(err))
                    continue
                try:
                    s.send(REQUEST)
                except OSError as e:
                    finish(s, "reset" if e.errno == errno.ECONNRESET else "other", repr(e))
                    continue
                st[1] = "read"
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                chunk = s.recv(65536)
            except OSError as e:
                finish(s, "reset" if e.errno == errno.ECONNRESET else "other", repr(e))
                continue
            if chunk:
                st[2] += chunk
                continue
            if not st[2]:
                finish(s, "eof", "closed without an answer")
                continue
            try:
                status, worker = parse(st[2])
            except (ValueError, IndexError):
                finish(s, "other", "unparsable answer %r" % st[2][:60])
                continue
            if status == 200:
                workers.add(worker.split("/")[-1])
                finish(s, "ok")
            else:
                finish(s, "other", "status %d" % status)
    counts["workers"] = sorted(workers)
    counts["errors"] = errors
    print(json.dumps(counts))
    return 0 if counts["ok"] == counts["started"] else 1


def listen_inodes(pid, port):
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        listening.add(fields[9])
        except FileNotFoundError:
            pass
    held = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            ino = target[8:-1]
            if ino in listening:
                held.add(ino)
    print(" ".join(sorted(held, key=int)))
    return 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "get":
        return get(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 30.0)
    if cmd == "stream":
        return stream(int(sys.argv[2]), float(sys.argv[3]),
                      float(sys.argv[4]) if len(sys.argv) > 4 else 200.0)
    if cmd == "listen-inodes":
        return listen_inodes(int(sys.argv[2]), int(sys.argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print("error: %r" % e, file=sys.stderr)
        sys.exit(1)
