/*
 * credits: see credits.h.  The one writer of billing_credits and
 * billing_credit_applications.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "credits.h"
#include "db.h"
#include "grow.h"
#include "log.h"
#include "money.h"
#include "sql_rows.h"
#include "timeutil.h"

#define CREDIT_COLUMNS \
	"c.id, a.user_id, c.amount, c.remaining, c.currency, c.reason, " \
	"c.expires_at, c.created_at, c.created_by"

enum {
	CREDITS_INSERT,
	CREDITS_BY_ID,
	CREDITS_BY_KEY,
	CREDITS_AVAILABLE,
	CREDITS_AVAILABLE_RANGE,
	CREDITS_APPLY,
	CREDITS_DEDUCT,
	CREDITS_RESTORE,
	CREDITS_LIST,
	CREDITS_NSTMTS
};

/* the columns of CREDITS_BY_ID, CREDITS_BY_KEY and CREDITS_LIST */
enum {
	CREDIT_COL_ID, CREDIT_COL_USER_ID, CREDIT_COL_AMOUNT,
	CREDIT_COL_REMAINING, CREDIT_COL_CURRENCY, CREDIT_COL_REASON,
	CREDIT_COL_EXPIRES_AT, CREDIT_COL_CREATED_AT, CREDIT_COL_CREATED_BY,
	CREDIT_NCOLS
};

/* the columns of CREDITS_AVAILABLE */
enum { ONE_COL_ID, ONE_COL_REMAINING, ONE_NCOLS };
/* the columns of CREDITS_AVAILABLE_RANGE */
enum { AVAIL_COL_ACCOUNT, AVAIL_COL_ID, AVAIL_COL_REMAINING, AVAIL_NCOLS };

static const struct db_stmt credits_sql[CREDITS_NSTMTS] = {
	[CREDITS_INSERT] = { "INSERT INTO billing_credits (account_id, amount, "
	    "remaining, currency, reason, expires_at, created_by, "
	    "idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    9, 0 },
	[CREDITS_BY_ID] = { "SELECT " CREDIT_COLUMNS " FROM billing_credits c "
	    "JOIN billing_accounts a ON a.id = c.account_id WHERE c.id = ?",
	    1, CREDIT_NCOLS },
	[CREDITS_BY_KEY] = { "SELECT " CREDIT_COLUMNS " FROM billing_credits c "
	    "JOIN billing_accounts a ON a.id = c.account_id "
	    "WHERE c.idempotency_key = ?", 1, CREDIT_NCOLS },
	[CREDITS_AVAILABLE] = { "SELECT id, remaining FROM billing_credits "
	    "WHERE account_id = ? AND remaining > 0 "
	    "AND (expires_at IS NULL OR expires_at > ?) "
	    "ORDER BY expires_at IS NULL, expires_at, id FOR UPDATE", 2,
	    ONE_NCOLS },
	[CREDITS_AVAILABLE_RANGE] = { "SELECT account_id, id, remaining "
	    "FROM billing_credits WHERE account_id BETWEEN ? AND ? "
	    "AND remaining > 0 AND (expires_at IS NULL OR expires_at > ?) "
	    "ORDER BY account_id, expires_at IS NULL, expires_at, id "
	    "FOR UPDATE", 3, AVAIL_NCOLS },
	[CREDITS_APPLY] = { "INSERT INTO billing_credit_applications "
	    "(credit_id, invoice_id, amount, created_at) VALUES (?, ?, ?, ?)",
	    4, 0 },
	[CREDITS_DEDUCT] = { "UPDATE billing_credits SET remaining = remaining "
	    "- CAST(? AS DECIMAL(18,2)) WHERE id = ?", 2, 0 },
	[CREDITS_RESTORE] = { "UPDATE billing_credits c "
	    "JOIN billing_credit_applications ca ON ca.credit_id = c.id "
	    "SET c.remaining = c.remaining + ca.amount WHERE ca.invoice_id = ?",
	    1, 0 },
	/* a page of a user's credits, newest first, below a cursor id */
	[CREDITS_LIST] = { "SELECT " CREDIT_COLUMNS " FROM billing_credits c "
	    "JOIN billing_accounts a ON a.id = c.account_id "
	    "WHERE a.user_id = ? AND c.id < ? ORDER BY c.id DESC LIMIT ?", 3,
	    CREDIT_NCOLS },
};
const struct db_stmts credits_stmts = DB_STMTS("credits", credits_sql);

struct sql_rows credits_rows_applications = SQL_ROWS_STMT("credits.rows", 0,
    0, "INSERT INTO billing_credit_applications (credit_id, invoice_id, "
    "amount, created_at) VALUES ", "(?,?,?,?)", "");

/* The current row (CREDIT_COLUMNS) into *out: 0, or -1 when a column is
 * not what it should hold. */
static int
credit_row(struct db_result *res, struct credit *out)
{
	memset(out, 0, sizeof(*out));
	db_col_text(res, CREDIT_COL_USER_ID, out->user_id, sizeof(out->user_id));
	db_col_text(res, CREDIT_COL_CURRENCY, out->currency,
	    sizeof(out->currency));
	db_col_text(res, CREDIT_COL_REASON, out->reason, sizeof(out->reason));
	db_col_text(res, CREDIT_COL_CREATED_BY, out->created_by,
	    sizeof(out->created_by));
	if (db_col_i64(res, CREDIT_COL_ID, &out->id) != 0 ||
	    db_col_decimal(res, CREDIT_COL_AMOUNT, &out->amount) != 0 ||
	    db_col_decimal(res, CREDIT_COL_REMAINING, &out->remaining) != 0 ||
	    db_col_time(res, CREDIT_COL_EXPIRES_AT, &out->expires_at) != 0 ||
	    db_col_time(res, CREDIT_COL_CREATED_AT, &out->created_at) != 0)
		return -1;
	return 0;
}

/* Loads one credit by statement id with param p.  DB_OK, DB_NOT_FOUND or
 * an error. */
static int
credit_load(struct db *db, unsigned id, struct db_param p, struct credit *out)
{
	struct db_result *res = NULL;
	int rc, r;

	if ((rc = db_get(db, &credits_stmts, id, &p, 1, &res)) != DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	r = db_fetch(res);
	if (r == 1) {
		if (credit_row(res, out) != 0)
			rc = DB_ERROR;
	} else
		rc = r < 0 ? r : DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

enum result_code
credits_list(struct db *db, struct credits_page *pg, credits_row_fn fn,
    void *arg, struct result *r)
{
	struct db_result *res = NULL;
	struct credit c;
	int64_t n = 0;
	int rc, f;

	pg->more = 0;
	pg->last_id = 0;
	struct db_param p[] = { DBP_STR(pg->user_id),
	    DBP_INT(pg->before > 0 ? pg->before : INT64_MAX),
	    DBP_INT(pg->limit + 1) };
	if ((rc = db_get(db, &credits_stmts, CREDITS_LIST, p, 3, &res)) !=
	    DB_OK)
		return result_db(r, rc);
	/* one row more than a page says there is a next one */
	while ((f = db_fetch(res)) == 1) {
		if (n == pg->limit) {
			pg->more = 1;
			break;
		}
		if (credit_row(res, &c) != 0) {
			f = DB_ERROR;
			break;
		}
		pg->last_id = c.id;
		fn(&c, arg);
		n++;
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* A stored credit found by the grant's key: the same grant again, or a
 * conflict. */
static enum result_code
replay(const struct credit_grant *g, const struct credit *c, int *replayed,
    struct result *r)
{
	if (strcmp(c->user_id, g->user_id) != 0 || c->amount != g->amount ||
	    strcmp(c->reason, g->reason) != 0)
		return result_set(r, RESULT_CONFLICT, "idempotency_key",
		    "the idempotency_key was used for another credit");
	*replayed = 1;
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* Inserts the credit; *id is the new row's.  DB_OK, DB_DUPLICATE or an
 * error. */
static int
credit_insert(struct db *db, const struct credit_grant *g, int64_t *id)
{
	char amount[32], expires[TIME_TEXT_MAX], created[TIME_TEXT_MAX];
	struct account acct;
	uint64_t insert_id = 0;
	int rc;

	if ((rc = account_ensure(db, g->user_id, NULL, NULL, &acct, NULL)) !=
	    DB_OK)
		return rc == DB_NOT_FOUND ? DB_ERROR : rc;
	money_format(g->amount, 2, amount, sizeof(amount));
	time_format_db(g->now, created, sizeof(created));
	if (g->expires_at != 0)
		time_format_db(g->expires_at, expires, sizeof(expires));
	struct db_param p[] = { DBP_INT(acct.id), DBP_STR(amount),
	    DBP_STR(amount), DBP_STR(g->currency), DBP_STR(g->reason),
	    g->expires_at != 0 ? DBP_STR(expires) : DBP_NULLV,
	    DBP_STR(g->created_by),
	    g->key != NULL ? DBP_STR(g->key) : DBP_NULLV, DBP_STR(created) };
	rc = db_run(db, &credits_stmts, CREDITS_INSERT, p,
	    sizeof(p) / sizeof(p[0]), NULL, &insert_id);
	*id = (int64_t)insert_id;
	return rc;
}

enum result_code
credits_grant(struct db *db, const struct credit_grant *g, struct credit *out,
    int *replayed, struct result *r)
{
	int64_t id = 0;
	int rc;

	*replayed = 0;
	/* a repeated key is answered without touching anything */
	if (g->key != NULL) {
		rc = credit_load(db, CREDITS_BY_KEY, DBP_STR(g->key), out);
		if (rc == DB_OK)
			return replay(g, out, replayed, r);
		if (rc != DB_NOT_FOUND)
			return result_db(r, rc);
	}
	rc = credit_insert(db, g, &id);
	if (rc == DB_DUPLICATE && g->key != NULL) {
		/* a concurrent request with the same key won: answer as it */
		rc = credit_load(db, CREDITS_BY_KEY, DBP_STR(g->key), out);
		if (rc == DB_OK)
			return replay(g, out, replayed, r);
		return result_db(r, rc == DB_NOT_FOUND ? DB_ERROR : rc);
	}
	if (rc == DB_OK)
		rc = credit_load(db, CREDITS_BY_ID, DBP_INT(id), out);
	if (rc != DB_OK)
		return result_db(r, rc == DB_NOT_FOUND ? DB_ERROR : rc);
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* Records one application and deducts it from its credit. */
static int
apply_one(struct db *db, uint64_t credit_id, uint64_t invoice_id,
    int64_t amount, const char *now)
{
	char amt[32];
	int rc;

	money_format(amount, 2, amt, sizeof(amt));
	struct db_param ap[] = { DBP_INT(credit_id), DBP_INT(invoice_id),
	    DBP_STR(amt), DBP_STR(now) };
	if ((rc = db_run(db, &credits_stmts, CREDITS_APPLY, ap, 4, NULL,
	    NULL)) != DB_OK)
		return rc;
	struct db_param dp[] = { DBP_STR(amt), DBP_INT(credit_id) };
	return db_run(db, &credits_stmts, CREDITS_DEDUCT, dp, 2, NULL, NULL);
}

/* Reads the available credits first (the statement's rows before the
 * writes), then applies them. */
int
credits_apply(struct db *db, uint64_t account_id, uint64_t invoice_id,
    int64_t left, const char *now, int64_t *applied)
{
	struct db_result *res = NULL;
	struct avail { int64_t id, remaining; } *c = NULL, *nc;
	size_t n = 0, cap = 0, i;
	int rc, r;

	*applied = 0;
	if (left <= 0)
		return DB_OK;
	struct db_param p[] = { DBP_INT(account_id), DBP_STR(now) };
	if ((rc = db_get(db, &credits_stmts, CREDITS_AVAILABLE, p, 2,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (n == cap) {
			if ((nc = grow_array(c, &cap, sizeof(*c))) == NULL) {
				log_warnx("invoices: invoice %llu: out of "
				    "memory for its credits",
				    (unsigned long long)invoice_id);
				r = DB_ERROR;
				break;
			}
			c = nc;
		}
		if (db_col_i64(res, ONE_COL_ID, &c[n].id) != 0 ||
		    db_col_decimal(res, ONE_COL_REMAINING,
		    &c[n].remaining) != 0) {
			r = DB_ERROR;
			break;
		}
		n++;
	}
	db_result_free(res);
	rc = r < 0 ? r : DB_OK;
	for (i = 0; rc == DB_OK && i < n && left > 0; i++) {
		int64_t take = c[i].remaining < left ? c[i].remaining : left;

		if ((rc = apply_one(db, (uint64_t)c[i].id, invoice_id, take,
		    now)) != DB_OK)
			break;
		left -= take;
		*applied += take;
	}
	free(c);
	return rc;
}

int
credits_restore(struct db *db, uint64_t invoice_id)
{
	struct db_param p[] = { DBP_INT(invoice_id) };

	return db_run(db, &credits_stmts, CREDITS_RESTORE, p, 1, NULL, NULL);
}

int
credits_lock_range(struct db *db, uint64_t lo, uint64_t hi, const char *now,
    int (*each)(void *arg, const struct credits_available *c), void *arg)
{
	struct db_result *res = NULL;
	struct credits_available c;
	int64_t acct_id, credit_id;
	int rc, f;

	struct db_param p[] = { DBP_INT(lo), DBP_INT(hi), DBP_STR(now) };
	if ((rc = db_get(db, &credits_stmts, CREDITS_AVAILABLE_RANGE, p, 3,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		if (db_col_i64(res, AVAIL_COL_ACCOUNT, &acct_id) != 0 ||
		    db_col_i64(res, AVAIL_COL_ID, &credit_id) != 0 ||
		    db_col_decimal(res, AVAIL_COL_REMAINING,
		    &c.remaining) != 0) {
			f = DB_ERROR;
			break;
		}
		c.account_id = (uint64_t)acct_id;
		c.credit_id = (uint64_t)credit_id;
		if (each(arg, &c) != 0) {
			f = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

int
credits_apply_many(struct db *db, const struct credits_application *a,
    size_t n, const char *now)
{
	static struct db_param p[SQL_ROWS_MAX * 4];
	static char amt[SQL_ROWS_MAX][32];
	size_t done = 0, k, i, j;
	int rc;

	while (done < n) {
		k = sql_rows_chunk(n - done);
		for (i = 0, j = 0; i < k; i++) {
			const struct credits_application *ap = &a[done + i];

			money_format(ap->amount, 2, amt[i], sizeof(amt[i]));
			p[j++] = DBP_INT(ap->credit_id);
			p[j++] = DBP_INT(ap->invoice_id);
			p[j++] = DBP_STR(amt[i]);
			p[j++] = DBP_STR(now);
		}
		if ((rc = db_run_rows(db, &credits_rows_applications, k, p, j,
		    NULL, NULL)) != DB_OK)
			return rc;
		for (i = 0; i < k; i++) {
			struct db_param dp[] = { DBP_STR(amt[i]),
			    DBP_INT(a[done + i].credit_id) };
			if ((rc = db_run(db, &credits_stmts, CREDITS_DEDUCT, dp,
			    2, NULL, NULL)) != DB_OK)
				return rc;
		}
		done += k;
	}
	return DB_OK;
}
