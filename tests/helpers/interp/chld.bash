#!/bin/bash
# chld.bash m|plain ROUNDS: bash as PID 1 with `trap ... CHLD` (and `set -m` with "m"),
# background jobs and `wait $!`, while a background subshell leaks orphans continuously
# (`( sleep 0.005 & )`: the subshell exits at once, the sleep is adopted by PID 1) until told
# to stop, and at least 300 of them.
# Bash's own SIGCHLD handler (the only signal a non-interactive bash catches: SigCgt 0x10000)
# reaps every child, orphans included, with waitpid(-1, WNOHANG); `wait $pid` returns the
# status it stored, and the CHLD trap runs once per child reaped (bash 5.2 does so with or
# without job control; orphans it reaped count too, so with the shim, which takes most of
# them first, the trap runs fewer times).
# Each round, with the status `wait` must give:
#   sh -c 'exit c' & wait $!                          c (distinct per job)
#   sleep 1000 & kill -KILL/-TERM/-USR1 $!; wait $!   137/143/138
#   a job that has exited before the wait              its code
#   8 jobs at once, then a wait for each in reverse    their codes
# Then it stops the leaker (its status must be 0), and waits, forking nothing, until no
# zombie is left, or their number has stayed the same for 0.5 s. Prints one line per wrong
# status, then
#   jobs=J bad=B traps=T orphans=O zombies=Z sigcgt=HEX (PID 1's SigCgt) flags=$-
#   statuses: the statuses in order (for a diff between runs)
[ "$1" = m ] && set -m
rounds=${2:-10}
dir=$(mktemp -d)

traps=0
trap 'traps=$((traps + 1))' CHLD

(
	made=0
	while [ "$made" -lt 300 ] || [ ! -e "$dir/stop" ]; do
		( sleep 0.005 & )
		made=$((made + 1))
	done
	echo "$made" >"$dir/made"
) &
leaker=$!

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
		sh -c "exit $((c % 256))" &
		wait $!
		check $((c % 256)) $? "sh -c 'exit $((c % 256))'"
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
	pids=()
	for k in {0..7}; do
		sh -c "exit $((100 + r * 8 + k))" &
		pids+=($!)
	done
	for ((k = 7; k >= 0; k--)); do
		wait ${pids[k]}
		check $((100 + r * 8 + k)) $? "job $k of 8 at once"
	done
done

: >"$dir/stop"
wait $leaker
check 0 $? "the leaker"
orphans=$(<"$dir/made")
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
echo "jobs=$jobs bad=$bad traps=$traps orphans=$orphans zombies=$zombies sigcgt=$sigcgt flags=$-"
echo "statuses:$statuses"
