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
#include "db.h"
#include "events.h"
#include "grow.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "log.h"
#include "metering.h"
#include "money.h"
#include "stripe.h"
#include "timeutil.h"

#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

static const char SQL_LOCK_ACCOUNT[] =
    "SELECT COALESCE(plan_id, ''), COALESCE(billing_mode, ''), created_at, "
    "billed_through, " SQL_STRIPE_PLAN " FROM billing_accounts "
    "WHERE id = ? FOR UPDATE";
static const char SQL_OVERLAP[] =
    "SELECT id FROM billing_invoices WHERE account_id = ? AND status <> 'void' "
    "AND kind <> 'stripe' "
    "AND period_start < ? AND period_end > ? LIMIT 1";
static const char SQL_INSERT_INVOICE[] =
    "INSERT INTO billing_invoices (account_id, kind, period_start, period_end, "
    "billing_mode, plan_id, currency, status, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?)";
/* a manual invoice takes the unbilled usage of its period: records no
 * scheduled invoice has claimed (bill_from below billed_through) */
static const char SQL_TIE_MANUAL[] =
    "UPDATE billing_usage_records SET invoice_id = ? WHERE account_id = ? "
    "AND invoice_id IS NULL AND start_time >= ? AND start_time < ? "
    "AND bill_from >= ?";
/* a void gives its usage back: to the next scheduled invoice's claim */
static const char SQL_UNTIE[] =
    "UPDATE billing_usage_records SET invoice_id = NULL, "
    "bill_from = GREATEST(bill_from, ?) WHERE invoice_id = ?";
static const char SQL_MOVE_CLAIM[] =
    "UPDATE billing_usage_records SET bill_from = ? WHERE account_id = ? "
    "AND invoice_id IS NULL AND bill_from >= ? AND bill_from < ?";
static const char SQL_SET_WATERMARK[] =
    "UPDATE billing_accounts SET billed_through = ? WHERE id = ?";
static const char SQL_LOCK_WATERMARK[] =
    "SELECT billed_through FROM billing_accounts WHERE id = ? FOR UPDATE";
static const char SQL_CLAIM[] =
    "SELECT usage_from, usage_to FROM billing_invoices WHERE id = ?";
static const char SQL_USAGE_SUMS[] =
    "SELECT resource_type, unit, unit_price, SUM(quantity), SUM(total_cost) "
    "FROM billing_usage_records WHERE invoice_id = ? "
    "GROUP BY resource_type, unit, unit_price "
    "ORDER BY resource_type, unit, unit_price";
static const char SQL_USAGE_HOURS[] =
    "SELECT resource_type, unit, unit_price, SUM(quantity) "
    "FROM billing_usage_records WHERE invoice_id = ? "
    "GROUP BY resource_type, unit, unit_price, DATE_FORMAT(start_time, '%Y%m%d%H')";
static const char SQL_SET_AMOUNTS[] =
    "UPDATE billing_invoices SET subtotal = ?, credits = 0, total = ? WHERE id = ?";

static const char SQL_INVOICE_ACCOUNT[] =
    "SELECT account_id FROM billing_invoices WHERE id = ?";
static const char SQL_LOCK_ACCOUNT_ID[] =
    "SELECT id FROM billing_accounts WHERE id = ? FOR UPDATE";
static const char SQL_LOCK_INVOICE[] =
    "SELECT account_id, status, subtotal, COALESCE(stripe_invoice_id, '') "
    "FROM billing_invoices WHERE id = ? FOR UPDATE";
static const char SQL_CREDITS[] =
    "SELECT id, remaining FROM billing_credits WHERE account_id = ? "
    "AND remaining > 0 AND (expires_at IS NULL OR expires_at > ?) "
    "ORDER BY expires_at IS NULL, expires_at, id FOR UPDATE";
static const char SQL_APPLY[] =
    "INSERT INTO billing_credit_applications (credit_id, invoice_id, amount, "
    "created_at) VALUES (?, ?, ?, ?)";
static const char SQL_DEDUCT[] =
    "UPDATE billing_credits SET remaining = remaining - CAST(? AS DECIMAL(18,2)) "
    "WHERE id = ?";
static const char SQL_RESTORE[] =
    "UPDATE billing_credits c JOIN billing_credit_applications ca "
    "ON ca.credit_id = c.id SET c.remaining = c.remaining + ca.amount "
    "WHERE ca.invoice_id = ?";
static const char SQL_COUNTER_BUMP[] =
    "INSERT INTO billing_invoice_counters (year, last_number) VALUES (?, 1) "
    "ON DUPLICATE KEY UPDATE last_number = last_number + 1";
static const char SQL_COUNTER_READ[] =
    "SELECT last_number FROM billing_invoice_counters WHERE year = ?";
static const char SQL_FINALIZE[] =
    "UPDATE billing_invoices SET status = 'sent', invoice_number = ?, "
    "credits = ?, total = ?, finalized_at = ?, due_date = ? WHERE id = ?";
static const char SQL_SET_PAID[] =
    "UPDATE billing_invoices SET status = 'paid', paid_at = ? WHERE id = ?";
static const char SQL_SET_VOID[] =
    "UPDATE billing_invoices SET status = 'void', voided_at = ? WHERE id = ?";
static const char SQL_MANUAL_PAYMENT[] =
    "INSERT INTO billing_payments (account_id, invoice_id, amount, currency, "
    "status, method, idempotency_key, created_at) "
    "SELECT account_id, id, total, currency, 'succeeded', 'manual', ?, ? "
    "FROM billing_invoices WHERE id = ?";

static void
fmt_time(int64_t usec, char *buf)
{
	time_format_db(usec, buf, TIME_TEXT_MAX);
}

/* Decimal text for a bind, kept alive in buf. */
static struct db_param
dec_param(int64_t micros, int decimals, char *buf, size_t size)
{
	money_format(micros, decimals, buf, size);
	return DBP_STR(buf);
}

struct build {
	struct db *db;
	const struct invoice_spec *spec;
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
	    (unsigned long long)b->spec->account_id, what);
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
	if ((rc = db_query(b->db, SQL_USAGE_SUMS, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if ((s = usage_sums_next(&sums)) == NULL) {
			r = lines_failed(b, "its usage sums");
			break;
		}
		db_col_text(res, 0, s->resource, sizeof(s->resource));
		db_col_text(res, 1, s->unit, sizeof(s->unit));
		if (db_col_decimal(res, 2, &s->price) ||
		    db_col_decimal(res, 3, &s->qty) ||
		    db_col_decimal(res, 4, &s->cost)) {
			r = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	if (r >= 0 && lines_usage(&b->lines, sums.s, sums.n) != 0)
		r = lines_failed(b, "its usage lines");
	usage_sums_free(&sums);
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
	if ((rc = db_query(b->db, SQL_USAGE_HOURS, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		char rs[16], unit[32];
		int64_t price, qty;

		db_col_text(res, 0, rs, sizeof(rs));
		db_col_text(res, 1, unit, sizeof(unit));
		if (db_col_decimal(res, 2, &price) || db_col_decimal(res, 3, &qty)) {
			r = DB_ERROR;
			break;
		}
		if (overage_add(&o, plan, rs, unit, price, qty) != 0) {
			r = lines_failed(b, "its overage");
			break;
		}
	}
	db_result_free(res);
	if (r >= 0 && lines_overage(&b->lines, &o, plan) != 0)
		r = lines_failed(b, "its overage lines");
	overage_free(&o);
	return r < 0 ? r : DB_OK;
}

static int
lock_account(struct build *b)
{
	struct db_result *res = NULL;
	size_t len;
	const char *s;
	int rc, r;

	struct db_param p[] = { DBP_INT(b->spec->account_id) };
	if ((rc = db_query(b->db, SQL_LOCK_ACCOUNT, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		snprintf(b->plan_id, sizeof(b->plan_id), "%s", db_col(res, 0, NULL));
		snprintf(b->mode, sizeof(b->mode), "%s", db_col(res, 1, NULL));
		s = db_col(res, 2, &len);
		if (s == NULL || time_parse_db(s, len, &b->account_created) != 0 ||
		    db_col_time(res, 3, &b->billed_through) != 0 ||
		    db_col_i64(res, 4, &b->stripe_plan) != 0)
			r = DB_ERROR;
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

int
invoice_build(struct db *db, const struct billing_config *cfg,
    const struct invoice_spec *spec, enum invoice_outcome *outcome,
    uint64_t *invoice_id)
{
	struct build b;
	struct account acct;
	const struct plan *plan;
	enum billing_mode mode;
	char ps[TIME_TEXT_MAX], pe[TIME_TEXT_MAX], now[TIME_TEXT_MAX],
	    bt[TIME_TEXT_MAX], st[32], tt[32];
	const struct line_set *sets[1];
	uint64_t id = 0;
	int64_t other;
	int rc;

	memset(&b, 0, sizeof(b));
	b.db = db;
	b.spec = spec;
	b.lines.whole_units = money_amount_decimals(cfg->currency) == 0;
	*outcome = INVOICE_EXISTS;
	if ((rc = lock_account(&b)) != DB_OK)
		goto out;
	fmt_time(spec->period_start, ps);
	fmt_time(spec->period_end, pe);
	fmt_time(spec->now, now);
	struct db_param op[] = { DBP_INT(spec->account_id), DBP_STR(pe), DBP_STR(ps) };
	rc = db_query_i64(db, SQL_OVERLAP, op, 3, &other);
	if (rc == DB_OK) {
		*invoice_id = (uint64_t)other;
		goto out; /* INVOICE_EXISTS */
	}
	if (rc != DB_NOT_FOUND)
		goto out;

	/* the account's own plan and mode, as accounts.c resolves them */
	memset(&acct, 0, sizeof(acct));
	snprintf(acct.plan_id, sizeof(acct.plan_id), "%s", b.plan_id);
	snprintf(acct.billing_mode, sizeof(acct.billing_mode), "%s", b.mode);
	plan = account_plan(cfg, &acct);
	mode = account_mode(cfg, &acct);

	struct db_param ip[] = { DBP_INT(spec->account_id), DBP_STR("manual"),
	    DBP_STR(ps), DBP_STR(pe), DBP_STR(config_mode_name(mode)),
	    plan ? DBP_STR(plan->id) : DBP_NULLV, DBP_STR(cfg->currency),
	    DBP_STR(now) };
	if ((rc = db_exec(db, SQL_INSERT_INVOICE, ip, 8, NULL, &id)) != DB_OK)
		goto out;
	b.invoice_id = id;

	if (b.billed_through)
		fmt_time(b.billed_through, bt);
	else
		snprintf(bt, sizeof(bt), "1000-01-01 00:00:00");
	struct db_param tp[] = { DBP_INT(id), DBP_INT(spec->account_id),
	    DBP_STR(ps), DBP_STR(pe), DBP_STR(bt) };
	if ((rc = db_exec(db, SQL_TIE_MANUAL, tp, 5, NULL, NULL)) != DB_OK)
		goto out;
	switch (mode) {
	case MODE_USAGE:
		rc = usage_lines(&b);
		break;
	case MODE_SUBSCRIPTION:
	case MODE_HYBRID:
		if (lines_subscription(&b.lines, b.stripe_plan ? NULL : plan,
		    b.account_created,
		    spec->period_start, spec->period_end) != 0)
			rc = lines_failed(&b, "its plan line");
		else if (mode == MODE_HYBRID && plan != NULL)
			rc = overage_lines(&b, plan);
		break;
	}
	if (rc != DB_OK)
		goto out;
	sets[0] = &b.lines;
	if ((rc = lines_insert(db, &id, sets, 1)) != DB_OK)
		goto out;
	struct db_param ap[] = { dec_param(b.lines.subtotal, 2, st, sizeof(st)),
	    dec_param(b.lines.subtotal, 2, tt, sizeof(tt)), DBP_INT(id) };
	if ((rc = db_exec(db, SQL_SET_AMOUNTS, ap, 3, NULL, NULL)) != DB_OK)
		goto out;
	if (!spec->draft && (rc = invoice_finalize(db, cfg, id, spec->now)) != DB_OK)
		goto out;
	*outcome = INVOICE_CREATED;
	*invoice_id = id;
out:
	line_set_free(&b.lines);
	return rc;
}

/* Locks the invoice row; reads its account, status, subtotal and, when
 * sid is not NULL, its Stripe id ("" for none) into sid[STRIPE_ID_MAX + 1]. */
static int
lock_invoice(struct db *db, uint64_t id, uint64_t *account_id, char *status,
    size_t size, int64_t *subtotal, char *sid)
{
	struct db_result *res = NULL;
	int64_t v = 0;
	int rc, r;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_query(db, SQL_LOCK_INVOICE, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, 0, &v);
		*account_id = (uint64_t)v;
		snprintf(status, size, "%s", db_col(res, 1, NULL));
		if (db_col_decimal(res, 2, subtotal) != 0)
			r = DB_ERROR;
		if (sid != NULL)
			db_col_text(res, 3, sid, STRIPE_ID_MAX + 1);
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* Applies available credits to `left`, earliest expiry first, all of them
 * if need be (read first: the statement's rows before the writes).
 * *applied is what was taken. */
static int
apply_credits(struct db *db, uint64_t account_id, uint64_t invoice_id,
    int64_t left, const char *now, int64_t *applied)
{
	struct db_result *res = NULL;
	struct credit { int64_t id, remaining; } *c = NULL, *nc;
	size_t n = 0, cap = 0, i;
	char amt[32];
	int rc, r;

	*applied = 0;
	if (left <= 0)
		return DB_OK;
	struct db_param p[] = { DBP_INT(account_id), DBP_STR(now) };
	if ((rc = db_query(db, SQL_CREDITS, p, 2, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (n == cap) {
			if ((nc = grow_array(c, &cap, sizeof(*c))) == NULL) {
				log_warnx("invoices: invoice %llu: out of memory "
				    "for its credits", (unsigned long long)invoice_id);
				r = DB_ERROR;
				break;
			}
			c = nc;
		}
		if (db_col_i64(res, 0, &c[n].id) != 0 ||
		    db_col_decimal(res, 1, &c[n].remaining) != 0) {
			r = DB_ERROR;
			break;
		}
		n++;
	}
	db_result_free(res);
	rc = r < 0 ? r : DB_OK;
	for (i = 0; rc == DB_OK && i < n && left > 0; i++) {
		int64_t take = c[i].remaining < left ? c[i].remaining : left;

		struct db_param ap[] = { DBP_INT(c[i].id), DBP_INT(invoice_id),
		    dec_param(take, 2, amt, sizeof(amt)), DBP_STR(now) };
		if ((rc = db_exec(db, SQL_APPLY, ap, 4, NULL, NULL)) != DB_OK)
			break;
		struct db_param dp[] = { DBP_STR(amt), DBP_INT(c[i].id) };
		if ((rc = db_exec(db, SQL_DEDUCT, dp, 2, NULL, NULL)) != DB_OK)
			break;
		left -= take;
		*applied += take;
	}
	free(c);
	return rc;
}

/* The next number of the year, from the counter row locked until commit:
 * a rolled-back finalization gives its number back, so there are no gaps. */
int
invoice_next_number(struct db *db, int year, char *buf, size_t size)
{
	int64_t n = 0;
	int rc;

	struct db_param p[] = { DBP_INT(year) };
	if ((rc = db_exec(db, SQL_COUNTER_BUMP, p, 1, NULL, NULL)) != DB_OK ||
	    (rc = db_query_i64(db, SQL_COUNTER_READ, p, 1, &n)) != DB_OK)
		return rc;
	snprintf(buf, size, "INV-%04d-%06lld", year, (long long)n);
	return DB_OK;
}

static int
emit_invoice_event(struct db *db, uint64_t id, const char *type, int64_t now)
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
invoice_finalize(struct db *db, const struct billing_config *cfg, uint64_t id,
    int64_t now)
{
	char status[16], number[33], nowt[TIME_TEXT_MAX], due[TIME_TEXT_MAX];
	char cr[32], tot[32];
	uint64_t account_id = 0;
	int64_t subtotal = 0, credits = 0;
	int y, m, d, hh, mm, ss, us, rc;

	if ((rc = lock_invoice(db, id, &account_id, status, sizeof(status),
	    &subtotal, NULL)) != DB_OK)
		return rc;
	if (strcmp(status, "draft") != 0)
		return DB_OK; /* already final: nothing to do */
	fmt_time(now, nowt);
	fmt_time(now + (int64_t)cfg->invoice_due_days * USEC_PER_DAY, due);
	if ((rc = apply_credits(db, account_id, id, subtotal, nowt, &credits)) != DB_OK)
		return rc;
	time_to_civil(now, &y, &m, &d, &hh, &mm, &ss, &us);
	if ((rc = invoice_next_number(db, y, number, sizeof(number))) != DB_OK)
		return rc;
	struct db_param p[] = { DBP_STR(number), dec_param(credits, 2, cr, sizeof(cr)),
	    dec_param(subtotal - credits, 2, tot, sizeof(tot)), DBP_STR(nowt),
	    DBP_STR(due), DBP_INT(id) };
	if ((rc = db_exec(db, SQL_FINALIZE, p, 6, NULL, NULL)) != DB_OK)
		return rc;
	return emit_invoice_event(db, id, "billing.invoice.created", now);
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
	if ((rc = db_query(db, SQL_LOCK_WATERMARK, ap, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && db_col_time(res, 0, &w) != 0)
		r = DB_ERROR;
	db_result_free(res);
	if (r < 0)
		return r;
	struct db_param cp[] = { DBP_INT(id) };
	if ((rc = db_query(db, SQL_CLAIM, cp, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && (db_col_time(res, 0, &from) != 0 ||
	    db_col_time(res, 1, &to) != 0))
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
		struct db_param p[] = { from ? DBP_STR(ft) : DBP_NULLV,
		    DBP_INT(account_id) };
		if ((rc = db_exec(db, SQL_SET_WATERMARK, p, 2, NULL, NULL)) != DB_OK)
			return rc;
		w = from;
	} else if (to != 0 && w > to) {
		fmt_time(w, wt);
		struct db_param p[] = { DBP_STR(wt), DBP_INT(account_id),
		    DBP_STR(ft), DBP_STR(tt) };
		if ((rc = db_exec(db, SQL_MOVE_CLAIM, p, 4, NULL, NULL)) != DB_OK)
			return rc;
	}
	if (w)
		fmt_time(w, wt);
	else
		snprintf(wt, sizeof(wt), "1000-01-01 00:00:00");
	struct db_param up[] = { DBP_STR(wt), DBP_INT(id) };
	return db_exec(db, SQL_UNTIE, up, 2, NULL, NULL);
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
	if ((rc = db_query_i64(db, SQL_INVOICE_ACCOUNT, p, 1, &account_id)) !=
	    DB_OK)
		return rc;
	struct db_param ap[] = { DBP_INT(account_id) };
	return db_query_i64(db, SQL_LOCK_ACCOUNT_ID, ap, 1, &got);
}

int
invoice_set_status(struct db *db, const struct billing_config *cfg,
    uint64_t id, const char *to, int64_t now,
    enum invoice_status_outcome *outcome, struct stripe_error *se)
{
	char status[16], nowt[TIME_TEXT_MAX], key[64];
	char sid[STRIPE_ID_MAX + 1];
	uint64_t account_id = 0;
	int64_t subtotal = 0;
	int rc;

	*outcome = INVOICE_STATUS_DONE;
	if ((rc = lock_account_of(db, id)) != DB_OK ||
	    (rc = lock_invoice(db, id, &account_id, status, sizeof(status),
	    &subtotal, sid)) != DB_OK)
		return rc;
	if (strcmp(status, to) == 0)
		return DB_OK; /* asked again: already so */
	if (!transition_ok(status, to)) {
		*outcome = INVOICE_STATUS_CONFLICT;
		return DB_OK;
	}
	/* Stripe collects it: Stripe first, and nothing here if it refuses */
	if (sid[0] != '\0' && strcmp(to, "sent") != 0 &&
	    stripe_invoice_settle(cfg, id, sid, to, se) != STRIPE_OK) {
		*outcome = INVOICE_STATUS_STRIPE;
		return DB_OK;
	}
	fmt_time(now, nowt);
	if (strcmp(to, "sent") == 0)
		return invoice_finalize(db, cfg, id, now);
	if (strcmp(to, "paid") == 0) {
		snprintf(key, sizeof(key), "manual-paid:%llu", (unsigned long long)id);
		struct db_param pp[] = { DBP_STR(key), DBP_STR(nowt), DBP_INT(id) };
		rc = db_exec(db, SQL_MANUAL_PAYMENT, pp, 3, NULL, NULL);
		if (rc != DB_OK && rc != DB_DUPLICATE)
			return rc;
		struct db_param p[] = { DBP_STR(nowt), DBP_INT(id) };
		if ((rc = db_exec(db, SQL_SET_PAID, p, 2, NULL, NULL)) != DB_OK)
			return rc;
		return emit_invoice_event(db, id, "billing.invoice.paid", now);
	}
	/* void: kept, never deleted; its credits and usage go back to the account */
	struct db_param ip[] = { DBP_INT(id) };
	if ((rc = db_exec(db, SQL_RESTORE, ip, 1, NULL, NULL)) != DB_OK ||
	    (rc = give_back_usage(db, id, account_id)) != DB_OK)
		return rc;
	struct db_param p[] = { DBP_STR(nowt), DBP_INT(id) };
	return db_exec(db, SQL_SET_VOID, p, 2, NULL, NULL);
}
