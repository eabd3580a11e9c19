#!/usr/bin/env bats
# container.bats: the shim under a real container runtime. podman with runc runs a Debian
# bookworm root filesystem (debootstrap, cached in build/rootfs/bookworm), the library is
# bind-mounted in and named in LD_PRELOAD, the apps are bookworm's own programs as PID 1:
#   - dash running `sleep 1000 & sleep 1000 & sleep 1000 & wait`: dash catches SIGINT and
#     SIGCHLD but not SIGTERM, so without the shim `podman stop` waits out its timeout and
#     SIGKILLs (137); with it the SIGTERM reaches the children and PID 1 ends in 143 at once
#   - python3 double-forking 200 orphans and waiting only for its own children: no zombie left
#     with the shim, all 200 without
#   - `podman kill -s INT`: 130 for dash (which ends itself on SIGINT), and for a python3 whose
#     SIGINT is at SIG_DFL (without the shim the kernel drops it and PID 1 lives on)
# scripts/container-test-setup installs podman, runc and debootstrap if missing and makes the
# root filesystem and a private containers.conf (build/containers.conf). When any of it cannot
# be had here, every test skips and says why. `make test-container` runs this suite alone.
load common
bats_require_minimum_version 1.5.0

setup_file() {
	export BATS_TEST_TIMEOUT=60
	local out rc=0
	out=$("$ROOT/scripts/container-test-setup" 2>"$BATS_FILE_TMPDIR/setup.err") || rc=$?
	if [ "$rc" -eq 3 ]; then
		export CT_SKIP="$(tail -n 1 "$BATS_FILE_TMPDIR/setup.err")"
		return 0
	fi
	if [ "$rc" -ne 0 ]; then
		cat "$BATS_FILE_TMPDIR/setup.err" >&2
		return 1
	fi
	[ -f "$LIB" ] || { echo "no $LIB: run make first" >&2; return 1; }
	export RFS="$out"
	export CONTAINERS_CONF="$ROOT/build/containers.conf"
}

setup() {
	[ -z "${CT_SKIP:-}" ] || skip "$CT_SKIP"
	NAMES=()
}

teardown() {
	local n
	for n in "${NAMES[@]}"; do
		timeout 30 podman rm -f -t 0 "$n" >/dev/null 2>&1 || true
	done
}

# pm ARGS: podman, bounded.
pm() { timeout 30 podman "$@"; }

# start SHIM NAME CMD [ARGS]: runs CMD as PID 1 of a new detached container NAME (made unique
# here and stored in $C), with the shim bind-mounted and preloaded if SHIM is 1.
start() {
	local shim=$1 args=()
	C="zreap-ct-$$-$BATS_TEST_NUMBER-$2"
	shift 2
	NAMES+=("$C")
	[ "$shim" = 1 ] && args=(-v "$LIB:/opt/libzreap.so:ro" -e LD_PRELOAD=/opt/libzreap.so)
	pm run -d --name "$C" --network none --log-driver k8s-file "${args[@]}" \
		--rootfs "$RFS" "$@" >/dev/null
}

# in_c CMD: a shell command in container $C.
in_c() { pm exec "$C" sh -c "$1"; }

# wait_for DESC CMD: retries the shell test CMD for up to 10 s.
wait_for() {
	local i
	for i in $(seq 100); do
		eval "$2" && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

sleepers() { in_c 'cat /proc/[0-9]*/comm 2>/dev/null' | grep -c '^sleep$' || true; }
zombies() { in_c 'grep -ls "^State:.*Z" /proc/[0-9]*/status | wc -l'; }
exit_code() { pm inspect "$C" --format '{{.State.ExitCode}}'; }
running() { pm inspect "$C" --format '{{.State.Running}}'; }
logs_have() { pm logs "$C" 2>&1 | grep -q "$1"; }

# timed CMD: runs CMD, sets $ms to its wall time.
timed() {
	local t0 rc=0
	t0=$(date +%s%N)
	"$@" || rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	return $rc
}

DASH_APP='sleep 1000 & sleep 1000 & sleep 1000 & wait'

# Doubles-forks 200 orphans, waits only for its own children, then idles.
PY_LEAKER='
import os, time
for i in range(200):
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)
print("done", flush=True)
time.sleep(1000)
'

# SIGINT at SIG_DFL, three children, waits for them.
PY_INT_APP='
import signal, subprocess
signal.signal(signal.SIGINT, signal.SIG_DFL)
ps = [subprocess.Popen(["sleep", "1000"]) for _ in range(3)]
print("ready", flush=True)
for p in ps:
    p.wait()
'

@test "podman stop: dash PID 1 with 3 children and the shim stops in under 1 s with 143" {
	start 1 stop /bin/sh -c "$DASH_APP"
	wait_for "3 sleeps" '[ "$(sleepers)" -eq 3 ]'
	timed pm stop -t 10 "$C"
	echo "podman stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 143 ]
	[ "$ms" -lt 1000 ]
}

@test "control: without the shim podman stop waits out -t 3 and kills (137)" {
	start 0 stop /bin/sh -c "$DASH_APP"
	wait_for "3 sleeps" '[ "$(sleepers)" -eq 3 ]'
	# dash catches no SIGTERM: the kernel drops it for PID 1.
	local cgt
	cgt=$(in_c 'grep ^SigCgt: /proc/1/status' | awk '{print $2}')
	echo "PID 1 SigCgt $cgt"
	[ $(( 0x$cgt >> (15 - 1) & 1 )) -eq 0 ]
	timed pm stop -t 3 "$C"
	echo "podman stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 137 ]
	[ "$ms" -ge 3000 ]
}

@test "python3 PID 1 leaking 200 orphans: no zombie left with the shim" {
	start 1 leak python3 -c "$PY_LEAKER"
	wait_for "the leaker" 'logs_have done'
	wait_for "no zombie" '[ "$(zombies)" -eq 0 ]'
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 0 ]
}

@test "control: without the shim the 200 orphans stay zombies" {
	start 0 leak python3 -c "$PY_LEAKER"
	wait_for "the leaker" 'logs_have done'
	wait_for "200 zombies" '[ "$(zombies)" -ge 200 ]' || true
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 200 ]
}

@test "podman kill -s INT: dash PID 1 with the shim ends in 130" {
	start 1 int /bin/sh -c "$DASH_APP"
	wait_for "3 sleeps" '[ "$(sleepers)" -eq 3 ]'
	pm kill -s INT "$C" >/dev/null
	timed pm wait "$C"
	echo "podman wait took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 130 ]
}

@test "podman kill -s INT: python3 PID 1 with SIGINT at SIG_DFL and the shim: 130 in under 1 s" {
	start 1 int python3 -c "$PY_INT_APP"
	wait_for "3 sleeps" 'logs_have ready && [ "$(sleepers)" -eq 3 ]'
	timed eval 'pm kill -s INT "$C" >/dev/null && pm wait "$C" >/dev/null'
	echo "kill + wait took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 130 ]
	[ "$ms" -lt 1000 ]
}

@test "control: without the shim the same python3 PID 1 never gets the SIGINT" {
	start 0 int python3 -c "$PY_INT_APP"
	wait_for "3 sleeps" 'logs_have ready && [ "$(sleepers)" -eq 3 ]'
	pm kill -s INT "$C" >/dev/null
	sleep 1.5
	run running
	[ "$output" = true ]
	[ "$(sleepers)" -eq 3 ]
}
