"""A worker that says READY=1 on its NOTIFY_SOCKET, then holds 96 MiB touched (in its RSS), for
the max_memory tests: python3 hog.py. Ready first: with memory.high (a memory controller) the
kernel would slow the allocation of a worker still starting, and a starting worker is not
replaced."""
import os
import socket
import time

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
s.sendto(b"READY=1\nSTATUS=hogging", "\0" + addr[1:] if addr.startswith("@") else addr)
hog = bytearray(96 * 1024 * 1024)  # touched: counts in RSS
for i in range(0, len(hog), 4096):
    hog[i] = 1
time.sleep(600)
