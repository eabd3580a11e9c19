#!/usr/bin/env python3
"""mp.py [LEAKS]: Python's multiprocessing and os.popen as PID 1, under an orphan leak.

Meant to run as PID 1 of a fresh PID namespace (with or without the shim).
 - The leak: a thread runs subprocess.run(['/bin/sh', '-c', '(sleep 0.05 &)']) in a loop,
   at least LEAKS times (default 300) and on until the rest is done; each run leaves one
   orphan, a `sleep 0.05` whose parent is gone, to PID 1.
 - Meanwhile, for each start method "fork", "spawn" and "forkserver": Process objects whose
   targets end in every way (return, sys.exit(0/3/255), sys.exit("text") and an uncaught
   exception: 1, os._exit(7/42), a signal they send themselves: -SIGKILL, -SIGTERM, -SIGUSR1),
   each join()ed and its exitcode checked; a Pool(3).map whose results are checked.
 - os.popen(...).close() return values (None for 0, the code << 8, the -signal << 8), and
   the output read through it.
 - Then it waits until no `sleep` is alive in the namespace (10 s at most), and (when
   LD_PRELOAD names libzreap) until no zombie is left (5 s at most), and counts the zombie
   children of PID 1.
Prints a line per wrong result, then
   own=N wrong=W leaks=L zombies=Z
   statuses: method:case=exitcode ... pool:method=ok|bad popen:case=value ...
and exits 0.
"""
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from procs import procs, zombies  # noqa: E402

# (name, expected exitcode)
CASES = [("return", 0), ("exit0", 0), ("exit3", 3), ("exit255", 255), ("exit_text", 1),
         ("raise", 1), ("_exit7", 7), ("_exit42", 42), ("SIGKILL", -signal.SIGKILL),
         ("SIGTERM", -signal.SIGTERM), ("SIGUSR1", -signal.SIGUSR1)]

POPEN = [("exit 0", None), ("exit 3", 3 << 8), ("exit 200", 200 << 8),
         ("kill -KILL $$", -signal.SIGKILL << 8), ("kill -TERM $$", -signal.SIGTERM << 8)]


def target(case):
    if case == "return":
        return
    if case.startswith("exit_text"):
        sys.stderr = open(os.devnull, "w")  # the text would go to stderr
        sys.exit("text")
    if case.startswith("exit"):
        sys.exit(int(case[4:]))
    if case == "raise":
        sys.stderr = open(os.devnull, "w")  # no traceback in the output
        raise ValueError("from the target")
    if case.startswith("_exit"):
        os._exit(int(case[5:]))
    if case.startswith("SIG"):
        os.kill(os.getpid(), getattr(signal, case))
        time.sleep(10)  # not reached: the signal ends the process first
    raise AssertionError(case)


def square(x):
    return x * x


wrong = 0
own = 0


def check(label, got, want):
    global wrong, own
    own += 1
    if got != want:
        wrong += 1
        print(f"wrong: {label}: expected {want!r}, got {got!r}", flush=True)


def leaker(least, done, counter):
    while counter[0] < least or not done.is_set():
        subprocess.run(["/bin/sh", "-c", "(sleep 0.05 &)"])
        counter[0] += 1


def main():
    least = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    shim = "libzreap" in os.environ.get("LD_PRELOAD", "")
    statuses = []
    done, counter = threading.Event(), [0]
    t = threading.Thread(target=leaker, args=(least, done, counter))
    t.start()

    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        ps = [(name, want, ctx.Process(target=target, args=(name,))) for name, want in CASES]
        for _, _, p in ps:
            p.start()
        for name, want, p in ps:
            p.join(20)
            check(f"{method}:{name}", p.exitcode, want)
            statuses.append(f"{method}:{name}={p.exitcode}")
        with ctx.Pool(3) as pool:
            res = pool.map(square, range(60), chunksize=4)
            pool.close()
            pool.join()
        ok = res == [x * x for x in range(60)]
        check(f"pool:{method}", ok, True)
        statuses.append(f"pool:{method}={'ok' if ok else 'bad'}")

    for cmd, want in POPEN:
        f = os.popen(f"echo out; {cmd}")
        out = f.read()
        got = f.close()
        check(f"popen:{cmd}", (out, got), ("out\n", want))
        statuses.append(f"popen:{cmd.replace(' ', '_')}={got}")

    done.set()
    t.join()
    # The last orphans are still asleep: wait until no sleep is alive, then (with the shim)
    # until they are reaped.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            c == "sleep" and s != "Z" for _, c, s, _ in procs()):
        time.sleep(0.01)
    if shim:
        deadline = time.monotonic() + 5
        while zombies(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
    print(f"own={own} wrong={wrong} leaks={counter[0]} zombies={zombies(os.getpid())}", flush=True)
    print("statuses: " + " ".join(statuses), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
