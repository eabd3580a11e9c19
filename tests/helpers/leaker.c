/* leaker: an app that leaks orphans, as a PID 1 that was never written to be an init.
 * usage: leaker N   - makes N orphans (a child forks a grandchild and exits at once; the
 * grandchild exits too), waits for its own children only, then prints "zombies=K": the
 * zombies left among its children once things are stable. */
#include "zkit.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	for (int i = 0; i < n; i++) {
		int rc = zk_leak_orphan();
		if (rc != 0)
			return rc;
	}
	printf("zombies=%d\n", zk_settle(20000));
	return 0;
}
