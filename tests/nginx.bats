#!/usr/bin/env bats
# nginx.bats: Debian's nginx (/usr/sbin/nginx), master and two workers, as PID 1 of a PID
# namespace, each run with the shim set against the same run without it:
#   - start: the master is PID 1, two workers, an HTTP GET answers 200
#   - reload (SIGHUP from outside): new workers, the old ones exit 0 as the master itself
#     reports it (its SIGCHLD handler collects them with waitpid(-1, WNOHANG)); the same
#     reports with and without the shim, none taken by the shim, no zombie, still serving
#   - orphans handed to the master (from a process that entered the namespace from outside):
#     each collected exactly once, by nginx's own waitpid(-1) or by the shim, no zombie; the
#     workers are left alone and nginx serves on
#   - stop (SIGTERM: fast shutdown; SIGQUIT: graceful): nginx handles both itself, exits 0
#     within 1 s with its workers gone, and the shim forwards nothing
# nginx's configuration and the orphan maker are in tests/helpers/nginx/.

load common

N="$BATS_TEST_DIRNAME/helpers/nginx"
NGINX=/usr/sbin/nginx

setup_file() {
	export BATS_TEST_TIMEOUT=60
}

setup() {
	M="" U="" D=""
	[ -f "$LIB" ] || skip "build/libzreap.so missing: run make"
	[ -x "$NGINX" ] || skip "nginx not installed (Debian's nginx: scripts/install-deps test)"
}

teardown() {
	# shown when the test failed: where this nginx was
	if [ -n "${D:-}" ]; then
		echo "last nginx: $D, port ${PORT:-}"
		tail -n 30 "$D/out" "$D/error.log" 2>/dev/null || true
	fi
	# a master left running by a failed assertion, and its unshare
	if [ -n "$M" ] && [ -e "/proc/$M" ]; then kill -9 "$M" 2>/dev/null || true; fi
	if [ -n "$U" ]; then wait "$U" 2>/dev/null || true; fi
}

# ---- helpers ----

# http_code: the HTTP status of GET / on the server (curl if installed, else bash's /dev/tcp).
http_code() {
	if command -v curl >/dev/null; then
		curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT/" || true
	else
		timeout 3 bash -c 'exec 4<>"/dev/tcp/127.0.0.1/$1" || exit
			printf "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n" >&4
			read -r _ code _ <&4 && echo "$code"' _ "$PORT" || true
	fi
}

# ns_proc: the /proc of the namespace (mounted by unshare --mount-proc), seen from outside.
ns_proc() { echo "/proc/$M/root/proc"; }

# workers: the host pids of the master's live children that are nginx workers.
workers() {
	local c line
	for c in $(cat /proc/"$M"/task/*/children 2>/dev/null); do
		{ read -r line <"/proc/$c/stat"; } 2>/dev/null || continue
		[[ "$line" == *") Z "* ]] && continue
		[ "$(tr -d '\0' <"/proc/$c/cmdline" 2>/dev/null)" = "nginx: worker process" ] && echo "$c"
	done
	return 0
}

# nspid HOSTPID: the pid of HOSTPID in the namespace, as nginx logs it.
nspid() { awk '/^NSpid:/ { print $NF }' "/proc/$1/status"; }

# zombies: how many processes of the namespace are zombies.
zombies() {
	local n=0 line f
	for f in "$(ns_proc)"/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		[[ "$line" == *") Z "* ]] && n=$((n + 1))
	done
	echo "$n"
}

two_workers() { [ "$(workers | wc -l)" -eq 2 ]; }
serving() { [ "$(http_code)" = 200 ]; }

# ngx_start shim|bare: nginx, with the shim (ZREAP_LOG=info) or without, as PID 1 of a fresh
# PID namespace; returns once two workers run and GET / answers 200. Sets D (its directory:
# error.log, out = stdout and stderr), PORT, U (the unshare process) and M (the master).
ngx_start() {
	local mode=$1 vars=() i
	D=$BATS_TEST_TMPDIR/$mode
	mkdir -p "$D"
	PORT=$(free_port)
	sed "s#@DIR@#$D#g; s#@PORT@#$PORT#g" "$N/nginx.conf.in" >"$D/nginx.conf"
	[ "$mode" = bare ] || vars=(LD_PRELOAD="$LIB" ZREAP_LOG=info)
	unshare --pid --fork --mount-proc env --default-signal=INT,QUIT "${vars[@]}" \
		"$NGINX" -e "$D/error.log" -c "$D/nginx.conf" -p "$D/" -g 'daemon off;' \
		>"$D/out" 2>&1 3>&- &
	U=$!
	for i in $(seq 500); do
		# one pid and a space, no newline: read fails at the end of the file, M is set
		{ read -r M _ <"/proc/$U/task/$U/children" || true; } 2>/dev/null
		[ -n "$M" ] && break
		[ -e "/proc/$U" ] || break
		sleep 0.01
	done
	[ -n "$M" ] || { echo "nginx did not start"; cat "$D/out" "$D/error.log"; return 1; }
	wait_for 10000 two_workers || { cat "$D/out" "$D/error.log"; return 1; }
	wait_for 10000 serving || { cat "$D/out" "$D/error.log"; return 1; }
}

# stop_master SIG: sends SIG to the master from outside, as a runtime does; sets ms (from the
# signal until the master is gone: not in /proc, or a zombie unshare has yet to collect) and
# status (its exit status, or "alive" if it still runs 3 s after the signal; it is then
# killed). A master already gone before the signal is said so, and its status is kept.
stop_master() {
	local start i line gone=0
	start=$(date +%s%N)
	kill -"$1" "$M" || echo "the master was gone before the signal"
	for i in $(seq 300); do
		{ read -r line <"/proc/$M/stat"; } 2>/dev/null || { gone=1; break; }
		[[ "$line" == *") Z "* ]] && { gone=1; break; }
		sleep 0.01
	done
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ $gone = 1 ]; then
		wait "$U" && status=0 || status=$?
	else
		status=alive
		kill -9 "$M"
		wait "$U" || true
	fi
	U="" M=""  # gone: nothing left for teardown to kill (its pid may be reused)
	echo "$1: status=$status ms=$ms"
}

# shim_log: the shim's lines (zreap[1]: ...). The first goes to the stderr nginx was started
# with ($D/out); nginx then points its stderr at the error log (-e), so the later ones are there.
shim_log() { cat "$D/out" "$D/error.log" | grep '^zreap\[' || true; }

# master_log: the lines the master (pid 1) wrote to the error log, without the date.
master_log() { sed -n 's/^[0-9/]* [0-9:]* \(\[[a-z]*\] 1#1: .*\)/\1/p' "$D/error.log"; }

# kinds: the kinds of the master's lines about its children (pids and codes made N), counted.
kinds() {
	master_log | grep -E 'exited|waitpid|unknown process|start worker' |
		sed -E 's/[0-9]+/N/g' | sort | uniq -c
}

# ---- 1. start ----

@test "nginx PID 1 starts: the master is PID 1, two workers, GET answers 200; with and without the shim" {
	for mode in shim bare; do
		ngx_start $mode
		echo "$mode: master $M, workers $(workers | tr '\n' ' ')port $PORT"
		[ "$(nspid "$M")" = 1 ]
		[ "$(tr -d '\0' <"/proc/$M/cmdline")" = "nginx: master process $NGINX -e $D/error.log -c $D/nginx.conf -p $D/ -g daemon off;" ]
		[ "$(workers | wc -l)" -eq 2 ]
		[ "$(http_code)" = 200 ]
		grep -q "1#1: start worker processes" "$D/error.log"
		[ "$(grep -c '1#1: start worker process [0-9]' "$D/error.log")" -eq 2 ]
		# the shim is active in the master (its sentinel runs), and says nothing else
		shim_log
		if [ $mode = shim ]; then
			grep -q "^zreap\[1\]: .*active as PID 1" "$D/out"
			[ "$(shim_log | wc -l)" -eq 1 ]
			grep -q '^zreap-sentinel$' "$(ns_proc)"/[0-9]*/comm
		else
			[ ! -s "$D/out" ]
			[ -z "$(shim_log)" ]
		fi
		stop_master QUIT
		[ "$status" = 0 ]
	done
}

# ---- 2. reload ----

@test "nginx PID 1 reload (SIGHUP from outside): new workers, each old one reported once by the master as exited with code 0, the same reports without the shim" {
	for mode in shim bare; do
		ngx_start $mode
		old=$(workers)
		old_ns=$(for w in $old; do nspid "$w"; done)
		echo "$mode: old workers $(echo $old) (in the namespace: $(echo $old_ns))"
		kill -HUP "$M"
		# each old worker reported by the master (any report), and two new workers running
		for p in $old_ns; do
			wait_for 10000 grep -q "1#1: worker process $p exited" "$D/error.log"
		done
		new_two() { [ "$(workers | wc -l)" -eq 2 ] && [ -z "$(comm -12 <(workers | sort) <(sort <<<"$old"))" ]; }
		wait_for 10000 new_two
		new=$(workers)
		echo "$mode: new workers $(echo $new)"
		master_log
		# exactly one report per old worker, an exit with code 0, none on a signal
		for p in $old_ns; do
			[ "$(grep -c "1#1: worker process $p exited" "$D/error.log")" -eq 1 ]
			grep -q "1#1: worker process $p exited with code 0$" "$D/error.log"
		done
		[ "$(grep -c 'exited on signal' "$D/error.log")" -eq 0 ]
		# the master's SIGCHLD handler never came up empty-handed, and saw no stranger
		[ "$(grep -c 'waitpid() failed' "$D/error.log")" -eq 0 ]
		[ "$(grep -c 'unknown process' "$D/error.log")" -eq 0 ]
		[ "$(grep -c 'reloading\|reconfiguring' "$D/error.log")" -ge 1 ]
		# still serving, by the new workers; the old ones gone from the namespace entirely
		[ "$(http_code)" = 200 ]
		for w in $old; do [ ! -e "/proc/$w" ]; done
		[ "$(zombies)" = 0 ]
		# with the shim: it took nothing, no orphan reaped, no own child collected for nginx
		shim_log
		[ "$(shim_log | wc -l)" -eq $([ $mode = shim ] && echo 1 || echo 0) ]
		eval "kinds_$mode=\$(kinds)"
		stop_master QUIT
		[ "$status" = 0 ]
	done
	echo "kinds of the master's reports with the shim:"; echo "$kinds_shim"
	echo "without:"; echo "$kinds_bare"
	diff <(echo "$kinds_shim") <(echo "$kinds_bare")
}

# ---- 3. orphans ----

# leak_orphans COUNT: COUNT orphans handed to the master (tests/helpers/nginx/orphans.sh run in
# the namespace by nsenter from outside: its parent is outside, it exits, its children are
# re-parented to the namespace's init); checks that they are the master's children, lets them
# exit (orphan i with code 20+i) and waits until they are gone. Sets orphans ("NSPID CODE"
# lines) and ms (from their release until none is left, zombie or not).
leak_orphans() {
	local n=$1 p code line start i ppid
	rm -f "$D/orphans" "$D/go"
	nsenter -t "$M" -p -- sh "$N/orphans.sh" "$n" "$D" >"$D/nsenter.out" 2>&1 3>&-
	has_all() { [ "$(grep -c . "$D/orphans" 2>/dev/null)" -eq "$n" ]; }
	wait_for 10000 has_all
	orphans=$(cat "$D/orphans")
	# each a child of nginx now: PID 1 in the namespace, the master's pid outside
	while read -r p code; do
		read -r line <"$(ns_proc)/$p/stat"
		ppid=$(sed 's/.*) //' <<<"$line" | cut -d' ' -f2)
		[ "$ppid" = 1 ] || { echo "orphan $p: parent $ppid"; return 1; }
	done <<<"$orphans"
	start=$(date +%s%N)
	touch "$D/go"
	gone() {
		local p code
		while read -r p code; do [ ! -e "$(ns_proc)/$p" ] || return 1; done <<<"$orphans"
	}
	wait_for 5000 gone
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
}

@test "orphans handed to nginx PID 1: each collected once (by nginx's own waitpid(-1) or the shim) with its status, no zombie, workers untouched" {
	for mode in shim bare; do
		ngx_start $mode
		before=$(workers)
		leak_orphans 6
		echo "$mode: orphans $(echo $orphans), gone ${ms} ms after their release"
		master_log | grep -E 'unknown|exited|waitpid' || true
		shim_log
		[ "$(zombies)" = 0 ]
		by_nginx=0 by_shim=0
		while read -r p code; do
			n=$(grep -c "1#1: unknown process $p exited" "$D/error.log" || true)
			s=$(shim_log | grep -c "reaped orphan $p (sh)" || true)
			# once, by one of them, with the orphan's own exit code
			[ $((n + s)) -eq 1 ]
			[ "$n" = 0 ] || grep -q "1#1: unknown process $p exited with code $code$" "$D/error.log"
			[ "$s" = 0 ] || shim_log | grep -q "reaped orphan $p (sh), which exited with status $code$"
			by_nginx=$((by_nginx + n)) by_shim=$((by_shim + s))
		done <<<"$orphans"
		echo "$mode: collected by nginx $by_nginx, by the shim $by_shim"
		# nothing else: no other stranger, no failed waitpid, no worker reported
		[ "$(grep -c 'unknown process' "$D/error.log")" -eq "$by_nginx" ]
		[ "$(grep -c 'waitpid() failed' "$D/error.log")" -eq 0 ]
		[ "$(grep -c 'worker process [0-9]* exited' "$D/error.log")" -eq 0 ]
		# the workers are the same two, and serve
		[ "$(workers)" = "$before" ]
		[ "$(http_code)" = 200 ]
		if [ $mode = bare ]; then
			# Without the shim nginx collects every orphan itself: its SIGCHLD handler loops
			# on waitpid(-1, WNOHANG), and logs each as an unknown process at notice.
			[ "$by_nginx" -eq 6 ]
		fi
		stop_master TERM
		[ "$status" = 0 ]
	done
}

# ---- 4. stop ----

# stop_checks SIG MODE: after stop_master SIG, what must hold with and without the shim.
stop_checks() {
	local w
	master_log
	[ "$status" = 0 ]
	[ "$ms" -lt 1000 ]
	for w in $workers_before; do [ ! -e "/proc/$w" ]; done
	for w in $workers_ns; do
		[ "$(grep -c "1#1: worker process $w exited with code 0$" "$D/error.log")" -eq 1 ]
	done
	[ "$(grep -c 'waitpid() failed\|exited on signal\|unknown process' "$D/error.log")" -eq 0 ]
	grep -q "1#1: exit$" "$D/error.log"
	if [ "$1" = TERM ]; then
		grep -q "1#1: signal 15 (SIGTERM) received.*exiting" "$D/error.log"
	else
		grep -q "1#1: signal 3 (SIGQUIT) received.*shutting down" "$D/error.log"
		[ "$(grep -c 'gracefully shutting down' "$D/error.log")" -eq 2 ]  # each worker
	fi
	# nginx's own handler took the signal: nothing forwarded, no exit of the shim's; the
	# shim's one line is the one that it is active
	shim_log
	[ "$(shim_log | grep -c 'forward\|exiting')" -eq 0 ]
	[ "$(shim_log | wc -l)" -eq $([ "$2" = shim ] && echo 1 || echo 0) ]
}

# sig_caught SIG: 1 if the master has a handler of its own for SIG (SigCgt), else 0.
sig_caught() {
	local cgt
	cgt=$(awk '/^SigCgt:/ { print $2 }' "/proc/$M/status")
	echo $(( (0x$cgt >> ($(kill -l "$1") - 1)) & 1 ))
}

@test "nginx PID 1 stops on SIGTERM from outside (fast shutdown): exit 0 within 1 s, workers gone; the shim forwards nothing" {
	for mode in shim bare; do
		ngx_start $mode
		[ "$(sig_caught TERM)" = 1 ]  # nginx's handler, with and without the shim
		workers_before=$(workers)
		workers_ns=$(for w in $workers_before; do nspid "$w"; done)
		stop_master TERM
		stop_checks TERM $mode
	done
}

@test "nginx PID 1 stops on SIGQUIT from outside (graceful shutdown): exit 0 within 1 s, workers gone; the shim forwards nothing" {
	for mode in shim bare; do
		ngx_start $mode
		[ "$(sig_caught QUIT)" = 1 ]
		workers_before=$(workers)
		workers_ns=$(for w in $workers_before; do nspid "$w"; done)
		stop_master QUIT
		stop_checks QUIT $mode
	done
}
