/* eintr: does anything cut a PID-1 app's sleeps short while children and orphans die?
 * usage: eintr dfl|handler MS [mainexit] [wall]
 *   dfl      SIGCHLD left SIG_DFL (what the shim must not disturb)
 *   handler  the app itself installs a SIGCHLD handler with SA_RESTART (a control: the four
 *            calls below are never restarted, so EINTR must then be seen)
 * A forker thread forks children that exit, waiting for each; every child first forks a
 * grandchild that exits, so orphans die all along. With "handler" the forker blocks SIGCHLD,
 * so that the SIGCHLD of its children goes to the main thread. (Not with "dfl": a SIGCHLD
 * sent to a thread that blocks it is queued rather than discarded, and then cuts the main
 * thread's epoll_wait short with EINTR even though SIGCHLD is SIG_DFL, with or without the
 * shim: a kernel quirk of epoll_wait, which is not restarted like the other three.) Meanwhile the main thread runs nanosleep, poll(NULL,0),
 * select(0,...) and epoll_wait on an empty set, each for MS milliseconds, retrying with the
 * time left on EINTR. With "mainexit", all that runs in a second thread while the main
 * thread ends itself with pthread_exit (the process lives on: a pattern some apps use). With
 * "wall", main first waits for any child with __WALL and WNOHANG, as strace -f does (the shim
 * then runs without its sentinel). Prints per call "NAME eintr=N elapsed=MS ret=R", then
 * "children=N during=N sigchld=N" and, once stable, "zombies=K". */
#include "probe.h"
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>

static atomic_int done, during, sigchld_count;
static int children;
static long spacing_ms;

static void on_chld(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigchld_count, 1);
}

static void *forker(void *arg)
{
	(void)arg;
	while (!atomic_load(&done) || children < 200) {
		int rc = zk_leak_orphan();
		if (rc != 0)
			exit(rc);
		children++;
		if (!atomic_load(&done))
			atomic_store(&during, children);
		zk_sleep_ms(atomic_load(&done) ? 0 : spacing_ms);
	}
	return NULL;
}

enum call { NANOSLEEP, POLL, SELECT, EPOLL };
static const char *const names[] = { "nanosleep", "poll", "select", "epoll_wait" };

static void timed(enum call c, long ms, int epfd)
{
	long long t0 = pr_now_us(), deadline = t0 + ms * 1000LL;
	int eintr = 0, ret;
	for (;;) {
		long long left = deadline - pr_now_us();
		if (left < 0)
			left = 0;
		struct timespec ts = { left / 1000000, (left % 1000000) * 1000 };
		struct timeval tv = { left / 1000000, left % 1000000 };
		struct epoll_event ev;
		int left_ms = (int)((left + 999) / 1000);
		switch (c) {
		case NANOSLEEP: ret = nanosleep(&ts, NULL); break;
		case POLL: ret = poll(NULL, 0, left_ms); break;
		case SELECT: ret = select(0, NULL, NULL, NULL, &tv); break;
		default: ret = epoll_wait(epfd, &ev, 1, left_ms); break;
		}
		if (ret < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (ret < 0)
			perror(names[c]);
		break;
	}
	printf("%s eintr=%d elapsed=%lld ret=%d\n", names[c], eintr, (pr_now_us() - t0) / 1000, ret);
	fflush(stdout);
}

static long ms;
static int handler, mainexit;
static pid_t leader;

static int run(void)
{
	spacing_ms = ms * 4 / 250;
	if (mainexit) {
		/* Wait until the main thread is gone (a zombie thread), so the orphans of this run
		 * are adopted by whichever thread the kernel picks in its place. */
		char path[64], st = 0;
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", leader);
		long end = zk_now_ms() + 5000;
		for (;;) {
			char buf[512] = "";
			FILE *f = fopen(path, "r");
			if (f) {
				if (!fgets(buf, sizeof buf, f))
					buf[0] = 0;
				fclose(f);
			}
			char *r = strrchr(buf, ')');
			st = r ? r[2] : 0;
			if (st == 'Z' || st == 'X' || !f || zk_now_ms() > end)
				break;
			zk_sleep_ms(1);
		}
		printf("main thread state=%c\n", st ? st : '-');
	}
	if (handler) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_chld;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGCHLD, &sa, NULL);
	}
	int epfd = epoll_create1(0);
	if (epfd < 0) {
		perror("epoll_create1");
		return 2;
	}
	sigset_t chld, old;
	sigemptyset(&chld);
	if (handler)
		sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	pthread_t t;
	if (pthread_create(&t, NULL, forker, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 2;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	timed(NANOSLEEP, ms, epfd);
	timed(POLL, ms, epfd);
	timed(SELECT, ms, epfd);
	timed(EPOLL, ms, epfd);
	int zombies_during = zk_children().zombies;
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("children=%d during=%d sigchld=%d zombies_during=%d\n", children, atomic_load(&during),
	       atomic_load(&sigchld_count), zombies_during);
	printf("zombies=%d\n", zk_settle(10000));
	fflush(stdout);
	return 0;
}

static void *run_thread(void *arg)
{
	(void)arg;
	exit(run());
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "handler") != 0 && strcmp(argv[1], "dfl") != 0)) {
		fprintf(stderr, "usage: eintr dfl|handler MS [mainexit] [wall]\n");
		return 2;
	}
	handler = strcmp(argv[1], "handler") == 0;
	ms = atol(argv[2]);
	mainexit = argc > 3 && strcmp(argv[3], "mainexit") == 0;
	if (argc > 4 && strcmp(argv[4], "wall") == 0) {
		int st;
		waitpid(-1, &st, __WALL | WNOHANG);
	}
	if (!mainexit)
		return run();
	leader = getpid();
	pthread_t t;
	if (pthread_create(&t, NULL, run_thread, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 2;
	}
	pthread_exit(NULL);
}
