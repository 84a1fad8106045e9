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

/*
 * The invoices' claims on usage records (metering_write.c, the one writer
 * of billing_usage_records).  A record is claimed by a scheduled invoice
 * when its bill_from falls in the invoice's [usage_from, usage_to), by a
 * manual one through its invoice_id.  Called by the invoice module inside
 * its transaction, the account's row locked.  Times are the database's
 * text (time_format_db).  DB_OK or an error.
 */
/* Ties to invoice_id the account's unclaimed records (invoice_id NULL)
 * that started in [start, end) with bill_from >= unbilled_from. */
int metering_write_claim_manual(struct db *db, uint64_t invoice_id,
    uint64_t account_id, const char *start, const char *end,
    const char *unbilled_from);
/* Unties invoice_id's records, each bill_from raised to at least
 * bill_from (a voided invoice's usage goes on a later invoice). */
int metering_write_claim_give_back(struct db *db, uint64_t invoice_id,
    const char *bill_from);
/* Moves the account's unclaimed records with bill_from in [from, to) to
 * bill_from. */
int metering_write_claim_move(struct db *db, uint64_t account_id,
    const char *bill_from, const char *from, const char *to);

/* The job's statements and the claims' (statements.c). */
extern const struct db_stmts metering_stmts;
extern const struct db_stmts metering_write_claim_stmts;

#endif
