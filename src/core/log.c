/*
 * log: timestamped lines on stderr.  One write(2) per line so that lines
 * from several workers sharing the same stderr never interleave.
 */
#include <errno.h>
#include <pthread.h>
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

/* What every line starts with changes once a second and once a process:
 * the "YYYY-MM-DDTHH:MM:SS" of the current second and the pid are kept
 * (a worker logs thousands of lines a second; strftime, gmtime_r and
 * getpid(2) for each were a good part of the cost of a line). */
static pid_t log_pid;
static time_t log_sec = -1;
static char log_stamp[32];
static size_t log_stamp_len;
static int log_atfork_set;

static void
log_forget_pid(void)
{
	log_pid = 0;
}

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

/* Appends the decimal digits of v (>= 0) at p; returns the end. */
static char *
put_uint(char *p, unsigned long v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static void
log_emit(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n, plen, llen;
	long ms;
	char *p;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		log_stamp_len = strftime(log_stamp, sizeof(log_stamp),
		    "%Y-%m-%dT%H:%M:%S", &tm);
		log_sec = ts.tv_sec;
	}
	if (log_pid == 0) {
		/* a forked child logs its own pid, not the parent's */
		if (!log_atfork_set &&
		    pthread_atfork(NULL, NULL, log_forget_pid) == 0)
			log_atfork_set = 1;
		log_pid = getpid();
	}
	plen = strlen(log_progname);
	llen = strlen(level);
	if (plen > 256)
		plen = 256;
	/* "<stamp>.mmmZ <progname>[<pid>] <level>: " */
	p = line;
	memcpy(p, log_stamp, log_stamp_len);
	p += log_stamp_len;
	ms = ts.tv_nsec / 1000000;
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	*p++ = (char)('0' + ms / 10 % 10);
	*p++ = (char)('0' + ms % 10);
	*p++ = 'Z';
	*p++ = ' ';
	memcpy(p, log_progname, plen);
	p += plen;
	*p++ = '[';
	p = put_uint(p, (unsigned long)log_pid);
	*p++ = ']';
	*p++ = ' ';
	memcpy(p, level, llen);
	p += llen;
	*p++ = ':';
	*p++ = ' ';
	n = (size_t)(p - line);
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
log_fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
log_fatalx(const char *fmt, ...)
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
