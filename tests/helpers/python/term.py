#!/usr/bin/env python3
"""term.py: Python as PID 1 with children, for a SIGTERM or SIGINT sent from outside the
namespace (as `docker stop` or `docker kill -s INT` does). It installs no handler of its own:
SIGTERM stays at SIG_DFL, SIGINT at Python's default handler (KeyboardInterrupt).
Children, all by subprocess.Popen: two `sleep 30`, and a reporter (python3) that writes
"reporter got TERM" on stderr (this process's stderr) when TERM reaches it, then exits 0.
Prints PID 1's SigCgt and SigIgn, then "ready" once the reporter is ready, and waits for the
children (p.wait()), where a KeyboardInterrupt finds it. Should they all end, it says so and
exits 5.
"""
import subprocess
import sys

REPORTER = r"""
import signal, sys, time
def term(sig, frame):
    print("reporter got TERM", file=sys.stderr, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print("reporter ready", flush=True)
while True:
    time.sleep(60)
"""

sleeps = [subprocess.Popen(["sleep", "30"]) for _ in range(2)]
reporter = subprocess.Popen([sys.executable, "-c", REPORTER], stdout=subprocess.PIPE)
first = reporter.stdout.readline().decode().strip()
if first != "reporter ready":
    print(f"reporter: {first!r}", flush=True)
with open("/proc/1/status") as f:
    for line in f:
        if line.startswith(("SigCgt:", "SigIgn:")):
            print("pid1 " + line.replace(":\t", "=").strip(), flush=True)
print("children", *(p.pid for p in sleeps + [reporter]), flush=True)
print("ready", flush=True)
for p in sleeps + [reporter]:
    p.wait()
print("children all ended", flush=True)
sys.exit(5)
