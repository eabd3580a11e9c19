/* census: what children does this process have right now (after a short settle)?
 * usage: census [SETTLE_MS]
 * Waits until the shim's reaper thread (if any: a second thread) has its sentinel named, then
 * until nothing changes for SETTLE_MS (default 200), and prints each child as
 * "child PID COMM STATE" and then "sentinels=N live=N zombies=N" (zkit's zk_children). */
#include "probe.h"

static void print_child(int pid, void *arg)
{
	(void)arg;
	char comm[32] = "";
	char st = zk_proc_state(pid, comm, sizeof comm);
	printf("child %d %s %c\n", pid, comm, st ? st : '-');
}

static void list(void)
{
	zk_each_child(print_child, NULL);
}

int main(int argc, char **argv)
{
	long settle = argc > 1 ? atol(argv[1]) : 200;
	char threads[64] = "";
	pr_status_line(0, "Threads:", threads, sizeof threads);
	int shim = atoi(threads + strlen("Threads:")) >= 2;
	long end = zk_now_ms() + 2000;
	struct zk_census c = zk_children();
	while (shim && c.sentinels == 0 && zk_now_ms() < end) {
		zk_sleep_ms(1);
		c = zk_children();
	}
	long since = zk_now_ms();
	end = since + 5000;
	while (zk_now_ms() - since < settle && zk_now_ms() < end) {
		zk_sleep_ms(5);
		struct zk_census n = zk_children();
		if (n.sentinels != c.sentinels || n.live != c.live || n.zombies != c.zombies) {
			c = n;
			since = zk_now_ms();
		}
	}
	list();
	printf("sentinels=%d live=%d zombies=%d\n", c.sentinels, c.live, c.zombies);
	return 0;
}
