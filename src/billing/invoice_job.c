/*
 * invoice_job: the invoice job (job_table "generate-invoices").  Every run
 * (cron runs it hourly: an account's period ends at local midnight in its
 * time zone) it takes the accounts' zones one at a time and invoices each
 * period of the zone that has ended and is still open for some account
 * (a missed invoice day is caught up), oldest first, at most
 * INVOICE_CATCHUP_PERIODS back, a batch of accounts per transaction
 * (invoice_batch.c); then it finalizes the scheduled drafts older than
 * invoiceDraftHours (invoice_build.c), marks sent invoices past their due
 * date overdue and pushes finalized invoices to Stripe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "jobs.h"
#include "period.h"
#include "plan_changes.h"
#include "stripe.h"
#include "timeutil.h"
#include "tz.h"

#define JOB_BATCH_ACCOUNTS 100
#define HOUR_USEC (3600 * USEC_PER_SEC)
/* how far back a run catches up missed periods (a year of monthly ones) */
#define INVOICE_CATCHUP_PERIODS 12

enum { JOB_OLDEST_OPEN, JOB_DRAFTS, JOB_ZONES, JOB_NSTMTS };

static const struct db_stmt job_sql[JOB_NSTMTS] = {
	/* where the oldest open period starts: the earliest watermark, or
	 * creation of a never-invoiced account (see invoice_batch.c
	 * BATCH_ACCOUNTS) */
	[JOB_OLDEST_OPEN] = { "SELECT MIN(COALESCE(billed_through, "
	    "IF(created_at > ?, ?, created_at))) FROM billing_accounts "
	    "WHERE timezone = ? OR timezone_prev = ?", 4, 1 },
	[JOB_DRAFTS] = { "SELECT id FROM billing_invoices WHERE status = "
	    "'draft' AND kind = 'scheduled' AND created_at <= ? ORDER BY id "
	    "LIMIT 100", 1, 1 },
	/* the zones periods are in (a zone change keeps the old one until
	 * the account's periods in it are invoiced) */
	[JOB_ZONES] = { "SELECT timezone FROM billing_accounts UNION "
	    "SELECT timezone_prev FROM billing_accounts WHERE timezone_prev "
	    "IS NOT NULL ORDER BY 1", 0, 1 },
};
const struct db_stmts invoice_job_stmts = DB_STMTS("invoice_job", job_sql);

static void
fmt_time(int64_t usec, char *buf)
{
	time_format_db(usec, buf, TIME_TEXT_MAX);
}

static int
load_ids(struct db *db, unsigned stmt, const struct db_param *p,
    uint64_t *ids, size_t *n)
{
	struct db_result *res = NULL;
	int64_t v;
	int rc, r;

	*n = 0;
	if ((rc = db_get(db, &invoice_job_stmts, stmt, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1 && *n < JOB_BATCH_ACCOUNTS)
		if (db_col_i64(res, 0, &v) == 0)
			ids[(*n)++] = (uint64_t)v;
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

/* A batch of accounts in one transaction: many invoices per commit. */
static int
invoice_batch_txn(struct db *db, void *arg)
{
	return invoice_batch_run(db, arg);
}

/*
 * The periods to invoice as of jb->now: *first is the start of the oldest
 * one still open for some account (at most INVOICE_CATCHUP_PERIODS back),
 * *last_end the end of the latest one that has ended; none when
 * *first >= *last_end.  Sets jb->latest_start.
 */
static int
open_periods(struct db *db, struct invoice_batch *jb, int64_t *first,
    int64_t *last_end)
{
	const int day = jb->cfg->invoice_day;
	const char *zone = jb->zone;
	struct db_result *res = NULL;
	char nowt[TIME_TEXT_MAX], lst[TIME_TEXT_MAX];
	int64_t end, bound, oldest = 0;
	int rc, r, i;

	/* the latest period that has ended ends where the current one starts */
	period_containing_tz(zone, day, jb->now, last_end, &end);
	/* one that ends inside a clock hour (local midnight at +05:45) waits
	 * until that hour is over: the usage job cuts records at whole hours,
	 * and the one spanning the end is billed in the period it starts in */
	if (*last_end % HOUR_USEC != 0 &&
	    jb->now < *last_end - *last_end % HOUR_USEC + HOUR_USEC)
		period_containing_tz(zone, day, *last_end - 1, last_end, &end);
	period_containing_tz(zone, day, *last_end - 1, &jb->latest_start, &end);
	bound = jb->latest_start;
	for (i = 1; i < INVOICE_CATCHUP_PERIODS; i++)
		period_containing_tz(zone, day, bound - 1, &bound, &end);
	*first = *last_end;
	fmt_time(jb->now, nowt);
	fmt_time(jb->latest_start, lst);
	struct db_param p[] = { DBP_STR(nowt), DBP_STR(lst), DBP_STR(zone),
	    DBP_STR(zone) };
	if ((rc = db_get(db, &invoice_job_stmts, JOB_OLDEST_OPEN, p, 4,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && db_col_time(res, 0, &oldest) != 0)
		r = DB_ERROR;
	db_result_free(res);
	if (r < 0)
		return r;
	if (oldest != 0 && oldest < *last_end) {
		period_containing_tz(zone, day, oldest, first, &end);
		if (*first < bound)
			*first = bound;
	}
	return DB_OK;
}

/* Invoices each open period of jb->zone, oldest first; adds to *created
 * and *periods. */
static int
zone_periods(struct app *app, struct invoice_batch *jb, unsigned *periods,
    uint64_t *created)
{
	int64_t start, last_end;
	int rc;

	if ((rc = open_periods(app->db, jb, &start, &last_end)) != DB_OK)
		return rc;
	while (start < last_end) {
		period_containing_tz(jb->zone, jb->cfg->invoice_day, start,
		    &jb->period_start, &jb->period_end);
		jb->after = 0;
		for (;;) {
			if ((rc = db_transaction(app->db, invoice_batch_txn,
			    jb)) != DB_OK)
				return rc;
			if (jb->naccounts == 0)
				break;
			*created += jb->created;
			jb->after = jb->last;
		}
		(*periods)++;
		start = jb->period_end;
	}
	return DB_OK;
}

/* The zones, then each one's open periods. */
static int
invoice_periods(struct app *app, struct invoice_batch *jb, unsigned *periods,
    uint64_t *created)
{
	char (*zones)[TZ_NAME_MAX + 1] = NULL, (*nz)[TZ_NAME_MAX + 1];
	struct db_result *res = NULL;
	size_t n = 0, cap = 0, i;
	int rc, r;

	*periods = 0;
	/* downgrades come due move their accounts' plans first (the run
	 * bills each period the plan in force at its start all the same) */
	if ((rc = plan_change_apply_due(app->db, jb->cfg, 0, jb->now)) != DB_OK)
		return rc;
	if ((rc = db_get(app->db, &invoice_job_stmts, JOB_ZONES, NULL, 0,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nz = realloc(zones, cap * sizeof(*zones))) == NULL) {
				r = DB_ERROR;
				break;
			}
			zones = nz;
		}
		db_col_text(res, 0, zones[n], sizeof(zones[n]));
		/* a zone the tzdata no longer knows would be read as UTC:
		 * stop rather than bill at the wrong midnight */
		if (!tz_valid(zones[n])) {
			snprintf(jb->error, sizeof(jb->error), "time zone %s is "
			    "not in %s", zones[n], TZ_DIR);
			r = DB_ERROR;
			break;
		}
		n++;
	}
	db_result_free(res);
	rc = r < 0 ? r : DB_OK;
	for (i = 0; rc == DB_OK && i < n; i++) {
		jb->zone = zones[i];
		rc = zone_periods(app, jb, periods, created);
	}
	jb->zone = NULL;
	free(zones);
	return rc;
}

struct draft_batch {
	const struct billing_config *cfg;
	int64_t now;
	uint64_t ids[JOB_BATCH_ACCOUNTS];
	size_t nids;
};

static int
finalize_drafts_txn(struct db *db, void *arg)
{
	struct draft_batch *d = arg;
	char cutoff[TIME_TEXT_MAX];
	size_t i;
	int rc;

	fmt_time(d->now - (int64_t)d->cfg->invoice_draft_hours * 3600 *
	    USEC_PER_SEC, cutoff);
	struct db_param p[] = { DBP_STR(cutoff) };
	if ((rc = load_ids(db, JOB_DRAFTS, p, d->ids, &d->nids)) != DB_OK)
		return rc;
	for (i = 0; i < d->nids; i++)
		if ((rc = invoice_build_finalize(db, d->cfg, d->ids[i],
		    d->now)) != DB_OK)
			return rc;
	return DB_OK;
}

int
invoice_job_run(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	const struct billing_config *cfg = app->cfg;
	struct invoice_batch jb;
	struct draft_batch db_;
	char nowt[TIME_TEXT_MAX];
	uint64_t created = 0, finalized = 0, overdue = 0;
	unsigned pushed = 0, periods = 0;
	char perr[256] = "";
	int rc = DB_OK, push_rc = 0;

	memset(&jb, 0, sizeof(jb));
	jb.cfg = cfg;
	jb.draft = cfg->invoice_draft_hours > 0;
	jb.now = opts && opts->now ? opts->now : time_now_usec();
	if ((rc = invoice_periods(app, &jb, &periods, &created)) != DB_OK)
		goto out;
	if (cfg->invoice_draft_hours > 0) {
		memset(&db_, 0, sizeof(db_));
		db_.cfg = cfg;
		db_.now = jb.now;
		do {
			if ((rc = db_transaction(app->db, finalize_drafts_txn,
			    &db_)) != DB_OK)
				goto out;
			finalized += db_.nids;
		} while (db_.nids == JOB_BATCH_ACCOUNTS);
	}
	fmt_time(jb.now, nowt);
	rc = invoice_mark_overdue(app->db, nowt, &overdue);
	/* Stripe collects finalized invoices of customers it knows; a failed
	 * push keeps the invoices and is retried by the next run */
	if (rc == DB_OK)
		push_rc = stripe_push_pending(app, jb.now, &pushed, perr,
		    sizeof(perr));
out:
	result->items = created;
	/* Stripe could not take the push: the invoices stand, a rerun pushes */
	if (push_rc != 0)
		result->unavailable = 1;
	if (rc != DB_OK)
		snprintf(result->message, sizeof(result->message),
		    "failed after %llu invoices: %s", (unsigned long long)created,
		    jb.error[0] ? jb.error : db_error(app->db));
	else
		snprintf(result->message, sizeof(result->message),
		    "%llu invoices created (%u open periods), %llu drafts "
		    "finalized, %llu overdue, %u pushed to Stripe%s%s",
		    (unsigned long long)created, periods,
		    (unsigned long long)finalized, (unsigned long long)overdue,
		    pushed, push_rc ? "; Stripe push failed: " : "", perr);
	return rc == DB_OK && push_rc == 0 ? 0 : -1;
}
