/* sigswap N [CHLD]: while one thread keeps swapping the handler of SIGTERM (or, with CHLD,
 * SIGCHLD) between two counting handlers (sigaction with SA_SIGINFO, sigaction with
 * SA_NODEFER, and signal()), the main thread raises it N times. Every raise must run exactly
 * one handler once, and the SA_SIGINFO handler must only ever see the raise (SI_TKILL from
 * this process): for SIGCHLD, never one of the kernel's (the shim's reaper and sentinel must
 * make none; the process has no child of its own). Prints "raised=N handled=M foreign=F". */
#include "zkit.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_long handled, foreign;
static atomic_int done;
static pid_t self;
static int sig;

static void plain(int s) { (void)s; atomic_fetch_add(&handled, 1); }
static void info(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	atomic_fetch_add(&handled, 1);
	if (si->si_code != SI_TKILL || si->si_pid != self)
		atomic_fetch_add(&foreign, 1);
}

static void *swapper(void *arg)
{
	(void)arg;
	for (unsigned i = 0; !atomic_load(&done); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sigemptyset(&sa.sa_mask);
		switch (i % 3) {
		case 0: sa.sa_sigaction = info; sa.sa_flags = SA_SIGINFO | SA_RESTART; sigaction(sig, &sa, NULL); break;
		case 1: sa.sa_handler = plain; sa.sa_flags = SA_NODEFER; sigaction(sig, &sa, NULL); break;
		default: signal(sig, plain); break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	sig = argc > 2 && strcmp(argv[2], "CHLD") == 0 ? SIGCHLD : SIGTERM;
	self = getpid();
	signal(sig, plain);
	pthread_t t;
	pthread_create(&t, NULL, swapper, NULL);
	for (long i = 0; i < n; i++)
		raise(sig);
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("raised=%ld handled=%ld foreign=%ld\n", n, atomic_load(&handled), atomic_load(&foreign));
	return 0;
}
