/*
 * wait.c: the wait family, returning what it would return without the shim.
 *
 * Each wrapper passes straight through when the shim is inert. When it is active, the real call
 * still does the work; the shim only
 *   - tells owned.c whenever the app has collected a report, which wakes a reaper waiting for
 *     it; an exit (not a stop or continue report) also ends the pid's ownership;
 *   - first offers an exit status the reaper stashed for a forgotten child (stash.c), so a late
 *     wait still gets it, with rusage, exactly once (WNOWAIT keeps it);
 *   - brackets a wide wait (any child, a process group) with zr_words->wide_waiters, so the
 *     reaper never stashes a child such a wait was about to return; a wait for one pid instead
 *     looks in the stash again if the kernel says ECHILD, which is what it says once the
 *     reaper has taken that pid, after any stashing under way has been published;
 *   - before the first wide wait with __WALL or __WCLONE, which would see the reaper's
 *     sentinel, ends it for good (reaper.c).
 * The real call is made with the app's own options, blocking and signal behaviour: EINTR,
 * WNOHANG, WUNTRACED, WCONTINUED, __WALL and the rest are the kernel's, untouched.
 */
#include "zreap.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static void stashing_done(void)
{
	while (atomic_load(&zr_words->stashing))
		zr_futex_wait(&zr_words->stashing, 1, -1);
}

static void enter_wide(int options)
{
	if (options & (__WALL | __WCLONE))
		zr_sentinel_forgo();
	atomic_fetch_add(&zr_words->wide_waiters, 1);
	stashing_done();
}

/* After the kernel said ECHILD: the reaper may have reaped the child a moment ago and not yet
 * published its status. The reaper sets zr_words->stashing before it reaps, so once that is
 * clear, the stash holds whatever it took. */
static bool stash_after_echild(idtype_t idtype, id_t id, bool keep, struct zr_exit *e)
{
	stashing_done();
	return zr_stash_take(idtype, id, keep, e);
}

static void fill_rusage(struct rusage *ru, const struct zr_exit *e)
{
	if (ru != NULL)
		*ru = e->ru;
}

/* wait4 semantics: the common path of wait, waitpid, wait3 and wait4. */
pid_t zr_wait_any(pid_t pid, int *status, int options, struct rusage *ru)
{
	if (!zr_active())
		return REAL(wait4)(pid, status, options, ru);
	int saved = errno;
	idtype_t idtype = P_PID;
	id_t id = (id_t)pid;
	if (pid == -1) {
		idtype = P_ALL;
	} else if (pid <= 0) {
		idtype = P_PGID;
		id = (id_t)(pid == 0 ? getpgid(0) : -pid);
	}
	bool wide = idtype != P_PID;
	if (wide)
		enter_wide(options);
	struct zr_exit e;
	int st = 0;
	pid_t r = 0;
	bool stashed = zr_stash_take(idtype, id, false, &e);
	if (!stashed) {
		r = REAL(wait4)(pid, &st, options, ru);
		int err = errno;
		if (r > 0)
			zr_app_collected(r, WIFEXITED(st) || WIFSIGNALED(st));
		else if (r < 0 && err == ECHILD)
			stashed = stash_after_echild(idtype, id, false, &e);
		zr_errno_restore(err);
	}
	if (stashed) {
		st = zr_exit_wstatus(&e);
		fill_rusage(ru, &e);
		r = e.pid;
		zr_errno_restore(saved);
	}
	if (wide)
		atomic_fetch_sub(&zr_words->wide_waiters, 1);
	if (r > 0 && status != NULL)
		*status = st;
	return r;
}

ZR_EXPORT pid_t wait(int *status)
{
	if (!zr_active())
		return REAL(wait)(status);
	return zr_wait_any(-1, status, 0, NULL);
}

ZR_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	if (!zr_active())
		return REAL(waitpid)(pid, status, options);
	return zr_wait_any(pid, status, options, NULL);
}

ZR_EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	if (!zr_active())
		return REAL(wait3)(status, options, ru);
	return zr_wait_any(-1, status, options, ru);
}

ZR_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	return zr_wait_any(pid, status, options, ru);
}

static void fill_siginfo(siginfo_t *info, const struct zr_exit *e)
{
	memset(info, 0, sizeof *info);
	info->si_signo = SIGCHLD;
	info->si_code = e->code;
	info->si_pid = e->pid;
	info->si_uid = e->uid;
	info->si_status = e->status;
}

ZR_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	if (!zr_active())
		return REAL(waitid)(idtype, id, info, options);
	int saved = errno;
	/* The stash is keyed by pid and process group; a wait on a pidfd passes through. */
	bool stashable = (options & WEXITED) && idtype != P_PIDFD;
	bool keep = options & WNOWAIT;
	id_t match_id = id;
	if (idtype == P_PGID && id == 0)
		match_id = (id_t)getpgid(0);
	bool wide = idtype == P_ALL || idtype == P_PGID;
	if (wide)
		enter_wide(options);
	struct zr_exit e;
	siginfo_t si;
	int r = 0;
	bool stashed = stashable && zr_stash_take(idtype, match_id, keep, &e);
	if (!stashed) {
		memset(&si, 0, sizeof si);
		r = REAL(waitid)(idtype, id, &si, options);
		int err = errno;
		if (r == 0 && si.si_pid > 0 && !keep)
			zr_app_collected(si.si_pid, zr_is_exit(si.si_code));
		else if (r < 0 && err == ECHILD && stashable)
			stashed = stash_after_echild(idtype, match_id, keep, &e);
		zr_errno_restore(err);
	}
	if (stashed) {
		fill_siginfo(&si, &e);
		r = 0;
		zr_errno_restore(saved);
	}
	if (wide)
		atomic_fetch_sub(&zr_words->wide_waiters, 1);
	if (r == 0 && info != NULL)
		*info = si;
	return r;
}
