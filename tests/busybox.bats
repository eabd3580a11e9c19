#!/usr/bin/env bats
# busybox.bats: Debian's busybox (/usr/bin/busybox, dynamically linked to glibc) as PID 1, with
# its applets first in PATH as in a busybox image: `busybox sh` running a run.sh-style script
# (background jobs and `wait $!` under an orphan leak, busybox timeout and xargs as children,
# an `exec` into another busybox sh), and docker stop's SIGTERM with and without a TERM trap.
# Every run with the shim is set against the same run without it.
# Scripts: tests/helpers/busybox/{run,term}.sh.

load common

B="$BATS_TEST_DIRNAME/helpers/busybox"
BUSYBOX=/usr/bin/busybox

setup_file() {
	export BATS_TEST_TIMEOUT=60
	if [ -x "$BUSYBOX" ]; then
		# sh, sleep, timeout, xargs, mktemp, ...: all busybox, as in a busybox image
		mkdir -p "$BATS_FILE_TMPDIR/bin"
		"$BUSYBOX" --install -s "$BATS_FILE_TMPDIR/bin"
	fi
}

setup() {
	left_pid1=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	[ -x "$BUSYBOX" ] || skip "no /usr/bin/busybox: install busybox (scripts/install-deps test)"
	BBPATH="$BATS_FILE_TMPDIR/bin:$PATH"
}

teardown() {
	pid1_cleanup
}

# phase_statuses PHASE: the "statuses:" line after PHASE's summary line in $output.
phase_statuses() {
	grep -A1 "^$1: " <<<"$output" | grep -m1 '^statuses:'
}

# census PID: sets $zombies (zombie children of PID) and $busy (live sleep and timeout children).
census() {
	local c line rest
	zombies=0 busy=0
	for c in $(cat /proc/$1/task/*/children 2>/dev/null); do
		{ read -r line <"/proc/$c/stat"; } 2>/dev/null || continue
		rest=${line##*) }
		case "${rest%% *}:${line}" in
		Z:*) zombies=$((zombies + 1)) ;;
		*"(sleep)"* | *"(timeout)"*) busy=$((busy + 1)) ;;
		esac
	done
}

# run_sh [VAR=value ...]: tests/helpers/busybox/run.sh as PID 1 (with the shim when LD_PRELOAD
# is among the VARs). Once it is idle (blocked in its read, after the exec), ends the 100
# `sleep 1000` it leaked last, waits until no sleep or timeout watcher is alive (5 s at most),
# then counts the zombie children of PID 1 from outside until none is left or their number has
# stayed the same for 0.5 s, and kills it. Sets $output (stdout), $stderr, $ended (the sleeps
# it ended), $zombies and $busy.
run_sh() {
	local out=$BATS_TEST_TMPDIR/out err=$BATS_TEST_TMPDIR/err u p1 c line start since last nr
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT PATH="$BBPATH" "$@" \
		"$BUSYBOX" sh "$B/run.sh" 5 >"$out" 2>"$err" 3>&- &
	u=$!
	wait_for 20000 grep -q '^idle' "$out"
	read -r p1 _ </proc/$u/task/$u/children || true
	[ -n "$p1" ]
	left_pid1=$p1
	# blocked in its read (busybox sh polls the descriptor first) before the sleeps end
	case $(uname -m) in x86_64) nr=" 0 7 " ;; aarch64) nr=" 63 73 " ;; *) nr="" ;; esac
	start=${EPOCHREALTIME/./}
	until [ -z "$nr" ] || [[ "$nr" == *" $(cut -d' ' -f1 /proc/$p1/syscall) "* ]] ||
		(( ${EPOCHREALTIME/./} - start > 5000000 )); do
		sleep 0.01
	done
	ended=0
	for c in $(cat /proc/$p1/task/*/children); do
		{ read -r line <"/proc/$c/stat"; } 2>/dev/null || continue
		if [[ "$line" == *"(sleep) "[RS]* ]]; then
			kill "$c" && ended=$((ended + 1))
		fi
	done
	census "$p1"
	start=${EPOCHREALTIME/./}
	while [ "$busy" -gt 0 ] && (( ${EPOCHREALTIME/./} - start < 5000000 )); do
		sleep 0.01
		census "$p1"
	done
	since=${EPOCHREALTIME/./}
	while [ "$zombies" -gt 0 ] && (( ${EPOCHREALTIME/./} - since < 500000 )); do
		sleep 0.01
		last=$zombies
		census "$p1"
		[ "$zombies" = "$last" ] || since=${EPOCHREALTIME/./}
	done
	kill -9 "$p1"
	wait "$u" || true
	output=$(cat "$out")
	stderr=$(cat "$err")
	echo "ended=$ended zombies=$zombies busy=$busy"; grep -v '^statuses:' <<<"$output"
}

@test "busybox sh PID 1 (run.sh): wait \$! exact for 169 jobs, timeout and xargs codes, under a leak; exec into busybox sh stays protected; 0 zombies" {
	run_sh LD_PRELOAD="$LIB" ZREAP_LOG=info
	grep -q '^idle' <<<"$output"
	res=$(grep -m1 '^main: ' <<<"$output")
	[ "$(field jobs)" = 169 ]
	[ "$(field bad)" = 0 ]
	[ "$(field orphans)" -ge 200 ]
	res=$(grep -m1 '^exec: ' <<<"$output")
	[ "$(field jobs)" = 5 ]
	[ "$(field bad)" = 0 ]
	[ "$ended" = 100 ]  # the last 100 orphans were alive and children of PID 1 when it was idle
	[ "$busy" = 0 ]
	[ "$zombies" = 0 ]
	# The shim was active in both images of PID 1 (run.sh's sh, then the exec'd sh), and took
	# orphans (the sh reaps the rest itself: waitpid(-1) in its waits and after a SIGCHLD).
	[ "$(grep -c 'active as PID 1' <<<"$stderr")" -eq 2 ]
	[ "$(grep -c 'reaped orphan' <<<"$stderr")" -gt 0 ]
	[ "$(grep -v 'reaped orphan\|active as PID 1' <<<"$stderr" | grep -c zreap)" -eq 0 ]
	main=$(phase_statuses main) after=$(phase_statuses exec)
	# busybox's own applets as children: timeout (143, 137, 7) and xargs (123, 124, 125, 127, 0)
	[[ "$main" == *" 123 124 125 127 0 143 137 7 0" ]]

	# Without the shim: the same statuses; the sh blocked in its read reaps nothing, so the
	# orphans that ended then stay zombies, every one.
	run_sh
	grep -q '^idle' <<<"$output"
	res=$(grep -m1 '^main: ' <<<"$output")
	[ "$(field bad)" = 0 ]
	res=$(grep -m1 '^exec: ' <<<"$output")
	[ "$(field bad)" = 0 ]
	[ "$ended" = 100 ]
	[ "$busy" = 0 ]
	[ "$zombies" -ge 100 ]
	diff <(echo "$main") <(phase_statuses main)
	diff <(echo "$after") <(phase_statuses exec)
}

# term_pid1 SIG MODE [VAR=value ...]: tests/helpers/busybox/term.sh MODE as PID 1 (with the shim
# when LD_PRELOAD is among the VARs) and, once it and its reporter child are ready, sends SIG
# from outside the namespace, as a runtime does. Sets $output (stdout and stderr), $status
# (PID 1's exit status, or "alive" if it still runs 1 s after the signal; it is then killed)
# and $ms (from the signal until PID 1 is gone).
term_pid1() {
	local sig=$1 mode=$2 out=$BATS_TEST_TMPDIR/out u p1 start nr
	shift 2
	pid1_in_background "$out" PATH="$BBPATH" "$@" "$BUSYBOX" sh "$B/term.sh" "$mode"
	wait_for 10000 ready_lines "$out" 2
	# busybox sh is in its `wait` before the signal comes: it waits in rt_sigsuspend for a
	# SIGCHLD, then collects with waitpid(-1, WNOHANG)
	case $(uname -m) in x86_64) nr=130 ;; aarch64) nr=133 ;; *) nr="" ;; esac
	start=${EPOCHREALTIME/./}
	until [ -z "$nr" ] || [ "$(cut -d' ' -f1 /proc/$p1/syscall)" = "$nr" ] ||
		(( ${EPOCHREALTIME/./} - start > 5000000 )); do
		sleep 0.01
	done
	signal_and_await "$sig" "$p1" "$u"
	output=$(cat "$out")
	echo "status=$status ms=$ms"; echo "$output"
}

@test "busybox sh PID 1 without a TERM trap: SIGTERM from outside reaches the children, exit 143 within 1 s; without the shim it is dropped" {
	term_pid1 TERM default LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	[ "$(count 'forwarded SIGTERM to 2 children')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(count "SIGTERM with no handler of the app's: no child left to wait for, exiting with 143")" -eq 1 ]
	[ "$(count 'wait returned')" -eq 0 ]

	term_pid1 TERM default
	[ "$status" = alive ]
	# SIG_DFL: busybox sh does not catch TERM, so the kernel drops it before it reaches init
	res=$(grep -m1 '^pid1 ' <<<"$output")
	(( (0x$(field SigCgt) & 0x4000) == 0 ))
	[ "$(count 'reporter got TERM')" -eq 0 ]
	[ "$(count 'wait returned')" -eq 0 ]
}

@test "busybox sh PID 1 with trap TERM: the trap runs, exit 9; the shim forwards nothing, the same as without it" {
	term_pid1 TERM trap LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" -eq 9 ]
	[ "$ms" -lt 1000 ]
	grep -qx caught <<<"$output"
	res=$(grep -m1 '^pid1 ' <<<"$output")
	(( 0x$(field SigCgt) & 0x4000 ))   # TERM: busybox sh's own handler, which the shim leaves
	[ "$(count 'wait returned')" -eq 0 ]
	[ "$(count "no handler of the app's")" -eq 0 ]
	# Nothing forwarded, neither on the signal nor at the exit: busybox sh leaves through
	# _exit(), which runs no exit handler (the shim's SIGTERM to children alive at exit is for
	# exit() and a return from main), so the kernel SIGKILLs the children as without the shim.
	[ "$(count 'forwarded')" -eq 0 ]
	[ "$(count 'exiting with children alive')" -eq 0 ]
	[ "$(count 'reporter got TERM')" -eq 0 ]

	# Without the shim: the same trap, status and children's fate.
	term_pid1 TERM trap
	[ "$status" -eq 9 ]
	[ "$ms" -lt 1000 ]
	grep -qx caught <<<"$output"
	res=$(grep -m1 '^pid1 ' <<<"$output")
	(( 0x$(field SigCgt) & 0x4000 ))
	[ "$(count 'reporter got TERM')" -eq 0 ]
	[ "$(count 'wait returned')" -eq 0 ]
}
