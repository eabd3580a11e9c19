#!/usr/bin/env bats
# Clean stop: forwarded termination signals, the grace, the exit status, as `docker stop` does.
load common

setup_file() {
	export BATS_TEST_TIMEOUT=30
}

got() { grep -c "got $1" <<<"$output" || true; }
distinct_children() { grep "got $1" <<<"$output" | awk '{print $2}' | sort -u | wc -l; }

@test "SIGTERM to a PID 1 without a handler: children get it once each, exit 143 within 1 s" {
	pid1_then TERM -- 3 report
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	[ "$(got SIGTERM)" -eq 3 ]
	[ "$(distinct_children SIGTERM)" -eq 3 ]
	# and PID 1 waited while each finished its work (100 ms after the signal)
	[ "$(grep -c 'child [0-9]* done' <<<"$output")" -eq 3 ]
}

@test "children that die of SIGTERM at its default are not waited for; one that blocks it gets the grace" {
	# They are dying once kill() returns; PID 1's exit completes only after theirs anyway.
	pid1_then TERM ZREAP_LOG=info -- 3 default
	[ "$status" -eq 143 ]
	grep -q 'forwarded SIGTERM to 3 children' <<<"$output"
	grep -q 'of the children, 0 can act on SIGTERM and 0 ignore it' <<<"$output"
	grep -q 'no child left to wait for, exiting with 143' <<<"$output"
	# A blocked signal stays pending: that child may yet unblock it and act, so it is waited for.
	pid1_then TERM ZREAP_LOG=info ZREAP_GRACE_MS=1000 -- 2 block
	[ "$status" -eq 143 ]
	grep -q 'of the children, 2 can act on SIGTERM and 0 ignore it' <<<"$output"
	[ "$ms" -ge 1000 ]
	[ "$ms" -lt 1500 ]
}

@test "with no /proc to list the children: SIGTERM reaches them all the same, and PID 1 waits for them" {
	# As on a kernel without CONFIG_PROC_CHILDREN (no /proc/self/task/*/children). The script
	# is PID 1 with the shim, hides /proc and becomes the stopper (still PID 1, the shim again).
	printf '#!/bin/sh\nmount -t tmpfs none /proc && exec "%s" "$@"\n' "$H/stopper" >"$BATS_TEST_TMPDIR/noproc"
	chmod +x "$BATS_TEST_TMPDIR/noproc"
	STOPPER=$BATS_TEST_TMPDIR/noproc pid1_then TERM ZREAP_LOG=info -- 3 report
	[ "$status" -eq 143 ]
	grep -q 'cannot list the children (no /proc/self/task/\*/children): sent SIGTERM to every process' <<<"$output"
	[ "$(got SIGTERM)" -eq 3 ]
	[ "$(grep -c 'child [0-9]* done' <<<"$output")" -eq 3 ]
}

@test "control: without the shim the same PID 1 ignores SIGTERM and lives on" {
	NOSHIM=1 EXPECT_ALIVE=1 pid1_then TERM -- 3 report
	[ "$status" = alive ]
	[ "$(got SIGTERM)" -eq 0 ]
}

@test "SIGINT ends in 130 and SIGQUIT in 131, each forwarded once" {
	pid1_then INT -- 2 report
	[ "$status" -eq 130 ]
	[ "$(got SIGINT)" -eq 2 ]
	pid1_then QUIT -- 2 report
	[ "$status" -eq 131 ]
	[ "$(got SIGQUIT)" -eq 2 ]
}

@test "a child that ignores SIGTERM: PID 1 exits at ZREAP_GRACE_MS (1000 ms, within 0.5 s)" {
	pid1_then TERM ZREAP_GRACE_MS=1000 -- 2 ignore
	[ "$status" -eq 143 ]
	[ "$ms" -ge 1000 ]
	[ "$ms" -lt 1500 ]
}

@test "an app with its own SIGTERM handler: it runs, nothing is forwarded, its own status" {
	pid1_then TERM ZREAP_LOG=info -- 2 report handler
	[ "$status" -eq 7 ]
	grep -q "app handler" <<<"$output"
	[ "$(grep -c forwarded <<<"$output")" -eq 0 ]
	[ "$(got SIGTERM)" -eq 0 ]
}

@test "ZREAP_FORWARD=always: forwarded, and the app's handler runs with its status" {
	pid1_then TERM ZREAP_LOG=info ZREAP_FORWARD=always -- 2 report handler
	[ "$status" -eq 7 ]
	grep -q "app handler" <<<"$output"
	grep -q "forwarded SIGTERM to 2 children" <<<"$output"
}

@test "ZREAP_FORWARD=never: nothing forwarded, the default exit at once" {
	pid1_then TERM ZREAP_LOG=info ZREAP_FORWARD=never -- 2 report
	[ "$status" -eq 143 ]
	[ "$ms" -lt 500 ]
	[ "$(grep -c forwarded <<<"$output")" -eq 0 ]
	[ "$(got SIGTERM)" -eq 0 ]
}

@test "ZREAP_FORWARD_SIGNALS=HUP: HUP is forwarded and ends in 129; TERM no longer is" {
	pid1_then HUP ZREAP_FORWARD_SIGNALS=SIGHUP ZREAP_LOG=info -- 1 report
	[ "$status" -eq 129 ]
	grep -q "forwarded SIGHUP to 1 child" <<<"$output"
	EXPECT_ALIVE=1 pid1_then TERM ZREAP_FORWARD_SIGNALS=HUP -- 1 report
	[ "$status" = alive ]
}

@test "the app exits on its own with children alive: they get SIGTERM first, status stays 0" {
	run --separate-stderr as_pid1 ZREAP_LOG=info "${STOPPER:-$H/stopper}" 2 report exit
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'got SIGTERM' <<<"$output")" -eq 2 ]
	run --separate-stderr as_pid1 ZREAP_GRACE_MS=0 "${STOPPER:-$H/stopper}" 2 report exit
	echo "grace 0: $output"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'got SIGTERM' <<<"$output")" -eq 0 ]
}

@test "the app exits on its own with children that ignore SIGTERM: not waited for, they would not end any sooner" {
	# (Python's multiprocessing resource tracker is such a child: it ignores TERM, INT and
	# QUIT and ends only at EOF on a pipe PID 1 holds, so a wait would always last the grace.)
	start=${EPOCHREALTIME/./}
	run --separate-stderr as_pid1 ZREAP_LOG=info ZREAP_GRACE_MS=3000 "${STOPPER:-$H/stopper}" 2 ignore exit
	ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
	echo "ms=$ms"; echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$ms" -lt 1500 ] # 200 ms of the app's own, then no wait (3000 ms before this rule)
	[ "$(grep -c 'exiting with children alive' <<<"$stderr")" -eq 0 ]
}

@test "Ctrl-C on a terminal: every child sees SIGINT exactly once, PID 1 ends in 130" {
	run python3 "$ROOT/tests/helpers/ctrlc.py" unshare --pid --fork --mount-proc \
		env --default-signal=INT LD_PRELOAD="$LIB" "${STOPPER:-$H/stopper}" 3 report
	echo "$output"
	[ "$(grep -c 'got SIGINT' <<<"$output")" -eq 3 ]
	[ "$(grep 'got SIGINT' <<<"$output" | awk '{print $2}' | sort -u | wc -l)" -eq 3 ]
	grep -qx 'status=130' <<<"$output"
}

@test "bad ZREAP_FORWARD, ZREAP_FORWARD_SIGNALS and ZREAP_GRACE_MS: one line each, defaults" {
	for bad in ZREAP_FORWARD=sometimes ZREAP_FORWARD_SIGNALS=TERM,KILL ZREAP_FORWARD_SIGNALS=BOGUS ZREAP_GRACE_MS=-1; do
		run --separate-stderr as_pid1 "$bad" "$H/leaker" 10
		echo "$bad -> $stderr"
		[ "$status" -eq 0 ]
		[ "$(grep -c '^zreap\[' <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == *"${bad%%=*}"* ]]
	done
}

@test "a signal PID 1 sends itself at SIG_DFL ends it as a normal process: 143, after SIGTERM and the grace for its children" {
	run --separate-stderr as_pid1 ZREAP_LOG=info "$H/stopper" 2 report selfraise
	echo "$output / $stderr"
	[ "$status" -eq 143 ]
	[ "$(grep -c survived <<<"$output")" -eq 0 ]
	# Each child got one SIGTERM, the exit path's (the app's own end), and PID 1 then left.
	[ "$(grep -c 'got SIGTERM' <<<"$output")" -eq 2 ]
	[ "$(grep -c 'got SIG' <<<"$output")" -eq 2 ]
	grep -qx 'zreap\[1\]: the app sent itself SIGTERM, at the default action: it ends by it' <<<"$stderr"
	grep -qx 'zreap\[1\]: forwarded SIGTERM to 2 children' <<<"$stderr"
	grep -qx 'zreap\[1\]: exiting with 143, as the default action of SIGTERM would' <<<"$stderr"
	# ZREAP_GRACE_MS=0: at once, the children left to the kernel.
	run --separate-stderr as_pid1 ZREAP_GRACE_MS=0 "$H/stopper" 2 report selfraise
	[ "$status" -eq 143 ]
	[ "$(grep -c 'got SIG' <<<"$output")" -eq 0 ]
	# Without the shim the kernel drops it: PID 1 runs on, and exits 5 of its own accord.
	run --separate-stderr bare_pid1 "$H/stopper" 2 report selfraise
	[ "$status" -eq 5 ]
	grep -q survived <<<"$output"
}

@test "dash as PID 1 on SIGINT (it re-raises at itself): 130 at once, not at the grace (its job ignores SIGINT, not the SIGTERM)" {
	out=$BATS_TEST_TMPDIR/dash
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT LD_PRELOAD="$LIB" ZREAP_LOG=info \
		/bin/sh -c 'sleep 1000 & echo ready; wait' >"$out" 2>&1 &
	u=$!
	for i in $(seq 500); do grep -q ready "$out" && break; sleep 0.01; done
	start=$(date +%s%N)
	kill -INT "$(cat /proc/$u/task/$u/children)"
	wait "$u" && status=0 || status=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "status=$status ms=$ms"
	cat "$out"
	[ "$status" -eq 130 ]
	[ "$ms" -lt 1000 ]
	# by the shim's ending of the app's own signal, which sent the sleep SIGTERM first
	grep -qx 'zreap\[1\]: the app sent itself SIGINT, at the default action: it ends by it' "$out"
	grep -qx 'zreap\[1\]: forwarded SIGTERM to 1 child' "$out"
}

@test "a stopped child is continued after the forwarded SIGTERM, so PID 1 need not wait the grace" {
	out=$BATS_TEST_TMPDIR/stopped
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT LD_PRELOAD="$LIB" \
		bash -c 'sleep 1000 & kill -STOP $!; echo ready; wait' >"$out" 2>&1 &
	u=$!
	for i in $(seq 500); do grep -q ready "$out" && break; sleep 0.01; done
	start=$(date +%s%N)
	kill -TERM "$(cat /proc/$u/task/$u/children)"
	wait "$u" && status=0 || status=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "status=$status ms=$ms"; cat "$out"
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
}
