/* linger: a long-running PID 1 for zreap-doctor to examine (tests/tools.bats).
 * usage: linger [-o ORPHANS] [-k KIDS] [-i] [-t SECONDS]
 *   -o N  makes N orphans, as leaker does (a child forks a grandchild and exits; the grandchild
 *         exits too), waiting for its own children only: without a reaper in PID 1 the
 *         orphans stay zombies
 *   -k N  starts a worker, "sloppy-worker --worker N" (comm sloppy-worker), that forks N
 *         children which exit at once and never waits for them: zombies of its own
 *   -i    ignores SIGTERM (signal(SIGTERM, SIG_IGN)), as some apps do
 *   -t S  lives S seconds (default 60), then exits 0
 * Prints "ready" once the orphans have exited and the worker's children are zombies.
 * Built with -DLINGER_FAKE_GO it also carries the marker of a Go binary's build information,
 * so that it looks like a Go program to a scan of its bytes. */
#include "zkit.h"
#include <signal.h>
#include <sys/prctl.h>

#ifdef LINGER_FAKE_GO
__attribute__((used)) static const char go_buildinfo[] = "\xff Go buildinf:\b\x02";
#endif

static int worker(int kids, int fd)
{
	prctl(PR_SET_NAME, "sloppy-worker");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < kids; i++)
		if (fork() == 0)
			_exit(0);
	long end = zk_now_ms() + 5000;
	while (zk_children().zombies < kids && zk_now_ms() < end)
		zk_sleep_ms(2);
	if (write(fd, "k", 1) != 1)
		return 2;
	close(fd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--worker") == 0)
		return worker(atoi(argv[2]), atoi(argv[3]));

	int orphans = 0, kids = 0, opt;
	long seconds = 60;
	while ((opt = getopt(argc, argv, "o:k:it:")) != -1) {
		switch (opt) {
		case 'o': orphans = atoi(optarg); break;
		case 'k': kids = atoi(optarg); break;
		case 'i': signal(SIGTERM, SIG_IGN); break;
		case 't': seconds = atol(optarg); break;
		default:
			fprintf(stderr, "usage: linger [-o ORPHANS] [-k KIDS] [-i] [-t SECONDS]\n");
			return 2;
		}
	}

	for (int i = 0; i < orphans; i++) {
		int rc = zk_leak_orphan();
		if (rc != 0)
			return rc;
	}

	int worker_pid = 0;
	if (kids > 0) {
		int fds[2];
		if (pipe(fds) != 0) {
			perror("pipe");
			return 2;
		}
		worker_pid = fork();
		if (worker_pid == 0) {
			close(fds[0]);
			char n[16], fd[16];
			snprintf(n, sizeof n, "%d", kids);
			snprintf(fd, sizeof fd, "%d", fds[1]);
			execl("/proc/self/exe", "sloppy-worker", "--worker", n, fd, (char *)NULL);
			perror("exec");
			_exit(127);
		}
		close(fds[1]);
		char c;
		if (read(fds[0], &c, 1) != 1) {
			fprintf(stderr, "linger: the worker did not start\n");
			return 3;
		}
		close(fds[0]);
	}

	/* Ready once no orphan is still running: only the worker (and the sentinel) live on. */
	long end = zk_now_ms() + 5000;
	while (zk_children().live > (worker_pid > 0) && zk_now_ms() < end)
		zk_sleep_ms(2);
	printf("ready\n");
	fflush(stdout);

	long stop = zk_now_ms() + seconds * 1000;
	while (zk_now_ms() < stop)
		zk_sleep_ms(100);
	return 0;
}
