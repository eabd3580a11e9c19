/*
 * str.c: the string and memory functions the shim calls, its own, so that the loader binds no
 * import of ours from libc at any exec.
 *
 * LD_PRELOAD puts the shim in every process of a container, and the loader binds every import
 * of every object before the program starts. Measured with scripts/bench's spawntime
 * (/bin/true, 31 rounds), an empty library with the fifteen imports the shim had (getenv,
 * strtol, getauxval, nine string functions, dl_iterate_phdr, environ, __errno_location) cost an
 * exec 1.6 points more than the same library with none, 12,000 more instructions (callgrind):
 * each name is looked up in every object in turn, its version checked, and glibc's string
 * functions are IFUNCs whose resolvers run at that moment. The library therefore has no imports
 * and needs no library (Makefile: -nodefaultlibs). What libc the shim uses is found at its
 * first use instead (real.c, libc.c), and these few it carries.
 *
 * They are hidden definitions under the libc names, so that a call the compiler emits on its
 * own (a struct copy, a zeroed struct) binds here too; the Makefile builds this file with
 * -fno-builtin and without loop-pattern distribution, which would turn these loops back into
 * calls to themselves. Speed does not matter: they run on short strings, at startup, on /proc
 * lines and on the settings. None touches errno or thread-local storage (the reaper calls some).
 */
#include "zreap.h"

#include <string.h>
#include <strings.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

size_t strlen(const char *s)
{
	const char *p = s;
	while (*p)
		p++;
	return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (size_t)-1);
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int strncasecmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--) {
		int d = lower((unsigned char)*a) - lower((unsigned char)*b);
		if (d != 0 || *a == '\0')
			return d;
	}
	return 0;
}

int strcasecmp(const char *a, const char *b)
{
	return strncasecmp(a, b, (size_t)-1);
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (*s == '\0')
			return NULL;
	}
}

char *strrchr(const char *s, int c)
{
	const char *last = NULL;
	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (*s == '\0')
			return (char *)last;
	}
}

char *strstr(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncmp(hay, needle, n) == 0)
			return (char *)hay;
	return n == 0 ? (char *)hay : NULL;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; a++, b++, n--)
		if (*a != *b || *a == '\0')
			return (unsigned char)*a - (unsigned char)*b;
	return 0;
}

/* Length of the leading run of s made of characters in set (accept) or not in it (reject). */
static size_t span(const char *s, const char *set, bool accept)
{
	size_t n = 0;
	while (s[n] != '\0' && (strchr(set, s[n]) != NULL) == accept)
		n++;
	return n;
}

size_t strspn(const char *s, const char *accept)
{
	return span(s, accept, true);
}

size_t strcspn(const char *s, const char *reject)
{
	return span(s, reject, false);
}
