/* ownstress: the app's own children keep their exact statuses under an orphan storm.
 *
 * usage:
 *   ownstress run [-n N] [-m MIN] [-b BATCH] [-T BUDGET_MS] [-t THREADS] [-p PAUSE_US] [-s STORMERS]
 *     A stormer child (stress.h) double-forks orphans for the whole run while the app makes
 *     N children (at least MIN must be checked in BUDGET_MS, else the run fails), BATCH at a
 *     time, through every spawn path: fork, vfork (+_exit or +exec of sh), _Fork, clone,
 *     posix_spawn, posix_spawnp, system and popen+pclose. Each child exits with its own code
 *     (i % 200 + 1) or dies of its own signal, and is collected in one of these ways:
 *       waitpid(pid) at once          waitpid(pid) after a 20-50 ms delay
 *       wait4(pid, rusage) at once    wait4(pid, rusage) after the delay
 *       waitid(P_PID) at once         waitid(P_PID) after the delay
 *       waitid(P_PID, WNOWAIT) then waitpid(pid), after the delay
 *       waitpid(pid, WNOHANG) polled
 *       a wide wait at once (the only child of the app then, but the stormer)
 *       a wide wait after the delay, rotating through waitpid(-1), wait, wait3, wait4(-1),
 *         waitid(P_ALL), waitpid(0) and waitid(P_PGID, 0)
 *     (system and popen wait for their own child.) A wide wait may legitimately return an
 *     adopted orphan: such pids are counted as foreign, not wrong. With -t THREADS > 1 that many
 *     threads spawn at once and use the pid-specific waits only (a wide wait in one thread
 *     would take another thread's child, as it may without any shim).
 *     Prints one line
 *       children=C wrong=W echild=E foreign=F lost=L spawnerr=S orphans=O zombies=Z
 *       taken=K methods=M/9 styles=Y/10 elapsed_ms=T
 *     where zombies counts the zombies left among the app's children once the stormer was
 *     stopped and things settled (0 when the orphans were reaped), taken the children waited
 *     late whose pid was gone from /proc before the app waited (collected by someone else:
 *     the shim's stash when ZREAP_FORGOTTEN_MS is short, else nobody), and exits 0 only if
 *     W, E, L and S are 0, C >= MIN and the stormer ended by our SIGKILL.
 *
 *   ownstress forgotten [-n N] [-d DELAY_MS] [-S]
 *     N children that exit at once (fork, vfork, posix_spawn; some killed by a signal) are
 *     left uncollected for DELAY_MS (default 600), then the app looks at /proc/PID/stat of each
 *     and collects them through waitpid(pid), wait4(pid), waitid(P_PID), and then the wide
 *     waitpid(-1), wait4(-1), wait and waitid(P_ALL). Every status must come back right,
 *     exactly once (a second waitpid(pid, WNOHANG) is ECHILD), each wait4 must fill its
 *     rusage, and once all are collected waitpid(-1, WNOHANG) is ECHILD (not checked with -S,
 *     which runs a stormer meanwhile). Prints
 *       children=N wrong=W echild=E foreign=F reaped_before_wait=R zombie_before_wait=Z
 *       rusage_bad=B twice=D final_echild=0|1
 *     R: children whose pid was gone from /proc before the app waited (the shim took them);
 *     Z: children still zombies then. Exits 0 only if W, E, B and D are 0 and (without -S)
 *     final_echild is 1; the caller asserts R or Z for the setting it ran with.
 *
 *   ownstress boundary [-n N]
 *     For a short ZREAP_FORGOTTEN_MS (1 to 50, default 1): N children that exit at once; for
 *     every other one the app peeks at it in a tight loop with waitid(P_PID, WEXITED | WNOWAIT |
 *     WNOHANG) across the moment the reaper stashes it, for the others it busy-waits a random time
 *     around that moment; then it collects each by pid (waitpid, wait4 or waitid). Every peek
 *     and every wait must succeed with the right status. Prints
 *       children=C wrong=W echild=E peek_echild=P stashed=S
 *     (S: children gone from /proc before the final wait, i.e. stashed by the shim) and exits
 *     0 only if W, E and P are 0 and C is N.
 *
 *   ownstress storm [PAUSE_US]
 *     A stand-alone stormer, for apps in other languages: runs until SIGTERM, then prints
 *     orphans=N and exits 0.
 */
#include "stress.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>

extern char **environ;

enum method { M_FORK, M_VFORK_EXIT, M_VFORK_EXEC, M_UFORK, M_CLONE, M_SPAWN, M_SPAWNP, M_SYSTEM,
	      M_POPEN, NMETHODS };
static const char *const method_name[] = { "fork", "vfork+_exit", "vfork+exec", "_Fork", "clone",
					   "posix_spawn", "posix_spawnp", "system", "popen" };

enum style { S_PID_NOW, S_PID_LATE, S_WAIT4_NOW, S_WAIT4_LATE, S_WAITID_NOW, S_WAITID_LATE,
	     S_PEEK_LATE, S_POLL, S_ANY_NOW, S_ANY_LATE, NSTYLES };
static const char *const style_name[] = { "waitpid(pid) at once", "waitpid(pid) late",
					  "wait4(pid) at once", "wait4(pid) late",
					  "waitid(P_PID) at once", "waitid(P_PID) late",
					  "waitid(WNOWAIT)+waitpid late", "waitpid(WNOHANG) polled",
					  "wide wait at once", "wide wait late" };

enum wide { W_WAITPID, W_WAIT, W_WAIT3, W_WAIT4, W_WAITID_ALL, W_WAITPID_PGRP, W_WAITID_PGRP, NWIDE };
static const char *const wide_name[] = { "waitpid(-1)", "wait", "wait3", "wait4(-1)",
					 "waitid(P_ALL)", "waitpid(0)", "waitid(P_PGID,0)" };

static const int kill_sigs[] = { SIGKILL, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP, SIGALRM, SIGPIPE };
#define NSIGS ((int)(sizeof kill_sigs / sizeof kill_sigs[0]))

/* ---- totals, shared by every worker ---- */
static _Atomic int n_children, n_wrong, n_echild, n_foreign, n_lost, n_spawnerr, n_reports;
static _Atomic int n_taken; /* late children gone from /proc before the app waited */
static _Atomic int method_used[NMETHODS], style_used[NSTYLES];
static _Atomic long progress_ms;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
	if (atomic_fetch_add(&n_reports, 1) >= 40)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "ownstress: %s\n", line);
}

struct kid {
	pid_t pid;
	int method, style, code, sig;
	int want; /* the wait status it must produce */
	bool done;
};

struct worker {
	int id;
	bool wide_ok;  /* may use wide waits: the only thread that has children */
	int first, n, batch;
	long deadline; /* no new batch after this (monotonic ms) */
	unsigned seed;
	int wide_rot;
	char *stack;   /* for clone */
	pthread_t thread;
};

#define CLONE_STACK (64 * 1024)

static void describe_status(int st, char *out, size_t len)
{
	if (WIFEXITED(st))
		snprintf(out, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, len, "signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " (core)" : "");
	else
		snprintf(out, len, "status 0x%x", st);
}

/* A collected child: right or wrong, it is done. */
static void verdict(struct kid *k, int got, const char *how)
{
	k->done = true;
	atomic_fetch_add(&n_children, 1);
	atomic_store(&progress_ms, zk_now_ms());
	if (got == k->want)
		return;
	atomic_fetch_add(&n_wrong, 1);
	char g[48], w[48];
	describe_status(got, g, sizeof g);
	describe_status(k->want, w, sizeof w);
	report("WRONG: child %d (%s, %s) collected by %s: %s, expected %s", k->pid,
	       method_name[k->method], style_name[k->style], how, g, w);
}

static void failed_wait(struct kid *k, int err, const char *how)
{
	k->done = true;
	atomic_store(&progress_ms, zk_now_ms());
	if (err == ECHILD)
		atomic_fetch_add(&n_echild, 1);
	else
		atomic_fetch_add(&n_lost, 1);
	report("%s: child %d (%s, %s) %s failed: %s", err == ECHILD ? "ECHILD" : "LOST", k->pid,
	       method_name[k->method], style_name[k->style], how, strerror(err));
}

static int siginfo_status(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default:
		return -1;
	}
}

static void shell_line(const struct kid *k, char *out, size_t len)
{
	if (k->sig)
		snprintf(out, len, "kill -%d $$", k->sig);
	else
		snprintf(out, len, "exit %d", k->code);
}

/* rusage as wait4 must leave it: written over the poison poison_rusage put there, sane, and
 * showing some sign of the child's life. (ru_maxrss alone is no proof: the kernel's split
 * RSS counters can read 0 for a child that lived a few microseconds.) */
static void poison_rusage(struct rusage *ru)
{
	memset(ru, 0xa5, sizeof *ru);
}

static bool rusage_filled(const struct rusage *ru)
{
	struct rusage poison;
	poison_rusage(&poison);
	if (ru->ru_maxrss == poison.ru_maxrss || ru->ru_minflt == poison.ru_minflt ||
	    ru->ru_utime.tv_usec == poison.ru_utime.tv_usec)
		return false;
	if (ru->ru_maxrss < 0 || ru->ru_minflt < 0 || ru->ru_majflt < 0 || ru->ru_nvcsw < 0 ||
	    ru->ru_nivcsw < 0 || ru->ru_utime.tv_sec < 0 || ru->ru_stime.tv_sec < 0 ||
	    ru->ru_utime.tv_usec < 0 || ru->ru_utime.tv_usec >= 1000000 ||
	    ru->ru_stime.tv_usec < 0 || ru->ru_stime.tv_usec >= 1000000)
		return false;
	return ru->ru_maxrss > 0 || ru->ru_minflt > 0 || ru->ru_nvcsw > 0 || ru->ru_nivcsw > 0 ||
	       ru->ru_utime.tv_sec > 0 || ru->ru_utime.tv_usec > 0 || ru->ru_stime.tv_sec > 0 ||
	       ru->ru_stime.tv_usec > 0;
}

/* ---- spawning ---- */

static void child_end(int code, int sig)
{
	if (sig)
		kill((pid_t)syscall(SYS_getpid), sig);
	_exit(sig ? 250 : code);
}

static int clone_main(void *arg)
{
	intptr_t v = (intptr_t)arg;
	if (v < 0) {
		kill((pid_t)syscall(SYS_getpid), (int)-v);
		return 250;
	}
	return (int)v;
}

/* Runs a system or popen child to the end and checks it. */
static void run_sync(struct kid *k)
{
	char line[64];
	shell_line(k, line, sizeof line);
	if (k->method == M_SYSTEM) {
		errno = 0;
		int r = system(line);
		k->pid = -1;
		if (r == -1)
			failed_wait(k, errno ? errno : EINVAL, "system");
		else
			verdict(k, r, "system");
		return;
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "echo out%d; %s", k->code, line);
	FILE *f = popen(cmd, "r");
	if (f == NULL) {
		atomic_fetch_add(&n_spawnerr, 1);
		k->done = true;
		report("popen failed: %s", strerror(errno));
		return;
	}
	char buf[64] = "", expect[32];
	snprintf(expect, sizeof expect, "out%d\n", k->code);
	if (fgets(buf, sizeof buf, f) == NULL || strcmp(buf, expect) != 0) {
		atomic_fetch_add(&n_wrong, 1);
		report("popen output '%s', expected '%s'", buf, expect);
	}
	while (fgets(buf, sizeof buf, f) != NULL)
		;
	errno = 0;
	int r = pclose(f);
	k->pid = -1;
	if (r == -1)
		failed_wait(k, errno ? errno : EINVAL, "pclose");
	else
		verdict(k, r, "pclose");
}

/* Starts k's child; false (counted) if it could not. */
static bool spawn(struct worker *w, struct kid *k)
{
	char line[64];
	shell_line(k, line, sizeof line);
	char *argv[] = { (char *)"sh", (char *)"-c", line, NULL };
	pid_t pid = -1;
	int err = 0;
	switch (k->method) {
	case M_FORK:
		pid = fork();
		if (pid == 0)
			child_end(k->code, k->sig);
		break;
	case M_VFORK_EXIT:
		if (k->sig) { /* no kill(2) in a vfork child: let it exec the shell */
			pid = vfork();
			if (pid == 0) {
				execve("/bin/sh", argv, environ);
				_exit(127);
			}
		} else {
			pid = vfork();
			if (pid == 0)
				_exit(k->code);
		}
		break;
	case M_VFORK_EXEC:
		pid = vfork();
		if (pid == 0) {
			execve("/bin/sh", argv, environ);
			_exit(127);
		}
		break;
	case M_UFORK:
		pid = _Fork();
		if (pid == 0)
			child_end(k->code, k->sig);
		break;
	case M_CLONE:
		pid = clone(clone_main, w->stack + CLONE_STACK, SIGCHLD,
			    (void *)(intptr_t)(k->sig ? -k->sig : k->code));
		break;
	case M_SPAWN:
		err = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
		if (err)
			pid = -1;
		break;
	case M_SPAWNP:
		err = posix_spawnp(&pid, "sh", NULL, NULL, argv, environ);
		if (err)
			pid = -1;
		break;
	}
	if (pid < 0) {
		if (!err)
			err = errno;
		atomic_fetch_add(&n_spawnerr, 1);
		k->done = true;
		report("%s failed: %s", method_name[k->method], strerror(err));
		return false;
	}
	k->pid = pid;
	return true;
}

/* ---- pid-specific waits ---- */

static void wait_pid(struct kid *k, int style)
{
	int st = -1;
	pid_t r;
	const char *how;
	siginfo_t si;
	struct rusage ru;
	int ir;
	switch (style) {
	case S_PID_NOW:
	case S_PID_LATE:
		how = "waitpid(pid)";
		do
			r = waitpid(k->pid, &st, 0);
		while (r < 0 && errno == EINTR);
		break;
	case S_WAIT4_NOW:
	case S_WAIT4_LATE:
		how = "wait4(pid)";
		poison_rusage(&ru);
		do
			r = wait4(k->pid, &st, 0, &ru);
		while (r < 0 && errno == EINTR);
		if (r == k->pid && !rusage_filled(&ru)) {
			atomic_fetch_add(&n_wrong, 1);
			report("WRONG: wait4(%d) (%s, %s) left rusage unfilled: maxrss %ld, minflt %ld, "
			       "utime %ld.%06ld", k->pid, method_name[k->method], style_name[style],
			       ru.ru_maxrss, ru.ru_minflt, (long)ru.ru_utime.tv_sec,
			       (long)ru.ru_utime.tv_usec);
		}
		break;
	case S_WAITID_NOW:
	case S_WAITID_LATE:
		how = "waitid(P_PID)";
		memset(&si, 0, sizeof si);
		do
			ir = waitid(P_PID, (id_t)k->pid, &si, WEXITED);
		while (ir < 0 && errno == EINTR);
		r = ir < 0 ? -1 : si.si_pid;
		if (ir == 0 && si.si_signo != SIGCHLD) {
			atomic_fetch_add(&n_wrong, 1);
			report("waitid(%d): si_signo %d", k->pid, si.si_signo);
		}
		st = siginfo_status(&si);
		break;
	case S_PEEK_LATE:
		how = "waitid(P_PID, WNOWAIT)";
		memset(&si, 0, sizeof si);
		do
			ir = waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOWAIT);
		while (ir < 0 && errno == EINTR);
		if (ir < 0) {
			failed_wait(k, errno, how);
			return;
		}
		st = siginfo_status(&si);
		if (si.si_pid != k->pid || st != k->want) {
			atomic_fetch_add(&n_wrong, 1);
			report("WRONG: waitid(%d, WNOWAIT) gave pid %d status 0x%x, expected 0x%x", k->pid,
			       si.si_pid, st, k->want);
		}
		how = "waitpid(pid) after WNOWAIT";
		do
			r = waitpid(k->pid, &st, 0);
		while (r < 0 && errno == EINTR);
		break;
	case S_POLL:
	default:
		how = "waitpid(pid, WNOHANG)";
		for (long start = zk_now_ms();;) {
			r = waitpid(k->pid, &st, WNOHANG);
			if (r != 0 || zk_now_ms() - start > 10000)
				break;
			zk_sleep_ms(1);
		}
		if (r == 0) {
			failed_wait(k, ETIMEDOUT, how);
			return;
		}
		break;
	}
	if (r < 0) {
		failed_wait(k, errno, how);
		return;
	}
	if (r != k->pid) {
		atomic_fetch_add(&n_wrong, 1);
		report("WRONG: %s for %d returned %d", how, k->pid, r);
		k->done = true;
		return;
	}
	verdict(k, st, how);
}

/* ---- wide waits ---- */

/* One wide wait of the given kind: the pid (status in *st) or -1 with errno. *ru_ok is false
 * if the kind returns an rusage and it was not filled. */
static pid_t wide_wait(int kind, int *st, bool *ru_ok)
{
	siginfo_t si;
	struct rusage ru;
	pid_t r;
	int ir;
	*ru_ok = true;
	for (;;) {
		poison_rusage(&ru);
		switch (kind) {
		case W_WAITPID:
			r = waitpid(-1, st, 0);
			break;
		case W_WAIT:
			r = wait(st);
			break;
		case W_WAIT3:
			r = wait3(st, 0, &ru);
			break;
		case W_WAIT4:
			r = wait4(-1, st, 0, &ru);
			break;
		case W_WAITPID_PGRP:
			r = waitpid(0, st, 0);
			break;
		case W_WAITID_ALL:
		case W_WAITID_PGRP:
		default:
			memset(&si, 0, sizeof si);
			ir = kind == W_WAITID_ALL ? waitid(P_ALL, 0, &si, WEXITED)
						  : waitid(P_PGID, 0, &si, WEXITED);
			r = ir < 0 ? -1 : si.si_pid;
			*st = siginfo_status(&si);
			break;
		}
		if (r > 0 && (kind == W_WAIT3 || kind == W_WAIT4))
			*ru_ok = rusage_filled(&ru);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

/* Wide waits until every kid in ks[0..n) with pending set is collected. Any own kid of the
 * batch it returns is checked; any other pid is an adopted orphan (foreign). */
static void wide_collect(struct worker *w, struct kid *ks, int n, const bool *pending)
{
	int left = 0;
	for (int i = 0; i < n; i++)
		left += pending[i] && !ks[i].done;
	while (left > 0) {
		int kind = w->wide_rot++ % NWIDE;
		int st = -1;
		bool ru_ok;
		pid_t r = wide_wait(kind, &st, &ru_ok);
		if (r < 0) {
			int err = errno;
			for (int i = 0; i < n; i++)
				if (pending[i] && !ks[i].done)
					failed_wait(&ks[i], err, wide_name[kind]);
			return;
		}
		struct kid *k = NULL;
		for (int i = 0; i < n && !k; i++)
			if (!ks[i].done && ks[i].pid == r)
				k = &ks[i];
		if (k == NULL) {
			atomic_fetch_add(&n_foreign, 1);
			continue;
		}
		bool was_pending = pending[k - ks];
		if (!ru_ok) {
			atomic_fetch_add(&n_wrong, 1);
			report("WRONG: %s left the rusage of child %d (%s) unfilled", wide_name[kind], r,
			       method_name[k->method]);
		}
		verdict(k, st, wide_name[kind]);
		if (was_pending)
			left--;
	}
}

/* ---- a worker: batches of children ---- */

static int pick_style(struct worker *w, int i, int method)
{
	(void)method;
	int s = (i / NMETHODS) % NSTYLES;
	if (!w->wide_ok && (s == S_ANY_NOW || s == S_ANY_LATE))
		s = s == S_ANY_NOW ? S_PID_NOW : S_WAITID_LATE;
	return s;
}

static bool is_now(int style)
{
	return style == S_PID_NOW || style == S_WAIT4_NOW || style == S_WAITID_NOW;
}

static void run_batch(struct worker *w, struct kid *ks, int n)
{
	bool pending[256];
	/* Wide waits at once go first, while the batch has no other child. */
	for (int i = 0; i < n; i++) {
		struct kid *k = &ks[i];
		if (k->method >= M_SYSTEM || k->style != S_ANY_NOW)
			continue;
		if (!spawn(w, k))
			continue;
		for (int j = 0; j < n; j++)
			pending[j] = j == i;
		wide_collect(w, ks, n, pending);
	}
	/* Then, in order, the others: synchronous ones and waits at once while the late ones
	 * accumulate. */
	for (int i = 0; i < n; i++) {
		struct kid *k = &ks[i];
		if (k->method < M_SYSTEM && k->style == S_ANY_NOW)
			continue;
		if (k->method >= M_SYSTEM) {
			run_sync(k);
			continue;
		}
		if (!spawn(w, k))
			continue;
		if (is_now(k->style))
			wait_pid(k, k->style);
	}
	zk_sleep_ms(20 + (long)(rand_r(&w->seed) % 31));
	/* An uncollected child keeps its pid until someone waits for it: if /proc no longer
	 * has it, something else (the shim's stash, with ZREAP_FORGOTTEN_MS) took it. */
	for (int i = 0; i < n; i++)
		if (!ks[i].done && ks[i].pid > 0 && zk_proc_state(ks[i].pid, NULL, 0) == 0)
			atomic_fetch_add(&n_taken, 1);
	for (int i = 0; i < n; i++) {
		struct kid *k = &ks[i];
		if (!k->done && k->method < M_SYSTEM && k->style != S_ANY_LATE)
			wait_pid(k, k->style);
	}
	for (int i = 0; i < n; i++)
		pending[i] = !ks[i].done && ks[i].style == S_ANY_LATE;
	wide_collect(w, ks, n, pending);
}

static struct kid *all_kids;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int b = 0; b < w->n; b += w->batch) {
		if (zk_now_ms() > w->deadline)
			break;
		int n = w->n - b < w->batch ? w->n - b : w->batch;
		struct kid *ks = &all_kids[w->first + b];
		for (int j = 0; j < n; j++) {
			int i = w->first + b + j;
			struct kid *k = &ks[j];
			memset(k, 0, sizeof *k);
			k->method = i % NMETHODS;
			k->style = k->method >= M_SYSTEM ? S_PID_NOW : pick_style(w, i, k->method);
			k->code = i % 200 + 1;
			/* About one in seven dies of a signal it sends itself. */
			if (i % 7 == 3)
				k->sig = kill_sigs[(i / 7) % NSIGS];
			k->want = k->sig ? k->sig : k->code << 8;
			atomic_fetch_add(&method_used[k->method], 1);
			if (k->method < M_SYSTEM)
				atomic_fetch_add(&style_used[k->style], 1);
		}
		run_batch(w, ks, n);
	}
	return NULL;
}

/* Ends the program if nothing was collected for a long time: a wait that hangs is a child
 * lost as surely as a wrong status. */
static void *watchdog(void *arg)
{
	long quiet = (long)(intptr_t)arg;
	for (;;) {
		zk_sleep_ms(500);
		if (zk_now_ms() - atomic_load(&progress_ms) > quiet) {
			fprintf(stderr, "ownstress: WATCHDOG: nothing collected for %ld ms, a wait hangs\n",
				quiet);
			printf("children=%d wrong=%d echild=%d foreign=%d lost=hang\n",
			       atomic_load(&n_children), atomic_load(&n_wrong), atomic_load(&n_echild),
			       atomic_load(&n_foreign));
			fflush(stdout);
			_exit(4);
		}
	}
	return NULL;
}

static int cmd_run(int argc, char **argv)
{
	int n = 1200, min = 1000, batch = 16, threads = 1, stormers = 1;
	long budget = 15000, pause_us = 200;
	int opt;
	while ((opt = getopt(argc, argv, "n:m:b:T:t:p:s:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'm': min = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'T': budget = atol(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'p': pause_us = atol(optarg); break;
		case 's': stormers = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: ownstress run [-n N] [-m MIN] [-b BATCH] [-T MS] [-t THREADS] [-p US] [-s STORMERS]\n");
			return 2;
		}
	}
	if (batch < 1 || batch > 256 || threads < 1 || threads > 16 || stormers < 0 || stormers > 8)
		return 2;
	long start = zk_now_ms();

	struct zs_storm storm[8];
	for (int s = 0; s < stormers; s++) {
		if (zs_storm_start(&storm[s], (unsigned)(start * 31 + s), pause_us) != 0) {
			perror("stormer");
			return 2;
		}
	}
	zk_sleep_ms(50); /* the storm is on before the first child */

	all_kids = calloc((size_t)n, sizeof *all_kids);
	struct worker *ws = calloc((size_t)threads, sizeof *ws);
	for (int t = 0; t < threads; t++) {
		struct worker *w = &ws[t];
		w->id = t;
		w->wide_ok = threads == 1;
		w->first = n * t / threads;
		w->n = n * (t + 1) / threads - w->first;
		w->batch = batch;
		w->deadline = start + budget;
		w->seed = (unsigned)(start + t * 7919);
		w->stack = aligned_alloc(64, CLONE_STACK);
	}
	if (threads == 1) {
		worker_main(&ws[0]);
	} else {
		for (int t = 0; t < threads; t++)
			pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]);
		for (int t = 0; t < threads; t++)
			pthread_join(ws[t].thread, NULL);
	}

	long orphans = 0;
	bool storm_ok = true;
	for (int s = 0; s < stormers; s++) {
		orphans += atomic_load(storm[s].orphans);
		storm_ok &= zs_storm_stop(&storm[s]);
	}
	atomic_store(&progress_ms, zk_now_ms() + 10000);
	int zombies = zk_settle(5000);
	int methods = 0, styles = 0;
	for (int i = 0; i < NMETHODS; i++)
		methods += atomic_load(&method_used[i]) > 0;
	for (int i = 0; i < NSTYLES; i++)
		styles += atomic_load(&style_used[i]) > 0;
	int c = atomic_load(&n_children), wr = atomic_load(&n_wrong), ec = atomic_load(&n_echild);
	int lost = atomic_load(&n_lost), se = atomic_load(&n_spawnerr);
	printf("children=%d wrong=%d echild=%d foreign=%d lost=%d spawnerr=%d orphans=%ld zombies=%d "
	       "taken=%d methods=%d/%d styles=%d/%d elapsed_ms=%ld\n",
	       c, wr, ec, atomic_load(&n_foreign), lost, se, orphans, zombies,
	       atomic_load(&n_taken), methods, NMETHODS, styles, NSTYLES, zk_now_ms() - start);
	if (!storm_ok)
		printf("stormer: not collected as killed\n");
	fflush(stdout);
	return wr == 0 && ec == 0 && lost == 0 && se == 0 && c >= min && storm_ok ? 0 : 1;
}

/* ---- forgotten children ---- */

enum fstyle { F_PID, F_WAIT4, F_WAITID, F_ANY, F_WAIT4_ANY, F_WAIT, F_WAITID_ALL, NF };
static const char *const fstyle_name[] = { "waitpid(pid)", "wait4(pid)", "waitid(P_PID)",
					   "waitpid(-1)", "wait4(-1)", "wait", "waitid(P_ALL)" };

static int cmd_forgotten(int argc, char **argv)
{
	int n = 42;
	long delay = 600;
	bool with_storm = false;
	int opt;
	while ((opt = getopt(argc, argv, "n:d:S")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'd': delay = atol(optarg); break;
		case 'S': with_storm = true; break;
		default:
			fprintf(stderr, "usage: ownstress forgotten [-n N] [-d DELAY_MS] [-S]\n");
			return 2;
		}
	}
	if (n < 1 || n > 400)
		return 2;
	struct zs_storm storm = { 0, NULL };
	if (with_storm && zs_storm_start(&storm, (unsigned)zk_now_ms(), 200) != 0)
		return 2;
	struct kid *ks = calloc((size_t)n, sizeof *ks);
	struct worker w;
	memset(&w, 0, sizeof w);
	int wrong = 0, echild = 0, foreign = 0, gone = 0, zombie = 0, rusage_bad = 0, twice = 0;
	for (int i = 0; i < n; i++) {
		struct kid *k = &ks[i];
		k->style = i % NF;
		k->method = (i / NF) % 3 == 0 ? M_FORK : (i / NF) % 3 == 1 ? M_VFORK_EXIT : M_SPAWN;
		k->code = i % 200 + 1;
		k->sig = i % 5 == 2 ? kill_sigs[(i / 5) % NSIGS] : 0;
		k->want = k->sig ? k->sig : k->code << 8;
		if (!spawn(&w, k))
			return 2;
	}
	zk_sleep_ms(delay);
	/* What the app would find before it waits: a zombie it has not collected, or nothing,
	 * when the shim's reaper took it into its stash. */
	for (int i = 0; i < n; i++) {
		char st = zk_proc_state(ks[i].pid, NULL, 0);
		if (st == 0)
			gone++;
		else if (st == 'Z')
			zombie++;
		else
			fprintf(stderr, "forgotten: child %d is in state %c after %ld ms\n", ks[i].pid, st,
				delay);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			struct kid *k = &ks[i];
			bool wide = k->style >= F_ANY;
			if (k->done || wide != (pass == 1))
				continue;
			int st = -1;
			pid_t r;
			siginfo_t si;
			struct rusage ru;
			poison_rusage(&ru);
			memset(&si, 0, sizeof si);
			switch (k->style) {
			case F_PID: r = waitpid(k->pid, &st, 0); break;
			case F_WAIT4: r = wait4(k->pid, &st, 0, &ru); break;
			case F_WAITID:
				r = waitid(P_PID, (id_t)k->pid, &si, WEXITED) < 0 ? -1 : si.si_pid;
				st = siginfo_status(&si);
				break;
			case F_ANY: r = waitpid(-1, &st, 0); break;
			case F_WAIT4_ANY: r = wait4(-1, &st, 0, &ru); break;
			case F_WAIT: r = wait(&st); break;
			default:
				r = waitid(P_ALL, 0, &si, WEXITED) < 0 ? -1 : si.si_pid;
				st = siginfo_status(&si);
				break;
			}
			if (r < 0) {
				if (errno == ECHILD)
					echild++;
				else
					wrong++;
				fprintf(stderr, "forgotten: %s for child %d: %s\n", fstyle_name[k->style],
					k->pid, strerror(errno));
				k->done = true;
				continue;
			}
			struct kid *got = NULL;
			for (int j = 0; j < n && !got; j++)
				if (ks[j].pid == r)
					got = &ks[j];
			if (got == NULL) {
				foreign++;
				i--; /* an adopted orphan: wait again for this one */
				continue;
			}
			if (got->done) {
				twice++;
				fprintf(stderr, "forgotten: %s returned child %d a second time\n",
					fstyle_name[k->style], r);
				i--;
				continue;
			}
			got->done = true;
			atomic_store(&progress_ms, zk_now_ms());
			if (st != got->want || (wide ? !(got->style >= F_ANY) : got != k)) {
				wrong++;
				fprintf(stderr, "forgotten: %s gave child %d status 0x%x, expected 0x%x\n",
					fstyle_name[k->style], r, st, got->want);
			}
			if ((k->style == F_WAIT4 || k->style == F_WAIT4_ANY) && !rusage_filled(&ru)) {
				rusage_bad++;
				fprintf(stderr, "forgotten: wait4 gave child %d an unfilled rusage (maxrss %ld)\n",
					r, ru.ru_maxrss);
			}
			/* Exactly once: the pid is nobody's child any more. */
			int st2;
			pid_t again = waitpid(r, &st2, WNOHANG);
			if (again != -1 || errno != ECHILD) {
				twice++;
				fprintf(stderr, "forgotten: child %d waited again: %d (%s)\n", r, again,
					again < 0 ? strerror(errno) : "returned");
			}
			siginfo_t si2;
			memset(&si2, 0, sizeof si2);
			if (waitid(P_PID, (id_t)r, &si2, WEXITED | WNOHANG) != -1 || errno != ECHILD) {
				twice++;
				fprintf(stderr, "forgotten: child %d waitid again: pid %d\n", r, si2.si_pid);
			}
			if (got != k)
				i--; /* k itself is still to come */
		}
	}
	int final_echild = -1;
	if (!with_storm) {
		int st;
		pid_t r = waitpid(-1, &st, WNOHANG);
		final_echild = r == -1 && errno == ECHILD;
		if (!final_echild)
			fprintf(stderr, "forgotten: waitpid(-1, WNOHANG) at the end gave %d (%s)\n", r,
				r < 0 ? strerror(errno) : "not ECHILD");
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) != -1 || errno != ECHILD) {
			final_echild = 0;
			fprintf(stderr, "forgotten: waitid(P_ALL, WNOHANG) at the end: pid %d\n", si.si_pid);
		}
	} else if (!zs_storm_stop(&storm)) {
		wrong++;
	}
	int collected = 0;
	for (int i = 0; i < n; i++)
		collected += ks[i].done;
	printf("children=%d wrong=%d echild=%d foreign=%d reaped_before_wait=%d zombie_before_wait=%d "
	       "rusage_bad=%d twice=%d final_echild=%d\n",
	       collected, wrong, echild, foreign, gone, zombie, rusage_bad, twice, final_echild);
	fflush(stdout);
	return wrong == 0 && echild == 0 && rusage_bad == 0 && twice == 0 && collected == n &&
			       (with_storm || final_echild == 1)
		       ? 0
		       : 1;
}

/* ---- the forgotten boundary: waits racing the reaper as it takes a child into its stash ---- */

static void spin_us(long us)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

static int cmd_boundary(int argc, char **argv)
{
	int n = 400;
	const char *f = getenv("ZREAP_FORGOTTEN_MS");
	long forgotten = f && *f ? atol(f) : 1;
	int opt;
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: ownstress boundary [-n N]\n");
			return 2;
		}
		n = atoi(optarg);
	}
	if (forgotten < 1 || forgotten > 50)
		forgotten = 1;
	int wrong = 0, echild = 0, peek_echild = 0, peek_hit = 0, stashed = 0, done = 0;
	unsigned seed = (unsigned)zk_now_ms();
	struct worker w;
	memset(&w, 0, sizeof w);
	for (int i = 0; i < n; i++) {
		struct kid k;
		memset(&k, 0, sizeof k);
		k.method = M_FORK;
		k.code = i % 200 + 1;
		k.sig = i % 5 == 2 ? kill_sigs[(i / 5) % NSIGS] : 0;
		k.want = k.sig ? k.sig : k.code << 8;
		if (!spawn(&w, &k))
			return 2;
		long t0 = zk_now_ms();
		if (i % 2 == 0) {
			/* Peek without collecting, again and again, across the moment the reaper takes
			 * the zombie: every peek must see it, in the kernel or in the stash. */
			int misses = 0;
			while (zk_now_ms() - t0 < forgotten + 5) {
				siginfo_t si;
				memset(&si, 0, sizeof si);
				if (waitid(P_PID, (id_t)k.pid, &si, WEXITED | WNOWAIT | WNOHANG) < 0) {
					misses++;
				} else if (si.si_pid == k.pid && siginfo_status(&si) != k.want) {
					wrong++;
					fprintf(stderr, "boundary: peek of %d gave status 0x%x, expected 0x%x\n",
						k.pid, siginfo_status(&si), k.want);
					break;
				}
			}
			if (misses) {
				peek_echild += misses;
				if (peek_hit++ < 5)
					fprintf(stderr, "boundary: waitid(P_PID %d, WEXITED|WNOWAIT|WNOHANG) "
						"failed %d times (%s) on an uncollected child\n",
						k.pid, misses, strerror(ECHILD));
			}
		} else {
			/* An ordinary late wait, at a random moment around the reaper's deadline. */
			spin_us((long)(rand_r(&seed) % (unsigned)(3000 * forgotten)));
		}
		stashed += zk_proc_state(k.pid, NULL, 0) == 0;
		int st = -1;
		pid_t r;
		const char *how;
		siginfo_t si;
		struct rusage ru;
		switch (i / 2 % 3) {
		case 0:
			how = "waitpid(pid)";
			r = waitpid(k.pid, &st, 0);
			break;
		case 1:
			how = "wait4(pid)";
			r = wait4(k.pid, &st, 0, &ru);
			break;
		default:
			how = "waitid(P_PID)";
			memset(&si, 0, sizeof si);
			r = waitid(P_PID, (id_t)k.pid, &si, WEXITED) < 0 ? -1 : si.si_pid;
			st = siginfo_status(&si);
			break;
		}
		atomic_store(&progress_ms, zk_now_ms());
		if (r < 0) {
			int err = errno;
			echild += err == ECHILD;
			wrong += err != ECHILD;
			fprintf(stderr, "boundary: %s for uncollected child %d: %s\n", how, k.pid,
				strerror(err));
			/* The status may still turn up: collect the child so it is not left over. */
			zk_sleep_ms(5);
			waitpid(k.pid, &st, WNOHANG);
		} else if (r != k.pid || st != k.want) {
			wrong++;
			fprintf(stderr, "boundary: %s for %d gave %d, status 0x%x, expected 0x%x\n", how,
				k.pid, r, st, k.want);
		} else {
			done++;
		}
	}
	printf("children=%d wrong=%d echild=%d peek_echild=%d stashed=%d\n", done, wrong, echild,
	       peek_echild, stashed);
	return wrong == 0 && echild == 0 && peek_echild == 0 && done == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "storm") == 0)
		return zs_storm_main(argc > 2 ? atol(argv[2]) : 0);
	atomic_store(&progress_ms, zk_now_ms());
	pthread_t wd;
	pthread_create(&wd, NULL, watchdog, (void *)(intptr_t)8000);
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "forgotten") == 0)
		return cmd_forgotten(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "boundary") == 0)
		return cmd_boundary(argc - 1, argv + 1);
	fprintf(stderr, "usage: ownstress run|forgotten|boundary|storm ...\n");
	return 2;
}
