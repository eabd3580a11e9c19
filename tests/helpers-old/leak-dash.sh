#!/bin/sh
# leak-dash.sh N: for dash as PID 1 of a PID namespace. On bullseye dash links libc alone, so
# an active shim has to load libpthread itself (__libc_dlopen_mode).
# N times, a foreground `sh -c` leaks two orphans and exits with status i % 50, which is
# checked; the orphans are
#  - short-lived (sleep 0.01): they die while dash runs the next ones;
#  - long-lived ("napper", a link to sleep): all killed at once after dash's last foreground
#    wait, once all N run.
# Note: dash 0.5.11 collects any child itself when SIGCHLD arrives (wait4(-1, WNOHANG)), so
# it leaves few zombies even without the shim; with the shim both dash and the reaper take
# orphans, and dash's own statuses must stay intact.
# Then waits, without forking, until no napper lives and no zombie is left, or 5 s have
# passed, and prints wrong statuses one per line, then
#   pthread=yes|no threads=T checked=C bad=B leaked=2N killed=K zombies=Z
# and a line with the zombies left (comm:pid).
. /opt/zreap/t/zcount.sh
n=${1:-300}
zr_probe

checked=0 bad=0
i=0
while [ "$i" -lt "$n" ]; do
	sh -c '/opt/zreap/t/napper 1000 & sleep 0.01 & exit '$((i % 50))
	got=$?
	checked=$((checked + 1))
	[ "$got" -eq $((i % 50)) ] || { bad=$((bad + 1)); echo "wrong: sh -c 'exit $((i % 50))' gave $got"; }
	i=$((i + 1))
done

# All N nappers running (they start on their own time), at most 10 s.
zr_timer 10
until zr_scan; [ "$nappers" -ge "$n" ] || zr_timer_up; do :; done
killed=$nappers
# shellcheck disable=SC2086
kill -9 $napper_pids

zr_timer 5
until zr_scan; [ "$zombies" -eq 0 ] && [ "$nappers" -eq 0 ] || zr_timer_up; do :; done
echo "pthread=$zr_libpthread threads=$zr_threads checked=$checked bad=$bad leaked=$((2 * n)) killed=$killed zombies=$zombies"
echo "left:$zlist"
