#!/usr/bin/python3
# sigchld.py N: a Python PID 1 that reaps its children the classic way, from a SIGCHLD handler
# that loops os.waitpid(-1, WNOHANG), while a separate child of its own leaks orphans
# continuously (double fork: the middle process exits at once, the grandchild is adopted by
# PID 1 and exits a few ms later).
#
#  1. The app forks N children with distinct statuses: child i exits with i % 200, except every
#     7th, which is killed by a signal (by itself, or by the app with SIGKILL while it sleeps).
#     The handler records every (pid, status) it collects; once every own pid has a status
#     the leaker is stopped (once it has made at least 300 orphans: it exits 77 and reports
#     how many it made).
#  2. Then SIGCHLD goes back to SIG_DFL (the app stops collecting anything) and one last
#     child leaks FINAL orphans that exit at once; nobody in the app waits for them.
#  3. It waits, without forking or waiting, until no zombie is left, or their number has
#     stayed the same for 0.5 s.
# The handler may collect orphans too (waitpid(-1) takes any child): those are counted
# separately (orphans_by_app), never as errors. Prints one line per wrong status, then
#   own=N wrong=W dup=D missing=M leaker=S handler_calls=H orphans=L orphans_by_app=A
#   final_orphans=F zombies=Z
#   statuses: i:status ... (the own statuses by index, for a diff between runs)
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procs import zombies  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
FINAL = 50
MIN_ORPHANS = 300
KILLS = [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP,
         signal.SIGALRM]  # no core dumps (that would set WCOREDUMP), no SIGPIPE/SIGINT (Python
                          # ignores / catches them)

collected = {}     # pid -> [status, ...] as the handler got them
calls = 0


def on_chld(signum, frame):
    global calls
    calls += 1
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:   # no child at all (the shim's sentinel is not one)
            return
        if pid == 0:
            return
        collected.setdefault(pid, []).append(status)


def leaker(stop_fd, report_fd, count=None, linger=0.005):
    """In a child: double-forks orphans until stop_fd is readable and MIN_ORPHANS are made
    (or, with count, exactly count)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    import select
    made = 0
    while count is None or made < count:
        if count is None and made >= MIN_ORPHANS and select.select([stop_fd], [], [], 0)[0]:
            break
        mid = os.fork()
        if mid == 0:
            if os.fork() == 0:
                if linger:
                    time.sleep(linger)
                os._exit(3)
            os._exit(0)
        os.waitpid(mid, 0)
        made += 1
    os.write(report_fd, f"{made}\n".encode())
    os._exit(77)


def spawn_leaker(count=None, linger=0.005):
    stop_r, stop_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(stop_w)
        os.close(rep_r)
        leaker(stop_r, rep_w, count, linger)
    os.close(stop_r)
    os.close(rep_w)
    return pid, stop_w, rep_r


def read_all(fd):
    out = b""
    while True:
        b = os.read(fd, 100)
        if not b:
            return out
        out += b


signal.signal(signal.SIGCHLD, on_chld)
lpid, lstop, lrep = spawn_leaker()

own = {}           # pid -> index
expected = {}      # index -> raw status
for i in range(N):
    if i % 7 == 3:
        sig = KILLS[(i // 7) % len(KILLS)]
        expected[i] = int(sig)
        if sig == signal.SIGKILL:
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                time.sleep(1000)
                os._exit(254)
            os.kill(pid, signal.SIGKILL)
        else:
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(sig, signal.SIG_DFL)
                time.sleep((i % 20) / 1000)
                os.kill(os.getpid(), sig)
                os._exit(253)
    else:
        expected[i] = (i % 200) << 8
        pid = os.fork()
        if pid == 0:
            time.sleep((i % 20) / 1000)
            os._exit(i % 200)
    own[pid] = i

deadline = time.monotonic() + 15
while not all(p in collected for p in own) and time.monotonic() < deadline:
    time.sleep(0.01)   # cut short by every SIGCHLD, whose handler then runs

# Stop the leaker; its own status is collected by the handler too.
os.close(lstop)
orphans = int(read_all(lrep) or b"0")
deadline = time.monotonic() + 5
while lpid not in collected and time.monotonic() < deadline:
    time.sleep(0.01)
leaker_status = collected.get(lpid, [None])[0]

# Phase 2: the app no longer collects anything; FINAL orphans, exiting at once.
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
fpid, fstop, frep = spawn_leaker(FINAL, 0)
final = int(read_all(frep) or b"0")
os.close(fstop)
# The final leaker itself is an own child: collect it by pid (the shim must leave it to us).
_, fstatus = os.waitpid(fpid, 0)

# Until no zombie is left, or their number has stayed the same for 0.5 s (at most 5 s).
z, since, deadline = zombies(), time.monotonic(), time.monotonic() + 5
while z and time.monotonic() - since < 0.5 and time.monotonic() < deadline:
    time.sleep(0.01)
    last, z = z, zombies()
    if z != last:
        since = time.monotonic()

wrong = dup = missing = 0
for pid, i in own.items():
    got = collected.get(pid)
    if got is None:
        missing += 1
        print(f"missing: child {i} (pid {pid})")
    elif len(got) != 1:
        dup += 1
        print(f"dup: child {i} (pid {pid}): {got}")
    elif got[0] != expected[i]:
        wrong += 1
        print(f"wrong: child {i} (pid {pid}): expected {expected[i]}, got {got[0]}")
if fstatus != 77 << 8:
    wrong += 1
    print(f"wrong: final leaker: {fstatus}")
by_app = sum(1 for p in collected if p not in own and p != lpid)
print(f"own={len(own)} wrong={wrong} dup={dup} missing={missing} "
      f"leaker={leaker_status} handler_calls={calls} orphans={orphans} "
      f"orphans_by_app={by_app} final_orphans={final} zombies={z}")
print("statuses: " + " ".join(f"{own[p]}:{collected.get(p, ['-'])[0]}"
                              for p in sorted(own, key=own.get)))
sys.stdout.flush()
