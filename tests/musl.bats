#!/usr/bin/env bats
# The musl build (make musl) with musl-linked programs, and each build in the other's programs.
load common

setup_file() {
	export MUSL_SKIP=""
	if ! (cd "$ROOT" && make -s musl >"$BATS_FILE_TMPDIR/make.log" 2>&1); then
		export MUSL_SKIP="no musl build here: $(tail -1 "$BATS_FILE_TMPDIR/make.log")"
		return 0
	fi
	mkdir -p "$ROOT/build/musl/tests"
	for h in leaker sigtrace stopper vforker ownstress sigswap; do
		musl-gcc -std=gnu11 -O1 -g -D_GNU_SOURCE -o "$ROOT/build/musl/tests/$h" \
			"$ROOT/tests/helpers/$h.c" -lpthread || export MUSL_SKIP="cannot build $h with musl-gcc"
	done
}

setup() {
	[ -z "$MUSL_SKIP" ] || skip "$MUSL_SKIP"
	MLIB="$ROOT/build/musl/libzreap.so"
	M="$ROOT/build/musl/tests"
}

val() { grep -o "\b$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

@test "musl: links no libc by name (loads anywhere) and is a musl-linked helper's shim" {
	run readelf -d "$MLIB"
	[ "$(grep -c NEEDED <<<"$output")" -eq 0 ]
	run readelf -lW "$M/leaker"
	[[ "$output" == *ld-musl* ]]
}

@test "musl: PID 1 leaking 1000 orphans leaves no zombie; without the shim 1000" {
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$MLIB" "$M/leaker" 1000
	[ "$output" = "zombies=0" ]
	run --separate-stderr unshare --pid --fork --mount-proc "$M/leaker" 1000
	[ "$output" = "zombies=1000" ]
}

@test "musl: own children's statuses under an orphan storm, every spawn path and wait style" {
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$MLIB" "$M/ownstress" run
	echo "$output $stderr"
	[ "$(val wrong "$output")" -eq 0 ]
	[ "$(val echild "$output")" -eq 0 ]
	[ "$(val children "$output")" -ge 1000 ]
	[ "$(val zombies "$output")" -eq 0 ]
}

@test "musl: vfork 500 times through the trampoline" {
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$MLIB" "$M/vforker"
	[ "$(val ok "${lines[-1]}")" -eq 500 ]
}

@test "musl: every disposition call gives the same trace as without the shim (auto, always)" {
	run --separate-stderr unshare --pid --fork --mount-proc env --default-signal=INT,QUIT "$M/sigtrace"
	base=$output
	[ "$(wc -l <<<"$base")" -gt 100 ]
	for mode in auto always; do
		run --separate-stderr unshare --pid --fork --mount-proc env --default-signal=INT,QUIT \
			LD_PRELOAD="$MLIB" ZREAP_FORWARD=$mode "$M/sigtrace"
		diff <(echo "$base") <(echo "$output")
	done
}

@test "musl: 100,000 signals while another thread swaps the handler" {
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$MLIB" "$M/sigswap" 100000
	[ "$output" = "raised=100000 handled=100000 foreign=0" ]
}

@test "musl: SIGTERM from outside ends PID 1 in 143 within 1 s, each child signalled once" {
	LIB=$MLIB STOPPER=$M/stopper pid1_then TERM -- 3 report
	[ "$status" -eq 143 ]
	[ "$ms" -lt 1000 ]
	[ "$(grep -c 'got SIGTERM' <<<"$output")" -eq 3 ]
	LIB=$MLIB STOPPER=$M/stopper pid1_then INT -- 2 report
	[ "$status" -eq 130 ]
}

@test "the wrong build for the libc: inert, one line as PID 1, the app runs on" {
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$LIB" "$M/leaker" 50
	echo "glibc build, musl PID 1: $output / $stderr"
	[ "$output" = "zombies=50" ]
	[ "$stderr" = "zreap[1]: this is the glibc build of libzreap, in a musl program: inert; mount the musl build instead" ]
	run --separate-stderr unshare --pid --fork --mount-proc env LD_PRELOAD="$MLIB" "$H/leaker" 50
	echo "musl build, glibc PID 1: $output / $stderr"
	[ "$output" = "zombies=50" ]
	[ "$stderr" = "zreap[1]: this is the musl build of libzreap, in a glibc program: inert; mount the glibc build instead" ]
	# not PID 1: nothing to say, nothing to do
	run --separate-stderr env LD_PRELOAD="$MLIB" sh -c 'echo ok; exit 3'
	[ "$status" -eq 3 ]
	[ "$output" = ok ]
	[ -z "$stderr" ]
}
