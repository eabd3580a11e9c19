/*
 * log.c: the shim's only voice, `zreap[PID]: message` lines on stderr.
 *
 * It is called from the reaper thread, from wrappers that may run inside the app's signal
 * handlers, and from a vfork child. So it formats into a stack buffer with its own small
 * formatter (vsnprintf may allocate and is not async-signal-safe), writes the whole line with
 * one write(2) so lines from several processes do not interleave, and, making that call itself
 * (zr_sys), leaves errno alone.
 */
#include "zreap.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct buf {
	char *p;
	size_t len, cap;
};

static void put_char(struct buf *b, char c)
{
	if (b->len < b->cap)
		b->p[b->len++] = c;
}

static void put_str(struct buf *b, const char *s)
{
	if (s == NULL)
		s = "(null)";
	while (*s)
		put_char(b, *s++);
}

static void put_num(struct buf *b, unsigned long long v, unsigned base, bool negative)
{
	char digits[24];
	if (negative)
		put_char(b, '-');
	zr_utoa(v, base, digits);
	put_str(b, digits);
}

static void format(struct buf *b, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put_char(b, *fmt);
			continue;
		}
		bool is_long = false;
		if (fmt[1] == 'l') {
			is_long = true;
			fmt++;
		}
		switch (*++fmt) {
		case 's':
			put_str(b, va_arg(ap, const char *));
			break;
		case 'c':
			put_char(b, (char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
			put_num(b, v < 0 ? -(unsigned long long)v : (unsigned long long)v, 10, v < 0);
			break;
		}
		case 'u':
			put_num(b, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, false);
			break;
		case 'x':
			put_num(b, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, false);
			break;
		case '%':
			put_char(b, '%');
			break;
		case '\0':
			return;
		default:
			put_char(b, '?');
			break;
		}
	}
}

void zr_log(enum zr_level level, const char *fmt, ...)
{
	if ((int)level > zr_cfg.log_level)
		return;
	char line[512];
	struct buf b = { line, 0, sizeof line - 1 };
	put_str(&b, "zreap[");
	put_num(&b, (unsigned long long)zr_getpid(), 10, false);
	put_str(&b, "]: ");
	va_list ap;
	va_start(ap, fmt);
	format(&b, fmt, ap);
	va_end(ap);
	line[b.len++] = '\n';
	while (zr_sys(SYS_write, STDERR_FILENO, line, b.len) == -EINTR)
		;
}
