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
 * A thread libc does not know of. The reaper is made with our own clone (zr_clone), not
 * pthread_create, for three reasons, each measured or seen here:
 *  - A pthread makes libc treat the app as multi-threaded for the rest of its life: glibc's
 *    fork then takes and releases its stdio and malloc locks around every fork and runs its
 *    atfork bookkeeping in the child, and malloc and stdio lock for real. A PID 1 forking
 *    /bin/true took 15 more page faults and about 5% more CPU a fork with an idle pthread,
 *    none with an idle thread made this way.
 *  - glibc's setuid and the like run the call in every thread it knows and abort() when the
 *    threads disagree, which they do when per-thread state differs: setpriv, as PID 1, keeps
 *    its capabilities with PR_SET_KEEPCAPS (per thread), sets the uid and then the gid, and the
 *    pthread reaper, which kept none, failed the second call: setpriv aborted.
 *  - No libpthread to load into PID 1 on glibc before 2.34, and glibc's count of threads, by
 *    which the process ends when its last thread exits, counts only the app's.
 * The price: the thread runs on the thread-local storage of the thread that made it, so it
 * must never write any, errno included. It calls no libc function that can: its system calls
 * are the shim's own (zr_sys), and everything it runs is in reaper.c, owned.c, stash.c, sys.c
 * and log.c (tests/build.bats checks what these call). And credentials, which Linux keeps per
 * thread, are no longer changed in it by libc: cred.c pauses the reaper around every call that
 * changes them, and a new one starts from the calling thread, with exactly its credentials.
 *
 * Why a sentinel. With no child at all, waitid fails with ECHILD at once instead of blocking,
 * yet an orphan can still be adopted then (its parent, say a `docker exec` session, lived
 * outside). So the reaper keeps one child of its own: a CLONE_VM process with exit signal 0,
 * which ordinary waits (no __WALL or __WCLONE) do not see, so the app's wait() still gets
 * ECHILD when its own children are gone. It shares our memory (no copy), closes every
 * descriptor, moves to /, blocks every signal and sleeps on a futex: the main thread's exit
 * word (below, hand_over_if_main_exited), or else one of its own. It never outlives the image
 * that made it, nor holds its memory: an exec through libc ends and reaps it first (exec.c),
 * with that futex as well as SIGKILL, since a sentinel made before the app changed its
 * credentials may not be one the app can signal; otherwise its death signal, SIGKILL on the
 * death of its parent the reaper thread, ends it when the app execs or exits.
 * Waits with __WALL or __WCLONE do see it. An app that makes one for any child (strace -f,
 * which runs until such a wait says ECHILD; debuggers; programs of clone children) would wait
 * for it for ever, so at the first such wait (wait.c) the sentinel ends for good, before the
 * app's call is made (zr_sentinel_forgo).
 *
 * Without a sentinel (forgone, or where clone cannot make one: qemu-user), nothing could wake
 * the reaper from a blocking waitid but a child's exit: not a pause for a credential change,
 * not the main thread's end. So it does not block there: it looks (WNOHANG) and naps on a
 * futex that the app's spawns and a pause wake, 10 ms after the last event, then ever longer,
 * up to a second. An orphan then waits up to that long to be reaped.
 *
 * Deferring. Every thread in waitid is woken at every child's exit: the kernel's wake-up
 * filters by pid or process group, never by "not the app's own", and orphans have the main
 * thread as their parent, as the app's own children do. Woken on the other CPU each time, the
 * reaper cost a PID 1 forking /bin/true in a loop 11% of its throughput (perf stat: 1.9
 * call-function interrupts a child, 0.15 without the shim). So while the app is busy with
 * children of its own and has no other, the reaper steps out of waitid. After an own child's
 * exit, if in the last second it reaped no orphan and saw no child not the app's, and every
 * child we have now (/proc/self/task/+/children) is recorded as the app's, it looks (WNOHANG)
 * every DEFER_NAP_MS instead (ZREAP_FORGOTTEN_MS if shorter), for as long as the app begins
 * spawns between looks and no other child appears. Meanwhile the app's own spawns and
 * collections look at the head of the zombies as they return (zr_reap_inline, below), which
 * costs it a non-blocking waitid each: an orphan adopted and dead while the reaper naps (a
 * grandchild's child) is reaped at the app's next spawn or wait, and waits the nap out only
 * when the app stops spawning just then, or when one of the app's own zombies hides it. One
 * adopted alive and seen at a look ends the deferring: the reaper is back in waitid when it
 * dies. The looks were every 10 ms before the app's spawns looked too; each woke the reaper
 * on the other CPU, which cost a PID 1 forking /bin/true in a loop about 1.5 points of its
 * throughput (a reaper that never woke: 0.986 of no shim; 10 ms looks: 0.967-0.974). An
 * idle app never defers: nothing exits in it.
 *
 * Reaping on the app's thread. In an orphan storm (an app whose children leave grandchildren
 * behind as fast as it spawns) the reaper woke twice an orphan: at the orphan's exit and at the
 * exit of its parent, the app's own child, just as the app, woken by the same exit, went on to
 * fork again. The fork write-protects the app's memory and must flush the TLB of every CPU
 * running it, so each time the reaper ran on the other CPU it cost the app an interrupt and the
 * wait for it: twice the app's CPU time of a storm under tini. So once orphans come (one was
 * reaped, by either thread), the app's own spawns and collections look at the head of the
 * zombies as they return (zr_reap_inline) and reap the orphans there, classified as the reaper
 * does: no other thread runs, nothing is flushed elsewhere. It stops looking after INLINE_TRIES
 * looks that find none, unless the reaper defers (above). And while it reaps orphans so (it
 * did in the last APP_REAPING_MS), the reaper defers as above among orphans too, and reaps
 * those it finds at its looks. An app that spawns among orphans it does not reap on its way
 * (one that polls for them between spawns, as a latency measure does) keeps the reaper in
 * waitid.
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
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define REAPER_STACK (64 * 1024)
#define SENTINEL_STACK (16 * 1024)
#define SCAN_FIRST_MS 10
#define SCAN_MAX_MS 1000
#define NAP_FIRST_MS 10 /* the naps without a sentinel (above) */
#define DEFER_NAP_MS 100 /* deferring (above) */
#define ORPHAN_RECENT_MS 1000
#define APP_REAPING_MS (2 * DEFER_NAP_MS) /* reaping on the app's thread (above) */
#define NAP_MAX_MS 1000
#define SEEN_MAX 256
/* What pthread_create asks for, less a TLS of its own (the reaper writes none), plus its tid,
 * which the kernel zeroes when it ends. */
#define THREAD_FLAGS                                                                              \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |         \
	 CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

static atomic_int sentinel;      /* its pid; 0 when there is none */
static atomic_int creating;      /* the reaper is making one */
static atomic_int execing;       /* an exec or a pause is under way: make none (exec.c) */
static atomic_int sentinel_quit; /* tells the sentinel to end (end_sentinel) */
/* The app waits with __WALL or __WCLONE: FORGOING while the sentinel is being ended, FORGONE
 * once it is gone, never to be made again (zr_sentinel_forgo). */
enum { WANTED, FORGOING, FORGONE };
static atomic_int sentinel_forgone;

/* The running reaper's tid, which the kernel zeroes (and wakes as a futex) when it ends; the
 * request to end (zr_reaper_pause); its two stacks (a reaper hands over to a new one). */
static atomic_int reaper_tid;
static atomic_int reaper_quit;
static void *reaper_stacks[2];
static int reaper_stack_in_use;

pid_t zr_sentinel_pid(void)
{
	return atomic_load(&sentinel);
}
/* The main thread's clear_child_tid word: the kernel zeroes it, and wakes its futex, when the
 * main thread exits; NULL when unknown or after that. */
static int *main_exit_word;

/* A stack of size bytes with a guard page below it, left out of forks: its top, or NULL. */
static void *map_stack(size_t size)
{
	size_t guard = zr_page;
	char *p = zr_map(size + guard, false);
	if (p == NULL)
		return NULL;
	zr_guard(p, guard);
	return p + guard + size;
}

/* ---- the sentinel ---- */

/* Written by the reaper before each clone, read by the sentinel (it shares our memory). */
static struct {
	long max_fd;
	pid_t tgid, reaper_tid;
	int *word;         /* the futex it sleeps on: main_exit_word, or else sentinel_quit */
	bool watches_main; /* word is main_exit_word: its 0 means the main thread has exited */
} sentinel_args;

static int sentinel_main(void *arg)
{
	(void)arg;
	zr_sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
	/* If the reaper thread died before the line above (an exec right after our clone), the
	 * death signal will never come: then leave now. */
	if (zr_sys(SYS_tgkill, sentinel_args.tgid, sentinel_args.reaper_tid, 0) != 0)
		return 0;
	zr_sys(SYS_prctl, PR_SET_NAME, "zreap-sentinel");
	if (zr_sys(SYS_close_range, 0, ~0U, 0) != 0)
		for (long fd = 0; fd < sentinel_args.max_fd; fd++)
			zr_sys(SYS_close, fd);
	zr_sys(SYS_chdir, "/");
	int *word = sentinel_args.word;
	for (;;) {
		int value = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (atomic_load(&sentinel_quit) || (sentinel_args.watches_main && value == 0))
			return 0; /* told to, or the main thread has exited: the reaper sees us go */
		zr_sys(SYS_futex, word, FUTEX_WAIT, value, NULL);
	}
}

static void make_sentinel(void)
{
	static void *stack;
	if (stack == NULL && (stack = map_stack(SENTINEL_STACK)) == NULL)
		return;
	struct rlimit nofile = { 1024, 1024 };
	zr_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &nofile);
	sentinel_args.max_fd = nofile.rlim_cur > 1048576 ? 1048576 : (long)nofile.rlim_cur;
	sentinel_args.tgid = zr_getpid();
	sentinel_args.reaper_tid = zr_gettid();
	sentinel_args.watches_main = main_exit_word != NULL;
	sentinel_args.word = main_exit_word != NULL ? main_exit_word : (int *)&sentinel_quit;
	atomic_store(&sentinel_quit, 0);
	long pid = zr_clone(CLONE_VM, stack, NULL, sentinel_main, NULL);
	if (pid > 0) {
		atomic_store(&sentinel, (pid_t)pid);
		zr_log(ZR_DEBUG, "sentinel %ld", pid);
	} else {
		/* Said once: where clone cannot make it (qemu-user cannot), every retry would fail. */
		static bool said;
		if (!said)
			zr_log(ZR_ERROR, "cannot start the sentinel (errno %ld): an orphan adopted while the "
					 "app has no child waits up to a second",
			       -pid);
		said = true;
	}
}

/* Makes a sentinel unless an exec is under way or the app waits with __WALL;
 * zr_sentinel_stop and zr_sentinel_forgo wait for us to finish. */
static void start_sentinel(void)
{
	atomic_store(&creating, 1);
	if (!atomic_load(&execing) && atomic_load(&sentinel_forgone) == WANTED)
		make_sentinel();
	atomic_store(&creating, 0);
	zr_futex_wake(&creating);
}

/* Ends the sentinel, which the caller has taken out of `sentinel`, and returns once it has been
 * reaped. SIGKILL ends it even when stopped; where the app may not signal it (it was made
 * before the app changed its credentials), the futex it sleeps on does. While the reaper is in
 * or about to enter a blocking waitid (zr_words->reaper_in_waitid), its zombie is left to it:
 * the reaper read the sentinel's pid before it was taken, and with children alive only that
 * zombie, still there, is sure to wake it. The reaper then reaps it (an orphan to it now),
 * or, told to end (a pause), sees it and ends. Otherwise, or after 100 ms, we reap it: a reaper
 * anywhere else reads `sentinel` again before it next blocks. */
static void end_sentinel(pid_t pid)
{
	atomic_store(&sentinel_quit, 1);
	zr_sys(SYS_kill, pid, SIGKILL);
	long deadline = zr_now_ms() + 100;
	for (;;) {
		zr_sys(SYS_futex, sentinel_args.word, FUTEX_WAKE, 0x7fffffff);
		siginfo_t si;
		si.si_pid = 0;
		int r = zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL);
		if (r == -EINTR)
			continue;
		if (r != 0)
			return; /* ECHILD: reaped */
		bool reaper_blocks = atomic_load(&reaper_tid) != 0 &&
				     atomic_load(&zr_words->reaper_in_waitid);
		if (si.si_pid == pid && (!reaper_blocks || zr_now_ms() >= deadline)) {
			zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | __WALL, NULL);
			return;
		}
		struct timespec nap = { 0, 100000 };
		zr_sys(SYS_nanosleep, &nap, NULL);
	}
}

/* How many threads have taken a sentinel's pid out of `sentinel` and not yet seen it reaped:
 * zr_sentinel_forgo waits for them, so that no sentinel is left for the app's wait to find. */
static atomic_int sentinels_taken;

static void taken_done(void)
{
	atomic_fetch_sub(&sentinels_taken, 1);
	zr_futex_wake(&sentinels_taken);
}

/* Takes the sentinel there is, if any, ends it and sees it reaped. The caller blocks every
 * signal meanwhile: a handler on this thread making the app's first __WALL wait would wait
 * in zr_sentinel_forgo for the count this holds up, or for the state it is to set, for ever. */
static void take_and_end_sentinel(void)
{
	while (atomic_load(&creating))
		zr_futex_wait(&creating, 1, -1);
	atomic_fetch_add(&sentinels_taken, 1);
	pid_t pid = atomic_exchange(&sentinel, 0);
	if (pid > 0)
		end_sentinel(pid);
	taken_done();
}

static uint64_t block_signals(void)
{
	uint64_t all = ~0ULL, mask;
	zr_sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, &mask, sizeof all);
	return mask;
}

static void restore_signals(uint64_t mask)
{
	zr_sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof mask);
}

void zr_sentinel_stop(void)
{
	atomic_store(&execing, 1);
	uint64_t mask = block_signals();
	take_and_end_sentinel();
	restore_signals(mask);
}

void zr_sentinel_forgo(void)
{
	int state = WANTED;
	if (atomic_compare_exchange_strong(&sentinel_forgone, &state, FORGOING)) {
		/* Signals stay blocked until FORGONE is set: a signal held back meanwhile would be
		 * delivered the moment they are not, and its handler's wait would wait for us. */
		uint64_t mask = block_signals();
		take_and_end_sentinel();
		/* And any other thread that took it (an exec, a pause, the reaper) is done with it. */
		int taken;
		while ((taken = atomic_load(&sentinels_taken)) != 0)
			zr_futex_wait(&sentinels_taken, taken, -1);
		atomic_store(&sentinel_forgone, FORGONE);
		zr_futex_wake(&sentinel_forgone);
		restore_signals(mask);
		zr_log(ZR_DEBUG, "the app waits with __WALL or __WCLONE: no sentinel from now on");
		return;
	}
	/* Another thread is ending it: this wait, too, must not see it. */
	while ((state = atomic_load(&sentinel_forgone)) == FORGOING)
		zr_futex_wait(&sentinel_forgone, FORGOING, -1);
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

/* How many more of the app's spawns and collections look for orphans without finding one;
 * every orphan reaped, by either thread, sets it back to INLINE_TRIES. */
#define INLINE_TRIES 64

static void orphan_reaped(void)
{
	atomic_store_explicit(&zr_words->inline_tries, INLINE_TRIES, memory_order_relaxed);
}

static void reap_orphan(pid_t pid)
{
	struct zr_stat st = { .comm = "?" };
	if (zr_cfg.log_level >= ZR_INFO)
		zr_proc_stat(pid, &st);
	siginfo_t si;
	si.si_pid = 0;
	if (zr_raw_waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | __WALL, NULL) == 0 &&
	    si.si_pid == pid) {
		orphan_reaped();
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
	atomic_store(&zr_words->stashing, 1);
	if (atomic_load(&zr_words->wide_waiters) > 0) {
		atomic_store(&zr_words->stashing, 0);
		zr_futex_wake(&zr_words->stashing);
		zr_stash_release(slot);
		return false;
	}
	struct zr_exit e;
	memset(&e, 0, sizeof e);
	long pgid = zr_sys(SYS_getpgid, pid);
	e.pgid = pgid < 0 ? -1 : (pid_t)pgid;
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
	atomic_store(&zr_words->stashing, 0);
	zr_futex_wake(&zr_words->stashing);
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

/* ---- reaping on the app's thread (see the header) ---- */

void zr_reap_inline(void)
{
	int tries = atomic_load_explicit(&zr_words->inline_tries, memory_order_relaxed);
	if (tries <= 0 && !atomic_load_explicit(&zr_words->reaper_defers, memory_order_relaxed))
		return;
	bool reaped = false;
	for (;;) {
		struct zr_flight flight = zr_flight_read();
		siginfo_t si;
		si.si_pid = 0;
		if (zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL) != 0 ||
		    si.si_pid <= 0 || !zr_is_exit(si.si_code))
			break;
		/* Never a sentinel, not even one already taken out of `sentinel` (its pid is
		 * counted in sentinels_taken before, and it dies only after): its taker may leave
		 * its zombie for the reaper to wake on (end_sentinel). */
		if (si.si_pid == atomic_load(&sentinel) || atomic_load(&sentinels_taken) != 0 ||
		    classify(si.si_pid, flight) != ORPHAN)
			break;
		reap_orphan(si.si_pid);
		reaped = true;
	}
	if (reaped)
		atomic_fetch_add_explicit(&zr_words->inline_reaped, 1, memory_order_relaxed);
	else if (tries > 0)
		atomic_fetch_sub_explicit(&zr_words->inline_tries, 1, memory_order_relaxed);
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
 * wait until it does, or until we are told to end. */
static void wait_for_app(pid_t head, enum kind kind)
{
	long interval = SCAN_FIRST_MS;
	atomic_store(&zr_words->reaper_waits_collect, 1);
	for (;;) {
		int collected = atomic_load(&zr_words->collected);
		if (atomic_load(&reaper_quit)) /* after the read: a pause changes the word after it */
			break;
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
		if (zr_futex_wait(&zr_words->collected, collected, wait) == -ETIMEDOUT) {
			scan_behind();
			interval = interval * 2 > SCAN_MAX_MS ? SCAN_MAX_MS : interval * 2;
		}
	}
	atomic_store(&zr_words->reaper_waits_collect, 0);
}

/* ---- deferring (see the header) ---- */

/* When the reaper last reaped an orphan or saw a child not the app's; 0: never. */
static long other_seen_ms;

/* Whether the app's thread reaps orphans on its way (zr_reap_inline): it did in the last
 * APP_REAPING_MS, a span that a busy machine's scheduling gaps do not end. */
static unsigned inline_reaped_seen;
static long app_reaped_ms;

static bool app_reaping(void)
{
	long now = zr_now_ms();
	unsigned n = atomic_load_explicit(&zr_words->inline_reaped, memory_order_relaxed);
	if (n != inline_reaped_seen) {
		inline_reaped_seen = n;
		app_reaped_ms = now;
	}
	return app_reaped_ms != 0 && now - app_reaped_ms < APP_REAPING_MS;
}

static void note_other_child(pid_t pid, void *arg)
{
	if (pid != atomic_load(&sentinel) && zr_owned_stamp(pid) == 0)
		*(bool *)arg = true;
}

/* Whether the reaper may step out of waitid, or stay out of it (already): no orphan reaped
 * lately, and every child there is now is the app's own. A child that is not counts as an
 * orphan seen, so that an app living beside an adopted daemon pays for one look at its
 * children a second, not one at each exit. Unless a spawn was under way meanwhile, whose
 * child it may be, not yet recorded: then the answer stays as it was, and the next chance
 * (the next look, when already deferring) tells. */
static bool may_defer(bool already)
{
	if (app_reaping())
		return true;
	long now = zr_now_ms();
	if (other_seen_ms != 0 && now - other_seen_ms < ORPHAN_RECENT_MS)
		return false;
	struct zr_flight flight = zr_flight_read();
	bool other = false;
	if (!zr_for_each_child(note_other_child, &other)) {
		other_seen_ms = now;
		return false;
	}
	if (!other)
		return true;
	if (!zr_flight_settled(flight))
		return already;
	other_seen_ms = now;
	return false;
}

/* One nap while deferring, which a pause cuts short; true to go on deferring after it: the
 * app began a spawn meanwhile, and reaps orphans on its way or still has no child but its
 * own. */
static bool defer_nap(void)
{
	unsigned seq = atomic_load(&zr_words->spawn_seq);
	/* Never longer than ZREAP_FORGOTTEN_MS: an own zombie left that long is seen in time. */
	long nap = DEFER_NAP_MS;
	if (zr_cfg.forgotten_ms > 0 && zr_cfg.forgotten_ms < nap)
		nap = zr_cfg.forgotten_ms;
	zr_futex_wait(&reaper_quit, 0, nap);
	return !atomic_load(&reaper_quit) && atomic_load(&zr_words->spawn_seq) != seq &&
	       may_defer(true);
}

static bool spawn_reaper_thread(int stack);

/*
 * When the main thread has exited (pthread_exit in main) while app threads live on. The kernel
 * then makes the first live thread the one orphans are re-parented to and whose SIGCHLDs they send:
 * that is us, and as we block SIGCHLD it would be queued for the app's threads instead of
 * being dropped, cutting their epoll_wait short. So a fresh reaper thread, last in the list,
 * takes over and this one ends: the first live app thread becomes that thread, as without the
 * shim. (When the app's last thread exits, libc ends the process, which does not count us.)
 * True when this thread is to end.
 */
static bool hand_over_if_main_exited(void)
{
	if (main_exit_word == NULL || __atomic_load_n(main_exit_word, __ATOMIC_ACQUIRE) != 0)
		return false;
	main_exit_word = NULL;
	zr_log(ZR_DEBUG, "the main thread exited: handing the reaper over to a new thread");
	/* The new thread's tid goes in reaper_tid: our end must not zero it. */
	zr_sys(SYS_set_tid_address, NULL);
	if (spawn_reaper_thread(!reaper_stack_in_use))
		return true;
	zr_sys(SYS_set_tid_address, &reaper_tid);
	zr_log(ZR_ERROR, "cannot start a new reaper thread; this one goes on");
	return false;
}

/* No sentinel (see the header): naps until the app spawns, a pause, or NAP ms; true when woken
 * before that. */
static bool nap_without_sentinel(long nap)
{
	atomic_store(&zr_words->reaper_waits_spawn, 1);
	int spawned = atomic_load(&zr_words->spawned);
	siginfo_t si;
	si.si_pid = 0;
	int r = zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL, NULL);
	bool woken = true;
	if ((r == -ECHILD || (r == 0 && si.si_pid == 0)) && !atomic_load(&reaper_quit))
		woken = zr_futex_wait(&zr_words->spawned, spawned, nap) != -ETIMEDOUT;
	atomic_store(&zr_words->reaper_waits_spawn, 0);
	return woken;
}

static int reaper_main(void *arg)
{
	(void)arg;
	zr_sys(SYS_prctl, PR_SET_NAME, "zreap");
	start_sentinel();
	long nap = NAP_FIRST_MS;
	bool deferring = false;
	while (!atomic_load(&reaper_quit)) {
		struct zr_flight flight = zr_flight_read();
		siginfo_t si;
		si.si_pid = 0;
		/* With a sentinel, sleep in waitid until a child exits; without, or deferring, only
		 * look. */
		atomic_store(&zr_words->reaper_in_waitid, 1);
		atomic_store_explicit(&zr_words->reaper_defers, deferring, memory_order_relaxed);
		int block = atomic_load(&sentinel) != 0 && !deferring ? 0 : WNOHANG;
		int r = zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | __WALL | block, NULL);
		atomic_store(&zr_words->reaper_in_waitid, 0);
		if (deferring && r == 0 && si.si_pid == 0 && atomic_load(&sentinel) != 0) {
			deferring = defer_nap();
			continue;
		}
		if (r == -ECHILD || (r == 0 && si.si_pid == 0)) {
			/* No exit to act on, and no sentinel: it is gone (killed, or stopped for an exec
			 * or a pause), forgone, or could not be made (qemu-user cannot). Make one, where
			 * wanted; else nap. */
			int exec_state = atomic_load(&execing);
			if (atomic_load(&reaper_quit))
				break; /* a pause, which set execing after reaper_quit */
			if (exec_state) {
				zr_futex_wait(&execing, exec_state, 1000);
				continue;
			}
			start_sentinel();
			if (atomic_load(&sentinel) != 0)
				continue;
			/* No sentinel reports the main thread's end: look for it at each nap. */
			if (hand_over_if_main_exited())
				return 0;
			bool woken = nap_without_sentinel(nap);
			nap = woken ? NAP_FIRST_MS : (nap * 2 > NAP_MAX_MS ? NAP_MAX_MS : nap * 2);
			continue;
		}
		nap = NAP_FIRST_MS;
		pid_t pid = si.si_pid;
		if (r != 0 || pid <= 0 || atomic_load(&reaper_quit))
			continue;
		if (pid == atomic_load(&sentinel)) {
			/* Counted before it is taken: see zr_sentinel_forgo. If another thread took it
			 * first, it is an orphan like any other to us now. */
			atomic_fetch_add(&sentinels_taken, 1);
			pid_t expected = pid;
			bool ours = atomic_compare_exchange_strong(&sentinel, &expected, 0);
			if (ours)
				reap_orphan(pid);
			taken_done();
			if (ours) {
				if (hand_over_if_main_exited())
					return 0;
				start_sentinel();
				continue;
			}
		}
		enum kind kind = zr_is_exit(si.si_code) ? classify(pid, flight) : TRACEE;
		if (kind == ORPHAN) {
			/* While deferring, an orphan found at a look ends it, unless the app reaps
			 * orphans on its way. */
			reap_orphan(pid);
			other_seen_ms = zr_now_ms();
			deferring = deferring && app_reaping();
		} else if (kind == UNSURE) {
			zr_flight_wait();
		} else {
			wait_for_app(pid, kind);
			if (kind == OWN && !deferring)
				deferring = may_defer(false);
		}
	}
	return 0;
}

/* Starts a reaper thread on reaper_stacks[stack]. It inherits the calling thread's credentials
 * and, for the moment of the clone, a mask of every signal, so no signal can ever reach it, not
 * even those libc reserves for itself: it is not a thread libc knows of. */
static bool spawn_reaper_thread(int stack)
{
	if (reaper_stacks[stack] == NULL && (reaper_stacks[stack] = map_stack(REAPER_STACK)) == NULL)
		return false;
	uint64_t mask = block_signals();
	long tid = zr_clone(THREAD_FLAGS, reaper_stacks[stack], (int *)&reaper_tid, reaper_main, NULL);
	restore_signals(mask);
	if (tid <= 0)
		return false;
	reaper_stack_in_use = stack;
	return true;
}

bool zr_reaper_start(void)
{
	/* Called on the main thread: glibc has it clear its tid word at exit (set_tid_address);
	 * musl points that at another word, which the value check leaves out. */
	int *word = NULL;
	if (zr_sys(SYS_prctl, PR_GET_TID_ADDRESS, &word) == 0 && word != NULL && *word == zr_gettid())
		main_exit_word = word;
	if (seen == NULL && (seen = zr_map(SEEN_MAX * sizeof *seen, false)) == NULL)
		return false;
	return spawn_reaper_thread(0);
}

bool zr_reaper_pause(void)
{
	int tid = atomic_load(&reaper_tid), last = tid;
	if (tid == 0)
		return true;
	atomic_store(&reaper_quit, 1);
	zr_futex_wake(&reaper_quit);
	/* From its futex sleeps a changed word wakes it: it may be between its check of
	 * reaper_quit and its wait, which a wake alone would miss. From waitid, its sentinel's
	 * zombie does (end_sentinel), which it leaves for us once it has seen it. */
	atomic_fetch_add(&zr_words->collected, 1);
	zr_futex_wake(&zr_words->collected);
	atomic_fetch_add(&zr_words->spawned, 1);
	zr_futex_wake(&zr_words->spawned);
	zr_sentinel_stop();
	long deadline = zr_now_ms() + 1000;
	while ((tid = atomic_load(&reaper_tid)) != 0) {
		long left = deadline - zr_now_ms();
		if (left <= 0) {
			/* Not woken in time: in waitid, its sentinel already gone by another path. */
			zr_log(ZR_DEBUG, "the reaper thread did not end within a second");
			return false;
		}
		struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
		zr_sys(SYS_futex, &reaper_tid, FUTEX_WAIT, tid, &ts); /* the kernel's wake is not private */
	}
	/* The kernel zeroes the tid a moment before it takes the thread out of the process, which
	 * unshare(CLONE_NEWUSER) needs alone: wait for that too, as its /proc entry going. */
	char path[40] = "/proc/self/task/";
	zr_utoa((unsigned long)last, 10, path + 16);
	struct timespec nap = { 0, 50000 };
	while (zr_sys(SYS_faccessat, AT_FDCWD, path, F_OK) == 0 && zr_now_ms() < deadline)
		zr_sys(SYS_nanosleep, &nap, NULL);
	return true;
}

bool zr_reaper_resume(void)
{
	atomic_store(&reaper_quit, 0);
	zr_sentinel_allow();
	return atomic_load(&reaper_tid) != 0 || spawn_reaper_thread(reaper_stack_in_use);
}
