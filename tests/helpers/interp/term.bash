#!/bin/bash
# term.bash trap|default: bash as PID 1 waiting for background children, for a SIGTERM sent
# from outside the namespace (as `docker stop` does).
#   trap:    `trap 'echo got TERM; exit 42' TERM` first: bash catches TERM itself.
#   default: no TERM trap. A non-interactive bash leaves TERM at SIG_DFL (only an interactive
#            one ignores it), so as PID 1 without the shim the kernel drops it; with the shim,
#            the shim's handler stands in for SIG_DFL.
# Children: `sleep 1000 &`, and a reporter (perl) that writes "reporter got TERM" when TERM
# reaches it. A non-interactive bash starts background jobs with SIGINT and SIGQUIT ignored
# (SigIgn 0x6 in the sleep's status) but TERM at SIG_DFL, so a forwarded TERM ends them.
# Prints what the kernel holds for PID 1 and for the sleep (SigCgt/SigIgn), then "ready", then
# waits for the sleep; "wait returned N" only if that wait ever ends.
[ "$1" = trap ] && trap 'echo "got TERM"; exit 42' TERM

sigs() { # sigs PID: "SigCgt=... SigIgn=..." of PID, from /proc, builtins only
	local k v cgt ign
	while read -r k v; do
		case $k in SigCgt:) cgt=$v ;; SigIgn:) ign=$v ;; esac
	done <"/proc/$1/status"
	echo "SigCgt=$cgt SigIgn=$ign"
}

sleep 1000 &
sleeper=$!
perl -e '$| = 1; $SIG{TERM} = sub { print "reporter got TERM\n"; exit 0 };
	print "reporter ready\n"; sleep 1000 while 1' &
# The sleep's status once it runs sleep (before the exec it is a copy of this shell).
until [ "$(<"/proc/$sleeper/comm")" = sleep ]; do :; done
echo "pid1 $(sigs 1)"
echo "sleep $(sigs "$sleeper")"
echo ready
wait "$sleeper"
echo "wait returned $?"
