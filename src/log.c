/*
 * log: timestamped lines on stderr.  One write(2) per line so that lines
 * from several workers sharing the same stderr never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048

static const char *log_progname = "billing";
static int log_debug_on;

void
log_init(const char *progname)
{
	const char *slash;

	if (progname == NULL)
		return;
	slash = strrchr(progname, '/');
	log_progname = slash ? slash + 1 : progname;
	if (getenv("BILLING_DEBUG") != NULL)
		log_debug_on = 1;
}

void
log_set_debug(int on)
{
	log_debug_on = on;
}

static void
log_emit(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: ",
	    ts.tv_nsec / 1000000, log_progname, (long)getpid(), level);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (suffix != NULL && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", suffix);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ?
			    (size_t)r : sizeof(line) - n - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("info", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_emit("debug", fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit("warn", fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("warn", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

char *
log_escape(char *dst, size_t size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (size == 0)
		return dst;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		int plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		size_t need = plain ? 1 : 4;

		/* keep room for "..." and the NUL */
		if (o + need + 4 > size) {
			if (o + 4 <= size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (plain)
			dst[o++] = (char)c;
		else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o < size ? o : size - 1] = '\0';
	return dst;
}
