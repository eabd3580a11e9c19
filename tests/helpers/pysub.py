#!/usr/bin/env python3
"""pysub.py: Python's subprocess return codes stay exact under an orphan storm.

usage: pysub.py ITERATIONS STORMER [PAUSE_US]

Meant to run as PID 1 (with or without the shim). Starts STORMER (`ownstress storm`, which
double-forks orphans until SIGTERM) as its own child, then ITERATIONS times starts a child
through one of subprocess.run, check_output, check_call, Popen.wait, Popen.communicate, a late
Popen.wait, Popen.poll, os.system, os.fork + os.waitpid and os.posix_spawn + os.waitpid. Each
child exits with its own code (i % 200 + 1, never 0: subprocess turns an ECHILD into
returncode 0) or kills itself with its own signal, and every return code is checked.
Prints `runs=N wrong=W echild=E orphans=O zombies=Z` (E: waits that failed with ECHILD,
also counted in W) and exits 0 only if W is 0, N is ITERATIONS and
the stormer ended as asked; Z is the number of zombie children left once the storm is over
(for the caller to judge: 0 when something reaps the orphans).
"""
import os
import signal
import subprocess
import sys
import time

from procs import zombies as count_zombies

SIGNALS = [signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1, signal.SIGHUP]
MODES = ["run", "check_output", "check_call", "Popen.wait", "communicate", "late wait",
         "poll", "os.system", "os.fork", "os.posix_spawn", "run(input)", "run(shell)"]

wrong = 0
echild = 0
runs = 0


def bad(i, mode, got, want):
    global wrong
    wrong += 1
    if wrong <= 30:
        print(f"pysub: WRONG iteration {i} ({mode}): got {got!r}, expected {want!r}",
              file=sys.stderr)


def one(i):
    """Runs iteration i; returns (got, want) for its return code."""
    mode = MODES[i % len(MODES)]
    code = i % 200 + 1
    sig = SIGNALS[(i // 5) % len(SIGNALS)] if i % 5 == 3 and mode not in (
        "check_output", "os.system", "run(input)") else None
    line = f"kill -{int(sig)} $$" if sig else f"exit {code}"
    argv = ["sh", "-c", line]
    want = -int(sig) if sig else code
    if mode == "run":
        return subprocess.run(argv).returncode, want
    if mode == "check_output":
        try:
            out = subprocess.check_output(["sh", "-c", f"echo out{i}; exit {code}"])
            return ("no error", out), want
        except subprocess.CalledProcessError as e:
            if e.output != f"out{i}\n".encode():
                return ("output", e.output), want
            return e.returncode, want
    if mode == "check_call":
        try:
            subprocess.check_call(argv)
            return "no error", want
        except subprocess.CalledProcessError as e:
            return e.returncode, want
    if mode == "Popen.wait":
        return subprocess.Popen(argv).wait(), want
    if mode == "communicate":
        p = subprocess.Popen(["sh", "-c", f"echo out{i}; {line}"], stdout=subprocess.PIPE)
        out, _ = p.communicate()
        if out != f"out{i}\n".encode():
            return ("output", out), want
        return p.returncode, want
    if mode == "late wait":
        p = subprocess.Popen(argv)
        time.sleep(0.02 + (i % 4) * 0.01)  # a zombie by then
        return p.wait(), want
    if mode == "poll":
        p = subprocess.Popen(argv)
        deadline = time.monotonic() + 10
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return p.returncode, want
    if mode == "os.system":
        return os.waitstatus_to_exitcode(os.system(line)), want
    if mode == "os.fork":
        pid = os.fork()
        if pid == 0:
            if sig:
                os.kill(os.getpid(), sig)
            os._exit(code)
        rpid, status = os.waitpid(pid, 0)
        if rpid != pid:
            return ("pid", rpid, pid), want
        return os.waitstatus_to_exitcode(status), want
    if mode == "os.posix_spawn":
        pid = os.posix_spawn("/bin/sh", argv, os.environ)
        rpid, status = os.waitpid(pid, 0)
        if rpid != pid:
            return ("pid", rpid, pid), want
        return os.waitstatus_to_exitcode(status), want
    if mode == "run(input)":
        return subprocess.run(["sh", "-c", "read x; exit $x"],
                              input=f"{code}\n".encode()).returncode, want
    if mode == "run(shell)":
        return subprocess.run(line, shell=True).returncode, want
    raise AssertionError(mode)


def main():
    global runs, echild
    iterations = int(sys.argv[1])
    stormer_path = sys.argv[2]
    pause = sys.argv[3] if len(sys.argv) > 3 else "200"
    stormer = subprocess.Popen([stormer_path, "storm", pause], stdout=subprocess.PIPE)
    time.sleep(0.05)
    for i in range(iterations):
        try:
            got, want = one(i)
        except ChildProcessError as e:  # ECHILD from a wait: the status was lost
            echild += 1
            got, want = repr(e), "a status"
        except (OSError, ValueError) as e:
            got, want = repr(e), "a status"
        runs += 1
        if got != want:
            bad(i, MODES[i % len(MODES)], got, want)
    stormer.send_signal(signal.SIGTERM)
    out, _ = stormer.communicate(timeout=20)
    storm_ok = stormer.returncode == 0 and out.startswith(b"orphans=")
    if not storm_ok:
        print(f"pysub: stormer ended with {stormer.returncode}, said {out!r}", file=sys.stderr)
    orphans = out.decode().strip().split("=")[-1] if storm_ok else "?"
    # Let the last orphans die and, if something reaps them, be reaped.
    deadline = time.monotonic() + 5
    zombies = count_zombies(os.getpid())
    last, since = zombies, time.monotonic()
    while zombies and time.monotonic() < deadline:
        time.sleep(0.05)
        zombies = count_zombies(os.getpid())
        if zombies != last:
            last, since = zombies, time.monotonic()
        elif time.monotonic() - since > 0.5:
            break
    print(f"runs={runs} wrong={wrong} echild={echild} orphans={orphans} zombies={zombies}",
          flush=True)
    return 0 if wrong == 0 and echild == 0 and runs == iterations and storm_ok else 1


if __name__ == "__main__":
    sys.exit(main())
