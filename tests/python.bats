#!/usr/bin/env bats
# python.bats: CPython 3 (Debian's /usr/bin/python3) as PID 1, for what interp.bats,
# ownership.bats (tests/helpers/pysub.py: subprocess.*, os.system, os.fork, os.posix_spawn)
# and container.bats do not cover:
#  - multiprocessing with the "fork", "spawn" and "forkserver" start methods (Process exit
#    codes, Pool.map results) and os.popen().close() under an orphan leak: the same results
#    with the shim as without, and no zombie left with it where Python leaves every orphan;
#  - `python3 -m http.server --cgi` serving CGI requests whose scripts leave orphans behind;
#  - SIGTERM and SIGINT sent from outside to a Python PID 1 that installs no handler.
# Every run with the shim is set against the same run without it.
# Programs: tests/helpers/python/*.

load common

P="$BATS_TEST_DIRNAME/helpers/python"
PY=/usr/bin/python3

setup_file() {
	export BATS_TEST_TIMEOUT=60
}

setup() {
	u="" p1="" left_pid1=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	# Debian's python3, not a version manager's shim script in front of it.
	[ -x "$PY" ] || skip "no /usr/bin/python3 (Debian's python3): scripts/install-deps test installs it"
}

teardown() {
	if [ -n "$u" ]; then
		kill -CONT "$u" 2>/dev/null || true
		[ -n "${left_pid1:-}" ] || { read -r left_pid1 _ </proc/$u/task/$u/children; } 2>/dev/null || true
	fi
	pid1_cleanup
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# stat_of PID: "COMM STATE PPID EXIT_CODE" from /proc/PID/stat (EXIT_CODE: field 52, the
# status as waitpid would report it, for a zombie).
stat_of() {
	local line rest f
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${line##*) }
	read -ra f <<<"$rest"
	line=${line#*(}
	echo "${line%)*} ${f[0]} ${f[1]} ${f[49]}"
}

is_zombie() { local s; s=$(stat_of "$1") && [ "$(cut -d' ' -f2 <<<"$s")" = Z ]; }

# kids PID: the children of PID, one per line.
kids() {
	cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# kid_states PID: "COMM STATE" of each child of PID.
kid_states() {
	local c
	for c in $(kids "$1"); do stat_of "$c" | cut -d' ' -f1,2 || true; done
}
no_sleep_alive() { ! kid_states "$1" | grep -q '^sleep [^Z]'; }
zombies_of() { kid_states "$1" | grep -c ' Z$' || true; }
no_zombie() { [ "$(zombies_of "$1")" = 0 ]; }

# ---- 1. multiprocessing and os.popen ----

@test "python PID 1: multiprocessing fork/spawn/forkserver exit codes, Pool.map and os.popen close() exact under an orphan leak; no zombie left" {
	run --separate-stderr as_pid1 "$PY" "$P/mp.py" 300
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	[ "$(field own)" = 41 ]              # 3 x (11 Process cases + 1 Pool) + 5 os.popen
	[ "$(field wrong)" = 0 ]
	[ "$(field leaks)" -ge 300 ]         # the leak really ran: one orphan each
	[ "$(field zombies)" = 0 ]
	[ "$(grep -c '^wrong:' <<<"$output")" = 0 ]
	shim=$(statuses)
	# every case was there, with its exact exit code, by every start method
	for m in fork spawn forkserver; do
		for c in return=0 exit0=0 exit3=3 exit255=255 exit_text=1 raise=1 _exit7=7 _exit42=42 \
			SIGKILL=-9 SIGTERM=-15 SIGUSR1=-10; do
			grep -qF " $m:$c " <<<"$shim"
		done
		grep -qF " pool:$m=ok" <<<"$shim"
	done
	# os.popen(...).close(): None for 0, the code << 8, -signal << 8
	grep -qF ' popen:exit_0=None popen:exit_3=768 popen:exit_200=51200 popen:kill_-KILL_$$=-2304 popen:kill_-TERM_$$=-3840' <<<"$shim"

	# Without the shim: the same statuses, and every orphan stays a zombie (Python waits for
	# its own pids only).
	run --separate-stderr bare_pid1 "$PY" "$P/mp.py" 300
	echo "without the shim:"; echo "$output" | grep -v '^statuses:'
	[ "$status" -eq 0 ]
	res=$(grep -m1 '^own=' <<<"$output")
	[ "$(field own)" = 41 ]
	[ "$(field wrong)" = 0 ]
	[ "$(field leaks)" -ge 300 ]
	[ "$(field zombies)" -eq "$(field leaks)" ]
	diff <(echo "$shim") <(statuses)
}

@test "python PID 1 that used multiprocessing 'spawn' or 'forkserver' exits within 1 s of its end, as without the shim" {
	# Both start multiprocessing's resource tracker, a child of PID 1 that ignores SIGTERM and
	# SIGINT and ends when it reads EOF on a pipe that PID 1 holds until it is gone.
	local m out=$BATS_TEST_TMPDIR/out t0 ms
	for m in spawn forkserver; do
		for shim in 1 0; do
			if [ "$shim" = 1 ]; then
				pid1_in_background "$out" LD_PRELOAD="$LIB" ZREAP_LOG=info "$PY" "$P/spawned.py" "$m"
			else
				pid1_in_background "$out" "$PY" "$P/spawned.py" "$m"
			fi
			wait_for 10000 grep -qx 'joined 0' "$out"
			t0=$(now_us)
			wait_for 1000 pid1_gone "$p1" && status=0 || status=alive
			ms=$(( ($(now_us) - t0) / 1000 ))
			if [ "$status" = alive ]; then
				kill -9 "$p1"
				wait "$u" || true
			else
				wait "$u" && status=0 || status=$?
			fi
			echo "$m shim=$shim: status=$status, $ms ms after 'joined'"; cat "$out"
			[ "$status" = 0 ]
			[ "$ms" -lt 1000 ]
		done
	done
}

# ---- 2. http.server --cgi ----

listening() { ss -Htln "sport = :$1" | grep -qF "127.0.0.1:$1"; }

# serve [VAR=value ...]: `python3 -m http.server --cgi` as PID 1 on 127.0.0.1 serving
# tests/helpers/python/www, 100 requests to cgi-bin/leak.sh from outside the namespace (4 curls
# of 25 at once), each must be answered 200 "hello i=N". Then waits until no orphan is alive
# (and, when ZREAP_WAIT_REAP=1, until no zombie is left, 5 s at most) and sets $zombies to the
# number of zombie children of PID 1. Leaves PID 1 running ($u, $p1, $port, $out).
serve() {
	local k i cs=()
	port=$(free_port)
	out=$BATS_TEST_TMPDIR/server
	pid1_in_background "$out" PYTHONUNBUFFERED=1 "$@" "$PY" -m http.server --cgi --bind 127.0.0.1 \
		--directory "$P/www" "$port"
	wait_for 10000 listening "$port"
	for k in 0 1 2 3; do
		curl -sS --max-time 20 -w 'code=%{http_code}\n' \
			"http://127.0.0.1:$port/cgi-bin/leak.sh?i=[$((k * 25 + 1))-$((k * 25 + 25))]" \
			>"$BATS_TEST_TMPDIR/curl$k" 2>&1 &
		cs+=($!)
	done
	for k in "${cs[@]}"; do wait "$k"; done
	cat "$BATS_TEST_TMPDIR"/curl{0,1,2,3} >"$BATS_TEST_TMPDIR/got"
	for i in $(seq 100); do printf 'hello i=%d\ncode=200\n' "$i"; done >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	[ "$(grep -c '"GET /cgi-bin/leak.sh?i=[0-9]* HTTP/1.1" 200 -' "$out")" = 100 ]
	wait_for 5000 no_sleep_alive "$p1"
	[ "${ZREAP_WAIT_REAP:-0}" = 0 ] || wait_for 5000 no_zombie "$p1" || true
	zombies=$(zombies_of "$p1")
	echo "zombies=$zombies"
}

@test "python3 -m http.server --cgi PID 1: 100 CGI requests leaving orphans all answered 200; no zombie left with the shim, 100 without" {
	command -v curl >/dev/null || skip "no curl"
	local c
	ZREAP_WAIT_REAP=1 serve LD_PRELOAD="$LIB"
	[ "$zombies" = 0 ]
	# docker stop: http.server has no SIGTERM handler; the shim ends it with 143
	kill -TERM "$p1"
	wait_for 1000 pid1_gone "$p1"
	wait "$u" && status=0 || status=$?
	[ "$status" = 143 ]

	# Without the shim: the same answers, and every orphan stays a zombie: the CGI handler
	# waits for its script's pid only (os.waitpid(pid, 0)), and ThreadingHTTPServer for none.
	serve
	[ "$zombies" = 100 ]
	for c in $(kids "$p1"); do
		if [ "$(stat_of "$c" | cut -d' ' -f2)" = Z ]; then
			[ "$(stat_of "$c" | cut -d' ' -f1)" = sleep ]
		fi
	done
	# SIGINT: Python's KeyboardInterrupt, which http.server catches to exit 0
	kill -INT "$p1"
	wait_for 2000 pid1_gone "$p1"
	wait "$u" && status=0 || status=$?
	[ "$status" = 0 ]
	grep -q 'Keyboard interrupt received, exiting' "$out"
}

# ---- 3. SIGTERM and SIGINT from outside ----

# sig_pid1 SIG [VAR=value ...]: runs tests/helpers/python/term.py as PID 1 and, once it says
# ready, stops the unshare process (so that PID 1 stays a zombie with its exit status readable)
# and sends SIG from outside the namespace. Sets $output (stdout and stderr), $status (PID 1's
# status as waitpid reports it, "exit N" or "signal N", or "alive" if it still runs 1 s after
# the signal; it is then killed), $rc (the unshare's exit code) and $ms (from the signal until
# PID 1 is a zombie).
sig_pid1() {
	local sig=$1 out=$BATS_TEST_TMPDIR/out t0 ws
	shift
	pid1_in_background "$out" "$@" "$PY" "$P/term.py"
	wait_for 10000 grep -qx ready "$out"
	kill -STOP "$u"
	t0=$(now_us)
	kill -"$sig" "$p1"
	if wait_for 1000 is_zombie "$p1"; then
		ms=$(( ($(now_us) - t0) / 1000 ))
		ws=$(stat_of "$p1" | cut -d' ' -f4)
		if (( ws & 0x7f )); then status="signal $(( ws & 0x7f ))"; else status="exit $(( ws >> 8 ))"; fi
		kill -CONT "$u"
		wait "$u" && rc=0 || rc=$?
	else
		ms=$(( ($(now_us) - t0) / 1000 ))
		status=alive
		kill -9 "$p1"
		kill -CONT "$u"
		wait "$u" || true
		rc=""
	fi
	output=$(cat "$out")
	echo "status=$status rc=$rc ms=$ms"; echo "$output"
}

@test "python PID 1 without a SIGTERM handler: SIGTERM from outside reaches the children, exit 143 within 1 s" {
	sig_pid1 TERM LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" = "exit 143" ]
	[ "$rc" = 143 ]
	[ "$ms" -lt 1000 ]
	# the two sleeps and the reporter; the reporter saw it; PID 1 left as soon as no child was
	# alive, well before the 5 s grace, so the sleeps, which nothing else ends, died of it too
	[ "$(count 'forwarded SIGTERM to 3 children')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(count 'SIGTERM with no handler of the app'"'"'s: no child left to wait for, exiting with 143')" -eq 1 ]
	[ "$(count 'children all ended')" -eq 0 ]
}

@test "control: without the shim the same python PID 1 ignores SIGTERM and keeps running" {
	sig_pid1 TERM
	[ "$status" = alive ]
	# Python leaves SIGTERM at SIG_DFL (SigCgt bit 15 clear), so the kernel drops it for an
	# init; its SIGINT handler is there (bit 2)
	local cgt
	cgt=$(grep -m1 -o 'SigCgt=[0-9a-f]*' <<<"$output" | cut -d= -f2)
	[ -n "$cgt" ]
	(( (0x$cgt & 0x4000) == 0 ))
	(( 0x$cgt & 0x2 ))
	[ "$(count 'reporter got TERM')" -eq 0 ]
}

@test "python PID 1, SIGINT from outside: KeyboardInterrupt, then Python's self-sent SIGINT ends it with 130 after SIGTERM to the children" {
	# Python's handler raises KeyboardInterrupt in p.wait(); uncaught, Python finalizes, resets
	# SIGINT to SIG_DFL and kills itself with it, to die of it (3.8+). The shim takes that as
	# the app ending itself: SIGTERM to the children first, as at an exit, then 130.
	sig_pid1 INT LD_PRELOAD="$LIB" ZREAP_LOG=info
	[ "$status" = "exit 130" ]
	[ "$rc" = 130 ]
	[ "$ms" -lt 1000 ]
	[ "$(count 'KeyboardInterrupt')" -eq 1 ]
	[ "$(count 'the app sent itself SIGINT, at the default action: it ends by it')" -eq 1 ]
	[ "$(count 'forwarded SIGTERM to 3 children')" -eq 1 ]
	[ "$(count 'forwarded SIG')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 1 ]
	[ "$(count 'exiting with 130, as the default action of SIGINT would')" -eq 1 ]

	# Without the shim: the same KeyboardInterrupt and the same 130, but by exit(130), Python's
	# fallback once the kernel has dropped its self-sent SIGINT (an init's SIG_DFL signal from
	# inside); the children get no TERM (the kernel SIGKILLs them with the namespace).
	sig_pid1 INT
	[ "$status" = "exit 130" ]
	[ "$rc" = 130 ]
	[ "$(count 'KeyboardInterrupt')" -eq 1 ]
	[ "$(count 'reporter got TERM')" -eq 0 ]
}
