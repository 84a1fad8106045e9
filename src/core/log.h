/*
 * log: one place for what the service says.  Lines go to stderr with a UTC
 * timestamp, the program name and pid (systemd/journald or the dev stack's
 * terminal collect them).  Text that came from a client goes through
 * log_escape first so it cannot forge lines; secrets are never passed here.
 */
#ifndef BILLING_LOG_H
#define BILLING_LOG_H

#include <stddef.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(const char *progname);
void log_set_debug(int on);

void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
/* fatal/fatalx log and exit(1). */
void log_fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void log_fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Copies src (len bytes) into dst (size bytes, always NUL-terminated),
 * writing control characters, '"', '\\' and bytes >= 0x7f as \xHH, and
 * truncating with "..." when it does not fit.  Returns dst.
 */
char *log_escape(char *dst, size_t size, const char *src, size_t len);

#endif
