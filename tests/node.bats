#!/usr/bin/env bats
# node.bats: Node.js (/usr/bin/node) as PID 1. Its own children, through every child_process
# API (spawn, exec, execFile, spawnSync, fork), must report the same exit codes and signals
# with the shim as without, under a leak of orphans into PID 1; the shim must leave no zombie
# where Node, which waits for its own pids only, leaves every orphan; and `docker stop`'s
# SIGTERM must stop a Node PID 1 that has no SIGTERM handler, and leave one that has to it.
# Every run with the shim is set against the same run without it.
# Programs: tests/helpers/node/*.

load common

N="$BATS_TEST_DIRNAME/helpers/node"
NODE=/usr/bin/node

setup_file() {
	export BATS_TEST_TIMEOUT=60
}

setup() {
	left_pid1=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	[ -x "$NODE" ] || skip "no /usr/bin/node (Debian's nodejs): scripts/install-deps test installs it"
}

teardown() {
	pid1_cleanup
}

@test "node PID 1: spawn, exec, execFile, spawnSync and fork get exact exit codes and signals under an orphan leak; no zombie left" {
	run --separate-stderr as_pid1 "$NODE" "$N/children.js" 1
	echo "$output" | grep -v '^statuses:'; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	[ "$(field own)" -ge 100 ]
	zeros wrong dup missing
	[ "$(field orphans)" -ge 340 ]   # 3 leakers of at least 100 and 40 seed-style children
	zeros live zombies
	[ -z "$stderr" ]
	shim=$(statuses)
	# every case was there: the 5 exit codes and the 2 signal deaths, by every API
	for m in spawn exec execFile spawnSync fork; do
		for s in 0/null 1/null 3/null 77/null 255/null null/SIGKILL null/SIGTERM; do
			grep -q " $m#[0-9]*:$s\( \|$\)" <<<"$shim"
		done
	done

	# Without the shim: the same statuses, and every orphan stays a zombie (libuv waits for
	# the pids it spawned, never for -1).
	run --separate-stderr bare_pid1 "$NODE" "$N/children.js" 1
	echo "without the shim:"; echo "$output" | grep -v '^statuses:'
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	zeros wrong dup missing
	[ "$(field orphans)" -ge 340 ]
	[ "$(field live)" = 0 ]
	[ "$(field zombies)" -eq "$(field orphans)" ]
	diff <(echo "$shim") <(statuses)
}

# term_pid1 MODE [VAR=value ...]: runs tests/helpers/node/term.js MODE as PID 1 (with the shim
# when LD_PRELOAD is among the VARs) and, once it says ready, sends SIGTERM from outside the
# namespace, as a runtime does (PID 1 is the one child of the unshare process). Sets $output
# (stdout and stderr), $status (PID 1's exit status, or "alive" if it still runs 1 s after the
# signal; it is then killed) and $ms (from the signal until PID 1 is gone).
term_pid1() {
	local mode=$1 out=$BATS_TEST_TMPDIR/out u p1
	shift
	pid1_in_background "$out" "$@" "$NODE" "$N/term.js" "$mode"
	wait_for 10000 grep -qx ready "$out"
	signal_and_await TERM "$p1" "$u"
	output=$(cat "$out")
	echo "status=$status ms=$ms"; echo "$output"
}

@test "node PID 1 without a SIGTERM handler: SIGTERM from outside reaches the children, exit 143 within 1 s" {
	command -v perl >/dev/null || skip "no perl (the reporter child)"
	# Node's own SIGTERM handler (see the control below) re-raises the signal to die of it;
	# that must end PID 1 as the default action would, not be dropped.
	term_pid1 default LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" = 143 ]
	[ "$ms" -lt 1000 ]
	# The re-raise is Node ending itself: the children get SIGTERM once, as at an exit with
	# children alive, to the two sleeps and the reporter; the reporter saw it; PID 1 left as
	# soon as no child was alive, well before the 5 s grace, so the sleeps, which nothing
	# else ends, died of it too.
	[ "$(count 'the app sent itself SIGTERM, at the default action: it ends by it')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM to 3 children')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(count 'exiting with 143, as the default action of SIGTERM would')" -eq 1 ]
}

@test "control: without the shim the same node PID 1 ignores SIGTERM and keeps running" {
	command -v perl >/dev/null || skip "no perl (the reporter child)"
	term_pid1 default
	[ "$status" = alive ]
	# Node catches SIGTERM itself even with no listener (SignalExit, SA_RESETHAND): it
	# restores the terminal and raises SIGTERM again to die of it, and the kernel drops that
	# one, now SIG_DFL, before it reaches a namespace's init.
	(( 0x$(grep -m1 -o 'SigCgt=[0-9a-f]*' <<<"$output" | cut -d= -f2) & 0x4000 ))
	[ "$(count 'reporter got TERM')" -eq 0 ]
}

@test "node PID 1 with process.on('SIGTERM'): SIGTERM from outside runs the handler, exit 7; the shim forwards nothing" {
	command -v perl >/dev/null || skip "no perl (the reporter child)"
	term_pid1 handler LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" = 7 ]
	[ "$(count 'handler got SIGTERM')" -eq 1 ]
	# The reporter had no TERM when the handler asked: nothing forwarded when it came.
	[ "$(count 'reporter says: no TERM so far')" -eq 1 ]
	# The one forward is the shim's at exit (process.exit(7) with children alive, which the
	# kernel would SIGKILL), after the handler ran: only then does the reporter get TERM.
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM to 3 children')" -eq 1 ]
	[ "$(line 'reporter says')" -lt "$(line 'exiting with children alive')" ]
	[ "$(line 'exiting with children alive')" -lt "$(line 'forwarded SIGTERM to 3 children')" ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(line 'reporter says')" -lt "$(line 'reporter got TERM')" ]

	# Without the shim: the same handler and status; the children are SIGKILLed with the
	# namespace, so the reporter never sees a TERM.
	term_pid1 handler
	[ "$status" = 7 ]
	[ "$(count 'handler got SIGTERM')" -eq 1 ]
	[ "$(count 'reporter says: no TERM so far')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 0 ]
}
