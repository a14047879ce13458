"""A worker for the systemd test of the hardened clusterd.service (standard library only).

It runs under the unit's sandbox as the `user:` of its app and tries what real workers do: it
writes to each directory the master passed it ($RUNTIME_DIRECTORY, $STATE_DIRECTORY,
$CACHE_DIRECTORY, $LOGS_DIRECTORY), maps memory writable and executable (a JIT: Node, the JVM,
LuaJIT), reads its own /proc entries, and holds the listening sockets it was given (LISTEN_FDS,
LISTEN_FDNAMES). Then it sends READY=1 and answers every connection on every socket with one
JSON line of what it found, and closes it.
"""
import json
import mmap
import os
import selectors
import socket


def try_write(directory):
    if not directory:
        return "unset"
    try:
        path = os.path.join(directory, "probe")
        with open(path, "w") as f:
            f.write("ok")
        os.unlink(path)
        st = os.stat(directory)
        return "ok mode=%o uid=%d" % (st.st_mode & 0o7777, st.st_uid)
    except OSError as e:
        return "error: %s" % e


def try_jit():
    try:
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.close()
        return "ok"
    except OSError as e:
        return "error: %s" % e


def report(sockets):
    out = {"uid": os.getuid(), "gid": os.getgid(), "jit": try_jit()}
    for name in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CACHE_DIRECTORY", "LOGS_DIRECTORY"):
        out[name] = try_write(os.environ.get(name))
    try:
        with open("/proc/self/status") as f:
            out["proc"] = "ok" if "Threads:" in f.read() else "no Threads line"
    except OSError as e:
        out["proc"] = "error: %s" % e
    out["sockets"] = {name: str(s.getsockname()) for name, s in sockets.items()}
    return out


def main():
    count = int(os.environ.get("LISTEN_FDS", "0"))
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    sockets = {}
    for i in range(count):
        s = socket.socket(fileno=3 + i)
        s.setblocking(False)
        sockets[names[i] if i < len(names) else str(i)] = s
    line = (json.dumps(report(sockets)) + "\n").encode()
    notify = os.environ.get("NOTIFY_SOCKET")
    if notify:
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.sendto(b"READY=1", notify)
        n.close()
    sel = selectors.DefaultSelector()
    for s in sockets.values():
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            try:
                conn, _ = key.fileobj.accept()
            except BlockingIOError:
                continue
            conn.setblocking(True)
            conn.settimeout(5)
            try:
                conn.sendall(line)
            except OSError:
                pass
            conn.close()


if __name__ == "__main__":
    main()
