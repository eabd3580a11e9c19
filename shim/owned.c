/*
 * owned.c: which pids are the app's own children, and which spawns are still in flight.
 *
 * The reaper must never take a child the app made. Every spawn path the app can reach
 * (spawn.c, vfork_*.S, shell.c) brackets its libc call with zr_spawn_begin/zr_spawn_end, and
 * zr_spawn_end records the child's pid here before the flight ends. The reaper classifies a
 * zombie as an orphan only if, with no spawn in flight before it looked and no spawn begun
 * since, the pid is not recorded: so a child that exits before its parent's fork() returned
 * is seen as in flight, never as an orphan (zr_flight_read/zr_flight_settled).
 *
 * The table is indexed by pid (pid_max is at most 2^22, PID_MAX_LIMIT), 4 bytes a pid, in an
 * anonymous MAP_NORESERVE mapping that fork leaves out (zr_map): only the pages holding pids
 * the app really used become resident, and lookups and updates are single lock-free atomics, safe in signal handlers.
 * Each entry holds the CLOCK_BOOTTIME tick at which it was recorded (+1, so 0 means "not
 * ours"): if a child is ever reaped behind our back (raw wait4 syscalls, SIGCHLD set to
 * SIG_IGN) and its pid comes back as an orphan, the orphan started after the stamp, which
 * the reaper checks in /proc before it treats an old "own" zombie as forgotten.
 *
 * Tracees. A process the app traces reports its exit to the app's waits although its parent
 * is another process; the reaper's peek sees it too, and reaping it would take the tracer's
 * report (strace -f as PID 1 would lose its tracees' exits). So the first ptrace call marks
 * the app as a tracer, and from then on the reaper reaps only zombies whose parent is us.
 */
#include "zreap.h"

#include <stdarg.h>

#define ZR_PID_LIMIT (1u << 22)

static _Atomic uint32_t *table;
struct zr_words *zr_words;
atomic_int zr_tracer;

bool zr_owned_init(void)
{
	table = zr_map(ZR_PID_LIMIT * sizeof *table, false);
	zr_words = zr_map(sizeof *zr_words, false);
	return table != NULL && zr_words != NULL;
}

void zr_spawn_begin(void)
{
	atomic_fetch_add(&zr_words->inflight, 1);
	atomic_fetch_add(&zr_words->spawn_seq, 1);
}

void zr_spawn_end(pid_t pid)
{
	if (pid > 0 && (unsigned)pid < ZR_PID_LIMIT) {
		uint32_t stamp = zr_boot_ticks() + 1;
		atomic_store(&table[pid], stamp ? stamp : 1);
	}
	if (atomic_fetch_sub(&zr_words->inflight, 1) == 1 && atomic_load(&zr_words->reaper_waits_flight))
		zr_futex_wake(&zr_words->inflight);
	if (pid > 0 && atomic_load(&zr_words->reaper_waits_spawn)) {
		atomic_fetch_add(&zr_words->spawned, 1);
		zr_futex_wake(&zr_words->spawned);
	}
	if (pid > 0)
		zr_reap_inline();
}

void zr_owned_drop(pid_t pid)
{
	if (pid > 0 && (unsigned)pid < ZR_PID_LIMIT && atomic_load(&table[pid]) != 0)
		atomic_store(&table[pid], 0);
}

void zr_app_collected(pid_t pid, bool exited)
{
	if (exited)
		zr_owned_drop(pid);
	atomic_fetch_add(&zr_words->collected, 1);
	if (atomic_load(&zr_words->reaper_waits_collect))
		zr_futex_wake(&zr_words->collected);
	zr_reap_inline();
}

uint32_t zr_owned_stamp(pid_t pid)
{
	if (pid <= 0 || (unsigned)pid >= ZR_PID_LIMIT)
		return 0;
	return atomic_load(&table[pid]);
}

struct zr_flight zr_flight_read(void)
{
	struct zr_flight f;
	f.seq = atomic_load(&zr_words->spawn_seq);
	f.inflight = (unsigned)atomic_load(&zr_words->inflight);
	return f;
}

bool zr_flight_settled(struct zr_flight before)
{
	return before.inflight == 0 && atomic_load(&zr_words->spawn_seq) == before.seq;
}

void zr_flight_wait(void)
{
	atomic_store(&zr_words->reaper_waits_flight, 1);
	int v;
	while ((v = atomic_load(&zr_words->inflight)) > 0)
		zr_futex_wait(&zr_words->inflight, v, 100);
	atomic_store(&zr_words->reaper_waits_flight, 0);
}

ZR_EXPORT long ptrace(int request, ...)
{
	/* glibc and musl read the same three optional arguments; pass them through as read. */
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);
	if (zr_active() && !atomic_load_explicit(&zr_tracer, memory_order_relaxed))
		atomic_store(&zr_tracer, 1);
	return REAL(ptrace)(request, pid, addr, data);
}
