#!/usr/bin/env bats
# The library as built: what it exports and which glibc it needs.
load common

@test "exports exactly the interposed libc functions" {
	run bash -c "objdump -T '$LIB' | awk '\$2 == \"g\" && \$4 != \"*UND*\" {print \$NF}' | sort | tr '\n' ' '"
	[ "$status" -eq 0 ]
	[ "$output" = "_Fork __sysv_signal bsd_signal clone execl execle execlp execv execve execveat execvp execvpe fexecve fork forkpty initgroups pclose popen posix_spawn posix_spawnp ptrace setegid seteuid setgid setgroups setns setregid setresgid setresuid setreuid setuid sigaction sigignore siginterrupt signal sigset ssignal system sysv_signal unshare vfork wait wait3 wait4 waitid waitpid " ]
}

@test "imports nothing: the loader binds no symbol of ours at an exec (shim/str.c says why)" {
	run bash -c "nm -D --undefined-only '$LIB'"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
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

@test "needs no glibc symbol version, let alone one above GLIBC_2.17, and no library at all" {
	# A version above the oldest glibc supported would stop the loader from starting the app;
	# a NEEDED library would be loaded into every process (libdl, libpthread) or stop a
	# program of the other libc from starting (libc.so.6 in a musl one).
	run bash -c "objdump -T '$LIB' | grep -o 'GLIBC_[0-9.]*' | sort -Vu"
	echo "versions: $output"
	[ -z "$output" ]
	run bash -c "readelf -d '$LIB' | grep NEEDED"
	echo "$output"
	[ -z "$output" ]
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
