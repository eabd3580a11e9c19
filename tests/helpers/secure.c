/* secure: prints "secure=S loaded=L threads=T": getauxval(AT_SECURE), whether a libzreap
 * object is mapped into this process, and its number of threads. */
#include "zkit.h"
#include <sys/auxv.h>

int main(void)
{
	char line[512];
	int loaded = 0, threads = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		loaded |= strstr(line, "libzreap") != NULL;
	if (f)
		fclose(f);
	f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		sscanf(line, "Threads:\t%d", &threads);
	if (f)
		fclose(f);
	printf("secure=%lu loaded=%d threads=%d\n", getauxval(AT_SECURE), loaded, threads);
	return 0;
}
