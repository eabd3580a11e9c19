/* idle MS: an idle PID 1 (no child, no timer). Prints, for each of its threads, how often it
 * was switched out voluntarily (woke up) during MS milliseconds, as "comm=N". */
#include "zkit.h"

static int switches(const char *tid, char *comm, size_t len)
{
	char path[300], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
	FILE *f = fopen(path, "r");
	int n = -1;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "Name:\t%31s", comm) == 1)
			continue;
		sscanf(line, "voluntary_ctxt_switches:\t%d", &n);
	}
	if (f)
		fclose(f);
	(void)len;
	return n;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 1000;
	zk_sleep_ms(200); /* let start-up settle */
	char tids[16][300], comm[32];
	int before[16], count = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && count < 16) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(tids[count], sizeof tids[count], "%s", e->d_name);
		before[count] = switches(tids[count], comm, sizeof comm);
		count++;
	}
	if (d)
		closedir(d);
	zk_sleep_ms(ms);
	for (int i = 0; i < count; i++) {
		int after = switches(tids[i], comm, sizeof comm);
		/* The main thread's own sleeps are its switches: report only the others. */
		if (atoi(tids[i]) != getpid())
			printf("%s=%d\n", comm, after - before[i]);
	}
	return 0;
}
