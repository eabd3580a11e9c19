/* sigfd MODE N: how an app that does not use a SIGCHLD handler collects its own children.
 *   signalfd: SIGCHLD blocked and read through a signalfd; on each event, waitpid(pid,
 *             WNOHANG) for every child still running (never -1: orphans are not its business).
 *   ignore:   SIGCHLD set to SIG_IGN: the kernel reaps the children and waitpid gives ECHILD.
 *   nocldwait: a SIGCHLD handler with SA_NOCLDWAIT: the same, and the handler still runs.
 * A stormer child leaks orphans the whole time. Prints
 *   children=N right=R echild=E events=V zombies=Z
 * where zombies counts what is left among PID 1's children at the end. */
#include "zkit.h"
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static volatile sig_atomic_t handler_events;
static void count_event(int sig)
{
	(void)sig;
	handler_events++;
}

static pid_t stormer(void)
{
	pid_t p = fork();
	if (p == 0) {
		for (;;) {
			if (fork() == 0) {
				if (fork() == 0)
					_exit(0);
				_exit(0);
			}
			while (waitpid(-1, NULL, 0) > 0)
				;
			zk_sleep_ms(1);
		}
	}
	return p;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "signalfd";
	int n = argc > 2 ? atoi(argv[2]) : 100;
	int fd = -1;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (strcmp(mode, "ignore") == 0) {
		signal(SIGCHLD, SIG_IGN);
	} else if (strcmp(mode, "nocldwait") == 0) {
		struct sigaction sa = { .sa_handler = count_event, .sa_flags = SA_NOCLDWAIT | SA_RESTART };
		sigaction(SIGCHLD, &sa, NULL);
	} else {
		sigprocmask(SIG_BLOCK, &chld, NULL);
		fd = signalfd(-1, &chld, SFD_CLOEXEC);
	}
	pid_t storm = stormer();
	pid_t *kids = calloc((size_t)n, sizeof *kids);
	int right = 0, echild = 0, events = 0, open_kids = n;
	for (int i = 0; i < n; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			zk_sleep_ms(i % 7);
			_exit(i % 100 + 1);
		}
	}
	if (fd < 0) {
		for (int i = 0; i < n; i++) {
			int st;
			if (waitpid(kids[i], &st, 0) < 0 && errno == ECHILD)
				echild++;
		}
		open_kids = 0;
	}
	long deadline = zk_now_ms() + 10000;
	while (open_kids > 0 && zk_now_ms() < deadline) {
		struct signalfd_siginfo si;
		if (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
			events++;
		for (int i = 0; i < n; i++) {
			int st;
			if (kids[i] <= 0)
				continue;
			pid_t r = waitpid(kids[i], &st, WNOHANG);
			if (r == kids[i]) {
				right += WIFEXITED(st) && WEXITSTATUS(st) == i % 100 + 1;
				kids[i] = 0;
				open_kids--;
			} else if (r < 0) {
				echild++;
				kids[i] = 0;
				open_kids--;
			}
		}
	}
	kill(storm, SIGKILL);
	waitpid(storm, NULL, 0);
	printf("children=%d right=%d echild=%d events=%d zombies=%d\n", n, right, echild,
	       events + (int)handler_events, zk_settle(5000));
	return 0;
}
