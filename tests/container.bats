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
# README's other recipes, each tried for real (the files are in tests/helpers/container/):
#   - Dockerfile: `COPY libzreap.so /usr/local/lib/` and `ENV LD_PRELOAD=...` on a base image
#     made from the same root filesystem (localhost/zreap-bookworm:test), built with `podman
#     build --network none`; its dash CMD stops in 143 at once, and the same Containerfile without
#     the ENV line waits out the timeout (137); python3 run in it leaks no zombie
#   - Kubernetes, with `podman kube play` (podman 4.3 has initContainers and emptyDir): an
#     initContainer copies the library out of the Dockerfile image into an emptyDir volume, the
#     app container (the plain base image) mounts it read-only and sets LD_PRELOAD; python3 is
#     PID 1 there (the pod does not share its PID namespace), has the library mapped, leaks no
#     zombie, and `podman pod stop` ends it in 143 at once; without the LD_PRELOAD line, 200
#     zombies and 137
#   - checking an image first: `zreap-run --check` run inside the image with the script and the
#     library bind-mounted: exit 0 and the "takes" line for python3 and dash, 125 and the
#     static-binary line for a `gcc -static` program
# scripts/container-test-setup installs podman, runc and debootstrap if missing (and catatonit,
# which `podman kube play` needs for a pod's pause container) and makes the root filesystem, the
# base image (cached, keyed by the root filesystem's file list) and a private containers.conf
# (build/containers.conf). When any of it cannot be had here, every test skips and says why. The
# images built from the Containerfile take a second and are removed at the end. `make
# test-container` runs this suite alone.
load common
bats_require_minimum_version 1.5.0

HC="$BATS_TEST_DIRNAME/helpers/container"

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
	# The README's Dockerfile recipe, and the same without its ENV line, tagged for this run.
	export RUN_ID=$$
	export BASE_IMG=localhost/zreap-bookworm:test
	export APP_IMG=localhost/zreap-recipe:$RUN_ID-env APP0_IMG=localhost/zreap-recipe:$RUN_ID-noenv
	local ctx=$BATS_FILE_TMPDIR/ctx
	mkdir -p "$ctx"
	cp "$LIB" "$ctx/libzreap.so"
	cp "$HC/Containerfile" "$ctx/Containerfile"
	grep -v '^ENV LD_PRELOAD=' "$HC/Containerfile" >"$ctx/Containerfile.noenv"
	timeout 120 podman build -q --pull=never --network none -t "$APP_IMG" "$ctx" >/dev/null &&
		timeout 120 podman build -q --pull=never --network none -t "$APP0_IMG" \
			-f "$ctx/Containerfile.noenv" "$ctx" >/dev/null ||
		{ echo "podman build of $HC/Containerfile failed" >&2; return 1; }
}

teardown_file() {
	[ -z "${APP_IMG:-}" ] || timeout 60 podman rmi -f "$APP_IMG" "$APP0_IMG" >/dev/null 2>&1 || true
}

setup() {
	[ -z "${CT_SKIP:-}" ] || skip "$CT_SKIP"
	NAMES=()
	PODS=()
	ZC_MOUNTS=()
}

teardown() {
	local n
	for n in "${NAMES[@]}"; do
		timeout 30 podman rm -f -t 0 "$n" >/dev/null 2>&1 || true
	done
	for n in "${PODS[@]}"; do
		timeout 30 podman pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
		timeout 30 podman volume rm -f "$n-vol" >/dev/null 2>&1 || true
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

# start_image NAME IMAGE [CMD [ARGS]]: runs IMAGE (its own CMD unless one is given) as a new
# detached container NAME (made unique here and stored in $C).
start_image() {
	C="zreap-ct-$RUN_ID-$BATS_TEST_NUMBER-$1"
	NAMES+=("$C")
	local img=$2
	shift 2
	pm run -d --name "$C" --network none --log-driver k8s-file "$img" "$@" >/dev/null
}

# kube_ok: skips the test when podman kube play cannot run README's pod here.
kube_ok() {
	command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] ||
		skip "podman kube play needs catatonit (the pause process of a pod's infra container), not installed"
	local v
	v=$(pm version --format '{{.Client.Version}}')
	# initContainers came in podman 4.0, emptyDir volumes in 4.3.0.
	[ "$(printf '%s\n' 4.3.0 "$v" | sort -V | head -n 1)" = 4.3.0 ] ||
		skip "podman $v: kube play has no emptyDir volumes before 4.3.0"
}

# play_pod SHIM: plays tests/helpers/container/pod.yaml (README's Kubernetes recipe) as the pod
# $POD, its app container $C, with the app's LD_PRELOAD line if SHIM is 1; $YAML is the file.
play_pod() {
	POD="zreap-k8s-$RUN_ID-$BATS_TEST_NUMBER"
	C="$POD-app"
	YAML="$BATS_TEST_TMPDIR/pod.yaml"
	PODS+=("$POD")
	sed -e "s|@POD@|$POD|g; s|@VOL@|$POD-vol|g; s|@LIB_IMAGE@|$APP_IMG|g; s|@IMAGE@|$BASE_IMG|g" \
		"$HC/pod.yaml" >"$YAML"
	[ "$1" = 1 ] || sed -i '/name: LD_PRELOAD/d' "$YAML"
	pm kube play --network none "$YAML" >/dev/null
}

# zcheck CMD [ARGS]: README's check of an image, with podman: scripts/zreap-run as the entrypoint
# of the base image, the script and the libraries bind-mounted (and the array ZC_MOUNTS: more
# podman run options).
zcheck() {
	local m=(-v "$ROOT/scripts/zreap-run:/zreap-run:ro" -v "$LIB:/usr/local/lib/libzreap.so:ro")
	[ ! -f "$ROOT/build/musl/libzreap.so" ] ||
		m+=(-v "$ROOT/build/musl/libzreap.so:/usr/local/lib/libzreap-musl.so:ro")
	pm run --rm --network none --entrypoint /zreap-run "${m[@]}" "${ZC_MOUNTS[@]}" \
		"$BASE_IMG" --check -- "$@"
}

# takes_line PATH: the line `zreap-run --check` prints for a glibc PATH that takes the library.
takes_line() {
	echo "$1, glibc: takes /usr/local/lib/libzreap.so (libzreap $(cat "$ROOT/VERSION") (glibc build, $(uname -m)))"
}

# mapped: how many of PID 1's mappings in $C are the library at PATH.
mapped() { in_c "grep -c ' $1\$' /proc/1/maps" || true; }

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

# ---- README's Dockerfile recipe: COPY + ENV LD_PRELOAD

@test "Dockerfile recipe (COPY + ENV LD_PRELOAD): podman stop of its dash CMD with 3 children returns in under 1 s with 143" {
	start_image stop "$APP_IMG"
	wait_for "3 sleeps" '[ "$(sleepers)" -eq 3 ]'
	run mapped /usr/local/lib/libzreap.so
	echo "PID 1 maps the library $output times"
	[ "$output" -ge 1 ]
	timed pm stop -t 2 "$C" >/dev/null
	echo "podman stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 143 ]
	[ "$ms" -lt 1000 ]
}

@test "control: the same Containerfile without the ENV line: podman stop -t 2 waits it out and kills (137)" {
	start_image stop "$APP0_IMG"
	wait_for "3 sleeps" '[ "$(sleepers)" -eq 3 ]'
	# The library is in the image, but nothing loads it.
	in_c 'test -f /usr/local/lib/libzreap.so'
	run mapped /usr/local/lib/libzreap.so
	[ "$output" -eq 0 ]
	timed pm stop -t 2 "$C" >/dev/null
	echo "podman stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 137 ]
	[ "$ms" -ge 2000 ]
}

@test "Dockerfile recipe: python3 run in the image as PID 1 leaking 200 orphans leaves no zombie" {
	start_image leak "$APP_IMG" python3 -c "$PY_LEAKER"
	wait_for "the leaker" 'logs_have done'
	wait_for "no zombie" '[ "$(zombies)" -eq 0 ]' || true
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 0 ]
}

@test "control: in the image without the ENV line the 200 orphans stay zombies" {
	start_image leak "$APP0_IMG" python3 -c "$PY_LEAKER"
	wait_for "the leaker" 'logs_have done'
	wait_for "200 zombies" '[ "$(zombies)" -ge 200 ]' || true
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 200 ]
}

# ---- README's Kubernetes recipe, with podman kube play

@test "Kubernetes recipe (kube play): initContainer copies the library into an emptyDir; python3 PID 1 has it mapped, leaks no zombie, pod stop: 143 in under 1 s" {
	kube_ok
	timed play_pod 1
	echo "podman kube play took $ms ms"
	wait_for "the leaker" 'logs_have done'
	# The app is PID 1 of its container: the pod does not share its PID namespace.
	run in_c 'tr "\0" " " </proc/1/cmdline'
	echo "PID 1: ${output:0:40}"
	[[ "$output" == "python3 -c "* ]]
	# The initContainer's copy, in the volume, read-only for the app, is what PID 1 loaded.
	run in_c 'sha256sum </zreap/libzreap.so'
	[ "${output%% *}" = "$(sha256sum <"$LIB" | cut -d' ' -f1)" ]
	run in_c 'awk '\''$2 == "/zreap" { print $4 }'\'' /proc/mounts'
	echo "/zreap mounted $output"
	[[ "$output" == ro,* ]]
	run mapped /zreap/libzreap.so
	echo "PID 1 maps the library $output times"
	[ "$output" -ge 1 ]
	wait_for "no zombie" '[ "$(zombies)" -eq 0 ]' || true
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 0 ]
	timed pm pod stop -t 2 "$POD" >/dev/null
	echo "podman pod stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 143 ]
	[ "$ms" -lt 1000 ]
	# kube down removes the pod and its emptyDir volume.
	timed pm kube down "$YAML" >/dev/null
	echo "podman kube down took $ms ms"
	run pm pod exists "$POD"
	[ "$status" -eq 1 ]
	run pm volume exists "$POD-vol"
	[ "$status" -eq 1 ]
}

@test "control: the same pod without the LD_PRELOAD line: 200 zombies, pod stop -t 2 waits it out (137)" {
	kube_ok
	play_pod 0
	wait_for "the leaker" 'logs_have done'
	run in_c 'tr "\0" " " </proc/1/cmdline'
	[[ "$output" == "python3 -c "* ]]
	run mapped /zreap/libzreap.so
	[ "$output" -eq 0 ]
	wait_for "200 zombies" '[ "$(zombies)" -ge 200 ]' || true
	run zombies
	echo "zombies: $output"
	[ "$output" -eq 200 ]
	timed pm pod stop -t 2 "$POD" >/dev/null
	echo "podman pod stop took $ms ms"
	run exit_code
	echo "exit code $output"
	[ "$output" -eq 137 ]
	[ "$ms" -ge 2000 ]
}

# ---- README's "Checking an image before mounting the library in"

@test "check recipe: zreap-run --check in the image: its CMD (bash), python3 and dash take the library (exit 0)" {
	local cmd
	cmd=$(pm image inspect -f '{{.Config.Entrypoint}} {{.Config.Cmd}}' "$BASE_IMG")
	echo "entrypoint and cmd: $cmd"
	[ "$cmd" = "[] [bash]" ]
	run --separate-stderr zcheck bash
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(takes_line /usr/bin/bash)" ]
	run --separate-stderr zcheck /usr/bin/python3
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(takes_line /usr/bin/python3)" ]
	run --separate-stderr zcheck /bin/dash
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$(takes_line /bin/dash)" ]
}

@test "check recipe: zreap-run --check refuses a static binary in the image: exit 125 and the static-binary line" {
	command -v gcc >/dev/null || skip "no gcc"
	local bin=$BATS_TEST_TMPDIR/static-hello
	gcc -static -O1 -o "$bin" "$HC/static-hello.c"
	# It is a real program that runs in the image...
	run pm run --rm --network none -v "$bin:/static-hello:ro" "$BASE_IMG" /static-hello
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from a static binary" ]
	# ...that the library cannot reach. (125 is also podman's own failure: the line tells.)
	ZC_MOUNTS=(-v "$bin:/static-hello:ro")
	run --separate-stderr zcheck /static-hello
	echo "status $status"; echo "$output"; echo "$stderr"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	[[ "$stderr" == "zreap-run: /static-hello is statically linked (it has no program interpreter): "*"tini"* ]]
}
