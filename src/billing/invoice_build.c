/*
 * invoice_build: manual invoices, finalizing drafts and changing an
 * invoice's status (the scheduled run is invoice_batch.c).  Every function
 * that writes runs inside the caller's transaction and locks the account
 * row first, so that the invoices of one account are made one at a time;
 * the unique key on (account_id, live_period_start) is what guarantees one
 * invoice per period.
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
#include "invoices.h"
#include "log.h"
#include "metering.h"
#include "money.h"
#include "payments.h"
#include "result.h"
#include "stripe.h"
#include "timeutil.h"

#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

enum {
	BUILD_LOCK_ACCOUNT,
	BUILD_OVERLAP,
	BUILD_INSERT_INVOICE,
	BUILD_LOCK_WATERMARK,
	BUILD_CLAIM,
	BUILD_USAGE_SUMS,
	BUILD_USAGE_HOURS,
	BUILD_INVOICE_ACCOUNT,
	BUILD_LOCK_ACCOUNT_ID,
	BUILD_COUNTER_BUMP,
	BUILD_COUNTER_READ,
	BUILD_NSTMTS
};

enum { ACCT_COL_PLAN, ACCT_COL_MODE, ACCT_COL_CREATED, ACCT_COL_BILLED,
	ACCT_COL_STRIPE_PLAN, ACCT_NCOLS };
enum { SUM_COL_RESOURCE, SUM_COL_UNIT, SUM_COL_PRICE, SUM_COL_QTY,
	SUM_COL_COST, SUM_NCOLS };
enum { HOUR_COL_RESOURCE, HOUR_COL_UNIT, HOUR_COL_PRICE, HOUR_COL_QTY,
	HOUR_NCOLS };
enum { CLAIM_COL_FROM, CLAIM_COL_TO, CLAIM_NCOLS };

static const struct db_stmt build_sql[BUILD_NSTMTS] = {
	[BUILD_LOCK_ACCOUNT] = { "SELECT COALESCE(plan_id, ''), "
	    "COALESCE(billing_mode, ''), created_at, billed_through, "
	    SQL_STRIPE_PLAN " FROM billing_accounts WHERE id = ? FOR UPDATE",
	    1, ACCT_NCOLS },
	[BUILD_OVERLAP] = { "SELECT id FROM billing_invoices "
	    "WHERE account_id = ? AND status <> 'void' AND kind <> 'stripe' "
	    "AND period_start < ? AND period_end > ? LIMIT 1", 3, 1 },
	[BUILD_INSERT_INVOICE] = { "INSERT INTO billing_invoices (account_id, "
	    "kind, period_start, period_end, billing_mode, plan_id, currency, "
	    "status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?)",
	    8, 0 },
	[BUILD_LOCK_WATERMARK] = { "SELECT billed_through FROM billing_accounts "
	    "WHERE id = ? FOR UPDATE", 1, 1 },
	[BUILD_CLAIM] = { "SELECT usage_from, usage_to FROM billing_invoices "
	    "WHERE id = ?", 1, CLAIM_NCOLS },
	[BUILD_USAGE_SUMS] = { "SELECT resource_type, unit, unit_price, "
	    "SUM(quantity), SUM(total_cost) FROM billing_usage_records "
	    "WHERE invoice_id = ? GROUP BY resource_type, unit, unit_price "
	    "ORDER BY resource_type, unit, unit_price", 1, SUM_NCOLS },
	[BUILD_USAGE_HOURS] = { "SELECT resource_type, unit, unit_price, "
	    "SUM(quantity) FROM billing_usage_records WHERE invoice_id = ? "
	    "GROUP BY resource_type, unit, unit_price, "
	    "DATE_FORMAT(start_time, '%Y%m%d%H')", 1, HOUR_NCOLS },
	[BUILD_INVOICE_ACCOUNT] = { "SELECT account_id FROM billing_invoices "
	    "WHERE id = ?", 1, 1 },
	[BUILD_LOCK_ACCOUNT_ID] = { "SELECT id FROM billing_accounts "
	    "WHERE id = ? FOR UPDATE", 1, 1 },
	[BUILD_COUNTER_BUMP] = { "INSERT INTO billing_invoice_counters (year, "
	    "last_number) VALUES (?, 1) "
	    "ON DUPLICATE KEY UPDATE last_number = last_number + 1", 1, 0 },
	[BUILD_COUNTER_READ] = { "SELECT last_number FROM "
	    "billing_invoice_counters WHERE year = ?", 1, 1 },
};
const struct db_stmts invoice_build_stmts = DB_STMTS("invoice_build",
    build_sql);

static void
fmt_time(int64_t usec, char *buf)
{
	time_format_db(usec, buf, TIME_TEXT_MAX);
}

struct build {
	struct db *db;
	const struct invoice_spec *spec;
	uint64_t account_id;
	uint64_t invoice_id;
	struct line_set lines;
	char plan_id[65], mode[16];
	int64_t account_created, billed_through;
	int64_t stripe_plan;     /* 1: Stripe collects the plan */
};

/* Why an invoice cannot be made as it should: logged, and the caller's
 * transaction is rolled back (nothing billed rather than billed short). */
static int
lines_failed(const struct build *b, const char *what)
{
	log_warnx("invoices: account %llu: %s: out of memory or an amount "
	    "beyond the money range; no invoice made",
	    (unsigned long long)b->account_id, what);
	return DB_ERROR;
}

/* One line per resource and unit price, from the records tied to the
 * invoice: every group, however many. */
static int
usage_lines(struct build *b)
{
	struct db_result *res = NULL;
	struct usage_sums sums = { NULL, 0, 0 };
	struct usage_sum *s;
	int rc, r;

	struct db_param p[] = { DBP_INT(b->invoice_id) };
	if ((rc = db_get(b->db, &invoice_build_stmts, BUILD_USAGE_SUMS, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if ((s = invoice_lines_sums_next(&sums)) == NULL) {
			r = lines_failed(b, "its usage sums");
			break;
		}
		db_col_text(res, SUM_COL_RESOURCE, s->resource,
		    sizeof(s->resource));
		db_col_text(res, SUM_COL_UNIT, s->unit, sizeof(s->unit));
		if (db_col_decimal(res, SUM_COL_PRICE, &s->price) ||
		    db_col_decimal(res, SUM_COL_QTY, &s->qty) ||
		    db_col_decimal(res, SUM_COL_COST, &s->cost)) {
			r = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	if (r >= 0 && invoice_lines_usage(&b->lines, sums.s, sums.n) != 0)
		r = lines_failed(b, "its usage lines");
	invoice_lines_sums_free(&sums);
	return r < 0 ? r : DB_OK;
}

/* Hybrid: usage above the plan's limits, hour by hour (invoice_lines.c). */
static int
overage_lines(struct build *b, const struct plan *plan)
{
	struct db_result *res = NULL;
	struct overage o;
	int rc, r;

	memset(&o, 0, sizeof(o));
	struct db_param p[] = { DBP_INT(b->invoice_id) };
	if ((rc = db_get(b->db, &invoice_build_stmts, BUILD_USAGE_HOURS, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		char rs[16], unit[32];
		int64_t price, qty;

		db_col_text(res, HOUR_COL_RESOURCE, rs, sizeof(rs));
		db_col_text(res, HOUR_COL_UNIT, unit, sizeof(unit));
		if (db_col_decimal(res, HOUR_COL_PRICE, &price) ||
		    db_col_decimal(res, HOUR_COL_QTY, &qty)) {
			r = DB_ERROR;
			break;
		}
		if (invoice_lines_overage_add(&o, plan, rs, unit, price,
		    qty) != 0) {
			r = lines_failed(b, "its overage");
			break;
		}
	}
	db_result_free(res);
	if (r >= 0 && invoice_lines_overage(&b->lines, &o, plan) != 0)
		r = lines_failed(b, "its overage lines");
	invoice_lines_overage_free(&o);
	return r < 0 ? r : DB_OK;
}

static int
lock_account(struct build *b)
{
	struct db_result *res = NULL;
	size_t len;
	const char *s;
	int rc, r;

	struct db_param p[] = { DBP_INT(b->account_id) };
	if ((rc = db_get(b->db, &invoice_build_stmts, BUILD_LOCK_ACCOUNT, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_text(res, ACCT_COL_PLAN, b->plan_id, sizeof(b->plan_id));
		db_col_text(res, ACCT_COL_MODE, b->mode, sizeof(b->mode));
		s = db_col(res, ACCT_COL_CREATED, &len);
		if (s == NULL || time_parse_db(s, len, &b->account_created) != 0 ||
		    db_col_time(res, ACCT_COL_BILLED, &b->billed_through) != 0 ||
		    db_col_i64(res, ACCT_COL_STRIPE_PLAN, &b->stripe_plan) != 0)
			r = DB_ERROR;
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* A manual invoice being made (invoice_build_manual). */
struct manual {
	const struct billing_config *cfg;
	const struct invoice_spec *spec;
	uint64_t account_id;
	int exists;              /* 1: a live invoice overlaps the period */
	uint64_t id;
};

/* The manual invoice, inside the transaction: DB_OK with m->exists or
 * m->id, or an error. */
static int
build_manual(struct db *db, void *arg)
{
	struct manual *m = arg;
	const struct billing_config *cfg = m->cfg;
	const struct invoice_spec *spec = m->spec;
	struct build b;
	struct account acct;
	const struct plan *plan;
	enum billing_mode mode;
	char ps[TIME_TEXT_MAX], pe[TIME_TEXT_MAX], now[TIME_TEXT_MAX],
	    bt[TIME_TEXT_MAX];
	const struct line_set *sets[1];
	uint64_t id = 0;
	int64_t other;
	int rc;

	memset(&b, 0, sizeof(b));
	b.db = db;
	b.spec = spec;
	b.account_id = m->account_id;
	b.lines.whole_units = money_amount_decimals(cfg->currency) == 0;
	m->exists = 1;
	m->id = 0;
	if ((rc = lock_account(&b)) != DB_OK)
		goto out;
	fmt_time(spec->period_start, ps);
	fmt_time(spec->period_end, pe);
	fmt_time(spec->now, now);
	struct db_param op[] = { DBP_INT(b.account_id), DBP_STR(pe), DBP_STR(ps) };
	rc = db_get_i64(db, &invoice_build_stmts, BUILD_OVERLAP, op, 3, &other);
	if (rc == DB_OK) {
		m->id = (uint64_t)other;
		goto out; /* exists */
	}
	if (rc != DB_NOT_FOUND)
		goto out;

	/* the account's own plan and mode, as accounts.c resolves them */
	memset(&acct, 0, sizeof(acct));
	snprintf(acct.plan_id, sizeof(acct.plan_id), "%s", b.plan_id);
	snprintf(acct.billing_mode, sizeof(acct.billing_mode), "%s", b.mode);
	plan = account_plan(cfg, &acct);
	mode = account_mode(cfg, &acct);

	struct db_param ip[] = { DBP_INT(b.account_id), DBP_STR("manual"),
	    DBP_STR(ps), DBP_STR(pe), DBP_STR(config_mode_name(mode)),
	    plan ? DBP_STR(plan->id) : DBP_NULLV, DBP_STR(cfg->currency),
	    DBP_STR(now) };
	if ((rc = db_run(db, &invoice_build_stmts, BUILD_INSERT_INVOICE, ip, 8,
	    NULL, &id)) != DB_OK)
		goto out;
	b.invoice_id = id;

	if (b.billed_through)
		fmt_time(b.billed_through, bt);
	else
		snprintf(bt, sizeof(bt), "1000-01-01 00:00:00");
	/* a manual invoice takes the unbilled usage of its period: records
	 * no scheduled invoice has claimed (bill_from below billed_through) */
	if ((rc = metering_write_claim_manual(db, id, b.account_id, ps, pe,
	    bt)) != DB_OK)
		goto out;
	switch (mode) {
	case MODE_USAGE:
		rc = usage_lines(&b);
		break;
	case MODE_SUBSCRIPTION:
	case MODE_HYBRID:
		if (invoice_lines_subscription(&b.lines, b.stripe_plan ? NULL :
		    plan, b.account_created,
		    spec->period_start, spec->period_end) != 0)
			rc = lines_failed(&b, "its plan line");
		else if (mode == MODE_HYBRID && plan != NULL)
			rc = overage_lines(&b, plan);
		break;
	}
	if (rc != DB_OK)
		goto out;
	sets[0] = &b.lines;
	if ((rc = invoice_lines_insert(db, &id, sets, 1)) != DB_OK)
		goto out;
	if ((rc = invoice_store_amounts(db, id, b.lines.subtotal)) != DB_OK)
		goto out;
	if (!spec->draft && (rc = invoice_build_finalize(db, cfg, id,
	    spec->now)) != DB_OK)
		goto out;
	m->exists = 0;
	m->id = id;
out:
	invoice_lines_set_free(&b.lines);
	return rc;
}

enum result_code
invoice_build_manual(struct db *db, const struct billing_config *cfg,
    const struct invoice_spec *spec, uint64_t *invoice_id, struct result *r)
{
	struct manual m;
	struct account acct;
	int rc;

	*invoice_id = 0;
	rc = account_find(db, spec->user_id, &acct);
	if (rc == DB_NOT_FOUND)
		return result_set(r, RESULT_NOT_FOUND, "user_id", "no such user");
	if (rc != DB_OK)
		return result_db(r, rc);
	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	m.spec = spec;
	m.account_id = acct.id;
	if ((rc = db_transaction(db, build_manual, &m)) != DB_OK)
		return result_db(r, rc == DB_NOT_FOUND ? DB_ERROR : rc);
	if (m.exists)
		return result_set(r, RESULT_CONFLICT, "period_start",
		    "the period overlaps an invoice of this user");
	*invoice_id = m.id;
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* The next number of the year, from the counter row locked until commit:
 * a rolled-back finalization gives its number back, so there are no gaps. */
int
invoice_build_next_number(struct db *db, int year, char *buf, size_t size)
{
	int64_t n = 0;
	int rc;

	struct db_param p[] = { DBP_INT(year) };
	if ((rc = db_run(db, &invoice_build_stmts, BUILD_COUNTER_BUMP, p, 1,
	    NULL, NULL)) != DB_OK ||
	    (rc = db_get_i64(db, &invoice_build_stmts, BUILD_COUNTER_READ, p, 1,
	    &n)) != DB_OK)
		return rc;
	snprintf(buf, size, "INV-%04d-%06lld", year, (long long)n);
	return DB_OK;
}

int
invoice_build_emit_event(struct db *db, uint64_t id, const char *type, int64_t now)
{
	struct invoice inv;
	struct json_object *data;
	char key[64];
	int rc;

	if ((rc = invoice_load(db, id, &inv)) != DB_OK)
		return rc;
	data = invoice_json(&inv, 0);
	snprintf(key, sizeof(key), "%s:%llu", type, (unsigned long long)id);
	rc = event_emit(db, type, inv.account_id, key, data, now);
	json_object_put(data);
	invoice_free(&inv);
	return rc;
}

int
invoice_build_finalize(struct db *db, const struct billing_config *cfg, uint64_t id,
    int64_t now)
{
	struct invoice_locked lk;
	struct invoice_taxes *tax;
	struct account_billing bill;
	char number[33], nowt[TIME_TEXT_MAX], due[TIME_TEXT_MAX];
	char *issued = NULL;
	int64_t credits = 0;
	int y, m, d, hh, mm, ss, us, rc, exempt = 0;

	if ((rc = invoice_lock(db, id, &lk)) != DB_OK)
		return rc;
	if (strcmp(lk.status, "draft") != 0)
		return DB_OK; /* already final: nothing to do */
	fmt_time(now, nowt);
	fmt_time(now + (int64_t)cfg->invoice_due_days * USEC_PER_DAY, due);
	if ((rc = credits_apply(db, lk.account_id, id, lk.subtotal, nowt,
	    &credits)) != DB_OK)
		return rc;
	/* the account's details as they are now: what the invoice is issued
	 * with (the account row is locked by the caller) */
	if ((rc = account_billing_get(db, lk.account_id, 0, &bill)) != DB_OK)
		return rc == DB_NOT_FOUND ? DB_ERROR : rc;
	/* tax per rate on what is charged after credits (invoice_tax.c) */
	if ((tax = calloc(1, sizeof(*tax))) == NULL)
		return DB_ERROR;
	exempt = bill.tax_exempt;
	if ((rc = invoice_tax_of_invoice(db, cfg, id, bill.tax_rate_id, exempt,
	    credits, money_amount_decimals(lk.currency), tax)) != DB_OK)
		goto out;
	if ((issued = invoice_issued_text(&bill, &cfg->issuer, lk.period_start,
	    lk.period_end)) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	time_to_civil(now, &y, &m, &d, &hh, &mm, &ss, &us);
	if ((rc = invoice_build_next_number(db, y, number, sizeof(number))) !=
	    DB_OK ||
	    (rc = invoice_store_final(db, id, number, credits,
	    lk.subtotal - credits + tax->added, nowt, due, issued)) != DB_OK ||
	    (rc = invoice_tax_store(db, id, tax, exempt)) != DB_OK)
		goto out;
	rc = invoice_build_emit_event(db, id, "billing.invoice.created", now);
out:
	free(tax);
	free(issued);
	return rc;
}

/*
 * A voided invoice's usage goes on the account's next scheduled invoice.
 * The latest scheduled claim is undone by moving billed_through back to
 * where the claim began; an older one's records move up to billed_through.
 * Records tied one by one (manual invoices, invoices made before migration
 * 003) are untied and moved up likewise.
 */
static int
give_back_usage(struct db *db, uint64_t id, uint64_t account_id)
{
	struct db_result *res = NULL;
	int64_t w = 0, from = 0, to = 0;
	char wt[TIME_TEXT_MAX], ft[TIME_TEXT_MAX], tt[TIME_TEXT_MAX];
	int rc, r;

	struct db_param ap[] = { DBP_INT(account_id) };
	if ((rc = db_get(db, &invoice_build_stmts, BUILD_LOCK_WATERMARK, ap, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && db_col_time(res, 0, &w) != 0)
		r = DB_ERROR;
	db_result_free(res);
	if (r < 0)
		return r;
	struct db_param cp[] = { DBP_INT(id) };
	if ((rc = db_get(db, &invoice_build_stmts, BUILD_CLAIM, cp, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 &&
	    (db_col_time(res, CLAIM_COL_FROM, &from) != 0 ||
	    db_col_time(res, CLAIM_COL_TO, &to) != 0))
		r = DB_ERROR;
	db_result_free(res);
	if (r < 0)
		return r;
	if (from)
		fmt_time(from, ft);
	else
		snprintf(ft, sizeof(ft), "1000-01-01 00:00:00");
	fmt_time(to, tt);
	if (to != 0 && w == to) {
		if ((rc = account_set_billed_through(db, account_id,
		    from ? ft : NULL)) != DB_OK)
			return rc;
		w = from;
	} else if (to != 0 && w > to) {
		fmt_time(w, wt);
		if ((rc = metering_write_claim_move(db, account_id, wt, ft,
		    tt)) != DB_OK)
			return rc;
	}
	if (w)
		fmt_time(w, wt);
	else
		snprintf(wt, sizeof(wt), "1000-01-01 00:00:00");
	/* a void gives its usage back: to the next scheduled invoice's claim */
	return metering_write_claim_give_back(db, id, wt);
}

/* Which status changes make sense: from -> to. */
static int
transition_ok(const char *from, const char *to)
{
	static const char *const ok[][2] = {
		{ "draft", "sent" }, { "draft", "void" },
		{ "sent", "paid" }, { "sent", "void" },
		{ "overdue", "paid" }, { "overdue", "void" },
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(ok[i][0], from) == 0 && strcmp(ok[i][1], to) == 0)
			return 1;
	return 0;
}

/* The account of invoice id, locked first: one lock order everywhere,
 * account, then invoice, then credits. */
static int
lock_account_of(struct db *db, uint64_t id)
{
	int64_t account_id, got;
	int rc;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get_i64(db, &invoice_build_stmts, BUILD_INVOICE_ACCOUNT, p,
	    1, &account_id)) != DB_OK)
		return rc;
	struct db_param ap[] = { DBP_INT(account_id) };
	return db_get_i64(db, &invoice_build_stmts, BUILD_LOCK_ACCOUNT_ID, ap, 1,
	    &got);
}

/* A status change in the making (invoice_build_set_status). */
struct change {
	const struct billing_config *cfg;
	uint64_t id;
	const char *to;
	int64_t now;
	int conflict;            /* 1: makes no sense from its status */
	int credited;            /* 1: a void of an invoice with credit notes */
	int stripe_failed;       /* 1: Stripe refused or failed: se says why */
	struct stripe_error se;
};

static int
change_status(struct db *db, void *arg)
{
	struct change *c = arg;
	const struct billing_config *cfg = c->cfg;
	struct invoice_locked lk;
	char nowt[TIME_TEXT_MAX], key[64];
	uint64_t id = c->id;
	int rc;

	c->conflict = c->stripe_failed = c->credited = 0;
	if ((rc = lock_account_of(db, id)) != DB_OK ||
	    (rc = invoice_lock(db, id, &lk)) != DB_OK)
		return rc;
	if (strcmp(lk.status, c->to) == 0)
		return DB_OK; /* asked again: already so */
	if (!transition_ok(lk.status, c->to)) {
		c->conflict = 1;
		return DB_OK;
	}
	/* corrected by credit notes (refunded, credited, settled): a void
	 * would give back a second time what they gave */
	if (strcmp(c->to, "void") == 0 && lk.credit_notes > 0) {
		c->credited = 1;
		return DB_OK;
	}
	/* Stripe collects it: Stripe first, and nothing here if it refuses */
	if (lk.stripe_invoice_id[0] != '\0' && strcmp(c->to, "sent") != 0 &&
	    stripe_settle_invoice(cfg, id, lk.stripe_invoice_id, c->to,
	    &c->se) != STRIPE_OK) {
		c->stripe_failed = 1;
		return DB_OK;
	}
	fmt_time(c->now, nowt);
	if (strcmp(c->to, "sent") == 0)
		return invoice_build_finalize(db, cfg, id, c->now);
	if (strcmp(c->to, "paid") == 0) {
		snprintf(key, sizeof(key), "manual-paid:%llu",
		    (unsigned long long)id);
		rc = payments_record_manual(db, id, key, nowt);
		if (rc != DB_OK && rc != DB_DUPLICATE)
			return rc;
		if ((rc = invoice_mark_paid(db, id, nowt)) != DB_OK)
			return rc;
		return invoice_build_emit_event(db, id, "billing.invoice.paid",
		    c->now);
	}
	/* void: kept, never deleted; its credits and usage go back */
	if ((rc = credits_restore(db, id)) != DB_OK ||
	    (rc = give_back_usage(db, id, lk.account_id)) != DB_OK)
		return rc;
	return invoice_mark_void(db, id, nowt);
}

/*
 * Stripe did not void or pay out of band the invoice it collects: nothing
 * changed here.  A refusal for the invoice's state in Stripe (400: it is
 * paid already, say) is a conflict with Stripe's reason; the rest as every
 * Stripe failure (result_stripe).
 */
static enum result_code
stripe_result(const struct change *c, struct result *r)
{
	const struct stripe_error *se = &c->se;

	if (se->rc == STRIPE_REJECTED && se->status == 400)
		return result_set(r, RESULT_CONFLICT, "status",
		    "Stripe collects this invoice and refused to mark it %s: "
		    "%s", c->to, se->message);
	return result_stripe(r, se);
}

enum result_code
invoice_build_set_status(struct db *db, const struct billing_config *cfg,
    uint64_t id, const char *to, int64_t now, struct result *r)
{
	struct change c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.id = id;
	c.to = to;
	c.now = now;
	rc = db_transaction(db, change_status, &c);
	if (rc == DB_NOT_FOUND)
		return result_set(r, RESULT_NOT_FOUND, NULL, "no such invoice");
	if (rc != DB_OK)
		return result_db(r, rc);
	if (c.conflict)
		return result_set(r, RESULT_CONFLICT, "status",
		    "the invoice cannot move to that status from its own");
	if (c.credited)
		return result_set(r, RESULT_CONFLICT, "status",
		    "the invoice has credit notes: it is corrected by them, "
		    "never voided");
	if (c.stripe_failed)
		return stripe_result(&c, r);
	return result_set(r, RESULT_OK, NULL, "ok");
}
