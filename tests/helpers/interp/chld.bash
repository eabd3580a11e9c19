#!/bin/bash
# chld.bash m|plain ROUNDS: bash as PID 1 with `trap ... CHLD` (and `set -m` with "m"),
# background jobs and `wait $!`, while orphans are adopted and reaped around them: every job
# leaves two orphans to PID 1 (a subshell's background child, alive or already a zombie when
# the subshell exits), and waits until both are dead before it exits itself.
# Bash's own SIGCHLD handler (the only signal a non-interactive bash catches: SigCgt 0x10000)
# reaps every child, orphans included, with waitpid(-1, WNOHANG); `wait $pid` returns the
# status it stored, and the CHLD trap runs once per child reaped (bash 5.2 does so with or
# without job control; orphans it reaped count too, so with the shim, which takes most of
# them first, the trap runs fewer times).
#
# Why the orphans die inside the jobs, and not in a free-running leak. Bash 5.2 has a race of
# its own, with or without the shim: after `wait` returns, `this_shell_builtin` still names
# `wait` until the next command with words is expanded, and a SIGCHLD whose handler reaps a
# child in that window runs the CHLD trap inside the signal handler (waitchld), on top of
# whatever malloc or parse the main flow is in. Measured with a free-running leak, 200 runs
# each: 2-5% of runs without the shim ended in a heap corruption abort, a deadlock in malloc,
# a syntax error in a command substitution or a short run. So here no child of PID 1 exits
# after a `wait` returns and before the next command: a job's orphans are dead before the job
# exits, the killed sleeps are dead when their wait returns, and the 8 jobs waited in reverse
# have all been reaped by bash's handler before the first of those waits.
#
# Each round, with the status `wait` must give:
#   sh -c 'exit c' & wait $!                          c (distinct per job)
#   sleep 1000 & kill -KILL/-TERM/-USR1 $!; wait $!   137/143/138
#   a job that has exited before the wait              its code
#   8 jobs at once, all exited, then a wait for each in reverse    their codes
# Then it waits, forking nothing, until no zombie is left, or their number has stayed the same
# for 0.5 s. Prints one line per wrong status, then
#   jobs=J bad=B traps=T orphans=O zombies=Z sigcgt=HEX (PID 1's SigCgt) flags=$-
#   statuses: the statuses in order (for a diff between runs)
[ "$1" = m ] && set -m
rounds=${2:-10}
dir=$(mktemp -d)
: >"$dir/orphans"

traps=0
trap 'traps=$((traps + 1))' CHLD

# The job: sh -c "$job" sh CODE FILE. Each orphan is the background child of a subshell that exits
# at once; the job then polls its /proc entry until it is a zombie or gone (reaped by PID 1),
# appends its pid to FILE, and exits with CODE.
job='for i in 1 2; do
	o=$( (/bin/true >/dev/null & echo $!) )
	while read -r l 2>/dev/null <"/proc/$o/stat"; do
		case $l in *") Z "*) break ;; esac
	done
	echo "$o" >>"$2"
done
exit "$1"'
run_job() { sh -c "$job" sh "$1" "$dir/orphans" & }

# exited PID: the process is a zombie or gone (bash's SIGCHLD handler reaps it at once).
exited() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	line=${line##*) }
	[ "${line%% *}" = Z ]
}

jobs=0 bad=0 statuses=""
check() { # check EXPECTED GOT WHAT
	jobs=$((jobs + 1))
	statuses="$statuses $2"
	[ "$1" = "$2" ] || { bad=$((bad + 1)); echo "wrong: $3: expected $1, got $2"; }
}

for ((r = 0; r < rounds; r++)); do
	for ((c = r * 20; c < r * 20 + 20; c++)); do
		run_job $((c % 256))
		wait $!
		check $((c % 256)) $? "a job's 'exit $((c % 256))'"
	done
	for s in KILL:9 TERM:15 USR1:10; do
		sleep 1000 &
		p=$!
		kill -${s%:*} $p
		wait $p
		check $((128 + ${s#*:})) $? "sleep killed by SIG${s%:*}"
	done
	run_job $((r + 50))
	p=$!
	until exited $p; do :; done
	wait $p
	check $((r + 50)) $? "a job that exited before the wait"
	pids=()
	for k in {0..7}; do
		run_job $((100 + r * 8 + k))
		pids+=($!)
	done
	for k in {0..7}; do
		until exited ${pids[k]}; do :; done
	done
	for ((k = 7; k >= 0; k--)); do
		wait ${pids[k]}
		check $((100 + r * 8 + k)) $? "job $k of 8 at once"
	done
done

mapfile -t orphans <"$dir/orphans"
# A FIFO held open for reading and writing: `read -t` on it naps without forking.
mkfifo "$dir/nap"
exec 9<>"$dir/nap"
rm -rf "$dir"

# Zombies, counted with builtins only (a fork would make bash reap them itself).
count_zombies() {
	zombies=0
	local f line
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		line=${line##*) }
		[ "${line%% *}" = Z ] && zombies=$((zombies + 1))
	done
}
# Until none is left, or their number has stayed the same for 0.5 s.
count_zombies
since=${EPOCHREALTIME/./}
while [ "$zombies" -gt 0 ] && [ $(( ${EPOCHREALTIME/./} - since )) -lt 500000 ]; do
	read -r -t 0.01 -u 9 _
	last=$zombies
	count_zombies
	[ "$zombies" = "$last" ] || since=${EPOCHREALTIME/./}
done
while read -r k v; do [ "$k" = SigCgt: ] && sigcgt=$v; done </proc/1/status
echo "jobs=$jobs bad=$bad traps=$traps orphans=${#orphans[@]} zombies=$zombies sigcgt=$sigcgt flags=$-"
echo "statuses:$statuses"
