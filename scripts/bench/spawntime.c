/* spawntime: the inert cost of preloaded libraries in a process that is not PID 1 (measurement 2).
 *
 * usage: spawntime time ROUNDS GROUPS LIBS CMD [ARG...]
 *   LIBS is a colon-separated list of libraries; variant 0 runs CMD without LD_PRELOAD and
 *   variant k with LD_PRELOAD set to the k-th library. Each round spawns CMD GROUPS times per
 *   variant with posix_spawn + wait4, the variants interleaved one spawn each (the order
 *   rotates from group to group, so that no variant always runs first), and prints
 *     round=R v0_us=A v1_us=B ...
 *   the round's median wall time of one spawn (posix_spawn to wait4's return) per variant.
 *
 * usage: spawntime rss RUNS LIBS CMD [ARG...]
 *   Prints per run:  v0_kib=A v1_kib=B ...
 *   the peak RSS (VmHWM) of CMD's own image per variant. It is read from /proc/PID/status at
 *   the PTRACE_EVENT_EXIT stop, while the exiting process still has its memory: wait4's
 *   ru_maxrss would not do, since at execve the kernel folds the high-water mark of the memory
 *   the child had before the exec (a copy of ours after fork, ours itself after posix_spawn's
 *   vfork) into it.
 *
 * usage: spawntime maps RUNS LIBS CMD [ARG...]
 *   As rss, and before each run's line, the RSS of each object mapped at the exit stop:
 *     vV obj=NAME kib=K        (NAME: file name, [anon], [heap], [stack], [page-tables]...)
 *
 * CMD's environment is ours minus any LD_PRELOAD (plus the variant's LD_PRELOAD).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_VARIANTS 8

static char **envs[MAX_VARIANTS];
static int nvar;

/* One environment per variant: ours without LD_PRELOAD, then one per library of libs. */
static void make_envs(char *libs)
{
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **base = calloc(n + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			base[k++] = environ[i];
	envs[nvar++] = base;
	for (char *lib = strtok(libs, ":"); lib && nvar < MAX_VARIANTS; lib = strtok(NULL, ":")) {
		char **e = calloc(k + 2, sizeof(char *));
		memcpy(e, base, k * sizeof(char *));
		e[k] = malloc(strlen(lib) + 16);
		sprintf(e[k], "LD_PRELOAD=%s", lib);
		envs[nvar++] = e;
	}
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long spawn_once(char **argv, char **envp)
{
	long long t0 = now_ns();
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, envp);
	if (err != 0) {
		fprintf(stderr, "spawntime: posix_spawn %s: %s\n", argv[0], strerror(err));
		exit(2);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "spawntime: %s failed (status 0x%x)\n", argv[0], st);
		exit(3);
	}
	return now_ns() - t0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static double median(long long *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_ll);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

static int do_time(int rounds, int groups, char **argv)
{
	long long *t[MAX_VARIANTS];
	for (int v = 0; v < nvar; v++)
		t[v] = calloc((size_t)groups, sizeof **t);
	for (int w = 0; w < 5; w++) /* warm the page cache and the loader */
		for (int v = 0; v < nvar; v++)
			spawn_once(argv, envs[v]);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < groups; i++)
			for (int j = 0; j < nvar; j++) {
				int v = (i + j) % nvar;
				t[v][i] = spawn_once(argv, envs[v]);
			}
		printf("round=%d", r);
		for (int v = 0; v < nvar; v++)
			printf(" v%d_us=%.1f", v, median(t[v], groups) / 1e3);
		printf("\n");
		fflush(stdout);
	}
	return 0;
}

static int show_maps; /* with "maps": print the RSS of each mapped object at the exit stop */

/* Prints "vV obj=NAME kib=K" per object mapped in pid (its mappings' Rss summed). */
static void print_maps(int v, pid_t pid)
{
	char path[64], line[512], names[64][256];
	long kib[64];
	int n = 0, cur = -1;
	snprintf(path, sizeof path, "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char name[256] = "";
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &lo, &hi, name) >= 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (name[0] == 0)
				strcpy(name, "[anon]");
			char *slash = strrchr(name, '/');
			const char *base = slash ? slash + 1 : name;
			for (cur = 0; cur < n && strcmp(names[cur], base) != 0; cur++)
				;
			if (cur == n && n < 64) {
				snprintf(names[n], sizeof names[n], "%s", base);
				kib[n++] = 0;
			}
			if (cur >= 64)
				cur = -1;
		} else if (cur >= 0 && strncmp(line, "Rss:", 4) == 0) {
			kib[cur] += atol(line + 4);
		}
	}
	if (f)
		fclose(f);
	for (int i = 0; i < n; i++)
		printf("v%d obj=%s kib=%ld\n", v, names[i], kib[i]);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmPTE:", 6) == 0)
			printf("v%d obj=[page-tables] kib=%ld\n", v, atol(line + 6));
	if (f)
		fclose(f);
}

/* VmHWM (KiB) of argv's image, read at its exit stop. */
static long peak_rss(int v, char **argv, char **envp)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("spawntime: fork");
		exit(2);
	}
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	int st;
	long hwm = -1;
	/* The exec stop (SIGTRAP), then the exit stop, then the exit itself. */
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
		fprintf(stderr, "spawntime: %s did not stop at its exec\n", argv[0]);
		exit(3);
	}
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	for (;;) {
		if (waitpid(pid, &st, 0) != pid) {
			perror("spawntime: waitpid");
			exit(3);
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		int sig = 0;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			char path[64], line[256];
			snprintf(path, sizeof path, "/proc/%d/status", pid);
			FILE *f = fopen(path, "r");
			while (f && fgets(line, sizeof line, f))
				if (strncmp(line, "VmHWM:", 6) == 0)
					hwm = atol(line + 6);
			if (f)
				fclose(f);
			if (show_maps)
				print_maps(v, pid);
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) != SIGTRAP) {
			sig = WSTOPSIG(st); /* pass real signals on */
		}
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || hwm < 0) {
		fprintf(stderr, "spawntime: %s: no exit stop or failed (status 0x%x)\n", argv[0], st);
		exit(3);
	}
	return hwm;
}

static int do_rss(int runs, char **argv)
{
	for (int r = 0; r < runs; r++) {
		long kib[MAX_VARIANTS];
		for (int v = 0; v < nvar; v++)
			kib[v] = peak_rss(v, argv, envs[v]);
		for (int v = 0; v < nvar; v++)
			printf("%sv%d_kib=%ld", v ? " " : "", v, kib[v]);
		printf("\n");
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "time") == 0) {
		make_envs(argv[4]);
		return do_time(atoi(argv[2]), atoi(argv[3]), argv + 5);
	}
	if (argc >= 5 && strcmp(argv[1], "maps") == 0) {
		make_envs(argv[3]);
		show_maps = 1;
		return do_rss(atoi(argv[2]), argv + 4);
	}
	if (argc >= 5 && strcmp(argv[1], "rss") == 0) {
		make_envs(argv[3]);
		return do_rss(atoi(argv[2]), argv + 4);
	}
	fprintf(stderr, "usage: spawntime time ROUNDS GROUPS LIBS CMD [ARG...]\n"
			"       spawntime rss RUNS LIBS CMD [ARG...]\n"
			"       spawntime maps RUNS LIBS CMD [ARG...]\n");
	return 2;
}
