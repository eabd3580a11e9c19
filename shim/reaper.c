/*
 * reaper.c: the reaper thread, and the sentinel child that keeps it asleep.
 *
 * How it waits. The reaper blocks in waitid(P_ALL, WEXITED | WNOWAIT | __WALL). The kernel
 * wakes every thread waiting for children whenever a child exits, whatever SIGCHLD's
 * disposition, so the shim installs no SIGCHLD handler: an app whose SIGCHLD is SIG_DFL never
 * sees nanosleep, poll or epoll_wait cut short by EINTR, as it would if a handler ran in one of
 * its threads. The thread blocks every signal, so no signal of the app is ever delivered to it.
 * WNOWAIT only peeks: the zombie is reaped (waitid P_PID) only after it is known not to be
 * the app's (owned.c).
 *
 * Why a sentinel. With no child at all, waitid fails with ECHILD at once instead of blocking,
 * yet an orphan can still be adopted then (its parent, say a `docker exec` session, lived
 * outside). So the reaper keeps one child of its own: a CLONE_VM process with exit signal 0,
 * which ordinary waits (no __WALL or __WCLONE) do not see, so the app's wait() still gets
 * ECHILD when its own children are gone. It shares our memory (no copy), closes every
 * descriptor, moves to /, blocks every signal and sleeps: on the main thread's exit word
 * (below, main_thread_exited), or else in rt_sigsuspend for ever. It never
 * outlives the image that made it, nor holds its memory: an exec through libc kills and reaps
 * it first (exec.c); otherwise its death signal, SIGKILL on the death of its parent the reaper
 * thread, ends it when the app execs or exits. It runs on raw system calls only, since it
 * shares the reaper's TLS (errno included).
 *
 * Head-of-line. waitid returns the first zombie in the kernel's list. If that is the app's
 * own uncollected child, every peek returns it, and the orphans behind it are hidden. Then
 * the reaper waits on a futex that wait.c bumps whenever the app collects a child; if the
 * app takes its time, the reaper looks behind the head through /proc/self/task/+/children,
 * reaping the orphans there, first after 10 ms and then backing off to once a second. This is
 * the only time it runs without being woken by an exit, and it ends as soon as the app waits.
 *
 * Tracees (owned.c). A tracer's waits also report its tracees' stops, and their exits go to
 * the tracer first: the reaper acts only on exits, and in a tracer reaps only zombies whose
 * parent is us and that nobody traces. Everything else it leaves to the app like its own
 * children, but never takes as forgotten.
 *
 * Forgotten children. An own child left a zombie for ZREAP_FORGOTTEN_MS is reaped into the
 * stash (stash.c) for a later wait, after two checks: no wide wait is running (which would
 * have had to return it), and /proc/PID/stat shows it started before we recorded it (else the
 * pid was reused after its first owner was reaped behind our back).
 */
#include "zreap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define REAPER_STACK (256 * 1024)
#define SCAN_FIRST_MS 10
#define SCAN_MAX_MS 1000
#define SEEN_MAX 256

static atomic_int sentinel;  /* its pid; 0 when there is none */
static atomic_int creating;  /* the reaper is making one */
static atomic_int execing;   /* an exec is under way: make none (exec.c) */

pid_t zr_sentinel_pid(void)
{
	return atomic_load(&sentinel);
}
/* The main thread's clear_child_tid word: the kernel zeroes it, and wakes its futex, when the
 * main thread exits; NULL when unknown or after that. */
static int *main_exit_word;
static bool main_gone; /* the main thread has exited while app threads lived on */

/* ---- the sentinel ---- */

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_SENTINEL 1
#define SENTINEL_STACK (16 * 1024)

static long raw_syscall4(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
#else
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
#endif
}
#define raw_syscall3(nr, a, b, c) raw_syscall4(nr, a, b, c, 0)

/* Written by the reaper before each clone, read by the sentinel (it shares our memory). */
static struct {
	long max_fd;
	pid_t tgid, reaper_tid;
	int *main_exit_word;
	bool tick; /* exit after a second, so the reaper can look at the threads left */
} sentinel_args;

static int sentinel_main(void *arg)
{
	(void)arg;
	raw_syscall3(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
	/* If the reaper thread died before the line above (an exec right after our clone), the
	 * death signal will never come: then leave now. */
	if (raw_syscall3(SYS_tgkill, sentinel_args.tgid, sentinel_args.reaper_tid, 0) != 0)
		raw_syscall3(SYS_exit, 0, 0, 0);
	raw_syscall3(SYS_prctl, PR_SET_NAME, (long)"zreap-sentinel", 0);
	if (raw_syscall3(SYS_close_range, 0, ~0U, 0) != 0)
		for (long fd = 0; fd < sentinel_args.max_fd; fd++)
			raw_syscall3(SYS_close, fd, 0, 0);
	raw_syscall3(SYS_chdir, (long)"/", 0, 0);
	int *word = sentinel_args.main_exit_word;
	int tid;
	while (word != NULL && (tid = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != 0)
		raw_syscall4(SYS_futex, (long)word, FUTEX_WAIT, tid, 0);
	if (word != NULL)
		raw_syscall3(SYS_exit, 0, 0, 0); /* the main thread has exited: tell the reaper */
	if (sentinel_args.tick) {
		struct timespec second = { 1, 0 };
		raw_syscall3(SYS_nanosleep, (long)&second, 0, 0);
		raw_syscall3(SYS_exit, 0, 0, 0);
	}
	unsigned long all[2] = { ~0UL, ~0UL };
	for (;;)
		raw_syscall3(SYS_rt_sigsuspend, (long)all, 8, 0);
	return 0;
}

static void make_sentinel(void)
{
	static void *stack;
	if (stack == NULL && (stack = zr_map(SENTINEL_STACK, false)) == NULL)
		return;
	struct rlimit nofile = { 1024, 1024 };
	getrlimit(RLIMIT_NOFILE, &nofile);
	sentinel_args.max_fd = nofile.rlim_cur > 1048576 ? 1048576 : (long)nofile.rlim_cur;
	sentinel_args.tgid = zr_getpid();
	sentinel_args.reaper_tid = (pid_t)syscall(SYS_gettid);
	sentinel_args.main_exit_word = main_exit_word;
	sentinel_args.tick = main_gone;
	int pid = zr_real.clone(sentinel_main, (char *)stack + SENTINEL_STACK, CLONE_VM, NULL);
	if (pid > 0) {
		atomic_store(&sentinel, pid);
		zr_log(ZR_DEBUG, "sentinel %d", pid);
	} else {
		/* Said once: where clone cannot make it (qemu-user cannot), every retry would fail. */
		static bool said;
		if (!said)
			zr_log(ZR_ERROR, "cannot start the sentinel (errno %d): an orphan adopted while the "
					 "app has no child waits up to a second",
			       errno);
		said = true;
	}
}
#else
#define HAVE_SENTINEL 0
static void make_sentinel(void)
{
}
#endif

/* Makes a sentinel unless an exec is under way; zr_sentinel_stop waits for us to finish. */
static void start_sentinel(void)
{
	atomic_store(&creating, 1);
	if (!atomic_load(&execing))
		make_sentinel();
	atomic_store(&creating, 0);
	zr_futex_wake(&creating);
}

void zr_sentinel_stop(void)
{
	int saved = errno;
	atomic_store(&execing, 1);
	while (atomic_load(&creating))
		zr_futex_wait(&creating, 1, -1);
	pid_t pid = atomic_exchange(&sentinel, 0);
	if (pid > 0) {
		kill(pid, SIGKILL);
		/* The reaper may collect it first (it is no longer "the sentinel" to it): ECHILD. */
		siginfo_t si;
		while (zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL, NULL) != 0 && errno == EINTR)
			;
	}
	errno = saved;
}

void zr_sentinel_allow(void)
{
	atomic_store(&execing, 0);
	zr_futex_wake(&execing);
}

/* ---- reaping ---- */

/* The si_code of the event pid has pending for us, without consuming it; 0 if none. Only exits
 * are asked for, but a tracer is also shown its tracees' stops (CLD_TRAPPED, CLD_STOPPED). */
static int peek(pid_t pid)
{
	siginfo_t si;
	si.si_pid = 0;
	if (zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL) != 0 ||
	    si.si_pid != pid)
		return 0;
	return si.si_code;
}

static void describe(const siginfo_t *si, const char **how, int *value)
{
	*how = si->si_code == CLD_EXITED ? "exited with status" : "was killed by signal";
	*value = si->si_status;
}

static void reap_orphan(pid_t pid)
{
	struct zr_stat st = { .comm = "?" };
	if (zr_cfg.log_level >= ZR_INFO)
		zr_proc_stat(pid, &st);
	siginfo_t si;
	si.si_pid = 0;
	if (zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | __WALL, NULL) == 0 && si.si_pid == pid) {
		const char *how;
		int value;
		describe(&si, &how, &value);
		/* A sentinel left by the image before an exec is ours, not a leak to report. */
		zr_log(strcmp(st.comm, "zreap-sentinel") == 0 ? ZR_DEBUG : ZR_INFO,
		       "reaped orphan %d (%s), which %s %d", pid, st.comm, how, value);
	}
}

/* Moves a forgotten own zombie into the stash. False when it must wait for another turn. */
static bool stash_forgotten(pid_t pid)
{
	uint32_t stamp = zr_owned_stamp(pid);
	struct zr_stat st = { .comm = "?" };
	if (stamp == 0)
		return true;
	if (zr_proc_stat(pid, &st) && (int32_t)((uint32_t)st.starttime - (stamp - 1)) > 0) {
		/* Started after we recorded this pid: not the child we recorded, an orphan. */
		zr_owned_drop(pid);
		reap_orphan(pid);
		return true;
	}
	int slot = zr_stash_reserve();
	if (slot < 0)
		return false;
	atomic_store(&zr_stashing, 1);
	if (atomic_load(&zr_wide_waiters) > 0) {
		atomic_store(&zr_stashing, 0);
		zr_futex_wake(&zr_stashing);
		zr_stash_release(slot);
		return false;
	}
	struct zr_exit e;
	memset(&e, 0, sizeof e);
	e.pgid = getpgid(pid);
	siginfo_t si;
	si.si_pid = 0;
	bool reaped = zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | __WALL, &e.ru) == 0 &&
		      si.si_pid == pid;
	if (reaped) {
		e.pid = pid;
		e.uid = si.si_uid;
		e.code = si.si_code;
		e.status = si.si_status;
		zr_stash_publish(slot, &e);
		zr_owned_drop(pid);
	} else {
		zr_stash_release(slot);
	}
	atomic_store(&zr_stashing, 0);
	zr_futex_wake(&zr_stashing);
	if (reaped) {
		const char *how;
		int value;
		describe(&si, &how, &value);
		zr_log(ZR_INFO, "collected own child %d (%s), uncollected for %ld ms, which %s %d; "
				"its status waits for the app",
		       pid, st.comm, zr_cfg.forgotten_ms, how, value);
	}
	return true;
}

/* When each own zombie was first seen; a small table, kept by scans and the head wait.
 * Mapped when the shim turns active (zr_reaper_start), not in .bss: every inert process
 * would pay for one more mapping at load. */
static struct seen_zombie {
	pid_t pid;
	long since;
	bool marked;
} *seen;

static long first_seen(pid_t pid, long now)
{
	int free_slot = -1;
	for (int i = 0; i < SEEN_MAX; i++) {
		if (seen[i].pid == pid) {
			seen[i].marked = true;
			return seen[i].since;
		}
		if (seen[i].pid == 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
		seen[free_slot].pid = pid, seen[free_slot].since = now, seen[free_slot].marked = true;
	return now;
}

static bool forgotten(pid_t pid, long now)
{
	return zr_cfg.forgotten_ms > 0 && now - first_seen(pid, now) >= zr_cfg.forgotten_ms;
}

enum kind { ORPHAN, OWN, TRACEE, UNSURE };

/* What a zombie is to us. flight was read before the zombie was found (owned.c). */
static enum kind classify(pid_t pid, struct zr_flight flight)
{
	if (zr_owned_stamp(pid) != 0)
		return OWN;
	if (!zr_flight_settled(flight))
		return UNSURE;
	if (atomic_load(&zr_tracer)) {
		struct zr_stat st = { .ppid = 0 };
		zr_proc_stat(pid, &st);
		if (st.ppid != zr_getpid() || zr_proc_tracer(pid) != 0)
			return TRACEE;
	}
	return ORPHAN;
}

struct scan {
	struct zr_flight flight;
	long now;
};

static void scan_child(pid_t pid, void *arg)
{
	struct scan *s = arg;
	if (pid == atomic_load(&sentinel) || !zr_is_exit(peek(pid)))
		return;
	switch (classify(pid, s->flight)) {
	case OWN:
		if (forgotten(pid, s->now))
			stash_forgotten(pid);
		break;
	case ORPHAN:
		reap_orphan(pid);
		break;
	default:
		break;
	}
}

/* Looks behind a head the app has not collected yet (see the header). */
static void scan_behind(void)
{
	struct scan s = { zr_flight_read(), zr_now_ms() };
	for (int i = 0; i < SEEN_MAX; i++)
		seen[i].marked = false;
	zr_for_each_child(scan_child, &s);
	for (int i = 0; i < SEEN_MAX; i++)
		if (!seen[i].marked)
			seen[i].pid = 0;
}

/* The head event is for the app to collect (its own child's exit, or a tracee's exit or stop):
 * wait until it does. */
static void wait_for_app(pid_t head, enum kind kind)
{
	long interval = SCAN_FIRST_MS;
	first_seen(head, zr_now_ms());
	atomic_store(&zr_reaper_waits_collect, 1);
	for (;;) {
		int collected = atomic_load(&zr_collected_word);
		if ((kind == OWN && zr_owned_stamp(head) == 0) || peek(head) == 0)
			break;
		long now = zr_now_ms();
		if (kind == OWN && forgotten(head, now) && stash_forgotten(head))
			break;
		long wait = interval;
		if (kind == OWN && zr_cfg.forgotten_ms > 0) {
			long left = first_seen(head, now) + zr_cfg.forgotten_ms - now;
			if (left > 0 && left < wait)
				wait = left;
		}
		if (zr_futex_wait(&zr_collected_word, collected, wait) != 0 && errno == ETIMEDOUT) {
			scan_behind();
			interval = interval * 2 > SCAN_MAX_MS ? SCAN_MAX_MS : interval * 2;
		}
	}
	atomic_store(&zr_reaper_waits_collect, 0);
}

static bool spawn_reaper_thread(void);

struct other_threads {
	pid_t self, main;
	bool any;
};

static void note_thread(pid_t tid, void *arg)
{
	struct other_threads *t = arg;
	if (tid != t->self && tid != t->main)
		t->any = true;
}

/* True when a thread other than us and the exited main thread still lives. */
static bool app_threads_left(void)
{
	struct other_threads t = { (pid_t)syscall(SYS_gettid), zr_getpid(), false };
	return !zr_for_each_task(note_thread, &t) || t.any;
}

/*
 * The main thread has exited (pthread_exit in main). The kernel then makes the first live
 * thread the one orphans are re-parented to and whose SIGCHLDs they send: that is us, and as
 * we block SIGCHLD it would be queued for the app's threads instead of being dropped, cutting
 * their epoll_wait short. So a fresh reaper thread, last in the list, takes over and this one
 * ends: the first live app thread becomes that thread, as without the shim.
 * And glibc, which counts our thread, would not end the process when its last thread exits.
 * Nothing tells us when that is, so in this state (and only in it) the sentinel exits every
 * second and the reaper looks: with no app thread left, it ends the process as glibc would
 * have, with exit(0).
 */
static void exit_if_no_app_thread(void)
{
	if (!app_threads_left()) {
		zr_log(ZR_INFO, "the main thread exited and no other thread is left: exit(0)");
		exit(0);
	}
}

static void main_thread_exited(void)
{
	main_exit_word = NULL;
	main_gone = true;
	exit_if_no_app_thread();
	zr_log(ZR_DEBUG, "the main thread exited: handing the reaper over to a new thread");
	if (!spawn_reaper_thread())
		zr_log(ZR_ERROR, "cannot start a new reaper thread; this one goes on");
	else
		zr_thread.pthread_exit(NULL);
}

static void *reaper_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "zreap");
	start_sentinel();
	for (;;) {
		struct zr_flight flight = zr_flight_read();
		siginfo_t si;
		si.si_pid = 0;
		if (zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | __WALL, NULL) != 0) {
			/* No child at all: the sentinel is gone (killed, or stopped for an exec that
			 * failed) or could not be made (qemu-user cannot). Make one; failing that, sleep
			 * until the app spawns, or a second at most, for orphans adopted from outside. */
			if (errno == ECHILD) {
				int exec_state = atomic_load(&execing);
				if (HAVE_SENTINEL && !exec_state) {
					start_sentinel();
					if (atomic_load(&sentinel) != 0)
						continue;
				}
				if (exec_state) {
					zr_futex_wait(&execing, exec_state, 1000);
					continue;
				}
				atomic_store(&zr_reaper_waits_spawn, 1);
				int spawned = atomic_load(&zr_spawned_word);
				if (zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL) != 0 &&
				    errno == ECHILD)
					zr_futex_wait(&zr_spawned_word, spawned, 1000);
				atomic_store(&zr_reaper_waits_spawn, 0);
			}
			continue;
		}
		pid_t pid = si.si_pid;
		if (pid <= 0)
			continue;
		if (pid == atomic_load(&sentinel)) {
			atomic_store(&sentinel, 0);
			reap_orphan(pid);
			if (main_exit_word != NULL && __atomic_load_n(main_exit_word, __ATOMIC_ACQUIRE) == 0)
				main_thread_exited();
			else if (main_gone)
				exit_if_no_app_thread();
			start_sentinel();
			continue;
		}
		enum kind kind = zr_is_exit(si.si_code) ? classify(pid, flight) : TRACEE;
		if (kind == ORPHAN)
			reap_orphan(pid);
		else if (kind == UNSURE)
			zr_flight_wait();
		else
			wait_for_app(pid, kind);
	}
	return NULL;
}

static bool spawn_reaper_thread(void)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	if (zr_thread.pthread_attr_init(&attr) != 0)
		return false;
	zr_thread.pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* libc's own stack: glibc keeps the thread's descriptor at its top and walks it in every
	 * fork child, so unlike our other memory it must not be left out of forks (zr_map). */
	zr_thread.pthread_attr_setstacksize(&attr, REAPER_STACK);
	/* The new thread inherits this mask, so no signal can ever reach it, not even before
	 * its first instruction; the caller's own mask is restored at once. (libc leaves out of
	 * it the signals it reserves for itself, such as glibc's SIGSETXID, which setuid() in
	 * any thread needs every thread to take.) */
	sigprocmask(SIG_SETMASK, &all, &old);
	pthread_t thread;
	int r = zr_thread.pthread_create(&thread, &attr, reaper_main, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	zr_thread.pthread_attr_destroy(&attr);
	return r == 0;
}

bool zr_reaper_start(void)
{
	/* Called on the main thread: glibc has it clear its tid word at exit (set_tid_address);
	 * musl points that at another word, which the value check leaves out. */
	int *word = NULL;
	if (HAVE_SENTINEL && prctl(PR_GET_TID_ADDRESS, &word) == 0 && word != NULL &&
	    *word == (int)syscall(SYS_gettid))
		main_exit_word = word;
	if (seen == NULL && (seen = zr_map(SEEN_MAX * sizeof *seen, false)) == NULL)
		return false;
	return zr_threads_ready() && spawn_reaper_thread();
}
