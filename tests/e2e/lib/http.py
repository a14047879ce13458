"""Tiny HTTP/1.1 client for the end-to-end tests (standard library only).

  http.py get PORT [PATH]          one request on a new connection; prints the X-Worker header
  http.py spread PORT N [HOST]     N requests, each on a new connection, in 8 threads; prints the
                                   number of distinct worker pids, then "ok=K failed=F"
  http.py burst PORT N             opens N connections at once, then sends a request on each and
                                   waits (up to 10 s) for every answer; prints "ok=K failed=F"
  http.py load PORT SECONDS [THREADS] [keepalive]
                                   requests from THREADS (4) threads for SECONDS (at most 120),
                                   or until SIGINT, a new connection each (or keep-alive
                                   connections); says "load: first answer" on stderr at the
                                   first 200; prints "ok=K failed=F" and the first errors
  http.py count PORT N [BOUND] [split]
                                   N new connections at once, one request each; each is answered
                                   (a 200 within BOUND seconds, default 10), refused (connection
                                   refused or reset), timed out (no answer within BOUND) or other
                                   (closed without an answer, another status); prints
                                   "answered=A refused=R timed_out=T other=O" and the first errors.
                                   With `split`, a reset (a connection a worker had accepted when
                                   it died) counts as other, and refused means ECONNREFUSED only
Exit status: 0 if every request got a 200, 1 otherwise.
"""
import signal
import socket
import sys
import threading
import time


def read_response(sock):
    """Reads one response on a keep-alive connection; returns (status, server_closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    # An HTTP/1.0 answer ends its connection unless it says keep-alive.
    length, close = 0, lines[0].startswith("HTTP/1.0")
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
        if k.strip().lower() == "connection":
            close = v.strip().lower() != "keep-alive" if close else v.strip().lower() == "close"
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return status, close


def request(host, port, path="/read", timeout=5.0, sock=None):
    s = sock or socket.create_connection((host, port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers
    finally:
        s.close()


def classify(host, port, bound, split=False):
    """One new connection, one request: ("answered" | "refused" | "timed_out" | "other", why)."""
    try:
        status, _ = request(host, port, timeout=bound)
        return ("answered", None) if status == 200 else ("other", f"status {status}")
    except ConnectionResetError as e:
        return ("other" if split else "refused"), repr(e)
    except ConnectionRefusedError as e:
        return "refused", repr(e)
    except socket.timeout as e:
        return "timed_out", repr(e)
    except (OSError, ValueError, IndexError) as e:  # closed without a (parsable) answer
        return "other", repr(e)


def count(port, n, bound, host="127.0.0.1", split=False):
    """N connections opened at once (one thread each, so a timed-out one delays no other)."""
    counts = {"answered": 0, "refused": 0, "timed_out": 0, "other": 0}
    errors, lock = [], threading.Lock()

    def run():
        kind, why = classify(host, port, bound, split)
        with lock:
            counts[kind] += 1
            if why and len(errors) < 5:
                errors.append(f"{kind}: {why}")

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for e in errors:
        print(f"error: {e}")
    return 0 if counts["answered"] == n else 1


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    host = "127.0.0.1"
    if cmd == "get":
        path = sys.argv[3] if len(sys.argv) > 3 else "/read"
        status, headers = request(host, port, path)
        print(headers.get("x-worker", ""))
        return 0 if status == 200 else 1
    if cmd == "spread":
        n = int(sys.argv[3])
        if len(sys.argv) > 4:
            host = sys.argv[4]
        pids, failed, lock = set(), [0], threading.Lock()

        def run(count):
            for _ in range(count):
                try:
                    status, headers = request(host, port)
                    with lock:
                        if status == 200:
                            pids.add(headers.get("x-worker", "").split("/")[-1])
                        else:
                            failed[0] += 1
                except OSError:
                    with lock:
                        failed[0] += 1

        threads = [threading.Thread(target=run, args=(n // 8 + (1 if i < n % 8 else 0),))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(len(pids))
        print(f"ok={n - failed[0]} failed={failed[0]}")
        return 0 if failed[0] == 0 else 1
    if cmd == "burst":
        n = int(sys.argv[3])
        socks, results, lock = [], [], threading.Lock()
        for _ in range(n):
            socks.append(socket.create_connection((host, port), timeout=10.0))

        def run(s):
            try:
                status, _ = request(host, port, sock=s, timeout=10.0)
                ok = status == 200
            except OSError:
                ok = False
            with lock:
                results.append(ok)

        threads = [threading.Thread(target=run, args=(s,)) for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        good = sum(results)
        print(f"ok={good} failed={n - good}")
        return 0 if good == n else 1
    if cmd == "count":
        return count(port, int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 10.0,
                     split=len(sys.argv) > 5 and sys.argv[5] == "split")
    if cmd == "load":
        seconds = min(float(sys.argv[3]), 120.0)
        nthreads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
        keepalive = len(sys.argv) > 5 and sys.argv[5] == "keepalive"
        deadline = time.monotonic() + seconds
        counts, errors, lock = [0, 0], [], threading.Lock()
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def run():
            sock = None
            while time.monotonic() < deadline and not stop.is_set():
                try:
                    if keepalive:
                        if sock is None:
                            sock = socket.create_connection((host, port), timeout=5.0)
                        sock.sendall(b"GET /read HTTP/1.1\r\nHost: t\r\n\r\n")
                        status, close = read_response(sock)
                        if close:
                            sock.close()
                            sock = None
                    else:
                        status, _ = request(host, port)
                    ok = status == 200
                    err = None if ok else f"status {status}"
                except OSError as e:
                    ok, err = False, repr(e)
                    if sock is not None:
                        sock.close()
                        sock = None
                with lock:
                    if ok and counts[0] == 0:
                        print("load: first answer", file=sys.stderr, flush=True)
                    counts[0 if ok else 1] += 1
                    if err and len(errors) < 5:
                        errors.append(err)
            if sock is not None:
                sock.close()

        threads = [threading.Thread(target=run) for _ in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"ok={counts[0]} failed={counts[1]}")
        for e in errors:
            print(f"error: {e}")
        return 0 if counts[1] == 0 and counts[0] > 0 else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
