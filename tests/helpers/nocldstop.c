/* nocldstop [flag]: with a SIGCHLD handler set with SA_NOCLDSTOP (or, without "flag", not),
 * a child stops, is continued and exits 3. Prints how often the handler ran after the stop
 * and after the exit: with SA_NOCLDSTOP the stop and the continue send no SIGCHLD. */
#include "zkit.h"
#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t runs;
static void count(int sig) { (void)sig; runs++; }

int main(int argc, char **argv)
{
	int flags = SA_RESTART | (argc > 1 && strcmp(argv[1], "flag") == 0 ? SA_NOCLDSTOP : 0);
	struct sigaction sa = { .sa_handler = count, .sa_flags = flags };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		raise(SIGSTOP);
		_exit(3);
	}
	int st;
	waitpid(pid, &st, WUNTRACED);
	printf("stopped=%d after_stop=%d", WIFSTOPPED(st), (int)runs);
	kill(pid, SIGCONT);
	waitpid(pid, &st, 0);
	printf(" exit=%d after_exit=%d\n", WEXITSTATUS(st), (int)runs);
	return 0;
}
