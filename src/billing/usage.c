/*
 * usage: GET usage's read.  What was metered comes from the daily totals
 * (at most a few rows per day of the period, however long the history); the
 * live part of active sessions is computed from their open segments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "grow.h"
#include "log.h"
#include "metering.h"
#include "money.h"
#include "period.h"
#include "resource.h"
#include "result.h"
#include "timeutil.h"
#include "usage.h"

/*
 * Everything GET usage reads, in one statement and one round trip (four
 * before: the account, the daily totals, the live sessions, the credits).
 * UNION ALL of four parts told apart by column 0; each part has columns of
 * its own and NULL in the others, so that no column mixes types (a BIGINT
 * beside a DECIMAL would come back as "5.000000"):
 *
 *   0  the account
 *   1  a daily total: the rows in key order, summed here (a GROUP BY that
 *      does not follow the key would cost the server a temporary table on
 *      every request)
 *   2  a live session with one of its segments
 *   3  a credit with a balance left, summed here (a correlated SUM in part
 *      0 cost the server about 68 us per execution, this part about 25:
 *      bench/README.md)
 *
 * Parts 1 to 3 find the account by user_id themselves; an unknown user
 * gives no row at all.  MariaDB streams a UNION ALL without a temporary
 * table.
 */
#define N2 "NULL, NULL, "
#define N4 "NULL, NULL, NULL, NULL, "
#define N8 N4 N4

/*
 * The day boundary of GET usage/days, here and only here: the SQL that
 * names a record's day and the C that walks the days of a range
 * (usage_days_read) must agree.  A day is the account's local calendar day
 * (its time zone, period.h; UTC without one): a record counts on the local
 * date of its start.  The SQL takes DATE(start_time) for an account that
 * has always been in UTC; otherwise DATE(start_time + its UTC offset then),
 * the offset picked from up to USAGE_TZ_SPANS spans of constant offset
 * (period_zone_offsets: the zone before a change, then the new one), the
 * way admin/reports counts an account's days.  The C walks the same local
 * dates (tz_local_date, tz_day_start).  Records are cut at whole UTC hours
 * (metering), so a zone whose offset is whole hours splits them exactly at
 * local midnight; in a +05:45 zone the hour that spans local midnight counts
 * whole on the day it starts.
 */
#define USAGE_TZ_SPANS 8
#define USAGE_DAY_UTC_SQL "DATE(r.start_time)"
#define USAGE_DAY_LOCAL_SQL \
	"DATE(r.start_time + INTERVAL (CASE " \
	"WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? " \
	"WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? " \
	"WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? " \
	"WHEN r.start_time < ? THEN ? ELSE ? END) SECOND)"
#define USAGE_DAYS_SQL(day) \
	"SELECT " day ", r.resource_type, SUM(r.quantity), " \
	"SUM(r.total_cost) FROM billing_usage_records r " \
	"JOIN billing_accounts a ON a.id = r.account_id " \
	"WHERE a.user_id = ? AND r.start_time >= ? AND r.start_time < ? " \
	"GROUP BY 1, 2 ORDER BY 1, 2"

enum { USAGE_READ, USAGE_EDGES, USAGE_DAYS, USAGE_DAYS_LOCAL,
	USAGE_NSTMTS };
static const struct db_stmt usage_sql[USAGE_NSTMTS] = {
	[USAGE_READ] = {
	    "SELECT 0, a.id, a.user_id, COALESCE(a.email, ''), "
	    "COALESCE(a.plan_id, ''), COALESCE(a.billing_mode, ''), a.status, "
	    "COALESCE(a.stripe_customer_id, ''), NULL, "
	    N8 N8 N4 "NULL, NULL, "
	    "a.timezone, COALESCE(a.timezone_prev, ''), a.timezone_from "
	    "FROM billing_accounts a WHERE a.user_id = ? "
	    "UNION ALL "
	    "SELECT 1, " N8 "d.resource_type, d.unit_price, d.quantity, "
	    "d.total_cost, " N8 N4 N4 "NULL, NULL, NULL, NULL, NULL "
	    "FROM billing_accounts a "
	    "JOIN billing_usage_daily d ON d.account_id = a.id "
	    "WHERE a.user_id = ? AND d.day >= ? AND d.day < ? "
	    "UNION ALL "
	    "SELECT 3, " N4 "NULL, NULL, NULL, c.remaining, " N8 N8 N8
	    "NULL "
	    "FROM billing_accounts a "
	    "JOIN billing_credits c ON c.account_id = a.id "
	    "WHERE a.user_id = ? AND c.remaining > 0 AND "
	    "(c.expires_at IS NULL OR c.expires_at > ?) "
	    "UNION ALL "
	    "(SELECT 2, " N8 N4 "s.id, s.session_id, s.started_at, "
	    "s.last_heartbeat_at, s.cpu_cores, s.memory_gb, s.storage_gb, "
	    "g.started_at, g.ended_at, g.metered_until, g.metered_done, "
	    "g.cpu_cores, g.memory_gb, g.storage_gb, g.metered_cost, "
	    "s.hibernated, s.kind = 'user_storage', s.heartbeats, "
	    "NULL, NULL, NULL "
	    "FROM billing_accounts a "
	    "JOIN billing_sessions s ON s.account_id = a.id "
	    "JOIN billing_session_segments g ON g.session_pk = s.id "
	    /* by session only: ordering by g.seq too costs a temporary table
	     * and a sort on every request; a session's rows stay together
	     * either way */
	    "WHERE a.user_id = ? AND s.ended_at IS NULL ORDER BY s.id "
	    "LIMIT 10000)", 7, 34 },
	/* the partial days at either edge of a range that is not day-aligned */
	[USAGE_EDGES] = {
	    "SELECT resource_type, unit_price, SUM(quantity), SUM(total_cost) "
	    "FROM billing_usage_records WHERE account_id = ? AND "
	    "((start_time >= ? AND start_time < ?) OR "
	    "(start_time >= ? AND start_time < ?)) "
	    "GROUP BY resource_type, unit_price", 5, 4 },
	/* GET usage/days: the records of [from, to) by day and resource (the
	 * sums DECIMAL, in SQL); days without records give no row.  UTC days,
	 * and local days (each span's end and offset, then the last offset) */
	[USAGE_DAYS] = { USAGE_DAYS_SQL(USAGE_DAY_UTC_SQL), 3, 4 },
	[USAGE_DAYS_LOCAL] = { USAGE_DAYS_SQL(USAGE_DAY_LOCAL_SQL),
	    2 * (USAGE_TZ_SPANS - 1) + 1 + 3, 4 },
};
const struct db_stmts usage_stmts = DB_STMTS("usage", usage_sql);
#undef N2
#undef N4
#undef N8

/* USAGE_READ's parts (column USAGE_COL_KIND) */
enum { KIND_ACCOUNT, KIND_DAILY, KIND_SESSION, KIND_CREDIT };

/* USAGE_READ's columns */
enum {
	USAGE_COL_KIND,
	/* the account */
	USAGE_COL_ACCOUNT_ID, USAGE_COL_USER_ID, USAGE_COL_EMAIL,
	USAGE_COL_PLAN, USAGE_COL_MODE, USAGE_COL_STATUS, USAGE_COL_CUSTOMER,
	/* a credit's remaining amount (part 3) */
	USAGE_COL_CREDITS,
	/* a daily total (SUM_* from here) */
	USAGE_COL_DAILY,
	/* a live session and one of its segments */
	USAGE_COL_SESSION_PK = USAGE_COL_DAILY + 4, USAGE_COL_SESSION_ID,
	USAGE_COL_STARTED, USAGE_COL_HEARTBEAT, USAGE_COL_SIZE,
	USAGE_COL_SEG_STARTED = USAGE_COL_SIZE + RES_COUNT,
	USAGE_COL_SEG_ENDED, USAGE_COL_SEG_UNTIL, USAGE_COL_SEG_DONE,
	USAGE_COL_SEG_SIZE,
	USAGE_COL_SEG_COST = USAGE_COL_SEG_SIZE + RES_COUNT,
	USAGE_COL_HIBERNATED,
	USAGE_COL_VOLUME,
	USAGE_COL_HEARTBEATS,
	/* the account's time zone (its period: usage_read) */
	USAGE_COL_TZ, USAGE_COL_TZ_PREV, USAGE_COL_TZ_FROM,
	USAGE_NCOLS
};

/* A sum's columns, from USAGE_COL_DAILY in USAGE_READ, from 0 in
 * USAGE_EDGES */
enum { SUM_RESOURCE, SUM_PRICE, SUM_QTY, SUM_COST };

void
usage_free(struct usage *u)
{
	free(u->items);
	u->items = NULL;
	u->nitems = u->cap = 0;
}

/* qty to *qsum, cost to *csum, *total and *total2 (when not NULL): 0, or
 * DB_ERROR (logged) beyond the money range. */
static int
add_sums(int64_t *qsum, int64_t *csum, int64_t *total, int64_t *total2,
    int64_t qty, int64_t cost)
{
	if (money_add(*qsum, qty, qsum) != 0 ||
	    money_add(*csum, cost, csum) != 0 ||
	    money_add(*total, cost, total) != 0 ||
	    (total2 != NULL && money_add(*total2, cost, total2) != 0)) {
		log_warnx("usage: a sum beyond the money range");
		return DB_ERROR;
	}
	return 0;
}

/* Adds to the item of r at price: 0, or DB_ERROR (logged) when out of
 * memory or beyond the money range; an item is never left out. */
static int
add_item(struct usage *u, enum resource r, int64_t price, int64_t qty,
    int64_t cost)
{
	struct usage_item *it;
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
		u->items[u->nitems++] = (struct usage_item){ r, price, 0, 0 };
	}
	it = &u->items[i];
	return add_sums(&it->qty, &it->cost, &u->total, NULL, qty, cost);
}

/* A row's resource, price, quantity and cost from columns c + SUM_* into
 * u; a row that cannot be read is left out. */
static int
add_row(struct usage *u, const struct db_result *res, size_t c)
{
	enum resource rs;
	int64_t price, qty, cost;

	if (resource_parse(db_col(res, c + SUM_RESOURCE, NULL), &rs) != 0 ||
	    db_col_decimal(res, c + SUM_PRICE, &price) != 0 ||
	    db_col_decimal(res, c + SUM_QTY, &qty) != 0 ||
	    db_col_decimal(res, c + SUM_COST, &cost) != 0)
		return 0;
	return add_item(u, rs, price, qty, cost);
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
	*dfrom = period_day_ceil(from);
	*dto = period_day_floor(to);
	if (*dfrom >= *dto)
		*dfrom = *dto = to; /* no whole day inside: [from, to) is one edge */
}

/* The partial days at the edges of [from, to), from the records. */
static int
edge_usage(struct db *db, uint64_t account_id, int64_t from, int64_t to,
    struct usage *u)
{
	struct db_result *res = NULL;
	int64_t dfrom, dto;
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX], c[TIME_TEXT_MAX], d[TIME_TEXT_MAX];
	int rc, r;

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
	if ((rc = db_get(db, &usage_stmts, USAGE_EDGES, p, 5, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1)
		if ((r = add_row(u, res, 0)) != 0)
			break;
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

/* One active session, built across its segment rows. */
struct live {
	struct usage_session s;
	int open;                 /* s holds a session not yet passed on */
	int volume;               /* s is the account's persistent volume */
	int64_t pk;
	usage_session_fn fn;
	void *arg;
};

static void
finish_session(struct live *l)
{
	if (!l->open)
		return;
	if (!l->volume) /* the volume is no session: usage shows its size */
		l->fn(&l->s, l->arg);
	l->open = 0;
}

/* One row of a live session and one of its segments. */
static void
session_row(const struct billing_config *cfg, const struct db_result *res,
    int64_t now, int64_t stale_before, struct live *l, struct usage *u)
{
	int64_t pk, started, hb, cur[RES_COUNT], gs, ge, mu, sz[RES_COUNT];
	int64_t cost, done = 0, until, live, hibernated = 0, volume = 0;
	int64_t beats = 1;
	int k;

	if (db_col_i64(res, USAGE_COL_SESSION_PK, &pk) != 0 ||
	    db_col_time(res, USAGE_COL_STARTED, &started) != 0 ||
	    db_col_time(res, USAGE_COL_HEARTBEAT, &hb) != 0 ||
	    db_col_time(res, USAGE_COL_SEG_STARTED, &gs) != 0 ||
	    db_col_time(res, USAGE_COL_SEG_ENDED, &ge) != 0 ||
	    db_col_time(res, USAGE_COL_SEG_UNTIL, &mu) != 0 ||
	    db_col_i64(res, USAGE_COL_SEG_DONE, &done) != 0 ||
	    db_col_decimal(res, USAGE_COL_SEG_COST, &cost) != 0 ||
	    db_col_i64(res, USAGE_COL_HIBERNATED, &hibernated) != 0 ||
	    db_col_i64(res, USAGE_COL_VOLUME, &volume) != 0 ||
	    db_col_i64(res, USAGE_COL_HEARTBEATS, &beats) != 0)
		return;
	for (k = 0; k < RES_COUNT; k++)
		if (db_col_decimal(res, USAGE_COL_SIZE + k, &cur[k]) != 0 ||
		    db_col_decimal(res, USAGE_COL_SEG_SIZE + k, &sz[k]) != 0)
			return;
	if (!l->open || l->pk != pk) {
		finish_session(l);
		memset(&l->s, 0, sizeof(l->s));
		l->open = 1;
		l->pk = pk;
		db_col_text(res, USAGE_COL_SESSION_ID, l->s.session_id,
		    sizeof(l->s.session_id));
		l->s.started_at = started;
		l->s.last_heartbeat_at = hb;
		memcpy(l->s.size, cur, sizeof(l->s.size));
		/* hibernated: storage only, and never stale (no heartbeats) */
		l->s.hibernated = hibernated != 0;
		l->volume = volume != 0;
		if (l->volume)
			u->user_storage = cur[RES_STORAGE];
		/* a session whose source sends no heartbeats is never stale */
		l->s.stale = !l->s.hibernated && beats != 0 &&
		    hb < stale_before;
		if (l->s.hibernated)
			u->in_use[RES_STORAGE] += cur[RES_STORAGE];
		else if (!l->s.stale)
			for (k = 0; k < RES_COUNT; k++)
				u->in_use[k] += cur[k];
	}
	/* metered so far, plus what the job has not cut yet */
	l->s.accrued += cost;
	if (!done) {
		until = ge ? ge : (l->s.stale ? hb : now);
		live = metering_live_cost(cfg, sz[RES_CPU], sz[RES_MEMORY],
		    sz[RES_STORAGE], mu ? mu : gs, until);
		l->s.accrued += live;
		u->pending += live;
	}
}

/* The account's columns into *out. */
static int
account_row(const struct db_result *res, struct account *out)
{
	int64_t id;

	if (db_col_i64(res, USAGE_COL_ACCOUNT_ID, &id) != 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->id = (uint64_t)id;
	db_col_text(res, USAGE_COL_USER_ID, out->user_id, sizeof(out->user_id));
	db_col_text(res, USAGE_COL_EMAIL, out->email, sizeof(out->email));
	db_col_text(res, USAGE_COL_PLAN, out->plan_id, sizeof(out->plan_id));
	db_col_text(res, USAGE_COL_MODE, out->billing_mode,
	    sizeof(out->billing_mode));
	db_col_text(res, USAGE_COL_STATUS, out->status, sizeof(out->status));
	db_col_text(res, USAGE_COL_CUSTOMER, out->stripe_customer_id,
	    sizeof(out->stripe_customer_id));
	db_col_text(res, USAGE_COL_TZ, out->zone.zone, sizeof(out->zone.zone));
	db_col_text(res, USAGE_COL_TZ_PREV, out->zone.prev,
	    sizeof(out->zone.prev));
	return db_col_time(res, USAGE_COL_TZ_FROM, &out->zone.from) == 0 ?
	    0 : -1;
}

/* Runs USAGE_READ for user_id: the account, the metered usage of the whole
 * days of [from, to), the live sessions and the credit balance. */
static int
read_all(struct db *db, const struct billing_config *cfg,
    const char *user_id, int64_t from, int64_t to, int64_t now,
    struct usage *u, usage_session_fn fn, void *arg)
{
	int64_t stale_before = now -
	    (int64_t)cfg->session_timeout_minutes * 60 * USEC_PER_SEC;
	char t[TIME_TEXT_MAX], a[TIME_TEXT_MAX], b[TIME_TEXT_MAX];
	struct live l = { .fn = fn, .arg = arg };
	struct db_result *res = NULL;
	int64_t kind, dfrom, dto, left;
	int rc, r;

	whole_days(from, to, &dfrom, &dto);
	fmt_day(dfrom, a, sizeof(a));
	fmt_day(dto, b, sizeof(b));
	time_format_db(now, t, sizeof(t));
	struct db_param p[] = { DBP_STR(user_id), DBP_STR(user_id),
	    DBP_STR(a), DBP_STR(b), DBP_STR(user_id), DBP_STR(t),
	    DBP_STR(user_id) };
	if ((rc = db_get(db, &usage_stmts, USAGE_READ, p, 7, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (db_col_i64(res, USAGE_COL_KIND, &kind) != 0)
			continue;
		switch (kind) {
		case KIND_ACCOUNT:
			if (account_row(res, &u->account) != 0)
				r = DB_ERROR;
			else
				u->have_account = 1;
			break;
		case KIND_CREDIT:
			if (db_col_decimal(res, USAGE_COL_CREDITS, &left) != 0 ||
			    money_add(u->credits, left, &u->credits) != 0) {
				log_warnx("usage: an unreadable credit or a "
				    "balance beyond the money range");
				r = DB_ERROR;
			}
			break;
		case KIND_DAILY:
			if (add_row(u, res, USAGE_COL_DAILY) != 0)
				r = DB_ERROR;
			break;
		case KIND_SESSION:
			session_row(cfg, res, now, stale_before, &l, u);
			break;
		}
		if (r < 0)
			break;
	}
	finish_session(&l);
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

/* The items by resource, then in the order met; one with no usage at a
 * price other than the current rate is left out. */
static void
order_items(const struct billing_config *cfg, struct usage *u)
{
	struct usage_item *it = u->items, tmp;
	size_t i, j, n = 0;
	int r;

	/* a stable selection in place: few items */
	for (r = 0; r < RES_COUNT; r++)
		for (i = n; i < u->nitems; i++) {
			if (it[i].res != (enum resource)r)
				continue;
			if (it[i].qty == 0 && it[i].cost == 0 &&
			    it[i].price != resource_rate(cfg, r)) {
				it[i].res = RES_COUNT; /* dropped below */
				continue;
			}
			tmp = it[i];
			for (j = i; j > n; j--)
				it[j] = it[j - 1];
			it[n++] = tmp;
		}
	u->nitems = n;
}

static void
session_ignored(const struct usage_session *s, void *arg)
{
	(void)s;
	(void)arg;
}

enum result_code
usage_read(struct db *db, const struct billing_config *cfg,
    const char *user_id, int64_t from, int64_t to, int64_t now,
    struct usage *u, usage_session_fn fn, void *arg, struct result *r)
{
	int rc, k;

	u->have_account = 0;
	u->credits = 0;
	if (from == 0 && to == 0) {
		/*
		 * The account's period, in its time zone (UTC without one).
		 * The read returns the zone with the account, so it starts
		 * with the UTC period (most accounts' zone, and an unknown
		 * user's) and is made again only when the account's own
		 * period differs: one statement instead of a read of the
		 * account first.  The live sessions and the credits do not
		 * depend on the period: fn has them from the first read, the
		 * second passes them to no one.
		 */
		struct period_zone utc;
		int64_t afrom, ato;

		memset(&utc, 0, sizeof(utc));
		period_account(&utc, cfg->invoice_day, now, &from, &to);
		rc = read_all(db, cfg, user_id, from, to, now, u, fn, arg);
		if (rc == DB_OK && u->have_account) {
			period_account(&u->account.zone, cfg->invoice_day,
			    now, &afrom, &ato);
			if (afrom != from || ato != to) {
				usage_free(u);
				memset(u->in_use, 0, sizeof(u->in_use));
				u->total = u->pending = u->user_storage = 0;
				u->have_account = 0;
				u->credits = 0;
				from = afrom;
				to = ato;
				rc = read_all(db, cfg, user_id, from, to, now,
				    u, session_ignored, NULL);
			}
		}
	} else
		rc = read_all(db, cfg, user_id, from, to, now, u, fn, arg);
	u->from = from;
	u->to = to;
	if (rc == DB_OK && u->have_account)
		rc = edge_usage(db, u->account.id, from, to, u);
	/* every resource appears, at the current rate when it had no usage */
	for (k = 0; k < RES_COUNT && rc == DB_OK; k++)
		rc = add_item(u, k, resource_rate(cfg, k), 0, 0);
	if (rc != DB_OK) {
		if (rc == DB_UNAVAILABLE || rc == DB_RETRY)
			return result_db(r, rc);
		return result_set(r, RESULT_ERROR, NULL,
		    "usage of %s: database error %u: %s", user_id,
		    db_errno(db), db_error(db));
	}
	order_items(cfg, u);
	return result_set(r, RESULT_OK, NULL, "ok");
}

void
usage_days_free(struct usage_days *d)
{
	free(d->days);
	d->days = NULL;
	d->ndays = 0;
}

/* One row of USAGE_DAYS into its day of d (days in order, rows in order:
 * *next is where the search resumes). */
static int
day_row(const struct db_result *res, struct usage_days *d, size_t *next)
{
	char text[TIME_TEXT_MAX];
	struct usage_day *day;
	enum resource rs;
	int64_t qty, cost;

	db_col_text(res, 0, text, sizeof(text));
	if (strlen(text) != 10 ||
	    resource_parse(db_col(res, 1, NULL), &rs) != 0 ||
	    db_col_decimal(res, 2, &qty) != 0 ||
	    db_col_decimal(res, 3, &cost) != 0) {
		log_warnx("usage: an unreadable day row (%s)", text);
		return DB_ERROR;
	}
	/* ISO dates order as text */
	while (*next < d->ndays && strcmp(d->days[*next].date, text) < 0)
		(*next)++;
	if (*next == d->ndays || strcmp(d->days[*next].date, text) != 0) {
		log_warnx("usage: day %s outside the range", text);
		return DB_ERROR;
	}
	day = &d->days[*next];
	day->metered[rs] = 1;
	return add_sums(&day->qty[rs], &day->cost[rs], &day->total, &d->total,
	    qty, cost);
}

/* Every local day of [from, to) into d, in order, those without records
 * too: the local date of each instant in the zone then in force; a date
 * that goes on across a zone change (westwards) is one day.  0, or -1 out
 * of memory. */
static int
walk_days(const struct period_zone *z, int64_t from, int64_t to,
    struct usage_days *d)
{
	struct usage_day *grown;
	const char *zn;
	size_t cap = 0;
	int64_t t, next;
	int y, m, dd;
	char date[16];

	for (t = from; t < to; t = next) {
		zn = period_zone_at(z, t);
		tz_local_date(zn, t, &y, &m, &dd);
		next = tz_day_start(zn, y, m, dd + 1);
		if (zn != NULL && zn == z->prev && next > z->from)
			next = z->from;   /* the new zone's days from here */
		snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m, dd);
		if (d->ndays > 0 &&
		    strcmp(d->days[d->ndays - 1].date, date) == 0)
			continue;
		if (d->ndays == cap) {
			if ((grown = grow_array(d->days, &cap,
			    sizeof(*grown))) == NULL)
				return -1;
			d->days = grown;
		}
		memset(&d->days[d->ndays], 0, sizeof(d->days[0]));
		d->days[d->ndays].day = t == from ? tz_day_start(zn, y, m, dd) :
		    t;
		memcpy(d->days[d->ndays].date, date, 11);
		d->ndays++;
	}
	return 0;
}

enum result_code
usage_days_read(struct db *db, const struct billing_config *cfg,
    const char *user_id, int64_t from, int64_t to, int64_t now,
    struct usage_days *d, struct result *r)
{
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX];
	char bounds[USAGE_TZ_SPANS][TIME_TEXT_MAX];
	struct db_param p[2 * USAGE_TZ_SPANS + 3];
	struct tz_span spans[USAGE_TZ_SPANS];
	struct db_result *res = NULL;
	struct account acct;
	size_t np = 0, next = 0, i;
	int rc, f, nspans = 0;

	memset(d, 0, sizeof(*d));
	/* the account's zone (an unknown user: UTC, and no records) */
	memset(&acct, 0, sizeof(acct));
	rc = account_find(db, user_id, &acct);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return result_db(r, rc);
	if (from == 0 && to == 0)
		period_account(&acct.zone, cfg->invoice_day, now, &from, &to);
	d->from = from;
	d->to = to;
	if (!period_zone_is_utc(&acct.zone) &&
	    (nspans = period_zone_offsets(&acct.zone, from, to, spans,
	    USAGE_TZ_SPANS)) < 0)
		return result_set(r, RESULT_INVALID, "to", "usage by day in "
		    "%s spans at most %d changes of its UTC offset: ask for a "
		    "shorter range", acct.zone.zone, USAGE_TZ_SPANS - 1);
	if (walk_days(&acct.zone, from, to, d) != 0) {
		usage_days_free(d);
		return result_set(r, RESULT_ERROR, NULL,
		    "usage days of %s: out of memory", user_id);
	}
	if (nspans > 0) {
		/* each span's end and offset; the unused ones end never */
		for (i = 0; i + 1 < USAGE_TZ_SPANS; i++) {
			if (i + 1 < (size_t)nspans)
				time_format_db(spans[i + 1].start, bounds[i],
				    sizeof(bounds[i]));
			else
				snprintf(bounds[i], sizeof(bounds[i]),
				    "9999-12-31 23:59:59");
			p[np++] = DBP_STR(bounds[i]);
			p[np++] = DBP_INT(spans[i < (size_t)nspans ? i :
			    (size_t)nspans - 1].offset);
		}
		p[np++] = DBP_INT(spans[nspans - 1].offset);
	}
	time_format_db(from, a, sizeof(a));
	time_format_db(to, b, sizeof(b));
	p[np++] = DBP_STR(user_id);
	p[np++] = DBP_STR(a);
	p[np++] = DBP_STR(b);
	rc = db_get(db, &usage_stmts, nspans > 0 ? USAGE_DAYS_LOCAL :
	    USAGE_DAYS, p, np, &res);
	if (rc == DB_OK) {
		while ((f = db_fetch(res)) == 1)
			if ((f = day_row(res, d, &next)) != 0)
				break;
		db_result_free(res);
		rc = f < 0 ? f : DB_OK;
	}
	if (rc != DB_OK) {
		usage_days_free(d);
		if (rc == DB_UNAVAILABLE || rc == DB_RETRY)
			return result_db(r, rc);
		return result_set(r, RESULT_ERROR, NULL,
		    "usage days of %s: database error %u: %s", user_id,
		    db_errno(db), db_error(db));
	}
	return result_set(r, RESULT_OK, NULL, "ok");
}
