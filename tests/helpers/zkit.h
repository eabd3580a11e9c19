/* zkit.h: small helpers shared by the test programs (not part of the shim). */
#ifndef ZKIT_H
#define ZKIT_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline long zk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void zk_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* How often thread TID of this process was switched out voluntarily (woke up), and its name
 * in comm (up to 31 bytes); -1 if unknown. */
static inline long zk_thread_switches(const char *tid, char comm[32])
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%.20s/status", tid);
	FILE *f = fopen(path, "r");
	long n = -1;
	comm[0] = '\0';
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "Name:\t%31s", comm) == 1)
			continue;
		sscanf(line, "voluntary_ctxt_switches:\t%ld", &n);
	}
	if (f)
		fclose(f);
	return n;
}

/* State letter and comm of /proc/PID/stat; 0 if gone. */
static inline char zk_proc_state(int pid, char *comm, size_t len)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r)
		return 0;
	if (comm) {
		size_t c = (size_t)(r - l - 1) < len - 1 ? (size_t)(r - l - 1) : len - 1;
		memcpy(comm, l + 1, c);
		comm[c] = 0;
	}
	return r[2];
}

/* Calls fn(pid, arg) for every child of every thread of this process. */
static inline void zk_each_child(void (*fn)(int, void *), void *arg)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
		FILE *f = fopen(path, "r");
		int pid;
		while (f && fscanf(f, "%d", &pid) == 1)
			fn(pid, arg);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

struct zk_census { int zombies, live, sentinels; };

static inline void zk_count_child(int pid, void *arg)
{
	struct zk_census *c = arg;
	char comm[32] = "";
	char st = zk_proc_state(pid, comm, sizeof comm);
	if (st == 'Z')
		c->zombies++;
	else if (strcmp(comm, "zreap-sentinel") == 0)
		c->sentinels++;
	else if (st)
		c->live++;
}

/* Counts this process's children: zombies, live ones, and the shim's sentinel. */
static inline struct zk_census zk_children(void)
{
	struct zk_census c = { 0, 0, 0 };
	zk_each_child(zk_count_child, &c);
	return c;
}

/* How long a zombie count must stay the same to be taken as final: ten times the 100 ms a
 * deferring reaper may nap between looks (shim/reaper.c, DEFER_NAP_MS), so that an orphan
 * that died just after the app's last spawn is not counted on a busy machine. A count of 0
 * returns at once, so only the runs without the shim wait it out. */
#define ZK_STABLE_MS 1000

/* Waits until no child but the sentinel is alive and the zombie count is 0, or has stayed
 * the same for ZK_STABLE_MS; returns the zombie count then. */
static inline int zk_settle(long deadline_ms)
{
	const long stable_ms = ZK_STABLE_MS;
	long start = zk_now_ms(), since = start;
	int last = -1;
	for (;;) {
		struct zk_census c = zk_children();
		long now = zk_now_ms();
		if (c.live == 0 && c.zombies == 0)
			return 0;
		if (c.zombies != last || c.live != 0) {
			last = c.zombies;
			since = now;
		} else if (now - since >= stable_ms) {
			return c.zombies;
		}
		if (now - start > deadline_ms)
			return c.zombies;
		zk_sleep_ms(5);
	}
}
/* Leaks one orphan, as an app that was never written to be an init does: a child forks a
 * grandchild and both exit at once; the child, its own, is waited for, and the grandchild is
 * left to PID 1. 0; 2 if fork failed, 3 if the child's wait went wrong (said on stderr). */
static inline int zk_leak_orphan(void)
{
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
	return 0;
}

#endif
