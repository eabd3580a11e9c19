/* sigswap N: while one thread keeps swapping SIGTERM's handler between two handlers with
 * different flags, through sigaction and signal, the main thread raises SIGTERM N times.
 * Every raise must run exactly one handler once: prints "raised=N handled=M". */
#include "zkit.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_long handled;
static atomic_int done;

static void plain(int sig) { (void)sig; atomic_fetch_add(&handled, 1); }
static void info(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; atomic_fetch_add(&handled, 1); }

static void *swapper(void *arg)
{
	(void)arg;
	for (unsigned i = 0; !atomic_load(&done); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sigemptyset(&sa.sa_mask);
		switch (i % 3) {
		case 0: sa.sa_sigaction = info; sa.sa_flags = SA_SIGINFO | SA_RESTART; sigaction(SIGTERM, &sa, NULL); break;
		case 1: sa.sa_handler = plain; sa.sa_flags = SA_NODEFER; sigaction(SIGTERM, &sa, NULL); break;
		default: signal(SIGTERM, plain); break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	signal(SIGTERM, plain);
	pthread_t t;
	pthread_create(&t, NULL, swapper, NULL);
	for (long i = 0; i < n; i++)
		raise(SIGTERM);
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("raised=%ld handled=%ld\n", n, atomic_load(&handled));
	return 0;
}
