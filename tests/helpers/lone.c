/* lone: an orphan adopted while PID 1 has no child of its own still gets reaped.
 * usage: lone inside | outside | outside-wall
 *   inside   fork a child that forks an orphan named "zr-orphan" (it sleeps 300 ms, then
 *            exits 7) and exits; wait for that child only, so no own child is left; then
 *            watch the orphan. Prints "orphan=PID", "sentinels=N" (the shim's sentinel
 *            children), "mine=0|1" (the orphan is now listed as our child), then
 *            "zombie_seen=0|1 reaped=0|1 gone_ms=T" (T: ms from the end of our wait until
 *            the orphan was gone).
 *   outside  make no child at all; print "sentinels=N" and "echild=0|1" (waitpid(-1,
 *            WNOHANG) fails with ECHILD: the sentinel is invisible to the app), then
 *            "ready"; then wait (up to 10 s) for some process outside to leave us an orphan,
 *            and watch it: "adopted=PID comm=C zombie_seen=0|1 reaped=0|1 latency_ms=L"
 *            (L: ms from first seeing it a zombie until it was gone: 0 if it was never
 *            seen as one, -1 if it was not gone), then "echild_after=0|1".
 *   outside-wall  the same, but first wait as strace -f does, for any child with __WALL
 *            (and WNOHANG), which would see the shim's sentinel: after "sentinels=N" it
 *            prints "wall_echild=0|1" (that wait failed with ECHILD) and "sentinels_after=N",
 *            and at the end "sentinels_end=N".
 * "Reaped" means gone within 1800 ms of when we started watching it. */
#include "probe.h"

static int echild_now(void)
{
	int st;
	errno = 0;
	return waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD;
}

/* Watches pid until gone or until deadline_ms; fills when it was first seen a zombie, and
 * (if comm) its last command name seen. */
static int watch(int pid, long deadline_ms, long *zombie_at, long *gone_at, char *comm)
{
	long end = zk_now_ms() + deadline_ms;
	*zombie_at = -1;
	for (;;) {
		char name[32] = "";
		char st = zk_proc_state(pid, name, sizeof name);
		if (st && comm)
			memcpy(comm, name, sizeof name);
		long now = zk_now_ms();
		if (st == 0) {
			*gone_at = now;
			return 1;
		}
		if (st == 'Z' && *zombie_at < 0)
			*zombie_at = now;
		if (now > end)
			return 0;
		zk_sleep_ms(1);
	}
}

/* The census of our children once the shim (if a reaper thread runs, i.e. we have a second
 * thread) has started its sentinel and the sentinel has renamed itself (it is called "zreap"
 * until then), and at most max_live other live children remain; waits up to 2 s. */
static struct zk_census settled_census(int max_live)
{
	char threads[64] = "";
	pr_status_line(0, "Threads:", threads, sizeof threads);
	int shim = atoi(threads + strlen("Threads:")) >= 2;
	long end = zk_now_ms() + 2000;
	struct zk_census c;
	while (c = zk_children(), ((shim && c.sentinels == 0) || c.live > max_live) && zk_now_ms() < end)
		zk_sleep_ms(1);
	return c;
}

static int inside(void)
{
	int fds[2];
	if (pipe(fds) != 0)
		return 2;
	pid_t mid = fork();
	if (mid < 0)
		return 2;
	if (mid == 0) {
		pid_t o = fork();
		if (o == 0) {
			prctl(PR_SET_NAME, "zr-orphan");
			zk_sleep_ms(300);
			_exit(7);
		}
		pr_write_all(fds[1], &o, sizeof o);
		_exit(0);
	}
	int st;
	if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st)) {
		fprintf(stderr, "lone: own child %d: bad wait\n", mid);
		return 3;
	}
	long waited = zk_now_ms();
	pid_t o;
	if (pr_read_all(fds[0], &o, sizeof o) != 0)
		return 3;
	struct zk_census c = settled_census(1);
	printf("orphan=%d\nsentinels=%d\nmine=%d\n", o, c.sentinels, pr_is_my_child(o));
	fflush(stdout);
	long zat, gat = 0;
	int gone = watch(o, 1800, &zat, &gat, NULL);
	printf("zombie_seen=%d reaped=%d gone_ms=%ld\n", zat >= 0, gone, gone ? gat - waited : -1);
	return 0;
}

static int outside(int wall)
{
	struct zk_census c = settled_census(0);
	printf("sentinels=%d\nlive=%d zombies=%d\nechild=%d\n", c.sentinels, c.live, c.zombies,
	       echild_now());
	if (wall) {
		int st;
		errno = 0;
		int echild = waitpid(-1, &st, __WALL | WNOHANG) == -1 && errno == ECHILD;
		printf("wall_echild=%d\nsentinels_after=%d\n", echild, zk_children().sentinels);
	}
	printf("ready\n");
	fflush(stdout);
	long end = zk_now_ms() + 10000;
	int pid = 0;
	while ((pid = pr_first_foreign_child()) == 0 && zk_now_ms() < end)
		zk_sleep_ms(1);
	if (pid == 0) {
		printf("adopted=0\n");
		return 0;
	}
	char comm[32] = "?";
	long zat, gat = 0;
	int gone = watch(pid, 1800, &zat, &gat, comm);
	printf("adopted=%d comm=%s zombie_seen=%d reaped=%d latency_ms=%ld\n", pid, comm, zat >= 0,
	       gone, gone ? (zat >= 0 ? gat - zat : 0) : -1);
	printf("echild_after=%d\n", echild_now());
	if (wall)
		printf("sentinels_end=%d\n", zk_children().sentinels);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "inside") == 0)
		return inside();
	if (argc > 1 && strncmp(argv[1], "outside", 7) == 0)
		return outside(strcmp(argv[1], "outside-wall") == 0);
	fprintf(stderr, "usage: lone inside|outside|outside-wall\n");
	return 2;
}
