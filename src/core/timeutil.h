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
 * The instants an input may name: what a DATETIME(6) column holds from the
 * epoch on, 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.  Every
 * instant read from a client goes through time_parse_rfc3339, which checks
 * this range once, after the zone offset and the date-only end are applied.
 */
#define TIME_INPUT_MIN 0LL
#define TIME_INPUT_MAX (253402300800LL * USEC_PER_SEC - 1)

/* What a bare "YYYY-MM-DD" means to time_parse_rfc3339. */
enum time_date_form {
	TIME_NO_DATE = 0,	/* refused: a date-time is required */
	TIME_DATE_START = 1,	/* 00:00:00Z that day */
	TIME_DATE_END = 2	/* the end of that day: 00:00:00Z the next day
				 * (an exclusive end that includes the day) */
};

/* time_parse_rfc3339's answer for well-formed text outside the range. */
#define TIME_OUT_OF_RANGE (-2)

/*
 * Parses RFC 3339 date-time (a 'T' or 't' or ' ' separator, optional fraction
 * of up to 6 digits, 'Z'/'z' or +HH:MM/-HH:MM offset required) or a bare
 * "YYYY-MM-DD" as date_form says.  Validates ranges (month 1-12, day within
 * month incl. leap years, hour 0-23, minute 0-59, second 0-60 with 60 folded
 * to 59).  len is the text length.  Returns 0 and sets *usec; -1 when the
 * text is malformed; TIME_OUT_OF_RANGE when the instant it names (in UTC,
 * after a date-only end's day) lies outside TIME_INPUT_MIN..TIME_INPUT_MAX.
 * *usec is left alone on failure.  *is_date_only (may be NULL) is set to 1
 * when the date-only form was used.
 */
int time_parse_rfc3339(const char *text, size_t len,
    enum time_date_form date_form, int64_t *usec, int *is_date_only);

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
