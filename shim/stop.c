/*
 * stop.c: a PID 1 that stops the way a normal process stops, without killing its children
 * mid-write.
 *
 * A normal process whose disposition for SIGTERM is SIG_DFL dies of it. A namespace's PID 1
 * never receives it (the kernel drops it), and when PID 1 does die, the kernel SIGKILLs every
 * other process in the namespace. So, in PID 1 only, for each forwarded signal whose
 * disposition the app left at SIG_DFL (signals.c installs our handler there):
 *   - the signal is sent on to every child of PID 1, once: not to those in PID 1's own process
 *     group when a terminal sent it (a Ctrl-C already reached the whole foreground group);
 *   - the reaper keeps reaping; as soon as no child is alive, or after ZREAP_GRACE_MS at the
 *     latest, PID 1 exits with 128 + the signal, the status a signal death reports.
 * ZREAP_FORWARD=never skips the forwarding and exits at once; =always also forwards when the
 * app has a handler of its own, which then runs (signals.c). All of it runs in the signal
 * handler, on async-signal-safe system calls only. While PID 1 waits for its children, the
 * app's other threads run on: the app's own default action would have stopped them, but its
 * children get their grace.
 *
 * And when the app exits on its own (exit() or a return from main) while children are alive,
 * which the kernel would SIGKILL, a destructor first sends them SIGTERM and waits for them up
 * to the same grace. ZREAP_GRACE_MS=0 turns both waits off.
 */
#include "zreap.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

struct forward {
	int sig, count;
	bool skip_own_group;
	pid_t own_group, sentinel;
};

static void forward_to(pid_t pid, void *arg)
{
	struct forward *f = arg;
	if (pid == f->sentinel || !zr_proc_alive(pid))
		return;
	if (f->skip_own_group && getpgid(pid) == f->own_group)
		return;
	if (kill(pid, f->sig) == 0)
		f->count++;
}

void zr_forward(int sig, const siginfo_t *si)
{
	struct forward f = { sig, 0, si != NULL && si->si_code == SI_KERNEL, getpgrp(), zr_sentinel_pid() };
	zr_for_each_child(forward_to, &f);
	char name[12];
	zr_log(ZR_INFO, "forwarded %s to %d %s%s", zr_signame(sig, name), f.count,
	       f.count == 1 ? "child" : "children",
	       f.skip_own_group ? " (not to its own process group, which the terminal signalled)" : "");
}

struct census {
	int alive;
	pid_t sentinel;
};

static void count_alive(pid_t pid, void *arg)
{
	struct census *c = arg;
	if (pid != c->sentinel && zr_proc_alive(pid))
		c->alive++;
}

static int children_alive(void)
{
	struct census c = { 0, zr_sentinel_pid() };
	zr_for_each_child(count_alive, &c);
	return c.alive;
}

/* Returns how many children are still alive when it gives up. */
static int wait_for_children(void)
{
	/* Children that exit on the signal mostly do so within a millisecond: look again after
	 * 0.1 ms, then ever less often, up to every 5 ms. */
	long deadline = zr_now_ms() + zr_cfg.grace_ms;
	long tick_ns = 100 * 1000L;
	int alive;
	while ((alive = children_alive()) > 0 && zr_now_ms() < deadline) {
		struct timespec tick = { 0, tick_ns };
		nanosleep(&tick, NULL);
		if (tick_ns < 5 * 1000000L)
			tick_ns *= 2;
	}
	return alive;
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
	zr_forward(sig, si);
	if (atomic_exchange(&stopping, 1))
		return; /* another thread is already seeing PID 1 out */
	int left = wait_for_children();
	if (left == 0)
		zr_log(ZR_INFO, "%s with no handler of the app's: no child left, exiting with %d", name,
		       128 + sig);
	else
		zr_log(ZR_INFO, "%s with no handler of the app's: %d %s still alive after %ld ms, "
				"exiting with %d",
		       name, left, left == 1 ? "child" : "children", zr_cfg.grace_ms, 128 + sig);
	_exit(128 + sig);
}

__attribute__((destructor)) static void stop_at_exit(void)
{
	if (!zr_active() || zr_getpid() != 1 || zr_cfg.grace_ms == 0 || children_alive() == 0)
		return;
	int saved = errno;
	zr_log(ZR_INFO, "the app is exiting with children alive, which the kernel would kill: "
			"SIGTERM first");
	zr_forward(SIGTERM, NULL);
	int left = wait_for_children();
	if (left > 0)
		zr_log(ZR_INFO, "%d %s still alive after %ld ms", left, left == 1 ? "child" : "children",
		       zr_cfg.grace_ms);
	errno = saved;
}
