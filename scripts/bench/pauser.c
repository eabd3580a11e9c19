/* pauser: the app of measurements 5 (stop) and 6 (idle), run unchanged under every init.
 *
 * usage: pauser N
 *   Forks N children that only pause, then writes one byte ("ready") to the descriptor named
 *   by the environment variable BENCH_READY_FD (set by launch.c), closes it, and pauses for
 *   ever. Neither it nor its children install any signal handler: every disposition stays
 *   SIG_DFL, so SIGTERM ends a child at once (default action), and ends the app itself too
 *   unless it is a namespace's PID 1, where the kernel drops a signal that has no handler.
 *   Whether PID 1 stops on SIGTERM is therefore up to what runs as PID 1: nothing (the app
 *   ignores it), libzreap (which installs its handler where the app left SIG_DFL), or an init
 *   in front of the app.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc == 2 ? atoi(argv[1]) : -1;
	const char *fdname = getenv("BENCH_READY_FD");
	int fd = fdname ? atoi(fdname) : -1;
	if (n < 0 || fd < 0) {
		fprintf(stderr, "usage: BENCH_READY_FD=FD pauser N\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("pauser: fork");
			return 1;
		}
		if (pid == 0) {
			close(fd);
			for (;;)
				pause();
		}
	}
	if (write(fd, "r", 1) != 1) {
		perror("pauser: write BENCH_READY_FD");
		return 1;
	}
	close(fd);
	for (;;)
		pause();
}
