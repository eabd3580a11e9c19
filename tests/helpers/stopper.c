/* stopper N MODE [APP]: a PID 1 that never looks at SIGTERM, SIGINT or SIGQUIT, with N children.
 * MODE, what each child does:
 *   report:  on TERM, INT or QUIT it writes "child PID got SIGNAL", and 100 ms later
 *            "child PID done" and exits (a second signal in that time is written too)
 *   ignore:  ignores TERM, INT and QUIT
 *   default: leaves them at SIG_DFL, so it dies of them
 *   block:   blocks them
 * APP (optional): "handler" gives PID 1 its own TERM handler, which writes "app handler" and
 * exits 7; "exit" makes PID 1 exit(0) on its own 200 ms after "ready"; "selfraise" makes it
 * raise SIGTERM at itself (which an init does not receive), write "survived" and exit 5.
 * Prints "ready" once every child is set up, then waits. */
#include "zkit.h"
#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t got;

static void say(const char *s)
{
	ssize_t r = write(STDOUT_FILENO, s, strlen(s));
	(void)r;
}

static void child_handler(int sig)
{
	char line[64];
	snprintf(line, sizeof line, "child %d got %s\n", getpid(),
		 sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGQUIT");
	say(line);
	got = 1;
}

static void app_handler(int sig)
{
	(void)sig;
	say("app handler\n");
	_exit(7);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	const char *mode = argc > 2 ? argv[2] : "report";
	const char *app = argc > 3 ? argv[3] : "";
	setvbuf(stdout, NULL, _IONBF, 0);
	int ready[2];
	if (pipe(ready) != 0)
		return 2;
	for (int i = 0; i < n; i++) {
		if (fork() == 0) {
			close(ready[0]);
			struct sigaction sa = { .sa_handler = strcmp(mode, "ignore") == 0 ? SIG_IGN : child_handler };
			sigset_t stops;
			sigemptyset(&stops);
			sigaddset(&stops, SIGTERM);
			sigaddset(&stops, SIGINT);
			sigaddset(&stops, SIGQUIT);
			if (strcmp(mode, "block") == 0) {
				sigprocmask(SIG_BLOCK, &stops, NULL);
			} else if (strcmp(mode, "default") != 0) {
				sigaction(SIGTERM, &sa, NULL);
				sigaction(SIGINT, &sa, NULL);
				sigaction(SIGQUIT, &sa, NULL);
			}
			close(ready[1]);
			while (!got)
				pause();
			zk_sleep_ms(100);
			char line[64];
			snprintf(line, sizeof line, "child %d done\n", getpid());
			say(line);
			_exit(0);
		}
	}
	close(ready[1]);
	char c;
	while (read(ready[0], &c, 1) > 0) /* EOF once every child has set its handlers */
		;
	if (strcmp(app, "handler") == 0)
		signal(SIGTERM, app_handler);
	say("ready\n");
	if (strcmp(app, "selfraise") == 0) {
		raise(SIGTERM);
		say("survived\n");
		exit(5);
	}
	if (strcmp(app, "exit") == 0) {
		zk_sleep_ms(200);
		exit(0);
	}
	for (;;)
		pause();
}
