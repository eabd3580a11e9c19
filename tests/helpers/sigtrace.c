/* sigtrace: sets and queries SIGTERM, SIGINT and SIGQUIT through every call that sets or reads
 * a disposition, and raises them at handlers it installed, printing a trace. Run as PID 1 with
 * and without the shim, the traces must be the same (the shim manages exactly these signals
 * there). It never raises a signal whose disposition is SIG_DFL. */
#include "zkit.h"
#include <signal.h>

/* The old interfaces are the point here. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

typedef void (*handler_t)(int); /* glibc calls it __sighandler_t; musl has no such name */

extern handler_t bsd_signal(int, handler_t);
extern handler_t __sysv_signal(int, handler_t);
#ifdef __GLIBC__
extern handler_t ssignal(int, handler_t);
extern handler_t sysv_signal(int, handler_t);
#else /* musl has neither: the trace calls their nearest kin */
#define ssignal signal
#define sysv_signal __sysv_signal
#endif

static char altstack[64 * 1024];

static void h1(int sig) { printf("  h1(%d)\n", sig); }

/* Installed with SA_ONSTACK: says whether it runs on the alternate stack; and it swaps the
 * disposition from inside the handler, which the next raise must see. */
static void h_onstack(int sig)
{
	char here;
	printf("  h_onstack(%d) on_altstack=%d\n", sig,
	       &here >= altstack && &here < altstack + sizeof altstack);
	signal(sig, h1);
}
static void h2(int sig) { printf("  h2(%d)\n", sig); }
static void h3(int sig, siginfo_t *si, void *uc)
{
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	printf("  h3(%d) signo=%d code=%d pid_is_self=%d uc=%d self_blocked=%d usr1_blocked=%d\n", sig,
	       si->si_signo, si->si_code, si->si_pid == getpid(), uc != NULL, sigismember(&now, sig),
	       sigismember(&now, SIGUSR1));
}

static const char *name(handler_t h)
{
	return h == SIG_DFL ? "DFL" : h == SIG_IGN ? "IGN" : h == SIG_ERR ? "ERR" : h == SIG_HOLD ? "HOLD"
	       : h == h1 ? "h1" : h == h2 ? "h2" : (void *)h == (void *)h3 ? "h3"
	       : h == h_onstack ? "h_onstack" : "other";
}

static void show(const char *what, int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa); /* musl leaves sa_restorer as it finds it */
	if (sigaction(sig, NULL, &sa) != 0) {
		printf("%s: query failed\n", what);
		return;
	}
	unsigned long long mask = 0;
	for (int s = 1; s <= 64; s++)
		if (sigismember(&sa.sa_mask, s) == 1)
			mask |= 1ull << (s - 1);
	printf("%s: handler=%s flags=%#x mask=%#llx restorer=%s\n", what, name(sa.sa_handler),
	       (unsigned)sa.sa_flags, mask, sa.sa_restorer ? "set" : "none");
}

static void trace(int sig)
{
	struct sigaction act, old;
	printf("== signal %d\n", sig);
	show("initial", sig);

	memset(&act, 0, sizeof act);
	act.sa_sigaction = h3;
	act.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, SIGUSR1);
	sigaddset(&act.sa_mask, SIGKILL);
	sigaddset(&act.sa_mask, 100); /* beyond what the kernel keeps */
	printf("sigaction(h3) = %d\n", sigaction(sig, &act, &old));
	printf("  old handler=%s\n", name(old.sa_handler));
	show("after sigaction(h3)", sig);
	raise(sig);

	act.sa_handler = SIG_DFL;
	act.sa_flags = SA_NODEFER | SA_RESETHAND | SA_ONSTACK | 0x00000400;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, SIGUSR2);
	sigaddset(&act.sa_mask, SIGSTOP);
	printf("sigaction(DFL, odd flags) = %d\n", sigaction(sig, &act, &old));
	printf("  old handler=%s flags=%#x\n", name(old.sa_handler), (unsigned)old.sa_flags);
	show("after sigaction(DFL)", sig);

	printf("signal(h1) -> %s\n", name(signal(sig, h1)));
	show("after signal(h1)", sig);
	raise(sig);
	printf("signal(DFL) -> %s\n", name(signal(sig, SIG_DFL)));
	show("after signal(DFL)", sig);
	printf("bsd_signal(h2) -> %s\n", name(bsd_signal(sig, h2)));
	printf("ssignal(h1) -> %s\n", name(ssignal(sig, h1)));
	show("after ssignal(h1)", sig);
	printf("sysv_signal(h2) -> %s\n", name(sysv_signal(sig, h2)));
	show("after sysv_signal(h2)", sig);
	raise(sig); /* SA_RESETHAND: back to DFL */
	show("after raise (reset)", sig);
	printf("__sysv_signal(DFL) -> %s\n", name(__sysv_signal(sig, SIG_DFL)));
	printf("sigset(HOLD) -> %s\n", name(sigset(sig, SIG_HOLD)));
	printf("sigset(HOLD) again -> %s\n", name(sigset(sig, SIG_HOLD)));
	printf("sigset(h1) -> %s\n", name(sigset(sig, h1)));
	show("after sigset(h1)", sig);
	printf("sigignore = %d\n", sigignore(sig));
	show("after sigignore", sig);
	raise(sig); /* ignored */
	printf("siginterrupt(1) = %d\n", siginterrupt(sig, 1));
	show("after siginterrupt(1)", sig);
	printf("signal(h2) -> %s\n", name(signal(sig, h2)));
	show("after signal(h2) with siginterrupt", sig);
	printf("siginterrupt(0) = %d\n", siginterrupt(sig, 0));
	show("after siginterrupt(0)", sig);
#ifdef __GLIBC__ /* musl would install SIG_ERR as a handler */
	printf("signal(SIG_ERR) -> %s errno=%d\n", name(signal(sig, SIG_ERR)), errno);
#endif
	/* SA_ONSTACK, and a handler that changes the disposition from inside */
	act.sa_handler = h_onstack;
	act.sa_flags = SA_ONSTACK;
	sigemptyset(&act.sa_mask);
	printf("sigaction(h_onstack, SA_ONSTACK) = %d\n", sigaction(sig, &act, NULL));
	raise(sig);
	show("after raise (swapped inside)", sig);
	raise(sig);
	/* the same with SA_RESETHAND, which the shim applies itself */
	act.sa_flags = SA_ONSTACK | SA_RESETHAND;
	printf("sigaction(h_onstack, SA_ONSTACK|SA_RESETHAND) = %d\n", sigaction(sig, &act, NULL));
	raise(sig);
	show("after raise (reset, then swapped inside)", sig);
	printf("sigaction(DFL) = %d\n", sigaction(sig, &(struct sigaction){ .sa_handler = SIG_DFL }, NULL));
	show("final", sig);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
	sigaltstack(&ss, NULL);
	trace(SIGTERM);
	trace(SIGINT);
	trace(SIGQUIT);
	return 0;
}
