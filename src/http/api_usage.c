/*
 * GET usage: the hottest read.  What was metered comes from the daily totals
 * (at most a few rows per day of the period, however long the history); the
 * live part of active sessions is computed from their open segments.
 *
 *   ?from=&to=   RFC 3339 or YYYY-MM-DD (a date-only `to` includes that day);
 *                default: the current billing period (from the last invoiceDay)
 *   ?user_id=    admins only
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "grow.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "metering.h"
#include "money.h"
#include "period.h"
#include "timeutil.h"

#define MAX_RANGE_DAYS 400

/*
 * Everything GET usage reads, in one statement and one round trip (four
 * before: the account, the daily totals, the live sessions, the credits).
 * UNION ALL of three parts told apart by column 0; each part has columns of
 * its own and NULL in the others, so that no column mixes types (a BIGINT
 * beside a DECIMAL would come back as "5.000000"):
 *
 *   0  the account (1-7) and its credit balance (8)
 *   1  a daily total (9-12): the rows in key order, summed here (a GROUP BY
 *      that does not follow the key would cost the server a temporary table
 *      on every request)
 *   2  a live session (13-19) with one of its segments (20-27)
 *
 * Parts 1 and 2 find the account by user_id themselves; an unknown user
 * gives no row at all.  MariaDB streams a UNION ALL without a temporary
 * table.
 */
#define N2 "NULL, NULL, "
#define N4 "NULL, NULL, NULL, NULL, "
#define N8 N4 N4
static const char SQL_USAGE[] =
    "SELECT 0, a.id, a.user_id, COALESCE(a.email, ''), "
    "COALESCE(a.plan_id, ''), COALESCE(a.billing_mode, ''), a.status, "
    "COALESCE(a.stripe_customer_id, ''), "
    "(SELECT COALESCE(SUM(c.remaining), 0) FROM billing_credits c "
    "WHERE c.account_id = a.id AND (c.expires_at IS NULL OR c.expires_at > ?)), "
    N8 N8 N2 "NULL "
    "FROM billing_accounts a WHERE a.user_id = ? "
    "UNION ALL "
    "SELECT 1, " N8 "d.resource_type, d.unit_price, d.quantity, d.total_cost, "
    N8 N4 N2 "NULL "
    "FROM billing_accounts a JOIN billing_usage_daily d ON d.account_id = a.id "
    "WHERE a.user_id = ? AND d.day >= ? AND d.day < ? "
    "UNION ALL "
    "(SELECT 2, " N8 N4 "s.id, s.session_id, s.started_at, s.last_heartbeat_at, "
    "s.cpu_cores, s.memory_gb, s.storage_gb, g.started_at, g.ended_at, "
    "g.metered_until, g.metered_done, g.cpu_cores, g.memory_gb, g.storage_gb, "
    "g.metered_cost FROM billing_accounts a "
    "JOIN billing_sessions s ON s.account_id = a.id "
    "JOIN billing_session_segments g ON g.session_pk = s.id "
    /* by session only: ordering by g.seq too costs a temporary table and
     * a sort on every request; a session's rows stay together either way */
    "WHERE a.user_id = ? AND s.ended_at IS NULL ORDER BY s.id LIMIT 10000)";
#undef N2
#undef N4
#undef N8
enum { KIND_ACCOUNT, KIND_DAILY, KIND_SESSION };
#define COL_ACCOUNT 1
#define COL_CREDITS 8
#define COL_DAILY 9
#define COL_SESSION 13
#define USAGE_COLS 28
/* the partial days at either edge of a range that is not day-aligned */
static const char SQL_EDGES[] =
    "SELECT resource_type, unit_price, SUM(quantity), SUM(total_cost) "
    "FROM billing_usage_records WHERE account_id = ? AND "
    "((start_time >= ? AND start_time < ?) OR (start_time >= ? AND start_time < ?)) "
    "GROUP BY resource_type, unit_price";

struct item {
	enum resource res;
	int64_t price, qty, cost;
};

/* Zero to start; items owned (usage_free). */
struct usage {
	struct item *items;      /* one per resource and price, however many */
	size_t nitems, cap;
	int64_t total, pending;
	int64_t in_use[RES_COUNT];
};

static int
resource_from(const char *s, enum resource *out)
{
	int r;

	for (r = 0; r < RES_COUNT; r++)
		if (s != NULL && strcmp(s, resource_name(r)) == 0) {
			*out = r;
			return 0;
		}
	return -1;
}

static void
usage_free(struct usage *u)
{
	free(u->items);
	u->items = NULL;
	u->nitems = u->cap = 0;
}

/* Adds to the item of r at price: 0, or DB_ERROR (logged) when out of
 * memory or beyond the money range; an item is never left out. */
static int
add_item(struct usage *u, enum resource r, int64_t price, int64_t qty,
    int64_t cost)
{
	struct item *it;
	size_t i;

	for (i = 0; i < u->nitems; i++)
		if (u->items[i].res == r && u->items[i].price == price)
			break;
	if (i == u->nitems) {
		if (u->nitems == u->cap) {
			if ((it = grow_array(u->items, &u->cap,
			    sizeof(*it))) == NULL) {
				log_warnx("usage: out of memory for %zu items",
				    u->nitems + 1);
				return DB_ERROR;
			}
			u->items = it;
		}
		u->items[u->nitems++] = (struct item){ r, price, 0, 0 };
	}
	it = &u->items[i];
	if (money_add(it->qty, qty, &it->qty) != 0 ||
	    money_add(it->cost, cost, &it->cost) != 0 ||
	    money_add(u->total, cost, &u->total) != 0) {
		log_warnx("usage: a sum beyond the money range");
		return DB_ERROR;
	}
	return 0;
}

/* A row's resource, price, quantity and cost from columns c..c+3 into u. */
static int
add_row(struct usage *u, const struct db_result *res, size_t c)
{
	enum resource rs;
	int64_t price, qty, cost;

	if (resource_from(db_col(res, c, NULL), &rs) != 0 ||
	    db_col_decimal(res, c + 1, &price) != 0 ||
	    db_col_decimal(res, c + 2, &qty) != 0 ||
	    db_col_decimal(res, c + 3, &cost) != 0)
		return 0;
	return add_item(u, rs, price, qty, cost);
}

static int
sum_rows(struct db *db, const char *sql, const struct db_param *p, size_t np,
    struct usage *u)
{
	struct db_result *res = NULL;
	int rc, r;

	if ((rc = db_query(db, sql, p, np, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1)
		if ((r = add_row(u, res, 0)) != 0)
			break;
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static void
fmt_day(int64_t usec, char *buf, size_t size)
{
	time_format_db(usec, buf, size);
	buf[10] = '\0';
}

/* The whole days of [from, to) (the daily totals' part): [*dfrom, *dto),
 * empty (both to) when no whole day is inside. */
static void
whole_days(int64_t from, int64_t to, int64_t *dfrom, int64_t *dto)
{
	*dfrom = day_ceil(from);
	*dto = day_floor(to);
	if (*dfrom >= *dto)
		*dfrom = *dto = to; /* no whole day inside: [from, to) is one edge */
}

/* The partial days at the edges of [from, to), from the records. */
static int
edge_usage(struct db *db, uint64_t account_id, int64_t from, int64_t to,
    struct usage *u)
{
	int64_t dfrom, dto;
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX], c[TIME_TEXT_MAX], d[TIME_TEXT_MAX];

	whole_days(from, to, &dfrom, &dto);
	if (from == dfrom && dto == to)
		return DB_OK;
	/* [from, dfrom) and [dto, to); either may be empty */
	time_format_db(from, a, sizeof(a));
	time_format_db(dfrom, b, sizeof(b));
	time_format_db(dto, c, sizeof(c));
	time_format_db(to, d, sizeof(d));
	struct db_param p[] = { DBP_INT(account_id), DBP_STR(a), DBP_STR(b),
	    DBP_STR(c), DBP_STR(d) };
	return sum_rows(db, SQL_EDGES, p, 5, u);
}

/* One active session's figures, built across its segment rows. */
struct live {
	struct json_object *obj;
	int64_t id, accrued;
};

static void
finish_session(struct live *l, struct json_object *list)
{
	if (l->obj == NULL)
		return;
	json_object_object_add(l->obj, "accrued_cost",
	    json_money_trim(l->accrued, 2));
	json_object_array_add(list, l->obj);
	l->obj = NULL;
}

/* One row of a live session and one of its segments, from column c on. */
static void
session_row(const struct billing_config *cfg, const struct db_result *res,
    size_t c, int64_t now, int64_t stale_before, struct live *l,
    struct usage *u, struct json_object *list)
{
	int64_t id, started, hb, cur[RES_COUNT], gs, ge, mu, sz[RES_COUNT];
	int64_t cost, done = 0, until, live;
	int stale;

	if (db_col_i64(res, c, &id) != 0 || db_col_time(res, c + 2, &started) != 0 ||
	    db_col_time(res, c + 3, &hb) != 0 || db_col_decimal(res, c + 4, &cur[0]) != 0 ||
	    db_col_decimal(res, c + 5, &cur[1]) != 0 || db_col_decimal(res, c + 6, &cur[2]) != 0 ||
	    db_col_time(res, c + 7, &gs) != 0 || db_col_time(res, c + 8, &ge) != 0 ||
	    db_col_time(res, c + 9, &mu) != 0 || db_col_i64(res, c + 10, &done) != 0 ||
	    db_col_decimal(res, c + 11, &sz[0]) != 0 || db_col_decimal(res, c + 12, &sz[1]) != 0 ||
	    db_col_decimal(res, c + 13, &sz[2]) != 0 || db_col_decimal(res, c + 14, &cost) != 0)
		return;
	stale = hb < stale_before;
	if (l->obj == NULL || l->id != id) {
		finish_session(l, list);
		l->obj = json_object_new_object();
		l->id = id;
		l->accrued = 0;
		json_object_object_add(l->obj, "session_id",
		    json_object_new_string(db_col(res, c + 1, NULL)));
		json_object_object_add(l->obj, "started_at", json_time(started));
		json_object_object_add(l->obj, "last_heartbeat_at", json_time(hb));
		json_object_object_add(l->obj, "cpu_cores",
		    json_money_trim(cur[0], 0));
		json_object_object_add(l->obj, "memory_gb",
		    json_money_trim(cur[1], 0));
		json_object_object_add(l->obj, "storage_gb",
		    json_money_trim(cur[2], 0));
		json_object_object_add(l->obj, "stale",
		    json_object_new_boolean(stale));
		if (!stale)
			for (int k = 0; k < RES_COUNT; k++)
				u->in_use[k] += cur[k];
	}
	/* metered so far, plus what the job has not cut yet */
	l->accrued += cost;
	if (!done) {
		until = ge ? ge : (stale ? hb : now);
		live = metering_live_cost(cfg, sz[0], sz[1], sz[2], mu ? mu : gs,
		    until);
		l->accrued += live;
		u->pending += live;
	}
}

/* The account's columns (from COL_ACCOUNT) into *out. */
static int
account_row(const struct db_result *res, struct account *out)
{
	int64_t id;

	if (db_col_i64(res, COL_ACCOUNT, &id) != 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->id = (uint64_t)id;
	db_col_text(res, COL_ACCOUNT + 1, out->user_id, sizeof(out->user_id));
	db_col_text(res, COL_ACCOUNT + 2, out->email, sizeof(out->email));
	db_col_text(res, COL_ACCOUNT + 3, out->plan_id, sizeof(out->plan_id));
	db_col_text(res, COL_ACCOUNT + 4, out->billing_mode,
	    sizeof(out->billing_mode));
	db_col_text(res, COL_ACCOUNT + 5, out->status, sizeof(out->status));
	db_col_text(res, COL_ACCOUNT + 6, out->stripe_customer_id,
	    sizeof(out->stripe_customer_id));
	return 0;
}

/*
 * Runs SQL_USAGE for user_id: the account (*have_account 1 when found),
 * the metered usage of the whole days of [from, to), the live sessions
 * (into list) and the credit balance.  DB_OK or an error.
 */
static int
usage_read(struct app *app, const char *user_id, int64_t from, int64_t to,
    int64_t now, struct account *acct, int *have_account, struct usage *u,
    int64_t *credits, struct json_object *list)
{
	const struct billing_config *cfg = app->cfg;
	int64_t stale_before = now -
	    (int64_t)cfg->session_timeout_minutes * 60 * USEC_PER_SEC;
	char t[TIME_TEXT_MAX], a[TIME_TEXT_MAX], b[TIME_TEXT_MAX];
	struct live l = { NULL, 0, 0 };
	struct db_result *res = NULL;
	int64_t kind, dfrom, dto;
	int rc, r;

	*have_account = 0;
	*credits = 0;
	whole_days(from, to, &dfrom, &dto);
	fmt_day(dfrom, a, sizeof(a));
	fmt_day(dto, b, sizeof(b));
	time_format_db(now, t, sizeof(t));
	struct db_param p[] = { DBP_STR(t), DBP_STR(user_id), DBP_STR(user_id),
	    DBP_STR(a), DBP_STR(b), DBP_STR(user_id) };
	if ((rc = db_query(app->db, SQL_USAGE, p, 6, &res)) != DB_OK)
		return rc;
	if (db_ncols(res) != USAGE_COLS) {
		db_result_free(res);
		return DB_ERROR;
	}
	while ((r = db_fetch(res)) == 1) {
		if (db_col_i64(res, 0, &kind) != 0)
			continue;
		switch (kind) {
		case KIND_ACCOUNT:
			if (account_row(res, acct) != 0 ||
			    db_col_decimal(res, COL_CREDITS, credits) != 0)
				r = DB_ERROR;
			else
				*have_account = 1;
			break;
		case KIND_DAILY:
			if (add_row(u, res, COL_DAILY) != 0)
				r = DB_ERROR;
			break;
		case KIND_SESSION:
			session_row(cfg, res, COL_SESSION, now, stale_before, &l,
			    u, list);
			break;
		}
		if (r < 0)
			break;
	}
	finish_session(&l, list);
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static struct json_object *
quota_of(int64_t in_use, int64_t limit)
{
	struct json_object *o = json_object_new_object();
	int64_t pct;

	json_object_object_add(o, "in_use", json_money_trim(in_use, 0));
	json_object_object_add(o, "limit", json_money_trim(limit, 0));
	if (limit > 0 && money_muldiv(in_use, 100 * MONEY_SCALE, limit, &pct) == 0)
		json_object_object_add(o, "percent", json_money(pct, 2));
	else
		json_object_object_add(o, "percent", NULL);
	return o;
}

struct json_object *
api_plan_json(const struct plan *p)
{
	struct json_object *o;

	if (p == NULL)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "price", json_money(p->price, 2));
	json_object_object_add(o, "interval", json_object_new_string(
	    p->interval == INTERVAL_YEAR ? "year" : "month"));
	json_object_object_add(o, "cpu_limit", json_money_trim(p->cpu_limit, 0));
	json_object_object_add(o, "memory_limit",
	    json_money_trim(p->memory_limit, 0));
	json_object_object_add(o, "storage_limit",
	    json_money_trim(p->storage_limit, 0));
	return o;
}

int
api_usage(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *root = NULL, *items, *sessions, *period, *quota;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	const struct plan *plan;
	struct account acct;
	struct usage u;
	int64_t now = time_now_usec(), from, to, credits = 0;
	int rc, have_account, r;
	size_t i;

	if (api_target_user(req, user_id, sizeof(user_id)) != 0 ||
	    api_range_args(app, req, MAX_RANGE_DAYS, &from, &to) != 0)
		return -1;
	memset(&u, 0, sizeof(u));
	sessions = json_object_new_array();
	rc = usage_read(app, user_id, from, to, now, &acct, &have_account, &u,
	    &credits, sessions);
	if (rc == DB_OK && have_account)
		rc = edge_usage(app->db, acct.id, from, to, &u);
	if (rc != DB_OK)
		goto fail;
	/* every resource appears, at the current rate when it had no usage */
	for (r = 0; r < RES_COUNT && rc == DB_OK; r++)
		rc = add_item(&u, r, resource_rate(cfg, r), 0, 0);
	if (rc != DB_OK)
		goto fail;

	root = json_object_new_object();
	json_object_object_add(root, "user_id", json_object_new_string(user_id));
	json_object_object_add(root, "currency",
	    json_object_new_string(cfg->currency));
	json_object_object_add(root, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, have_account ? &acct : NULL))));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(from));
	json_object_object_add(period, "to", json_time(to));
	json_object_object_add(root, "period", period);
	items = json_object_new_array();
	for (r = 0; r < RES_COUNT; r++)
		for (i = 0; i < u.nitems; i++) {
			struct json_object *it;

			if (u.items[i].res != (enum resource)r ||
			    (u.items[i].qty == 0 && u.items[i].cost == 0 &&
			    u.items[i].price != resource_rate(cfg, r)))
				continue;
			it = json_object_new_object();
			json_object_object_add(it, "resource_type",
			    json_object_new_string(resource_name(r)));
			json_object_object_add(it, "quantity",
			    json_money_trim(u.items[i].qty, 0));
			json_object_object_add(it, "unit",
			    json_object_new_string(resource_unit(r)));
			json_object_object_add(it, "unit_price",
			    json_money_trim(u.items[i].price, 2));
			json_object_object_add(it, "total_cost",
			    json_money_trim(u.items[i].cost, 2));
			json_object_array_add(items, it);
		}
	json_object_object_add(root, "items", items);
	json_object_object_add(root, "total_cost", json_money_trim(u.total, 2));
	json_object_object_add(root, "pending_cost", json_money_trim(u.pending, 2));
	json_object_object_add(root, "estimated_total_cost",
	    json_money_trim(u.total + u.pending, 2));
	json_object_object_add(root, "active_sessions", sessions);
	sessions = NULL;
	plan = account_plan(cfg, have_account ? &acct : NULL);
	json_object_object_add(root, "plan", api_plan_json(plan));
	quota = json_object_new_object();
	json_object_object_add(quota, "cpu", quota_of(u.in_use[RES_CPU],
	    plan ? plan->cpu_limit : 0));
	json_object_object_add(quota, "memory", quota_of(u.in_use[RES_MEMORY],
	    plan ? plan->memory_limit : 0));
	json_object_object_add(quota, "storage", quota_of(u.in_use[RES_STORAGE],
	    plan ? plan->storage_limit : 0));
	json_object_object_add(root, "quota", quota);
	json_object_object_add(root, "credits_balance", json_money(credits, 2));
	http_send_json(req, 200, root);
	json_object_put(root);
	usage_free(&u);
	return 0;
fail:
	json_object_put(sessions);
	usage_free(&u);
	return api_db_error(app, req, rc);
}
