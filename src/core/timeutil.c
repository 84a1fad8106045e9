/*
 * timeutil: UTC instants as int64_t microseconds since the Unix epoch.
 *
 * Calendar conversion is done here with plain integer arithmetic on the
 * proleptic Gregorian calendar, so nothing depends on TZ, the tz database,
 * localtime() or the range of time_t.
 */
#include "build-config.h" /* configure's switches */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

/* The largest BILLING_TEST_OFFSET taken, in seconds: 400 years. */
#define TIME_TEST_OFFSET_MAX (400LL * 366 * 86400)

#define SECS_PER_DAY	86400LL
#define DAYS_PER_ERA	146097LL	/* 400 Gregorian years */
#define DAYS_TO_EPOCH	719468LL	/* 0000-03-01 .. 1970-01-01 */

/* Broken-down instant as read from text, before zone conversion. */
struct civil {
	int	year, month, day;
	int	hour, min, sec;
	int	usec;
};

/* Quotient rounded toward minus infinity, b > 0 (C truncates toward 0). */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b < 0)
		q--;
	return q;
}

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/*
 * Days since 1970-01-01 of y-m-d (m 1..12; d may run past the month, it
 * is simply added).  Years are counted from March so that the leap day is
 * the last day of its year; a 400-year era then always holds the same
 * 146097 days, and the day of the year follows from a linear formula for
 * the month (153 days per 5 months, March..July and August..December).
 */
static int64_t
days_from_civil(int64_t y, int m, int64_t d)
{
	int64_t era, yoe, doy, doe, mp;

	if (m <= 2)
		y--;
	era = floor_div(y, 400);
	yoe = y - era * 400;			/* 0..399 */
	mp = (m + 9) % 12;			/* March 0 .. February 11 */
	doy = (153 * mp + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * DAYS_PER_ERA + doe - DAYS_TO_EPOCH;
}

/* Inverse of days_from_civil. */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += DAYS_TO_EPOCH;
	era = floor_div(z, DAYS_PER_ERA);
	doe = z - era * DAYS_PER_ERA;		/* 0..146096 */
	/* Remove the leap days before doe so that 365 divides evenly. */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (yoe * 365 + yoe / 4 - yoe / 100);	/* 0..365 */
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Seconds to microseconds, saturating instead of overflowing. */
static int64_t
secs_to_usec(int64_t secs)
{
	if (secs > INT64_MAX / USEC_PER_SEC)
		return INT64_MAX;
	if (secs < INT64_MIN / USEC_PER_SEC)
		return INT64_MIN;
	return secs * USEC_PER_SEC;
}

int64_t
time_from_civil(int year, int month, int day, int hour, int min, int sec)
{
	int64_t m0, y, secs;

	/* Months outside 1..12 roll into neighbouring years, which keeps
	 * month arithmetic (time_month_start) trivial for callers. */
	m0 = (int64_t)month - 1;
	y = (int64_t)year + floor_div(m0, 12);
	m0 -= floor_div(m0, 12) * 12;
	secs = days_from_civil(y, (int)m0 + 1, day) * SECS_PER_DAY +
	    (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
	return secs_to_usec(secs);
}

void
time_to_civil(int64_t usec, int *year, int *month, int *day,
    int *hour, int *min, int *sec, int *micro)
{
	int64_t secs, days, sod, y;
	int m, d;

	secs = floor_div(usec, USEC_PER_SEC);
	days = floor_div(secs, SECS_PER_DAY);
	sod = secs - days * SECS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	/* Outputs are optional so callers can ask for just the date. */
	if (year != NULL)
		*year = (int)y;
	if (month != NULL)
		*month = m;
	if (day != NULL)
		*day = d;
	if (hour != NULL)
		*hour = (int)(sod / 3600);
	if (min != NULL)
		*min = (int)(sod / 60 % 60);
	if (sec != NULL)
		*sec = (int)(sod % 60);
	/* Not usec - secs * 10^6: that product overflows near INT64_MIN. */
	if (micro != NULL)
		*micro = (int)(usec % USEC_PER_SEC + (usec % USEC_PER_SEC < 0 ?
		    USEC_PER_SEC : 0));
}

int64_t
time_month_start(int64_t usec, int delta)
{
	int64_t months;
	int year, month;

	time_to_civil(usec, &year, &month, NULL, NULL, NULL, NULL, NULL);
	months = (int64_t)year * 12 + (month - 1) + delta;
	return time_from_civil((int)floor_div(months, 12),
	    (int)(months - floor_div(months, 12) * 12) + 1, 1, 0, 0, 0);
}

/* Reads exactly n ASCII digits at s; no sign, no space. */
static int
read_digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "YYYY-MM-DD" at the start of s (len >= 10), validated.  The year is not
 * bounded here: the instant is, once its zone is applied (in_range). */
static int
parse_date(const char *s, size_t len, struct civil *c)
{
	if (len < 10 || s[4] != '-' || s[7] != '-' ||
	    read_digits(s, 4, &c->year) != 0 ||
	    read_digits(s + 5, 2, &c->month) != 0 ||
	    read_digits(s + 8, 2, &c->day) != 0)
		return -1;
	if (c->month < 1 || c->month > 12 ||
	    c->day < 1 || c->day > days_in_month(c->year, c->month))
		return -1;
	return 0;
}

/*
 * "HH:MM:SS[.f{1,6}]" at s + *pos; advances *pos past it.  A leap second
 * (":60") is folded to :59 since the epoch count has no room for it.
 */
static int
parse_clock(const char *s, size_t len, size_t *pos, struct civil *c)
{
	size_t i = *pos, start, ndig;
	int digit;

	if (len - i < 8 || s[i + 2] != ':' || s[i + 5] != ':' ||
	    read_digits(s + i, 2, &c->hour) != 0 ||
	    read_digits(s + i + 3, 2, &c->min) != 0 ||
	    read_digits(s + i + 6, 2, &c->sec) != 0)
		return -1;
	if (c->hour > 23 || c->min > 59 || c->sec > 60)
		return -1;
	if (c->sec == 60)
		c->sec = 59;
	i += 8;

	c->usec = 0;
	if (i < len && s[i] == '.') {
		start = ++i;
		while (i < len && read_digits(s + i, 1, &digit) == 0) {
			/* Finer than a microsecond cannot be kept: refuse
			 * rather than silently truncate. */
			if (i - start == 6)
				return -1;
			c->usec = c->usec * 10 + digit;
			i++;
		}
		if (i == start)
			return -1;
		/* ".5" is half a second: scale short fractions up. */
		for (ndig = i - start; ndig < 6; ndig++)
			c->usec *= 10;
	}
	*pos = i;
	return 0;
}

/* "Z", "z", "+HH:MM" or "-HH:MM" filling the rest of s; seconds east of UTC. */
static int
parse_zone(const char *s, size_t len, size_t pos, int64_t *offset)
{
	int hh, mm;

	if (len - pos == 1 && (s[pos] == 'Z' || s[pos] == 'z')) {
		*offset = 0;
		return 0;
	}
	if (len - pos != 6 || (s[pos] != '+' && s[pos] != '-') ||
	    s[pos + 3] != ':' ||
	    read_digits(s + pos + 1, 2, &hh) != 0 ||
	    read_digits(s + pos + 4, 2, &mm) != 0 ||
	    hh > 23 || mm > 59)
		return -1;
	*offset = ((int64_t)hh * 3600 + mm * 60) * (s[pos] == '-' ? -1 : 1);
	return 0;
}

static int64_t
civil_to_usec(const struct civil *c)
{
	return time_from_civil(c->year, c->month, c->day, c->hour, c->min,
	    c->sec) + c->usec;
}

/* The one range check of every instant read from text. */
static int
in_range(int64_t usec)
{
	return usec >= TIME_INPUT_MIN && usec <= TIME_INPUT_MAX;
}

int
time_parse_rfc3339(const char *text, size_t len,
    enum time_date_form date_form, int64_t *usec, int *is_date_only)
{
	struct civil c;
	int64_t offset, v;
	size_t pos = 11;
	int date_only = len == 10;

	if (text == NULL || usec == NULL || parse_date(text, len, &c) != 0)
		return -1;
	if (date_only) {
		if (date_form != TIME_DATE_START && date_form != TIME_DATE_END)
			return -1;
		v = time_from_civil(c.year, c.month, c.day +
		    (date_form == TIME_DATE_END), 0, 0, 0);
	} else {
		if ((text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
		    parse_clock(text, len, &pos, &c) != 0 ||
		    parse_zone(text, len, pos, &offset) != 0)
			return -1;
		/* Local time minus its offset east of UTC is UTC. */
		v = civil_to_usec(&c) - offset * USEC_PER_SEC;
	}
	/* Checked last: "9999-12-31" as an end, or an offset, can carry a
	 * date that reads as in range to an instant that is not. */
	if (!in_range(v))
		return TIME_OUT_OF_RANGE;
	*usec = v;
	if (is_date_only != NULL)
		*is_date_only = date_only;
	return 0;
}

int
time_parse_db(const char *text, size_t len, int64_t *usec)
{
	struct civil c;
	size_t pos = 11;
	int64_t v;

	if (text == NULL || usec == NULL || parse_date(text, len, &c) != 0 ||
	    len == 10 || text[10] != ' ' ||
	    parse_clock(text, len, &pos, &c) != 0 || pos != len)
		return -1;
	v = civil_to_usec(&c);
	if (!in_range(v))
		return -1;
	*usec = v;
	return 0;
}

/* n decimal digits of v (0 <= v < 10^n) at p. */
static void
put_digits(char *p, int v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * Formats usec with date/time separator sep; fraction always or if non-zero.
 * Digits by hand: snprintf's format parsing cost a tenth of a batch of
 * heartbeats (bench/README.md); years outside 0-9999 (never stored) keep
 * snprintf's "%04d".
 */
static int
format_instant(int64_t usec, char sep, int always_frac, const char *suffix,
    char *buf, size_t size)
{
	char tmp[TIME_TEXT_MAX], frac[16] = "";
	int y, mo, d, h, mi, s, us, n;
	size_t slen;

	if (buf == NULL || size == 0)
		return -1;
	time_to_civil(usec, &y, &mo, &d, &h, &mi, &s, &us);
	slen = strlen(suffix);
	if (y >= 0 && y <= 9999 && 27 + slen < sizeof(tmp)) {
		put_digits(tmp, y, 4);
		tmp[4] = '-';
		put_digits(tmp + 5, mo, 2);
		tmp[7] = '-';
		put_digits(tmp + 8, d, 2);
		tmp[10] = sep;
		put_digits(tmp + 11, h, 2);
		tmp[13] = ':';
		put_digits(tmp + 14, mi, 2);
		tmp[16] = ':';
		put_digits(tmp + 17, s, 2);
		n = 19;
		if (always_frac || us != 0) {
			tmp[n] = '.';
			put_digits(tmp + n + 1, us, 6);
			n += 7;
		}
		memcpy(tmp + n, suffix, slen + 1);
		n += (int)slen;
	} else {
		if (always_frac || us != 0)
			(void)snprintf(frac, sizeof(frac), ".%06d", us);
		n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d%c%02d:%02d:%02d%s%s",
		    y, mo, d, sep, h, mi, s, frac, suffix);
	}
	if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n >= size) {
		buf[0] = '\0';
		return -1;
	}
	memcpy(buf, tmp, (size_t)n + 1);
	return n;
}

int
time_format_rfc3339(int64_t usec, char *buf, size_t size)
{
	return format_instant(usec, 'T', 0, "Z", buf, size);
}

int
time_format_db(int64_t usec, char *buf, size_t size)
{
	return format_instant(usec, ' ', 1, "", buf, size);
}

int64_t
time_now_usec(void)
{
	struct timespec ts;
	int64_t now = 0;
#ifdef BILLING_TEST_CLOCK
	const char *fake;

	const char *shift;
	char *end;
	long long offset = 0;

	/* Test builds only: a fixed "now" makes billing periods reproducible.
	 * An unparsable value falls back to the real clock. */
	fake = getenv("BILLING_TEST_NOW");
	if (fake != NULL &&
	    time_parse_rfc3339(fake, strlen(fake), TIME_NO_DATE, &now,
	    NULL) == 0)
		return now;
	/* A running clock moved to another date (the suites run on chosen
	 * days, such as the 1st of a month, with time still passing). */
	shift = getenv("BILLING_TEST_OFFSET");
	if (shift != NULL && *shift != '\0') {
		errno = 0;
		offset = strtoll(shift, &end, 10);
		if (errno != 0 || *end != '\0' || offset > TIME_TEST_OFFSET_MAX ||
		    offset < -TIME_TEST_OFFSET_MAX)
			offset = 0;
	}
#endif
	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		now = (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
#ifdef BILLING_TEST_CLOCK
	now += (int64_t)offset * USEC_PER_SEC;
#endif
	return now;
}

int64_t
time_mono_usec(void)
{
	struct timespec ts;
	int64_t now = 0;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		now = (int64_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
	return now;
}
