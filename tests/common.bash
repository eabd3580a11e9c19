# common.bash: loaded by every suite. Paths, and ways to run a program as PID 1.
bats_require_minimum_version 1.5.0
ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
LIB="$ROOT/build/libzreap.so"
H="$ROOT/build/tests"

# as_pid1 [ENV-OPTION ...] [VAR=value ...] CMD [ARGS]: CMD as PID 1 of a fresh PID namespace,
# shim preloaded, started as a runtime starts it: SIGINT and SIGQUIT at their defaults, whatever
# the test runner inherited (a background job of a script has them ignored). ENV-OPTIONs (such
# as --default-signal=...) go to env before the variables, where env still reads options.
as_pid1() { pid1_env LD_PRELOAD="$LIB" "$@"; }
# bare_pid1 [ENV-OPTION ...] [VAR=value ...] CMD [ARGS]: the same without the shim.
bare_pid1() { pid1_env "$@"; }
pid1_env() {
	local opts=() vars=()
	while [ $# -gt 0 ]; do
		case $1 in
		--*) opts+=("$1") ;;
		*=*) vars+=("$1") ;;
		*) break ;;
		esac
		shift
	done
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT ${opts[@]+"${opts[@]}"} \
		${vars[@]+"${vars[@]}"} "$@"
}

# pid1_then SIG [VAR=value ...] -- ARGS: runs the stopper ($STOPPER, default the glibc one) as
# PID 1 (with the shim $LIB unless NOSHIM=1), sends SIG from outside the namespace once it
# says ready, as a container runtime does, and sets $output (its output), $status and $ms
# (from the signal to its end).
pid1_then() {
	local sig=$1; shift
	local vars=() out
	while [ "$1" != -- ]; do vars+=("$1"); shift; done
	shift
	[ "${NOSHIM:-0}" = 1 ] || vars+=("LD_PRELOAD=$LIB")
	out=$BATS_TEST_TMPDIR/out
	# INT and QUIT arrive ignored in a background job of a script: reset them, as a runtime does.
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT "${vars[@]}" \
		"${STOPPER:-$H/stopper}" "$@" >"$out" 2>&1 &
	local u=$! p1="" i
	for i in $(seq 1000); do grep -q ready "$out" 2>/dev/null && break; sleep 0.01; done
	p1=$(cat /proc/$u/task/$u/children)
	local start=$(date +%s%N)
	kill -"$sig" "$p1"
	if [ "${EXPECT_ALIVE:-0}" = 1 ]; then
		sleep 1.5
		if kill -0 "$p1" 2>/dev/null; then status=alive; else status=dead; fi
		kill -9 "$p1" 2>/dev/null
		wait "$u" || true
	else
		wait "$u" && status=0 || status=$?
	fi
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	output=$(cat "$out")
	echo "status=$status ms=$ms"; echo "$output"
}

# pid1_gone PID: true once PID is gone, or a zombie its parent (the unshare) has yet to collect.
pid1_gone() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	[[ "$line" == *") Z "* ]]
}

# count TEXT: how many lines of $output contain TEXT.
count() {
	grep -cF -- "$1" <<<"$output" || true
}

# A PID 1 a test started in the background goes in left_pid1; a suite's teardown calls
# pid1_cleanup, which kills it should an assertion have failed before it was gone.
pid1_cleanup() {
	if [ -n "${left_pid1:-}" ] && ! pid1_gone "$left_pid1"; then
		kill -9 "$left_pid1" 2>/dev/null || true
	fi
}

# signal_and_await SIG P1 U [MS]: sends SIG to P1, a namespace's PID 1, from outside, as a
# runtime does, and gives it MS (default 1000) to be gone. Sets $ms (from the signal until it
# was gone, or the bound) and $status: its exit status, collected from U (the unshare that
# started it), or "alive" if it is still there (it is then killed).
signal_and_await() {
	local sig=$1 p1=$2 u=$3 bound=${4:-1000} start
	start=${EPOCHREALTIME/./}
	kill -"$sig" "$p1"
	until pid1_gone "$p1" || (( ${EPOCHREALTIME/./} - start > bound * 1000 )); do
		sleep 0.01
	done
	ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
	if pid1_gone "$p1"; then
		wait "$u" && status=0 || status=$?
	else
		status=alive
		kill -9 "$p1"
		wait "$u" || true
	fi
}

# line TEXT: the number of the first line of $output that contains TEXT (0 if none).
line() {
	awk -v t="$1" 'index($0, t) { print NR; f = 1; exit } END { if (!f) print 0 }' <<<"$output"
}

# field KEY: the value of KEY=... in the summary line $res.
# pid1_in_background OUT [VAR=value ...] CMD [ARGS]: CMD as PID 1 of a fresh PID namespace, in
# the background, stdout and stderr to OUT, INT and QUIT at their defaults (as a runtime
# starts it). Sets $u (the unshare process), $p1 (PID 1's pid outside the namespace) and
# $left_pid1 (for pid1_cleanup, should an assertion fail before PID 1 is gone).
pid1_in_background() {
	local out=$1
	shift
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT "$@" >"$out" 2>&1 3>&- &
	u=$!
	p1=""
	has_pid1 || wait_for 5000 has_pid1
	left_pid1=$p1
}
has_pid1() { { read -r p1 _ </proc/$u/task/$u/children; } 2>/dev/null || true; [ -n "$p1" ]; } # no newline

# ready_lines OUT N: OUT holds at least N lines that say "ready".
ready_lines() { [ "$(grep -c ready "$1")" -ge "$2" ]; }

# statuses: the "statuses:" line of $output, for a diff of the runs with and without the shim.
statuses() {
	grep -m1 '^statuses:' <<<"$output"
}

# wait_for MS CMD [ARGS]: true as soon as CMD succeeds (polled every 10 ms); after MS ms it says
# what it waited for and fails.
wait_for() {
	local end=$(( ${EPOCHREALTIME/./} + $1 * 1000 ))
	shift
	until "$@"; do
		(( ${EPOCHREALTIME/./} < end )) || { echo "timed out waiting for: $*"; return 1; }
		sleep 0.01
	done
}

# free_port: a TCP port on 127.0.0.1 that no socket uses and nothing answers on (the test's
# PID namespaces share the network).
free_port() {
	local p i
	for i in $(seq 100); do
		p=$((10000 + RANDOM % 22000))
		if command -v ss >/dev/null; then
			[ -z "$(ss -Htan "sport = :$p")" ] || continue   # any state, not only listening
		fi
		(exec 4<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		echo "$p"
		return 0
	done
	return 1
}

field() {
	grep -o "\(^\| \)$1=[^ ]*" <<<"$res" | head -1 | cut -d= -f2
}

# zeros KEY...: each KEY of $res is 0; names the first that is not.
zeros() {
	local k
	for k; do
		[ "$(field "$k")" = 0 ] || { echo "$k=$(field "$k"), not 0"; return 1; }
	done
}
