/*
 * activate.c: the constructor, which decides between inert and active.
 *
 * LD_PRELOAD reaches every process in a container, so the inert path is the common one and
 * must cost next to nothing: record where the loaded objects' tables are (real.c), ask the
 * kernel for the pid, look for a ZREAP_SUBREAPER* name, and return, reading no setting and
 * calling no libc function. No thread, no handler, no signal mask touched; every wrapper then
 * passes straight through.
 *
 * The shim becomes active only
 *   - in PID 1 (the init of a PID namespace: the kernel hands it every orphan), or
 *   - with ZREAP_SUBREAPER=1, where it makes the process a child subreaper first. So that the
 *     descendants, which inherit the environment, do not all become subreapers too, the
 *     variable is taken out of the environment and ZREAP_SUBREAPER_PID=<our pid> put in its
 *     place: after an exec the same process (same pid, and still a subreaper, which the
 *     kernel keeps across execve) activates again, while any other process that inherited
 *     the marker has another pid and stays inert.
 * Never in secure execution (AT_SECURE: setuid and the like), where no environment is read,
 * never with ZREAP_DISABLE=1, and never in a program of the other libc (the musl build in a
 * glibc program or the reverse), where PID 1 gets one line naming the build to use.
 *
 * A child, by whatever path it was made, inherits zr_active_pid but has another pid, so
 * zr_active() is false in it without any code having to run in it: fork children, vfork
 * children sharing our memory, and clone children alike.
 */
#include "zreap.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#ifdef ZR_LIBC_MUSL
#define ZR_BUILD_LIBC "musl"
#define ZR_OTHER_LIBC "glibc"
#else
#define ZR_BUILD_LIBC "glibc"
#define ZR_OTHER_LIBC "musl"
#endif

#if defined(__x86_64__)
#define ZR_ARCH "x86_64"
#elif defined(__aarch64__)
#define ZR_ARCH "aarch64"
#else
#define ZR_ARCH "other"
#endif

/* The version, readable without running anything: a line of its own among the library's
 * bytes, which zreap-run --version and zreap-doctor read with sed (a mounted library may belong
 * to another architecture or libc than the shell asking). ZREAP_LOG=info names it when the
 * shim turns active. */
#define ZR_VERSION_LINE "libzreap " ZR_VERSION " (" ZR_BUILD_LIBC " build, " ZR_ARCH ")"
__attribute__((used)) static const char zr_version_tag[] = "\nlibzreap-version: " ZR_VERSION_LINE "\n";

atomic_int zr_active_pid;

bool zr_active_slow(void)
{
	return atomic_load_explicit(&zr_active_pid, memory_order_relaxed) == zr_getpid();
}

/* True when this process made itself a subreaper before an exec (see above). */
static bool subreaper_kept_across_exec(pid_t self)
{
	const char *marker = zr_getenv("ZREAP_SUBREAPER_PID");
	if (marker == NULL)
		return false;
	char mine[24];
	zr_utoa((unsigned long)self, 10, mine);
	int is_subreaper = 0;
	return strcmp(marker, mine) == 0 && zr_libc_ready() &&
	       prctl(PR_GET_CHILD_SUBREAPER, &is_subreaper) == 0 && is_subreaper;
}

static bool become_subreaper(pid_t self)
{
	if (!zr_libc_ready())
		return false;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		zr_log(ZR_ERROR, "ZREAP_SUBREAPER=1 but PR_SET_CHILD_SUBREAPER failed (errno %d); staying inert",
		       errno);
		return false;
	}
	char mine[24];
	zr_utoa((unsigned long)self, 10, mine);
	unsetenv("ZREAP_SUBREAPER");
	setenv("ZREAP_SUBREAPER_PID", mine, 1);
	return true;
}

/* A fork child of the active process: inert by its pid already. The app's own dispositions go
 * back in (signals.c), and zr_active_pid is cleared so that its wrappers take the fast inert
 * path instead of asking the kernel for the pid at every call. The atfork child handler runs
 * it, and our _Fork, which runs none; never a vfork or clone child, which shares our memory.
 * A grandchild, the fork child of such a child, finds zr_active_pid cleared and its
 * dispositions the app's already: nothing to do (an orphan storm's double forks each saved
 * a system call per managed signal). */
void zr_after_fork_child(void)
{
	if (atomic_load_explicit(&zr_active_pid, memory_order_relaxed) == 0)
		return;
	zr_signals_after_fork();
	atomic_store_explicit(&zr_active_pid, 0, memory_order_relaxed);
}

/* glibc calls a constructor with the program's argc, argv and environment; musl with nothing,
 * and zr_start then reads none of them. */
__attribute__((constructor)) static void zr_activate(int argc, char **argv, char **envp)
{
	zr_config_env(zr_start(argc, argv, envp));
	zr_real_record();
	/* The inert path, every process but PID 1 in a container: it reads no setting, calls no
	 * libc function and leaves errno alone. */
	pid_t self = zr_getpid();
	if (self != 1 && !zr_env_has_prefix("ZREAP_SUBREAPER")) /* or ZREAP_SUBREAPER_PID: one pass */
		return;
	int saved = errno;
	if (!zr_libc_matches()) {
		/* The wrong build for this program's libc: every wrapper passes straight through to the
		 * libc that is there, which is all an inert shim does. Say so where it matters. */
		if (self == 1)
			zr_log(ZR_ERROR, "this is the %s build of libzreap, in a %s program: inert; mount the "
					 "%s build instead",
			       ZR_BUILD_LIBC, ZR_OTHER_LIBC, ZR_OTHER_LIBC);
		goto out;
	}
	unsigned long secure;
	if (!zr_auxval(AT_SECURE, &secure) || secure != 0)
		goto out;
	zr_config_load();
	if (zr_cfg.disable)
		goto out;

	const char *role;
	if (self == 1)
		role = "PID 1";
	else if (zr_cfg.subreaper && become_subreaper(self))
		role = "subreaper";
	else if (subreaper_kept_across_exec(self))
		role = "subreaper (kept across exec)";
	else
		goto out;

	if (!zr_libc_ready()) {
		zr_log(ZR_ERROR, "cannot find the libc functions it needs; staying inert");
		goto out;
	}
	zr_config_load_active();
	zr_cancel_ready();
	zr_real_resolve_all();
	unsigned long page;
	if (zr_auxval(AT_PAGESZ, &page) && page != 0)
		zr_page = page;
	if (!zr_owned_init() || !zr_stash_init()) {
		zr_log(ZR_ERROR, "cannot map the shim's tables; staying inert");
		goto out;
	}
	atomic_store(&zr_active_pid, self);
	if (!zr_reaper_start()) {
		atomic_store(&zr_active_pid, 0);
		zr_log(ZR_ERROR, "cannot start the reaper thread; staying inert");
		goto out;
	}
	zr_signals_activate();
	zr_atfork_child(zr_after_fork_child);
	zr_log(ZR_INFO, "%s active as %s; own children count as forgotten after %ld ms",
	       ZR_VERSION_LINE, role, zr_cfg.forgotten_ms);
out:
	errno = saved;
}
