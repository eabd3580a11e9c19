#!/usr/bin/env bats
# oldglibc.bats: build/libzreap.so (built here, on glibc 2.36) loaded into the programs of an
# old userland: Debian bullseye (glibc 2.31), made by scripts/oldroot and cached in
# build/rootfs/bullseye. Nothing is built for it: the apps are bullseye's own dash, bash and
# python3, run under chroot as PID 1 of a fresh PID namespace, with and without the shim.
#   - dash and bash link no libpthread (glibc < 2.34 keeps the thread functions there), and an
#     active shim needs none (its reaper is not a pthread) and loads none; python3 links it
#   - orphans reaped, the apps' own exit statuses intact, the info log says active
#   - inert and harmless outside PID 1 (and loads no libpthread there)
# When the root filesystem cannot be made here (no mirror, not root), every test skips and
# says why. The scripts run inside are tests/helpers-old/, copied to /opt/zreap/t.
load common
bats_require_minimum_version 1.5.0

setup_file() {
	local out rc=0
	out=$("$ROOT/scripts/oldroot" bullseye 2>"$BATS_FILE_TMPDIR/oldroot.err") || rc=$?
	if [ "$rc" -eq 3 ]; then
		export OLD_SKIP="no bullseye root filesystem: $(tail -n 1 "$BATS_FILE_TMPDIR/oldroot.err")"
		return 0
	fi
	if [ "$rc" -ne 0 ]; then
		cat "$BATS_FILE_TMPDIR/oldroot.err" >&2
		return 1
	fi
	export OLD="$out"
	[ -f "$LIB" ] || { echo "no $LIB: run make first" >&2; return 1; }
	mkdir -p "$OLD/opt/zreap/t"
	# Replaced by rename, never rewritten in place (a process of an earlier run may map it).
	cp "$LIB" "$OLD/opt/zreap/.libzreap.so.new"
	mv -f "$OLD/opt/zreap/.libzreap.so.new" "$OLD/opt/zreap/libzreap.so"
	cp "$ROOT"/tests/helpers-old/* "$OLD/opt/zreap/t/"
	# A long-lived orphan with a name of its own: sleep under another name.
	ln -sfn /bin/sleep "$OLD/opt/zreap/t/napper"
}

setup() {
	[ -z "${OLD_SKIP:-}" ] || skip "$OLD_SKIP"
}

# ---- helpers ----

# old_pid1 [VAR=value ...] CMD [ARGS]: CMD (a path inside the old root) as PID 1 of a fresh
# PID namespace, chrooted into the old root with its own /proc and a clean environment. No
# shim unless LD_PRELOAD is among the variables. Killed, with everything in the namespace, if
# it takes more than 40 s.
old_pid1() {
	timeout -k 3 40 unshare --kill-child --pid --mount-proc="$OLD/proc" \
		chroot "$OLD" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
# old_as_pid1 [VAR=value ...] CMD [ARGS]: the same with the shim preloaded.
old_as_pid1() { old_pid1 LD_PRELOAD=/opt/zreap/libzreap.so "$@"; }

# val NAME TEXT: the value of the first NAME=value in TEXT (a value ends at a space).
val() { grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

# unexpected_log: the lines of $stderr (ZREAP_LOG=info of an active PID 1) that are neither
# "active as PID 1", "reaped orphan", nor the SIGTERM a PID 1 that exits with children alive
# sends them first, with what the children do with it (stop.c): errors, among others.
unexpected_log() {
	grep -v -E '^zreap\[1\]: (libzreap [0-9.]+ \(glibc build, [a-z0-9_]+\) active as PID 1;|reaped orphan [0-9]+ \(.*\), which |the app is exiting with children alive|forwarded SIGTERM to [0-9]+ child|of the children, [0-9]+ can act on SIGTERM and [0-9]+ ignore it)' <<<"$stderr" || true
}

# check_info_log: $stderr says active first, and has no unexpected line.
check_info_log() {
	[ "$(head -n 1 <<<"$stderr")" = "zreap[1]: libzreap $(cat "$ROOT/VERSION") (glibc build, $(uname -m)) active as PID 1; own children count as forgotten after 30000 ms" ]
	[ -z "$(unexpected_log)" ]
}

# ---- the old userland itself ----

@test "old root: glibc 2.31; dash and bash link no libpthread, python3 does" {
	run chroot "$OLD" ldd --version
	echo "$output"
	[[ "$(head -n 1 <<<"$output")" == *" 2.31" ]]
	for p in /bin/dash /bin/bash /usr/bin/python3; do
		run chroot "$OLD" ldd "$p"
		echo "ldd $p:"; echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"libc.so.6 => "* ]]
		if [ "$p" = /usr/bin/python3 ]; then
			[[ "$output" == *"libpthread.so.0 => "* ]]
		else
			[[ "$output" != *libpthread* ]]
		fi
	done
}

# ---- a. dash as PID 1: the shim's thread without libpthread ----

# five_rounds_as_pid1 CHECKED KILLED CMD...: CMD as PID 1 with the shim at ZREAP_LOG=info, five
# times. Each run ends in 0 with the reaper thread running (2 threads) and no libpthread
# loaded, CHECKED statuses checked and none wrong, KILLED children killed (- for no such
# count), no zombie left, and the log as check_info_log wants it.
five_rounds_as_pid1() {
	local checked=$1 killed=$2 round
	shift 2
	for round in 1 2 3 4 5; do
		run --separate-stderr old_as_pid1 ZREAP_LOG=info "$@"
		echo "run $round:"; echo "$output"
		echo "stderr: $(grep -v 'reaped orphan' <<<"$stderr")"
		echo "orphans the shim reaped: $(grep -c 'reaped orphan' <<<"$stderr")"
		[ "$status" -eq 0 ]
		[ "$(val pthread "$output")" = no ]
		[ "$(val threads "$output")" = 2 ]
		[ "$(val checked "$output")" = "$checked" ]
		[ "$(val bad "$output")" = 0 ]
		[ "$killed" = - ] || [ "$(val killed "$output")" = "$killed" ]
		[ "$(val zombies "$output")" = 0 ]
		check_info_log
	done
}

@test "dash as PID 1 (no libpthread linked): active, loads no libpthread, reaps, statuses intact" {
	five_rounds_as_pid1 300 300 /bin/sh /opt/zreap/t/leak-dash.sh 300
}

@test "control: dash as PID 1 without the shim (no libpthread, one thread; statuses intact)" {
	run --separate-stderr old_pid1 /bin/sh /opt/zreap/t/leak-dash.sh 300
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val pthread "$output")" = no ]
	[ "$(val threads "$output")" = 1 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val killed "$output")" = 300 ]
	# No assertion on zombies: dash 0.5.11 collects every child itself on SIGCHLD
	# (wait4(-1, WNOHANG)), adopted orphans included, so it leaves few or none even bare.
}

@test "dash as PID 1 with the shim at the default log level writes nothing on stderr" {
	run --separate-stderr old_as_pid1 /bin/sh /opt/zreap/t/leak-dash.sh 100
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val zombies "$output")" = 0 ]
	[ -z "$stderr" ]
}

# ---- b. bash as PID 1 ----

@test "bash as PID 1 (no libpthread linked): wait \$! statuses intact while orphans leak; no zombie" {
	# 10 rounds of 21 exit codes, a SIGKILLed job, an early exit and a subshell; the leaker
	five_rounds_as_pid1 241 - /bin/bash /opt/zreap/t/jobs-bash.sh 10
}

@test "control: bash as PID 1 without the shim (statuses intact)" {
	run --separate-stderr old_pid1 /bin/bash /opt/zreap/t/jobs-bash.sh 10
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val pthread "$output")" = no ]
	[ "$(val checked "$output")" = 241 ]
	[ "$(val bad "$output")" = 0 ]
	# No assertion on zombies: bash collects any child in its SIGCHLD handler.
}

# ---- c. python3 as PID 1 ----

@test "python3 as PID 1: subprocess, fork and system statuses intact while orphans leak; no zombie" {
	for round in 1 2 3; do
		run --separate-stderr old_as_pid1 ZREAP_LOG=info /usr/bin/python3 /opt/zreap/t/subproc.py 200
		echo "run $round:"; echo "$output"
		echo "stderr: $(grep -v 'reaped orphan' <<<"$stderr")"
		echo "orphans the shim reaped: $(grep -c 'reaped orphan' <<<"$stderr")"
		[ "$status" -eq 0 ]
		[ "$(val threads "$output")" = 2 ]
		# 200 exit codes, 10 x (SIGKILL, SIGTERM, output, fork, system), the leaker
		[ "$(val checked "$output")" = 251 ]
		[ "$(val bad "$output")" = 0 ]
		[ "$(val zombies "$output")" = 0 ]
		# python3 waits only for its own pids: every orphan was the shim's
		[ "$(grep -c '^zreap\[1\]: reaped orphan [0-9]* (sleep)' <<<"$stderr")" -ge 300 ]
		check_info_log
	done
}

@test "python3 as PID 1 without the shim: statuses intact, the orphans stay zombies" {
	run --separate-stderr old_pid1 /usr/bin/python3 /opt/zreap/t/subproc.py 200
	echo "$output" | cut -c1-300; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$(val threads "$output")" = 1 ]
	[ "$(val checked "$output")" = 251 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val zombies "$output")" -ge 300 ]
}

@test "an exec chain dash -> python3 as PID 1: the new image is protected again" {
	run --separate-stderr old_as_pid1 ZREAP_LOG=info /bin/sh -c \
		'sh -c "sleep 0.01 &"; exec /usr/bin/python3 /opt/zreap/t/subproc.py 40'
	echo "$output"; echo "stderr: $(grep -v 'reaped orphan' <<<"$stderr")"
	[ "$status" -eq 0 ]
	[ "$(val bad "$output")" = 0 ]
	[ "$(val zombies "$output")" = 0 ]
	# dash's shim, then python3's: both active, no error
	[ "$(grep -c '^zreap\[1\]: libzreap .* active as PID 1;' <<<"$stderr")" -eq 2 ]
	[ -z "$(unexpected_log)" ]
}

# ---- d. inert outside PID 1 ----

@test "outside PID 1 the shim is inert and harmless in old programs" {
	run --separate-stderr chroot "$OLD" /usr/bin/env -i LD_PRELOAD=/opt/zreap/libzreap.so \
		/bin/sh -c 'echo ok'
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[ -z "$stderr" ]
	# also at the debug log level, and in bash and python3, with a status passed through
	run --separate-stderr chroot "$OLD" /usr/bin/env -i LD_PRELOAD=/opt/zreap/libzreap.so \
		ZREAP_LOG=debug /bin/bash -c 'echo ok; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = ok ]
	[ -z "$stderr" ]
	run --separate-stderr chroot "$OLD" /usr/bin/env -i LD_PRELOAD=/opt/zreap/libzreap.so \
		ZREAP_LOG=debug /usr/bin/python3 -c 'import subprocess, sys; print("ok"); sys.exit(subprocess.run(["sh", "-c", "exit 5"]).returncode)'
	[ "$status" -eq 5 ]
	[ "$output" = ok ]
	[ -z "$stderr" ]
}

@test "outside PID 1 the shim loads no libpthread into dash and starts no thread" {
	# PID 1 is a bare dash; the preloaded dash is PID 2 and looks at itself.
	run --separate-stderr old_pid1 /bin/sh -c \
		'LD_PRELOAD=/opt/zreap/libzreap.so ZREAP_LOG=debug /bin/sh -c ". /opt/zreap/t/zcount.sh; zr_probe; echo pid=\$\$ pthread=\$zr_libpthread threads=\$zr_threads"'
	echo "$output"; echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "pid=2 pthread=no threads=1" ]
	[ -z "$stderr" ]
}

# ---- SIGTERM ----

# old_term [VAR=value ...]: dash as PID 1 with two sleeping children; SIGTERM from outside once
# it is ready. Sets status (or "alive" after 1.5 s) and ms.
old_term() {
	local out=$BATS_TEST_TMPDIR/term p t i
	old_pid1 "$@" /bin/sh -c 'sleep 1000 & sleep 1000 & echo ready; wait' >"$out" 2>&1 &
	t=$!
	for i in $(seq 1000); do grep -q ready "$out" && break; sleep 0.01; done
	# down the first children (subshell, timeout, unshare) to the one that is PID 1 inside
	p=$t
	for i in 1 2 3 4 5; do
		awk '/^NSpid:/ { exit !(NF >= 3 && $NF == 1) }' /proc/$p/status && break
		p=$(cut -d' ' -f1 /proc/$p/task/$p/children)
	done
	local start=$(date +%s%N)
	kill -TERM "$p"
	for i in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.01; done
	if kill -0 "$p" 2>/dev/null; then
		status=alive
		kill -9 "$p"
		wait "$t" || true
	else
		wait "$t" && status=0 || status=$?
	fi
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "status=$status ms=$ms"; cat "$out"
}

@test "SIGTERM stops an old PID 1 that has no handler: 143 within 1 s; without the shim it lives" {
	old_term LD_PRELOAD=/opt/zreap/libzreap.so
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	old_term
	[ "$status" = alive ]
}
