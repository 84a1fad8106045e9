/*
 * period: billing periods.  A period runs from the first instant of
 * invoiceDay (1-28, so every month has it) in the account's time zone to
 * the same local day a month later: local midnight, or when a daylight-
 * saving change skips midnight the first local time that day (tz.h).  In
 * UTC, the default, that is 00:00 UTC.
 */
#ifndef BILLING_PERIOD_H
#define BILLING_PERIOD_H

#include <stdint.h>

#include "tz.h"

/* The period containing `at` in UTC: [*start, *end). */
void period_containing(int invoice_day, int64_t at, int64_t *start,
    int64_t *end);

/* The period containing `at` in zone (tz_valid; NULL or "" for UTC). */
void period_containing_tz(const char *zone, int invoice_day, int64_t at,
    int64_t *start, int64_t *end);

/*
 * An account's zones over time: `zone` applies from `from` on; before it,
 * `prev` did (a change applies from the account's next period: `from` is
 * the end of the period the change was made in, in `prev`).  from == 0: the
 * account has always been in `zone`.
 */
struct period_zone {
	char zone[TZ_NAME_MAX + 1];
	char prev[TZ_NAME_MAX + 1];
	int64_t from;
};

/* How far a period after a zone change must run at least: its end is the
 * new zone's first period boundary more than this after `from` (offsets
 * differ by at most 26 hours, so this is the boundary a month on, never a
 * sliver of a period). */
#define PERIOD_ZONE_GAP_DAYS 2

/*
 * The account's period containing `at`: in prev before from; from `from`
 * to the new zone's first boundary more than PERIOD_ZONE_GAP_DAYS later
 * (the one period that starts on the old zone's boundary); then in zone.
 */
void period_account(const struct period_zone *z, int invoice_day,
    int64_t at, int64_t *start, int64_t *end);

/*
 * The account's UTC offsets over [from, to) (tz_offsets: in prev before
 * from, in zone after): how many spans, or -1 when more than max.
 */
int period_zone_offsets(const struct period_zone *z, int64_t from,
    int64_t to, struct tz_span *spans, size_t max);

/* The zone that names the local date of the instant `at` for the account:
 * prev before from, else zone (NULL for UTC). */
const char *period_zone_at(const struct period_zone *z, int64_t at);

/* 1 when the account has always been in UTC (its days are UTC days). */
int period_zone_is_utc(const struct period_zone *z);

/* Start of the day containing `at` in zone (NULL, "": UTC), and of the
 * day after it. */
int64_t period_day_floor_tz(const char *zone, int64_t at);
int64_t period_day_next_tz(const char *zone, int64_t day_start);

/* Start of the UTC day containing `at`, and of the day after. */
int64_t period_day_floor(int64_t at);
int64_t period_day_ceil(int64_t at);

#endif
