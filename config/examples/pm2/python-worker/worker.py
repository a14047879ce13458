"""A queue worker: takes jobs in batches until SIGTERM, then finishes the batch and exits."""
import argparse
import os
import signal
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--queue", required=True)
parser.add_argument("--batch", type=int, default=1)
args = parser.parse_args()

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
worker = os.environ.get("CLUSTER_WORKER_ID", os.environ.get("NODE_APP_INSTANCE", "?"))
print(f"worker {worker} pid {os.getpid()} taking jobs from {args.queue} in batches of {args.batch}",
      flush=True)
while not stopping:
    time.sleep(0.2)  # stands for waiting on the queue
print(f"worker {worker} pid {os.getpid()} stopped", flush=True)
sys.exit(0)
