/*
 * timeutil: instants as int64_t microseconds since the Unix epoch, UTC only.
 *
 * Text forms: RFC 3339 in ("2025-01-31T00:00:00Z", "2025-01-31T10:00:00.5+02:00")
 * and out (always UTC, "Z", whole seconds unless microseconds are non-zero),
 * a date-only form "YYYY-MM-DD" in, and MariaDB's DATETIME(6) text
 * ("2025-01-31 00:00:00.000000") both ways.
 */
#ifndef BILLING_TIMEUTIL_H
#define BILLING_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define USEC_PER_SEC 1000000LL
#define TIME_TEXT_MAX 40 /* enough for every format written here, NUL included */

/* Current time in microseconds (UTC).  In test builds (--enable-test-clock)
 * the environment variable BILLING_TEST_NOW (RFC 3339) fixes it, or else
 * BILLING_TEST_OFFSET (whole seconds, signed) shifts the running clock. */
int64_t time_now_usec(void);

/* Monotonic clock in microseconds, for durations. */
int64_t time_mono_usec(void);

/*
 * Parses RFC 3339 date-time (a 'T' or 't' or ' ' separator, optional fraction
 * of up to 6 digits, 'Z'/'z' or +HH:MM/-HH:MM offset required) or, when
 * allow_date is non-zero, a bare "YYYY-MM-DD" meaning 00:00:00Z that day.
 * Validates ranges (month 1-12, day within month incl. leap years, hour
 * 0-23, minute 0-59, second 0-60 with 60 folded to 59), years 1970-9999.
 * len is the text length.  Returns 0 and sets *usec, or -1.
 * *is_date_only (may be NULL) is set to 1 when the date-only form was used.
 */
int time_parse_rfc3339(const char *text, size_t len, int allow_date,
    int64_t *usec, int *is_date_only);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (or with ".ffffff" when usec has a
 * sub-second part).  Returns length, or -1 if size is too small. */
int time_format_rfc3339(int64_t usec, char *buf, size_t size);

/* Parses MariaDB DATETIME text "YYYY-MM-DD HH:MM:SS[.ffffff]" as UTC. */
int time_parse_db(const char *text, size_t len, int64_t *usec);

/* Writes "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) for binding DATETIME(6). */
int time_format_db(int64_t usec, char *buf, size_t size);

/* Civil date helpers (proleptic Gregorian, UTC). */
int64_t time_from_civil(int year, int month, int day, int hour, int min, int sec);
void time_to_civil(int64_t usec, int *year, int *month, int *day,
    int *hour, int *min, int *sec, int *micro);

/* Start of the month containing usec, and of the month `delta` months away. */
int64_t time_month_start(int64_t usec, int delta);

#endif
