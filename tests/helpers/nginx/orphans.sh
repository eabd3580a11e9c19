#!/bin/sh
# orphans.sh N DIR: run inside nginx's PID namespace by `nsenter -t MASTER -p` from outside.
# Starts N background shells and exits at once, so that the kernel hands them, orphans, to the
# namespace's init: the nginx master. Orphan i (1..N) appends its pid, as the namespace sees
# it, and its exit code 20+i to DIR/orphans ("PID CODE"), then waits until DIR/go exists and
# exits with that code.
n=$1 dir=$2 i=1
while [ "$i" -le "$n" ]; do
	sh -c 'echo "$$ $1" >>"$2/orphans"
		while [ ! -e "$2/go" ]; do sleep 0.01; done
		exit "$1"' orphan $((20 + i)) "$dir" &
	i=$((i + 1))
done
exit 0
