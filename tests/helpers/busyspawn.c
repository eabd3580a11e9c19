/* busyspawn N [orphan|storm]: a PID 1 busy with children of its own: N times fork, execve
 * /bin/true and waitpid. Prints one line:
 *   children=N bad=B wakes=W loop_ms=L [adopted=A orphan_ms=M] [zombies=Z]
 * bad counts children whose status was not exit 0; wakes is how often the shim's reaper
 * thread (named "zreap") was switched out voluntarily during the loop, -1 if there is none;
 * loop_ms how long the loop took.
 * orphan: ORPHANS times, spread over the loop, an own child forks a grandchild and exits,
 * leaving it to PID 1 alive; once the app holds a pidfd of it, it is told to exit, and the
 * loop goes on, and the next is adopted once it is gone; adopted counts them. orphan_ms is the
 * longest of them from that moment until the grandchild is gone (reaped), -1 if one is not
 * gone a second after the loop ends.
 * storm: each of the N children instead forks a grandchild and both exit at once (an orphan
 * an iteration, zk_leak_orphan); zombies is how many are left once the count settles. */
#include "zkit.h"
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define ORPHANS 5

extern char **environ;

/* The voluntary context switches of our thread named "zreap"; -1 if there is none. */
static long reaper_switches(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long n = -1;
	char comm[32];
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		long v = zk_thread_switches(e->d_name, comm);
		if (strcmp(comm, "zreap") == 0)
			n = v;
	}
	if (d)
		closedir(d);
	return n;
}

static int spawn_true(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "true", NULL };
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* Leaves a live grandchild to PID 1 that exits when go's write end closes; its pidfd. */
static int adopt_live_orphan(int *go_write)
{
	int pids[2], go[2];
	if (pipe(pids) != 0 || pipe(go) != 0)
		return -1;
	pid_t mid = fork();
	if (mid == 0) {
		pid_t gc = fork();
		if (gc == 0) {
			close(go[1]);
			char c;
			while (read(go[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		(void)!write(pids[1], &gc, sizeof gc);
		_exit(0);
	}
	close(go[0]);
	pid_t gc = -1;
	if (mid < 0 || read(pids[0], &gc, sizeof gc) != sizeof gc || waitpid(mid, NULL, 0) != mid)
		return -1;
	close(pids[0]);
	close(pids[1]);
	*go_write = go[1];
	return (int)syscall(SYS_pidfd_open, gc, 0);
}

static bool gone(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) != 0 && errno == ESRCH;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	bool orphan = argc > 2 && strcmp(argv[2], "orphan") == 0;
	bool storm = argc > 2 && strcmp(argv[2], "storm") == 0;
	int bad = 0, pidfd = -1, adopted = 0;
	long told = 0, orphan_ms = 0;
	for (int i = 0; i < 20; i++)
		bad += spawn_true();
	long before = reaper_switches(), loop_start = zk_now_ms();
	for (int i = 0; i < n; i++) {
		/* One orphan at a time, the next once the last is gone. */
		if (orphan && pidfd < 0 && adopted < ORPHANS && i >= n * (adopted + 1) / (ORPHANS + 1)) {
			int go = -1;
			if ((pidfd = adopt_live_orphan(&go)) < 0) {
				perror("busyspawn: orphan");
				return 2;
			}
			adopted++;
			told = zk_now_ms();
			close(go);
		}
		bad += storm ? zk_leak_orphan() != 0 : spawn_true();
		if (pidfd >= 0 && gone(pidfd)) {
			long ms = zk_now_ms() - told;
			orphan_ms = ms > orphan_ms ? ms : orphan_ms;
			close(pidfd);
			pidfd = -1;
		}
	}
	long after = reaper_switches();
	long loop_end = zk_now_ms();
	while (pidfd >= 0 && zk_now_ms() - loop_end < 1000) {
		zk_sleep_ms(1);
		if (gone(pidfd)) {
			long ms = zk_now_ms() - told;
			orphan_ms = ms > orphan_ms ? ms : orphan_ms;
			close(pidfd);
			pidfd = -1;
		}
	}
	if (pidfd >= 0)
		orphan_ms = -1;
	printf("children=%d bad=%d wakes=%ld loop_ms=%ld", n, bad, before < 0 ? -1 : after - before,
	       loop_end - loop_start);
	if (orphan)
		printf(" adopted=%d orphan_ms=%ld", adopted, orphan_ms);
	if (storm)
		printf(" zombies=%d", zk_settle(3000));
	printf("\n");
	return 0;
}
