/* zreap_tid.h: for the benchmark programs that look at the shim's reaper thread in their own
 * process. */
#ifndef ZREAP_TID_H
#define ZREAP_TID_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tid of this process's thread named "zreap" (the shim's reaper), or 0; *threads, when
 * not NULL, gets the number of threads seen. */
static int zreap_tid(int *threads)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int found = 0, seen = 0;
	while (d && (e = readdir(d)) != NULL) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		seen++;
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (f && fgets(comm, sizeof comm, f) && strcmp(comm, "zreap\n") == 0)
			found = atoi(e->d_name);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	if (threads)
		*threads = seen;
	return found;
}
#endif
