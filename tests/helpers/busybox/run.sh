# run.sh ROUNDS: a run.sh-style script for `busybox sh` as PID 1, with busybox's applets first
# in PATH (as in a busybox image: sh, sleep, timeout and xargs are all busybox). Background
# jobs and `wait $!` while a background subshell leaks orphans continuously (`( sleep 0.1 & )`:
# the subshell exits at once and the sleep is adopted by PID 1; at least 200, and until the
# rounds are done), with busybox's timeout (whose watcher process is itself an orphan of PID 1)
# and xargs as children; then it ends with `exec busybox sh run.sh ROUNDS exec` (phase "exec"),
# which runs a few more jobs, leaks 100 more orphans (`( sleep 1000 & )`, for the test to end
# once PID 1 is idle), waits for its jobs, prints "idle" and blocks in a read that never
# returns.
# busybox sh reaps any child, orphans too, with waitpid(-1, WNOHANG) at its next command after
# a SIGCHLD, and with waitpid(-1) in its waits: alone as PID 1 it leaves zombies only where it
# blocks without waiting (a read, as here) or after an exec into a program that does not reap.
# Each round, with the status `$?` must give after `wait $!`:
#   sh -c 'exit c' & wait $!                          c (distinct per job)
#   sleep 1000 & kill -KILL/-TERM/-USR1 $!; wait $!   137/143/138
#   a job that has exited before the wait              its code
#   8 jobs at once, then a wait for each in reverse    their codes
# and once: timeout 0.2 sleep 5 (143), timeout -s KILL 0.2 sleep 5 (137),
# timeout 5 sh -c 'exit 7' (7); xargs running sh -c 'exit 5' (123), 'exit 255' (124),
# 'kill -TERM $$' (125), a missing command (127), `true` for each of 3 arguments (0).
# Prints one line per wrong status, then per phase
#   PHASE: jobs=J bad=B orphans=O sigcgt=HEX (PID 1's SigCgt)
#   statuses: the statuses in order (for a diff between runs)
rounds=${1:-5}
phase=${2:-main}

jobs=0 bad=0 statuses=""
check() { # check EXPECTED GOT WHAT
	jobs=$((jobs + 1))
	statuses="$statuses $2"
	[ "$1" = "$2" ] || { bad=$((bad + 1)); echo "wrong: $3: expected $1, got $2"; }
}

# exited PID: the process is a zombie or gone.
exited() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	line=${line##*) }
	[ "${line%% *}" = Z ]
}

report() {
	local k v sigcgt
	while read -r k v; do [ "$k" = SigCgt: ] && sigcgt=$v; done </proc/1/status
	echo "$phase: jobs=$jobs bad=$bad orphans=$orphans sigcgt=$sigcgt"
	echo "statuses:$statuses"
}

if [ "$phase" = exec ]; then
	# After the exec: own jobs and 100 more orphans, leaked from the foreground this time.
	for c in 11 22 33; do
		sh -c "exit $c" &
		wait $!
		check $c $? "sh -c 'exit $c' after the exec"
	done
	sh -c 'exit 44' &
	p=$!
	i=0
	while [ $i -lt 100 ]; do
		( sleep 1000 & ) # ended from outside once PID 1 is idle
		i=$((i + 1))
	done
	wait $p
	check 44 $? "a job that ended during the leak"
	sleep 0.05 &
	wait
	check 0 $? "wait for all"
	orphans=100
	report
	# Idle, as a server would be: blocked in a read that never returns (a FIFO held open for
	# reading and writing), which busybox sh does not leave to reap. The zombies are counted
	# from outside.
	fifo=$(mktemp -u)
	mkfifo "$fifo"
	exec 9<>"$fifo"
	rm -f "$fifo"
	echo idle
	read -r _ <&9
	echo "read returned"
	exit 1
fi

dir=$(mktemp -d)

# busybox timeout execs the command in its own process and leaves a watcher behind, orphaned.
# Started first: the watcher looks once a second.
timeout 0.2 sleep 5 &
t_term=$!
timeout -s KILL 0.2 sleep 5 &
t_kill=$!
timeout 5 sh -c 'exit 7' &
t_ok=$!

(
	made=0
	while [ "$made" -lt 200 ] || [ ! -e "$dir/stop" ]; do
		( sleep 0.1 & )
		made=$((made + 1))
	done
	echo "$made" >"$dir/made"
) &
leaker=$!

r=0
while [ $r -lt "$rounds" ]; do
	c=$((r * 20))
	while [ $c -lt $((r * 20 + 20)) ]; do
		sh -c "exit $((c % 256))" &
		wait $!
		check $((c % 256)) $? "sh -c 'exit $((c % 256))'"
		c=$((c + 1))
	done
	for s in KILL TERM USR1; do
		n=$(kill -l $s)
		sleep 1000 &
		p=$!
		kill -$s $p
		wait $p
		check $((128 + n)) $? "sleep killed by SIG$s"
	done
	sh -c "exit $((r + 50))" &
	p=$!
	until exited $p; do :; done
	wait $p
	check $((r + 50)) $? "a job that exited before the wait"
	pids=""
	k=0
	while [ $k -lt 8 ]; do
		sh -c "exit $((100 + r * 8 + k))" &
		pids="$! $pids"
		k=$((k + 1))
	done
	k=7
	for p in $pids; do
		wait $p
		check $((100 + r * 8 + k)) $? "job $k of 8 at once"
		k=$((k - 1))
	done
	r=$((r + 1))
done

# busybox xargs: its own waits for its children, and its exit codes.
echo a | xargs sh -c 'exit 5' 2>/dev/null
check 123 $? "xargs sh -c 'exit 5'"
echo a | xargs sh -c 'exit 255' 2>/dev/null
check 124 $? "xargs sh -c 'exit 255'"
echo a | xargs sh -c 'kill -TERM $$' 2>/dev/null
check 125 $? "xargs sh -c 'kill -TERM \$\$'"
echo a | xargs /nonexistent/command 2>/dev/null
check 127 $? "xargs /nonexistent/command"
echo a b c | xargs -n 1 true
check 0 $? "xargs -n 1 true"

wait $t_term
check 143 $? "timeout 0.2 sleep 5"
wait $t_kill
check 137 $? "timeout -s KILL 0.2 sleep 5"
wait $t_ok
check 7 $? "timeout 5 sh -c 'exit 7'"

: >"$dir/stop"
wait $leaker
check 0 $? "the leaker"
orphans=$(cat "$dir/made")
rm -rf "$dir"
report

exec busybox sh "$0" "$rounds" exec
