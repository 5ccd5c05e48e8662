"""Day 10's worker: greets, then works in short ticks until it is told to stop."""
import argparse
import os
import signal
import sys
import time

parser = argparse.ArgumentParser(description="a tiny worker")
parser.add_argument("--greeting", default="hi")
parser.add_argument("--name", default="world")
args = parser.parse_args()


def shutdown(signum, frame):
    print(f"worker: got {signal.Signals(signum).name}, finishing the current job and exiting", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, shutdown)
print(f"worker: {args.greeting}, {args.name}! (pid {os.getpid()})", flush=True)
while True:
    time.sleep(0.2)
