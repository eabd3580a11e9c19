#!/usr/bin/python3
# subproc.py N: for python3 as PID 1 of a PID namespace (bullseye's python3.9 links
# libpthread). While a background sh leaks 300 orphans, N iterations of subprocess.run check
# exit codes; every 20th also a SIGKILLed Popen, a SIGTERM death, os.fork + os.waitpid, and
# os.system (libc system(), which the active shim reimplements). Then waits until no zombie
# and no leaked sleep is left, or 5 s have passed. Prints wrong statuses one per line, then
#   pthread=yes|no threads=T checked=C bad=B zombies=Z
import os
import subprocess
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
checked = bad = 0


def check(expected, got, what):
    global checked, bad
    checked += 1
    if expected != got:
        bad += 1
        print(f"wrong: {what}: expected {expected}, got {got}", flush=True)


def processes():
    """(comm:pid, state) of every process in the namespace but this one."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        end = s.rindex(")")
        found.append((f"{s[s.index('(') + 1:end]}:{d}", s[end + 2]))
    return found


def zombies():
    return [name for name, state in processes() if state == "Z"]


def settling():
    """A zombie, or a leaked sleep still running that will be one in a moment."""
    return any(state == "Z" or name.startswith("sleep:") for name, state in processes())


with open("/proc/self/maps") as f:
    pthread = "yes" if "libpthread" in f.read() else "no"
threads = len(os.listdir("/proc/self/task"))

leaker = subprocess.Popen(
    ["/bin/sh", "-c", 'i=0; while [ $i -lt 300 ]; do sh -c "sleep 0.01 &"; i=$((i + 1)); done'])

for i in range(n):
    code = i % 256
    r = subprocess.run(["/bin/sh", "-c", f"exit {code}"])
    check(code, r.returncode, f"subprocess.run exit {code}")
    if i % 20 == 0:
        p = subprocess.Popen(["/bin/sleep", "1000"])
        p.kill()
        check(-9, p.wait(), "Popen killed by SIGKILL")
        r = subprocess.run(["/bin/sh", "-c", "kill -TERM $$"])
        check(-15, r.returncode, "sh killed by SIGTERM")
        out = subprocess.run(["/bin/sh", "-c", "echo hi; exit 9"], stdout=subprocess.PIPE)
        check((9, b"hi\n"), (out.returncode, out.stdout), "captured output")
        pid = os.fork()
        if pid == 0:
            os._exit(i % 100)
        check((pid, (i % 100) << 8), os.waitpid(pid, 0), "os.fork + os.waitpid")
        check(6 << 8, os.system("exit 6"), "os.system")
check(0, leaker.wait(), "the leaker")

# The last orphans may still be running when the leaker is done: wait until none is left,
# alive or zombie, so that a zombie counted below is one nobody reaped (5 s at most).
end = time.monotonic() + 5
while settling() and time.monotonic() < end:
    time.sleep(0.02)
left = zombies()
print(f"pthread={pthread} threads={threads} checked={checked} bad={bad} zombies={len(left)}")
print("left: " + " ".join(left), flush=True)
