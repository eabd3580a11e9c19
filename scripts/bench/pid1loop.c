/* pid1loop: the "own work" of a PID-1 app, for scripts/bench/run (measurement 1).
 *
 * usage: pid1loop [-c] N
 *   Runs fork + execve("/bin/true") + waitpid N times (after a short warm-up) and prints one
 *   line:  pid=P zreap=Z iters=N secs=S rate=R cpu_us=U reaper_cpu_ms=C reaper_vcsw=V
 *   pid is our pid (1 when run as the init of a fresh PID namespace), zreap is 1 when the
 *   shim's reaper thread (a thread named "zreap") runs in this process, rate is iterations/s,
 *   cpu_us the CPU time (user + system, ours and our children's) per iteration, and the
 *   reaper_* fields are that thread's CPU time and voluntary context switches over the timed
 *   loop (0 without the shim).
 *   -c (a diagnostic): the child drops LD_PRELOAD before its exec, so that /bin/true does not
 *   load the library and only the cost inside the PID-1 process remains.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "zreap_tid.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (ns, from schedstat) and voluntary context switches of thread tid. */
static void thread_usage(int tid, double *cpu_ms, long *vcsw)
{
	char path[96], line[256];
	*cpu_ms = 0;
	*vcsw = 0;
	if (tid == 0)
		return;
	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
	FILE *f = fopen(path, "r");
	unsigned long long ns = 0;
	if (f && fscanf(f, "%llu", &ns) == 1)
		*cpu_ms = (double)ns / 1e6;
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
			*vcsw = atol(line + 24);
	if (f)
		fclose(f);
}

/* CPU seconds used so far by us and by the children we have waited for. */
static double cpu_s(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			kids.ru_stime.tv_sec) +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			kids.ru_stime.tv_usec) / 1e6;
}

extern char **environ;
static char **child_env; /* environ, or with -c environ minus LD_PRELOAD (built before forking) */

static void one(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("pid1loop: fork");
		exit(2);
	}
	if (pid == 0) {
		char *argv[] = { "true", NULL };
		execve("/bin/true", argv, child_env);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pid1loop: child %d: bad wait\n", pid);
		exit(3);
	}
}

int main(int argc, char **argv)
{
	child_env = environ;
	if (argc > 1 && strcmp(argv[1], "-c") == 0) {
		size_t n = 0, k = 0;
		while (environ[n])
			n++;
		child_env = calloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
				child_env[k++] = environ[i];
		argc--, argv++;
	}
	long n = argc > 1 ? atol(argv[1]) : 1000;
	for (int i = 0; i < 20; i++)
		one();
	int tid = zreap_tid(NULL);
	double cpu0, cpu1;
	long v0, v1;
	thread_usage(tid, &cpu0, &v0);
	double c0 = cpu_s(), t0 = now_s();
	for (long i = 0; i < n; i++)
		one();
	double secs = now_s() - t0, cpu = cpu_s() - c0;
	thread_usage(tid, &cpu1, &v1);
	printf("pid=%d zreap=%d iters=%ld secs=%.4f rate=%.1f cpu_us=%.1f reaper_cpu_ms=%.1f "
	       "reaper_vcsw=%ld\n",
	       getpid(), tid != 0, n, secs, (double)n / secs, cpu * 1e6 / (double)n, cpu1 - cpu0,
	       v1 - v0);
	return 0;
}
