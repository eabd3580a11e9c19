#!/usr/bin/env bats
# cred.bats: a PID 1 that changes its credentials (an entrypoint dropping root), and what the
# shim's own threads are to libc (shim/reaper.c and shim/cred.c say why).
load common
bats_require_minimum_version 1.5.0

PY=/usr/bin/python3

@test "setpriv as PID 1 (uid before gid, capabilities kept per thread) runs its command as without the shim" {
	# With a reaper thread libc knows of, glibc made setresgid in it too; it had no capability
	# left there, failed, and glibc aborted setpriv.
	run timeout 10 unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" \
		setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c 'echo "$(id -u) $(id -g) $(id -G)"'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "65534 65534 65534" ]
}

@test "a PID 1 that drops root and then execs: the exec goes through" {
	# The sentinel made while PID 1 was root could not be killed by nobody: the exec waited
	# for it for ever.
	run timeout 10 unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" "$PY" -c \
		'import os; os.setgroups([]); os.setgid(65534); os.setuid(65534); os.execv("/usr/bin/id", ["id", "-u"])'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = 65534 ]
}

# dropped [VAR=value ...] [-- ARGS]: dropper.py as PID 1 with ARGS, bounded; sets $res to its
# line, and checks its status and the drop itself.
dropped() {
	local vars=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	run timeout 20 unshare --pid --fork --mount-proc env ${vars[@]+"${vars[@]}"} \
		"$PY" "$ROOT/tests/helpers/dropper.py" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	res=$output
	[ "$(field uid)" = 65534 ]
}

@test "after the drop, the reaper thread and the sentinel have PID 1's credentials, and orphans are still reaped" {
	dropped LD_PRELOAD="$LIB"
	[ "$(field threads)" = 2 ]
	[ "$(field same)" = 1 ]
	[ "$(field capeff)" = 0000000000000000 ]
	[ "$(field sentinels)" = 1 ]
	[ "$(field sentinel_uids)" = 65534 ]
	zeros zombies
}

@test "the same after a wait with __WALL (no sentinel): the drop is not held up, the reaper follows it" {
	# Without a sentinel to end, a reaper asleep in waitid could not be woken for the change:
	# each call waited a second for it, and it kept root.
	dropped LD_PRELOAD="$LIB" -- --wall
	[ "$(field threads)" = 2 ]
	[ "$(field same)" = 1 ]
	[ "$(field sentinels)" = 0 ]
	[ "$(field drop_ms)" -lt 500 ]
	zeros zombies
}

@test "control: without the shim the same PID 1 drops and leaves its orphans zombies" {
	dropped
	[ "$(field threads)" = 1 ]
	[ "$(field sentinels)" = 0 ]
	[ "$(field zombies)" -ge 50 ]
}

@test "with a child alive, 50 changes of credentials in a row: each pause of the reaper ends at once" {
	# The sentinel's zombie must wake the reaper from waitid: a pausing thread that reaped it
	# first left the reaper asleep there until a child exited, and the call waited a second.
	run --separate-stderr timeout 60 unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" \
		ZREAP_LOG=debug "$PY" -c '
import os, subprocess, time
keeper = subprocess.Popen(["/bin/sleep", "60"])
worst = 0
for _ in range(50):
    start = time.monotonic()
    os.setgroups([])
    worst = max(worst, time.monotonic() - start)
print(f"worst_ms={int(worst * 1000)}")
keeper.kill()
'
	echo "$output"
	[ "$status" -eq 0 ]
	res=$output
	[ "$(field worst_ms)" -lt 500 ]
	[[ $stderr != *"did not end"* ]]
}

@test "PID 1 with the shim is still single-threaded to libc (__libc_single_threaded)" {
	# A thread made with pthread_create turns it false for good: glibc then locks in malloc and
	# stdio, and its fork takes and releases those locks around every child.
	probe='import ctypes; print(ctypes.c_char.in_dll(ctypes.CDLL(None), "__libc_single_threaded").value[0], len(__import__("os").listdir("/proc/self/task")))'
	run as_pid1 "$PY" -c "$probe"
	echo "shim: $output"
	[ "$status" -eq 0 ]
	[ "$output" = "1 2" ]
	run bare_pid1 "$PY" -c "$probe"
	echo "control: $output"
	[ "$output" = "1 1" ]
}

@test "unshare -U as PID 1 enters its user namespace, and a reaper runs on there with it" {
	# Linux lets only a single-threaded process make a user namespace: with the reaper
	# running, unshare(CLONE_NEWUSER) failed with EINVAL.
	run timeout 10 unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" unshare -U --map-root-user \
		sh -c 'id -u; ls /proc/1/task | wc -l; for t in /proc/1/task/*; do readlink $t/ns/user; done | sort -u | wc -l'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '0\n2\n1')" ]
}
