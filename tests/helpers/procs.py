"""procs.py: the processes of this PID namespace, as /proc lists them, for the Python helpers
(sigchld.py, pysub.py, python/mp.py). Reading /proc forks nothing, so a PID 1 that counts its
zombies this way does not reap any itself."""
import os


def procs():
    """(pid, comm, state, ppid) of every process in the namespace."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out.append((int(d), comm, fields[0], int(fields[1])))
    return out


def zombies(parent=None):
    """How many zombies there are; with parent, only those whose parent it is."""
    return sum(1 for _, _, state, ppid in procs()
               if state == "Z" and (parent is None or ppid == parent))
