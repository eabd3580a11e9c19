#!/usr/bin/env bats
# The library as built: what it exports and which glibc it needs.
load common

@test "exports exactly the interposed libc functions" {
	run bash -c "objdump -T '$LIB' | awk '\$2 == \"g\" && \$4 != \"*UND*\" {print \$NF}' | sort | tr '\n' ' '"
	[ "$status" -eq 0 ]
	[ "$output" = "_Fork __sysv_signal bsd_signal clone execl execle execlp execv execve execveat execvp execvpe fexecve fork forkpty initgroups pclose popen posix_spawn posix_spawnp ptrace setegid seteuid setgid setgroups setns setregid setresgid setresuid setreuid setuid sigaction sigignore siginterrupt signal sigset ssignal system sysv_signal unshare vfork wait wait3 wait4 waitid waitpid " ]
}

@test "imports only what an inert process calls (libc.c binds the rest when the shim turns active)" {
	# Left out: what the compiler brings in (memcpy, memset, errno, environ), which no source
	# line asks for by name. None of the start files' hooks (_ITM_*, __gmon_start__,
	# __cxa_finalize): the library is linked without them (Makefile).
	run bash -c "nm -D --undefined-only '$LIB' | awk '{ sub(/@.*/, \"\", \$2); print \$2 }' |
		grep -vx '__getauxval\|memcpy\|memset\|__errno_location\|environ\|__environ' |
		sort | tr '\n' ' '"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "dl_iterate_phdr getauxval getenv strcasecmp strchr strcmp strcspn strlen strncasecmp strrchr strspn strstr strtol " ]
}

@test "the reaper's code calls no libc function that could write thread-local storage" {
	# The reaper runs on the TLS of the thread that made it (shim/reaper.c): what it runs, in
	# reaper.c, owned.c, stash.c, sys.c and log.c, may call only the pure string functions,
	# each other and the clone trampoline. (owned.c's ptrace wrapper, on an app thread, is
	# what reaches activate.c and real.c.)
	local objs=(reaper owned stash sys log) o libc=() own=() defined=()
	for o in "${objs[@]}"; do
		libc+=($(nm -u "$ROOT/build/obj/$o.o" | awk '$2 !~ /^zr_|^_GLOBAL_OFFSET_TABLE_$/ {print $2}'))
		# real.c's lookup only from owned.c's ptrace wrapper, which runs on the app's thread
		own+=($(nm -u "$ROOT/build/obj/$o.o" |
			awk -v o="$o" '$2 ~ /^zr_/ && !(o == "owned" && $2 == "zr_real_resolve") {print $2}'))
		defined+=($(nm --defined-only "$ROOT/build/obj/$o.o" | awk '$3 ~ /^zr_/ {print $3}'))
	done
	defined+=(zr_clone zr_cfg zr_active_pid zr_active_slow zr_real)
	echo "libc: ${libc[*]}"
	for o in "${libc[@]}"; do
		[[ " memcpy memset strcmp strchr strrchr strlen strstr " == *" $o "* ]] || { echo "calls $o"; return 1; }
	done
	for o in "${own[@]}"; do
		[[ " ${defined[*]} " == *" $o "* ]] || { echo "calls $o, outside these files"; return 1; }
	done
}

@test "needs no glibc symbol version above GLIBC_2.17" {
	top=$(objdump -T "$LIB" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
	echo "highest: $top"
	[ -n "$top" ]
	[ "$(printf '%s\nGLIBC_2.17\n' "$top" | sort -V | tail -1)" = GLIBC_2.17 ]
}

@test "links nothing but libc: no libdl, libpthread or libgcc_s load into every process" {
	run bash -c "readelf -d '$LIB' | grep NEEDED"
	echo "$output"
	[ "$(grep -c NEEDED <<<"$output")" -eq 1 ]
	[[ "$output" == *"[libc.so.6]"* ]]
}

@test "two loadable segments, the zeroed data inside the last file page: two mappings, not three" {
	[ "$(readelf -lW "$LIB" | grep -c ' LOAD ')" -eq 2 ]
	# Zeroed data past the page that holds the end of the file's data would cost a third,
	# anonymous mapping at each exec (and a copy at each fork).
	local load
	load=$(readelf -lW "$LIB" | awk '$1 == "LOAD" && $7 ~ /W/ { print $3, $5, $6 }')
	read -r v f m <<<"$load"
	echo "writable LOAD: vaddr $v, file size $f, memory size $m"
	[ -n "$m" ]
	[ $(((v + f + 4095) / 4096)) -eq $(((v + m + 4095) / 4096)) ]
}

@test "binds every symbol at load time and has no executable stack" {
	run readelf -d "$LIB"
	[[ "$output" == *"BIND_NOW"* || "$output" == *"FLAGS"*"NOW"* ]]
	run readelf -lW "$LIB"
	[[ "$output" == *"GNU_STACK"*"RW "* ]]
}

@test "a program runs normally with the shim preloaded outside a namespace" {
	run env LD_PRELOAD="$LIB" sh -c 'echo hello; exit 7'
	[ "$status" -eq 7 ]
	[ "$output" = hello ]
}
