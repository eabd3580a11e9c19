/*
 * zreap.h: the shim's internal interfaces, shared by the files of shim/.
 *
 * Nothing declared here is exported: the library is built with hidden visibility and only
 * the libc functions it interposes carry ZR_EXPORT. Each concern lives in its own file:
 *
 *   log.c       allocation-free, async-signal-safe `zreap[PID]:` lines on stderr
 *   config.c    the ZREAP_* settings, read once in the constructor
 *   str.c       the string functions the shim calls, its own: it imports nothing
 *   real.c      what it uses of libc (real functions, errno, environ), found without the loader
 *   libc.c      the libc functions only an active shim calls, bound when it turns active
 *   activate.c  the constructor: inert or active, and starting the reaper
 *   owned.c     which pids are the app's own children, and spawns in flight
 *   stash.c     exit statuses of forgotten children the reaper collected for the app
 *   spawn.c     fork, _Fork, clone, posix_spawn[p], forkpty: recording the app's children
 *   vfork_*.S   vfork, which no C function can wrap
 *   shell.c     system, popen, pclose, rebuilt on tracked spawns
 *   wait.c      the wait family: same results as without the shim
 *   exec.c      the exec family: the sentinel must not outlive the image
 *   signals.c   the app's view of the forwarded signals' dispositions
 *   stop.c      forwarding them, and ending PID 1 as the default action would
 *   reaper.c    the reaper thread and its sentinel child
 *   clone_*.S   the clone that makes them, touching no thread-local storage
 *   cred.c      the calls that change credentials or namespaces, made with no reaper thread
 *   sys.c       raw futexes, clocks and /proc readers the others share
 */
#ifndef ZR_SHIM_H
#define ZR_SHIM_H

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

/* errno is libc's, reached through its __errno_location, which the shim looks up rather than
 * imports (real.c). */
#include <errno.h>
#undef errno
#define errno (*zr_errno_location())
int *zr_errno_location(void);
/* Puts errno back to v, writing only if it changed: after a fork the page that holds it is
 * shared with the child until the child execs, and a write then costs a copy-on-write fault. */
static inline void zr_errno_restore(int v)
{
	int *e = zr_errno_location();
	if (*e != v)
		*e = v;
}

#define ZR_EXPORT __attribute__((visibility("default")))

typedef void (*zr_handler_t)(int); /* glibc calls it __sighandler_t, musl has no name for it */
#define ZR_LIKELY(x) __builtin_expect(!!(x), 1)
#define ZR_UNLIKELY(x) __builtin_expect(!!(x), 0)

#ifndef __WALL
#define __WALL 0x40000000
#endif
/* From linux/futex.h, which musl-gcc's include path does not reach. */
#ifndef FUTEX_WAIT
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#endif

/* ---- log.c ---- */
enum zr_level { ZR_NONE = 0, ZR_ERROR = 1, ZR_INFO = 2, ZR_DEBUG = 3 };
/* printf subset: %s %d %u %ld %lu %x %c %%. Never allocates; one write(2) per line. */
void zr_log(enum zr_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- config.c ---- */
struct zr_config {
	bool disable;          /* ZREAP_DISABLE */
	bool subreaper;        /* ZREAP_SUBREAPER */
	int log_level;         /* ZREAP_LOG */
	long forgotten_ms;     /* ZREAP_FORGOTTEN_MS; 0 = never reap the app's own children */
	int forward;           /* ZREAP_FORWARD: ZR_FORWARD_AUTO, _ALWAYS or _NEVER */
	uint64_t forward_set;  /* ZREAP_FORWARD_SIGNALS, bit n-1 for signal n */
	long grace_ms;         /* ZREAP_GRACE_MS */
};
enum { ZR_FORWARD_AUTO, ZR_FORWARD_ALWAYS, ZR_FORWARD_NEVER };
const char *zr_signame(int sig, char buf[12]);
extern struct zr_config zr_cfg;
void zr_config_env(char **env);   /* where the settings are read from */
const char *zr_getenv(const char *name); /* from there */
bool zr_env_has_prefix(const char *prefix); /* a variable there whose name starts so */
void zr_config_load(void);        /* ZREAP_LOG, ZREAP_DISABLE, ZREAP_SUBREAPER */
void zr_config_load_active(void); /* the others, once the process turns active */

/* ---- real.c ---- */
struct zr_want {
	const char *name;
	void **slot;
};
/* Sets each empty slot to its name's first definition in any loaded object but ours (as the
 * loader binds an import); true when every one was found. Takes the loader's lock for a name
 * that none of the objects loaded with the program has. */
bool zr_find_all(const struct zr_want *wants, size_t count);
/* The constructor's first call: notes where the auxiliary vector is (glibc passes the
 * constructor the start of the environment); returns the environment to read settings from. */
char **zr_start(int argc, char **argv, char **envp);
/* The auxiliary vector's entry of TYPE; false if there is none, or it cannot be read. */
bool zr_auxval(unsigned long type, unsigned long *out);
/* Records the loaded objects' tables, where the constructor does it. */
void zr_real_record(void);
/* libc's environ (errno's zr_errno_location is above), looked up at its first use. */
char **zr_environ(void);
/* The libc functions behind the wrappers: return type, name, parameters. */
#define ZR_REAL_FUNCTIONS(X)                                                                      \
	X(pid_t, fork, (void))                                                                    \
	X(pid_t, _Fork, (void))                                                                   \
	X(int, clone, (int (*)(void *), void *, int, void *, ...))                                \
	X(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,           \
	  const posix_spawnattr_t *, char *const[], char *const[]))                               \
	X(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,          \
	  const posix_spawnattr_t *, char *const[], char *const[]))                               \
	X(pid_t, forkpty, (int *, char *, const void *, const void *))                            \
	X(int, system, (const char *))                                                            \
	X(FILE *, popen, (const char *, const char *))                                            \
	X(int, pclose, (FILE *))                                                                  \
	X(pid_t, wait, (int *))                                                                   \
	X(pid_t, waitpid, (pid_t, int *, int))                                                    \
	X(pid_t, wait3, (int *, int, struct rusage *))                                            \
	X(pid_t, wait4, (pid_t, int *, int, struct rusage *))                                     \
	X(int, waitid, (idtype_t, id_t, siginfo_t *, int))                                        \
	X(long, ptrace, (int, ...))                                                               \
	X(int, sigaction, (int, const struct sigaction *, struct sigaction *))                    \
	X(zr_handler_t, signal, (int, zr_handler_t))                                              \
	X(zr_handler_t, bsd_signal, (int, zr_handler_t))                                          \
	X(zr_handler_t, ssignal, (int, zr_handler_t))                                             \
	X(zr_handler_t, sysv_signal, (int, zr_handler_t))                                         \
	X(zr_handler_t, __sysv_signal, (int, zr_handler_t))                                       \
	X(zr_handler_t, sigset, (int, zr_handler_t))                                              \
	X(int, sigignore, (int))                                                                  \
	X(int, siginterrupt, (int, int))                                                          \
	X(int, execve, (const char *, char *const[], char *const[]))                              \
	X(int, execv, (const char *, char *const[]))                                              \
	X(int, execvp, (const char *, char *const[]))                                             \
	X(int, execvpe, (const char *, char *const[], char *const[]))                             \
	X(int, fexecve, (int, char *const[], char *const[]))                                      \
	X(int, execveat, (int, const char *, char *const[], char *const[], int))                  \
	X(int, setuid, (uid_t))                                                                   \
	X(int, setgid, (gid_t))                                                                   \
	X(int, seteuid, (uid_t))                                                                  \
	X(int, setegid, (gid_t))                                                                  \
	X(int, setreuid, (uid_t, uid_t))                                                          \
	X(int, setregid, (gid_t, gid_t))                                                          \
	X(int, setresuid, (uid_t, uid_t, uid_t))                                                  \
	X(int, setresgid, (gid_t, gid_t, gid_t))                                                  \
	X(int, setgroups, (size_t, const gid_t *))                                                \
	X(int, initgroups, (const char *, gid_t))                                                 \
	X(int, unshare, (int))                                                                    \
	X(int, setns, (int, int))
#define ZR_REAL_SLOT(ret, name, params) ret(*name) params;
struct zr_real {
	ZR_REAL_FUNCTIONS(ZR_REAL_SLOT)
};
#undef ZR_REAL_SLOT
extern struct zr_real zr_real;
/* Looks NAME up and stores it in SLOT (real.c); NULL where no object defines it. Reads
 * tables recorded in the constructor, safe in a signal handler, for anything libc has. */
void *zr_real_resolve(void **slot, const char *name);
static inline void *zr_real_fn(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);
	return ZR_LIKELY(f != NULL) ? f : zr_real_resolve(slot, name);
}
/* Looks up every function behind the wrappers at once, when the shim turns active. */
void zr_real_resolve_all(void);
/* The cancellation functions of the shim's system(); NULL where the program has no threads
 * library (glibc before 2.34 without libpthread loaded), which then has no thread to cancel. */
struct zr_thread_api {
	int (*pthread_setcancelstate)(int, int *);
	void (*pthread_testcancel)(void);
};
extern struct zr_thread_api zr_thread;
void zr_cancel_ready(void); /* when the shim turns active */
/* Whether this build (glibc's or musl's) is running in its own libc. */
bool zr_libc_matches(void);
bool zr_atfork_child(void (*child)(void)); /* pthread_atfork(NULL, NULL, child) */
/* The real function F of libc, looked up at its first call (real.c says why). */
#define REAL(f) ((__typeof__(zr_real.f))zr_real_fn((void **)&zr_real.f, #f))

/* ---- libc.c ---- */
/* Binds the libc functions only an active shim calls (libc.c says why they are not imports);
 * false if one is missing. Before the shim turns active, never in a signal handler. */
bool zr_libc_ready(void);

/* ---- activate.c ---- */
/* Pid of the process in which the shim is active, 0 when inert. A child made by any path keeps
 * a copy of this value but has another pid, so it is inert without anything having to run in it. */
extern atomic_int zr_active_pid;
void zr_after_fork_child(void); /* activate.c: in a fork child, before the app runs */
bool zr_active_slow(void);
static inline bool zr_active(void)
{
	if (ZR_LIKELY(atomic_load_explicit(&zr_active_pid, memory_order_relaxed) == 0))
		return false;
	return zr_active_slow();
}

/* ---- owned.c ---- */
bool zr_owned_init(void);
/* Both leave errno alone (the shim's own system calls only): a spawn wrapper returns the libc
 * call's errno without saving it, and writes none back, which after a fork would cost a
 * copy-on-write fault of the page that holds it while the child still shares it. */
void zr_spawn_begin(void);
/* Records pid (if > 0) as the app's and ends the flight; then, as zr_app_collected does after
 * the app collected a report of pid's, reaps the orphans at the head (zr_reap_inline). */
void zr_spawn_end(pid_t pid);
void zr_app_collected(pid_t pid, bool exited);
void zr_owned_drop(pid_t pid);      /* the reaper collected or disowned it */
uint32_t zr_owned_stamp(pid_t pid); /* 0: not the app's; else the tick it was recorded at, +1 */
struct zr_flight { unsigned seq, inflight; };
struct zr_flight zr_flight_read(void);
bool zr_flight_settled(struct zr_flight before);
void zr_flight_wait(void);          /* reaper: sleep until no spawn is in flight */
extern atomic_int zr_tracer; /* the app has called ptrace: tracees report to its waits */
/*
 * The words the app's spawns and waits and the reaper's every turn write, in a page of their
 * own that fork leaves out (zr_owned_init maps it), not in .bss. Fork write-protects every page
 * it copies; the first write to one afterwards, in the app's next wait or the reaper's next
 * turn, is a copy-on-write fault, and its TLB flush interrupts the other CPU whenever the other
 * thread runs there: an orphan storm took 1.5 such interrupts more per orphan than under tini.
 * Only an active process has the page: a fork child has none, and never looks.
 */
struct zr_words {
	atomic_uint spawn_seq;         /* owned.c: spawns begun */
	atomic_int inflight;           /* spawns begun and not yet recorded */
	atomic_int reaper_waits_flight;
	atomic_int collected;          /* bumped whenever the app collects a child */
	atomic_int reaper_waits_collect;
	atomic_int spawned;            /* bumped after a spawn while the reaper waits for one */
	atomic_int reaper_waits_spawn;
	atomic_int wide_waiters;       /* stash.c: app waits for any child or a group, under way */
	atomic_int stashing;           /* the reaper is moving a forgotten child into the stash */
	/* reaper.c: set from before the reaper reads its sentinel's pid (to decide whether to block
	 * in waitid) until its waitid returns; while set, a sentinel taken may be the one it sleeps
	 * on (end_sentinel). */
	atomic_int reaper_in_waitid;
	/* reaper.c, reaping on the app's thread: how many more of its looks may find no orphan,
	 * and how often one did reap. */
	atomic_int inline_tries;
	atomic_uint inline_reaped;
	atomic_int reaper_defers; /* reaper.c: it looks and naps instead of sleeping in waitid */
};
extern struct zr_words *zr_words;

/* ---- stash.c ---- */
/* An exit report (not a stop or continue) in a siginfo's si_code. */
static inline bool zr_is_exit(int code)
{
	return code == CLD_EXITED || code == CLD_KILLED || code == CLD_DUMPED;
}

struct zr_exit {
	pid_t pid, pgid;
	uid_t uid;
	int code;   /* si_code: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
	int status; /* si_status */
	struct rusage ru;
};
bool zr_stash_init(void);
int zr_stash_reserve(void);  /* a slot index, or -1 when full */
void zr_stash_publish(int slot, const struct zr_exit *e);
void zr_stash_release(int slot);
/* Takes (or, with keep, copies) an entry whose pid matches idtype/id as waitid selects. */
bool zr_stash_take(idtype_t idtype, id_t id, bool keep, struct zr_exit *out);
int zr_exit_wstatus(const struct zr_exit *e);

/* ---- sys.c ---- */
/*
 * The shim's own system calls. None of them touches errno, or anything else in thread-local
 * storage: the reaper is a thread libc does not know of, which runs on the TLS of the thread
 * that made it (reaper.c says why), and a wrapper in an app's signal handler must leave the
 * app's errno alone. Each returns what the kernel returned: -errno on failure.
 */
#if defined(__x86_64__)
static inline long zr_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static inline long zr_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#else
#error "libzreap runs on x86_64 and aarch64: port zr_sys6 here and shim/clone_ARCH.S"
#endif
#define ZR_SYS_(nr, a, b, c, d, e, f, ...) \
	zr_sys6((long)(nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define zr_sys(...) ZR_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)

/* clone_ARCH.S: clone(flags) onto stack_top, storing the child's tid in *tid (CLONE_PARENT_SETTID,
 * CLONE_CHILD_CLEARTID when flags ask), the child running fn(arg) and then exit(its return).
 * Returns the child's tid or -errno; touches no thread-local storage. */
long zr_clone(unsigned long flags, void *stack_top, int *tid, int (*fn)(void *), void *arg);

int zr_futex_wait(atomic_int *addr, int val, long timeout_ms); /* 0 or -errno; timeout_ms < 0: none */
void zr_futex_wake(atomic_int *addr);
long zr_now_ms(void);       /* CLOCK_MONOTONIC */
/* Zeroed anonymous memory, page-aligned, left out of fork children unless fork_keeps; NULL if
 * none. Never unmapped. */
void *zr_map(size_t size, bool fork_keeps);
void zr_guard(void *p, size_t size); /* makes pages of zr_map's fault on any access */
/* The page size (AT_PAGESZ), set by the constructor before anything is mapped: the reaper's
 * code calls nothing outside its own files (tests/build.bats). */
extern size_t zr_page;
uint32_t zr_boot_ticks(void); /* CLOCK_BOOTTIME in clock ticks, as /proc/PID/stat starttime */
pid_t zr_getpid(void);      /* never the cached pid of old glibc */
pid_t zr_gettid(void);
size_t zr_utoa(unsigned long long v, unsigned base, char *out); /* digits (base 10 or 16), NUL; returns their count */
/* waitid with the rusage glibc's lacks; 0 or -errno. */
int zr_raw_waitid(idtype_t idtype, id_t id, siginfo_t *si, int options, struct rusage *ru);
/* Call fn(id, arg) for every thread of this process, or for every child of every thread;
 * false if /proc is absent, or (children) the kernel has no task/TID/children files, which
 * need CONFIG_PROC_CHILDREN. */
bool zr_for_each_task(void (*fn)(pid_t, void *), void *arg);
bool zr_for_each_child(void (*fn)(pid_t, void *), void *arg);
/* What /proc/PID/stat says of a process (its main thread, for the per-thread fields). The
 * signal masks hold signals 1 to 31 only, bit sig - 1, as the file gives them. False when it
 * cannot be read (gone, or no /proc). */
struct zr_stat {
	char state;              /* field 3: R, S, D, T, t, Z, X ... */
	pid_t ppid;              /* field 4 */
	unsigned long flags;     /* field 9: the kernel's PF_ flags */
	unsigned long long starttime; /* field 22, in clock ticks since boot */
	uint32_t pending;        /* field 31: signals queued to the main thread alone */
	uint32_t blocked;        /* field 32: the main thread's mask */
	uint32_t ignored;        /* field 33 */
	uint32_t caught;         /* field 34: those with a handler */
	char comm[32];           /* field 2 */
};
bool zr_proc_stat(pid_t pid, struct zr_stat *st);
pid_t zr_proc_tracer(pid_t pid); /* TracerPid of /proc/PID/status; 0 when untraced or unknown */
/* The auxiliary vector's entry of TYPE from /proc/self/auxv; false if absent or unreadable. */
bool zr_proc_auxval(unsigned long type, unsigned long *out);

/* ---- signals.c ---- */
void zr_signals_activate(void);   /* PID 1: take over the forwarded signals' SIG_DFL */
void zr_signals_after_fork(void); /* a fork child: the app's dispositions for real */

/* ---- stop.c ---- */
/* Sends sig to every child (stop.c says which); returns how many of them are worth waiting
 * for: those that can act on it, and those that ignore it if wait_for_ignorers. */
int zr_forward(int sig, const siginfo_t *si, bool wait_for_ignorers);
void zr_stop_on_signal(int sig, const siginfo_t *si);
void zr_stop_on_own_signal(int sig);

/* ---- reaper.c ---- */
bool zr_reaper_start(void);
/* On the app's thread, after its spawns and collections: reaps the orphans at the head of the
 * zombies while orphans come or the reaper defers; async-signal-safe, and leaves errno alone. */
void zr_reap_inline(void);
/* For cred.c, on an app thread: end the reaper thread and its sentinel (false if it did not end
 * within a second and runs on), and start a new one, with the calling thread's credentials. */
bool zr_reaper_pause(void);
bool zr_reaper_resume(void);
pid_t zr_sentinel_pid(void);
/* Around an exec: kill and reap the sentinel and keep the reaper from making another; after a
 * failed exec, let it make one again. */
void zr_sentinel_stop(void);
/* The app waits with __WALL or __WCLONE for any child: end the sentinel and make no other. */
void zr_sentinel_forgo(void);
void zr_sentinel_allow(void);

#endif
