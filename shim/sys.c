/*
 * sys.c: the small system primitives the other files share.
 *
 * Everything here is async-signal-safe and allocation-free, and makes its system calls itself
 * (zr_sys, zreap.h), so that none of it touches errno or any other thread-local storage: it
 * runs in the reaper, a thread libc does not know of that shares another thread's TLS
 * (reaper.c), and in wrappers inside an app's signal handlers. Raw futexes (a wrapper may wake
 * the reaper from a signal handler), clocks, the waitid that also returns rusage (glibc's has
 * no rusage argument), and readers of /proc that parse into stack buffers instead of using
 * opendir/stdio, so the reaper never holds a libc lock an app's fork could inherit.
 */
#include "zreap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

size_t zr_utoa(unsigned long long v, unsigned base, char *out)
{
	char digits[24];
	size_t n = 0, len = 0;
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0);
	while (n > 0)
		out[len++] = digits[--n];
	out[len] = '\0';
	return len;
}

int zr_futex_wait(atomic_int *addr, int val, long timeout_ms)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	return (int)zr_sys(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp);
}

void zr_futex_wake(atomic_int *addr)
{
	zr_sys(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

/* A system call rather than libc's vDSO path: old glibc demangles its vDSO pointer with a
 * guard read from the calling thread's TLS. */
static struct timespec clock_now(clockid_t clock)
{
	struct timespec ts = { 0, 0 };
	zr_sys(SYS_clock_gettime, clock, &ts);
	return ts;
}

long zr_now_ms(void)
{
	struct timespec ts = clock_now(CLOCK_MONOTONIC);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

uint32_t zr_boot_ticks(void)
{
	/* /proc/PID/stat counts starttime in USER_HZ ticks of CLOCK_BOOTTIME (shifted by a time
	 * namespace exactly as our clock is); USER_HZ is 100 on every Linux architecture. */
	struct timespec ts = clock_now(CLOCK_BOOTTIME);
	return (uint32_t)((unsigned long long)ts.tv_sec * 100 + (unsigned long long)ts.tv_nsec / 10000000);
}

pid_t zr_getpid(void)
{
	return (pid_t)zr_sys(SYS_getpid);
}

pid_t zr_gettid(void)
{
	return (pid_t)zr_sys(SYS_gettid);
}

int zr_raw_waitid(idtype_t idtype, id_t id, siginfo_t *si, int options, struct rusage *ru)
{
	return (int)zr_sys(SYS_waitid, idtype, id, si, options, ru);
}

static int open_ro(const char *path, int flags)
{
	return (int)zr_sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | flags);
}

static void close_fd(int fd)
{
	zr_sys(SYS_close, fd);
}

/* Parses the space-separated pids of one children file, which can be longer than the buffer. */
static void each_pid_in(int fd, void (*fn)(pid_t, void *), void *arg)
{
	char buf[512]; /* small: the stop path runs in a signal handler (stop.c) */
	long cur = -1;
	long n;
	while ((n = zr_sys(SYS_read, fd, buf, sizeof buf)) > 0 || n == -EINTR) {
		for (long i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				cur = (cur < 0 ? 0 : cur * 10) + (buf[i] - '0');
			} else if (cur >= 0) {
				fn((pid_t)cur, arg);
				cur = -1;
			}
		}
	}
	if (cur >= 0)
		fn((pid_t)cur, arg);
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

bool zr_for_each_task(void (*fn)(pid_t, void *), void *arg)
{
	int dir = open_ro("/proc/self/task", O_DIRECTORY);
	if (dir < 0)
		return false;
	char ents[1024]; /* about 40 threads a call; small, as each_pid_in's buffer */
	long n;
	while ((n = zr_sys(SYS_getdents64, dir, ents, sizeof ents)) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(ents + off);
			off += d->d_reclen;
			long tid = 0;
			for (const char *c = d->d_name; *c >= '0' && *c <= '9'; c++)
				tid = tid * 10 + (*c - '0');
			if (tid > 0)
				fn((pid_t)tid, arg);
		}
	}
	close_fd(dir);
	return true;
}

struct each_child {
	void (*fn)(pid_t, void *);
	void *arg;
	bool listed; /* a children file could be opened */
};

static void children_of_task(pid_t tid, void *arg)
{
	struct each_child *c = arg;
	char path[48] = "/proc/self/task/";
	size_t len = 16 + zr_utoa((unsigned long)tid, 10, path + 16);
	memcpy(path + len, "/children", sizeof "/children");
	int fd = open_ro(path, 0);
	if (fd >= 0) {
		c->listed = true;
		each_pid_in(fd, c->fn, c->arg);
		close_fd(fd);
	}
}

bool zr_for_each_child(void (*fn)(pid_t, void *), void *arg)
{
	struct each_child c = { fn, arg, false };
	return zr_for_each_task(children_of_task, &c) && c.listed;
}

/* Reads /proc/PID/NAME into buf (NUL-terminated); false if it cannot. */
static bool read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[48] = "/proc/";
	size_t len = 6 + zr_utoa((unsigned long)pid, 10, path + 6);
	path[len++] = '/';
	size_t name_len = strlen(name);
	memcpy(path + len, name, name_len + 1);

	int fd = open_ro(path, 0);
	if (fd < 0)
		return false;
	long got;
	do
		got = zr_sys(SYS_read, fd, buf, size - 1);
	while (got == -EINTR);
	close_fd(fd);
	if (got <= 0)
		return false;
	buf[got] = '\0';
	return true;
}

bool zr_proc_stat(pid_t pid, struct zr_stat *st)
{
	char buf[512];
	if (!read_proc(pid, "stat", buf, sizeof buf))
		return false;
	/* "pid (comm) state ...": comm may hold spaces and parentheses, so find the last ')'. */
	char *open_paren = strchr(buf, '(');
	char *close_paren = strrchr(buf, ')');
	if (open_paren == NULL || close_paren == NULL || close_paren < open_paren || close_paren[1] != ' ')
		return false;
	size_t c = (size_t)(close_paren - open_paren - 1);
	if (c >= sizeof st->comm)
		c = sizeof st->comm - 1;
	memcpy(st->comm, open_paren + 1, c);
	st->comm[c] = '\0';
	st->state = close_paren[2];
	/* Fields 4 on are numbers; the few that can be negative (priority, nice) are not read.
	 * Parsed as they come, into the few kept: this runs in signal handlers, maybe on an
	 * app's small alternate stack. */
	st->ppid = 0, st->flags = 0, st->starttime = 0;
	st->pending = st->blocked = st->ignored = st->caught = 0;
	const char *p = close_paren + 3;
	for (int n = 4; n <= 34 && *p == ' '; n++) {
		p++;
		unsigned long long v = 0;
		while (*p >= '0' && *p <= '9')
			v = v * 10 + (unsigned long long)(*p++ - '0');
		while (*p != ' ' && *p != '\0')
			p++;
		switch (n) {
		case 4: st->ppid = (pid_t)v; break;
		case 9: st->flags = (unsigned long)v; break;
		case 22: st->starttime = v; break;
		case 31: st->pending = (uint32_t)v; break;
		case 32: st->blocked = (uint32_t)v; break;
		case 33: st->ignored = (uint32_t)v; break;
		case 34: st->caught = (uint32_t)v; break;
		}
	}
	return true;
}

bool zr_proc_auxval(unsigned long type, unsigned long *out)
{
	int fd = open_ro("/proc/self/auxv", 0);
	if (fd < 0)
		return false;
	unsigned long pairs[32][2]; /* a_type, a_val; a read of a multiple of 16 bytes gets whole ones */
	bool found = false;
	long got;
	while (!found && ((got = zr_sys(SYS_read, fd, pairs, sizeof pairs)) > 0 || got == -EINTR))
		for (long i = 0; i < got / (long)sizeof pairs[0]; i++)
			if (pairs[i][0] == type) {
				*out = pairs[i][1], found = true;
				break;
			}
	close_fd(fd);
	return found;
}

pid_t zr_proc_tracer(pid_t pid)
{
	char buf[2048];
	if (!read_proc(pid, "status", buf, sizeof buf))
		return 0;
	const char *p = strstr(buf, "\nTracerPid:");
	if (p == NULL)
		return 0;
	p += strlen("\nTracerPid:");
	while (*p == ' ' || *p == '\t')
		p++;
	long tracer = 0;
	while (*p >= '0' && *p <= '9')
		tracer = tracer * 10 + (*p++ - '0');
	return (pid_t)tracer;
}

/*
 * What the active shim maps for itself. Each mapping is one more VMA, and every fork of the
 * app walks them all, those it leaves out as well (the kernel copies the whole tree of them,
 * then takes those out): measured, ten small mappings left out of forks cost a PID 1 forking
 * /bin/true about a point of its throughput. So everything fork leaves out (the owned table,
 * the stash, the reaper's words and stacks) is carved from one mapping, reserved once with
 * MAP_NORESERVE (only the pages used become resident), and the stacks' guard pages are guard
 * markers inside it (zr_guard), not mappings of their own. What fork children keep (the
 * signal table) is a mapping apart, as it must be.
 */
#define ARENA_SIZE (18ul << 20) /* the owned table's 16 MiB and the rest, at 64 KiB pages too */

size_t zr_page = 4096;

static void *map_anon(size_t size)
{
	long r = zr_sys(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return r < 0 && r > -4096 ? NULL : (void *)r;
}

static _Atomic(char *) arena;
static atomic_size_t arena_used;

static char *arena_base(void)
{
	char *base = atomic_load(&arena);
	if (base != NULL)
		return base;
	char *mine = map_anon(ARENA_SIZE);
	if (mine == NULL)
		return NULL;
	/* A fork child is inert and never reads these: let fork skip them, so that it neither
	 * copies them nor write-protects the pages the reaper keeps touching. And no huge pages
	 * (transparent ones "always"): the first write would make 2 MiB of it resident. */
	zr_sys(SYS_madvise, mine, ARENA_SIZE, MADV_DONTFORK);
	zr_sys(SYS_madvise, mine, ARENA_SIZE, MADV_NOHUGEPAGE);
	if (atomic_compare_exchange_strong(&arena, &base, mine))
		return mine;
	zr_sys(SYS_munmap, mine, ARENA_SIZE); /* another thread's won */
	return base;
}

void *zr_map(size_t size, bool fork_keeps)
{
	if (fork_keeps)
		return map_anon(size);
	size = (size + zr_page - 1) & ~(zr_page - 1);
	char *base = arena_base();
	if (base == NULL)
		return NULL;
	size_t at = atomic_fetch_add(&arena_used, size);
	return at + size <= ARENA_SIZE ? base + at : NULL;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

void zr_guard(void *p, size_t size)
{
	/* Linux 6.13 on: a guard marker, which leaves the mapping whole; before, a page of its
	 * own. qemu-user says yes to advice it does not know and does nothing: so the marker is
	 * tried, as a path the kernel must read, before it is trusted. */
	if (zr_sys(SYS_madvise, p, size, MADV_GUARD_INSTALL) == 0 &&
	    zr_sys(SYS_faccessat, AT_FDCWD, p, F_OK) == -EFAULT)
		return;
	zr_sys(SYS_mprotect, p, size, PROT_NONE);
}
