/*
 * exec.c: the exec family, so that the reaper's sentinel never outlives the image that made it.
 *
 * When PID 1 execs, the kernel kills the reaper thread, and the sentinel dies of its death
 * signal; but it dies as a child of the new image, a zombie with exit signal 0 that only a
 * __WALL wait can collect. The shim of the new image does collect it, but the new image may
 * have no shim: a static binary, a setuid one, ZREAP_DISABLE=1. So every exec the app makes
 * through libc first has the sentinel killed and reaped (reaper.c, zr_sentinel_stop), and if
 * the exec fails, the reaper makes a new one when it next needs it. libc's execl, execlp,
 * execle, execv and execvp reach execve through internal aliases, so each has a wrapper; the
 * variadic ones build their argv on the stack, as libc does.
 */
#include "zreap.h"

#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#define EXEC_WRAP(call)                       \
	do {                                  \
		if (!zr_active())             \
			return call;          \
		zr_sentinel_stop();           \
		int r_ = call;                \
		zr_sentinel_allow();          \
		return r_;                    \
	} while (0)

ZR_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(execve)(path, argv, envp));
}

ZR_EXPORT int execv(const char *path, char *const argv[])
{
	EXEC_WRAP(REAL(execv)(path, argv));
}

ZR_EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_WRAP(REAL(execvp)(file, argv));
}

ZR_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(execvpe)(file, argv, envp));
}

ZR_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(fexecve)(fd, argv, envp));
}

ZR_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	if (REAL(execveat) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	EXEC_WRAP(REAL(execveat)(dirfd, path, argv, envp, flags));
}

/* execl and friends: argv from the variadic arguments up to their NULL, on the stack. */
static size_t count_args(va_list *ap)
{
	va_list copy;
	va_copy(copy, *ap);
	size_t n = 1;
	while (va_arg(copy, char *) != NULL)
		n++;
	va_end(copy);
	return n;
}

static void fill_args(char **argv, const char *arg, va_list *ap, size_t n)
{
	argv[0] = (char *)arg;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(*ap, char *);
}

/* The variadic arguments up to their NULL as an argv array on the caller's stack; ap stays
 * open, positioned after the NULL (execle's envp follows it). */
#define ARGV_FROM_VARARGS(argv, arg)            \
	va_list ap;                             \
	va_start(ap, arg);                      \
	size_t argc_ = count_args(&ap);         \
	char *argv[argc_ + 1];                  \
	fill_args(argv, arg, &ap, argc_)

ZR_EXPORT int execl(const char *path, const char *arg, ...)
{
	ARGV_FROM_VARARGS(argv, arg);
	va_end(ap);
	return execve(path, argv, zr_environ());
}

ZR_EXPORT int execlp(const char *file, const char *arg, ...)
{
	ARGV_FROM_VARARGS(argv, arg);
	va_end(ap);
	return execvp(file, argv);
}

ZR_EXPORT int execle(const char *path, const char *arg, ...)
{
	ARGV_FROM_VARARGS(argv, arg);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
