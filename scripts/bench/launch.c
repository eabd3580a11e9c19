/* launch: a container runtime in miniature, for measurements 5 (stop) and 6 (idle).
 *
 * usage: launch stop WAIT_MS CMD [ARG...]
 *        launch idle SECS CMD [ARG...]
 *
 * As a runtime does, it starts CMD as PID 1 of a fresh PID namespace and stays outside it:
 * unshare(CLONE_NEWPID), then fork. The child (PID 1 of the new namespace) gets a mount
 * namespace of its own with a fresh /proc (the shim reads /proc, and must see its own
 * namespace's pids there), every signal disposition back to SIG_DFL and an empty signal mask
 * (a shell may have ignored SIGINT and SIGQUIT for a background job; a runtime resets them),
 * PR_SET_PDEATHSIG SIGKILL (if launch is killed, the namespace goes with it), and the write
 * end of a pipe, named by BENCH_READY_FD; then it execs CMD. Every init passes both the
 * variable and the descriptor on to the app (pauser.c), which writes one byte when it has
 * made its children. launch waits for that byte (at most 10 s), lets everything that started
 * settle for SETTLE_MS. The line it prints always begins with init=COMM (PID 1's command
 * name: pauser when the app itself is PID 1) and threads=N (PID 1's threads, from
 * /proc/PID/status).
 *
 * stop: takes CLOCK_MONOTONIC, sends SIGTERM to PID 1 (from outside its namespace, as
 * `docker stop` does), waits for it to exit (polling a pidfd for at most WAIT_MS, then
 * waitpid), and takes CLOCK_MONOTONIC again. The kernel lets a namespace's PID 1 finish
 * exiting only after every other process in the namespace is gone (when PID 1 dies it
 * SIGKILLs them and waits for them), so the end of waitpid is when a runtime sees the
 * container stopped. Adds:
 *   stopped=1 stop_us=T status=0xS exit=CODE|signal=SIG   the raw wait status, decoded
 * If PID 1 has not exited after WAIT_MS: stopped=0, launch sends it SIGKILL, and status and
 * exit|signal are those of that death.
 * Before the SIGTERM, launch reads nothing but /proc/PID/comm and /proc/PID/status: no
 * census under /proc/PID/task/. Dentries left there make the reap of a multi-threaded PID 1
 * expensive: waitpid's release_task invalidates /proc/PID in every procfs
 * (proc_invalidate_siblings_dcache), and shrink_dcache_parent spins there until PID 1's last
 * thread, woken to exit after its leader, has been scheduled again. With a walk of the task
 * directories first, libzreap's stop (two threads) took several ms longer on a loaded machine.
 *
 * idle: takes a census of the namespace through the host's /proc, from PID 1 down its
 * /proc/PID/task/TID/children, adding to the line:
 *   procs=N        processes in the namespace, PID 1 included
 *   zreap=0|1      PID 1 has a thread named "zreap" (the shim is active)
 *   sentinel=0|1   a process named "zreap-sentinel" is in the namespace
 * and reads, for every thread of every process in the namespace, its voluntary and
 * involuntary context switches (/proc/PID/task/TID/status) and CPU time (schedstat), sleeps
 * SECS, reads them again, then SIGKILLs PID 1. Adds the sums of the differences:
 *   wake=N vcsw=N ivcsw=N cpu_us=N            everything in the namespace (wake = vcsw + ivcsw)
 *   init_wake=N init_cpu_us=N                 the init's share: threads named "zreap" and the
 *                                             process "zreap-sentinel", or all of PID 1 when
 *                                             PID 1 is not the app (tini, dumb-init, catatonit)
 *   tasks_changed=0|1                         1 if a thread appeared or vanished in the window
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define APP_COMM "pauser"
#define READY_TIMEOUT_MS 10000
#define SETTLE_MS 100
#define MAX_TASKS 256

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* ---- the census ---- */

struct task {
	int pid, tid;
	int init_side;
	long vcsw, ivcsw;
	unsigned long long cpu_ns;
};

struct census {
	struct task t[MAX_TASKS];
	int n, procs, threads, zreap, sentinel, overflow;
	char init_comm[32];
};

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int ok = f && fgets(buf, (int)size, f) != NULL;
	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

static void read_usage(struct task *t)
{
	char path[96], line[256];
	t->vcsw = t->ivcsw = 0;
	t->cpu_ns = 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", t->pid, t->tid);
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%llu", &t->cpu_ns) != 1)
		t->cpu_ns = 0;
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", t->pid, t->tid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
			t->vcsw = atol(line + 24);
		else if (strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0)
			t->ivcsw = atol(line + 27);
	}
	if (f)
		fclose(f);
}

/* Adds process PID (host pid), its threads and, recursively, its children. */
static void walk(struct census *c, int pid, int init_pid)
{
	char path[96], comm[32] = "", tcomm[32], kids[4096];
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	if (!read_line(path, comm, sizeof comm))
		return; /* gone meanwhile */
	c->procs++;
	if (pid == init_pid)
		snprintf(c->init_comm, sizeof c->init_comm, "%s", comm);
	int is_sentinel = strcmp(comm, "zreap-sentinel") == 0;
	c->sentinel |= is_sentinel;
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	struct dirent *e;
	int children[512], nchildren = 0;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int tid = atoi(e->d_name);
		snprintf(path, sizeof path, "/proc/%d/task/%d/comm", pid, tid);
		if (!read_line(path, tcomm, sizeof tcomm))
			continue;
		int is_zreap = strcmp(tcomm, "zreap") == 0;
		if (pid == init_pid) {
			c->threads++;
			c->zreap |= is_zreap;
		}
		if (c->n < MAX_TASKS) {
			struct task *t = &c->t[c->n++];
			t->pid = pid;
			t->tid = tid;
			t->init_side = is_zreap || is_sentinel || (pid == init_pid && strcmp(comm, APP_COMM) != 0);
			read_usage(t);
		} else {
			c->overflow = 1;
		}
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, tid);
		FILE *f = fopen(path, "r");
		if (f && fgets(kids, sizeof kids, f)) {
			char *p = kids, *end;
			long k;
			while ((k = strtol(p, &end, 10)) > 0 && end != p && nchildren < 512) {
				children[nchildren++] = (int)k;
				p = end;
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	for (int i = 0; i < nchildren; i++)
		walk(c, children[i], init_pid);
}

static void take_census(struct census *c, int init_pid)
{
	memset(c, 0, sizeof *c);
	strcpy(c->init_comm, "?");
	walk(c, init_pid, init_pid);
}

static void print_census(const struct census *c)
{
	printf("init=%s threads=%d procs=%d zreap=%d sentinel=%d", c->init_comm, c->threads, c->procs,
	       c->zreap, c->sentinel);
}

/* PID 1's command name and thread count, without a look under /proc/PID/task/ (see stop). */
static void print_brief(int pid)
{
	char path[64], comm[32] = "?", line[256];
	int threads = 0;
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	read_line(path, comm, sizeof comm);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Threads:", 8) == 0)
			threads = atoi(line + 8);
	if (f)
		fclose(f);
	printf("init=%s threads=%d", comm, threads);
}

static void print_status(int st)
{
	printf(" status=0x%x", st);
	if (WIFEXITED(st))
		printf(" exit=%d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf(" signal=%d", WTERMSIG(st));
}

/* ---- the namespace ---- */

static int start(char **cmd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		die("launch: pipe2");
	if (unshare(CLONE_NEWPID) != 0)
		die("launch: unshare(CLONE_NEWPID)");
	pid_t pid = fork();
	if (pid < 0)
		die("launch: fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
			perror("launch: a fresh /proc");
			_exit(127);
		}
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		for (int sig = 1; sig < NSIG; sig++)
			sigaction(sig, &dfl, NULL); /* fails harmlessly for SIGKILL, SIGSTOP, libc's own */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		char fd[16];
		snprintf(fd, sizeof fd, "%d", p[1]);
		if (fcntl(p[1], F_SETFD, 0) != 0 || setenv("BENCH_READY_FD", fd, 1) != 0)
			_exit(127);
		execvp(cmd[0], cmd);
		perror("launch: exec");
		_exit(127);
	}
	close(p[1]);
	struct pollfd pf = { p[0], POLLIN, 0 };
	char byte;
	if (poll(&pf, 1, READY_TIMEOUT_MS) != 1 || read(p[0], &byte, 1) != 1) {
		fprintf(stderr, "launch: %s never wrote ready\n", cmd[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		exit(1);
	}
	close(p[0]);
	sleep_ms(SETTLE_MS);
	return pid;
}

static int stop(int pid, long wait_ms)
{
	print_brief(pid);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		perror("launch: pidfd_open");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	int st = 0, stopped;
	long long t0 = now_ns(), t1;
	kill(pid, SIGTERM);
	struct pollfd pf = { pidfd, POLLIN, 0 };
	int r;
	while ((r = poll(&pf, 1, (int)wait_ms)) < 0 && errno == EINTR)
		;
	if (r == 1) {
		waitpid(pid, &st, 0);
		t1 = now_ns();
		stopped = 1;
	} else {
		t1 = now_ns();
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		stopped = 0;
	}
	printf(" stopped=%d stop_us=%.1f", stopped, (double)(t1 - t0) / 1e3);
	print_status(st);
	printf("\n");
	return 0;
}

static int idle(int pid, long secs)
{
	static struct census a, b;
	take_census(&a, pid);
	sleep_ms(secs * 1000);
	take_census(&b, pid);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	long vcsw = 0, ivcsw = 0, init_wake = 0;
	unsigned long long cpu = 0, init_cpu = 0;
	int changed = a.n != b.n || a.overflow || b.overflow;
	for (int i = 0; i < b.n; i++) {
		struct task d = b.t[i];
		int found = 0;
		for (int j = 0; j < a.n && !found; j++) {
			if (a.t[j].tid == d.tid) {
				d.vcsw -= a.t[j].vcsw;
				d.ivcsw -= a.t[j].ivcsw;
				d.cpu_ns -= a.t[j].cpu_ns;
				found = 1;
			}
		}
		changed |= !found;
		vcsw += d.vcsw;
		ivcsw += d.ivcsw;
		cpu += d.cpu_ns;
		if (d.init_side) {
			init_wake += d.vcsw + d.ivcsw;
			init_cpu += d.cpu_ns;
		}
	}
	print_census(&a);
	printf(" secs=%ld wake=%ld vcsw=%ld ivcsw=%ld cpu_us=%.1f init_wake=%ld init_cpu_us=%.1f tasks_changed=%d\n",
	       secs, vcsw + ivcsw, vcsw, ivcsw, (double)cpu / 1e3, init_wake, (double)init_cpu / 1e3, changed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "stop") != 0 && strcmp(argv[1], "idle") != 0)) {
		fprintf(stderr, "usage: launch stop WAIT_MS CMD [ARG...]\n"
				"       launch idle SECS CMD [ARG...]\n");
		return 2;
	}
	long n = atol(argv[2]);
	int pid = start(argv + 3);
	int rc = strcmp(argv[1], "stop") == 0 ? stop(pid, n) : idle(pid, n);
	fflush(stdout);
	return rc;
}
