/*
 * real.c: the libc functions behind the wrappers.
 *
 * dlsym(RTLD_NEXT) finds the definition that our interposed symbol hides. dlsym takes the
 * loader's lock and may allocate, so it is called only here: from the constructor, or from the
 * first wrapper call that comes before it. Pointers are published with relaxed atomics; two
 * threads racing here store the same values. A function this libc lacks (_Fork before glibc
 * 2.34, forkpty when libutil is not loaded) stays NULL and its wrapper reports ENOSYS.
 */
#include "zreap.h"

#include <dlfcn.h>

struct zr_real zr_real;

#define RESOLVE(f) \
	__atomic_store_n((void **)&zr_real.f, dlsym(RTLD_NEXT, #f), __ATOMIC_RELAXED)

void zr_resolve_all(void)
{
	RESOLVE(fork);
	RESOLVE(_Fork);
	RESOLVE(clone);
	RESOLVE(posix_spawn);
	RESOLVE(posix_spawnp);
	RESOLVE(forkpty);
	RESOLVE(system);
	RESOLVE(popen);
	RESOLVE(pclose);
	RESOLVE(wait);
	RESOLVE(waitpid);
	RESOLVE(wait3);
	RESOLVE(wait4);
	RESOLVE(waitid);
	RESOLVE(ptrace);
	RESOLVE(execve);
	RESOLVE(execv);
	RESOLVE(execvp);
	RESOLVE(execvpe);
	RESOLVE(fexecve);
	RESOLVE(execveat);
}
