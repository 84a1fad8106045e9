/*
 * metering: cutting session segments into hourly usage records.
 *
 * A segment is a stretch of a session at constant size.  The usage job cuts
 * what has not been metered yet, [metered_until, horizon), at clock-hour
 * boundaries, and writes one record per piece and resource with a size
 * above zero.  The horizon is the segment's end if it has ended; the last
 * heartbeat if the session is stale (no heartbeat for
 * sessionTimeoutMinutes); else the start of the current hour.
 *
 * Exactly once: segments are locked (FOR UPDATE SKIP LOCKED) so concurrent
 * runs split the work; records, the segment's metered_until and the daily
 * totals are written in one transaction; and a unique key on
 * (segment, resource, start_time) refuses any piece written twice.
 */
#ifndef BILLING_METERING_H
#define BILLING_METERING_H

#include <stdint.h>

#include "db.h"
#include "resource.h"

struct app;
struct billing_config;
struct job_opts;
struct job_result;

#define USEC_PER_HOUR (3600LL * 1000000LL)
#define HOURS_PER_MONTH 730 /* storage's GB-month, prorated by the hour */

/*
 * Quantity (micro-units of the resource's unit) and cost (micro-units of
 * money) of holding `size` (micro-cores or micro-GB) for `usec`
 * microseconds at `rate`: each rounded half-up once, at 6 decimals.
 * Returns 0, or -1 on overflow.
 */
int metering_price(enum resource r, int64_t size, int64_t usec, int64_t rate,
    int64_t *quantity, int64_t *cost);

/* The usage job (job_table "calculate-usage"). */
int metering_job(struct app *app, const struct job_opts *opts,
    struct job_result *result);

/*
 * The not yet metered cost of a segment from `from` to `to` at the current
 * rates: what GET usage adds to the metered cost for a live figure.
 */
int64_t metering_live_cost(const struct billing_config *cfg, int64_t cpu,
    int64_t memory, int64_t storage, int64_t from, int64_t to);

/* The job's statements (statements.c). */
extern const struct db_stmts metering_stmts;

#endif
