/* stress.h: the orphan storm and small helpers shared by the stress test programs.
 *
 * The stormer is a child of the app that, until it is stopped, double-forks orphans: each
 * round it forks a short-lived middle process that forks 1 to 3 grandchildren and exits at
 * once, so the grandchildren are re-parented to PID 1 (the app). Half of the grandchildren
 * exit at once, the others after a random 1-20 ms, with assorted exit codes; a few kill
 * themselves. The stormer waits for its middle processes only; the number of orphans made is
 * kept in a counter shared with the app (zs_storm_start) or printed when it stops
 * (zs_storm_main, for programs in other languages). */
#ifndef ZK_STRESS_H
#define ZK_STRESS_H

#include "zkit.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

struct zs_storm {
	pid_t pid;
	_Atomic long *orphans; /* shared with the stormer */
};

static volatile sig_atomic_t zs_storm_stop_flag;

static inline void zs_storm_on_term(int sig)
{
	(void)sig;
	zs_storm_stop_flag = 1;
}

/* One round: a middle process whose grandchildren become orphans. Returns how many. */
static inline int zs_storm_round(unsigned *seed)
{
	int kids = 1 + (int)(rand_r(seed) % 3);
	unsigned gseed = rand_r(seed);
	pid_t mid = fork();
	if (mid < 0) {
		zk_sleep_ms(1);
		return 0;
	}
	if (mid == 0) {
		for (int k = 0; k < kids; k++) {
			unsigned r = rand_r(&gseed);
			if (fork() == 0) {
				if (r & 1)
					zk_sleep_ms(1 + (long)((r >> 1) % 20));
				if ((r >> 8) % 16 == 0)
					kill(getpid(), SIGKILL);
				_exit((int)((r >> 12) % 256));
			}
		}
		_exit(0);
	}
	int st;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	return kids;
}

/* The stormer's loop: runs until stop_flag is set (or for ever). pause_us between rounds
 * keeps two cores from being monopolized. */
static inline void zs_storm_loop(_Atomic long *orphans, unsigned seed, long pause_us)
{
	while (!zs_storm_stop_flag) {
		int n = zs_storm_round(&seed);
		if (orphans)
			atomic_fetch_add(orphans, n);
		if (pause_us > 0) {
			struct timespec ts = { 0, pause_us * 1000L };
			nanosleep(&ts, NULL);
		}
	}
}

/* Starts a stormer as a child of the caller (the app: it is the app's own child, so the app
 * must collect it after zs_storm_stop). */
static inline int zs_storm_start(struct zs_storm *s, unsigned seed, long pause_us)
{
	s->orphans = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s->orphans == MAP_FAILED)
		return -1;
	atomic_store(s->orphans, 0);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "stormer");
		zs_storm_loop(s->orphans, seed, pause_us);
		_exit(0);
	}
	return 0;
}

/* Kills the stormer and collects it; returns false if its status is not the SIGKILL. */
static inline bool zs_storm_stop(struct zs_storm *s)
{
	if (s->pid <= 0)
		return true;
	kill(s->pid, SIGKILL);
	int st = 0;
	pid_t r;
	while ((r = waitpid(s->pid, &st, 0)) < 0 && errno == EINTR)
		;
	bool ok = r == s->pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	if (!ok)
		fprintf(stderr, "stormer %d: waitpid gave %d (errno %d), status 0x%x\n", s->pid, r,
			r < 0 ? errno : 0, st);
	s->pid = 0;
	return ok;
}

/* A stand-alone stormer (`prog storm [pause_us]`): runs until SIGTERM, then prints
 * "orphans=N" and exits 0. */
static inline int zs_storm_main(long pause_us)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = zs_storm_on_term;
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	_Atomic long n = 0;
	zs_storm_loop(&n, (unsigned)getpid() * 2654435761u, pause_us);
	printf("orphans=%ld\n", (long)atomic_load(&n));
	fflush(stdout);
	return 0;
}

#endif
