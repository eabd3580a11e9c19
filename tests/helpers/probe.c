/* probe: prints what the shim must not change in a process.
 * usage: probe [fork]
 * Prints this process's "Threads:", "SigCgt:", "SigIgn:" and "SigBlk:" lines of
 * /proc/self/status and "subreaper=N" (PR_GET_CHILD_SUBREAPER). With "fork", a child made by
 * fork() then prints the same lines about itself, each prefixed "child ", and the parent
 * checks it exited 0. */
#include "probe.h"

static void report(const char *prefix)
{
	pr_print_status(prefix);
	printf("%ssubreaper=%d\n", prefix, pr_subreaper());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	report("");
	if (argc > 1 && strcmp(argv[1], "fork") == 0) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			report("child ");
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "probe: child %d: bad wait\n", pid);
			return 3;
		}
	}
	return 0;
}
