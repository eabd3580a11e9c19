#!/usr/bin/env python3
"""spawned.py METHOD: Python as PID 1 runs one multiprocessing Process with the start method
METHOD ("spawn" and "forkserver" start multiprocessing's resource tracker, a child of PID 1
that ignores SIGTERM and SIGINT and ends when it reads EOF on a pipe PID 1 holds open), joins
it, prints "joined EXITCODE" and returns from the script, exit status 0.
"""
import multiprocessing as mp
import sys


def target():
    pass


if __name__ == "__main__":
    p = mp.get_context(sys.argv[1]).Process(target=target)
    p.start()
    p.join()
    print(f"joined {p.exitcode}", flush=True)
