#!/usr/bin/env bats
# tracers.bats: a PID 1 that traces, as `strace -f` does when a container is debugged with it.
#   - strace runs until its wait for any child with __WALL says ECHILD: the shim's sentinel,
#     which such a wait sees, must be gone by then (reaper.c), or strace never ends
#   - every traced process's exit reaches strace, an orphan's (re-parented to strace) too:
#     the shim leaves tracees to their tracer (owned.c)
load common

setup() {
	command -v strace >/dev/null || skip "strace missing: run make deps-test"
}

# traced [VAR=value ...]: strace -f as PID 1 (bounded: a hang is killed after 20 s, status 137)
# of a shell that leaves an orphan, runs a child that exits 3 and exits 5; sets $output,
# $status and $trace (strace's report of each traced process's end).
traced() {
	local f=$BATS_TEST_TMPDIR/trace
	run timeout -s KILL 20 unshare --pid --fork --mount-proc --kill-child env "$@" \
		strace -f -q -e trace=none -o "$f" \
		sh -c '(sleep 0.5; exit 4) & sh -c "exit 3"; echo inner=$?; exit 5'
	trace=$(grep -o 'exited with [0-9]*' "$f" | sort | tr '\n' ' ')
	echo "status: $status"; echo "$output"; echo "trace: $trace"
}

@test "strace -f as PID 1 ends with its command's status; every exit traced, the orphan's too (shim)" {
	traced LD_PRELOAD="$LIB"
	[ "$status" -eq 5 ]
	[ "$output" = inner=3 ]
	# sh 5, its child 3, the orphan's subshell 4 and its sleep 0
	[ "$trace" = "exited with 0 exited with 3 exited with 4 exited with 5 " ]
}

@test "control: the same without the shim" {
	traced
	[ "$status" -eq 5 ]
	[ "$output" = inner=3 ]
	[ "$trace" = "exited with 0 exited with 3 exited with 4 exited with 5 " ]
}
