/*
 * accounts: lookups and the race-free "find or create".
 */
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "period.h"
#include "result.h"
#include "sql_rows.h"
#include "timeutil.h"
#include "utf8.h"

#define ACCOUNT_COLUMNS \
	"id, user_id, COALESCE(email, ''), COALESCE(plan_id, ''), " \
	"COALESCE(billing_mode, ''), status, COALESCE(stripe_customer_id, ''), " \
	"timezone, COALESCE(timezone_prev, ''), timezone_from"

/* The columns of ACCOUNT_COLUMNS, by position. */
enum {
	ACCOUNT_COL_ID, ACCOUNT_COL_USER_ID, ACCOUNT_COL_EMAIL,
	ACCOUNT_COL_PLAN_ID, ACCOUNT_COL_BILLING_MODE, ACCOUNT_COL_STATUS,
	ACCOUNT_COL_CUSTOMER, ACCOUNT_COL_TZ, ACCOUNT_COL_TZ_PREV,
	ACCOUNT_COL_TZ_FROM, ACCOUNT_NCOLS
};

enum {
	ACCOUNT_BY_USER, ACCOUNT_BY_ID, ACCOUNT_SET_CUSTOMER, ACCOUNT_INSERT,
	ACCOUNT_SET_PLAN, ACCOUNT_BY_CUSTOMER, ACCOUNT_LOCK, ACCOUNT_SUSPEND,
	ACCOUNT_RESUME, ACCOUNT_NOTIFIED, ACCOUNT_PAYMENT_FAILED,
	ACCOUNT_PAYMENT_CLEAR, ACCOUNT_SET_BILLED_THROUGH, ACCOUNT_CLOSE,
	ACCOUNT_NSTMTS,
	ACCOUNT_ADVANCE_ROWS = ACCOUNT_NSTMTS
};

static const struct db_stmt account_sql[ACCOUNT_NSTMTS] = {
	[ACCOUNT_BY_USER] = { "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts "
	    "WHERE user_id = ?", 1, ACCOUNT_NCOLS },
	[ACCOUNT_BY_ID] = { "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts "
	    "WHERE id = ?", 1, ACCOUNT_NCOLS },
	[ACCOUNT_SET_CUSTOMER] = { "UPDATE billing_accounts SET "
	    "stripe_customer_id = ? WHERE id = ? AND stripe_customer_id IS NULL",
	    2, 0 },
	[ACCOUNT_INSERT] = { "INSERT INTO billing_accounts (user_id, email, "
	    "plan_id) VALUES (?, ?, ?)", 3, 0 },
	[ACCOUNT_SET_PLAN] = { "UPDATE billing_accounts SET plan_id = ? "
	    "WHERE id = ?", 2, 0 },
	[ACCOUNT_BY_CUSTOMER] = { "SELECT id FROM billing_accounts "
	    "WHERE stripe_customer_id = ?", 1, 1 },
	[ACCOUNT_LOCK] = { "SELECT id FROM billing_accounts WHERE id = ? "
	    "FOR UPDATE", 1, 1 },
	[ACCOUNT_SUSPEND] = { "UPDATE billing_accounts SET status = "
	    "'suspended', suspended_at = ?, suspension_reason = ? WHERE id = ? "
	    "AND status <> 'closed'", 3, 0 },
	[ACCOUNT_RESUME] = { "UPDATE billing_accounts SET status = 'active', "
	    "suspended_at = NULL, suspension_reason = NULL WHERE id = ? "
	    "AND status <> 'closed'", 1, 0 },
	[ACCOUNT_NOTIFIED] = { "UPDATE billing_accounts SET platform_status = ? "
	    "WHERE id = ? AND status = ?", 3, 0 },
	[ACCOUNT_PAYMENT_FAILED] = { "UPDATE billing_accounts SET "
	    "payment_failed_at = COALESCE(payment_failed_at, ?) WHERE id = ?",
	    2, 0 },
	[ACCOUNT_PAYMENT_CLEAR] = { "UPDATE billing_accounts SET "
	    "payment_failed_at = NULL WHERE id = ? AND payment_failed_at IS "
	    "NOT NULL", 1, 0 },
	[ACCOUNT_SET_BILLED_THROUGH] = { "UPDATE billing_accounts SET "
	    "billed_through = ? WHERE id = ?", 2, 0 },
	[ACCOUNT_CLOSE] = { "UPDATE billing_accounts SET status = 'closed', "
	    "closed_at = COALESCE(closed_at, ?) WHERE id = ?", 2, 0 },
};

const struct db_stmts account_stmts = DB_STMTS("accounts", account_sql);

/* billed_through of many accounts at once (the invoice run's batch) */
struct sql_rows account_advance_rows = SQL_ROWS_STMT("accounts",
    ACCOUNT_ADVANCE_ROWS, 0,
    "UPDATE billing_accounts SET billed_through = ? WHERE id IN (", "?", ")");

static int
load(struct db *db, unsigned stmt, const struct db_param *p,
    struct account *out)
{
	struct db_result *res = NULL;
	int64_t id;
	int rc, r;

	if ((rc = db_get(db, &account_stmts, stmt, p, 1, &res)) != DB_OK)
		return rc;
	r = db_fetch(res);
	if (r == 1 && db_col_i64(res, ACCOUNT_COL_ID, &id) == 0) {
		memset(out, 0, sizeof(*out));
		out->id = (uint64_t)id;
		db_col_text(res, ACCOUNT_COL_USER_ID, out->user_id,
		    sizeof(out->user_id));
		db_col_text(res, ACCOUNT_COL_EMAIL, out->email,
		    sizeof(out->email));
		db_col_text(res, ACCOUNT_COL_PLAN_ID, out->plan_id,
		    sizeof(out->plan_id));
		db_col_text(res, ACCOUNT_COL_BILLING_MODE, out->billing_mode,
		    sizeof(out->billing_mode));
		db_col_text(res, ACCOUNT_COL_STATUS, out->status,
		    sizeof(out->status));
		db_col_text(res, ACCOUNT_COL_CUSTOMER, out->stripe_customer_id,
		    sizeof(out->stripe_customer_id));
		db_col_text(res, ACCOUNT_COL_TZ, out->zone.zone,
		    sizeof(out->zone.zone));
		db_col_text(res, ACCOUNT_COL_TZ_PREV, out->zone.prev,
		    sizeof(out->zone.prev));
		rc = db_col_time(res, ACCOUNT_COL_TZ_FROM, &out->zone.from) == 0 ?
		    DB_OK : DB_ERROR;
	} else
		rc = r < 0 ? r : DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

int
account_find(struct db *db, const char *user_id, struct account *out)
{
	struct db_param p[] = { DBP_STR(user_id) };

	return load(db, ACCOUNT_BY_USER, p, out);
}

int
account_get(struct db *db, uint64_t id, struct account *out)
{
	struct db_param p[] = { DBP_INT(id) };

	return load(db, ACCOUNT_BY_ID, p, out);
}

int
account_ensure(struct db *db, const char *user_id, const char *email,
    const char *plan_id, struct account *out, int *created)
{
	uint64_t affected = 0;
	int rc;

	if (created != NULL)
		*created = 0;
	rc = account_find(db, user_id, out);
	if (rc != DB_NOT_FOUND)
		return rc;
	struct db_param p[] = { DBP_STR(user_id),
	    email ? DBP_STR(email) : DBP_NULLV,
	    plan_id ? DBP_STR(plan_id) : DBP_NULLV };
	/* a concurrent creator may win the unique key: then read its row */
	rc = db_run(db, &account_stmts, ACCOUNT_INSERT, p, 3, &affected, NULL);
	if (rc != DB_OK && rc != DB_DUPLICATE)
		return rc;
	if (created != NULL)
		*created = rc == DB_OK && affected == 1;
	return account_find(db, user_id, out);
}

int
account_set_stripe_customer(struct db *db, uint64_t id, const char *customer_id)
{
	struct db_param p[] = { DBP_STR(customer_id), DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SET_CUSTOMER, p, 2, NULL,
	    NULL);
}

int
account_set_plan(struct db *db, uint64_t id, const char *plan_id)
{
	struct db_param p[] = { plan_id != NULL ? DBP_STR(plan_id) : DBP_NULLV,
	    DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SET_PLAN, p, 2, NULL, NULL);
}

int
account_find_by_customer(struct db *db, const char *customer,
    struct account *out)
{
	int64_t id;
	int rc;

	if (customer == NULL)
		return DB_NOT_FOUND;
	struct db_param p[] = { DBP_STR(customer) };
	rc = db_get_i64(db, &account_stmts, ACCOUNT_BY_CUSTOMER, p, 1, &id);
	if (rc != DB_OK)
		return rc;
	return account_get(db, (uint64_t)id, out);
}

int
account_lock(struct db *db, struct account *acct)
{
	int64_t id;
	int rc;

	struct db_param p[] = { DBP_INT(acct->id) };
	rc = db_get_i64(db, &account_stmts, ACCOUNT_LOCK, p, 1, &id);
	if (rc != DB_OK)
		return rc;
	return account_get(db, acct->id, acct);
}

const struct plan *
account_plan(const struct billing_config *cfg, const struct account *acct)
{
	const struct plan *p = NULL;

	if (acct != NULL && acct->plan_id[0] != '\0')
		p = config_find_plan(cfg, acct->plan_id);
	if (p == NULL && cfg->default_plan != NULL)
		p = config_find_plan(cfg, cfg->default_plan);
	return p;
}

enum billing_mode
account_mode(const struct billing_config *cfg, const struct account *acct)
{
	if (acct != NULL) {
		if (strcmp(acct->billing_mode, "usage") == 0)
			return MODE_USAGE;
		if (strcmp(acct->billing_mode, "subscription") == 0)
			return MODE_SUBSCRIPTION;
		if (strcmp(acct->billing_mode, "hybrid") == 0)
			return MODE_HYBRID;
	}
	return cfg->billing_mode;
}

int
account_user_id_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) < 1 || n > ACCOUNT_USER_ID_MAX)
		return 0;
	/* ids are compared byte for byte: blanks around one are a mistake */
	if (s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return utf8_valid(s - n);
}

/* --- the admin listing ------------------------------------------------- */

/*
 * A page of accounts in id order, each with four scalar subqueries (the
 * current period's cost from the daily totals, the outstanding invoices,
 * the credits balance, the open sessions), each an index lookup on the
 * account id.  The figures follow GET usage's rules: the period is the
 * billing period containing now; a credit counts while it has not expired.
 */
enum { ACCOUNT_LIST_PAGE, ACCOUNT_SUMMARY_USAGE, ACCOUNT_SUMMARY_OWED,
	ACCOUNT_SUMMARY_STATUSES, ACCOUNT_LIST_NSTMTS };
static const struct db_stmt account_list_sql[ACCOUNT_LIST_NSTMTS] = {
	[ACCOUNT_LIST_PAGE] = {
	    "SELECT a.id, a.user_id, COALESCE(a.email, ''), "
	    "COALESCE(a.plan_id, ''), COALESCE(a.billing_mode, ''), a.status, "
	    "a.created_at, "
	    "(SELECT COALESCE(SUM(d.total_cost), 0) FROM billing_usage_daily d "
	    "  WHERE d.account_id = a.id AND d.day >= ? AND d.day < ?), "
	    "(SELECT COALESCE(SUM(i.total), 0) FROM billing_invoices i "
	    "  WHERE i.account_id = a.id AND i.status IN ('sent', 'overdue')), "
	    "(SELECT COALESCE(SUM(c.remaining), 0) FROM billing_credits c "
	    "  WHERE c.account_id = a.id AND (c.expires_at IS NULL OR "
	    "c.expires_at > ?)), "
	    "(SELECT COUNT(*) FROM billing_sessions s "
	    "  WHERE s.account_id = a.id AND s.ended_at IS NULL "
	    "  AND s.kind = 'session') "
	    "FROM billing_accounts a "
	    "WHERE a.id > ? AND (? = '' OR a.status = ?) "
	    "AND (? = '' OR a.user_id LIKE ? OR a.email LIKE ?) "
	    "AND (? IS NULL OR a.created_at < ?) "
	    "ORDER BY a.id LIMIT ?", 12, 11 },
	/* GET admin/summary: the usage of whole days, every account: a row
	 * per day, each the sum of that day's billing_usage_daily rows (the
	 * usage job keeps them so, sql/013_usage_day_totals.sql) */
	[ACCOUNT_SUMMARY_USAGE] = {
	    "SELECT COALESCE(SUM(total_cost), 0) FROM billing_usage_day_totals "
	    "WHERE day >= ? AND day < ?", 2, 1 },
	/* what is owed, by status: sent and overdue */
	[ACCOUNT_SUMMARY_OWED] = {
	    "SELECT status, COUNT(*), COALESCE(SUM(total), 0) "
	    "FROM billing_invoices WHERE status IN ('sent', 'overdue') "
	    "GROUP BY status", 0, 3 },
	[ACCOUNT_SUMMARY_STATUSES] = {
	    "SELECT status, COUNT(*) FROM billing_accounts GROUP BY status",
	    0, 2 },
};
const struct db_stmts account_list_stmts = DB_STMTS("account_list",
    account_list_sql);

/* ACCOUNT_LIST_PAGE's columns */
enum { LIST_ID, LIST_USER, LIST_EMAIL, LIST_PLAN, LIST_MODE, LIST_STATUS,
    LIST_CREATED, LIST_COST, LIST_OUTSTANDING, LIST_CREDITS, LIST_SESSIONS };

/* One row of the page into *out: 0, or -1 when it cannot be read. */
static int
list_row(const struct db_result *res, struct account_row *out)
{
	int64_t id;

	memset(out, 0, sizeof(*out));
	if (db_col_i64(res, LIST_ID, &id) != 0 ||
	    db_col(res, LIST_CREATED, NULL) == NULL ||
	    db_col_time(res, LIST_CREATED, &out->created_at) != 0 ||
	    db_col_decimal(res, LIST_COST, &out->period_cost) != 0 ||
	    db_col_decimal(res, LIST_OUTSTANDING, &out->outstanding) != 0 ||
	    db_col_decimal(res, LIST_CREDITS, &out->credits) != 0 ||
	    db_col_i64(res, LIST_SESSIONS, &out->sessions) != 0)
		return -1;
	out->account.id = (uint64_t)id;
	db_col_text(res, LIST_USER, out->account.user_id,
	    sizeof(out->account.user_id));
	db_col_text(res, LIST_EMAIL, out->account.email,
	    sizeof(out->account.email));
	db_col_text(res, LIST_PLAN, out->account.plan_id,
	    sizeof(out->account.plan_id));
	db_col_text(res, LIST_MODE, out->account.billing_mode,
	    sizeof(out->account.billing_mode));
	db_col_text(res, LIST_STATUS, out->account.status,
	    sizeof(out->account.status));
	return 0;
}

enum result_code
account_list(struct db *db, const struct billing_config *cfg,
    struct account_page *pg, account_row_fn fn, void *arg, struct result *r)
{
	char dfrom[TIME_TEXT_MAX], dto[TIME_TEXT_MAX], tnow[TIME_TEXT_MAX];
	struct db_result *res = NULL;
	struct account_row row;
	int64_t n = 0;
	int rc, f;

	char qpat[ACCOUNT_Q_MAX * 2 + 2], before[TIME_TEXT_MAX];
	size_t i, k = 0;

	pg->more = 0;
	pg->last_id = 0;
	if (pg->period_to <= pg->period_from)
		period_containing(cfg->invoice_day, pg->now, &pg->period_from,
		    &pg->period_to);
	/* a prefix: LIKE's own characters in it match themselves */
	for (i = 0; pg->q[i] != '\0' && k + 3 < sizeof(qpat); i++) {
		if (pg->q[i] == '%' || pg->q[i] == '_' || pg->q[i] == '\\')
			qpat[k++] = '\\';
		qpat[k++] = pg->q[i];
	}
	qpat[k++] = '%';
	qpat[k] = '\0';
	time_format_db(pg->period_to, before, sizeof(before));
	/* periods start at 00:00 UTC: whole days of the daily totals */
	time_format_db(pg->period_from, dfrom, sizeof(dfrom));
	dfrom[10] = '\0';
	time_format_db(pg->period_to, dto, sizeof(dto));
	dto[10] = '\0';
	time_format_db(pg->now, tnow, sizeof(tnow));
	struct db_param p[] = { DBP_STR(dfrom), DBP_STR(dto), DBP_STR(tnow),
	    DBP_INT(pg->after_id), DBP_STR(pg->status), DBP_STR(pg->status),
	    DBP_STR(pg->q), DBP_STR(qpat), DBP_STR(qpat),
	    pg->existed ? DBP_STR(before) : DBP_NULLV, DBP_STR(before),
	    DBP_INT(pg->limit + 1) };

	/* one row more than asked tells whether another page follows */
	if ((rc = db_get(db, &account_list_stmts, ACCOUNT_LIST_PAGE, p,
	    sizeof(p) / sizeof(p[0]), &res)) != DB_OK)
		goto out;
	while ((f = db_fetch(res)) == 1) {
		if (n == pg->limit) {
			pg->more = 1;
			break;
		}
		if (list_row(res, &row) != 0) {
			rc = DB_ERROR;
			goto out;
		}
		pg->last_id = (int64_t)row.account.id;
		fn(&row, arg);
		n++;
	}
	if (f < 0)
		rc = f;
out:
	db_result_free(res);
	if (rc == DB_OK)
		return result_set(r, RESULT_OK, NULL, "ok");
	if (rc == DB_UNAVAILABLE || rc == DB_RETRY)
		return result_db(r, rc);
	return result_set(r, RESULT_ERROR, NULL,
	    "account list: database error %u: %s", db_errno(db), db_error(db));
}

enum result_code
account_summary(struct db *db, struct account_summary *out, struct result *r)
{
	char dfrom[TIME_TEXT_MAX], dto[TIME_TEXT_MAX], st[16];
	struct db_result *res = NULL;
	int64_t n, sum;
	int rc, f = 0;

	out->usage_cost = out->owed_count = out->owed = 0;
	out->overdue_count = out->overdue = 0;
	out->active = out->suspended = out->closed = 0;
	time_format_db(out->from, dfrom, sizeof(dfrom));
	dfrom[10] = '\0';
	time_format_db(out->to, dto, sizeof(dto));
	dto[10] = '\0';
	struct db_param p[] = { DBP_STR(dfrom), DBP_STR(dto) };
	if ((rc = db_get(db, &account_list_stmts, ACCOUNT_SUMMARY_USAGE, p, 2,
	    &res)) != DB_OK)
		return result_db(r, rc);
	if ((f = db_fetch(res)) == 1 &&
	    db_col_decimal(res, 0, &out->usage_cost) != 0)
		f = DB_ERROR;
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	if ((rc = db_get(db, &account_list_stmts, ACCOUNT_SUMMARY_OWED, NULL, 0,
	    &res)) != DB_OK)
		return result_db(r, rc);
	while ((f = db_fetch(res)) == 1) {
		db_col_text(res, 0, st, sizeof(st));
		if (db_col_i64(res, 1, &n) != 0 ||
		    db_col_decimal(res, 2, &sum) != 0) {
			f = DB_ERROR;
			break;
		}
		out->owed_count += n;
		out->owed += sum;
		if (strcmp(st, "overdue") == 0) {
			out->overdue_count = n;
			out->overdue = sum;
		}
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	if ((rc = db_get(db, &account_list_stmts, ACCOUNT_SUMMARY_STATUSES,
	    NULL, 0, &res)) != DB_OK)
		return result_db(r, rc);
	while ((f = db_fetch(res)) == 1) {
		db_col_text(res, 0, st, sizeof(st));
		if (db_col_i64(res, 1, &n) != 0) {
			f = DB_ERROR;
			break;
		}
		if (strcmp(st, "active") == 0)
			out->active = n;
		else if (strcmp(st, "suspended") == 0)
			out->suspended = n;
		else if (strcmp(st, "closed") == 0)
			out->closed = n;
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* --- contact details given by the platform ------------------------------ */

enum { ACCOUNT_CONTACT_LOCK, ACCOUNT_CONTACT_FILL, ACCOUNT_CONTACT_NSTMTS };
static const struct db_stmt account_contact_sql[ACCOUNT_CONTACT_NSTMTS] = {
	[ACCOUNT_CONTACT_LOCK] = {
	    "SELECT email, plan_id FROM billing_accounts WHERE id = ? "
	    "FOR UPDATE", 1, 2 },
	[ACCOUNT_CONTACT_FILL] = {
	    "UPDATE billing_accounts SET email = COALESCE(email, ?), "
	    "plan_id = COALESCE(plan_id, ?) WHERE id = ?", 3, 0 },
};
const struct db_stmts account_contact_stmts = DB_STMTS("account_contact",
    account_contact_sql);

/* ACCOUNT_CONTACT_LOCK's columns */
enum { CONTACT_EMAIL, CONTACT_PLAN };

int
account_fill_contact(struct db *db, uint64_t id, const char *email,
    const char *plan_id, enum account_fill *out)
{
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_INT(id) };
	const char *have_email, *have_plan;
	int fill = 0, rc, r;

	*out = ACCOUNT_FILL_UNCHANGED;
	if ((rc = db_get(db, &account_contact_stmts, ACCOUNT_CONTACT_LOCK, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) != 1) {
		db_result_free(res);
		return r < 0 ? r : DB_ERROR;
	}
	have_email = db_col(res, CONTACT_EMAIL, NULL);
	have_plan = db_col(res, CONTACT_PLAN, NULL);
	if (email != NULL) {
		if (have_email == NULL)
			fill = 1;
		else if (strcmp(have_email, email) != 0)
			*out = ACCOUNT_FILL_CONFLICT_EMAIL;
	}
	if (plan_id != NULL && *out == ACCOUNT_FILL_UNCHANGED) {
		if (have_plan == NULL)
			fill = 1;
		else if (strcmp(have_plan, plan_id) != 0)
			*out = ACCOUNT_FILL_CONFLICT_PLAN;
	}
	db_result_free(res);
	if (*out != ACCOUNT_FILL_UNCHANGED || !fill)
		return DB_OK;
	/* the account was made without them (e.g. by a session): fill in */
	struct db_param f[] = { email ? DBP_STR(email) : DBP_NULLV,
	    plan_id ? DBP_STR(plan_id) : DBP_NULLV, DBP_INT(id) };
	if ((rc = db_run(db, &account_contact_stmts, ACCOUNT_CONTACT_FILL, f, 3,
	    NULL, NULL)) != DB_OK)
		return rc;
	*out = ACCOUNT_FILL_FILLED;
	return DB_OK;
}

/* --- status, grace period and billed_through (quotas, webhooks, invoices) */

int
account_suspend(struct db *db, uint64_t id, const char *when,
    const char *reason)
{
	struct db_param p[] = { DBP_STR(when), DBP_STR(reason), DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SUSPEND, p, 3, NULL, NULL);
}

int
account_resume(struct db *db, uint64_t id)
{
	struct db_param p[] = { DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_RESUME, p, 1, NULL, NULL);
}

int
account_close(struct db *db, uint64_t id, const char *when)
{
	struct db_param p[] = { DBP_STR(when), DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_CLOSE, p, 2, NULL, NULL);
}

int
account_mark_notified(struct db *db, uint64_t id, const char *status)
{
	struct db_param p[] = { DBP_STR(status), DBP_INT(id), DBP_STR(status) };

	return db_run(db, &account_stmts, ACCOUNT_NOTIFIED, p, 3, NULL, NULL);
}

int
account_set_payment_failed(struct db *db, uint64_t id, const char *since)
{
	struct db_param p[] = { DBP_STR(since), DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_PAYMENT_FAILED, p, 2, NULL,
	    NULL);
}

int
account_clear_payment_failed(struct db *db, uint64_t id)
{
	struct db_param p[] = { DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_PAYMENT_CLEAR, p, 1, NULL,
	    NULL);
}

int
account_set_billed_through(struct db *db, uint64_t id, const char *through)
{
	struct db_param p[] = { through ? DBP_STR(through) : DBP_NULLV,
	    DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SET_BILLED_THROUGH, p, 2,
	    NULL, NULL);
}

int
account_advance_billed_through(struct db *db, const uint64_t *ids, size_t n,
    const char *through)
{
	static struct db_param p[SQL_ROWS_MAX + 1];
	size_t k, i;
	int rc = DB_OK;

	while (n > 0 && rc == DB_OK) {
		/* one statement per chunk, the last id repeated to fill it */
		k = sql_rows_chunk_up(n < SQL_ROWS_MAX ? n : SQL_ROWS_MAX);
		p[0] = DBP_STR(through);
		for (i = 0; i < k; i++)
			p[1 + i] = DBP_INT(ids[i < n ? i : n - 1]);
		rc = db_run_rows(db, &account_advance_rows, k, p, k + 1, NULL,
		    NULL);
		ids += k < n ? k : n;
		n -= k < n ? k : n;
	}
	return rc;
}

/* --- time zone (PATCH admin/users/{user_id}) ---------------------------- */

enum { ACCOUNT_TZ_LOCK, ACCOUNT_TZ_SET, ACCOUNT_TZ_NSTMTS };
static const struct db_stmt account_tz_sql[ACCOUNT_TZ_NSTMTS] = {
	[ACCOUNT_TZ_LOCK] = { "SELECT id, timezone, COALESCE(timezone_prev, ''), "
	    "timezone_from, billed_through FROM billing_accounts "
	    "WHERE user_id = ? FOR UPDATE", 1, 5 },
	[ACCOUNT_TZ_SET] = { "UPDATE billing_accounts SET timezone = ?, "
	    "timezone_prev = ?, timezone_from = ? WHERE id = ?", 4, 0 },
};
const struct db_stmts account_tz_stmts = DB_STMTS("account_tz",
    account_tz_sql);

/* ACCOUNT_TZ_LOCK's columns */
enum { TZ_COL_ID, TZ_COL_ZONE, TZ_COL_PREV, TZ_COL_FROM, TZ_COL_BILLED };

int
account_timezone_txn(struct db *db, struct account_tz_change *c)
{
	struct db_result *res = NULL;
	struct period_zone z;
	int64_t id = 0, billed = 0, start, end;
	char from[TIME_TEXT_MAX];
	int rc, f;

	c->code = RESULT_OK;
	memset(&z, 0, sizeof(z));
	struct db_param p[] = { DBP_STR(c->user_id) };
	if ((rc = db_get(db, &account_tz_stmts, ACCOUNT_TZ_LOCK, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((f = db_fetch(res)) == 1) {
		db_col_text(res, TZ_COL_ZONE, z.zone, sizeof(z.zone));
		db_col_text(res, TZ_COL_PREV, z.prev, sizeof(z.prev));
		if (db_col_i64(res, TZ_COL_ID, &id) != 0 ||
		    db_col_time(res, TZ_COL_FROM, &z.from) != 0 ||
		    db_col_time(res, TZ_COL_BILLED, &billed) != 0)
			f = DB_ERROR;
	}
	db_result_free(res);
	if (f < 0)
		return f;
	if (f == 0) {
		c->code = result_set(c->r, RESULT_NOT_FOUND, NULL,
		    "no such user");
		return DB_OK;
	}
	snprintf(c->old_zone, sizeof(c->old_zone), "%s",
	    z.zone[0] != '\0' ? z.zone : TZ_UTC);
	if (strcmp(z.zone, c->zone) == 0)
		return DB_OK;   /* already so (or already pending) */
	c->changed = 1;
	if (z.from != 0 && z.prev[0] != '\0' && c->now < z.from) {
		/* a change not yet in effect: replaced, or undone */
		if (strcmp(z.prev, c->zone) == 0) {
			struct db_param u[] = { DBP_STR(c->zone), DBP_NULLV,
			    DBP_NULLV, DBP_INT(id) };
			return db_run(db, &account_tz_stmts, ACCOUNT_TZ_SET, u,
			    4, NULL, NULL);
		}
		time_format_db(z.from, from, sizeof(from));
		struct db_param u[] = { DBP_STR(c->zone), DBP_STR(z.prev),
		    DBP_STR(from), DBP_INT(id) };
		return db_run(db, &account_tz_stmts, ACCOUNT_TZ_SET, u, 4, NULL,
		    NULL);
	}
	if (z.from != 0 && z.prev[0] != '\0' && billed <= z.from) {
		/* in effect, but the periods up to its first one in the new
		 * zone are not invoiced yet: one change at a time */
		char when[TIME_TEXT_MAX];

		period_account(&z, c->cfg->invoice_day, z.from, &start, &end);
		time_format_rfc3339(end, when, sizeof(when));
		c->changed = 0;
		c->code = result_set(c->r, RESULT_CONFLICT, "timezone",
		    "the change to %s is not invoiced yet: the zone can "
		    "change again once the period ending %s is invoiced",
		    z.zone, when);
		return DB_OK;
	}
	/* from the account's next period on */
	period_account(&z, c->cfg->invoice_day, c->now, &start, &end);
	time_format_db(end, from, sizeof(from));
	struct db_param u[] = { DBP_STR(c->zone), DBP_STR(z.zone),
	    DBP_STR(from), DBP_INT(id) };
	return db_run(db, &account_tz_stmts, ACCOUNT_TZ_SET, u, 4, NULL, NULL);
}

static int
timezone_txn(struct db *db, void *arg)
{
	return account_timezone_txn(db, arg);
}

enum result_code
account_set_timezone(struct db *db, const struct billing_config *cfg,
    const char *user_id, const char *zone, int64_t now, struct account *out,
    struct result *r)
{
	struct account_tz_change c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.user_id = user_id;
	c.zone = zone;
	c.now = now;
	c.r = r;

	if (!tz_valid(zone))
		return result_set(r, RESULT_INVALID, "timezone",
		    "timezone must be an IANA time zone name (e.g. "
		    "Europe/Paris)");
	if ((rc = db_transaction(db, timezone_txn, &c)) != DB_OK)
		return result_db(r, rc);
	if (c.code != RESULT_OK)
		return c.code;
	if ((rc = account_find(db, user_id, out)) != DB_OK)
		return result_db(r, rc);
	return RESULT_OK;
}

/* --- billing details ---------------------------------------------------- */

#define BILLING_COLUMNS "COALESCE(billing_name, ''), " \
	"COALESCE(billing_address, ''), COALESCE(country, ''), " \
	"COALESCE(tax_id, ''), COALESCE(tax_rate_id, ''), tax_exempt, " \
	"COALESCE(billing_mode, ''), timezone, COALESCE(timezone_prev, ''), " \
	"timezone_from, email_opt_out"
enum { BILL_NAME, BILL_ADDRESS, BILL_COUNTRY, BILL_TAX_ID, BILL_RATE,
	BILL_EXEMPT, BILL_MODE, BILL_TZ, BILL_TZ_PREV, BILL_TZ_FROM,
	BILL_OPT_OUT, BILL_NCOLS };
enum { ACCOUNT_BILLING_GET, ACCOUNT_BILLING_LOCK, ACCOUNT_BILLING_SET,
	ACCOUNT_BILLING_NSTMTS };
static const struct db_stmt account_billing_sql[ACCOUNT_BILLING_NSTMTS] = {
	[ACCOUNT_BILLING_GET] = { "SELECT " BILLING_COLUMNS " FROM "
	    "billing_accounts WHERE id = ?", 1, BILL_NCOLS },
	[ACCOUNT_BILLING_LOCK] = { "SELECT " BILLING_COLUMNS " FROM "
	    "billing_accounts WHERE id = ? FOR UPDATE", 1, BILL_NCOLS },
	[ACCOUNT_BILLING_SET] = { "UPDATE billing_accounts SET "
	    "billing_name = ?, billing_address = ?, country = ?, tax_id = ?, "
	    "tax_rate_id = ?, tax_exempt = ?, billing_mode = ?, "
	    "email_opt_out = ? WHERE id = ?", 9, 0 },
};
const struct db_stmts account_billing_stmts = DB_STMTS("account_billing",
    account_billing_sql);

/* The address column holds the lines joined by "\n". */
static void
split_address(const char *text, struct account_billing *b)
{
	const char *nl;
	size_t len;

	b->naddress = 0;
	while (*text != '\0' && b->naddress < ACCOUNT_ADDRESS_LINES) {
		nl = strchr(text, '\n');
		len = nl != NULL ? (size_t)(nl - text) : strlen(text);
		if (len > ACCOUNT_TEXT_MAX)
			len = ACCOUNT_TEXT_MAX;
		memcpy(b->address[b->naddress], text, len);
		b->address[b->naddress++][len] = '\0';
		if (nl == NULL)
			break;
		text = nl + 1;
	}
}

int
account_billing_get(struct db *db, uint64_t id, int lock,
    struct account_billing *out)
{
	struct db_result *res = NULL;
	char address[ACCOUNT_ADDRESS_LINES * (ACCOUNT_TEXT_MAX + 1) + 1];
	int64_t exempt = 0, opt_out = 0;
	int rc, f;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &account_billing_stmts, lock ?
	    ACCOUNT_BILLING_LOCK : ACCOUNT_BILLING_GET, p, 1, &res)) != DB_OK)
		return rc;
	if ((f = db_fetch(res)) == 1) {
		memset(out, 0, sizeof(*out));
		db_col_text(res, BILL_NAME, out->name, sizeof(out->name));
		db_col_text(res, BILL_ADDRESS, address, sizeof(address));
		split_address(address, out);
		db_col_text(res, BILL_COUNTRY, out->country,
		    sizeof(out->country));
		db_col_text(res, BILL_TAX_ID, out->tax_id, sizeof(out->tax_id));
		db_col_text(res, BILL_RATE, out->tax_rate_id,
		    sizeof(out->tax_rate_id));
		(void)db_col_i64(res, BILL_EXEMPT, &exempt);
		out->tax_exempt = exempt != 0;
		db_col_text(res, BILL_MODE, out->billing_mode,
		    sizeof(out->billing_mode));
		(void)db_col_i64(res, BILL_OPT_OUT, &opt_out);
		out->email_opt_out = opt_out != 0;
		db_col_text(res, BILL_TZ, out->zone.zone,
		    sizeof(out->zone.zone));
		db_col_text(res, BILL_TZ_PREV, out->zone.prev,
		    sizeof(out->zone.prev));
		rc = db_col_time(res, BILL_TZ_FROM, &out->zone.from) == 0 ?
		    DB_OK : DB_ERROR;
	} else
		rc = f < 0 ? f : DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

static struct db_param
text_or_null(const char *s)
{
	return s[0] != '\0' ? DBP_STR(s) : DBP_NULLV;
}

int
account_billing_store(struct db *db, uint64_t id,
    const struct account_billing *b)
{
	char address[ACCOUNT_ADDRESS_LINES * (ACCOUNT_TEXT_MAX + 1) + 1];
	size_t i, n = 0;

	address[0] = '\0';
	for (i = 0; i < b->naddress && i < ACCOUNT_ADDRESS_LINES; i++)
		n += (size_t)snprintf(address + n, sizeof(address) - n, "%s%s",
		    i > 0 ? "\n" : "", b->address[i]);
	struct db_param p[] = { text_or_null(b->name), text_or_null(address),
	    text_or_null(b->country), text_or_null(b->tax_id),
	    text_or_null(b->tax_rate_id), DBP_INT(b->tax_exempt ? 1 : 0),
	    text_or_null(b->billing_mode), DBP_INT(b->email_opt_out ? 1 : 0),
	    DBP_INT(id) };
	return db_run(db, &account_billing_stmts, ACCOUNT_BILLING_SET, p, 9,
	    NULL, NULL);
}
