/*
 * config.c: the ZREAP_* settings.
 *
 * Read once, in the constructor, while the process is still single-threaded; never in secure
 * execution (activate.c does not call us then). A value that does not parse is never fatal:
 * it gets exactly one `zreap:` line naming the variable, the value and the default used, and
 * the app runs on. ZREAP_LOG is read first so that it governs the lines about the others.
 */
#include "zreap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct zr_config zr_cfg = {
	.disable = false,
	.subreaper = false,
	.log_level = ZR_ERROR,
	.forgotten_ms = 30000,
};

static bool parse_bool(const char *name, bool *out)
{
	const char *v = getenv(name);
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
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < 0 || n > max) {
		zr_log(ZR_ERROR, "%s=%s is not a number of milliseconds from 0 to %ld; using %ld",
		       name, v, max, *out);
		return;
	}
	*out = n;
}

static void parse_level(void)
{
	const char *v = getenv("ZREAP_LOG");
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

void zr_config_load(void)
{
	int saved = errno;
	parse_level();
	parse_bool("ZREAP_DISABLE", &zr_cfg.disable);
	parse_bool("ZREAP_SUBREAPER", &zr_cfg.subreaper);
	parse_ms("ZREAP_FORGOTTEN_MS", &zr_cfg.forgotten_ms, 24L * 3600 * 1000);
	errno = saved;
}
