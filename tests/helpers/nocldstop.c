/* nocldstop [flag]: with a SIGCHLD handler set with SA_NOCLDSTOP (or, without "flag", not),
 * a child stops, is continued and exits 3. Prints how often the handler ran after the stop
 * and after the exit: with SA_NOCLDSTOP the stop and the continue send no SIGCHLD.
 * Each event is waited for before the next is caused (the continue, too, and the child exits
 * only when told), so that the SIGCHLD of each has been handled before the next is sent: two
 * pending at once would be merged into one, as often or not depending on timing. The continue
 * needs more than waitpid: the kernel reports it to WCONTINUED as soon as SIGCONT is sent, but
 * the child sends its SIGCHLD only when it next runs. So the child says when it runs again, and
 * the SIGCHLD it sent before that is delivered to us as the read returns. */
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
	int go[2], running[2];
	if (pipe(go) != 0 || pipe(running) != 0)
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		char c = 'r';
		raise(SIGSTOP);
		if (write(running[1], &c, 1) != 1)
			_exit(5);
		_exit(read(go[0], &c, 1) == 1 ? 3 : 4);
	}
	int st;
	waitpid(pid, &st, WUNTRACED);
	printf("stopped=%d after_stop=%d", WIFSTOPPED(st), (int)runs);
	kill(pid, SIGCONT);
	waitpid(pid, &st, WCONTINUED);
	char c;
	if (read(running[0], &c, 1) != 1 || write(go[1], "x", 1) != 1)
		return 2;
	waitpid(pid, &st, 0);
	printf(" exit=%d after_exit=%d\n", WEXITSTATUS(st), (int)runs);
	return 0;
}
