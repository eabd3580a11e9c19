#!/usr/bin/env bats
# interp.bats: real interpreters as PID 1, reaping their own children the way scripts do
# (Python's signal.signal(SIGCHLD), Perl's $SIG{CHLD}, bash's CHLD trap and `wait $!`), stop and
# continue reports, SIGCHLD handler swaps, and bash's answer to `docker stop`'s SIGTERM.
# Every run with the shim is set against the same run without it: the app's own statuses must
# be the same, and where the shim must make a difference (zombies left, SIGTERM to a PID 1
# without a handler) the run without it shows that difference.
# Programs: tests/helpers/interp/* and build/tests/{stopcont,sigswap}.

load common

I="$BATS_TEST_DIRNAME/helpers/interp"

setup_file() {
	export BATS_TEST_TIMEOUT=60
}

teardown() {
	pid1_cleanup
}

setup() {
	left_pid1=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	# Debian's python3, not a version manager's shim script in front of it.
	PY=/usr/bin/python3
	[ -x "$PY" ] || PY=$(command -v python3) || PY=""
}

# ---- 1. Python ----

@test "python PID 1: a SIGCHLD handler looping waitpid(-1, WNOHANG) gets each own status once, exact, under an orphan leak" {
	[ -n "$PY" ] || skip "no python3"
	run --separate-stderr as_pid1 "$PY" "$I/sigchld.py" 200
	echo "$output" | grep -v '^statuses:'; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	[ "$(field own)" = 200 ]
	zeros wrong dup missing
	[ "$(field leaker)" = $((77 << 8)) ]   # the leaker, an own child too, exited 77
	[ "$(field handler_calls)" -gt 0 ]
	[ "$(field orphans)" -ge 300 ]         # the leak really ran
	[ "$(field final_orphans)" = 50 ]
	[ "$(field zombies)" = 0 ]             # including the 50 nobody in the app waited for
	[ -z "$stderr" ]
	shim=$(statuses)

	# Without the shim: the same own statuses; the handler collects the orphans of the leak
	# itself (waitpid(-1) takes any child; the last few may exit after it is gone), and the
	# last 50, with SIGCHLD back at SIG_DFL, stay zombies: what the shim is for.
	run --separate-stderr bare_pid1 "$PY" "$I/sigchld.py" 200
	echo "without the shim:"; echo "$output" | grep -v '^statuses:'
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	zeros wrong dup missing
	[ "$(field orphans_by_app)" -ge $(( $(field orphans) - 5 )) ]
	[ "$(field zombies)" -ge 50 ]
	diff <(echo "$shim") <(statuses)
}

# ---- 2. Perl ----

@test "perl PID 1: \$SIG{CHLD} waitpid(-1, WNOHANG) loop, system() and backticks: exact statuses under an orphan leak" {
	command -v perl >/dev/null || skip "no perl"
	run --separate-stderr as_pid1 perl "$I/sigchld.pl" 200 100
	echo "$output" | grep -v '^statuses:'; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	[ "$(field own)" = 200 ]
	zeros wrong dup missing
	[ "$(field sys)" = 100 ]
	[ "$(field sys_wrong)" = 0 ]
	# bt_by_handler counts the commands whose status Perl's own handler took first (perl's
	# race, see sigchld.pl); their status must still be exactly the one expected.
	[ "$(field bt)" = 100 ]
	[ "$(field bt_wrong)" = 0 ]
	[ "$(field leaker)" = $((77 << 8)) ]
	[ "$(field handler_calls)" -gt 0 ]
	[ "$(field orphans)" -ge 300 ]
	[ "$(field final_orphans)" = 50 ]
	[ "$(field zombies)" = 0 ]
	[ -z "$stderr" ]
	shim=$(statuses)

	run --separate-stderr bare_pid1 perl "$I/sigchld.pl" 200 100
	echo "without the shim:"; echo "$output" | grep -v '^statuses:'
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	zeros wrong dup missing sys_wrong bt_wrong
	[ "$(field zombies)" -ge 50 ]
	diff <(echo "$shim") <(statuses)
}

# ---- 3. bash ----

# bash_sane: $stderr has nothing but bash's reports of its killed jobs. chld.bash keeps clear of
# a race of bash's own (its header says which); if that race were hit anyway, bash says so
# with a warning from run_pending_traps, a syntax error, or a malloc abort.
bash_sane() {
	[ -z "$(grep -v 'Killed\|Terminated\|User defined signal 1' <<<"$stderr")" ]
}

@test "bash PID 1: trap CHLD and wait \$! give exact statuses while orphans are reaped, with and without set -m" {
	for mode in m plain; do
		run --separate-stderr as_pid1 bash "$I/chld.bash" $mode 5
		echo "$mode: $output" | grep -v '^statuses:'; echo "$stderr"
		[ "$status" -eq 0 ]
		bash_sane
		res=$(grep -m1 '^jobs=' <<<"$output")
		[ "$(field jobs)" = 160 ]
		[ "$(field bad)" = 0 ]
		# The trap ran: with job control bash runs it once per child reaped, so at least once
		# per own child (bash 5.2 does so without job control too; older ones need not).
		[ "$(field traps)" -gt 0 ]
		[ $mode = plain ] || [ "$(field traps)" -ge "$(field jobs)" ]
		[ "$(field orphans)" = 290 ]
		[ "$(field zombies)" = 0 ]
		[ "$(field flags | grep -c m)" = "$([ $mode = m ] && echo 1 || echo 0)" ]
		# The kernel holds the shim's handler for INT and TERM (bash leaves both at SIG_DFL),
		# bash's own for CHLD; QUIT bash ignores (SigIgn 0x4), so the shim leaves it.
		(( (0x$(field sigcgt) & 0x14002) == 0x14002 ))
		shim=$(statuses)

		run --separate-stderr bare_pid1 bash "$I/chld.bash" $mode 5
		echo "$mode without the shim: $output" | grep -v '^statuses:'; echo "$stderr"
		[ "$status" -eq 0 ]
		bash_sane
		res=$(grep -m1 '^jobs=' <<<"$output")
		[ "$(field bad)" = 0 ]
		[ $mode = plain ] || [ "$(field traps)" -ge "$(field jobs)" ]
		# Non-interactive bash catches SIGCHLD only: TERM and INT are SIG_DFL, which the
		# kernel drops before they reach a namespace's init.
		[ "$(field sigcgt)" = 0000000000010000 ]
		diff <(echo "$shim") <(statuses)
	done
}

# signal_pid1 SIG MODE [VAR=value ...]: runs tests/helpers/interp/term.bash MODE as PID 1 (with
# the shim when LD_PRELOAD is among the VARs) and, once it and its reporter child are ready and
# bash is blocked in its `wait` (in wait4), sends SIG from outside the namespace, as a runtime
# does (PID 1 is the one child of the unshare process). Sets $output (stdout and stderr),
# $wait_cgt (PID 1's SigCgt during the wait), $status (PID 1's exit status, or "alive" if it
# still runs 1 s after the signal; it is then killed) and $ms (from the signal until PID 1 is
# gone).
signal_pid1() {
	local sig=$1 mode=$2 out=$BATS_TEST_TMPDIR/out u p1 i nr k v
	shift 2
	case $(uname -m) in x86_64) nr=61 ;; aarch64) nr=260 ;; *) nr="" ;; esac # wait4
	pid1_in_background "$out" "$@" bash "$I/term.bash" "$mode"
	wait_for 10000 ready_lines "$out" 2 # "ready" and "reporter ready"
	for i in $(seq 500); do
		[ -z "$nr" ] || [ "$(cut -d' ' -f1 /proc/$p1/syscall)" = "$nr" ] && break
		sleep 0.01
	done
	while read -r k v; do [ "$k" = SigCgt: ] && wait_cgt=$v; done </proc/$p1/status
	signal_and_await "$sig" "$p1" "$u"
	output=$(cat "$out")
	echo "status=$status ms=$ms wait_cgt=$wait_cgt"; echo "$output"
}

# sig_bit FIELD PROCESS SIGNAL: 1 if SIGNAL's bit is set in FIELD (SigCgt, SigIgn) of the line
# "PROCESS SigCgt=... SigIgn=..." that term.bash printed, else 0.
sig_bit() {
	local hex
	hex=$(grep -m1 "^$2 " <<<"$output" | grep -o "$1=[0-9a-f]*" | cut -d= -f2)
	[ -n "$hex" ] || { echo "no $1 for $2" >&2; return 1; }
	echo $(( (0x$hex >> ($3 - 1)) & 1 ))
}

@test "bash PID 1 with trap TERM: SIGTERM from outside runs the trap, exit 42; the shim forwards nothing" {
	signal_pid1 TERM trap LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" -eq 42 ]
	[ "$(count 'got TERM')" -eq 2 ]   # "got TERM" and "reporter got TERM"
	grep -qx "got TERM" <<<"$output"
	[ "$(sig_bit SigCgt pid1 15)" = 1 ]  # bash's own handler: the shim leaves it in place
	[ "$(count 'wait returned')" -eq 0 ]
	# Nothing forwarded when the signal came: the one forward is the shim's at exit (bash's
	# `exit 42` with children alive, which the kernel would SIGKILL), after the trap ran.
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(line 'got TERM')" -lt "$(line 'exiting with children alive')" ]
	[ "$(line 'exiting with children alive')" -lt "$(line 'forwarded SIGTERM to 2 children')" ]
	[ "$(line 'got TERM')" -lt "$(line 'reporter got TERM')" ]

	# Without the shim: the same trap and status; the children are SIGKILLed with the
	# namespace, so the reporter never sees a TERM.
	signal_pid1 TERM trap
	[ "$status" -eq 42 ]
	grep -qx "got TERM" <<<"$output"
	[ "$(sig_bit SigCgt pid1 15)" = 1 ]
	[ "$(count 'reporter got TERM')" -eq 0 ]
}

@test "bash PID 1 without a TERM trap: SIGTERM from outside reaches the children, exit 143 within 1 s" {
	signal_pid1 TERM default LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	[ "$(sig_bit SigCgt pid1 15)" = 1 ]  # the shim's handler stands in for bash's SIG_DFL
	# The background jobs: INT and QUIT ignored (bash's doing for a non-interactive shell),
	# TERM at SIG_DFL, so the forwarded TERM ends the sleep.
	[ "$(sig_bit SigIgn sleep 2)$(sig_bit SigIgn sleep 3)$(sig_bit SigIgn sleep 15)" = 110 ]
	[ "$(count 'wait returned')" -eq 0 ]
	# Forwarded to both children (the sleep and the reporter), once; the reporter saw it;
	# PID 1 left only once no child was alive, well before the grace, so the sleep, which
	# nothing else ends, died of it too.
	[ "$(count 'forwarded SIGTERM to 2 children')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(count "SIGTERM with no handler of the app's: no child left to wait for, exiting with 143")" -eq 1 ]
}

@test "control: without the shim the same bash PID 1 ignores SIGTERM and keeps running" {
	signal_pid1 TERM default
	[ "$status" = alive ]
	[ "$(sig_bit SigCgt pid1 15)" = 0 ]  # SIG_DFL: the kernel drops it before it reaches init
	(( (0x$wait_cgt & 0x4000) == 0 ))  # also while bash waits
	[ "$(count 'reporter got TERM')" -eq 0 ]
}

@test "bash PID 1 in wait, SIGINT from outside: bash's own handler takes it and re-raises it to die of it; the shim ends PID 1 with 130, as a normal bash ends" {
	# While `wait` blocks, bash catches SIGINT itself (wait_sigint_handler: SigCgt bit 1, seen
	# without the shim; with it the bit is set either way, the shim standing in for SIG_DFL
	# otherwise). Not trapped, bash puts SIG_DFL back and sends SIGINT to itself, to die of it
	# as a normal process would. An init's own SIG_DFL signal is dropped by the kernel, so
	# without the shim bash waits on; with it, that re-raise is the app ending itself: its
	# children get SIGTERM (they ignore SIGINT, as background jobs of a non-interactive shell),
	# and PID 1 exits 130.
	signal_pid1 INT default LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" = 130 ]
	[ "$ms" -lt 1000 ]
	[ "$(count 'the app sent itself SIGINT, at the default action: it ends by it')" -eq 1 ]
	[ "$(count 'forwarded SIGINT')" -eq 0 ]
	[ "$(count 'forwarded SIGTERM to 2 children')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	signal_pid1 INT default
	[ "$status" = alive ]
	(( 0x$wait_cgt & 0x2 ))
	[ "$(count 'reporter got')" -eq 0 ]
}

# ---- 4. Stopped and continued children ----

@test "stop and continue reports (waitpid WUNTRACED/WCONTINUED, waitid WSTOPPED/WCONTINUED) as PID 1: same as without the shim" {
	run --separate-stderr as_pid1 "$H/stopcont" 40
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(head -1 <<<"$output")
	[ "$(field bad)" = 0 ]
	[ "$(field checked)" -ge 370 ]
	res=$(sed -n 2p <<<"$output")
	[ "$(field zombies)" = 0 ]
	[ -z "$stderr" ]
	res=$(head -1 <<<"$output")
	run --separate-stderr bare_pid1 "$H/stopcont" 40
	echo "without the shim: $output"
	[ "$status" -eq 0 ]
	[ "$(head -1 <<<"$output")" = "$res" ]
}

@test "a zombie the shim took as forgotten: stop/continue waits get ECHILD as for the zombie, the exit exactly once" {
	run --separate-stderr as_pid1 ZREAP_FORGOTTEN_MS=5 ZREAP_LOG=info "$H/stopcont" 10 late
	echo "$output"; echo "$stderr" | grep -v 'reaped orphan'
	[ "$status" -eq 0 ]
	res=$(head -1 <<<"$output")
	[ "$(field bad)" = 0 ]
	# the stash path really was taken, for each of the 10 children
	[ "$(grep -c 'collected own child .* (stopcont)' <<<"$stderr")" -eq 10 ]
	run --separate-stderr bare_pid1 "$H/stopcont" 10 late
	echo "without the shim: $output"
	[ "$status" -eq 0 ]
	[ "$(head -1 <<<"$output")" = "$res" ]
}

# ---- 5. SIGCHLD handler swaps ----

@test "100,000 raised SIGCHLDs while another thread swaps the handler: each runs exactly one handler" {
	run --separate-stderr as_pid1 ZREAP_LOG=info "$H/sigswap" 100000 CHLD
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"active as PID 1"* ]]
	[ "$output" = "raised=100000 handled=100000 foreign=0" ]
	run --separate-stderr bare_pid1 "$H/sigswap" 100000 CHLD
	echo "without the shim: $output"
	[ "$output" = "raised=100000 handled=100000 foreign=0" ]
}

@test "the SIGCHLD swaps under AddressSanitizer and UndefinedBehaviorSanitizer" {
	cc -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
		-o "$BATS_TEST_TMPDIR/sigswap-asan" "$ROOT/tests/helpers/sigswap.c" -lpthread
	run --separate-stderr as_pid1 ASAN_OPTIONS=verify_asan_link_order=0 ZREAP_LOG=info \
		"$BATS_TEST_TMPDIR/sigswap-asan" 100000 CHLD
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"active as PID 1"* ]]
	[ "$output" = "raised=100000 handled=100000 foreign=0" ]
}
