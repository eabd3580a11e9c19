"""ctrlc.py CMD...: runs CMD on a new pseudo-terminal as its foreground job, waits for a line
"ready", types Ctrl-C, and prints everything CMD wrote and then "status=N" (its exit code, or
128+signal)."""
import os, pty, sys, time

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.monotonic() + 10
while b"ready" not in out and time.monotonic() < deadline:
    try:
        out += os.read(fd, 4096)
    except OSError:
        break
os.write(fd, b"\x03")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
print(f"status={code if code >= 0 else 128 - code}")
