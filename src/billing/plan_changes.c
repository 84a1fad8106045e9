/*
 * plan_changes: plan changes with proration (plan_changes.h); the one
 * writer of billing_plan_changes.
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
#include "grow.h"
#include "json_util.h"
#include "money.h"
#include "period.h"
#include "plan_changes.h"
#include "result.h"
#include "timeutil.h"

enum {
	PC_PENDING, PC_PENDING_LOCK, PC_CANCEL, PC_INSERT, PC_APPLIED, PC_DUE,
	PC_CREATED, PC_RANGE, PC_FAILED, PC_NSTMTS
};

enum { PEND_COL_ID, PEND_COL_TO, PEND_COL_AT, PEND_NCOLS };
enum { DUE_COL_ID, DUE_COL_ACCOUNT, DUE_NCOLS };
enum { RANGE_COL_ID, RANGE_COL_ACCOUNT, RANGE_COL_KIND, RANGE_COL_FROM,
	RANGE_COL_TO, RANGE_COL_AT, RANGE_COL_CREDIT, RANGE_COL_CHARGE,
	RANGE_COL_CREDIT_QTY, RANGE_COL_CHARGE_QTY, RANGE_NCOLS };

#define PENDING_WHERE "FROM billing_plan_changes WHERE account_id = ? " \
    "AND source = 'local' AND status = 'pending' ORDER BY id DESC LIMIT 1"

static const struct db_stmt plan_change_sql[PC_NSTMTS] = {
	[PC_PENDING] = { "SELECT id, to_plan, effective_at " PENDING_WHERE, 1,
	    PEND_NCOLS },
	[PC_PENDING_LOCK] = { "SELECT id, to_plan, effective_at " PENDING_WHERE
	    " FOR UPDATE", 1, PEND_NCOLS },
	[PC_CANCEL] = { "UPDATE billing_plan_changes SET status = 'canceled' "
	    "WHERE id = ? AND status = 'pending'", 1, 0 },
	[PC_INSERT] = { "INSERT INTO billing_plan_changes (account_id, source, "
	    "kind, status, from_plan, to_plan, effective_at, period_start, "
	    "period_end, credit, charge, credit_quantity, charge_quantity, "
	    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 14,
	    0 },
	[PC_APPLIED] = { "UPDATE billing_plan_changes SET status = 'applied' "
	    "WHERE id = ? AND status = 'pending'", 1, 0 },
	[PC_DUE] = { "SELECT id, account_id FROM billing_plan_changes "
	    "WHERE status = 'pending' AND source = 'local' "
	    "AND effective_at <= ? AND (? = 0 OR account_id = ?) "
	    "ORDER BY id LIMIT 500", 3, DUE_NCOLS },
	[PC_FAILED] = { "UPDATE billing_plan_changes SET status = 'canceled' "
	    "WHERE id = ? AND source = 'stripe'", 1, 0 },
	[PC_CREATED] = { "SELECT created_at FROM "
	    "billing_accounts WHERE id = ?", 1, 1 },
	[PC_RANGE] = { "SELECT id, account_id, kind, from_plan, to_plan, "
	    "effective_at, credit, charge, credit_quantity, charge_quantity "
	    "FROM billing_plan_changes WHERE account_id BETWEEN ? AND ? "
	    "AND source = 'local' AND status <> 'canceled' "
	    "AND effective_at >= ? ORDER BY account_id, effective_at, id", 3,
	    RANGE_NCOLS },
};

const struct db_stmts plan_change_stmts = DB_STMTS("plan_changes",
    plan_change_sql);

/* -- the arithmetic ------------------------------------------------------- */

/* A plan's price over a year: 12 months, or the yearly price. */
static __int128
per_year(const struct plan *p)
{
	return (__int128)p->price * (p->interval == INTERVAL_YEAR ? 1 : 12);
}

int
plan_change_compare(const struct plan *a, const struct plan *b)
{
	__int128 x = per_year(a), y = per_year(b);

	return x < y ? -1 : x > y ? 1 : 0;
}

int
plan_change_prorate(int64_t price, int64_t num, int64_t den, int decimals,
    int64_t *out)
{
	__int128 unit = 1, n, q;
	int i, neg;

	if (den <= 0 || num < 0 || decimals < 0 || decimals > 6)
		return -1;
	for (i = decimals; i < 6; i++)
		unit *= 10;
	neg = price < 0;
	n = (__int128)(neg ? -(__int128)price : price) * num;
	/* n / (den * unit), half-up: (2n + d) / 2d */
	q = (2 * n + den * unit) / (2 * (__int128)den * unit);
	q *= unit;
	if (q > MONEY_MAX_MICROS)
		return -1;
	*out = neg ? -(int64_t)q : (int64_t)q;
	return 0;
}

void
plan_change_cycle(const struct billing_config *cfg,
    const struct period_zone *zone, const struct plan *plan, int64_t created,
    int64_t at, int64_t *start, int64_t *end)
{
	const char *tz;
	int y, m, d, cy, cm, k;

	if (zone != NULL)
		period_account(zone, cfg->invoice_day, at, start, end);
	else
		period_containing(cfg->invoice_day, at, start, end);
	if (plan == NULL || plan->interval != INTERVAL_YEAR)
		return;
	/* a year of the zone's periods (the one in force now: a zone change
	 * applies from the next period) */
	tz = zone != NULL ? zone->zone : NULL;
	tz_local_date(tz, *end - 1, &y, &m, &d);
	if (d < cfg->invoice_day)
		m--;            /* the period's local start month */
	tz_local_date(tz, created, &cy, &cm, &d);
	k = ((m - cm) % 12 + 12) % 12;
	*start = tz_day_start(tz, y, m - k, cfg->invoice_day);
	*end = tz_day_start(tz, y, m - k + 12, cfg->invoice_day);
}

/* -- reading ---------------------------------------------------------------- */

static int
read_pending(struct db *db, unsigned stmt, uint64_t account_id,
    struct plan_change_pending *out)
{
	struct db_result *res = NULL;
	int64_t v;
	int rc, f;

	memset(out, 0, sizeof(*out));
	struct db_param p[] = { DBP_INT(account_id) };
	if ((rc = db_get(db, &plan_change_stmts, stmt, p, 1, &res)) != DB_OK)
		return rc;
	if ((f = db_fetch(res)) == 1) {
		if (db_col_i64(res, PEND_COL_ID, &v) != 0 ||
		    db_col_time(res, PEND_COL_AT, &out->effective_at) != 0)
			f = DB_ERROR;
		else {
			out->has = 1;
			out->id = (uint64_t)v;
			db_col_text(res, PEND_COL_TO, out->to_plan,
			    sizeof(out->to_plan));
		}
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

int
plan_change_find_pending(struct db *db, uint64_t account_id,
    struct plan_change_pending *out)
{
	return read_pending(db, PC_PENDING, account_id, out);
}

int
plan_change_load_range(struct db *db, uint64_t lo, uint64_t hi,
    int64_t since, struct plan_change_row **rows, size_t *n)
{
	struct db_result *res = NULL;
	struct plan_change_row *a = NULL, *na, *c;
	char ts[TIME_TEXT_MAX], kind[16];
	size_t cap = 0;
	int64_t v;
	int rc, f;

	*rows = NULL;
	*n = 0;
	time_format_db(since, ts, sizeof(ts));
	struct db_param p[] = { DBP_INT(lo), DBP_INT(hi), DBP_STR(ts) };
	if ((rc = db_get(db, &plan_change_stmts, PC_RANGE, p, 3, &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		if (*n == cap) {
			if ((na = grow_array(a, &cap, sizeof(*na))) == NULL) {
				f = DB_ERROR;
				break;
			}
			a = na;
		}
		c = &a[*n];
		memset(c, 0, sizeof(*c));
		if (db_col_i64(res, RANGE_COL_ID, &v) != 0) {
			f = DB_ERROR;
			break;
		}
		c->id = (uint64_t)v;
		if (db_col_i64(res, RANGE_COL_ACCOUNT, &v) != 0 ||
		    db_col_time(res, RANGE_COL_AT, &c->effective_at) != 0 ||
		    db_col_decimal(res, RANGE_COL_CREDIT, &c->credit) != 0 ||
		    db_col_decimal(res, RANGE_COL_CHARGE, &c->charge) != 0 ||
		    db_col_decimal(res, RANGE_COL_CREDIT_QTY,
		    &c->credit_qty) != 0 ||
		    db_col_decimal(res, RANGE_COL_CHARGE_QTY,
		    &c->charge_qty) != 0) {
			f = DB_ERROR;
			break;
		}
		c->account_id = (uint64_t)v;
		db_col_text(res, RANGE_COL_KIND, kind, sizeof(kind));
		c->upgrade = strcmp(kind, "upgrade") == 0;
		db_col_text(res, RANGE_COL_FROM, c->from_plan,
		    sizeof(c->from_plan));
		db_col_text(res, RANGE_COL_TO, c->to_plan, sizeof(c->to_plan));
		(*n)++;
	}
	db_result_free(res);
	if (f < 0) {
		free(a);
		*n = 0;
		return f;
	}
	*rows = a;
	return DB_OK;
}

const char *
plan_change_plan_at(const struct plan_change_row *rows, size_t n, int64_t at,
    const char *current)
{
	const char *plan = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (rows[i].effective_at <= at)
			plan = rows[i].to_plan;
		else
			return plan != NULL ? plan : rows[i].from_plan;
	}
	return plan != NULL ? plan : current;
}

/* -- writing ---------------------------------------------------------------- */

/* What one change writes and tells. */
struct change {
	uint64_t account_id;
	const char *source, *kind, *status;
	const char *from, *to;
	int64_t at, ps, pe;
	int64_t credit, charge, credit_qty, charge_qty;
	int64_t now;
};

static int
insert_change(struct db *db, const struct change *c, uint64_t *id)
{
	char at[TIME_TEXT_MAX], ps[TIME_TEXT_MAX], pe[TIME_TEXT_MAX],
	    now[TIME_TEXT_MAX], cr[32], ch[32], cq[32], hq[32];

	time_format_db(c->at, at, sizeof(at));
	time_format_db(c->ps, ps, sizeof(ps));
	time_format_db(c->pe, pe, sizeof(pe));
	time_format_db(c->now, now, sizeof(now));
	money_format(c->credit, 6, cr, sizeof(cr));
	money_format(c->charge, 6, ch, sizeof(ch));
	money_format(c->credit_qty, 6, cq, sizeof(cq));
	money_format(c->charge_qty, 6, hq, sizeof(hq));
	struct db_param p[] = { DBP_INT(c->account_id), DBP_STR(c->source),
	    DBP_STR(c->kind), DBP_STR(c->status), DBP_STR(c->from),
	    DBP_STR(c->to), DBP_STR(at), DBP_STR(ps), DBP_STR(pe), DBP_STR(cr),
	    DBP_STR(ch), DBP_STR(cq), DBP_STR(hq), DBP_STR(now) };
	return db_run(db, &plan_change_stmts, PC_INSERT, p, 14, NULL, id);
}

/*
 * billing.subscription.changed, once per change and state: change is
 * "upgrade", "downgrade_scheduled", "downgrade_canceled" or
 * "downgrade_applied".
 */
static int
emit_changed(struct db *db, const struct billing_config *cfg,
    const struct account *acct, uint64_t id, const char *change,
    const char *from, const char *to, int64_t effective_at,
    const struct change *c, int64_t now)
{
	struct json_object *d, *pr;
	char key[96];
	int dec = money_amount_decimals(cfg->currency), rc;

	d = json_object_new_object();
	json_object_object_add(d, "user_id",
	    json_object_new_string(acct->user_id));
	json_object_object_add(d, "change", json_object_new_string(change));
	json_object_object_add(d, "from_plan", json_object_new_string(from));
	json_object_object_add(d, "to_plan", json_object_new_string(to));
	json_object_object_add(d, "effective_at", json_time(effective_at));
	json_object_object_add(d, "source", json_object_new_string("local"));
	if (c != NULL) {
		pr = json_object_new_object();
		json_object_object_add(pr, "credit", json_money(c->credit, dec));
		json_object_object_add(pr, "charge", json_money(c->charge, dec));
		json_object_object_add(pr, "currency",
		    json_object_new_string(cfg->currency));
		json_object_object_add(d, "proration", pr);
	}
	snprintf(key, sizeof(key), "billing.subscription.changed:%llu:%s",
	    (unsigned long long)id, change);
	rc = event_emit(db, "billing.subscription.changed", acct->id, key, d,
	    now);
	json_object_put(d);
	return rc;
}

static int
account_created(struct db *db, uint64_t id, int64_t *out)
{
	struct db_result *res = NULL;
	int rc, f;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &plan_change_stmts, PC_CREATED, p, 1, &res)) != DB_OK)
		return rc;
	if ((f = db_fetch(res)) == 0)
		f = DB_NOT_FOUND;
	else if (f == 1 && db_col_time(res, 0, out) != 0)
		f = DB_ERROR;
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

/* Applies a pending change row (the account locked). */
static int
apply_one(struct db *db, const struct billing_config *cfg,
    struct account *acct, const struct plan_change_pending *pc, int64_t now)
{
	char from[65];
	uint64_t affected = 0;
	int rc;

	struct db_param p[] = { DBP_INT(pc->id) };
	if ((rc = db_run(db, &plan_change_stmts, PC_APPLIED, p, 1, &affected,
	    NULL)) != DB_OK || affected == 0)
		return rc;
	snprintf(from, sizeof(from), "%s", account_plan(cfg, acct) ?
	    account_plan(cfg, acct)->id : "");
	if ((rc = account_set_plan(db, acct->id, pc->to_plan)) != DB_OK)
		return rc;
	rc = emit_changed(db, cfg, acct, pc->id, "downgrade_applied", from,
	    pc->to_plan, pc->effective_at, NULL, now);
	snprintf(acct->plan_id, sizeof(acct->plan_id), "%s", pc->to_plan);
	return rc;
}

/* The account's due pending change, applied (the account locked). */
static int
apply_due_locked(struct db *db, const struct billing_config *cfg,
    struct account *acct, int64_t now)
{
	struct plan_change_pending pc;
	int rc;

	if ((rc = read_pending(db, PC_PENDING_LOCK, acct->id, &pc)) != DB_OK)
		return rc;
	if (!pc.has || pc.effective_at > now)
		return DB_OK;
	return apply_one(db, cfg, acct, &pc, now);
}

struct due_arg {
	const struct billing_config *cfg;
	uint64_t account_id;
	int64_t now;
};

static int
due_txn(struct db *db, void *arg)
{
	struct due_arg *a = arg;
	struct account acct;
	int rc;

	memset(&acct, 0, sizeof(acct));
	acct.id = a->account_id;
	if ((rc = account_lock(db, &acct)) != DB_OK)
		return rc;
	return apply_due_locked(db, a->cfg, &acct, a->now);
}

int
plan_change_apply_due(struct db *db, const struct billing_config *cfg,
    uint64_t account_id, int64_t now)
{
	struct db_result *res = NULL;
	uint64_t ids[500];
	size_t n = 0, i;
	char ts[TIME_TEXT_MAX];
	struct due_arg a;
	int64_t v;
	int rc, f;

	if (account_id != 0) {
		a = (struct due_arg){ cfg, account_id, now };
		return db_transaction(db, due_txn, &a);
	}
	time_format_db(now, ts, sizeof(ts));
	do {
		n = 0;
		struct db_param p[] = { DBP_STR(ts), DBP_INT(0), DBP_INT(0) };
		if ((rc = db_get(db, &plan_change_stmts, PC_DUE, p, 3,
		    &res)) != DB_OK)
			return rc;
		while ((f = db_fetch(res)) == 1 && n < 500)
			if (db_col_i64(res, DUE_COL_ACCOUNT, &v) == 0)
				ids[n++] = (uint64_t)v;
		db_result_free(res);
		if (f < 0)
			return f;
		for (i = 0; i < n; i++) {
			a = (struct due_arg){ cfg, ids[i], now };
			if ((rc = db_transaction(db, due_txn, &a)) != DB_OK)
				return rc;
		}
	} while (n == 500);
	return DB_OK;
}

int
plan_change_record_stripe(struct db *db, uint64_t account_id,
    const char *from_plan, const char *to_plan, int upgrade, int64_t now,
    uint64_t *id)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.account_id = account_id;
	c.source = "stripe";
	c.kind = upgrade ? "upgrade" : "downgrade";
	c.status = "applied";
	c.from = from_plan;
	c.to = to_plan;
	c.at = c.ps = c.now = now;
	c.pe = now + 1;
	return insert_change(db, &c, id);
}

int
plan_change_stripe_failed(struct db *db, uint64_t id)
{
	struct db_param p[] = { DBP_INT(id) };

	return db_run(db, &plan_change_stmts, PC_FAILED, p, 1, NULL, NULL);
}

/* -- a change asked for ------------------------------------------------------- */

struct local_arg {
	const struct billing_config *cfg;
	uint64_t account_id;
	const struct plan *to;
	int64_t now;
	enum plan_change_outcome out;
	const struct period_zone *zone;   /* the locked account's */
};

/* The two proration amounts of an upgrade from `from` to `to` at now. */
static int
prorate_upgrade(struct db *db, const struct local_arg *a,
    const struct plan *from, struct change *c)
{
	int64_t created, fs, fe, ts, te;
	int dec = money_amount_decimals(a->cfg->currency), rc;

	if ((rc = account_created(db, a->account_id, &created)) != DB_OK)
		return rc;
	plan_change_cycle(a->cfg, a->zone, from, created, a->now, &fs, &fe);
	plan_change_cycle(a->cfg, a->zone, a->to, created, a->now, &ts, &te);
	if (from != NULL && from->price > 0) {
		if (plan_change_prorate(-from->price, fe - a->now, fe - fs, dec,
		    &c->credit) != 0 ||
		    plan_change_prorate(MONEY_SCALE, fe - a->now, fe - fs, 6,
		    &c->credit_qty) != 0)
			return DB_ERROR;
	}
	if (a->to->price > 0) {
		if (plan_change_prorate(a->to->price, te - a->now, te - ts, dec,
		    &c->charge) != 0 ||
		    plan_change_prorate(MONEY_SCALE, te - a->now, te - ts, 6,
		    &c->charge_qty) != 0)
			return DB_ERROR;
	}
	return DB_OK;
}

/*
 * The part of an upgrade's credit above its charge (possible only between a
 * yearly and a monthly plan) goes to the account's credit balance, so that
 * the pair never lowers the invoice below what else it bills.
 */
static int
credit_excess(struct db *db, const struct local_arg *a,
    const struct account *acct, uint64_t id, int64_t excess)
{
	struct credit_grant g;
	struct credit cr;
	struct result r;
	char key[64];
	int replayed;

	snprintf(key, sizeof(key), "plan-change-%llu",
	    (unsigned long long)id);
	memset(&g, 0, sizeof(g));
	g.user_id = acct->user_id;
	g.reason = "unused part of the previous plan (plan change)";
	g.key = key;
	g.currency = a->cfg->currency;
	g.created_by = "billing";
	g.amount = excess;
	g.now = a->now;
	if (credits_grant(db, &g, &cr, &replayed, &r) != RESULT_OK)
		return DB_ERROR;
	return DB_OK;
}

static int
cancel_pending(struct db *db, const struct local_arg *a,
    const struct account *acct, const char *cur,
    const struct plan_change_pending *pc)
{
	int rc;

	struct db_param p[] = { DBP_INT(pc->id) };
	if ((rc = db_run(db, &plan_change_stmts, PC_CANCEL, p, 1, NULL,
	    NULL)) != DB_OK)
		return rc;
	return emit_changed(db, a->cfg, acct, pc->id, "downgrade_canceled",
	    cur, pc->to_plan, pc->effective_at, NULL, a->now);
}

static int
local_txn(struct db *db, void *arg)
{
	struct local_arg *a = arg;
	struct plan_change_pending pc;
	const struct plan *cur;
	struct account acct;
	struct change c;
	int64_t created, excess = 0;
	uint64_t id = 0;
	int rc;

	a->out = PLAN_CHANGE_NONE;
	memset(&acct, 0, sizeof(acct));
	acct.id = a->account_id;
	if ((rc = account_lock(db, &acct)) != DB_OK ||
	    (rc = apply_due_locked(db, a->cfg, &acct, a->now)) != DB_OK ||
	    (rc = read_pending(db, PC_PENDING_LOCK, acct.id, &pc)) != DB_OK)
		return rc;
	cur = account_plan(a->cfg, &acct);
	if (cur == a->to || (cur != NULL && strcmp(cur->id, a->to->id) == 0)) {
		if (!pc.has)
			return DB_OK;
		a->out = PLAN_CHANGE_UNSCHEDULED;
		return cancel_pending(db, a, &acct, cur->id, &pc);
	}
	if (pc.has) {
		if (strcmp(pc.to_plan, a->to->id) == 0)
			return DB_OK;   /* the same downgrade again */
		if ((rc = cancel_pending(db, a, &acct, cur ? cur->id : "",
		    &pc)) != DB_OK)
			return rc;
	}
	memset(&c, 0, sizeof(c));
	c.account_id = acct.id;
	c.source = "local";
	c.from = cur ? cur->id : "";
	c.to = a->to->id;
	c.now = a->now;
	if (cur != NULL && plan_change_compare(a->to, cur) < 0) {
		/* a downgrade: at the end of the old plan's cycle */
		if ((rc = account_created(db, acct.id, &created)) != DB_OK)
			return rc;
		plan_change_cycle(a->cfg, &acct.zone, cur, created, a->now,
		    &c.ps, &c.pe);
		c.kind = "downgrade";
		c.status = "pending";
		c.at = c.pe;
		if ((rc = insert_change(db, &c, &id)) != DB_OK)
			return rc;
		a->out = PLAN_CHANGE_SCHEDULED;
		return emit_changed(db, a->cfg, &acct, id,
		    "downgrade_scheduled", c.from, c.to, c.at, NULL, a->now);
	}
	/* an upgrade: at once, prorated over the account's own period (its
	 * local midnights) */
	period_account(&acct.zone, a->cfg->invoice_day, a->now, &c.ps, &c.pe);
	a->zone = &acct.zone;
	if ((rc = prorate_upgrade(db, a, cur, &c)) != DB_OK)
		return rc;
	if (-c.credit > c.charge) {
		excess = -c.credit - c.charge;
		c.credit = -c.charge;
	}
	c.kind = "upgrade";
	c.status = "applied";
	c.at = a->now;
	if ((rc = insert_change(db, &c, &id)) != DB_OK ||
	    (excess > 0 && (rc = credit_excess(db, a, &acct, id,
	    excess)) != DB_OK) ||
	    (rc = account_set_plan(db, acct.id, a->to->id)) != DB_OK)
		return rc;
	a->out = PLAN_CHANGE_UPGRADED;
	return emit_changed(db, a->cfg, &acct, id, "upgrade", c.from, c.to,
	    c.at, &c, a->now);
}

enum result_code
plan_change_local(struct db *db, const struct billing_config *cfg,
    uint64_t account_id, const struct plan *to, int64_t now,
    enum plan_change_outcome *out, struct result *r)
{
	struct local_arg a = { cfg, account_id, to, now, PLAN_CHANGE_NONE,
	    NULL };
	int rc;

	rc = db_transaction(db, local_txn, &a);
	*out = a.out;
	if (rc != DB_OK)
		return result_db(r, rc);
	return RESULT_OK;
}
