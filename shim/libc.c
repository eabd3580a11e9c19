/*
 * libc.c: the libc functions only an active shim calls, bound by the shim when it turns active
 * rather than by the loader at every exec.
 *
 * The loader binds every import of every object before the program starts, in every process
 * LD_PRELOAD reaches, and nearly all of those stay inert. The library imports nothing at all
 * (str.c gives the figures). Every libc function the shim calls is defined here as a hidden
 * function of the same name, which the static linker binds our calls to; it calls the libc
 * function through a pointer that zr_libc_ready fills, from the first definition in any loaded
 * object but ours, which is the one the loader would have bound (real.c). zr_libc_ready runs
 * before the shim turns active (and before the subreaper's prctl calls), so no signal handler
 * ever binds. A trampoline reached before it anyway binds then, on its first call.
 *
 * Not here: the string functions, the shim's own (str.c); errno and environ (real.c); and
 * the shim's own system calls, inline (zreap.h's zr_sys).
 */
#include "zreap.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Functions that return a value: type, name, parameters, arguments. */
#define RETURNING(X)                                                                              \
	X(int, close, (int fd), (fd))                                                             \
	X(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))                             \
	X(int, pipe2, (int fds[2], int flags), (fds, flags))                                      \
	X(FILE *, fdopen, (int fd, const char *mode), (fd, mode))                                 \
	X(int, fclose, (FILE * f), (f))                                                           \
	X(int, poll, (struct pollfd * fds, nfds_t n, int ms), (fds, n, ms))                       \
	X(int, nanosleep, (const struct timespec *t, struct timespec *rem), (t, rem))             \
	X(int, clock_gettime, (clockid_t c, struct timespec *t), (c, t))                          \
	X(int, kill, (pid_t pid, int sig), (pid, sig))                                            \
	X(pid_t, getpgid, (pid_t pid), (pid))                                                     \
	X(pid_t, getpgrp, (void), ())                                                             \
	X(void *, mmap, (void *a, size_t n, int prot, int flags, int fd, off_t off),              \
	  (a, n, prot, flags, fd, off))                                                           \
	X(int, madvise, (void *a, size_t n, int advice), (a, n, advice))                          \
	X(void *, malloc, (size_t n), (n))                                                        \
	X(int, setenv, (const char *name, const char *value, int overwrite), (name, value, overwrite)) \
	X(int, unsetenv, (const char *name), (name))                                              \
	X(int, sigprocmask, (int how, const sigset_t *set, sigset_t *old), (how, set, old))       \
	X(int, sigemptyset, (sigset_t * s), (s))                                                  \
	X(int, sigfillset, (sigset_t * s), (s))                                                   \
	X(int, sigaddset, (sigset_t * s, int sig), (s, sig))                                      \
	X(int, sigdelset, (sigset_t * s, int sig), (s, sig))                                      \
	X(int, sigismember, (const sigset_t *s, int sig), (s, sig))                               \
	X(int, pthread_mutex_lock, (pthread_mutex_t * m), (m))                                    \
	X(int, pthread_mutex_unlock, (pthread_mutex_t * m), (m))                                  \
	X(int, posix_spawnattr_init, (posix_spawnattr_t * a), (a))                                \
	X(int, posix_spawnattr_destroy, (posix_spawnattr_t * a), (a))                             \
	X(int, posix_spawnattr_setflags, (posix_spawnattr_t * a, short f), (a, f))                \
	X(int, posix_spawnattr_setsigmask, (posix_spawnattr_t * a, const sigset_t *s), (a, s))    \
	X(int, posix_spawnattr_setsigdefault, (posix_spawnattr_t * a, const sigset_t *s), (a, s)) \
	X(int, posix_spawn_file_actions_init, (posix_spawn_file_actions_t * fa), (fa))            \
	X(int, posix_spawn_file_actions_destroy, (posix_spawn_file_actions_t * fa), (fa))         \
	X(int, posix_spawn_file_actions_addclose, (posix_spawn_file_actions_t * fa, int fd),      \
	  (fa, fd))                                                                               \
	X(int, posix_spawn_file_actions_adddup2,                                                  \
	  (posix_spawn_file_actions_t * fa, int fd, int to), (fa, fd, to))

/* Functions that return nothing, or never: name, parameters, arguments. */
#define VOID(X) X(free, (void *p), (p))
#define NORETURN(X) X(exit, (int status), (status)) X(_exit, (int status), (status))

/* Variadic, written out below: open, fcntl, prctl. */
#define VARIADIC(X) X(open) X(fcntl) X(prctl)

#define INDEX_R(ret, name, params, args) I_##name,
#define INDEX_V(name, params, args) I_##name,
#define INDEX_N(name) I_##name,
enum { RETURNING(INDEX_R) VOID(INDEX_V) NORETURN(INDEX_V) VARIADIC(INDEX_N) COUNT };

static void *slots[COUNT];

#define WANT_R(ret, name, params, args) { #name, &slots[I_##name] },
#define WANT_V(name, params, args) { #name, &slots[I_##name] },
#define WANT_N(name) { #name, &slots[I_##name] },
static const struct zr_want wants[] = { RETURNING(WANT_R) VOID(WANT_V) NORETURN(WANT_V)
						VARIADIC(WANT_N) };

bool zr_libc_ready(void)
{
	static atomic_bool bound;
	if (atomic_load_explicit(&bound, memory_order_acquire))
		return true;
	if (!zr_find_all(wants, COUNT))
		return false;
	atomic_store_explicit(&bound, true, memory_order_release);
	return true;
}

static void *fn(int i)
{
	void *f = __atomic_load_n(&slots[i], __ATOMIC_RELAXED);
	if (ZR_UNLIKELY(f == NULL)) {
		zr_libc_ready();
		f = __atomic_load_n(&slots[i], __ATOMIC_RELAXED);
	}
	return f;
}

#define CALL(name) ((__typeof__(&name))fn(I_##name))

#define DEFINE_R(ret, name, params, args) \
	ret name params                   \
	{                                 \
		return CALL(name) args;   \
	}
#define DEFINE_V(name, params, args) \
	void name params             \
	{                            \
		CALL(name) args;     \
	}
#define DEFINE_N(name, params, args)     \
	void name params                 \
	{                                \
		CALL(name) args;         \
		__builtin_unreachable(); \
	}
RETURNING(DEFINE_R)
VOID(DEFINE_V)
NORETURN(DEFINE_N)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return CALL(open)(path, flags, mode);
}

/* Every fcntl command the shim uses takes an int or no argument; passed on as libc reads it. */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return CALL(fcntl)(fd, cmd, arg);
}

int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long);
	unsigned long c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
	va_end(ap);
	return CALL(prctl)(option, a, b, c, d);
}
