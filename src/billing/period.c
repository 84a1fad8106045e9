/*
 * period: calendar arithmetic for billing periods, in UTC or in a named
 * zone (tz.c finds where a local day begins).
 */
#include <string.h>

#include "period.h"
#include "timeutil.h"
#include "tz.h"

#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

int64_t
period_day_floor(int64_t at)
{
	return at - (((at % USEC_PER_DAY) + USEC_PER_DAY) % USEC_PER_DAY);
}

int64_t
period_day_ceil(int64_t at)
{
	int64_t f = period_day_floor(at);

	return f == at ? at : f + USEC_PER_DAY;
}

int64_t
period_day_floor_tz(const char *zone, int64_t at)
{
	int y, m, d;

	tz_local_date(zone, at, &y, &m, &d);
	return tz_day_start(zone, y, m, d);
}

int64_t
period_day_next_tz(const char *zone, int64_t day_start)
{
	int y, m, d;

	tz_local_date(zone, day_start, &y, &m, &d);
	return tz_day_start(zone, y, m, d + 1);
}

void
period_containing_tz(const char *zone, int invoice_day, int64_t at,
    int64_t *start, int64_t *end)
{
	int y, m, d;
	int64_t s;

	tz_local_date(zone, at, &y, &m, &d);
	s = tz_day_start(zone, y, m, invoice_day);
	if (s > at) {
		m--;
		s = tz_day_start(zone, y, m, invoice_day);
	}
	*start = s;
	*end = tz_day_start(zone, y, m + 1, invoice_day);
}

void
period_containing(int invoice_day, int64_t at, int64_t *start, int64_t *end)
{
	period_containing_tz(NULL, invoice_day, at, start, end);
}

const char *
period_zone_at(const struct period_zone *z, int64_t at)
{
	if (z->from != 0 && z->prev[0] != '\0' && at < z->from)
		return z->prev;
	return z->zone[0] != '\0' ? z->zone : NULL;
}

int
period_zone_is_utc(const struct period_zone *z)
{
	return (z->zone[0] == '\0' || strcmp(z->zone, TZ_UTC) == 0) &&
	    (z->from == 0 || z->prev[0] == '\0' || strcmp(z->prev, TZ_UTC) == 0);
}

int
period_zone_offsets(const struct period_zone *z, int64_t from, int64_t to,
    struct tz_span *spans, size_t max)
{
	int n = 0, m;

	if (z->from != 0 && z->prev[0] != '\0' && from < z->from) {
		if ((n = tz_offsets(z->prev, from, to < z->from ? to : z->from,
		    spans, max)) < 0)
			return -1;
		if (to <= z->from)
			return n;
		from = z->from;
	}
	if ((m = tz_offsets(z->zone, from, to, spans + n, max - (size_t)n)) < 0)
		return -1;
	/* the same offset on both sides of the change: one span */
	if (n > 0 && spans[n].offset == spans[n - 1].offset) {
		memmove(spans + n, spans + n + 1, (size_t)(m - 1) *
		    sizeof(*spans));
		m--;
	}
	return n + m;
}

void
period_account(const struct period_zone *z, int invoice_day, int64_t at,
    int64_t *start, int64_t *end)
{
	int64_t s, e, gap;

	if (z->from == 0 || z->prev[0] == '\0') {
		period_containing_tz(z->zone, invoice_day, at, start, end);
		return;
	}
	if (at < z->from) {
		period_containing_tz(z->prev, invoice_day, at, start, end);
		return;
	}
	gap = z->from + PERIOD_ZONE_GAP_DAYS * USEC_PER_DAY;
	period_containing_tz(z->zone, invoice_day, gap, &s, &e);
	if (at < e) {
		*start = z->from;
		*end = e;
		return;
	}
	period_containing_tz(z->zone, invoice_day, at, start, end);
}
