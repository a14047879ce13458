"""A worker that writes numbered lines, for the logs tests (standard library only).

  talker.py LABEL COUNT INTERVAL_S   COUNT lines to stdout ("out LABEL PID I") and to stderr
                                     ("err LABEL PID I"), alternating, INTERVAL_S apart, each
                                     flushed at once; then "done LABEL PID" on stdout, then it
                                     sleeps until killed.
  talker.py --flood MB LABEL         MB megabytes of 99-byte lines to stdout as fast as it can
                                     (one write per 64 KiB), then "flood-done LABEL PID" on
                                     stderr, then sleeps.
"""
import os
import sys
import time


def main():
    pid = os.getpid()
    if sys.argv[1] == "--flood":
        megabytes, label = int(sys.argv[2]), sys.argv[3]
        line = b"x" * 98 + b"\n"
        chunk = line * (65536 // len(line))
        left = megabytes * 1024 * 1024
        out = sys.stdout.buffer
        while left > 0:
            piece = chunk[:left]
            out.write(piece)
            out.flush()
            left -= len(piece)
        sys.stderr.write("flood-done %s %d\n" % (label, pid))
        sys.stderr.flush()
    else:
        label, count, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        for i in range(1, count + 1):
            sys.stdout.write("out %s %d %d\n" % (label, pid, i))
            sys.stdout.flush()
            sys.stderr.write("err %s %d %d\n" % (label, pid, i))
            sys.stderr.flush()
            if interval > 0:
                time.sleep(interval)
        sys.stdout.write("done %s %d\n" % (label, pid))
        sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
