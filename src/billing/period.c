/*
 * period: calendar arithmetic for billing periods, all in UTC.
 */
#include "period.h"
#include "timeutil.h"

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

void
period_containing(int invoice_day, int64_t at, int64_t *start, int64_t *end)
{
	int y, m, d, hh, mm, ss, us;
	int64_t s;

	time_to_civil(at, &y, &m, &d, &hh, &mm, &ss, &us);
	s = time_from_civil(y, m, invoice_day, 0, 0, 0);
	if (s > at)
		s = time_from_civil(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1,
		    invoice_day, 0, 0, 0);
	time_to_civil(s, &y, &m, &d, &hh, &mm, &ss, &us);
	*start = s;
	*end = time_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1,
	    invoice_day, 0, 0, 0);
}
