/* probe.h: helpers shared by the core.bats test programs (on top of zkit.h). */
#ifndef PROBE_H
#define PROBE_H
#include "zkit.h"
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

/* Microseconds of CLOCK_MONOTONIC. */
static inline long long pr_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Copies the line of /proc/PID/status (pid 0: self) starting with key (e.g. "SigCgt:"),
 * without its newline, into out; false if absent. */
static inline int pr_status_line(int pid, const char *key, char *out, size_t len)
{
	char path[64];
	if (pid == 0)
		snprintf(path, sizeof path, "/proc/self/status");
	else
		snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[512];
	int found = 0;
	size_t klen = strlen(key);
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, key, klen) == 0) {
			size_t n = strcspn(line, "\n");
			if (n > len - 1)
				n = len - 1;
			memcpy(out, line, n);
			out[n] = 0;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static inline int pr_subreaper(void)
{
	int v = -1;
	if (prctl(PR_GET_CHILD_SUBREAPER, &v) != 0)
		return -1;
	return v;
}

/* Prints Threads, SigCgt, SigIgn, SigBlk of this process (each prefixed) and flushes. */
static inline void pr_print_status(const char *prefix)
{
	static const char *const keys[] = { "Threads:", "SigCgt:", "SigIgn:", "SigBlk:" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char v[256] = "?";
		if (!pr_status_line(0, keys[i], v, sizeof v))
			snprintf(v, sizeof v, "%s missing", keys[i]);
		printf("%s%s\n", prefix, v);
	}
	fflush(stdout);
}

static inline int pr_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static inline int pr_read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Polls every 1 ms until pid no longer exists (1) or deadline_ms passes (0). */
static inline int pr_wait_gone(int pid, long deadline_ms)
{
	long end = zk_now_ms() + deadline_ms;
	for (;;) {
		if (zk_proc_state(pid, NULL, 0) == 0)
			return 1;
		if (zk_now_ms() > end)
			return 0;
		zk_sleep_ms(1);
	}
}

static inline void pr_match_child(int pid, void *arg)
{
	int *want = arg;
	if (pid == want[0])
		want[1] = 1;
}

/* True if pid is listed among this process's children (any thread). */
static inline int pr_is_my_child(int pid)
{
	int want[2] = { pid, 0 };
	zk_each_child(pr_match_child, want);
	return want[1];
}

/* The first child of this process that is not the shim's sentinel, or 0. */
static inline int pr_first_foreign_child(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0;
	while (!found && d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
		FILE *f = fopen(path, "r");
		int c;
		while (!found && f && fscanf(f, "%d", &c) == 1) {
			char comm[32] = "";
			char st = zk_proc_state(c, comm, sizeof comm);
			if (st && (st == 'Z' || strcmp(comm, "zreap-sentinel") != 0))
				found = c;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}
#endif
