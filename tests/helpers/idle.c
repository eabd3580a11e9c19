/* idle MS: an idle PID 1 (no child, no timer). Prints, for each of its threads, how often it
 * was switched out voluntarily (woke up) during MS milliseconds, as "comm=N". */
#include "zkit.h"

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	zk_sleep_ms(200); /* let start-up settle */
	char tids[16][300], comm[32];
	long before[16];
	int count = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && count < 16) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(tids[count], sizeof tids[count], "%s", e->d_name);
		before[count] = zk_thread_switches(tids[count], comm);
		count++;
	}
	if (d)
		closedir(d);
	zk_sleep_ms(ms);
	for (int i = 0; i < count; i++) {
		long after = zk_thread_switches(tids[i], comm);
		/* The main thread's own sleeps are its switches: report only the others. */
		if (atoi(tids[i]) != getpid())
			printf("%s=%ld\n", comm, after - before[i]);
	}
	return 0;
}
