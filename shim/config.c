/*
 * config.c: the ZREAP_* settings.
 *
 * Read once, in the constructor, while the process is still single-threaded; never in secure
 * execution (activate.c does not call us then). A value that does not parse is never fatal:
 * it gets exactly one `zreap:` line naming the variable, the value and the default used, and
 * the app runs on. ZREAP_LOG is read first so that it governs the lines about the others.
 * Only a process that may turn active reads any: PID 1, or one with ZREAP_SUBREAPER or
 * ZREAP_SUBREAPER_PID set (activate.c). It reads the three that decide (zr_config_load), and
 * the rest once it does turn active (zr_config_load_active). So the inert ones, every other
 * process in a container, neither parse the settings nor repeat a complaint about them.
 *
 * They are read from the environment the program started with, as glibc passes it to a
 * constructor (musl's __environ there), without libc's getenv or strtol: the library imports
 * nothing (str.c).
 */
#include "zreap.h"

#include <string.h>
#include <strings.h>
#include <signal.h>

static char **settings_env; /* zr_start's: the environment the program started with (glibc) */

/* The first variable there whose name starts with the len bytes of name (whole: is them). */
static const char *env_entry(const char *name, size_t len, bool whole)
{
	for (char **e = settings_env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (!whole || (*e)[len] == '='))
			return *e;
	return NULL;
}

bool zr_env_has_prefix(const char *prefix)
{
	return env_entry(prefix, strlen(prefix), false) != NULL;
}

const char *zr_getenv(const char *name)
{
	size_t len = strlen(name);
	const char *entry = env_entry(name, len, true);
	return entry != NULL ? entry + len + 1 : NULL;
}

/* A decimal number of up to 18 digits, and nothing else: true and *out, or false. */
static bool parse_decimal(const char *s, long *out)
{
	long n = 0;
	int digits = 0;
	bool negative = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		if (++digits > 18)
			return false;
		else
			n = n * 10 + (*s - '0');
	*out = negative ? -n : n;
	return digits > 0 && *s == '\0';
}

struct zr_config zr_cfg = {
	.disable = false,
	.subreaper = false,
	.log_level = ZR_ERROR,
	.forgotten_ms = 30000,
	.forward = ZR_FORWARD_AUTO,
	.forward_set = (1ull << (SIGTERM - 1)) | (1ull << (SIGINT - 1)) | (1ull << (SIGQUIT - 1)),
	.grace_ms = 5000,
};

static const struct {
	int sig;
	const char *name;
} names[] = {
	{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
	{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
	{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
	{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGCHLD, "CHLD" },
	{ SIGCONT, "CONT" }, { SIGSTOP, "STOP" }, { SIGTSTP, "TSTP" }, { SIGTTIN, "TTIN" },
	{ SIGTTOU, "TTOU" }, { SIGURG, "URG" }, { SIGXCPU, "XCPU" }, { SIGXFSZ, "XFSZ" },
	{ SIGVTALRM, "VTALRM" }, { SIGPROF, "PROF" }, { SIGWINCH, "WINCH" }, { SIGIO, "IO" },
	{ SIGPWR, "PWR" }, { SIGSYS, "SYS" },
};

const char *zr_signame(int sig, char buf[12])
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig) {
			buf[0] = 'S', buf[1] = 'I', buf[2] = 'G';
			size_t n = strlen(names[i].name);
			memcpy(buf + 3, names[i].name, n + 1);
			return buf;
		}
	memcpy(buf, "signal ", 7);
	zr_utoa((unsigned long)sig, 10, buf + 7);
	return buf;
}

/* Signals that may be forwarded: catchable, default action to end the process, not a fault. */
static bool forwardable(int sig)
{
	switch (sig) {
	case SIGHUP: case SIGINT: case SIGQUIT: case SIGABRT: case SIGUSR1: case SIGUSR2:
	case SIGPIPE: case SIGALRM: case SIGTERM: case SIGXCPU: case SIGXFSZ: case SIGVTALRM:
	case SIGPROF: case SIGIO: case SIGPWR:
		return true;
	default:
		/* Real-time signals, but not the first two, which glibc keeps for itself. */
		return sig >= 34 && sig <= 64;
	}
}

static int parse_signal(const char *word, size_t len)
{
	char buf[16];
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, word, len);
	buf[len] = '\0';
	const char *name = buf;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	long n;
	if (parse_decimal(name, &n))
		return n > 0 && n <= 64 ? (int)n : -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(name, names[i].name) == 0)
			return names[i].sig;
	return -1;
}

/* "TERM,INT,QUIT", names with or without SIG, or numbers; any bad entry rejects the list. */
static void parse_signal_list(void)
{
	const char *v = zr_getenv("ZREAP_FORWARD_SIGNALS");
	if (v == NULL)
		return;
	uint64_t set = 0;
	for (const char *p = v; *p;) {
		size_t len = strcspn(p, ", ");
		if (len > 0) {
			int sig = parse_signal(p, len);
			if (sig < 0 || !forwardable(sig)) {
				char bad[32];
				size_t n = len < sizeof bad - 1 ? len : sizeof bad - 1;
				memcpy(bad, p, n);
				bad[n] = '\0';
				zr_log(ZR_ERROR, "ZREAP_FORWARD_SIGNALS=%s: '%s' is not a signal that can be "
						 "forwarded; using TERM,INT,QUIT",
				       v, bad);
				return;
			}
			set |= 1ull << (sig - 1);
		}
		p += len;
		p += strspn(p, ", ");
	}
	zr_cfg.forward_set = set;
}

static void parse_forward_mode(void)
{
	const char *v = zr_getenv("ZREAP_FORWARD");
	if (v == NULL || *v == '\0')
		return;
	static const char *const modes[] = { "auto", "always", "never" };
	for (int i = 0; i < 3; i++)
		if (strcasecmp(v, modes[i]) == 0) {
			zr_cfg.forward = i;
			return;
		}
	zr_log(ZR_ERROR, "ZREAP_FORWARD=%s is not auto, always or never; using auto", v);
}

static bool parse_bool(const char *name, bool *out)
{
	const char *v = zr_getenv(name);
	if (v == NULL || *v == '\0')
		return false;
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	zr_log(ZR_ERROR, "%s=%s is not 0 or 1; using %s", name, v, *out ? "1" : "0");
	return false;
}

static void parse_ms(const char *name, long *out, long max)
{
	const char *v = zr_getenv(name);
	if (v == NULL || *v == '\0')
		return;
	long n;
	if (!parse_decimal(v, &n) || n < 0 || n > max) {
		zr_log(ZR_ERROR, "%s=%s is not a number of milliseconds from 0 to %ld; using %ld",
		       name, v, max, *out);
		return;
	}
	*out = n;
}

static void parse_level(void)
{
	const char *v = zr_getenv("ZREAP_LOG");
	if (v == NULL || *v == '\0')
		return;
	static const char *const names[] = { "none", "error", "info", "debug" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(v, names[i]) == 0) {
			zr_cfg.log_level = i;
			return;
		}
	}
	zr_log(ZR_ERROR, "ZREAP_LOG=%s is not none, error, info or debug; using error", v);
}

void zr_config_env(char **env)
{
	settings_env = env;
}

void zr_config_load(void)
{
	parse_level();
	parse_bool("ZREAP_DISABLE", &zr_cfg.disable);
	parse_bool("ZREAP_SUBREAPER", &zr_cfg.subreaper);
}

void zr_config_load_active(void)
{
	parse_ms("ZREAP_FORGOTTEN_MS", &zr_cfg.forgotten_ms, 24L * 3600 * 1000);
	parse_ms("ZREAP_GRACE_MS", &zr_cfg.grace_ms, 3600L * 1000);
	parse_forward_mode();
	parse_signal_list();
}
