/* stopcont ROUNDS [late]: stop and continue reports for the app's own children, as PID 1,
 * while a leaker child (also its own) makes orphans that exit a moment later, so the reaper
 * is busy the whole time. Each round forks a child that waits for a byte on a pipe and exits
 * with it, and checks, against what the kernel alone would say:
 *   SIGSTOP, waitpid(pid, WUNTRACED)          WIFSTOPPED, WSTOPSIG == SIGSTOP
 *   SIGCONT, waitpid(pid, WCONTINUED)         WIFCONTINUED
 *   SIGSTOP, waitid(P_PID, WSTOPPED|WNOWAIT)  CLD_STOPPED/SIGSTOP, then the same again without
 *            WNOWAIT (it was left), then WNOHANG finds nothing more
 *   SIGCONT, waitid(P_PID, WCONTINUED)        CLD_CONTINUED/SIGCONT
 *   SIGSTOP, waitpid(-1, WUNTRACED)           the stop (a wide wait may return orphans first:
 *                                             counted, not errors)
 *   SIGCONT, waitid(P_ALL, WCONTINUED)        the continue
 *   then, every 4th round, SIGKILL while stopped, else the exit code; the status is collected
 *   20 ms later, by waitpid, waitid, wait4 or a wide waitpid in turn: exact.
 * With "late" (run it with ZREAP_FORGOTTEN_MS=5, so the shim has taken each zombie into its
 * stash), each child instead exits at once and is only looked at 100 ms later:
 *   waitid(P_PID, WSTOPPED|WCONTINUED|WNOHANG)  ECHILD, as the kernel says for a zombie
 *   waitid(P_PID, WEXITED|WSTOPPED|WNOWAIT)     the exit, left in place
 *   waitpid(pid, WNOHANG|WUNTRACED|WCONTINUED)  the exit, exact; then ECHILD
 * Prints one line per wrong report, then "checked=N bad=M" and "others=K zombies=Z" (orphans
 * that wide waits returned; zombies left once the leak is over and no child is alive, or their
 * number has stayed the same for 300 ms). Exit status 0 when bad == 0. */
#include "zkit.h"
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/wait.h>

static int checked, bad, others;

#define CHECK(cond, ...) do { \
	checked++; \
	if (!(cond)) { bad++; printf("wrong (round %d): ", round); printf(__VA_ARGS__); \
		printf(" [errno %d]\n", errno); } \
} while (0)

static pid_t leaker_pid;

static void leaker(void)
{
	for (;;) {
		pid_t mid = fork();
		if (mid == 0) {
			if (fork() == 0) {
				zk_sleep_ms(2);
				_exit(3);
			}
			_exit(0);
		}
		if (mid > 0)
			waitpid(mid, NULL, 0);
	}
}

static pid_t child_on_pipe(int *wfd)
{
	int p[2];
	if (pipe(p) != 0)
		exit(2);
	pid_t c = fork();
	if (c == 0) {
		close(p[1]);
		unsigned char code = 255;
		while (read(p[0], &code, 1) < 0 && errno == EINTR)
			;
		_exit(code);
	}
	close(p[0]);
	*wfd = p[1];
	return c;
}

/* A wide waitpid until it returns pid; anything else must be an orphan's exit. */
static pid_t wide_until(pid_t pid, int *st, int options, int round)
{
	for (;;) {
		pid_t r = waitpid(-1, st, options);
		if (r == pid || r < 0)
			return r;
		if (r == leaker_pid || !(WIFEXITED(*st) || WIFSIGNALED(*st))) {
			bad++;
			printf("wrong (round %d): wide wait returned %d (status %#x), not an orphan's exit\n",
			       round, r, *st);
		}
		others++;
	}
}

static void one_round(int round)
{
	int wfd, st = 0;
	siginfo_t si;
	pid_t c = child_on_pipe(&wfd), r;

	kill(c, SIGSTOP);
	r = waitpid(c, &st, WUNTRACED);
	CHECK(r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "waitpid WUNTRACED: r=%d st=%#x", r, st);
	kill(c, SIGCONT);
	r = waitpid(c, &st, WCONTINUED);
	CHECK(r == c && WIFCONTINUED(st), "waitpid WCONTINUED: r=%d st=%#x", r, st);

	kill(c, SIGSTOP);
	memset(&si, 0, sizeof si);
	int w = waitid(P_PID, c, &si, WSTOPPED | WNOWAIT);
	CHECK(w == 0 && si.si_pid == c && si.si_code == CLD_STOPPED && si.si_status == SIGSTOP,
	      "waitid WSTOPPED|WNOWAIT: r=%d pid=%d code=%d status=%d", w, si.si_pid, si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	w = waitid(P_PID, c, &si, WSTOPPED);
	CHECK(w == 0 && si.si_pid == c && si.si_code == CLD_STOPPED && si.si_status == SIGSTOP,
	      "waitid WSTOPPED after WNOWAIT: r=%d pid=%d code=%d status=%d", w, si.si_pid, si.si_code, si.si_status);
	memset(&si, 0, sizeof si);
	w = waitid(P_PID, c, &si, WSTOPPED | WNOHANG);
	CHECK(w == 0 && si.si_pid == 0, "waitid WSTOPPED|WNOHANG once reported: r=%d pid=%d", w, si.si_pid);
	kill(c, SIGCONT);
	memset(&si, 0, sizeof si);
	w = waitid(P_PID, c, &si, WCONTINUED);
	CHECK(w == 0 && si.si_pid == c && si.si_code == CLD_CONTINUED && si.si_status == SIGCONT,
	      "waitid WCONTINUED: r=%d pid=%d code=%d status=%d", w, si.si_pid, si.si_code, si.si_status);

	kill(c, SIGSTOP);
	r = wide_until(c, &st, WUNTRACED, round);
	CHECK(r == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "waitpid(-1) WUNTRACED: r=%d st=%#x", r, st);
	kill(c, SIGCONT);
	memset(&si, 0, sizeof si);
	w = waitid(P_ALL, 0, &si, WCONTINUED); /* no WEXITED: no orphan exit can come back */
	CHECK(w == 0 && si.si_pid == c && si.si_code == CLD_CONTINUED,
	      "waitid(P_ALL) WCONTINUED: r=%d pid=%d code=%d", w, si.si_pid, si.si_code);

	int expect_sig = 0;
	unsigned char code = (unsigned char)(round * 7 + 1);
	if (round % 4 == 3) {
		kill(c, SIGSTOP);
		r = waitpid(c, &st, WUNTRACED);
		CHECK(r == c && WIFSTOPPED(st), "waitpid WUNTRACED before the kill: r=%d st=%#x", r, st);
		kill(c, SIGKILL);
		expect_sig = SIGKILL;
	} else {
		if (write(wfd, &code, 1) != 1)
			exit(2);
	}
	close(wfd);
	zk_sleep_ms(20); /* a zombie now: the reaper has seen it, and must leave it */
	struct rusage ru;
	switch (round % 4) {
	case 0:
		r = waitpid(c, &st, 0);
		break;
	case 1:
		memset(&si, 0, sizeof si);
		w = waitid(P_PID, c, &si, WEXITED);
		r = w == 0 ? si.si_pid : -1;
		st = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0) : si.si_status;
		break;
	case 2:
		r = wait4(c, &st, 0, &ru);
		break;
	default:
		r = wide_until(c, &st, 0, round);
		break;
	}
	if (expect_sig)
		CHECK(r == c && WIFSIGNALED(st) && WTERMSIG(st) == expect_sig, "killed while stopped: r=%d st=%#x", r, st);
	else
		CHECK(r == c && WIFEXITED(st) && WEXITSTATUS(st) == code, "exit %d: r=%d st=%#x", code, r, st);
}

static void late_round(int round)
{
	int wfd, st = 0;
	pid_t c = child_on_pipe(&wfd), r;
	unsigned char code = (unsigned char)(round * 7 + 1);
	if (write(wfd, &code, 1) != 1)
		exit(2);
	close(wfd);
	zk_sleep_ms(100);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	errno = 0;
	/* The kernel's answer for a zombie when exits are not asked for: ECHILD. */
	int w = waitid(P_PID, c, &si, WSTOPPED | WCONTINUED | WNOHANG);
	CHECK(w == -1 && errno == ECHILD, "waitid WSTOPPED|WCONTINUED|WNOHANG on a zombie: r=%d pid=%d", w, si.si_pid);
	memset(&si, 0, sizeof si);
	w = waitid(P_PID, c, &si, WEXITED | WSTOPPED | WNOWAIT);
	CHECK(w == 0 && si.si_pid == c && si.si_code == CLD_EXITED && si.si_status == code,
	      "waitid WEXITED|WSTOPPED|WNOWAIT late: r=%d pid=%d code=%d status=%d", w, si.si_pid, si.si_code, si.si_status);
	r = waitpid(c, &st, WNOHANG | WUNTRACED | WCONTINUED);
	CHECK(r == c && WIFEXITED(st) && WEXITSTATUS(st) == code, "late exit %d: r=%d st=%#x", code, r, st);
	r = waitpid(c, &st, WNOHANG | WUNTRACED | WCONTINUED);
	CHECK(r == -1 && errno == ECHILD, "after the late exit: r=%d", r);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	bool late = argc > 2 && strcmp(argv[2], "late") == 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	leaker_pid = fork();
	if (leaker_pid == 0)
		leaker();
	for (int round = 0; round < rounds; round++)
		late ? late_round(round) : one_round(round);
	kill(leaker_pid, SIGKILL);
	int st = 0, round = rounds;
	pid_t r = waitpid(leaker_pid, &st, 0);
	CHECK(r == leaker_pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the leaker: r=%d st=%#x", r, st);
	int zombies = zk_settle(3000);
	printf("checked=%d bad=%d\nothers=%d zombies=%d\n", checked, bad, others, zombies);
	return bad != 0;
}
