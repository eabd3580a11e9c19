#!/bin/bash
# jobs-bash.sh ROUNDS: for bash as PID 1 of a PID namespace (bullseye's bash links libc,
# libdl and libtinfo, not libpthread). While a background subshell leaks 300 orphans, each
# round checks the status `wait $!` gives for: exit 0..20 of `sh -c`, a job killed by
# SIGKILL (137), a job that exits before bash waits for it, and a subshell. Then waits until
# no zombie is left or 5 s have passed. Prints wrong statuses one per line, then
#   pthread=yes|no threads=T checked=C bad=B zombies=Z
. /opt/zreap/t/zcount.sh
rounds=${1:-10}
zr_probe

( i=0; while [ $i -lt 300 ]; do sh -c 'sleep 0.01 &'; i=$((i + 1)); done ) &
leaker=$!

checked=0 bad=0
check() { # check EXPECTED GOT WHAT
	checked=$((checked + 1))
	[ "$1" = "$2" ] || { bad=$((bad + 1)); echo "wrong: $3: expected $1, got $2"; }
}

for ((r = 0; r < rounds; r++)); do
	for c in {0..20}; do
		sh -c "exit $c" &
		p=$!
		wait $p
		check $c $? "sh -c 'exit $c'"
	done
	sleep 1000 &
	p=$!
	kill -9 $p
	wait $p 2>/dev/null
	check 137 $? "sleep killed by SIGKILL"
	sh -c 'exit 42' &
	p=$!
	sleep 0.02
	wait $p
	check 42 $? "a job that exited before the wait"
	(exit 3) &
	p=$!
	wait $p
	check 3 $? "subshell (exit 3)"
done
wait $leaker
check 0 $? "the leaker"

zr_timer 5
until zr_scan; [ "$zombies" -eq 0 ] || zr_timer_up; do sleep 0.02; done
echo "pthread=$zr_libpthread threads=$zr_threads checked=$checked bad=$bad zombies=$zombies"
echo "left:$zlist"
