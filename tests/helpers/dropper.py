"""dropper.py: a PID 1 that drops root for nobody, as entrypoints do, then leaks orphans.

usage: dropper.py [--wall]
  Clears its groups, sets gid and uid 65534 (glibc's setgroups, setgid, setuid), runs 100
  shells that each leave a short-lived orphan behind, waits up to 5 s for every orphan to have
  ended and been reaped (without the shim, the 5 s pass), and prints one line:
    threads=N same=B uid=U capeff=C sentinels=S sentinel_uids=U,... zombies=Z drop_ms=D
  threads: PID 1's threads; same: all of them have the same Uid, Gid, Groups and capability
  lines in /proc; uid, capeff: the main thread's; sentinels, sentinel_uids: the processes named
  zreap-sentinel and their real uids; zombies: zombies left at the end; drop_ms: how long the
  three calls took.
  --wall: first start a child that lives on (the keeper, a sleep) and wait for any child with __WALL
  and WNOHANG, as strace -f does (the shim then runs without its sentinel), then drop.
"""
import glob
import os
import subprocess
import sys
import time

keeper = None
if "--wall" in sys.argv[1:]:
    keeper = str(subprocess.Popen(["/bin/sleep", "30"]).pid)
    WALL = 0x40000000
    os.waitpid(-1, os.WNOHANG | WALL)
start = time.monotonic()
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
drop_ms = int((time.monotonic() - start) * 1000)
for _ in range(100):
    subprocess.run(["/bin/sh", "-c", "/bin/sleep 0.01 & exit 0"], check=True)


def status(path):
    try:
        with open(path) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None


def others():
    """Processes but PID 1, the sentinel and the keeper: (live, zombies)."""
    live = dead = 0
    for p in glob.glob("/proc/[0-9]*/status"):
        s = status(p)
        if s and s["Pid"] not in ("1", keeper) and s["Name"] != "zreap-sentinel":
            dead += s["State"].startswith("Z")
            live += not s["State"].startswith("Z")
    return live, dead


end = time.monotonic() + 5
while others() != (0, 0) and time.monotonic() < end:
    time.sleep(0.01)

keys = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
tasks = [s for s in map(status, glob.glob("/proc/1/task/*/status")) if s]
creds = [tuple(t.get(k) for k in keys) for t in tasks]
sentinels = [s for s in map(status, glob.glob("/proc/[0-9]*/status")) if s and s["Name"] == "zreap-sentinel"]
print(f"threads={len(tasks)} same={int(len(set(creds)) == 1)} uid={tasks[0]['Uid'].split()[0]} "
      f"capeff={tasks[0]['CapEff']} sentinels={len(sentinels)} "
      f"sentinel_uids={','.join(s['Uid'].split()[0] for s in sentinels) or '-'} zombies={others()[1]} "
      f"drop_ms={drop_ms}")
