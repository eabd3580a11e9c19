#!/usr/bin/env bats
# java.bats: OpenJDK (Debian's java and javac) as PID 1. ProcessBuilder children collected
# through every Process API (waitFor, waitFor(timeout), exitValue, onExit) under an orphan
# leak, with each launch mechanism the JVM offers (POSIX_SPAWN through jspawnhelper, VFORK,
# FORK); and docker stop's SIGTERM, which the JVM handles itself (shutdown hooks, 143) unless
# started with -Xrs. Every run with the shim is set against the same run without it.
# Programs: tests/helpers/java/{Reap,Term}.java, compiled once per run of the file.

load common

J="$BATS_TEST_DIRNAME/helpers/java"
# A fast start: class data sharing if there, the C1 compiler only, the serial collector.
JOPTS=(-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC)

setup_file() {
	export BATS_TEST_TIMEOUT=60
	if command -v javac >/dev/null && command -v java >/dev/null; then
		javac -d "$BATS_FILE_TMPDIR/classes" "$J/Reap.java" "$J/Term.java"
	fi
}

setup() {
	left_pid1=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	command -v javac >/dev/null && command -v java >/dev/null ||
		skip "no java/javac: install default-jdk-headless (scripts/install-deps test)"
	CP="$BATS_FILE_TMPDIR/classes"
}

teardown() {
	pid1_cleanup
}

# reap MECHANISM: Reap.java as PID 1 with the shim, then without it, with the given
# jdk.lang.Process.launchMechanism: 127 own children, an orphan leak of at least 300 alongside.
reap() {
	local mech=$1 shim
	local args=("${JOPTS[@]}" --add-opens java.base/java.lang=ALL-UNNAMED
		-Djdk.lang.Process.launchMechanism="$mech" -cp "$CP" Reap 120 30 10)
	run --separate-stderr as_pid1 java "${args[@]}"
	echo "$output" | grep -v '^statuses:'; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^mech=' <<<"$output")
	[ "$(field mech)" = "$mech" ]     # the mechanism the JVM really uses
	[ "$(field own)" = 127 ]
	zeros wrong missing leaker_bad
	[ "$(field orphans)" -ge 300 ]
	[ "$(field busy)" = 0 ]           # the leak's sleeps had all ended at the count
	[ "$(field zombies)" = 0 ]
	[ -z "$stderr" ]
	shim=$(statuses)
	# each kind of status really came up: exit codes and deaths by signal
	for s in 0 1 3 77 255 129 137 138 143; do grep -qw "$s" <<<"$shim"; done

	# Without the shim: the same statuses; every orphan stays a zombie (the JVM waits for its
	# own children by pid only), which shows they really came to PID 1.
	run --separate-stderr bare_pid1 java "${args[@]}"
	echo "without the shim:"; echo "$output" | grep -v '^statuses:'
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^mech=' <<<"$output")
	[ "$(field mech)" = "$mech" ]
	zeros wrong missing busy
	[ "$(field zombies)" = "$(field orphans)" ]
	diff <(echo "$shim") <(statuses)
}

@test "java PID 1, POSIX_SPAWN (jspawnhelper): 127 ProcessBuilder children exact through waitFor/exitValue/onExit under a 300-orphan leak; 0 zombies" {
	reap POSIX_SPAWN
}

@test "java PID 1, VFORK: the same statuses with and without the shim; 0 zombies" {
	reap VFORK
}

@test "java PID 1, FORK: the same statuses with and without the shim; 0 zombies" {
	reap FORK
}

# term_pid1 SIG [VAR=value ...] -- [JVM OPTIONS]: Term.java as PID 1 (with the shim when
# LD_PRELOAD is among the VARs); once it says ready, sends SIG from outside the namespace, as a
# runtime does. Sets $output (stdout and stderr), $status (PID 1's exit status, or "alive" if it
# still runs $WAIT_MS, default 1000, ms after the signal; it is then killed), $ms (from the
# signal until PID 1 is gone) and $marker (what the reporter child wrote, once PID 1 and the
# namespace are gone).
term_pid1() {
	local sig=$1 vars=() out=$BATS_TEST_TMPDIR/out d=$BATS_TEST_TMPDIR/term u p1
	shift
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	rm -rf "$d"; mkdir "$d"
	pid1_in_background "$out" ${vars[@]+"${vars[@]}"} java "${JOPTS[@]}" "$@" -cp "$CP" Term "$d"
	wait_for 10000 grep -q '^ready' "$out"
	signal_and_await "$sig" "$p1" "$u" "${WAIT_MS:-1000}"
	output=$(cat "$out")
	marker=$(cat "$d/marker" 2>/dev/null || true)
	echo "status=$status ms=$ms marker=$marker"; echo "$output"
}

@test "java PID 1, SIGTERM from outside: the JVM's own handler runs the shutdown hook, exit 143; the shim forwards nothing" {
	# The JVM's own shutdown takes about 0.4 s, with or without the shim: allow it 2 s.
	WAIT_MS=3000 term_pid1 TERM LD_PRELOAD="$LIB" ZREAP_LOG=info --
	[ "$status" -eq 143 ]
	[ "$ms" -lt 2000 ]
	# The hook ran with both children alive and untouched: nothing forwarded on the signal.
	grep -qx 'hook ran sleep=alive reporter=alive marker=no' <<<"$output"
	[ "$(count 'main returned')" -eq 0 ]
	# The one forward is the shim's at the JVM's exit(143), with children alive that the kernel
	# would SIGKILL: after the hook; so the reporter got a TERM, and PID 1 kept the JVM's 143.
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(line 'hook ran')" -lt "$(line 'exiting with children alive')" ]
	[ "$(line 'exiting with children alive')" -lt "$(line 'forwarded SIGTERM to 2 children')" ]
	[ "$(count 'no handler of the app')" -eq 0 ]
	[ "$marker" = "reporter got TERM" ]

	# Without the shim: the same hook, the same 143 (the JVM catches TERM, so the kernel
	# delivers it to an init); the children die of SIGKILL with the namespace: no TERM.
	WAIT_MS=3000 term_pid1 TERM --
	[ "$status" -eq 143 ]
	[ "$ms" -lt 2000 ]
	grep -qx 'hook ran sleep=alive reporter=alive marker=no' <<<"$output"
	[ "$(count 'main returned')" -eq 0 ]
	[ -z "$marker" ]
}

@test "java -Xrs PID 1 (no JVM signal handlers): SIGTERM is forwarded to the children, exit 143; without the shim it is dropped" {
	term_pid1 TERM LD_PRELOAD="$LIB" ZREAP_LOG=info -- -Xrs
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	[ "$(count 'forwarded SIGTERM to 2 children')" -eq 1 ]
	[ "$(count "SIGTERM with no handler of the app's: no child left to wait for, exiting with 143")" -eq 1 ]
	[ "$marker" = "reporter got TERM" ]
	[ "$(count 'hook ran')" -eq 0 ]  # -Xrs: TERM is not the JVM's, no shutdown sequence

	term_pid1 TERM -- -Xrs
	[ "$status" = alive ]
	[ -z "$marker" ]
	[ "$(count 'hook ran')" -eq 0 ]
}
