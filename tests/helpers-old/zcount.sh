# zcount.sh: sourced by the old-userland scripts (dash and bash as PID 1). Builtins only:
# no command here forks, so counting never makes PID 1 wait for a child, which in dash or
# bash would collect (with wait3/waitpid of -1) the very zombies being counted.

zr_exclude=""   # pids zr_scan leaves out: the script's own timers

# zr_scan: sets zombies (processes in state Z, but zr_exclude), zlist (" comm:pid" of each),
# nappers and napper_pids (live processes named "napper", a link to sleep).
zr_scan() {
	zombies=0 zlist="" nappers=0 napper_pids=""
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		# shellcheck disable=SC2086
		set -- $line
		case " $zr_exclude " in *" $1 "*) continue ;; esac
		case $3 in
		Z) zombies=$((zombies + 1)); zlist="$zlist $2:$1" ;;
		*) if [ "$2" = "(napper)" ]; then
			nappers=$((nappers + 1)); napper_pids="$napper_pids $1"
		   fi ;;
		esac
	done
}

# zr_timer SECONDS: starts a timer, a child `sleep SECONDS` (excluded from the counts).
zr_timer() {
	sleep "$1" &
	zr_timer_pid=$!
	zr_exclude="$zr_exclude $zr_timer_pid"
}

# zr_timer_up: true once the timer has exited (a zombie, or already collected).
zr_timer_up() {
	{ read -r line <"/proc/$zr_timer_pid/stat"; } 2>/dev/null || return 0
	# shellcheck disable=SC2086
	set -- $line
	[ "$3" = Z ]
}

# zr_libpthread: "yes" when this shell has libpthread mapped, else "no"; zr_threads: its
# number of threads.
zr_probe() {
	zr_libpthread=no
	while read -r line; do
		case $line in *libpthread*) zr_libpthread=yes ;; esac
	done </proc/self/maps
	set -- /proc/self/task/*
	zr_threads=$#
}
