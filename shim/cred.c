/*
 * cred.c: the calls that change the process's credentials or namespaces, made while no reaper
 * thread runs.
 *
 * Linux keeps credentials per thread. libc makes setuid and its kin process-wide by making the
 * system call in every thread it knows of (glibc's SIGSETXID, musl's synccall). The reaper is
 * not one of those (reaper.c says why), so it would keep the credentials it started with: root,
 * say, in a PID 1 that has dropped to an unprivileged user, with which it shares its memory.
 * So while the shim is active each of these ends the reaper thread and its sentinel, makes the
 * call, and starts a new reaper from the calling thread, which has exactly the credentials the
 * call left, capabilities included. An orphan that dies meanwhile waits for the new reaper;
 * the app's own children are not touched. initgroups is here because it reaches setgroups
 * through an internal alias.
 *
 * unshare and setns too: Linux lets only a single-threaded process enter a new user namespace
 * (unshare(CLONE_NEWUSER), setns) or another mount namespace, and the reaper would make
 * `unshare -U` or `nsenter -m` as PID 1 fail with EINVAL. The new reaper then starts in the
 * namespaces the call left, as a thread the app made afterwards would.
 *
 * One such call at a time (cred_owner); a thread that makes one in a signal handler that
 * interrupted its own passes straight through.
 *
 * Not covered: changes to one thread's credentials only (capset, prctl's PR_CAPBSET_DROP and
 * PR_SET_SECUREBITS, raw system calls). The reaper keeps what it had (README, Limits).
 */
#include "zreap.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <unistd.h>

static atomic_int cred_owner; /* the tid of the thread making such a call; 0 when none */

static bool enter(void)
{
	int self = zr_gettid(), held = 0;
	while (!atomic_compare_exchange_strong(&cred_owner, &held, self)) {
		if (held == self)
			return false;
		zr_futex_wait(&cred_owner, held, -1);
		held = 0;
	}
	return true;
}

static void leave(void)
{
	atomic_store(&cred_owner, 0);
	zr_futex_wake(&cred_owner);
}

static void pause_reaper(void)
{
	if (!zr_reaper_pause())
		zr_log(ZR_ERROR, "the reaper thread did not end for a change of credentials: it keeps "
				 "its own");
}

static void resume_reaper(void)
{
	if (!zr_reaper_resume())
		zr_log(ZR_ERROR, "cannot start the reaper thread again after a change of credentials: "
				 "orphans are no longer reaped");
}

#define CRED_WRAP(call)                                  \
	do {                                             \
		if (!zr_active() || !enter())            \
			return call;                     \
		pause_reaper();                          \
		int r_ = call, errno_ = errno;           \
		resume_reaper();                         \
		leave();                                 \
		errno = errno_;                          \
		return r_;                               \
	} while (0)

ZR_EXPORT int setuid(uid_t uid)
{
	CRED_WRAP(REAL(setuid)(uid));
}

ZR_EXPORT int setgid(gid_t gid)
{
	CRED_WRAP(REAL(setgid)(gid));
}

ZR_EXPORT int seteuid(uid_t uid)
{
	CRED_WRAP(REAL(seteuid)(uid));
}

ZR_EXPORT int setegid(gid_t gid)
{
	CRED_WRAP(REAL(setegid)(gid));
}

ZR_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	CRED_WRAP(REAL(setreuid)(ruid, euid));
}

ZR_EXPORT int setregid(gid_t rgid, gid_t egid)
{
	CRED_WRAP(REAL(setregid)(rgid, egid));
}

ZR_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	CRED_WRAP(REAL(setresuid)(ruid, euid, suid));
}

ZR_EXPORT int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
	CRED_WRAP(REAL(setresgid)(rgid, egid, sgid));
}

ZR_EXPORT int setgroups(size_t n, const gid_t *groups)
{
	CRED_WRAP(REAL(setgroups)(n, groups));
}

ZR_EXPORT int initgroups(const char *user, gid_t group)
{
	CRED_WRAP(REAL(initgroups)(user, group));
}

ZR_EXPORT int unshare(int flags)
{
	CRED_WRAP(REAL(unshare)(flags));
}

ZR_EXPORT int setns(int fd, int nstype)
{
	CRED_WRAP(REAL(setns)(fd, nstype));
}
