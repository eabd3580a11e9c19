/*
 * signals.c: the app's signal dispositions, for the signals the shim manages.
 *
 * The shim manages only the signals it forwards (ZREAP_FORWARD_SIGNALS, default TERM, INT
 * and QUIT), and only in PID 1: the kernel drops every signal whose disposition is SIG_DFL
 * before it reaches a namespace's init, so to hear `docker stop` at all the shim must install
 * a handler of its own where the app has SIG_DFL. Every other signal, and every signal in an
 * inert process, passes straight to libc. It needs none for SIGCHLD: the reaper waits in
 * waitid, which the kernel wakes whatever SIGCHLD's disposition (reaper.c).
 *
 * For a managed signal the app must never notice:
 *  - What the app installs, the kernel gets, except where the shim's handler must stand in
 *    (stands_in): for SIG_DFL; for a handler with SA_RESETHAND, whose reset the shim applies
 *    itself; and for every handler in ZREAP_FORWARD=always, where it forwards first. Standing
 *    in for a handler, ours is installed with the app's mask and flags, so the kernel applies
 *    them, and calls the app's handler with the real siginfo and context.
 *  - What the app queries is what it set, as the kernel would report it: the view keeps the
 *    kernel's copy where the app's own action was installed, and otherwise the app's action
 *    normalised as libc and kernel would have (only 64 signals in the mask, never SIGKILL or
 *    SIGSTOP, the flags the kernel knows, and libc's SA_RESTORER and restorer, learned once
 *    in the constructor by setting the current disposition back).
 *  - signal, bsd_signal, ssignal, sysv_signal, __sysv_signal, sigset, sigignore and
 *    siginterrupt reach libc's sigaction through internal aliases, so each has a wrapper that
 *    builds the action as its libc's own does: glibc's (siginterrupt's set of signals that do
 *    not restart is kept here for the managed signals), or in the musl build musl's.
 *  - A fork child gets the app's dispositions installed for real (pthread_atfork, and our
 *    _Fork); a child made by any other path that still has our handler when the signal comes
 *    puts the app's disposition back and raises the signal again.
 * Updates take a per-signal sequence lock with every signal blocked, so a wrapper called from
 * a signal handler (cgo programs do) never waits on its own thread; the handler reads the view
 * lock-free.
 */
#include "zreap.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NSIG_KERNEL 64
/* The kernel's flag for "sa_restorer is set", which libc adds on some architectures; not in
 * libc's public headers. Whether libc adds it is learned, not assumed (learn_normalisation). */
#define ZR_SA_RESTORER 0x04000000

static uint64_t managed_set; /* set once in the constructor; 0 when inert */
/* The app's view of each managed signal. Mapped in the active PID 1 only, and not in .bss,
 * where every inert process would pay for one more mapping at load; read only where
 * managed_set says a signal is managed. Fork children keep it (zr_map's fork_keeps): they
 * restore the app's dispositions from it. */
static struct slot {
	atomic_uint seq;
	struct sigaction view;
} *slots;
static sigset_t no_restart; /* siginterrupt's set, for the managed signals */

static struct {
	bool adds_restorer;
	void *restorer_plain, *restorer_info;
	int known_flags;
} libc_norm = { false, NULL, NULL, ~0 };

static bool managed(int sig)
{
	return sig >= 1 && sig <= NSIG_KERNEL && (managed_set & (1ull << (sig - 1))) && zr_active();
}

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return REAL(sigaction)(sig, act, old);
}

/* Lock-free. In a copy of our memory made while another thread held the lock (a child of a
 * raw clone without CLONE_VM, which runs no atfork handler), the lock never opens: there,
 * with bounded set, the copy is taken as it is after a bounded spin. An active PID 1 always
 * waits for the writer, which runs on. */
static void read_view(int sig, struct sigaction *out, bool bounded)
{
	for (long tries = 0;; tries++) {
		unsigned s = atomic_load(&slots[sig].seq);
		*out = slots[sig].view;
		if ((!(s & 1) && atomic_load(&slots[sig].seq) == s) || (bounded && tries >= 1L << 20))
			return;
	}
}

/* Writers run with every signal blocked, so that a handler cannot interrupt them on their
 * own thread and spin on their lock. */
static void lock_view(int sig, sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, saved);
	for (;;) {
		unsigned s = atomic_load(&slots[sig].seq);
		if (!(s & 1) && atomic_compare_exchange_weak(&slots[sig].seq, &s, s + 1))
			return;
	}
}

static void unlock_view(int sig, const sigset_t *saved)
{
	atomic_fetch_add(&slots[sig].seq, 1);
	sigprocmask(SIG_SETMASK, saved, NULL);
}

/* The action as the kernel would report it after libc installed act. */
static void normalise(const struct sigaction *act, struct sigaction *out)
{
	memset(out, 0, sizeof *out);
	out->sa_handler = act->sa_handler;
	sigemptyset(&out->sa_mask);
	for (int s = 1; s <= NSIG_KERNEL; s++)
		if (s != SIGKILL && s != SIGSTOP && sigismember(&act->sa_mask, s) == 1)
			sigaddset(&out->sa_mask, s);
	out->sa_flags = act->sa_flags & libc_norm.known_flags;
	if (libc_norm.adds_restorer) {
		out->sa_flags |= ZR_SA_RESTORER;
		out->sa_restorer = (void (*)(void))(act->sa_flags & SA_SIGINFO ? libc_norm.restorer_info
									 : libc_norm.restorer_plain);
	}
}

static void on_managed(int sig, siginfo_t *si, void *uc);

/* Whether our handler stands in for the app's action: for SIG_DFL, which PID 1 never
 * receives; for a handler in ZREAP_FORWARD=always; and for a handler with SA_RESETHAND, which
 * the kernel would reset to SIG_DFL behind the view's back (and PID 1 would then drop the
 * next signal): we apply that reset ourselves. */
static bool stands_in(const struct sigaction *app_act)
{
	if (app_act->sa_handler == SIG_IGN)
		return false;
	return app_act->sa_handler == SIG_DFL || zr_cfg.forward == ZR_FORWARD_ALWAYS ||
	       (app_act->sa_flags & SA_RESETHAND);
}

/* Installs for real what the view says: the app's own action, or ours in its place. */
static int install(int sig, const struct sigaction *app_act)
{
	bool ours = stands_in(app_act);
	if (!ours)
		return real_sigaction(sig, app_act, NULL);
	struct sigaction mine;
	memset(&mine, 0, sizeof mine);
	mine.sa_sigaction = on_managed;
	if (app_act->sa_handler == SIG_DFL) {
		sigemptyset(&mine.sa_mask);
		mine.sa_flags = SA_SIGINFO | SA_RESTART;
	} else {
		mine.sa_mask = app_act->sa_mask;
		mine.sa_flags = (app_act->sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
	}
	return real_sigaction(sig, &mine, NULL);
}

/* Sets the app's action (under the lock); the view becomes what the kernel would report. */
static int set_action(int sig, const struct sigaction *act)
{
	int r = install(sig, act);
	if (r != 0)
		return r;
	struct sigaction kernel;
	if (!stands_in(act) && real_sigaction(sig, NULL, &kernel) == 0)
		slots[sig].view = kernel;
	else
		normalise(act, &slots[sig].view);
	return 0;
}

ZR_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!managed(sig))
		return real_sigaction(sig, act, old);
	sigset_t saved;
	lock_view(sig, &saved);
	struct sigaction previous = slots[sig].view;
	int r = act != NULL ? set_action(sig, act) : 0;
	unlock_view(sig, &saved);
	if (r == 0 && old != NULL) {
#ifdef ZR_LIBC_MUSL
		/* musl reports handler, mask and flags, and leaves the caller's sa_restorer alone. */
		old->sa_handler = previous.sa_handler;
		old->sa_mask = previous.sa_mask;
		old->sa_flags = previous.sa_flags;
#else
		*old = previous;
#endif
	}
	return r;
}

/* ---- the older interfaces, as glibc builds them (signal/sigaction.c et al.) ---- */

static zr_handler_t set_simple(int sig, zr_handler_t handler, int flags, bool mask_self)
{
#ifndef ZR_LIBC_MUSL /* musl passes SIG_ERR on to the kernel, which takes it */
	if (handler == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
#endif
	struct sigaction act, old;
	memset(&act, 0, sizeof act);
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (mask_self)
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	return sigaction(sig, &act, &old) < 0 ? SIG_ERR : old.sa_handler;
}

static zr_handler_t bsd_style(int sig, zr_handler_t handler)
{
#ifdef ZR_LIBC_MUSL
	/* musl's signal (and bsd_signal, __sysv_signal): SA_RESTART, an empty mask, always. */
	return set_simple(sig, handler, SA_RESTART, false);
#else
	return set_simple(sig, handler, sigismember(&no_restart, sig) == 1 ? 0 : SA_RESTART, true);
#endif
}

static zr_handler_t sysv_style(int sig, zr_handler_t handler)
{
#ifdef ZR_LIBC_MUSL
	return bsd_style(sig, handler);
#else
	return set_simple(sig, handler, SA_RESETHAND | SA_NODEFER, false);
#endif
}

/* An unmanaged signal goes to libc's own function; a managed one's action is built here. */
#define HANDLER_WRAPPER(name, build)                               \
	ZR_EXPORT zr_handler_t name(int sig, zr_handler_t handler) \
	{                                                          \
		if (!managed(sig))                                 \
			return REAL(name)(sig, handler);           \
		return build(sig, handler);                        \
	}

HANDLER_WRAPPER(signal, bsd_style)
HANDLER_WRAPPER(bsd_signal, bsd_style)
HANDLER_WRAPPER(ssignal, bsd_style)
HANDLER_WRAPPER(sysv_signal, sysv_style)
HANDLER_WRAPPER(__sysv_signal, sysv_style)

ZR_EXPORT int sigignore(int sig)
{
	if (!managed(sig))
		return REAL(sigignore)(sig);
	return set_simple(sig, SIG_IGN, 0, false) == SIG_ERR ? -1 : 0;
}

ZR_EXPORT zr_handler_t sigset(int sig, zr_handler_t disp)
{
	if (!managed(sig))
		return REAL(sigset)(sig, disp);
	sigset_t one, old_mask;
	sigemptyset(&one);
	sigaddset(&one, sig);
	struct sigaction old;
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &one, &old_mask) < 0)
			return SIG_ERR;
		if (sigismember(&old_mask, sig) == 1)
			return SIG_HOLD;
		if (sigaction(sig, NULL, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	zr_handler_t previous = set_simple(sig, disp, 0, false);
	if (previous == SIG_ERR || sigprocmask(SIG_UNBLOCK, &one, &old_mask) < 0)
		return SIG_ERR;
	return sigismember(&old_mask, sig) == 1 ? SIG_HOLD : previous;
}

ZR_EXPORT int siginterrupt(int sig, int interrupt)
{
	if (!managed(sig))
		return REAL(siginterrupt)(sig, interrupt);
	struct sigaction act;
	if (sigaction(sig, NULL, &act) < 0)
		return -1;
	/* glibc also remembers the choice for later signal() calls; musl does not. */
	if (interrupt) {
		sigaddset(&no_restart, sig);
		act.sa_flags &= ~SA_RESTART;
	} else {
		sigdelset(&no_restart, sig);
		act.sa_flags |= SA_RESTART;
	}
	return sigaction(sig, &act, NULL) < 0 ? -1 : 0;
}

/* ---- delivery ---- */

static void raise_again(int sig)
{
	zr_sys(SYS_tgkill, zr_getpid(), zr_gettid(), sig);
}

static void on_managed(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct sigaction view;
	bool active = zr_active();
	read_view(sig, &view, !active);
	if (!active) {
		/* A child that kept our handler: its own disposition back, and the signal again
		 * (blocked while we run, so delivered to that disposition as we return). */
		real_sigaction(sig, &view, NULL);
		if (view.sa_handler == SIG_DFL)
			raise_again(sig);
		errno = saved;
		return;
	}
	if (view.sa_handler == SIG_IGN) {
		errno = saved;
		return;
	}
	if (view.sa_handler == SIG_DFL) {
		/* One PID 1 sent itself is the app ending itself by it (stop.c); one from elsewhere, a
		 * runtime, a terminal, another process, is forwarded to the children first. */
		if (si != NULL && si->si_code <= 0 && si->si_pid == zr_getpid())
			zr_stop_on_own_signal(sig);
		else
			zr_stop_on_signal(sig, si); /* forwards, waits, ends PID 1 as the default would */
		errno = saved;
		return;
	}
	/* The app's own handler in our place (stands_in): in ZREAP_FORWARD=always forward first;
	 * then the app's handler, as the kernel would have called it (it has already applied the
	 * app's mask and flags), after SA_RESETHAND's reset. */
	if (zr_cfg.forward == ZR_FORWARD_ALWAYS)
		zr_forward(sig, si, false);
	if (view.sa_flags & SA_RESETHAND) {
		sigset_t mask;
		lock_view(sig, &mask);
		struct sigaction dfl = slots[sig].view;
		dfl.sa_handler = SIG_DFL;
		install(sig, &dfl);
		slots[sig].view.sa_handler = SIG_DFL;
		unlock_view(sig, &mask);
	}
	errno = saved;
	if (view.sa_flags & SA_SIGINFO)
		view.sa_sigaction(sig, si, uc);
	else
		view.sa_handler(sig);
}

/* ---- activation and forks ---- */

/* Learns how libc and kernel store an action, on a signal whose disposition is SIG_DFL or
 * SIG_IGN, by setting it back with other flags; the constructor runs alone, so nothing else
 * can see it happen. */
static void learn_normalisation(int sig, const struct sigaction *current)
{
	struct sigaction probe = *current, got;
	sigemptyset(&probe.sa_mask);
	probe.sa_flags = (int)(~0u & ~(unsigned)ZR_SA_RESTORER); /* which flags the kernel keeps */
	if (real_sigaction(sig, &probe, NULL) == 0 && real_sigaction(sig, NULL, &got) == 0)
		libc_norm.known_flags = got.sa_flags & ~ZR_SA_RESTORER;
	for (int info = 0; info < 2; info++) {
		probe.sa_flags = info ? SA_SIGINFO : 0;
		if (real_sigaction(sig, &probe, NULL) != 0 || real_sigaction(sig, NULL, &got) != 0)
			continue;
		libc_norm.adds_restorer = got.sa_flags & ZR_SA_RESTORER;
		if (info)
			libc_norm.restorer_info = (void *)got.sa_restorer;
		else
			libc_norm.restorer_plain = (void *)got.sa_restorer;
	}
	real_sigaction(sig, current, NULL);
}

static void restore_in_child(void)
{
	for (int sig = 1; sig <= NSIG_KERNEL; sig++)
		if (managed_set & (1ull << (sig - 1)))
			real_sigaction(sig, &slots[sig].view, NULL);
}

void zr_signals_after_fork(void)
{
	if (managed_set != 0 && !zr_active())
		restore_in_child();
}

void zr_signals_activate(void)
{
	if (zr_getpid() != 1)
		return;
	slots = zr_map((NSIG_KERNEL + 1) * sizeof *slots, true);
	if (slots == NULL) {
		zr_log(ZR_ERROR, "cannot map the signal table; no signal is forwarded");
		return;
	}
	bool learned = false;
	for (int sig = 1; sig <= NSIG_KERNEL; sig++) {
		if (!(zr_cfg.forward_set & (1ull << (sig - 1))))
			continue;
		struct sigaction current;
		if (real_sigaction(sig, NULL, &current) != 0)
			continue;
		if (!learned && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) {
			learn_normalisation(sig, &current);
			learned = true;
		}
		slots[sig].view = current;
		if (install(sig, &current) == 0)
			managed_set |= 1ull << (sig - 1);
	}
}
