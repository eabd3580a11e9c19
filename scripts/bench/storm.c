/* storm: an app that makes orphans, run unchanged under every init (measurements 3 and 4).
 *
 * usage: storm N          the storm: N double-forked orphans, as fast as it can
 *        storm -t N       the same with the sampler (below) a second thread of the app
 *        storm -l M       reap latency: M orphans, one at a time
 *
 * The same binary with the same arguments runs as PID 1 of a fresh PID namespace (no reaper,
 * or libzreap preloaded) or as the child of an init (tini, dumb-init, catatonit as PID 1).
 * It works out which from getpid() and its own threads, and prints one line of key=value:
 *   reaper=none|zreap|<comm of PID 1>   who reaps the orphans
 *
 * Storm. For each orphan a middle child forks a grandchild and exits at once; the app waits
 * for the middle (its own child) only. Each grandchild names itself "orphan", counts itself
 * in shared memory and exits at once, so it dies an orphan of PID 1 (or before its parent,
 * and then it is handed to PID 1 as a zombie). A sampler scans /proc while this runs and
 * counts the zombies named "orphan": the backlog PID 1 has not reaped yet. The sampler is a
 * process of its own, forked before the storm, so that the app forks from a single-threaded
 * address space as an app that only spawns does: a second thread of the app running on
 * another CPU makes each of its forks interrupt that CPU to flush the TLB (the fork has
 * write-protected the memory they share), which weighs on an in-process reaper whose work
 * shifts when that thread runs. With -t it is that second thread, for a two-threaded app.
 * Fields:
 *   n, created_ms (all made and our own children collected), wall_ms (until the last orphan
 *   is gone; with no reaper, until the last has exited), backlog_max, samples (scans made),
 *   reaper_cpu_ms and reaper_vcsw, reaper_ivcsw: CPU time (schedstat) and context switches of
 *   the reaping side over the run (the "zreap" thread, or PID 1), app_cpu_ms and app_vcsw:
 *   the same for our main thread (which forks and waits), app_vmas: the mappings in our
 *   address space (each fork copies them all), timeout=1 if it did not finish.
 * A scan reads /proc/PID/stat of every process while there are at most EXACT_MAX of them;
 * beyond that (only a large backlog gets there) it counts the pid entries and subtracts the
 * live ones it knows of, so that the sampler stays cheap: backlog_exact=0 then.
 *
 * Latency. Each grandchild waits on a pipe until its middle is gone and the app holds a
 * pidfd of it, then stamps CLOCK_MONOTONIC in shared memory and exits; the app polls the
 * pidfd with pidfd_send_signal(0) until the process is gone (ESRCH: reaped). Fields:
 *   lat_n, lat_p50_us, lat_p90_us, lat_p99_us, lat_max_us (exit stamp to gone).
 * With no reaper nothing would ever be reaped: it prints reaper=none and skips.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "zreap_tid.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define EXACT_MAX 1024
#define DEADLINE_MS 120000

struct shared {
	atomic_long started, exited; /* grandchildren that began, that are about to _exit */
	atomic_int gc_pid;           /* latency: the grandchild of the current round */
	atomic_llong t_exit_ns;      /* latency: its stamp just before _exit */
	/* The storm's sampler, which may be another process: */
	atomic_int middles_inflight; /* 0 or 1: a middle made and not yet collected */
	atomic_int storm_done;       /* the app made them all */
	int backlog_max, backlog_exact, samples;
	long long t_end;
};
static struct shared *sh;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long long ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- who reaps ---- */

static int reaper_tid;     /* the shim's "zreap" thread, when it runs in this process */
static char reaper_name[32];

/* The reaper's tid; -1 while a second thread runs that is not named yet. */
static int find_zreap(void)
{
	int threads;
	int found = zreap_tid(&threads);
	return found ? found : threads > 1 ? -1 : 0;
}

static void who_reaps(void)
{
	if (getpid() != 1) {
		FILE *f = fopen("/proc/1/comm", "r");
		if (!f || !fgets(reaper_name, sizeof reaper_name, f))
			strcpy(reaper_name, "pid1");
		if (f)
			fclose(f);
		reaper_name[strcspn(reaper_name, "\n")] = 0;
		return;
	}
	/* The shim starts its thread in its constructor; it names itself soon after. */
	long long until = now_ns() + 1000000000LL;
	int tid;
	while ((tid = find_zreap()) < 0 && now_ns() < until)
		sleep_ns(1000000);
	reaper_tid = tid > 0 ? tid : 0;
	strcpy(reaper_name, reaper_tid ? "zreap" : "none");
}

/* CPU ms (schedstat: sum_exec_runtime) and context switches of the reaping side. */
struct usage { double cpu_ms; long vcsw, ivcsw; };

static struct usage usage_of(const char *base)
{
	struct usage u = { 0, 0, 0 };
	char path[96], line[256];
	snprintf(path, sizeof path, "%s/schedstat", base);
	FILE *f = fopen(path, "r");
	unsigned long long ns = 0;
	if (f && fscanf(f, "%llu", &ns) == 1)
		u.cpu_ms = (double)ns / 1e6;
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "%s/status", base);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
			u.vcsw = atol(line + 24);
		else if (strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0)
			u.ivcsw = atol(line + 27);
	}
	if (f)
		fclose(f);
	return u;
}

static struct usage reaper_usage(void)
{
	char base[64];
	struct usage none = { 0, 0, 0 };
	if (strcmp(reaper_name, "none") == 0)
		return none;
	if (reaper_tid)
		snprintf(base, sizeof base, "/proc/self/task/%d", reaper_tid);
	else
		snprintf(base, sizeof base, "/proc/1");
	return usage_of(base);
}

/* The number of mappings (VMAs) in our address space. */
static int count_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;
	while (f && (c = getc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* The app's main thread (the one that forks and waits). */
static struct usage app_usage(void)
{
	char base[64];
	snprintf(base, sizeof base, "/proc/self/task/%d", getpid());
	return usage_of(base);
}

/* ---- the sampler ---- */

static int procfd;
static int pids_at_start; /* processes in the namespace before the storm, the sampler's included */

struct scan { int pids, zombies, alive; int exact; };

/* Counts the processes named "orphan" in the namespace: zombies and still alive. */
static struct scan scan_proc(void)
{
	static char buf[1 << 16];
	static int pids[1 << 16];
	struct scan s = { 0, 0, 0, 1 };
	lseek(procfd, 0, SEEK_SET);
	long n;
	while ((n = syscall(SYS_getdents64, procfd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct { unsigned long long ino; long long off; unsigned short reclen;
				 unsigned char type; char name[]; } *d = (void *)(buf + off);
			off += d->reclen;
			if (d->name[0] >= '0' && d->name[0] <= '9' && s.pids < (int)(sizeof pids / sizeof *pids))
				pids[s.pids++] = atoi(d->name);
		}
	}
	if (s.pids > EXACT_MAX) {
		long alive = atomic_load(&sh->started) - atomic_load(&sh->exited);
		s.exact = 0;
		s.alive = alive > 0 ? (int)alive : 0;
		s.zombies = s.pids - pids_at_start - atomic_load(&sh->middles_inflight) - s.alive;
		if (s.zombies < 0)
			s.zombies = 0;
		return s;
	}
	for (int i = 0; i < s.pids; i++) {
		char path[32], st[256];
		snprintf(path, sizeof path, "%d/stat", pids[i]);
		int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone meanwhile */
		ssize_t k = read(fd, st, sizeof st - 1);
		close(fd);
		if (k <= 0)
			continue;
		st[k] = 0;
		char *l = strchr(st, '('), *r = strrchr(st, ')');
		if (!l || !r || r - l - 1 != 6 || memcmp(l + 1, "orphan", 6) != 0)
			continue;
		if (r[2] == 'Z')
			s.zombies++;
		else
			s.alive++;
	}
	return s;
}

static long n_orphans;

static void *sampler(void *arg)
{
	(void)arg;
	long long deadline = now_ns() + (long long)DEADLINE_MS * 1000000LL;
	for (;;) {
		long long t0 = now_ns();
		struct scan s = scan_proc();
		long long t1 = now_ns();
		sh->samples++;
		if (s.zombies > sh->backlog_max)
			sh->backlog_max = s.zombies, sh->backlog_exact = s.exact;
		if (atomic_load(&sh->storm_done) && atomic_load(&sh->exited) == n_orphans) {
			/* All exited; with a reaper, wait until they are all gone too. */
			if (strcmp(reaper_name, "none") == 0) {
				sh->t_end = t1;
				return NULL;
			}
			if (s.exact && s.zombies == 0 && s.alive == 0) {
				sh->t_end = t1;
				return NULL;
			}
		}
		if (t1 > deadline)
			return NULL;
		/* At least 1 ms apart while the storm runs, 100 us once it is over (to see the end
		 * sharply), and never more than 1/3 of a CPU, 1/11 when the backlog is large. */
		long long cost = (t1 - t0) * (s.exact ? 2 : 10);
		long long gap = atomic_load(&sh->storm_done) ? 100000 : 1000000;
		sleep_ns(gap > cost ? gap : cost);
	}
}

/* Starts the sampler: a thread of ours, or a child process that shares only *sh. */
static pthread_t sampler_thread;
static pid_t sampler_pid;

static int start_sampler(int threaded)
{
	if (threaded) {
		if (pthread_create(&sampler_thread, NULL, sampler, NULL) == 0)
			return 0;
		fprintf(stderr, "storm: pthread_create failed\n");
		return 2;
	}
	sampler_pid = fork();
	if (sampler_pid == 0) {
		prctl(PR_SET_NAME, "sampler");
		sampler(NULL);
		_exit(0);
	}
	if (sampler_pid > 0)
		return 0;
	perror("storm: fork (sampler)");
	return 2;
}

static int join_sampler(int threaded)
{
	int st;
	if (threaded)
		return pthread_join(sampler_thread, NULL) == 0 ? 0 : 2;
	return waitpid(sampler_pid, &st, 0) == sampler_pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 2;
}

static int storm(long n, int threaded)
{
	n_orphans = n;
	sh->backlog_exact = 1;
	pids_at_start = scan_proc().pids + !threaded;
	struct usage u0 = reaper_usage(), a0 = app_usage();
	int vmas = count_vmas();
	long long t0 = now_ns();
	if (start_sampler(threaded) != 0)
		return 2;
	for (long i = 0; i < n; i++) {
		atomic_store(&sh->middles_inflight, 1);
		pid_t mid = fork();
		if (mid < 0) {
			perror("storm: fork");
			_exit(2);
		}
		if (mid == 0) {
			pid_t g = fork();
			if (g == 0) {
				prctl(PR_SET_NAME, "orphan");
				atomic_fetch_add(&sh->started, 1);
				atomic_fetch_add(&sh->exited, 1);
				_exit(0);
			}
			_exit(g < 0 ? 1 : 0);
		}
		int st;
		if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "storm: middle %d: bad wait (status 0x%x)\n", mid, st);
			_exit(3);
		}
		atomic_store(&sh->middles_inflight, 0);
	}
	long long t_created = now_ns();
	atomic_store(&sh->storm_done, 1);
	if (join_sampler(threaded) != 0) {
		fprintf(stderr, "storm: the sampler failed\n");
		return 2;
	}
	struct usage u1 = reaper_usage(), a1 = app_usage();
	long long t_end = sh->t_end;
	int timeout = t_end == 0;
	printf("reaper=%s n=%ld created_ms=%.1f wall_ms=%.1f backlog_max=%d backlog_exact=%d "
	       "samples=%d reaper_cpu_ms=%.1f reaper_vcsw=%ld reaper_ivcsw=%ld app_cpu_ms=%.1f app_vcsw=%ld app_vmas=%d timeout=%d\n",
	       reaper_name, n, (double)(t_created - t0) / 1e6,
	       timeout ? -1.0 : (double)(t_end - t0) / 1e6, sh->backlog_max, sh->backlog_exact, sh->samples,
	       u1.cpu_ms - u0.cpu_ms, u1.vcsw - u0.vcsw, u1.ivcsw - u0.ivcsw, a1.cpu_ms - a0.cpu_ms, a1.vcsw - a0.vcsw, vmas, timeout);
	return timeout;
}

/* ---- latency ---- */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static int latency(int m)
{
	if (strcmp(reaper_name, "none") == 0) {
		printf("reaper=none lat_n=0\n");
		return 0;
	}
	long long *lat = calloc((size_t)m, sizeof *lat);
	long long deadline = now_ns() + (long long)DEADLINE_MS * 1000000LL;
	for (int i = 0; i < m; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) != 0) {
			perror("storm: pipe");
			return 2;
		}
		pid_t mid = fork();
		if (mid == 0) {
			pid_t g = fork();
			if (g == 0) {
				char c;
				close(p[1]);
				prctl(PR_SET_NAME, "orphan");
				while (read(p[0], &c, 1) < 0 && errno == EINTR)
					;
				atomic_store(&sh->t_exit_ns, now_ns());
				_exit(0);
			}
			atomic_store(&sh->gc_pid, g);
			_exit(g < 0 ? 1 : 0);
		}
		close(p[0]);
		int st;
		if (mid < 0 || waitpid(mid, &st, 0) != mid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "storm: latency middle failed\n");
			return 3;
		}
		int pfd = (int)syscall(SYS_pidfd_open, atomic_load(&sh->gc_pid), 0);
		if (pfd < 0) {
			perror("storm: pidfd_open");
			return 3;
		}
		sleep_ns(500000); /* let every side settle: the reaper is asleep again */
		close(p[1]);      /* the grandchild reads EOF, stamps and exits */
		/* Spin briefly, then yield, then sleep in 20 us steps: a spinning poller must not
		 * take the CPU the exit and the reaper need on a busy machine. */
		long long t_spin = now_ns();
		while (syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) == 0) {
			long long t = now_ns();
			if (t > deadline) {
				printf("reaper=%s lat_n=%d timeout=1\n", reaper_name, i);
				return 1;
			}
			if (t - t_spin > 2000000)
				sleep_ns(20000);
			else if (t - t_spin > 20000)
				sched_yield();
		}
		long long t_gone = now_ns();
		close(pfd);
		lat[i] = t_gone - atomic_load(&sh->t_exit_ns);
	}
	qsort(lat, (size_t)m, sizeof *lat, cmp_ll);
#define PCT(q) ((double)lat[(int)((double)(m - 1) * (q) + 0.5)] / 1e3)
	printf("reaper=%s lat_n=%d lat_p50_us=%.1f lat_p90_us=%.1f lat_p99_us=%.1f lat_max_us=%.1f "
	       "timeout=0\n",
	       reaper_name, m, PCT(0.5), PCT(0.9), PCT(0.99), PCT(1.0));
	return 0;
}

int main(int argc, char **argv)
{
	int lat_mode = argc > 2 && strcmp(argv[1], "-l") == 0;
	int threaded = argc > 2 && strcmp(argv[1], "-t") == 0;
	long n = atol(argv[argc - 1]);
	if (argc < 2 || n <= 0 || (argc > 2 && !lat_mode && !threaded)) {
		fprintf(stderr, "usage: storm N | storm -t N | storm -l M\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sh == MAP_FAILED || procfd < 0) {
		perror("storm: setup");
		return 2;
	}
	who_reaps();
	return lat_mode ? latency((int)n) : storm(n, threaded);
}
