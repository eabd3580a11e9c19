#!/usr/bin/env bats
# ownership.bats: under an orphan storm, the app's own children keep their exact exit statuses,
# whatever made them and however they are waited for, and the shim's stash of forgotten
# children gives each status back exactly once. Every run with the shim has a baseline run
# without it: the statuses must be right there too, or the test itself would be wrong.
# Programs: build/tests/ownstress (tests/helpers/ownstress.c) and tests/helpers/pysub.py.

load common

PYSUB="$BATS_TEST_DIRNAME/helpers/pysub.py"

setup() {
	[ -x "$H/ownstress" ] || skip "build/tests/ownstress missing: run make helpers"
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
}

# result PATTERN: the line of $output that starts with PATTERN (the program's summary).
result() {
	grep -m1 "^$1" <<<"$output"
}

# check_run: the common assertions on an `ownstress run` summary.
check_run() {
	res=$(result children=)
	[ -n "$res" ] || { echo "no summary line"; return 1; }
	zeros wrong echild lost spawnerr
	[ "$(field children)" -ge 1000 ]
	[ "$(field orphans)" -ge 1000 ]    # the storm really ran
	[ "$(field methods)" = 9/9 ]       # every spawn path was used
	[ "$status" -eq 0 ]
}

@test "storm: >= 1000 own children through every spawn path and wait style keep exact statuses (shim)" {
	run as_pid1 "$H/ownstress" run -n 2400 -m 1000 -T 14000
	echo "$output"
	check_run
	[ "$(field styles)" = 10/10 ]
	# No child waited late had lost its pid before the app waited: the shim took none.
	[ "$(field taken)" = 0 ]
	# The reaper kept up with the storm: no orphan zombie is left once it is over.
	[ "$(field zombies)" = 0 ]
}

@test "storm: same statuses without the shim (baseline)" {
	run bare_pid1 "$H/ownstress" run -n 1200 -m 1000 -T 14000
	echo "$output"
	check_run
	[ "$(field styles)" = 10/10 ]
	[ "$(field taken)" = 0 ]
}

@test "storm: 4 threads spawning and waiting by pid at once keep exact statuses (shim)" {
	run as_pid1 "$H/ownstress" run -n 2000 -m 1000 -t 4 -T 14000
	echo "$output"
	check_run
	[ "$(field foreign)" = 0 ]         # pid-specific waits never return an orphan
	zeros taken zombies
}

@test "storm: late waits served from the stash (ZREAP_FORGOTTEN_MS=5) keep exact statuses (shim)" {
	# Children waited 20-50 ms late are taken by the reaper after 5 ms: every late wait,
	# by pid or wide, must get its status from the stash, exactly, under the storm.
	run as_pid1 ZREAP_FORGOTTEN_MS=5 "$H/ownstress" run -n 1500 -m 1000 -T 14000
	echo "$output"
	check_run
	[ "$(field taken)" -ge 200 ]       # the stash path really was taken
	[ "$(field zombies)" = 0 ]
}

@test "python: subprocess return codes stay exact under an orphan storm (shim)" {
	command -v python3 >/dev/null || skip "no python3"
	run as_pid1 python3 "$PYSUB" 600 "$H/ownstress"
	echo "$output"
	res=$(result runs=)
	[ "$(field runs)" = 600 ]
	zeros wrong echild
	[ "$(field orphans)" -ge 300 ]
	[ "$(field zombies)" = 0 ]
	[ "$status" -eq 0 ]
}

@test "python: subprocess return codes without the shim (baseline)" {
	command -v python3 >/dev/null || skip "no python3"
	run bare_pid1 python3 "$PYSUB" 600 "$H/ownstress"
	echo "$output"
	res=$(result runs=)
	[ "$(field runs)" = 600 ]
	zeros wrong echild
	[ "$(field orphans)" -ge 300 ]
	# Nobody reaps the orphans of a Python PID 1 without the shim: the storm left zombies.
	[ "$(field zombies)" -gt 0 ]
	[ "$status" -eq 0 ]
}

@test "forgotten: ZREAP_FORGOTTEN_MS=200 stashes unwaited children, each status comes back once (shim)" {
	run as_pid1 ZREAP_FORGOTTEN_MS=200 "$H/ownstress" forgotten -n 42 -d 600
	echo "$output"
	res=$(result children=)
	# Before the app waited, the shim had collected every one: no pid was left in /proc.
	[ "$(field reaped_before_wait)" = 42 ]
	[ "$(field zombie_before_wait)" = 0 ]
	[ "$(field children)" = 42 ]
	zeros wrong echild rusage_bad twice
	[ "$(field final_echild)" = 1 ]   # then ECHILD: nothing more to wait for
	[ "$status" -eq 0 ]
}

@test "forgotten: stashed statuses come back once under an orphan storm (shim)" {
	run as_pid1 ZREAP_FORGOTTEN_MS=200 "$H/ownstress" forgotten -n 42 -d 600 -S
	echo "$output"
	res=$(result children=)
	[ "$(field reaped_before_wait)" = 42 ]
	[ "$(field children)" = 42 ]
	zeros wrong echild rusage_bad twice
	[ "$status" -eq 0 ]
}

@test "forgotten: with the default (30 s) a wait 600 ms late finds the zombie still there (shim)" {
	run as_pid1 "$H/ownstress" forgotten -n 42 -d 600
	echo "$output"
	res=$(result children=)
	[ "$(field zombie_before_wait)" = 42 ]
	[ "$(field reaped_before_wait)" = 0 ]
	[ "$(field children)" = 42 ]
	zeros wrong echild rusage_bad twice
	[ "$(field final_echild)" = 1 ]
	[ "$status" -eq 0 ]
}

@test "forgotten: late waits without the shim (baseline)" {
	run bare_pid1 ZREAP_FORGOTTEN_MS=200 "$H/ownstress" forgotten -n 42 -d 600
	echo "$output"
	res=$(result children=)
	[ "$(field zombie_before_wait)" = 42 ]
	[ "$(field children)" = 42 ]
	zeros wrong echild rusage_bad twice
	[ "$(field final_echild)" = 1 ]
	[ "$status" -eq 0 ]
}

@test "forgotten boundary: waits racing the reaper's stashing never see ECHILD (shim)" {
	# With ZREAP_FORGOTTEN_MS=1 the reaper stashes each child about 1 ms after it exits,
	# while the app peeks at it (waitid WNOWAIT|WNOHANG, in a tight loop) or waits for it
	# by pid at a random moment around then. The child is never the app's to lose: each
	# peek must see it and each wait must collect it.
	run as_pid1 ZREAP_FORGOTTEN_MS=1 "$H/ownstress" boundary -n 400
	echo "$output"
	res=$(result children=)
	[ "$(field stashed)" -ge 100 ]    # the reaper did take children before the app waited
	zeros peek_echild echild wrong
	[ "$(field children)" = 400 ]
	[ "$status" -eq 0 ]
}

@test "forgotten boundary: the same peeks and waits without the shim (baseline)" {
	run bare_pid1 ZREAP_FORGOTTEN_MS=1 "$H/ownstress" boundary -n 400
	echo "$output"
	res=$(result children=)
	zeros stashed peek_echild echild wrong
	[ "$(field children)" = 400 ]
	[ "$status" -eq 0 ]
}

@test "an app that loads more objects than real.c has room for (40 libraries ahead of libc): exact statuses" {
	# real.c has room for 32 objects and maps a table for more; here libc is the 42nd, and
	# every real function must be found in it, as dlsym would find it.
	local d=$BATS_TEST_TMPDIR libs=()
	for i in $(seq 40); do
		echo "int zr_filler_$i(void) { return $i; }" >"$d/f$i.c"
		gcc -shared -fPIC -o "$d/libf$i.so" "$d/f$i.c"
		libs+=(-lf"$i")
	done
	gcc -std=gnu11 -O1 -D_GNU_SOURCE -I"$ROOT/tests/helpers" -o "$d/ownstress-many" \
		"$ROOT/tests/helpers/ownstress.c" -L"$d" -Wl,--no-as-needed "${libs[@]}" -Wl,-rpath,"$d" -lpthread
	[ "$(LD_PRELOAD="$LIB" LD_TRACE_LOADED_OBJECTS=1 "$d/ownstress-many" | grep -c 'libf[0-9]*\.so')" -eq 40 ]
	run as_pid1 "$d/ownstress-many" run -n 1200 -m 1000 -T 14000
	echo "$output"
	check_run
	zeros taken zombies
}
