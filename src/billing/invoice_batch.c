/*
 * invoice_batch: the scheduled run's invoices for a batch of accounts, made
 * set-wise in one transaction (the job loop is invoice_job.c).
 *
 *  1. lock the batch's accounts whose period is open (FOR UPDATE, in id
 *     order): a manual invoice, a void and the usage job's shared lock on
 *     the same rows wait;
 *  2. skip accounts with a live invoice overlapping the period (made by an
 *     earlier or concurrent run, or by hand);
 *  3. sum each account's unbilled usage: records with invoice_id NULL and
 *     bill_from in [billed_through, period end), the claim the invoice
 *     stores as usage_from/usage_to; no record is written;
 *  4. work out lines, credits (earliest expiry first) and numbers (one bump
 *     of the year's counter for the batch, in account order) in C;
 *  5. write invoices, lines, credit applications (credits.c), the accounts' new
 *     billed_through and the billing.invoice.created events in multi-row
 *     statements; each invoice row carries what it is issued with
 *     (invoice_issued.c: the customer's and issuer's blocks and the zones,
 *     from the rows read in step 1), so that costs no statement.
 * The run works one time zone at a time (ib->zone): the accounts whose
 * periods are in it, the period [period_start, period_end) at local
 * midnights there.  An account's first period after a zone change starts
 * where its last one in the old zone ended (its billed_through), not at
 * period_start: each account's start is its own (acct.start).
 * The unique key (account_id, live_period_start) still guards the one
 * invoice per account and period; the account locks keep runs from meeting
 * there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "credits.h"
#include "db.h"
#include "events.h"
#include "invoice_impl.h"
#include "log.h"
#include "money.h"
#include "plan_changes.h"
#include "sql_rows.h"
#include "timeutil.h"

#define USEC_PER_DAY (86400LL * USEC_PER_SEC)
#define INVOICE_PARAMS 19

enum {
	BATCH_ACCOUNTS,
	BATCH_OVERLAPS,
	BATCH_USAGE_HOURS,
	BATCH_COUNTER_BUMP,
	BATCH_COUNTER_READ,
	BATCH_NEW_IDS,
	BATCH_NSTMTS
};

enum { ACC_COL_ID, ACC_COL_USER_ID, ACC_COL_PLAN, ACC_COL_MODE,
	ACC_COL_CREATED, ACC_COL_BILLED, ACC_COL_STRIPE_PLAN, ACC_COL_CLOSED,
	ACC_COL_TZ_FROM, ACC_COL_TAX_RATE, ACC_COL_TAX_EXEMPT, ACC_COL_NAME,
	ACC_COL_ADDRESS, ACC_COL_COUNTRY, ACC_COL_TAX_ID, ACC_COL_TZ,
	ACC_COL_TZ_PREV, ACC_NCOLS };
enum { HOUR_COL_RESOURCE, HOUR_COL_UNIT, HOUR_COL_PRICE, HOUR_COL_QTY,
	HOUR_NCOLS };
enum { NEW_COL_ACCOUNT, NEW_COL_ID, NEW_NCOLS };
enum { OVER_COL_ACCOUNT, OVER_COL_END, OVER_NCOLS };
/* the columns of batch_rows_sums */
enum { SUMS_COL_ACCOUNT, SUMS_COL_RESOURCE, SUMS_COL_UNIT, SUMS_COL_PRICE,
	SUMS_COL_QTY, SUMS_COL_COST, SUMS_COL_COUNT, SUMS_NCOLS };

static const struct db_stmt batch_sql[BATCH_NSTMTS] = {
	/* the accounts whose period is still open: never invoiced through
	 * its end (billed_through, else from their creation); whose periods
	 * are in the zone: it is theirs and their first period in it (which
	 * ends more than PERIOD_ZONE_GAP_DAYS after the change took effect)
	 * has come, or it was theirs before a change still to come */
	[BATCH_ACCOUNTS] = { "SELECT id, user_id, COALESCE(plan_id, ''), "
	    "COALESCE(billing_mode, ''), created_at, billed_through, "
	    SQL_STRIPE_PLAN ", closed_at, timezone_from, COALESCE(tax_rate_id, ''), "
	    "tax_exempt, COALESCE(billing_name, ''), "
	    "COALESCE(billing_address, ''), COALESCE(country, ''), "
	    "COALESCE(tax_id, ''), timezone, COALESCE(timezone_prev, '') "
	    "FROM billing_accounts WHERE id > ? "
	    "AND COALESCE(billed_through, IF(created_at > ?, ?, created_at)) "
	    "< ? AND ((timezone = ? AND (timezone_prev IS NULL OR "
	    "timezone_from IS NULL OR timezone_from + INTERVAL 2 DAY < ?)) "
	    "OR (timezone_prev = ? AND timezone_from >= ?)) "
	    "ORDER BY id LIMIT 100 FOR UPDATE", 8, ACC_NCOLS },
	/* live invoices overlapping the batch's periods: the latest end of
	 * each account's */
	[BATCH_OVERLAPS] = { "SELECT account_id, MAX(period_end) FROM "
	    "billing_invoices WHERE account_id BETWEEN ? AND ? AND status <> "
	    "'void' AND kind <> 'stripe' AND period_start < ? AND period_end > ? "
	    "GROUP BY account_id", 4, OVER_NCOLS },
	[BATCH_USAGE_HOURS] = { "SELECT resource_type, unit, unit_price, "
	    "SUM(quantity) FROM billing_usage_records WHERE account_id = ? "
	    "AND bill_from >= ? AND bill_from < ? AND invoice_id IS NULL "
	    "GROUP BY resource_type, unit, unit_price, "
	    "DATE_FORMAT(start_time, '%Y%m%d%H')", 3, HOUR_NCOLS },
	[BATCH_COUNTER_BUMP] = { "INSERT INTO billing_invoice_counters (year, "
	    "last_number) VALUES (?, ?) ON DUPLICATE KEY UPDATE "
	    "last_number = last_number + VALUES(last_number)", 2, 0 },
	[BATCH_COUNTER_READ] = { "SELECT last_number FROM "
	    "billing_invoice_counters WHERE year = ?", 1, 1 },
	/* by id: an account's newest is the one just made */
	[BATCH_NEW_IDS] = { "SELECT account_id, id FROM billing_invoices "
	    "WHERE account_id BETWEEN ? AND ? AND live_period_start >= ? "
	    "AND live_period_start < ? AND kind = 'scheduled' ORDER BY id",
	    4, NEW_NCOLS },
};
const struct db_stmts invoice_batch_stmts = DB_STMTS("invoice_batch",
    batch_sql);

/* accounts with the same billed_through share one statement: usually the
 * whole batch, or two groups (never invoiced, invoiced last period) */
struct sql_rows invoice_batch_rows_sums = SQL_ROWS_STMT("invoice_batch.rows",
    0, SUMS_NCOLS,
    "SELECT account_id, resource_type, unit, unit_price, SUM(quantity), "
    "SUM(total_cost), COUNT(*) FROM billing_usage_records "
    "WHERE account_id IN (", "?",
    ") AND bill_from >= ? AND bill_from < ? AND invoice_id IS NULL "
    "GROUP BY account_id, resource_type, unit, unit_price "
    "ORDER BY account_id, resource_type, unit, unit_price");
struct sql_rows invoice_batch_rows_invoices = SQL_ROWS_STMT(
    "invoice_batch.rows", 1, 0,
    "INSERT INTO billing_invoices (account_id, invoice_number, kind, "
    "period_start, period_end, billing_mode, plan_id, currency, subtotal, "
    "credits, total, status, due_date, finalized_at, created_at, usage_from, "
    "usage_to, tax, tax_exempt, issued_details) VALUES ",
    "(?,?,'scheduled',?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", "");

enum acct_state { ACCT_SKIP, ACCT_EMPTY, ACCT_BILL };

struct acct {
	uint64_t id;
	char user_id[256], plan_id[65], mode_name[16];
	int64_t created, billed_through;   /* 0: never invoiced */
	int64_t closed_at;                 /* 0: not closed */
	int64_t stripe_plan;               /* 1: Stripe collects the plan */
	int64_t claim_from;                /* 0: from the start */
	int64_t start;                     /* its period's start */
	char ps[TIME_TEXT_MAX];            /* start, as text */
	enum acct_state state;
	const struct plan *plan;           /* in force at the period's start:
	                                    * its fee is billed */
	const struct plan *limits;         /* in force at its end: overage */
	const struct plan_change_row *changes;   /* since the period's start */
	size_t nchanges;
	enum billing_mode mode;
	struct usage_sums sums;            /* owned, as lines */
	int64_t records;
	struct line_set lines;
	int64_t credits;
	char tax_rate_id[65];              /* "": the default rate */
	int64_t tax_exempt;
	struct invoice_taxes tax;          /* one line per rate */
	uint64_t invoice_id;
	char number[33];
	char *issued;                      /* what it is issued with
	                                    * (invoice_issued_text; heap;
	                                    * NULL for drafts) */
};

struct application {
	int64_t credit_id, amount;
	size_t acct;      /* index of the account in the batch */
};

struct run {
	struct db *db;
	struct invoice_batch *ib;
	struct acct *a;
	size_t n;
	char ps[TIME_TEXT_MAX], pe[TIME_TEXT_MAX], now[TIME_TEXT_MAX],
	    due[TIME_TEXT_MAX], ls[TIME_TEXT_MAX];
	int64_t min_start;                 /* the earliest account start */
	char ms[TIME_TEXT_MAX];            /* min_start, as text */
	struct application *apps;
	size_t napps, apps_cap;
	struct plan_change_row *changes;   /* the batch's, by account */
	size_t nchanges;
};

static size_t
find_acct(const struct run *r, uint64_t id)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (r->a[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n && r->a[lo].id == id ? lo : r->n;
}

/* Why an account's invoice cannot be made as it should: logged, and the
 * batch's transaction is rolled back, the claims with it (nothing billed
 * rather than billed short; the run reports the failure). */
static int
lines_failed(struct run *r, const struct acct *a, const char *what)
{
	snprintf(r->ib->error, sizeof(r->ib->error), "account %llu: %s: out "
	    "of memory or an amount beyond the money range",
	    (unsigned long long)a->id, what);
	log_warnx("invoices: %s; the batch is not invoiced", r->ib->error);
	return DB_ERROR;
}

/*
 * What the account's invoice is issued with (invoice_issued.c), from its
 * row: its billing details and zone history as they are now, the config's
 * issuer.  Written with the invoice in the batch's multi-row INSERT: no
 * statement of its own.  Heap (caller frees), or NULL when out of memory.
 */
static char *
issued_text(const struct run *r, struct db_result *res, const struct acct *a,
    int64_t tz_from)
{
	struct account_billing *b;
	char address[ACCOUNT_ADDRESS_LINES * (ACCOUNT_TEXT_MAX + 1) + 1];
	char *out;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	db_col_text(res, ACC_COL_NAME, b->name, sizeof(b->name));
	db_col_text(res, ACC_COL_ADDRESS, address, sizeof(address));
	invoice_issued_address(address, b);
	db_col_text(res, ACC_COL_COUNTRY, b->country, sizeof(b->country));
	db_col_text(res, ACC_COL_TAX_ID, b->tax_id, sizeof(b->tax_id));
	db_col_text(res, ACC_COL_TZ, b->zone.zone, sizeof(b->zone.zone));
	db_col_text(res, ACC_COL_TZ_PREV, b->zone.prev, sizeof(b->zone.prev));
	b->zone.from = tz_from;
	out = invoice_issued_text(b, &r->ib->cfg->issuer, a->start,
	    r->ib->period_end);
	free(b);
	return out;
}

static int
load_accounts(struct run *r)
{
	const struct billing_config *cfg = r->ib->cfg;
	struct db_result *res = NULL;
	int64_t v, tz_from;
	int rc, f;

	struct db_param p[] = { DBP_INT(r->ib->after), DBP_STR(r->now),
	    DBP_STR(r->ls), DBP_STR(r->pe), DBP_STR(r->ib->zone),
	    DBP_STR(r->pe), DBP_STR(r->ib->zone), DBP_STR(r->pe) };
	if ((rc = db_get(r->db, &invoice_batch_stmts, BATCH_ACCOUNTS, p, 8,
	    &res)) != DB_OK)
		return rc;
	r->min_start = r->ib->period_start;
	while ((f = db_fetch(res)) == 1 && r->n < INVOICE_BATCH_ACCOUNTS) {
		struct acct *a = &r->a[r->n];
		struct account view;

		memset(a, 0, sizeof(*a));
		a->lines.whole_units =
		    money_amount_decimals(r->ib->cfg->currency) == 0;
		if (db_col_i64(res, ACC_COL_ID, &v) != 0 ||
		    db_col_time(res, ACC_COL_CREATED, &a->created) != 0 ||
		    db_col_time(res, ACC_COL_BILLED, &a->billed_through) != 0 ||
		    db_col_i64(res, ACC_COL_STRIPE_PLAN, &a->stripe_plan) != 0 ||
		    db_col_time(res, ACC_COL_CLOSED, &a->closed_at) != 0 ||
		    db_col_time(res, ACC_COL_TZ_FROM, &tz_from) != 0) {
			f = DB_ERROR;
			break;
		}
		/* the first period after a zone change starts where the last
		 * one in the old zone ended */
		a->start = tz_from != 0 && a->billed_through == tz_from &&
		    tz_from < r->ib->period_end ? tz_from : r->ib->period_start;
		if (a->start < r->min_start)
			r->min_start = a->start;
		time_format_db(a->start, a->ps, sizeof(a->ps));
		a->id = (uint64_t)v;
		db_col_text(res, ACC_COL_USER_ID, a->user_id, sizeof(a->user_id));
		db_col_text(res, ACC_COL_TAX_RATE, a->tax_rate_id,
		    sizeof(a->tax_rate_id));
		(void)db_col_i64(res, ACC_COL_TAX_EXEMPT, &a->tax_exempt);
		db_col_text(res, ACC_COL_PLAN, a->plan_id, sizeof(a->plan_id));
		db_col_text(res, ACC_COL_MODE, a->mode_name,
		    sizeof(a->mode_name));
		/* the account's own plan and mode, as accounts.c resolves them */
		memset(&view, 0, sizeof(view));
		snprintf(view.plan_id, sizeof(view.plan_id), "%s", a->plan_id);
		snprintf(view.billing_mode, sizeof(view.billing_mode), "%s",
		    a->mode_name);
		a->plan = a->limits = account_plan(cfg, &view);
		a->mode = account_mode(cfg, &view);
		a->state = ACCT_BILL;
		r->n++;
		if (!r->ib->draft && (a->issued = issued_text(r, res, a,
		    tz_from)) == NULL) {
			f = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

static int
mark_overlaps(struct run *r)
{
	struct db_result *res = NULL;
	int64_t id, end;
	size_t i;
	int rc, f;

	time_format_db(r->min_start, r->ms, sizeof(r->ms));
	struct db_param p[] = { DBP_INT(r->a[0].id), DBP_INT(r->a[r->n - 1].id),
	    DBP_STR(r->pe), DBP_STR(r->ms) };
	if ((rc = db_get(r->db, &invoice_batch_stmts, BATCH_OVERLAPS, p, 4,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1)
		if (db_col_i64(res, OVER_COL_ACCOUNT, &id) == 0 &&
		    db_col_time(res, OVER_COL_END, &end) == 0 &&
		    (i = find_acct(r, (uint64_t)id)) < r->n &&
		    end > r->a[i].start)
			r->a[i].state = ACCT_SKIP;
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

/* Sums for the accounts a[ix[0..n-1]], all with the same claim start. */
static int
sum_group(struct run *r, const size_t *ix, size_t n, const char *from)
{
	static struct db_param p[SQL_ROWS_MAX + 2];
	struct db_result *res = NULL;
	size_t k = sql_rows_chunk_up(n), i;
	int64_t id, cnt;
	int rc, f;

	for (i = 0; i < k; i++)
		p[i] = DBP_INT(r->a[ix[i < n ? i : n - 1]].id);
	p[k] = DBP_STR(from);
	p[k + 1] = DBP_STR(r->pe);
	if ((rc = db_get_rows(r->db, &invoice_batch_rows_sums, k, p, k + 2,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		struct acct *a;
		struct usage_sum *s;

		if (db_col_i64(res, SUMS_COL_ACCOUNT, &id) != 0 ||
		    (i = find_acct(r, (uint64_t)id)) == r->n) {
			f = DB_ERROR;
			break;
		}
		a = &r->a[i];
		/* every group is billed: no room for one fails the batch */
		if ((s = invoice_lines_sums_next(&a->sums)) == NULL) {
			f = lines_failed(r, a, "its usage sums");
			break;
		}
		db_col_text(res, SUMS_COL_RESOURCE, s->resource,
		    sizeof(s->resource));
		db_col_text(res, SUMS_COL_UNIT, s->unit, sizeof(s->unit));
		if (db_col_decimal(res, SUMS_COL_PRICE, &s->price) != 0 ||
		    db_col_decimal(res, SUMS_COL_QTY, &s->qty) != 0 ||
		    db_col_decimal(res, SUMS_COL_COST, &s->cost) != 0 ||
		    db_col_i64(res, SUMS_COL_COUNT, &cnt) != 0) {
			f = DB_ERROR;
			break;
		}
		a->records += cnt;
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

/* Each billable account's claim, and its usage summed by group of claim. */
static int
load_usage(struct run *r)
{
	size_t ix[INVOICE_BATCH_ACCOUNTS], n = 0, i, j;
	char from[TIME_TEXT_MAX];
	int rc;

	for (i = 0; i < r->n; i++) {
		struct acct *a = &r->a[i];

		if (a->state == ACCT_SKIP)
			continue;
		a->claim_from = a->billed_through;
		/* already invoiced past this period (the run was asked for an
		 * earlier one): no usage to claim */
		if (a->claim_from >= r->ib->period_end)
			a->claim_from = r->ib->period_end;
		else
			ix[n++] = i;
	}
	/* by claim start (insertion sort: a batch is small and mostly sorted) */
	for (i = 1; i < n; i++) {
		size_t v = ix[i];

		for (j = i; j > 0 && r->a[ix[j - 1]].claim_from >
		    r->a[v].claim_from; j--)
			ix[j] = ix[j - 1];
		ix[j] = v;
	}
	for (i = 0; i < n; i = j) {
		int64_t c = r->a[ix[i]].claim_from;

		for (j = i; j < n && r->a[ix[j]].claim_from == c; j++)
			;
		if (c == 0)
			snprintf(from, sizeof(from), "1000-01-01 00:00:00");
		else
			time_format_db(c, from, sizeof(from));
		if ((rc = sum_group(r, ix + i, j - i, from)) != DB_OK)
			return rc;
	}
	return DB_OK;
}

/* Hybrid overage needs the usage hour by hour: one account at a time. */
static int
load_overage(struct run *r, struct acct *a, struct overage *o)
{
	struct db_result *res = NULL;
	char from[TIME_TEXT_MAX];
	int rc, f;

	if (a->claim_from == 0)
		snprintf(from, sizeof(from), "1000-01-01 00:00:00");
	else
		time_format_db(a->claim_from, from, sizeof(from));
	struct db_param p[] = { DBP_INT(a->id), DBP_STR(from), DBP_STR(r->pe) };
	if ((rc = db_get(r->db, &invoice_batch_stmts, BATCH_USAGE_HOURS, p, 3,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		char rs[16], unit[32];
		int64_t price, qty;

		db_col_text(res, HOUR_COL_RESOURCE, rs, sizeof(rs));
		db_col_text(res, HOUR_COL_UNIT, unit, sizeof(unit));
		if (db_col_decimal(res, HOUR_COL_PRICE, &price) != 0 ||
		    db_col_decimal(res, HOUR_COL_QTY, &qty) != 0) {
			f = DB_ERROR;
			break;
		}
		if (invoice_lines_overage_add(o, a->limits, rs, unit, price,
		    qty) != 0) {
			f = lines_failed(r, a, "its overage");
			break;
		}
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

/* The plan of id, or the account's default one when id is "" or no longer
 * configured. */
static const struct plan *
resolve_plan(const struct billing_config *cfg, const char *id)
{
	const struct plan *p = id[0] != '\0' ? config_find_plan(cfg, id) : NULL;
	struct account view;

	if (p != NULL)
		return p;
	memset(&view, 0, sizeof(view));
	return account_plan(cfg, &view);
}

/*
 * The plan changes of the batch's accounts since the period's start
 * (plan_changes.h): the plan whose fee the period bills is the one in force
 * at its start (a downgrade takes effect at the end), its overage limits
 * those in force at its end; upgrades inside it add proration lines.
 */
static int
load_plan_changes(struct run *r)
{
	const struct billing_config *cfg = r->ib->cfg;
	size_t i, j;
	int rc;

	/* from the earliest account start: after a zone change an account's
	 * period starts at its own a->start, not the batch's period_start */
	rc = plan_change_load_range(r->db, r->a[0].id, r->a[r->n - 1].id,
	    r->min_start, &r->changes, &r->nchanges);
	if (rc != DB_OK)
		return rc;
	for (i = 0, j = 0; i < r->n; i++) {
		struct acct *a = &r->a[i];

		while (j < r->nchanges && r->changes[j].account_id < a->id)
			j++;
		a->changes = &r->changes[j];
		while (j < r->nchanges && r->changes[j].account_id == a->id) {
			a->nchanges++;
			j++;
		}
		if (a->nchanges == 0)
			continue;
		a->plan = resolve_plan(cfg, plan_change_plan_at(a->changes,
		    a->nchanges, a->start, a->plan_id));
		a->limits = resolve_plan(cfg, plan_change_plan_at(a->changes,
		    a->nchanges, r->ib->period_end - 1, a->plan_id));
	}
	return DB_OK;
}

/* The proration lines of the upgrades made during the period. */
static int
proration_lines(struct run *r, struct acct *a)
{
	const struct billing_config *cfg = r->ib->cfg;
	size_t i;

	for (i = 0; i < a->nchanges; i++) {
		const struct plan_change_row *c = &a->changes[i];

		/* the account's own period: it starts at a->start */
		if (!c->upgrade || c->effective_at < a->start ||
		    c->effective_at >= r->ib->period_end)
			continue;
		if (invoice_lines_proration(&a->lines, r->ib->zone,
		    config_find_plan(cfg, c->from_plan),
		    config_find_plan(cfg, c->to_plan), c->from_plan,
		    c->to_plan, c->effective_at, c->credit, c->charge,
		    c->credit_qty, c->charge_qty) != 0)
			return -1;
	}
	return 0;
}

/* An account's lines, by its billing mode. */
static int
account_lines(struct run *r, struct acct *a)
{
	const struct invoice_batch *ib = r->ib;
	struct overage o;
	int rc = DB_OK;

	switch (a->mode) {
	case MODE_USAGE:
		if (invoice_lines_usage(&a->lines, a->sums.s, a->sums.n) != 0)
			return lines_failed(r, a, "its usage lines");
		break;
	case MODE_SUBSCRIPTION:
	case MODE_HYBRID:
		/* a plan that Stripe's subscription collects is not billed
		 * here, nor one of an account closed before the period */
		if (invoice_lines_subscription(&a->lines, a->stripe_plan ||
		    (a->closed_at != 0 && a->closed_at <= a->start) ?
		    NULL : a->plan, a->created, a->start,
		    ib->period_end) != 0)
			return lines_failed(r, a, "its plan line");
		if (!a->stripe_plan && proration_lines(r, a) != 0)
			return lines_failed(r, a, "its proration lines");
		if (a->mode == MODE_SUBSCRIPTION || a->limits == NULL ||
		    a->records == 0)
			break;
		memset(&o, 0, sizeof(o));
		if ((rc = load_overage(r, a, &o)) == DB_OK &&
		    invoice_lines_overage(&a->lines, &o, a->limits) != 0)
			rc = lines_failed(r, a, "its overage lines");
		invoice_lines_overage_free(&o);
		break;
	}
	return rc;
}

static int
make_lines(struct run *r)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n; i++) {
		struct acct *a = &r->a[i];

		if (a->state == ACCT_SKIP)
			continue;
		if ((rc = account_lines(r, a)) != DB_OK)
			return rc;
		/* nothing to bill: no invoice; the period is closed all the same */
		if (a->lines.n == 0 && a->records == 0)
			a->state = ACCT_EMPTY;
	}
	return DB_OK;
}

static int
add_application(struct run *r, int64_t credit_id, int64_t amount, size_t acct)
{
	if (r->napps == r->apps_cap) {
		size_t cap = r->apps_cap ? r->apps_cap * 2 : 64;
		struct application *na = realloc(r->apps, cap * sizeof(*na));

		if (na == NULL)
			return -1;
		r->apps = na;
		r->apps_cap = cap;
	}
	r->apps[r->napps++] = (struct application){ credit_id, amount, acct };
	return 0;
}

/* One available credit (credits_lock_range): as much of it as the
 * account's invoice still needs. */
static int
take_credit(void *arg, const struct credits_available *c)
{
	struct run *r = arg;
	struct acct *a;
	int64_t left, take;
	size_t i;

	if ((i = find_acct(r, c->account_id)) == r->n ||
	    r->a[i].state != ACCT_BILL)
		return 0;
	a = &r->a[i];
	left = a->lines.subtotal - a->credits;
	if (left <= 0)
		return 0;
	take = c->remaining < left ? c->remaining : left;
	if (add_application(r, (int64_t)c->credit_id, take, i) != 0)
		return -1;
	a->credits += take;
	return 0;
}

/* Credits, earliest expiry first, never expired, never below zero. */
static int
plan_credits(struct run *r)
{
	return credits_lock_range(r->db, r->a[0].id, r->a[r->n - 1].id, r->now,
	    take_credit, r);
}

/* Numbers for the batch's invoices, in account order, from one bump of
 * the year's counter (its row stays locked until commit: no gaps). */
static int
take_numbers(struct run *r, size_t count)
{
	int y, m, d, hh, mm, ss, us, rc;
	int64_t last = 0, next;
	size_t i;

	time_to_civil(r->ib->now, &y, &m, &d, &hh, &mm, &ss, &us);
	struct db_param p[] = { DBP_INT(y), DBP_INT(count) };
	if ((rc = db_run(r->db, &invoice_batch_stmts, BATCH_COUNTER_BUMP, p, 2,
	    NULL, NULL)) != DB_OK ||
	    (rc = db_get_i64(r->db, &invoice_batch_stmts, BATCH_COUNTER_READ, p,
	    1, &last)) != DB_OK)
		return rc;
	next = last - (int64_t)count + 1;
	for (i = 0; i < r->n; i++)
		if (r->a[i].state == ACCT_BILL)
			snprintf(r->a[i].number, sizeof(r->a[i].number),
			    "INV-%04d-%06lld", y, (long long)next++);
	return DB_OK;
}

/* The text of one invoice's values, kept alive for the binds. */
struct invoice_text {
	char subtotal[32], credits[32], total[32], from[TIME_TEXT_MAX],
	    tax[32];
};

/* An invoice's total: what it charges after credits, plus the exclusive
 * rates' tax (an inclusive one's is inside the lines). */
static int64_t
acct_total(const struct acct *a)
{
	return a->lines.subtotal - a->credits + a->tax.added;
}

/* The taxes of each invoice, per rate on what it charges after credits. */
static int
plan_taxes(struct run *r, const size_t *ix, size_t n)
{
	const struct billing_config *cfg = r->ib->cfg;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		struct acct *a = &r->a[ix[i]];

		if ((rc = invoice_tax_compute(cfg, a->tax_rate_id,
		    a->tax_exempt != 0, a->lines.lines, a->lines.n, a->credits,
		    money_amount_decimals(cfg->currency), &a->tax)) != 0) {
			snprintf(r->ib->error, sizeof(r->ib->error),
			    "account %llu: %s", (unsigned long long)a->id,
			    invoice_tax_error(rc));
			log_warnx("invoices: %s; the batch is not invoiced",
			    r->ib->error);
			return DB_ERROR;
		}
	}
	return DB_OK;
}

static int
insert_invoices_rows(struct run *r, const size_t *ix, size_t n)
{
	static struct db_param p[SQL_ROWS_MAX * INVOICE_PARAMS];
	static struct invoice_text txt[SQL_ROWS_MAX];
	const struct invoice_batch *ib = r->ib;
	size_t done = 0, k, i, j;
	int rc;

	while (done < n) {
		k = sql_rows_chunk(n - done);
		for (i = 0, j = 0; i < k; i++) {
			const struct acct *a = &r->a[ix[done + i]];
			struct invoice_text *t = &txt[i];

			money_format(a->lines.subtotal, 2, t->subtotal,
			    sizeof(t->subtotal));
			money_format(a->credits, 2, t->credits, sizeof(t->credits));
			money_format(acct_total(a), 2, t->total,
			    sizeof(t->total));
			money_format(a->tax.tax, 2, t->tax, sizeof(t->tax));
			if (a->claim_from)
				time_format_db(a->claim_from, t->from,
				    sizeof(t->from));
			p[j++] = DBP_INT(a->id);
			p[j++] = ib->draft ? DBP_NULLV : DBP_STR(a->number);
			p[j++] = DBP_STR(a->ps);
			p[j++] = DBP_STR(r->pe);
			p[j++] = DBP_STR(config_mode_name(a->mode));
			p[j++] = a->plan ? DBP_STR(a->plan->id) : DBP_NULLV;
			p[j++] = DBP_STR(ib->cfg->currency);
			p[j++] = DBP_STR(t->subtotal);
			p[j++] = DBP_STR(t->credits);
			p[j++] = DBP_STR(t->total);
			p[j++] = DBP_STR(ib->draft ? "draft" : "sent");
			p[j++] = ib->draft ? DBP_NULLV : DBP_STR(r->due);
			p[j++] = ib->draft ? DBP_NULLV : DBP_STR(r->now);
			p[j++] = DBP_STR(r->now);
			p[j++] = a->claim_from ? DBP_STR(t->from) : DBP_NULLV;
			p[j++] = DBP_STR(r->pe);
			p[j++] = DBP_STR(t->tax);
			p[j++] = DBP_INT(a->tax_exempt != 0);
			p[j++] = a->issued != NULL ? DBP_STR(a->issued) :
			    DBP_NULLV;
		}
		if ((rc = db_run_rows(r->db, &invoice_batch_rows_invoices, k, p,
		    j, NULL, NULL)) != DB_OK)
			return rc;
		done += k;
	}
	return DB_OK;
}

static int
read_new_ids(struct run *r)
{
	struct db_result *res = NULL;
	int64_t acct_id, id;
	size_t i;
	int rc, f;

	struct db_param p[] = { DBP_INT(r->a[0].id), DBP_INT(r->a[r->n - 1].id),
	    DBP_STR(r->ms), DBP_STR(r->pe) };
	if ((rc = db_get(r->db, &invoice_batch_stmts, BATCH_NEW_IDS, p, 4,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1)
		if (db_col_i64(res, NEW_COL_ACCOUNT, &acct_id) == 0 &&
		    db_col_i64(res, NEW_COL_ID, &id) == 0 &&
		    (i = find_acct(r, (uint64_t)acct_id)) < r->n &&
		    r->a[i].state == ACCT_BILL)
			r->a[i].invoice_id = (uint64_t)id;
	db_result_free(res);
	if (f < 0)
		return f;
	for (i = 0; i < r->n; i++)
		if (r->a[i].state == ACCT_BILL && r->a[i].invoice_id == 0) {
			log_warnx("invoices: account %llu: its new invoice is missing",
			    (unsigned long long)r->a[i].id);
			return DB_ERROR;
		}
	return DB_OK;
}

/* The applications planned, with their invoices now made (credits.c). */
static int
write_applications(struct run *r)
{
	struct credits_application *ca;
	size_t i;
	int rc;

	if (r->napps == 0)
		return DB_OK;
	if ((ca = calloc(r->napps, sizeof(*ca))) == NULL)
		return DB_ERROR;
	for (i = 0; i < r->napps; i++) {
		ca[i].credit_id = (uint64_t)r->apps[i].credit_id;
		ca[i].invoice_id = r->a[r->apps[i].acct].invoice_id;
		ca[i].amount = r->apps[i].amount;
	}
	rc = credits_apply_many(r->db, ca, r->napps, r->now);
	free(ca);
	return rc;
}

/* billed_through moves to the period's end for the accounts whose period
 * closed (invoiced or empty); a record that arrives later for it goes on
 * the next invoice. */
static int
advance_watermarks(struct run *r)
{
	uint64_t ids[INVOICE_BATCH_ACCOUNTS];
	size_t n = 0, i;

	for (i = 0; i < r->n; i++)
		if (r->a[i].state != ACCT_SKIP &&
		    r->a[i].billed_through < r->ib->period_end)
			ids[n++] = r->a[i].id;
	if (n == 0)
		return DB_OK;
	return account_advance_billed_through(r->db, ids, n, r->pe);
}

/* billing.invoice.created for each invoice, from the values in hand. */
static int
emit_events(struct run *r, const size_t *ix, size_t n)
{
	const struct invoice_batch *ib = r->ib;
	struct event_spec *ev;
	char (*keys)[64];
	size_t i;
	int rc;

	ev = calloc(n, sizeof(*ev));
	keys = calloc(n, sizeof(*keys));
	if (ev == NULL || keys == NULL) {
		free(ev);
		free(keys);
		return DB_ERROR;
	}
	for (i = 0; i < n; i++) {
		const struct acct *a = &r->a[ix[i]];
		struct invoice inv;

		memset(&inv, 0, sizeof(inv));
		inv.id = a->invoice_id;
		inv.account_id = a->id;
		snprintf(inv.user_id, sizeof(inv.user_id), "%s", a->user_id);
		snprintf(inv.number, sizeof(inv.number), "%s", a->number);
		snprintf(inv.kind, sizeof(inv.kind), "scheduled");
		snprintf(inv.status, sizeof(inv.status), "sent");
		snprintf(inv.currency, sizeof(inv.currency), "%s",
		    ib->cfg->currency);
		snprintf(inv.billing_mode, sizeof(inv.billing_mode), "%s",
		    config_mode_name(a->mode));
		if (a->plan)
			snprintf(inv.plan_id, sizeof(inv.plan_id), "%s",
			    a->plan->id);
		inv.period_start = a->start;
		inv.period_end = ib->period_end;
		inv.subtotal = a->lines.subtotal;
		inv.credits = a->credits;
		inv.tax = a->tax.tax;
		inv.tax_exempt = a->tax_exempt != 0;
		inv.total = acct_total(a);
		inv.due_date = ib->now +
		    (int64_t)ib->cfg->invoice_due_days * USEC_PER_DAY;
		inv.finalized_at = inv.created_at = ib->now;
		snprintf(keys[i], sizeof(keys[i]), "billing.invoice.created:%llu",
		    (unsigned long long)a->invoice_id);
		ev[i] = (struct event_spec){ "billing.invoice.created", a->id,
		    keys[i], invoice_json(&inv, 0) };
	}
	rc = event_emit_many(r->db, ev, n, ib->now);
	for (i = 0; i < n; i++)
		json_object_put(ev[i].data);
	free(ev);
	free(keys);
	return rc;
}

static int
write_batch(struct run *r)
{
	const struct invoice_batch *ib = r->ib;
	size_t ix[INVOICE_BATCH_ACCOUNTS], n = 0, i;
	const struct line_set *sets[INVOICE_BATCH_ACCOUNTS];
	const struct invoice_taxes *taxes[INVOICE_BATCH_ACCOUNTS];
	uint64_t ids[INVOICE_BATCH_ACCOUNTS];
	int rc;

	for (i = 0; i < r->n; i++)
		if (r->a[i].state == ACCT_BILL)
			ix[n++] = i;
	if (n > 0) {
		if (!ib->draft && ((rc = plan_credits(r)) != DB_OK ||
		    (rc = take_numbers(r, n)) != DB_OK ||
		    (rc = plan_taxes(r, ix, n)) != DB_OK))
			return rc;
		if ((rc = insert_invoices_rows(r, ix, n)) != DB_OK ||
		    (rc = read_new_ids(r)) != DB_OK)
			return rc;
		for (i = 0; i < n; i++) {
			sets[i] = &r->a[ix[i]].lines;
			ids[i] = r->a[ix[i]].invoice_id;
			taxes[i] = &r->a[ix[i]].tax;
		}
		if ((rc = invoice_lines_insert(r->db, ids, sets, n)) != DB_OK ||
		    (rc = invoice_tax_insert_many(r->db, ids, taxes,
		    n)) != DB_OK ||
		    (rc = write_applications(r)) != DB_OK)
			return rc;
	}
	if ((rc = advance_watermarks(r)) != DB_OK)
		return rc;
	if (n > 0 && !ib->draft && (rc = emit_events(r, ix, n)) != DB_OK)
		return rc;
	r->ib->created = n;
	return DB_OK;
}

int
invoice_batch_run(struct db *db, struct invoice_batch *ib)
{
	struct run r;
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.ib = ib;
	ib->naccounts = 0;
	ib->created = 0;
	ib->error[0] = '\0';
	ib->last = ib->after;
	if ((r.a = calloc(INVOICE_BATCH_ACCOUNTS, sizeof(*r.a))) == NULL)
		return DB_ERROR;
	time_format_db(ib->period_start, r.ps, sizeof(r.ps));
	time_format_db(ib->period_end, r.pe, sizeof(r.pe));
	time_format_db(ib->now, r.now, sizeof(r.now));
	time_format_db(ib->latest_start, r.ls, sizeof(r.ls));
	time_format_db(ib->now + (int64_t)ib->cfg->invoice_due_days *
	    USEC_PER_DAY, r.due, sizeof(r.due));
	if ((rc = load_accounts(&r)) == DB_OK && r.n > 0 &&
	    (rc = mark_overlaps(&r)) == DB_OK &&
	    (rc = load_plan_changes(&r)) == DB_OK &&
	    (rc = load_usage(&r)) == DB_OK &&
	    (rc = make_lines(&r)) == DB_OK)
		rc = write_batch(&r);
	if (rc == DB_OK) {
		ib->naccounts = r.n;
		if (r.n > 0)
			ib->last = r.a[r.n - 1].id;
	}
	for (i = 0; i < r.n; i++) {
		invoice_lines_sums_free(&r.a[i].sums);
		invoice_lines_set_free(&r.a[i].lines);
		free(r.a[i].issued);
	}
	free(r.apps);
	free(r.changes);
	free(r.a);
	return rc;
}
