# term.sh trap|default: busybox sh as PID 1 waiting for background children, for a SIGTERM
# sent from outside the namespace (as `docker stop` does).
#   trap:    `trap 'echo caught; exit 9' TERM` first: busybox sh catches TERM itself.
#   default: no TERM trap; busybox sh leaves TERM at SIG_DFL, so as PID 1 without the shim
#            the kernel drops it; with the shim, the shim's handler stands in for SIG_DFL.
# Children: `sleep 1000 &`, and a reporter (busybox sh, blocked in a read) that prints
# "reporter got TERM" when TERM reaches it. Prints PID 1's SigCgt, then "ready", then waits for
# the sleep; "wait returned N" only if that wait ever ends.
[ "$1" = trap ] && trap 'echo caught; exit 9' TERM

sleep 1000 &
sleeper=$!
# The reporter blocks in a read from a FIFO that PID 1 holds open, so that it has no child of
# its own (which, orphaned as it exits, would become one more child of PID 1).
fifo=$(mktemp -u)
mkfifo "$fifo"
exec 9<>"$fifo"
rm -f "$fifo"
sh -c 'trap "echo reporter got TERM; exit 0" TERM
	echo reporter ready
	read -r _' <&9 &
# The sleep's status once it runs sleep (before the exec it is a copy of this shell).
until [ "$(cat "/proc/$sleeper/comm")" = sleep ]; do :; done
while read -r k v; do [ "$k" = SigCgt: ] && echo "pid1 SigCgt=$v"; done </proc/1/status
echo ready
wait "$sleeper"
echo "wait returned $?"
