/* vforker: vfork N times (default 500); child i _exits(i % 100) when i is odd, else execs
 * /bin/true. The parent checks every status (the shim must neither crash nor steal one).
 * Prints "vforks=N ok=K bad=B zombies=Z". */
#include "probe.h"

/* One vfork; 1 if the child's status came back as expected. Every value the parent uses
 * after vfork returns is volatile, as a vfork caller's must be. */
static int one(int i)
{
	volatile int vi = i;
	volatile int want = i % 2 ? i % 100 : 0;
	pid_t pid = vfork();
	if (pid < 0) {
		perror("vfork");
		exit(2);
	}
	if (pid == 0) {
		if (vi % 2)
			_exit(vi % 100);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	pid_t w = waitpid(pid, &st, 0);
	if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) == want)
		return 1;
	fprintf(stderr, "vforker: i=%d pid=%d waitpid=%d status=0x%x errno=%d\n", vi, pid, w,
		w == pid ? st : 0, errno);
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 500;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += one(i);
	printf("vforks=%d ok=%d bad=%d zombies=%d\n", n, ok, n - ok, zk_settle(5000));
	return 0;
}
