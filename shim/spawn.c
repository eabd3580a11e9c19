/*
 * spawn.c: the spawn paths of the app, each recording the child it makes as the app's own.
 *
 * fork, _Fork, clone (unless it makes a thread or a sibling), posix_spawn, posix_spawnp and
 * forkpty run between zr_spawn_begin and zr_spawn_end (owned.c), so that the reaper neither
 * misses a child whose pid is not yet recorded nor takes it for an orphan. When the shim is
 * inert each is a straight pass-through. The child returns without touching shim state: it
 * has another pid, which is all it takes to make it inert (activate.c).
 *
 * What no wrapper can see: spawns made inside libc by its internal aliases. posix_spawn's own
 * child is covered because we wrap posix_spawn itself; system and popen are rebuilt on it in
 * shell.c; vfork has its own trampoline in vfork_*.S.
 */
#include "zreap.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>

/* The parent's side of a tracked fork-like call: record the child, end the flight. The child
 * (0) returns untouched: it is inert by pid, and a fork child has had activate.c's atfork
 * handler run. */
static pid_t spawned(pid_t pid)
{
	if (pid != 0)
		zr_spawn_end(pid);
	return pid;
}

static pid_t tracked_fork(pid_t (*real)(void))
{
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (!zr_active())
		return real();
	zr_spawn_begin();
	return spawned(real());
}

ZR_EXPORT pid_t fork(void)
{
	return tracked_fork(REAL(fork));
}

ZR_EXPORT pid_t _Fork(void)
{
	pid_t pid = tracked_fork(REAL(_Fork));
	if (pid == 0)
		zr_after_fork_child(); /* _Fork runs no atfork handler */
	return pid;
}

ZR_EXPORT pid_t forkpty(int *amaster, char *name, const void *termp, const void *winp)
{
	pid_t (*real)(int *, char *, const void *, const void *) = REAL(forkpty);
	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (!zr_active())
		return real(amaster, name, termp, winp);
	zr_spawn_begin();
	return spawned(real(amaster, name, termp, winp));
}

ZR_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	/* The optional arguments are read whether or not the caller passed them, as every clone
	 * interposer must: the kernel looks at them only when flags ask for them. */
	va_list ap;
	va_start(ap, arg);
	pid_t *parent_tid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *child_tid = va_arg(ap, pid_t *);
	va_end(ap);
	int (*real)(int (*)(void *), void *, int, void *, ...) = REAL(clone);
	if ((flags & (CLONE_THREAD | CLONE_PARENT)) || !zr_active())
		return real(fn, stack, flags, arg, parent_tid, tls, child_tid);
	zr_spawn_begin();
	/* The child runs fn on its own stack and never returns here. */
	return spawned(real(fn, stack, flags, arg, parent_tid, tls, child_tid));
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

static int tracked_spawn(spawn_fn real, pid_t *pid, const char *path,
			 const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
			 char *const argv[], char *const envp[])
{
	if (!zr_active())
		return real(pid, path, actions, attr, argv, envp);
	pid_t child = -1;
	zr_spawn_begin();
	int r = real(&child, path, actions, attr, argv, envp);
	zr_spawn_end(r == 0 ? child : -1);
	if (r == 0 && pid != NULL)
		*pid = child;
	return r;
}

ZR_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return tracked_spawn(REAL(posix_spawn), pid, path, actions, attr, argv, envp);
}

ZR_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return tracked_spawn(REAL(posix_spawnp), pid, file, actions, attr, argv, envp);
}

/* vfork_*.S calls these around its raw vfork system call. */
int zr_vfork_enter(void)
{
	if (!zr_active())
		return 0;
	zr_spawn_begin();
	return 1;
}

long zr_vfork_leave(long ret, int tracked)
{
	if (ret < 0 && ret > -4096) {
		if (tracked)
			zr_spawn_end(-1);
		errno = (int)-ret;
		return -1;
	}
	if (tracked)
		zr_spawn_end((pid_t)ret);
	return ret;
}

#if !defined(__x86_64__) && !defined(__aarch64__)
/* Elsewhere vfork is fork, ThreadSanitizer's choice: a correct vfork user cannot tell. */
ZR_EXPORT pid_t vfork(void)
{
	return fork();
}
#endif
