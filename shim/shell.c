/*
 * shell.c: system, popen and pclose, rebuilt on a tracked posix_spawn.
 *
 * libc's own system() and popen() spawn their child through internal aliases and wait for it
 * with an internal waitpid: the shim could neither record the child nor see it collected, and
 * the reaper would take it for an orphan. So while the shim is active these are our own
 * implementations, following glibc's (sysdeps/posix/system.c, libio/iopopen.c) and POSIX:
 *   system: SIGINT and SIGQUIT ignored and SIGCHLD blocked in the caller while the command
 *     runs (reference-counted across threads), restored to default in the child unless they
 *     were ignored, `/bin/sh -c -- line`, 127 when the shell cannot run, -1 when the wait
 *     fails. One difference: glibc acts on a pthread_cancel at once, killing the command; we
 *     hold cancellation off until the command has ended and then act on it, because glibc's
 *     cleanup handlers would need libpthread or libgcc_s linked in (real.c says why not).
 *   popen: modes r, w and e; the streams of earlier popen calls closed in the child.
 *   pclose: closes the stream, then waits for that child.
 * When the shim is inert, libc's versions run untouched. A stream our popen made and the app
 * closes with fclose() instead of pclose() leaves its child uncollected: the reaper's
 * forgotten-child rule (ZREAP_FORGOTTEN_MS) collects it later.
 */
#include "zreap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

pid_t zr_wait_any(pid_t pid, int *status, int options, struct rusage *ru); /* wait.c */

static int spawn_shell(pid_t *pid, const char *line, const posix_spawn_file_actions_t *actions,
		       const posix_spawnattr_t *attr)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"--", (char *)line, NULL };
	zr_spawn_begin();
	int r = REAL(posix_spawn)(pid, "/bin/sh", actions, attr, argv, zr_environ());
	zr_spawn_end(r == 0 ? *pid : -1);
	return r;
}

static pid_t wait_retrying(pid_t pid, int *status)
{
	pid_t r;
	do
		r = zr_wait_any(pid, status, 0, NULL);
	while (r < 0 && errno == EINTR);
	return r;
}

/* ---- system ---- */

static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static int system_users;
static struct sigaction saved_int, saved_quit;

static void system_release(void)
{
	pthread_mutex_lock(&system_lock);
	if (--system_users == 0) {
		sigaction(SIGINT, &saved_int, NULL);
		sigaction(SIGQUIT, &saved_quit, NULL);
	}
	pthread_mutex_unlock(&system_lock);
}

static int run_system(const char *line)
{
	struct sigaction ignore = { .sa_handler = SIG_IGN };
	sigemptyset(&ignore.sa_mask);
	pthread_mutex_lock(&system_lock);
	if (system_users++ == 0) {
		sigaction(SIGINT, &ignore, &saved_int);
		sigaction(SIGQUIT, &ignore, &saved_quit);
	}
	struct sigaction intr = saved_int, quit = saved_quit;
	pthread_mutex_unlock(&system_lock);

	sigset_t chld, omask, reset;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &omask);
	sigemptyset(&reset);
	if (intr.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGINT);
	if (quit.sa_handler != SIG_IGN)
		sigaddset(&reset, SIGQUIT);

	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setsigdefault(&attr, &reset);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int status = -1;
	int r = spawn_shell(&pid, line, NULL, &attr);
	posix_spawnattr_destroy(&attr);

	if (r == 0) {
		/* Cancellation is held off while the command runs, then acted on (see header). */
		int cancel_state;
		if (zr_thread.pthread_setcancelstate != NULL)
			zr_thread.pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
		if (wait_retrying(pid, &status) != pid)
			status = -1;
		if (zr_thread.pthread_setcancelstate != NULL)
			zr_thread.pthread_setcancelstate(cancel_state, NULL);
	} else {
		status = 127 << 8;
	}
	system_release();
	sigprocmask(SIG_SETMASK, &omask, NULL);
	if (zr_thread.pthread_testcancel != NULL)
		zr_thread.pthread_testcancel();
	if (r != 0)
		errno = r;
	return status;
}

ZR_EXPORT int system(const char *line)
{
	if (!zr_active())
		return REAL(system)(line);
	if (line == NULL)
		return run_system("exit 0") == 0;
	return run_system(line);
}

/* ---- popen / pclose ---- */

struct piped {
	FILE *stream;
	int fd;
	pid_t pid;
	struct piped *next;
};

static pthread_mutex_t piped_lock = PTHREAD_MUTEX_INITIALIZER;
static struct piped *piped_list;

static bool parse_mode(const char *mode, bool *reading, bool *cloexec)
{
	bool r = false, w = false;
	*cloexec = false;
	for (; *mode; mode++) {
		switch (*mode) {
		case 'r': r = true; break;
		case 'w': w = true; break;
		case 'e': *cloexec = true; break;
		default: return false;
		}
	}
	*reading = r;
	return r != w;
}

static FILE *run_popen(const char *command, const char *mode)
{
	bool reading, cloexec;
	if (!parse_mode(mode, &reading, &cloexec)) {
		errno = EINVAL;
		return NULL;
	}
	struct piped *entry = malloc(sizeof *entry);
	if (entry == NULL)
		return NULL;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		free(entry);
		return NULL;
	}
	int mine = reading ? fds[0] : fds[1];
	int theirs = reading ? fds[1] : fds[0];
	int target = reading ? STDOUT_FILENO : STDIN_FILENO;
	if (theirs == target) {
		/* dup2 onto itself would leave close-on-exec set: move it out of the way. */
		int moved = fcntl(theirs, F_DUPFD_CLOEXEC, 3);
		close(theirs);
		theirs = moved;
	}

	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, theirs, target);
	pthread_mutex_lock(&piped_lock);
	for (struct piped *p = piped_list; p != NULL; p = p->next)
		posix_spawn_file_actions_addclose(&actions, p->fd);
	pid_t pid;
	int r = theirs < 0 ? errno : spawn_shell(&pid, command, &actions, NULL);
	posix_spawn_file_actions_destroy(&actions);
	if (theirs >= 0)
		close(theirs);
	FILE *stream = NULL;
	if (r == 0) {
		if (!cloexec)
			fcntl(mine, F_SETFD, 0);
		stream = fdopen(mine, reading ? "r" : "w");
	}
	if (stream == NULL) {
		int err = r ? r : errno;
		close(mine);
		if (r == 0) {
			int status;
			wait_retrying(pid, &status);
		}
		pthread_mutex_unlock(&piped_lock);
		free(entry);
		errno = err;
		return NULL;
	}
	*entry = (struct piped){ stream, mine, pid, piped_list };
	piped_list = entry;
	pthread_mutex_unlock(&piped_lock);
	return stream;
}

ZR_EXPORT FILE *popen(const char *command, const char *mode)
{
	if (!zr_active())
		return REAL(popen)(command, mode);
	return run_popen(command, mode);
}

ZR_EXPORT int pclose(FILE *stream)
{
	if (__atomic_load_n(&piped_list, __ATOMIC_RELAXED) == NULL)
		return REAL(pclose)(stream);
	pthread_mutex_lock(&piped_lock);
	struct piped **link = &piped_list;
	while (*link != NULL && (*link)->stream != stream)
		link = &(*link)->next;
	struct piped *entry = *link;
	if (entry != NULL)
		*link = entry->next;
	pthread_mutex_unlock(&piped_lock);
	if (entry == NULL)
		return REAL(pclose)(stream);

	pid_t pid = entry->pid;
	free(entry);
	fclose(stream);
	int status;
	return wait_retrying(pid, &status) == pid ? status : -1;
}
