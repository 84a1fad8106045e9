/*
 * tz: named IANA time zones (the system's tzdata, TZ_DIR), for the one
 * question billing asks of them: where a local calendar day begins, and
 * which local day an instant falls in.
 *
 * The C library does the zone arithmetic.  Its zone is process-global
 * (TZ + tzset), so each call sets TZ to the zone's file, converts and puts
 * the previous TZ back before returning: no zone leaks into the rest of the
 * process or the next request.  That is safe because every process that
 * calls it (billingd's preforked workers, the cron helpers) is single-
 * threaded; nothing else here reads local time (logs and the database are
 * UTC).  "UTC" never touches TZ: plain arithmetic.
 */
#ifndef BILLING_TZ_H
#define BILLING_TZ_H

#include <stdint.h>

#define TZ_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX 64          /* the longest name taken, in bytes */
#define TZ_UTC "UTC"

/* 1 when name is a zone of the system's tzdata ("Europe/Paris", "UTC"):
 * a relative path of letters, digits and "/_+-" naming a TZif file under
 * TZ_DIR, not one of its "posix/" or "right/" copies; else 0. */
int tz_valid(const char *name);

/*
 * The first instant (microseconds, UTC) of the local calendar day
 * year-month-day in zone: local midnight, or when a daylight-saving change
 * skips midnight, the first local time that exists that day (01:00 in
 * America/Havana on 2024-03-10).  month may run outside 1-12 (rolls into
 * neighbouring years).  zone must be tz_valid; NULL or "" mean UTC.
 */
int64_t tz_day_start(const char *zone, int year, int month, int day);

/* A stretch of constant UTC offset: from `start` on (until the next). */
struct tz_span {
	int64_t start;          /* microseconds, UTC */
	int32_t offset;         /* seconds east of UTC */
};

/*
 * The zone's offsets over [from, to): spans[0].start is from, each span
 * lasts until the next one's start.  Returns how many (at least 1), or -1
 * when there are more than max.  Changes closer together than a day are
 * taken as one (none in the tz database).
 */
int tz_offsets(const char *zone, int64_t from, int64_t to,
    struct tz_span *spans, size_t max);

/* The local calendar date of the instant `at` in zone. */
void tz_local_date(const char *zone, int64_t at, int *year, int *month,
    int *day);

#endif
