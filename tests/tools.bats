#!/usr/bin/env bats
# tools.bats: scripts/zreap-run and scripts/zreap-doctor, against real processes.
#   - zreap-run: a leaking PID 1 run through it has no zombies (and without it has them); the
#     pid and an existing LD_PRELOAD are kept; --subreaper outside a namespace; clear refusals
#     (exit 125) for no library, a static, setuid or musl-without-musl-build CMD
#   - zreap-doctor, run inside the namespace (nsenter, as `docker exec` would) and from the
#     host on the host pid: a leaking PID 1 without the shim (the leaking parent's command is
#     named), with it, a child that leaks its own children, a static PID 1, one that ignores
#     SIGTERM, a Go program, the shim loaded but disabled or not found; the same report
#     under busybox alone
# The long-running PID 1 is tests/helpers/linger.c; its static and "Go" variants are built here.
load common

RUN="$ROOT/scripts/zreap-run"
DOC="$ROOT/scripts/zreap-doctor"

setup_file() {
	export BATS_TEST_TIMEOUT=30
	local t=$BATS_FILE_TMPDIR src="$ROOT/tests/helpers/linger.c"
	gcc -static -std=gnu11 -O1 -D_GNU_SOURCE -o "$t/linger-static" "$src" 2>/dev/null || true
	gcc -std=gnu11 -O1 -D_GNU_SOURCE -DLINGER_FAKE_GO -o "$t/linger-go" "$src"
	cp "$H/leaker" "$t/leaker-suid"
	chmod 4755 "$t/leaker-suid"
	gcc -shared -fPIC -o "$t/libnop.so" -x c /dev/null
	if command -v musl-gcc >/dev/null; then
		printf 'int main(void) { return 0; }\n' >"$t/hello.c"
		musl-gcc -o "$t/hello-musl" "$t/hello.c" 2>/dev/null || true
	fi
	# zreap-run copies away from build/: one with only the glibc build beside it, one with none
	mkdir -p "$t/glibconly/scripts" "$t/glibconly/build" "$t/nolib/scripts"
	cp "$RUN" "$t/glibconly/scripts/"
	cp "$LIB" "$t/glibconly/build/"
	cp "$RUN" "$t/nolib/scripts/"
	# busybox alone, as in a minimal image
	if command -v busybox >/dev/null; then
		mkdir -p "$t/bb"
		local a
		for a in sh cat grep sed awk tr od ls readlink sleep sort head; do
			ln -sf "$(command -v busybox)" "$t/bb/$a"
		done
	fi
}

# start_pid1 CMD [ARGS]: CMD as PID 1 of a fresh PID namespace, in the background, as a
# container runtime starts it (pid1_in_background); waits for its "ready". Sets P1 (PID 1's
# host pid); teardown kills it if a test left it running.
start_pid1() {
	local out=$BATS_TEST_TMPDIR/pid1.out
	pid1_in_background "$out" "$@"
	P1=$p1
	wait_for 5000 grep -q ready "$out" || { echo "PID 1 did not start:"; cat "$out"; return 1; }
}

teardown() {
	pid1_cleanup
	[ -z "${u:-}" ] || wait "$u" 2>/dev/null || true
}

# no_zombie_child PID: no child of PID is a zombie now.
no_zombie_child() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[[ "$(cat /proc/"$c"/stat 2>/dev/null)" != *") Z "* ]] || return 1
	done
}

# doctor_inside [ARGS]: the doctor inside PID 1's namespaces, as `docker exec` runs it.
doctor_inside() { run nsenter -t "$P1" -p -m "$DOC" "$@"; }

# has TEXT / lacks TEXT: whether the output holds TEXT (fixed string).
has() { grep -qF -- "$1" <<<"$output" || { echo "missing: $1"; return 1; }; }
lacks() { ! grep -qF -- "$1" <<<"$output" || { echo "unexpected: $1"; return 1; }; }
# action TEXT: the output's last line is "Action: ..." and holds TEXT.
action() {
	local last=${lines[${#lines[@]} - 1]}
	[[ $last == "Action: "* ]] && grep -qF -- "$1" <<<"$last" || { echo "Action line lacks: $1"; return 1; }
}

# ---- zreap-run ----

@test "zreap-run: a leaking PID 1 run through it keeps no zombies (control: 300 without)" {
	run unshare --pid --fork --mount-proc "$RUN" "$H/leaker" 300
	[ "$status" -eq 0 ]
	[ "$output" = "zombies=0" ]
	run unshare --pid --fork --mount-proc "$H/leaker" 300
	[ "$output" = "zombies=300" ]
}

@test "zreap-run: CMD keeps the pid (PID 1 stays PID 1), ours first in LD_PRELOAD, the old one kept" {
	run --separate-stderr unshare --pid --fork --mount-proc \
		env LD_PRELOAD="$BATS_FILE_TMPDIR/libnop.so" ZREAP_LOG=info \
		"$RUN" -- sh -c 'echo "pid=$$"; echo "preload=$LD_PRELOAD"'
	[ "$status" -eq 0 ]
	has "pid=1"
	has "preload=$LIB:$BATS_FILE_TMPDIR/libnop.so"
	grep -q "zreap\[1\]: libzreap [0-9.]* (.* build, [a-z0-9_]*) active as PID 1" <<<"$stderr"
}

@test "zreap-run --subreaper outside a namespace: CMD adopts and reaps orphans (control: without)" {
	run --separate-stderr "$RUN" --subreaper "$H/subr"
	[ "$status" -eq 0 ]
	has "self_subreaper=1"
	has "adopted=1"
	has "reaped=1"
	has "zombies=0"
	run --separate-stderr "$RUN" "$H/subr"
	has "self_subreaper=0"
	has "adopted=0"
	grep -q "not PID 1 .* no --subreaper" <<<"$stderr"
}

@test "zreap-run: no library (ZREAP_LIB=/nonexistent, none installed, no build/): exit 125, clear" {
	[ ! -e /usr/local/lib/libzreap.so ] && [ ! -e /usr/lib/libzreap.so ] ||
		skip "a libzreap is installed on this machine"
	run --separate-stderr env ZREAP_LIB=/nonexistent \
		"$BATS_FILE_TMPDIR/nolib/scripts/zreap-run" sh -c 'echo ran'
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	grep -q "ZREAP_LIB=/nonexistent: no such file" <<<"$stderr"
	grep -q "no libzreap library found (looked for /nonexistent, /usr/local/lib/libzreap.so" <<<"$stderr"
}

@test "zreap-run: a static CMD, or a script run by one, is refused (exit 125), naming tini" {
	[ -x "$BATS_FILE_TMPDIR/linger-static" ] || skip "no static glibc to link with"
	run --separate-stderr "$RUN" "$BATS_FILE_TMPDIR/linger-static" -t 0
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	grep -q "linger-static is statically linked .*LD_PRELOAD.*tini" <<<"$stderr"
	printf '#!%s\n' "$BATS_FILE_TMPDIR/linger-static" >"$BATS_TEST_TMPDIR/script"
	chmod +x "$BATS_TEST_TMPDIR/script"
	run --separate-stderr "$RUN" "$BATS_TEST_TMPDIR/script"
	[ "$status" -eq 125 ]
	grep -q "a script run by .*linger-static) is statically linked" <<<"$stderr"
}

@test "zreap-run: a setuid CMD is refused (exit 125): secure execution" {
	run --separate-stderr "$RUN" "$BATS_FILE_TMPDIR/leaker-suid" 1
	echo "$stderr"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	grep -q "leaker-suid is setuid or setgid: it runs in secure execution" <<<"$stderr"
}

@test "zreap-run: a musl CMD with only the glibc build is refused; with the musl build it runs" {
	[ -x "$BATS_FILE_TMPDIR/hello-musl" ] || skip "no musl-gcc"
	run --separate-stderr "$BATS_FILE_TMPDIR/glibconly/scripts/zreap-run" "$BATS_FILE_TMPDIR/hello-musl"
	echo "$stderr"
	[ "$status" -eq 125 ]
	grep -q "linked against musl (interpreter /lib/ld-musl-.*the only library found, .*glibconly/build/libzreap.so, is the glibc build" <<<"$stderr"
	# ZREAP_LIB naming the glibc build does not make it fit either
	run --separate-stderr env ZREAP_LIB="$LIB" "$BATS_FILE_TMPDIR/glibconly/scripts/zreap-run" "$BATS_FILE_TMPDIR/hello-musl"
	[ "$status" -eq 125 ]
	grep -q "ZREAP_LIB=$LIB is the glibc build, for a musl program" <<<"$stderr"
	[ -e "$ROOT/build/musl/libzreap.so" ] || skip "no musl build (make musl) for the positive half"
	run --separate-stderr unshare --pid --fork --mount-proc env ZREAP_LOG=info "$RUN" "$BATS_FILE_TMPDIR/hello-musl"
	echo "$stderr"
	[ "$status" -eq 0 ]
	grep -q "zreap\[1\]: libzreap [0-9.]* (.* build, [a-z0-9_]*) active as PID 1" <<<"$stderr"
}

@test "zreap-run --check: says which library CMD would take, runs nothing; refuses as a run would" {
	marker=$BATS_TEST_TMPDIR/ran
	run --separate-stderr "$RUN" --check sh -c "touch $marker"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ ! -e "$marker" ]
	[[ "$output" == *"/sh, glibc: takes $LIB (libzreap $(cat "$ROOT/VERSION") (glibc build, $(uname -m)))" ]]
	[ -z "$stderr" ]
	[ -x "$BATS_FILE_TMPDIR/linger-static" ] || skip "no static glibc to link with"
	run --separate-stderr "$RUN" --check "$BATS_FILE_TMPDIR/linger-static"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	grep -q "linger-static is statically linked" <<<"$stderr"
}

@test "zreap-run: usage errors (2) and a CMD not found (127)" {
	run --separate-stderr "$RUN"
	[ "$status" -eq 2 ]
	run --separate-stderr "$RUN" --bogus true
	[ "$status" -eq 2 ]
	run -127 --separate-stderr "$RUN" no-such-command-here
	[ "$status" -eq 127 ]
	grep -q "no-such-command-here: command not found" <<<"$stderr"
}

# ---- zreap-doctor ----

@test "doctor, no shim, PID 1 leaking orphans: names the leaking parents' commands (inside and from the host)" {
	start_pid1 "$H/linger" -o 20 -k 3
	doctor_inside
	echo "$output"
	[ "$status" -eq 0 ]
	has "zreap-doctor: pid 1"
	has "role        PID 1 of its PID namespace"
	has "loaded      no (no libzreap in /proc/1/maps)"
	has "active      no"
	has "SIGCHLD     default"
	has "SIGTERM     default: the kernel drops it for a PID 1 without a handler"
	has "23 zombie(s), still there after 1 s:"
	has "- 20 under pid 1 (linger), the process examined: linger x20"
	has "- 3 under pid "
	has "Leaking: pid 1 ($H/linger -o 20 -k 3) does not reap the 20 orphan(s)"
	grep -q "Leaking: pid [0-9]* (sloppy-worker --worker 3 [0-9]*) does not wait for its own 3" <<<"$output"
	has "libc        glibc"
	has "takes shim  yes: the glibc build"
	action "start PID 1 with libzreap preloaded"
	action "reaps these 20 zombie(s)"
	action "also fix pid"

	run "$DOC" "$P1"
	echo "$output"
	[ "$status" -eq 0 ]
	has "zreap-doctor: pid $P1 (pid 1 in its own PID namespace)"
	has "23 zombie(s), still there after 1 s:"
	has "Leaking: pid $P1 ($H/linger -o 20 -k 3) does not reap the 20 orphan(s)"
	action "start PID 1 with libzreap preloaded"
}

@test "doctor, PID 1 started by zreap-run: loaded, its version, active (thread and sentinel), no zombies, no action" {
	start_pid1 "$RUN" "$H/linger" -o 20
	# The last orphans may die while the reaper naps between looks (up to 100 ms, README's
	# Limits): the doctor's "none" needs them gone first. Without the shim they never go.
	wait_for 2000 no_zombie_child "$P1"
	doctor_inside
	echo "$output"
	[ "$status" -eq 0 ]
	has "loaded      yes: $LIB"
	has "version     libzreap $(cat "$ROOT/VERSION") (glibc build, $(uname -m))"
	has "LD_PRELOAD  $LIB"
	grep -q 'active      yes: reaper thread "zreap" (tid [0-9]*), sentinel child "zreap-sentinel" (pid [0-9]*), as PID 1' <<<"$output"
	has "SIGTERM     caught: by the app's own handler or, where the app left the default, by libzreap"
	has "SIGINT      caught"
	grep -A1 "^== Zombies" <<<"$output" | grep -qx "  none"
	action "none: libzreap is active in PID 1 and no zombies are left"

	run "$DOC" "$P1"
	has "loaded      yes: $LIB"
	grep -q 'active      yes: reaper thread "zreap"' <<<"$output"
	action "none: libzreap is active in PID 1"
}

@test "doctor, shim active but a child leaks its own children: names that child and says to fix it" {
	start_pid1 "$RUN" "$H/linger" -o 5 -k 3
	doctor_inside
	echo "$output"
	has "3 zombie(s), still there after 1 s:"
	grep -q "Leaking: pid [0-9]* (sloppy-worker --worker 3 [0-9]*) does not wait for its own 3 exited child(ren)" <<<"$output"
	lacks "the process examined"
	action "fix pid"
	action "(sloppy-worker --worker 3"
}

@test "doctor, a static PID 1: cannot take the shim, leaks, Action: tini" {
	[ -x "$BATS_FILE_TMPDIR/linger-static" ] || skip "no static glibc to link with"
	start_pid1 "$BATS_FILE_TMPDIR/linger-static" -o 5
	doctor_inside --now
	echo "$output"
	[ "$status" -eq 0 ]
	has "loaded      no"
	has "ELF         64-bit"
	has "statically linked (no program interpreter)"
	has "takes shim  no: it is static"
	has "5 zombie(s) (one look, --now):"
	has "Leaking: pid 1 ($BATS_FILE_TMPDIR/linger-static -o 5) does not reap"
	action "run it under a separate init such as tini"
}

@test "doctor, a PID 1 that ignores SIGTERM (shim active): says docker stop will kill it" {
	start_pid1 "$RUN" "$H/linger" -i
	doctor_inside
	echo "$output"
	has "active      yes"
	has "SIGTERM     ignored: it never stops PID 1"
	has "ignored     SIGTERM"
	action "PID 1 ignores SIGTERM"
	action "--stop-signal"
}

@test "doctor, a Go program as PID 1: Go spotted, Action: tini" {
	start_pid1 "$BATS_FILE_TMPDIR/linger-go"
	doctor_inside
	echo "$output"
	has "Go          yes"
	has "takes shim  no: it is a Go program"
	action "run it under a separate init such as tini"
}

@test "doctor, shim loaded but ZREAP_DISABLE=1, or LD_PRELOAD naming a missing file" {
	start_pid1 env LD_PRELOAD="$LIB" ZREAP_DISABLE=1 "$H/linger"
	doctor_inside
	echo "$output"
	has "loaded      yes: $LIB"
	has "active      no"
	has "settings    ZREAP_DISABLE=1"
	has "why         ZREAP_DISABLE=1 in its environment"
	action "unset ZREAP_DISABLE"
	teardown
	start_pid1 env LD_PRELOAD=/nonexistent/libzreap.so "$H/linger"
	doctor_inside
	echo "$output"
	has "loaded      no"
	action "LD_PRELOAD names /nonexistent/libzreap.so, which does not exist in its filesystem"
}

@test "doctor under busybox alone gives the same report as under dash" {
	[ -d "$BATS_FILE_TMPDIR/bb" ] || skip "no busybox"
	# shim active, SIGTERM ignored, a child leaking: every mask and section has something in it
	start_pid1 "$RUN" "$H/linger" -k 2 -i
	run nsenter -t "$P1" -p -m env PATH="$BATS_FILE_TMPDIR/bb" "$BATS_FILE_TMPDIR/bb/sh" "$DOC" --now
	local bb=$output
	run nsenter -t "$P1" -p -m env PATH=/usr/bin:/bin dash "$DOC" --now
	echo "$output"
	[ "$status" -eq 0 ]
	diff <(echo "$bb") <(echo "$output")
	has "2 zombie(s) (one look, --now):"
	has "libc        glibc 2."
	has "caught      SIGINT SIGQUIT"   # glibc's SIG33 handler came with a pthread reaper; there is none now
	has "ignored     SIGTERM"
	lacks "awk:"
}

@test "doctor: a pid that does not exist, or a bad argument, exits 2" {
	run --separate-stderr "$DOC" 999999999
	[ "$status" -eq 2 ]
	grep -q "no process 999999999" <<<"$stderr"
	run --separate-stderr "$DOC" abc
	[ "$status" -eq 2 ]
}
