#!/usr/bin/env bats
# The aarch64 build (make cross ARCH=aarch64), run under Debian's qemu-user where it can be.
load common

setup_file() {
	export CROSS_SKIP=""
	if ! (cd "$ROOT" && scripts/install-deps cross-aarch64 qemu >"$BATS_FILE_TMPDIR/deps.log" 2>&1 &&
		make -s cross ARCH=aarch64 >"$BATS_FILE_TMPDIR/make.log" 2>&1); then
		export CROSS_SKIP="no aarch64 cross build here: $(tail -1 "$BATS_FILE_TMPDIR/deps.log" "$BATS_FILE_TMPDIR/make.log" | tail -1)"
		return 0
	fi
	mkdir -p "$ROOT/build/aarch64/tests"
	for h in leaker vforker stopper; do
		aarch64-linux-gnu-gcc -std=gnu11 -O1 -g -D_GNU_SOURCE -o "$ROOT/build/aarch64/tests/$h" \
			"$ROOT/tests/helpers/$h.c" -lpthread || export CROSS_SKIP="cannot build $h for aarch64"
	done
}

setup() {
	[ -z "$CROSS_SKIP" ] || skip "$CROSS_SKIP"
	A="$ROOT/build/aarch64"
	Q=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
}

@test "aarch64: no import, no symbol version (aarch64's first glibc is 2.17), no library, its own vfork" {
	run aarch64-linux-gnu-objdump -T "$A/libzreap.so"
	echo "$output"
	[[ "$output" != *"*UND*"* ]]
	[[ "$output" != *GLIBC_* ]]
	[ "$(readelf -d "$A/libzreap.so" | grep -c NEEDED)" -eq 0 ]
	aarch64-linux-gnu-objdump -d "$A/libzreap.so" | grep -A30 '<vfork>:' | grep -q 'svc'
}

@test "aarch64 under qemu-user: PID 1 leaking 200 orphans leaves none; without the shim 200" {
	run --separate-stderr unshare --pid --fork --mount-proc "${Q[@]}" -E LD_PRELOAD="$A/libzreap.so" "$A/tests/leaker" 200
	echo "$output / $stderr"
	[ "$output" = "zombies=0" ]
	run --separate-stderr unshare --pid --fork --mount-proc "${Q[@]}" "$A/tests/leaker" 200
	[ "$output" = "zombies=200" ]
}

@test "aarch64 under qemu-user: the vfork trampoline, 500 children's statuses" {
	run --separate-stderr unshare --pid --fork --mount-proc "${Q[@]}" -E LD_PRELOAD="$A/libzreap.so" "$A/tests/vforker"
	echo "${lines[-1]}"
	[[ "${lines[-1]}" == *"ok=500 bad=0"* ]]
}

@test "aarch64 under qemu-user: SIGTERM from outside ends PID 1 in 143, children signalled" {
	out=$BATS_TEST_TMPDIR/out
	unshare --pid --fork --mount-proc "${Q[@]}" -E LD_PRELOAD="$A/libzreap.so" "$A/tests/stopper" 2 report >"$out" 2>&1 &
	u=$!
	for i in $(seq 1000); do grep -q ready "$out" && break; sleep 0.01; done
	kill -TERM "$(cat /proc/$u/task/$u/children)"
	wait "$u" && status=0 || status=$?
	cat "$out"
	[ "$status" -eq 143 ]
	[ "$(grep -c 'got SIGTERM' "$out")" -eq 2 ]
}
