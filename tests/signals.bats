#!/usr/bin/env bats
# The app's view of the signals the shim manages (TERM, INT, QUIT by default, in PID 1).
load common

val() { grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

@test "every call that sets or reads a disposition: the same trace as PID 1 with and without the shim" {
	run --separate-stderr bare_pid1 "$H/sigtrace"
	[ "$status" -eq 0 ]
	base=$output
	[ "$(wc -l <<<"$base")" -gt 100 ]
	for mode in auto always; do
		run --separate-stderr as_pid1 ZREAP_FORWARD=$mode "$H/sigtrace"
		[ "$status" -eq 0 ]
		diff <(echo "$base") <(echo "$output")
		[ -z "$stderr" ]
	done
}

@test "the trace really is of managed signals: the kernel sees the shim's handler for them" {
	run as_pid1 "$H/probe"
	echo "$output"
	cgt=$(awk '/^SigCgt/ {print $2}' <<<"$output")
	# SIGINT (2), SIGQUIT (3), SIGTERM (15): bits 1, 2 and 14
	(( (0x$cgt & 0x4006) == 0x4006 ))
}

@test "a fork child gets the app's dispositions for real, not the shim's handler" {
	run --separate-stderr as_pid1 "$H/probe" fork
	echo "$output"
	child=$(awk '/^child SigCgt/ {print $3}' <<<"$output")
	(( (0x$child & 0x4006) == 0 ))
}

@test "100,000 SIGTERMs while another thread swaps the handler: each runs exactly one handler" {
	run --separate-stderr as_pid1 "$H/sigswap" 100000
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "raised=100000 handled=100000 foreign=0" ]
	# ZREAP_FORWARD=always: every delivery goes through the shim's handler, which calls the app's
	run --separate-stderr as_pid1 ZREAP_FORWARD=always "$H/sigswap" 20000
	echo "always: $output $stderr"
	[ "$output" = "raised=20000 handled=20000 foreign=0" ]
}

@test "the same under AddressSanitizer and UndefinedBehaviorSanitizer" {
	cc -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
		-o "$BATS_TEST_TMPDIR/sigswap-asan" "$ROOT/tests/helpers/sigswap.c" -lpthread
	run --separate-stderr as_pid1 ASAN_OPTIONS=verify_asan_link_order=0 "$BATS_TEST_TMPDIR/sigswap-asan" 20000
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "raised=20000 handled=20000 foreign=0" ]
}

@test "SA_NOCLDSTOP is honoured: no SIGCHLD for a stop or a continue, as without the shim" {
	for mode in flag noflag; do
		run --separate-stderr bare_pid1 "$H/nocldstop" "$mode"
		base=$output
		run --separate-stderr as_pid1 "$H/nocldstop" "$mode"
		echo "$mode: without: $base / with: $output"
		[ "$output" = "$base" ]
	done
	# Without the flag: one SIGCHLD each for the stop, the continue and the exit.
	[ "$base" = "stopped=1 after_stop=1 exit=3 after_exit=3" ]
	run --separate-stderr as_pid1 "$H/nocldstop" flag
	[ "$output" = "stopped=1 after_stop=0 exit=3 after_exit=1" ]
}
