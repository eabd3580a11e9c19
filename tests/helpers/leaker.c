/* leaker: an app that leaks orphans, as a PID 1 that was never written to be an init.
 * usage: leaker N   - makes N orphans (a child forks a grandchild and exits at once; the
 * grandchild exits too), waits for its own children only, then prints "zombies=K": the
 * zombies left among its children once things are stable. */
#include "zkit.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	for (int i = 0; i < n; i++) {
		pid_t mid = fork();
		if (mid < 0) {
			perror("fork");
			return 2;
		}
		if (mid == 0) {
			if (fork() == 0)
				_exit(0);
			_exit(0);
		}
		int st;
		if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st)) {
			fprintf(stderr, "own child %d: bad wait\n", mid);
			return 3;
		}
	}
	printf("zombies=%d\n", zk_settle(500, 20000));
	return 0;
}
