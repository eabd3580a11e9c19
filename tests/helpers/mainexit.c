/* mainexit [workers]: main() ends with pthread_exit. With no worker, it is the last thread,
 * and glibc ends the process with exit(0); atexit handlers run. With workers, each sleeps
 * 200 ms and returns. Prints "atexit" from an atexit handler. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void bye(void) { printf("atexit\n"); fflush(stdout); }

static void *worker(void *arg)
{
	(void)arg;
	usleep(200000);
	return NULL;
}

int main(int argc, char **argv)
{
	atexit(bye);
	int n = argc > 1 ? atoi(argv[1]) : 0;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, worker, NULL);
	}
	pthread_exit(NULL);
}
