/* subr: is this process a working subreaper, and only this one?
 * usage: subr [selfsub]
 *   selfsub  make itself a subreaper with prctl first (a control, without the shim: orphans
 *            are then adopted but nobody reaps them)
 * Prints:
 *   self_subreaper=N  PR_GET_CHILD_SUBREAPER here
 *   self_env=V        ZREAP_SUBREAPER here ("(unset)" when absent)
 *   child_subreaper=N child_env=V   the same in a fork() child
 *   adopted=0|1       a grandchild, orphaned by that child's exit, found us as its parent
 *   reaped=0|1        ...and then, after it exited (status 5), it was reaped within 2 s
 *   zombies=K         zombies left among our children at the end */
#include "probe.h"

struct child_report {
	int subreaper, env_set;
	pid_t grandchild;
};
struct grand_report {
	pid_t pid, ppid;
};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "selfsub") == 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		perror("prctl");
		return 2;
	}
	const char *env = getenv("ZREAP_SUBREAPER");
	printf("self_subreaper=%d\nself_env=%s\n", pr_subreaper(), env ? env : "(unset)");
	fflush(stdout);

	int fds[2];
	if (pipe(fds) != 0) {
		perror("pipe");
		return 2;
	}
	pid_t me = getpid();
	pid_t mid = fork();
	if (mid < 0) {
		perror("fork");
		return 2;
	}
	if (mid == 0) {
		close(fds[0]);
		struct child_report cr = { pr_subreaper(), getenv("ZREAP_SUBREAPER") != NULL, 0 };
		pid_t self = getpid();
		pid_t g = fork();
		if (g == 0) {
			/* The grandchild: wait to be orphaned, report who adopted us, exit 5. */
			long end = zk_now_ms() + 5000;
			while (getppid() == self && zk_now_ms() < end)
				zk_sleep_ms(1);
			struct grand_report gr = { getpid(), getppid() };
			pr_write_all(fds[1], &gr, sizeof gr);
			_exit(5);
		}
		cr.grandchild = g;
		pr_write_all(fds[1], &cr, sizeof cr);
		_exit(0);
	}
	close(fds[1]);
	struct child_report cr;
	struct grand_report gr;
	int st;
	if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "subr: own child %d: bad wait\n", mid);
		return 3;
	}
	if (pr_read_all(fds[0], &cr, sizeof cr) != 0 || pr_read_all(fds[0], &gr, sizeof gr) != 0) {
		fprintf(stderr, "subr: lost a report\n");
		return 3;
	}
	printf("child_subreaper=%d child_env=%s\n", cr.subreaper, cr.env_set ? "set" : "(unset)");
	int adopted = gr.pid == cr.grandchild && gr.ppid == me;
	int gone = pr_wait_gone(gr.pid, 2000);
	printf("adopted=%d\nreaped=%d\n", adopted, adopted && gone);
	printf("zombies=%d\n", zk_settle(3000));
	return 0;
}
