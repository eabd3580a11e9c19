/*
 * stop.c: a PID 1 that stops the way a normal process stops, without killing its children
 * mid-write.
 *
 * A normal process whose disposition for SIGTERM is SIG_DFL dies of it. A namespace's PID 1
 * never receives it (the kernel drops it), and when PID 1 does die, the kernel SIGKILLs every
 * other process in the namespace. So, in PID 1 only, for each forwarded signal whose
 * disposition the app left at SIG_DFL (signals.c installs our handler there):
 *   - the signal is sent on to every child of PID 1, once: not to those in PID 1's own process
 *     group when a terminal sent it (a Ctrl-C already reached the whole foreground group); a
 *     stopped child is then sent SIGCONT, so that it can act on it;
 *   - the reaper keeps reaping; as soon as no child is alive (PID 1 waits on their pidfds, so
 *     it knows at once), or after ZREAP_GRACE_MS at the latest, PID 1 exits with 128 + the
 *     signal, the status a signal death reports. Only children that can act on the signal or
 *     ignore it are waited for: one that merely dies of it is dying when kill() returns, and
 *     the kernel completes PID 1's exit only after it (dying(), below).
 * ZREAP_FORWARD=never skips the forwarding and exits at once; =always also forwards when the
 * app has a handler of its own, which then runs (signals.c). All of it runs in the signal
 * handler, on async-signal-safe system calls only. While PID 1 waits for its children, the
 * app's other threads run on: the app's own default action would have stopped them, but its
 * children get their grace.
 *
 * And when the app exits on its own (exit() or a return from main) while children are alive,
 * which the kernel would SIGKILL, a destructor first sends them SIGTERM and waits up to the
 * same grace for those that do not ignore it. ZREAP_GRACE_MS=0 turns both waits off.
 *
 * A signal PID 1 sends itself while it is at SIG_DFL is the app ending itself, as a normal
 * process would end by it: Node's own SIGTERM and SIGINT handler resets the disposition and
 * raises the signal again; dash and bash re-raise a SIGINT they caught; a script runs
 * `kill $$`. The kernel drops it for an init, so such a PID 1 would run on. The shim ends it
 * with 128 + the signal, after the same SIGTERM and grace as an exit gives the children: not
 * the signal itself, which some of them may have had already (from a terminal, from the app's
 * `kill 0`, or ignore, as a shell's background jobs ignore SIGINT).
 */
#include "zreap.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct forward {
	int sig, count, acting, ignoring;
	bool skip_own_group;
	pid_t own_group, sentinel;
};

#define PF_EXITING 0x00000004 /* include/linux/sched.h: the task is in do_exit */

/* Whether the kernel has begun to end this child: after a fatal signal at its default action
 * (not blocked, no tracer), kill() itself starts the group exit, queueing SIGKILL to every
 * thread (complete_signal in kernel/signal.c); then the thread exits (PF_EXITING) and the
 * process becomes a zombie. Looked at right after kill(), this tells the children that merely
 * die of the signal from those that can act on it (a handler, the signal blocked, a tracer,
 * stopped) or ignore it. Waiting for the first would change nothing but the time PID 1
 * takes: PID 1's own exit completes only once every process of its namespace is gone
 * (zap_pid_ns_processes). */
static bool dying(const struct zr_stat *st)
{
	return st->state == 'Z' || st->state == 'X' || (st->flags & PF_EXITING) != 0 ||
	       (st->pending >> (SIGKILL - 1) & 1) != 0;
}

/* The kernel writes a thread's flags into the file before its pending signals: a child read
 * while it took its SIGKILL, before it set PF_EXITING, shows neither. So one whose signal is
 * at its default action, unblocked and not ignored, is looked at once more; still not dying
 * (a tracer, say, holds it), it is waited for, the safe way. */
static bool dies_by_default(const struct zr_stat *st, int sig)
{
	return sig < 32 && st->state != 'T' && st->state != 't' &&
	       ((st->blocked | st->ignored | st->caught) >> (sig - 1) & 1) == 0;
}

static void forward_to(pid_t pid, void *arg)
{
	struct forward *f = arg;
	if (pid == f->sentinel)
		return;
	bool send = !f->skip_own_group || getpgid(pid) != f->own_group;
	if (send && kill(pid, f->sig) != 0)
		return; /* gone meanwhile, or not ours to signal: nothing to wait for */
	f->count += send; /* a zombie too (the app's uncollected child): no harm done to it */
	struct zr_stat st;
	if (!zr_proc_stat(pid, &st) || dying(&st))
		return;
	if (dies_by_default(&st, f->sig) && (!zr_proc_stat(pid, &st) || dying(&st)))
		return;
	/* Alive and not dying: it has the signal to act on, or ignores it. */
	if (f->sig < 32 && (st.ignored >> (f->sig - 1) & 1))
		f->ignoring++;
	else
		f->acting++;
	/* A stopped child cannot act on it until it runs again: continue it, as systemd does
	 * (only it: a running child's SIGCONT handler must not see a stray one). */
	if (send && st.state == 'T')
		kill(pid, SIGCONT);
}

/* How many children are left, as far as a PID 1 that cannot list them (above) can tell: 1 if
 * any, else 0. waitid without __WALL does not see the sentinel; a zombie, say the app's
 * uncollected child, hides whether others still run, so it counts as one: the wait then lasts
 * the grace at most. */
static int unlisted_children(void)
{
	siginfo_t si;
	return zr_raw_waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT, NULL) != -ECHILD;
}

int zr_forward(int sig, const siginfo_t *si, bool wait_for_ignorers)
{
	bool from_terminal = si != NULL && si->si_code == SI_KERNEL;
	struct forward f = { .sig = sig, .skip_own_group = from_terminal,
			     .own_group = from_terminal ? getpgrp() : 0, .sentinel = zr_sentinel_pid() };
	char name[12];
	zr_signame(sig, name);
	if (!zr_for_each_child(forward_to, &f)) {
		/* No list of the children: the whole namespace but PID 1 gets it (kill(-1) in a
		 * namespace's init), as its processes all end when PID 1 does anyway. Not when a
		 * terminal sent it: its foreground group, where the children are, has it already. */
		if (!from_terminal)
			kill(-1, sig);
		zr_log(ZR_INFO, "cannot list the children (no /proc/self/task/*/children): %s%s%s",
		       from_terminal ? "forwarded nothing; the terminal signalled its foreground group"
				     : "sent ",
		       from_terminal ? "" : name, from_terminal ? "" : " to every process of the namespace");
		return unlisted_children();
	}
	zr_log(ZR_INFO, "forwarded %s to %d %s%s", name, f.count,
	       f.count == 1 ? "child" : "children",
	       f.skip_own_group ? " (not to its own process group, which the terminal signalled)" : "");
	zr_log(ZR_INFO, "of the children, %d can act on %s and %d ignore it; any others die of it",
	       f.acting, name, f.ignoring);
	return f.acting + (wait_for_ignorers ? f.ignoring : 0);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define WATCH_MAX 64

/* The children still alive, each with a pidfd when it can have one (Linux 5.3 and later).
 * With heeders_only, only those that do not ignore SIGTERM count. */
struct watch {
	int alive, fds;
	bool without_fd, heeders_only, count_only;
	pid_t sentinel;
	struct pollfd pfd[WATCH_MAX];
};

static void watch_child(pid_t pid, void *arg)
{
	struct watch *w = arg;
	struct zr_stat st;
	if (pid == w->sentinel || !zr_proc_stat(pid, &st) || st.state == 'Z' || st.state == 'X')
		return;
	if (w->heeders_only && (st.ignored >> (SIGTERM - 1) & 1))
		return;
	w->alive++;
	if (w->count_only)
		return;
	int fd = w->fds < WATCH_MAX ? (int)zr_sys(SYS_pidfd_open, pid, 0) : -1;
	if (fd < 0) {
		w->without_fd = true;
		return;
	}
	w->pfd[w->fds].fd = fd;
	w->pfd[w->fds].events = POLLIN;
	w->fds++;
}

static int children_alive(bool heeders_only)
{
	struct watch w = { .sentinel = zr_sentinel_pid(), .heeders_only = heeders_only,
			   .count_only = true };
	if (!zr_for_each_child(watch_child, &w))
		return unlisted_children();
	return w.alive;
}

/* Returns how many children are still alive when it gives up. A pidfd becomes readable when
 * its process exits, so PID 1 looks again the moment a child dies; where there is no pidfd,
 * it looks after 0.1 ms, then ever less often, up to every 5 ms. */
static int wait_for_children(bool heeders_only)
{
	long deadline = zr_now_ms() + zr_cfg.grace_ms;
	long tick_ns = 100 * 1000L;
	for (;;) {
		struct watch w = { .sentinel = zr_sentinel_pid(), .heeders_only = heeders_only };
		if (!zr_for_each_child(watch_child, &w)) {
			w.alive = unlisted_children();
			w.without_fd = true;
		}
		long left = deadline - zr_now_ms();
		if (w.alive > 0 && left > 0) {
			if (w.without_fd) {
				struct timespec tick = { 0, tick_ns };
				nanosleep(&tick, NULL);
				if (tick_ns < 5 * 1000000L)
					tick_ns *= 2;
			} else {
				/* at most 100 ms, to count children forked meanwhile too */
				poll(w.pfd, (nfds_t)w.fds, left < 100 ? (int)left : 100);
			}
		}
		for (int i = 0; i < w.fds; i++)
			close(w.pfd[i].fd);
		if (w.alive == 0 || left <= 0)
			return w.alive;
	}
}

static atomic_int stopping;

void zr_stop_on_signal(int sig, const siginfo_t *si)
{
	char name[12];
	zr_signame(sig, name);
	if (zr_cfg.forward == ZR_FORWARD_NEVER) {
		zr_log(ZR_INFO, "%s with no handler of the app's: exiting with %d (ZREAP_FORWARD=never)",
		       name, 128 + sig);
		_exit(128 + sig);
	}
	int waitable = zr_forward(sig, si, true);
	if (atomic_exchange(&stopping, 1))
		return; /* another thread is already seeing PID 1 out */
	int left = waitable > 0 ? wait_for_children(false) : 0;
	if (left == 0)
		zr_log(ZR_INFO, "%s with no handler of the app's: no child left to wait for, exiting "
				"with %d", name, 128 + sig);
	else
		zr_log(ZR_INFO, "%s with no handler of the app's: %d %s still alive after %ld ms, "
				"exiting with %d",
		       name, left, left == 1 ? "child" : "children", zr_cfg.grace_ms, 128 + sig);
	_exit(128 + sig);
}

/* The app's own end, by exit or by a signal to itself: SIGTERM to the children still alive,
 * which the kernel would SIGKILL, and the grace for those that heed it. A child that ignores
 * SIGTERM is not waited for: it would not end any sooner for it, and many such helpers end
 * only when PID 1 has gone (Python's multiprocessing resource tracker ignores TERM, INT and
 * QUIT and waits for EOF on a pipe PID 1 holds), so waiting would only cost the grace. */
static void end_children_gracefully(const char *why)
{
	if (zr_cfg.grace_ms == 0 || children_alive(true) == 0)
		return;
	zr_log(ZR_INFO, "%s with children alive, which the kernel would kill: SIGTERM first", why);
	if (zr_forward(SIGTERM, NULL, false) == 0)
		return;
	int left = wait_for_children(true);
	if (left > 0)
		zr_log(ZR_INFO, "%d %s still alive after %ld ms", left, left == 1 ? "child" : "children",
		       zr_cfg.grace_ms);
}

void zr_stop_on_own_signal(int sig)
{
	if (atomic_exchange(&stopping, 1))
		return;
	char name[12];
	zr_signame(sig, name);
	zr_log(ZR_INFO, "the app sent itself %s, at the default action: it ends by it", name);
	end_children_gracefully("the app is ending");
	zr_log(ZR_INFO, "exiting with %d, as the default action of %s would", 128 + sig, name);
	_exit(128 + sig);
}

__attribute__((destructor)) static void stop_at_exit(void)
{
	if (!zr_active() || zr_getpid() != 1)
		return;
	int saved = errno;
	end_children_gracefully("the app is exiting");
	errno = saved;
}
