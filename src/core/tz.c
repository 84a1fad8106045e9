/*
 * tz: local days in named zones through the C library, TZ restored after
 * every call (tz.h says why that is safe here).
 *
 * Cost (measured, bench in tests/unit/check_tz.c): glibc re-reads the zone
 * file whenever TZ changes, so one call costs two file reads (the zone, then
 * the restore), some tens of microseconds; a billing period needs three calls.
 * Reading TZif ourselves would save that but duplicate the C library's
 * parser (and its POSIX footer rules for far-future instants); the cost is
 * far below a database round trip, so we let the library do it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "timeutil.h"
#include "tz.h"

/* |UTC offset| never reaches this (the largest are +14:00 and -12:00, a
 * day and a half covers any daylight-saving rule) */
#define TZ_SEARCH_SECS (36LL * 3600)

int
tz_valid(const char *name)
{
	char path[sizeof(TZ_DIR) + TZ_NAME_MAX + 1], magic[4];
	const char *s, *seg;
	struct stat st;
	FILE *f;
	size_t n;
	int ok;

	if (name == NULL || (n = strlen(name)) == 0 || n > TZ_NAME_MAX ||
	    name[0] == '/' || strncmp(name, "posix/", 6) == 0 ||
	    strncmp(name, "right/", 6) == 0)
		return 0;
	for (s = seg = name; ; s++) {
		if (*s == '/' || *s == '\0') {
			/* no empty, "." or ".." component */
			if (s == seg || (s - seg == 1 && seg[0] == '.') ||
			    (s - seg == 2 && seg[0] == '.' && seg[1] == '.'))
				return 0;
			if (*s == '\0')
				break;
			seg = s + 1;
			continue;
		}
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '+' ||
		    *s == '-' || *s == '.'))
			return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", TZ_DIR, name);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (f = fopen(path, "rb")) == NULL)
		return 0;
	ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

static int
is_utc(const char *zone)
{
	return zone == NULL || zone[0] == '\0' || strcmp(zone, TZ_UTC) == 0;
}

/* TZ as it was before tz_enter, for tz_leave. */
struct tz_saved {
	char *old;      /* owned copy, NULL when TZ was unset */
};

static void
tz_enter(const char *zone, struct tz_saved *sv)
{
	char val[sizeof(TZ_DIR) + TZ_NAME_MAX + 2];
	const char *o = getenv("TZ");

	sv->old = o != NULL ? strdup(o) : NULL;
	/* the file by its full path: never a POSIX rule string */
	snprintf(val, sizeof(val), ":%s/%s", TZ_DIR, zone);
	setenv("TZ", val, 1);
	tzset();
}

static void
tz_leave(struct tz_saved *sv)
{
	if (sv->old != NULL)
		setenv("TZ", sv->old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(sv->old);
	sv->old = NULL;
}

/* The local date of t (seconds) as yyyymmdd, in the zone entered. */
static long
local_ymd(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
	    tm.tm_mday;
}

/* t's UTC offset (seconds east), in the zone entered. */
static int32_t
local_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

int
tz_offsets(const char *zone, int64_t from, int64_t to, struct tz_span *spans,
    size_t max)
{
	int64_t s = from / USEC_PER_SEC, end = to / USEC_PER_SEC, lo, hi, mid;
	struct tz_saved sv;
	int32_t cur;
	size_t n = 1;

	if (max == 0)
		return -1;
	spans[0].start = from;
	spans[0].offset = 0;
	if (is_utc(zone))
		return 1;
	tz_enter(zone, &sv);
	spans[0].offset = cur = local_offset(s);
	/* a day at a time, and the second of each change found between */
	for (lo = s; lo < end; lo = hi) {
		hi = lo + 86400 < end ? lo + 86400 : end;
		if (local_offset(hi) == cur)
			continue;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (local_offset(mid) == cur)
				lo = mid;
			else
				hi = mid;
		}
		if (hi >= end)
			break;
		if (n == max) {
			n = max + 1;
			break;
		}
		cur = local_offset(hi);
		spans[n].start = hi * USEC_PER_SEC;
		spans[n++].offset = cur;
	}
	tz_leave(&sv);
	return n > max ? -1 : (int)n;
}

int64_t
tz_day_start(const char *zone, int year, int month, int day)
{
	int64_t utc = time_from_civil(year, month, day, 0, 0, 0);
	int64_t lo, hi, mid;
	int y, m, d, hh, mm, ss, us;
	struct tz_saved sv;
	long want;

	if (is_utc(zone))
		return utc;
	/* the day as normalised (month outside 1-12) */
	time_to_civil(utc, &y, &m, &d, &hh, &mm, &ss, &us);
	want = (long)y * 10000 + m * 100 + d;
	/* the first second whose local date is the day or later: local dates
	 * only grow with time, so a binary search between a second surely
	 * before (lo) and one surely in it or after (hi) */
	lo = utc / USEC_PER_SEC - TZ_SEARCH_SECS;
	hi = utc / USEC_PER_SEC + TZ_SEARCH_SECS;
	tz_enter(zone, &sv);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (local_ymd(mid) >= want)
			hi = mid;
		else
			lo = mid;
	}
	tz_leave(&sv);
	return hi * USEC_PER_SEC;
}

void
tz_local_date(const char *zone, int64_t at, int *year, int *month, int *day)
{
	int64_t s = at / USEC_PER_SEC - (at % USEC_PER_SEC < 0);
	int hh, mm, ss, us;
	struct tz_saved sv;
	long v;

	if (is_utc(zone)) {
		time_to_civil(at, year, month, day, &hh, &mm, &ss, &us);
		return;
	}
	tz_enter(zone, &sv);
	v = local_ymd(s);
	tz_leave(&sv);
	*year = (int)(v / 10000);
	*month = (int)(v / 100 % 100);
	*day = (int)(v % 100);
}
