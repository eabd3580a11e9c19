/* static-hello.c: built with `gcc -static` by tests/container.bats, a program no LD_PRELOAD
 * library can reach (no program interpreter): `zreap-run --check` must refuse it. */
#include <stdio.h>

int main(void)
{
	puts("hello from a static binary");
	return 0;
}
