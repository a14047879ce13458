# A stand-in for systemd's notify socket: binds SOCKET (a unix datagram socket) and writes one
# line per datagram to LOG, "<monotonic seconds> <fields joined by |>", until 60 s pass without
# one.   python3 notify_listener.py SOCKET LOG
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "w", buffering=1) as out:
    try:
        while True:
            data = s.recv(65536)
            out.write("%.3f %s\n" % (time.monotonic(), data.decode(errors="replace").strip().replace("\n", "|")))
    except socket.timeout:
        pass
