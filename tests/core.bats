#!/usr/bin/env bats
# core.bats: what the shim is for, and what it must never do.
#   - PID 1 of a PID namespace leaks orphans: none stay zombies (and without the shim they do)
#   - exec chains as PID 1 leave no sentinel of an earlier image behind
#   - no EINTR the app would not have had without the shim
#   - inert outside PID 1 (no thread, no handler, no mask); a forked child is inert too
#   - ZREAP_SUBREAPER=1 outside a namespace; kept across exec, never inherited
#   - ZREAP_DISABLE=1; bad values of every variable are never fatal
#   - vfork; an orphan adopted while PID 1 has no child of its own; the info log
#   - a PID 1 busy with its own children: the reaper naps, orphans are still reaped
# Helper programs are tests/helpers/*.c (built by `make helpers` into build/tests/).
load common
bats_require_minimum_version 1.5.0

setup_file() {
	# vforker at other optimisation levels than `make helpers` uses (-O1).
	for o in O0 O2; do
		gcc -std=gnu11 -"$o" -g -Wall -Wextra -Werror -D_GNU_SOURCE \
			-o "$H/vforker-$o" "$ROOT/tests/helpers/vforker.c" -lpthread
	done
	# census linked statically: an app the shim cannot be loaded into (LD_PRELOAD is ignored)
	rm -f "$H/census-static"
	gcc -static -std=gnu11 -O1 -D_GNU_SOURCE -o "$H/census-static" \
		"$ROOT/tests/helpers/census.c" -lpthread 2>/dev/null || true
}

# ---- helpers ----

# val NAME TEXT: the value of the first NAME=value in TEXT (a value ends at a space).
val() { grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

# wait_for SECONDS CMD...: polls CMD until it succeeds; fails after SECONDS.
# find_ns_init PID: PID or a descendant of it that is PID 1 of a nested PID namespace.
find_ns_init() {
	local queue=("$1") p
	while [ "${#queue[@]}" -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		if awk '/^NSpid:/ { exit !(NF >= 3 && $NF == 1) }' "/proc/$p/status" 2>/dev/null; then
			echo "$p"
			return 0
		fi
		queue+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
	done
	return 1
}

# The probe's lines with the SigCgt and SigIgn bits of glibc's reserved signals 32 and 33
# cleared (make, for one, starts us with them ignored).
# glibc's first pthread_create installs its SIGSETXID (33) handler, so any process with a
# second thread shows it; no app can see or change those two (sigaction gives EINVAL).
app_visible() {
	local line
	while IFS= read -r line; do
		if [[ $line =~ ^(.*Sig(Cgt|Ign):[[:space:]]+)([0-9a-f]+)$ ]]; then
			printf '%s%016x\n' "${BASH_REMATCH[1]}" $((0x${BASH_REMATCH[3]} & ~0x180000000))
		else
			printf '%s\n' "$line"
		fi
	done <<<"$1"
}

# check_calls MS: every line of the eintr helper's four calls shows no EINTR and MS elapsed.
check_calls() {
	local c line
	for c in nanosleep poll select epoll_wait; do
		line=$(grep "^$c " <<<"$output")
		echo "checking: $line"
		[ "$(val eintr "$line")" = 0 ]
		[ "$(val elapsed "$line")" -ge $(($1 - 5)) ]
		[ "$(val ret "$line")" = 0 ]
	done
}

# reaper_switched_rarely: in busyspawn's $output, the reaper thread switched out at most once
# per 25 ms of the loop, and 8 more (a look may switch more than once: a spawn in flight,
# an own zombie at the head); a reaper looking every 10 ms fails it on a machine of any speed.
reaper_switched_rarely() {
	local wakes
	wakes=$(val wakes "$output")
	[ "$wakes" -ge 0 ]    # -1: no reaper thread
	[ $((wakes * 25)) -le $(($(val loop_ms "$output") + 200)) ]
}

# check_eintr_seen: every one of the four calls was cut short at least once.
check_eintr_seen() {
	local c line
	for c in nanosleep poll select epoll_wait; do
		line=$(grep "^$c " <<<"$output")
		echo "checking: $line"
		[ "$(val eintr "$line")" -ge 1 ]
	done
}

# ---- 1. PID 1 leaking orphans ----

@test "PID 1 leaking 2000 orphans leaves no zombie with the shim" {
	run --separate-stderr as_pid1 "$H/leaker" 2000
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
	[ -z "$stderr" ]
}

@test "PID 1 leaking 2000 orphans without the shim leaves them zombies" {
	run --separate-stderr bare_pid1 "$H/leaker" 2000
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(val zombies "$output")" -ge 1900 ]
}

@test "an exec chain from sh as PID 1 reaps too" {
	run --separate-stderr as_pid1 sh -c "exec '$H/leaker' 500"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
}

@test "exec chains as PID 1 (sh, env, env, env, app) end with exactly one sentinel" {
	# Each image that loads the shim starts a reaper and a sentinel; when it execs, its
	# sentinel must die with it (and the next image reaps it). Repeated: a race.
	for round in $(seq 15); do
		run --separate-stderr as_pid1 sh -c "exec env env env '$H/census' 100"
		echo "run $round:"; echo "$output"; echo "stderr: $stderr"
		[ "$status" -eq 0 ]
		[ "$(tail -1 <<<"$output")" = "sentinels=1 live=0 zombies=0" ]
	done
}

@test "an exec from PID 1 with an own child uncollected is not held up ending the sentinel" {
	# The reaper then waits for the app to collect that child, not in waitid: the exec must not
	# leave the sentinel's zombie to it (it took 100 ms, the fallback, in review).
	run --separate-stderr as_pid1 /usr/bin/python3 -c '
import os, time
if os.fork() == 0:
    os._exit(0)
time.sleep(0.4)
print(time.time_ns(), flush=True)
os.execv("/bin/date", ["date", "+%s%N"])
'
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	ms=$(( (lines[1] - lines[0]) / 1000000 ))
	echo "exec took $ms ms"
	[ "$ms" -lt 50 ]
}

@test "PID 1 sh exec'ing an app that cannot load the shim leaves that app no child" {
	[ -x "$H/census-static" ] || skip "no static glibc to link census-static"
	run --separate-stderr bare_pid1 sh -c "exec '$H/census-static' 100"
	echo "without the shim:"; echo "$output"
	[ "$output" = "sentinels=0 live=0 zombies=0" ]
	# The sentinel of sh must not be left behind, alive or as a zombie that the app's
	# waits (without __WALL) cannot even see. Repeated: a race.
	for round in $(seq 10); do
		run --separate-stderr as_pid1 sh -c "exec '$H/census-static' 100"
		echo "run $round:"; echo "$output"; echo "stderr: $stderr"
		[ "$status" -eq 0 ]
		[ "$output" = "sentinels=0 live=0 zombies=0" ]
	done
}

# ---- 2. no new EINTR ----

@test "no EINTR in nanosleep, poll, select, epoll_wait of a PID 1 with SIGCHLD SIG_DFL" {
	run --separate-stderr as_pid1 "$H/eintr" dfl 1500
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	check_calls 1500
	# ~200 own children came and went during the calls, and their orphans were reaped as
	# they died (not merely at the end).
	line=$(grep '^children=' <<<"$output")
	[ "$(val during "$line")" -ge 150 ]
	[ "$(val zombies_during "$line")" -le 20 ]
	[ "$(val zombies "$output")" = 0 ]
	[ -z "$stderr" ]
}

@test "control: the same run without the shim (no EINTR; orphans pile up)" {
	run --separate-stderr bare_pid1 "$H/eintr" dfl 400
	echo "$output"
	[ "$status" -eq 0 ]
	check_calls 400
	line=$(grep '^children=' <<<"$output")
	[ "$(val zombies_during "$line")" -ge 100 ]
}

@test "control: the test sees EINTR when the app has a SIGCHLD handler, with the shim" {
	run --separate-stderr as_pid1 "$H/eintr" handler 400
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	check_eintr_seen
	[ "$(val sigchld "$output")" -ge 100 ]
	[ "$(val zombies "$output")" = 0 ]
}

@test "control: the test sees EINTR when the app has a SIGCHLD handler, without the shim" {
	run --separate-stderr bare_pid1 "$H/eintr" handler 400
	echo "$output"
	[ "$status" -eq 0 ]
	check_eintr_seen
	[ "$(val sigchld "$output")" -ge 100 ]
}

@test "no EINTR either once PID 1's main thread has called pthread_exit" {
	# Without the shim: no EINTR (checked here first, so a failure below is the shim's).
	run --separate-stderr bare_pid1 "$H/eintr" dfl 400 mainexit
	echo "without the shim:"; echo "$output"
	[ "$status" -eq 0 ]
	check_calls 400
	run --separate-stderr as_pid1 "$H/eintr" dfl 400 mainexit
	echo "with the shim:"; echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val zombies "$output")" = 0 ]
	check_calls 400
}

@test "no EINTR after pthread_exit in main either when the app waits with __WALL (no sentinel)" {
	run --separate-stderr as_pid1 ZREAP_LOG=debug "$H/eintr" dfl 400 mainexit wall
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[[ $stderr == *"no sentinel from now on"* ]]
	[[ $stderr == *"handing the reaper over"* ]]
	[ "$(val zombies "$output")" = 0 ]
	check_calls 400
}

# ---- 3. inert when not PID 1; nothing visible changed when active ----

@test "not PID 1: the shim leaves threads, handlers and masks alone, in parent and child" {
	run --separate-stderr "$H/probe" fork
	[ "$status" -eq 0 ]
	base=$output
	run --separate-stderr env LD_PRELOAD="$LIB" "$H/probe" fork
	echo "without:"; echo "$base"; echo "with:"; echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$base" ]
	[ -z "$stderr" ]
	grep -qx $'Threads:\t1' <<<"$output"
	grep -qx $'child Threads:\t1' <<<"$output"
}

@test "PID 1: one reaper thread, and the app's handlers and masks as without the shim" {
	# With no signal to forward: the forwarded ones carry the shim's handler in the kernel's
	# eyes, and what the app sees of them is tested in signals.bats.
	run --separate-stderr bare_pid1 "$H/probe"
	[ "$status" -eq 0 ]
	base=$output
	run --separate-stderr as_pid1 ZREAP_FORWARD_SIGNALS= "$H/probe"
	echo "without:"; echo "$base"; echo "with:"; echo "$output"
	[ "$status" -eq 0 ]
	grep -qx $'Threads:\t1' <<<"$base"
	grep -qx $'Threads:\t2' <<<"$output"
	[ "$(app_visible "$(grep -v Threads <<<"$output")")" = "$(app_visible "$(grep -v Threads <<<"$base")")" ]
	# SigBlk exactly; SigCgt and SigIgn but for glibc's reserved signals (see app_visible)
	[ "$(grep -E 'SigBlk' <<<"$output")" = "$(grep -E 'SigBlk' <<<"$base")" ]
}

@test "PID 1: a forked child has one thread and the handlers and masks of no shim" {
	run --separate-stderr bare_pid1 "$H/probe" fork
	[ "$status" -eq 0 ]
	base=$(grep '^child ' <<<"$output")
	run --separate-stderr as_pid1 "$H/probe" fork
	echo "without:"; echo "$base"; echo "with:"; echo "$output"
	[ "$status" -eq 0 ]
	child=$(grep '^child ' <<<"$output")
	grep -qx $'child Threads:\t1' <<<"$child"
	[ "$(app_visible "$child")" = "$(app_visible "$base")" ]
	[ "$(grep -E 'SigBlk' <<<"$child")" = "$(grep -E 'SigBlk' <<<"$base")" ]
}

# Every fork walks each mapping of the app, those it leaves out too: the shim's own memory
# (ownership table, stash, stacks) is one mapping left out of forks, its stacks' guard pages
# markers inside it (MADV_GUARD_INSTALL, Linux 6.13 on; before, each guard splits it). It was
# four to six mappings.
@test "PID 1: the shim's own memory is one mapping, left out of forks" {
	IFS=. read -r major minor _ <<<"$(uname -r)"
	[ "$major" -gt 6 ] || [ "$major" -eq 6 -a "${minor%%[!0-9]*}" -ge 13 ] ||
		skip "no MADV_GUARD_INSTALL before Linux 6.13"
	run --separate-stderr as_pid1 sh -c "grep -c '^VmFlags:.* dc' /proc/1/smaps"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	run --separate-stderr bare_pid1 sh -c "grep -c '^VmFlags:.* dc' /proc/1/smaps"
	[ "$output" = 0 ]
}

# ---- 4. subreaper mode ----

@test "ZREAP_SUBREAPER=1 without a namespace: 300 orphans reaped" {
	run --separate-stderr env ZREAP_SUBREAPER=1 LD_PRELOAD="$LIB" "$H/leaker" 300
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
	[ -z "$stderr" ]
}

@test "ZREAP_SUBREAPER=1: a subreaper itself, not its children, and it adopts and reaps" {
	run --separate-stderr env ZREAP_SUBREAPER=1 LD_PRELOAD="$LIB" "$H/subr"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val self_subreaper "$output")" = 1 ]
	[ "$(val child_subreaper "$output")" = 0 ]
	[ "$(val child_env "$output")" = "(unset)" ]
	[ "$(val adopted "$output")" = 1 ]
	[ "$(val reaped "$output")" = 1 ]
	[ "$(val zombies "$output")" = 0 ]
}

@test "control: without the shim ZREAP_SUBREAPER does nothing; a bare subreaper keeps zombies" {
	run --separate-stderr env ZREAP_SUBREAPER=1 "$H/subr"
	echo "$output"
	[ "$(val self_subreaper "$output")" = 0 ]
	[ "$(val adopted "$output")" = 0 ]
	run --separate-stderr "$H/subr" selfsub
	echo "$output"
	[ "$(val self_subreaper "$output")" = 1 ]
	[ "$(val adopted "$output")" = 1 ]
	[ "$(val reaped "$output")" = 0 ]
	[ "$(val zombies "$output")" -ge 1 ]
}

@test "ZREAP_SUBREAPER=1 survives exec: sh -c 'exec leaker' and sh -c 'exec subr'" {
	run --separate-stderr env ZREAP_SUBREAPER=1 LD_PRELOAD="$LIB" sh -c "exec '$H/leaker' 300"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
	run --separate-stderr env ZREAP_SUBREAPER=1 LD_PRELOAD="$LIB" sh -c "exec '$H/subr'"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val self_subreaper "$output")" = 1 ]
	[ "$(val child_subreaper "$output")" = 0 ]
	[ "$(val adopted "$output")" = 1 ]
	[ "$(val reaped "$output")" = 1 ]
}

@test "ZREAP_SUBREAPER=1: neither a child nor a grandchild (even one that execs) becomes one" {
	# probe as a child of the subreaper sh, and as an exec'd grandchild through a second sh
	run --separate-stderr env ZREAP_SUBREAPER=1 LD_PRELOAD="$LIB" \
		sh -c "'$H/probe'; sh -c \"exec '$H/probe'\"; true"
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^subreaper=0$' <<<"$output")" = 2 ]
	[ "$(grep -c $'^Threads:\t1$' <<<"$output")" = 2 ]
	[ -z "$stderr" ]
}

# ---- 5. ZREAP_DISABLE ----

@test "ZREAP_DISABLE=1 as PID 1: no reaper thread, zombies stay" {
	run --separate-stderr as_pid1 ZREAP_DISABLE=1 "$H/leaker" 300
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(val zombies "$output")" -ge 290 ]
	run --separate-stderr as_pid1 ZREAP_DISABLE=1 "$H/probe"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx $'Threads:\t1' <<<"$output"
}

# ---- 6. bad values ----

# one_zreap_line VAR: stderr is exactly one line, a zreap[ line naming VAR.
one_zreap_line() {
	echo "stderr: $stderr"
	[ "$(wc -l <<<"$stderr")" = 1 ]
	[[ $stderr == zreap\[* ]]
	[[ $stderr == *"$1"* ]]
}

@test "ZREAP_SUBREAPER='yes please': one line, app runs, not a subreaper" {
	run --separate-stderr env ZREAP_SUBREAPER='yes please' LD_PRELOAD="$LIB" "$H/probe"
	echo "$output"
	[ "$status" -eq 0 ]
	one_zreap_line ZREAP_SUBREAPER
	[ "$(val subreaper "$output")" = 0 ]
	grep -qx $'Threads:\t1' <<<"$output"
}

@test "a bad setting is not complained of by the inert processes, which read none" {
	# Every process in a container inherits the settings: the one line comes from PID 1 only.
	for bad in ZREAP_GRACE_MS=soon ZREAP_FORGOTTEN_MS=-5 ZREAP_FORWARD=maybe ZREAP_FORWARD_SIGNALS=KILL \
		ZREAP_LOG=loud ZREAP_DISABLE=perhaps; do
		run --separate-stderr env "$bad" LD_PRELOAD="$LIB" sh -c 'sh -c "exit 3"; exit $?'
		echo "$bad: $stderr"
		[ "$status" -eq 3 ]
		[ -z "$stderr" ]
		# PID 1, whose children inherit it too: one line in all
		run --separate-stderr as_pid1 "$bad" sh -c 'sh -c "exit 3"; exit $?'
		[ "$status" -eq 3 ]
		one_zreap_line "${bad%%=*}"
	done
}

@test "ZREAP_FORGOTTEN_MS=-5 and =99999999999: one line each, app runs, default 30000 used" {
	for v in -5 99999999999; do
		run --separate-stderr as_pid1 ZREAP_FORGOTTEN_MS="$v" "$H/leaker" 50
		echo "$v: $output"
		[ "$status" -eq 0 ]
		[ "$output" = "zombies=0" ]
		one_zreap_line ZREAP_FORGOTTEN_MS
		run --separate-stderr as_pid1 ZREAP_LOG=info ZREAP_FORGOTTEN_MS="$v" "$H/probe"
		echo "$v: $stderr"
		[ "$status" -eq 0 ]
		[[ $stderr == *"forgotten after 30000 ms"* ]]
	done
}

@test "ZREAP_LOG=loud: one line, app runs, level error (no info, errors shown)" {
	run --separate-stderr as_pid1 ZREAP_LOG=loud "$H/leaker" 50
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
	one_zreap_line ZREAP_LOG
	# errors are still shown at the default level: a second bad value gives a second line
	run --separate-stderr as_pid1 ZREAP_LOG=loud ZREAP_FORGOTTEN_MS=-5 "$H/probe"
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^zreap\[' <<<"$stderr")" = 2 ]
	[[ $stderr == *ZREAP_FORGOTTEN_MS* ]]
}

# ---- 7. vfork ----

@test "vfork 500 times, children _exit or exec: statuses intact, at -O0, -O1 and -O2" {
	for prog in "$H/vforker-O0" "$H/vforker" "$H/vforker-O2"; do
		run --separate-stderr as_pid1 "$prog" 500
		echo "PID 1, $prog: $output $stderr"
		[ "$status" -eq 0 ]
		[ "$output" = "vforks=500 ok=500 bad=0 zombies=0" ]
		run --separate-stderr env LD_PRELOAD="$LIB" "$prog" 500
		echo "not PID 1, $prog: $output $stderr"
		[ "$status" -eq 0 ]
		[ "$output" = "vforks=500 ok=500 bad=0 zombies=0" ]
	done
}

# ---- 8. an orphan adopted while PID 1 has no child of its own ----

@test "an orphan adopted when PID 1 has no own child left is reaped within 1 s" {
	run --separate-stderr as_pid1 "$H/lone" inside
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val sentinels "$output")" = 1 ]
	[ "$(val mine "$output")" = 1 ]
	[ "$(val reaped "$output")" = 1 ]
	# the orphan sleeps 300 ms after our wait began; reaped within 1 s of its exit
	[ "$(val gone_ms "$output")" -le 1300 ]
}

@test "control: without the shim that orphan stays a zombie" {
	run --separate-stderr bare_pid1 "$H/lone" inside
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(val zombie_seen "$output")" = 1 ]
	[ "$(val reaped "$output")" = 0 ]
}

# run_outside as_pid1|bare_pid1 [MODE]: lone MODE (default outside) as PID 1; once it is ready,
# a process entering its namespace from outside (nsenter) leaves it an orphan, `sleep 0.3`.
run_outside() {
	local out="$BATS_TEST_TMPDIR/out" err="$BATS_TEST_TMPDIR/err" bg p1
	"$1" ZREAP_LOG=info "$H/lone" "${2:-outside}" >"$out" 2>"$err" 3>&- &
	bg=$!
	wait_for 10000 grep -qx ready "$out"
	p1=$(find_ns_init "$bg")
	[ -n "$p1" ]
	nsenter -t "$p1" -p -- sh -c 'sleep 0.3 & exit 0'
	wait "$bg"
	output=$(cat "$out")
	stderr=$(cat "$err")
	echo "$output"; echo "stderr: $stderr"
}

# adopted_reaped MS: run_outside's orphan, a sleep, was reaped within MS of becoming a zombie.
adopted_reaped() {
	line=$(grep '^adopted=' <<<"$output")
	[ "$(val comm "$line")" = sleep ]
	[ "$(val reaped "$line")" = 1 ]
	[ "$(val latency_ms "$line")" -le "$1" ]
	[[ $stderr == *"reaped orphan $(val adopted "$line") (sleep)"* ]]
}

@test "an orphan from outside, while PID 1 has no child at all, is reaped at once" {
	run_outside as_pid1
	# only the sentinel, which the app's waits do not see
	[ "$(val sentinels "$output")" = 1 ]
	[ "$(val echild "$output")" = 1 ]
	adopted_reaped 200
}

@test "after a wait with __WALL (as strace -f makes), no sentinel; that orphan is reaped within 1 s" {
	run_outside as_pid1 outside-wall
	[ "$(val sentinels "$output")" = 1 ]
	# The sentinel is gone before the app's first wait that would see it, for good.
	[ "$(val wall_echild "$output")" = 1 ]
	[ "$(val sentinels_after "$output")" = 0 ]
	# No child at all and no sentinel: the reaper looks again once a second.
	adopted_reaped 1200
	[ "$(val echild_after "$output")" = 1 ]
	[ "$(val sentinels_end "$output")" = 0 ]
}

@test "control: without the shim the orphan from outside stays a zombie" {
	run_outside bare_pid1
	line=$(grep '^adopted=' <<<"$output")
	[ "$(val comm "$line")" = sleep ]
	[ "$(val zombie_seen "$line")" = 1 ]
	[ "$(val reaped "$line")" = 0 ]
}

# ---- 9. the info log ----

@test "ZREAP_LOG=info names the reaped orphan's pid, command and status" {
	run --separate-stderr as_pid1 ZREAP_LOG=info "$H/lone" inside
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	orphan=$(val orphan "$output")
	[ -n "$orphan" ]
	[[ $stderr == *"zreap[1]: reaped orphan $orphan (zr-orphan), which exited with status 7"* ]]
	# and at the default level, nothing
	run --separate-stderr as_pid1 "$H/lone" inside
	[ -z "$stderr" ]
}

@test "main() ending in pthread_exit as PID 1: the process still ends, status 0, atexit run" {
	# glibc ends the process when its last thread exits, and counts the reaper thread too:
	# the shim must end it instead, at once when main was the last thread, else within a
	# second of the last worker.
	for workers in 0 3; do
		start=$(date +%s%N)
		run timeout 10 unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" "$H/mainexit" "$workers"
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		echo "workers=$workers status=$status ms=$ms output=$output"
		[ "$status" -eq 0 ]
		[ "$output" = atexit ]
		[ "$ms" -lt 2500 ]
	done
}

# ---- how the app collects its children, other than by a handler ----

@test "an app that blocks SIGCHLD and reads it through a signalfd: its events and statuses, orphans reaped" {
	run --separate-stderr as_pid1 "$H/sigfd" signalfd 200
	echo "with: $output $stderr"
	[ "$status" -eq 0 ]
	[ "$(val right "$output")" -eq 200 ]
	[ "$(val echild "$output")" -eq 0 ]
	[ "$(val events "$output")" -ge 1 ]
	[ "$(val zombies "$output")" -eq 0 ]
	run --separate-stderr bare_pid1 "$H/sigfd" signalfd 200
	echo "without: $output"
	[ "$(val right "$output")" -eq 200 ]
	[ "$(val zombies "$output")" -ge 1 ]
}

@test "an app with SIGCHLD ignored: the kernel reaps its children and its waits get ECHILD, as without" {
	run --separate-stderr as_pid1 "$H/sigfd" ignore 200
	echo "with: $output $stderr"
	[ "$(val echild "$output")" -eq 200 ]
	[ "$(val zombies "$output")" -eq 0 ]
	run --separate-stderr bare_pid1 "$H/sigfd" ignore 200
	echo "without: $output"
	[ "$(val echild "$output")" -eq 200 ]
}

@test "an app with SA_NOCLDWAIT on its SIGCHLD handler: kernel-reaped children, ECHILD, handler runs" {
	run --separate-stderr as_pid1 "$H/sigfd" nocldwait 200
	echo "with: $output $stderr"
	[ "$(val echild "$output")" -eq 200 ]
	[ "$(val events "$output")" -ge 1 ]
	[ "$(val zombies "$output")" -eq 0 ]
	run --separate-stderr bare_pid1 "$H/sigfd" nocldwait 200
	echo "without: $output"
	[ "$(val echild "$output")" -eq 200 ]
}

@test "an idle PID 1: the reaper thread does not wake at all in 1.5 s" {
	run --separate-stderr as_pid1 "$H/idle" 1500
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "zreap=0" ]
}

# ---- 10. a PID 1 busy with children of its own ----

# Without deferring (shim/reaper.c), every exit of the app's own children wakes the reaper:
# 1,150 to 1,260 wakes for these 1,000 children here, 0.7 a child under heavy load. Deferring,
# it looks every 100 ms while the app spawns: 6 or 7 wakes in the 700 ms loop here (69 when it
# looked every 10 ms).
@test "a PID 1 spawning its own children in a loop: the reaper switches at most every 25 ms" {
	run --separate-stderr as_pid1 "$H/busyspawn" 1000
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val bad "$output")" = 0 ]
	reaper_switched_rarely
}

# While the reaper naps, the app's own spawns and waits look for orphans as they return: each
# of 5 orphans, adopted alive and told to exit one after the other, is gone within 1 ms here
# (the longest of the 5). Were it left to the reaper's looks, every 100 ms, the longest is
# 67-68 ms here (all 5 within 50 ms: 1 chance in 30); with looks every 10 ms (before), 4 to 7.
@test "orphans adopted while PID 1 spawns its own children in a loop are reaped at its next spawn, within 50 ms" {
	run --separate-stderr as_pid1 "$H/busyspawn" 1000 orphan
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val adopted "$output")" = 5 ]
	ms=$(val orphan_ms "$output")
	[ "$ms" -ge 0 ]
	[ "$ms" -le 50 ]
}

# An orphan storm: each of the app's children leaves a grandchild and both exit at once. The
# reaper woke about twice an orphan (3,924 times for 2,000), each time on the other CPU just as
# the app forked again; now the app's own spawns and waits reap the orphans they find, and the
# reaper looks every 100 ms meanwhile: 1 to 4 wakes in the 160 ms loop here (21 when it looked
# every 10 ms), and the loop takes about 7 s with both CPUs also running a busy loop.
@test "an orphan storm from a PID 1's own children: reaped on the app's way, the reaper switches at most every 25 ms" {
	run --separate-stderr as_pid1 "$H/busyspawn" 2000 storm
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val zombies "$output")" = 0 ]
	reaper_switched_rarely
}

@test "control: without the shim the storm's orphans stay zombies" {
	run --separate-stderr bare_pid1 "$H/busyspawn" 200 storm
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(val zombies "$output")" = 200 ]
}

@test "control: without the shim the busy PID 1's orphan stays a zombie" {
	run --separate-stderr bare_pid1 "$H/busyspawn" 200 orphan
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(val orphan_ms "$output")" = -1 ]
}

# ---- secure execution ----

@test "secure execution (setuid): the shim is loaded but reads no setting and stays inert as PID 1" {
	# glibc preloads into a setuid program only a set-user-ID library from a system directory,
	# named without a slash: install such a copy for the length of this test.
	libdir=$(dirname "$(readlink -f "$(ldconfig -p | awk '/libc.so.6 .*x86-64|libc.so.6 .*AArch64/ {print $NF; exit}')")")
	secure_lib="$libdir/libzreap-secure-test.so"
	secure_bin="$H/secure-setuid" # on a path the unprivileged user can reach
	cp "$LIB" "$secure_lib" && chmod 4755 "$secure_lib"
	cp "$H/secure" "$secure_bin" && chmod 4755 "$secure_bin"
	as_nobody() { unshare --pid --fork --mount-proc setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_PRELOAD=libzreap-secure-test.so ZREAP_LOG=debug ZREAP_SUBREAPER=1 "$@"; }
	run --separate-stderr as_nobody "$secure_bin"
	secure_out=$output secure_err=$stderr
	run --separate-stderr as_nobody "$H/secure"
	rm -f "$secure_lib" "$secure_bin"
	echo "setuid: $secure_out / stderr: $secure_err"
	echo "control: $output / stderr: $stderr"
	[ "$secure_out" = "secure=1 loaded=1 threads=1" ]
	[ -z "$secure_err" ]
	# the control: the same library by the same name, not secure, is active
	[ "$output" = "secure=0 loaded=1 threads=2" ]
	[[ "$stderr" == *"zreap[1]: libzreap "*" active as PID 1"* ]]
}
