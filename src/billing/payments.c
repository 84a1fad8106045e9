/*
 * payments: see payments.h.  The one writer of billing_payments.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "money.h"
#include "payments.h"
#include "result.h"

enum {
	PAYMENTS_MANUAL,
	PAYMENTS_INSERT,
	PAYMENTS_SUCCEEDED_BY_PI,
	PAYMENTS_COMPLETE,
	PAYMENTS_ANY_BY_PI,
	PAYMENTS_STRIPE_PAID,
	PAYMENTS_PAID_BY_HAND,
	PAYMENTS_LIST,
	PAYMENTS_NSTMTS
};

/* the columns of PAYMENTS_LIST */
enum { LIST_COL_ID, LIST_COL_AMOUNT, LIST_COL_CURRENCY, LIST_COL_STATUS,
	LIST_COL_METHOD, LIST_COL_INVOICE, LIST_COL_NUMBER, LIST_COL_PI,
	LIST_COL_STRIPE_INVOICE, LIST_COL_FAILURE, LIST_COL_CREATED_AT,
	LIST_NCOLS };

/* the columns of PAYMENTS_ANY_BY_PI */
enum { ANY_COL_ACCOUNT, ANY_COL_INVOICE, ANY_COL_STRIPE_INVOICE, ANY_NCOLS };

static const struct db_stmt payments_sql[PAYMENTS_NSTMTS] = {
	[PAYMENTS_MANUAL] = { "INSERT INTO billing_payments (account_id, "
	    "invoice_id, amount, currency, status, method, idempotency_key, "
	    "created_at) SELECT account_id, id, total, currency, 'succeeded', "
	    "'manual', ?, ? FROM billing_invoices WHERE id = ?", 3, 0 },
	[PAYMENTS_INSERT] = { "INSERT INTO billing_payments (account_id, "
	    "invoice_id, amount, currency, status, method, "
	    "stripe_payment_intent_id, stripe_invoice_id, idempotency_key, "
	    "failure_message, created_at) "
	    "VALUES (?, ?, ?, ?, ?, 'stripe', ?, ?, ?, ?, ?)", 10, 0 },
	[PAYMENTS_SUCCEEDED_BY_PI] = { "SELECT id FROM billing_payments "
	    "WHERE account_id = ? AND stripe_payment_intent_id = ? "
	    "AND status = 'succeeded' ORDER BY id LIMIT 1", 2, 1 },
	[PAYMENTS_COMPLETE] = { "UPDATE billing_payments SET invoice_id = "
	    "COALESCE(invoice_id, ?), stripe_invoice_id = "
	    "COALESCE(stripe_invoice_id, ?) WHERE id = ?", 3, 0 },
	[PAYMENTS_ANY_BY_PI] = { "SELECT account_id, COALESCE(invoice_id, 0), "
	    "COALESCE(stripe_invoice_id, '') FROM billing_payments "
	    "WHERE stripe_payment_intent_id = ? ORDER BY id LIMIT 1", 1,
	    ANY_NCOLS },
	[PAYMENTS_STRIPE_PAID] = { "SELECT id FROM billing_payments "
	    "WHERE account_id = ? AND stripe_invoice_id = ? "
	    "AND status = 'succeeded' LIMIT 1", 2, 1 },
	[PAYMENTS_PAID_BY_HAND] = { "SELECT id FROM billing_payments "
	    "WHERE invoice_id = ? AND method = 'manual' "
	    "AND status = 'succeeded' LIMIT 1", 1, 1 },
	/* a page of a user's payments, newest first, below a cursor id */
	[PAYMENTS_LIST] = { "SELECT p.id, p.amount, p.currency, p.status, "
	    "p.method, COALESCE(p.invoice_id, 0), "
	    "COALESCE(i.invoice_number, ''), "
	    "COALESCE(p.stripe_payment_intent_id, ''), "
	    "COALESCE(p.stripe_invoice_id, ''), "
	    "COALESCE(p.failure_message, ''), p.created_at "
	    "FROM billing_payments p "
	    "JOIN billing_accounts a ON a.id = p.account_id "
	    "LEFT JOIN billing_invoices i ON i.id = p.invoice_id "
	    "WHERE a.user_id = ? AND p.id < ? ORDER BY p.id DESC LIMIT ?", 3,
	    LIST_NCOLS },
};
const struct db_stmts payments_stmts = DB_STMTS("payments", payments_sql);

int
payments_record_manual(struct db *db, uint64_t invoice_id, const char *key,
    const char *now)
{
	struct db_param p[] = { DBP_STR(key), DBP_STR(now), DBP_INT(invoice_id) };

	return db_run(db, &payments_stmts, PAYMENTS_MANUAL, p, 3, NULL, NULL);
}

int
payments_insert(struct db *db, const struct payment *pm)
{
	char amt[32];

	money_format(pm->amount, 2, amt, sizeof(amt));
	struct db_param p[] = { DBP_INT(pm->account_id),
	    pm->invoice_id ? DBP_INT(pm->invoice_id) : DBP_NULLV,
	    DBP_STR(amt), DBP_STR(pm->currency), DBP_STR(pm->status),
	    pm->pi ? DBP_STR(pm->pi) : DBP_NULLV,
	    pm->stripe_invoice ? DBP_STR(pm->stripe_invoice) : DBP_NULLV,
	    DBP_STR(pm->key), pm->failure ? DBP_STR(pm->failure) : DBP_NULLV,
	    DBP_STR(pm->now) };
	return db_run(db, &payments_stmts, PAYMENTS_INSERT, p, 10, NULL, NULL);
}

/* A statement's one id column, into *id. */
static int
one_id(struct db *db, unsigned stmt, const struct db_param *p, size_t np,
    uint64_t *id)
{
	int64_t v = 0;
	int rc;

	if ((rc = db_get_i64(db, &payments_stmts, stmt, p, np, &v)) == DB_OK &&
	    id != NULL)
		*id = (uint64_t)v;
	return rc;
}

int
payments_find_succeeded(struct db *db, uint64_t account_id, const char *pi,
    uint64_t *id)
{
	struct db_param p[] = { DBP_INT(account_id), DBP_STR(pi) };

	return one_id(db, PAYMENTS_SUCCEEDED_BY_PI, p, 2, id);
}

int
payments_complete(struct db *db, uint64_t id, uint64_t invoice_id,
    const char *stripe_invoice)
{
	struct db_param p[] = { invoice_id ? DBP_INT(invoice_id) : DBP_NULLV,
	    stripe_invoice ? DBP_STR(stripe_invoice) : DBP_NULLV, DBP_INT(id) };

	return db_run(db, &payments_stmts, PAYMENTS_COMPLETE, p, 3, NULL, NULL);
}

int
payments_find_by_intent(struct db *db, const char *pi, uint64_t *account_id,
    uint64_t *invoice_id, char *sin, size_t size)
{
	struct db_result *res = NULL;
	int64_t a = 0, i = 0;
	int rc, r;

	struct db_param p[] = { DBP_STR(pi) };
	if ((rc = db_get(db, &payments_stmts, PAYMENTS_ANY_BY_PI, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		if (db_col_i64(res, ANY_COL_ACCOUNT, &a) != 0 ||
		    db_col_i64(res, ANY_COL_INVOICE, &i) != 0)
			r = DB_ERROR;
		db_col_text(res, ANY_COL_STRIPE_INVOICE, sin, size);
	}
	db_result_free(res);
	*account_id = (uint64_t)a;
	*invoice_id = (uint64_t)i;
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

int
payments_stripe_paid(struct db *db, uint64_t account_id, const char *sin)
{
	struct db_param p[] = { DBP_INT(account_id), DBP_STR(sin) };

	return one_id(db, PAYMENTS_STRIPE_PAID, p, 2, NULL);
}

int
payments_paid_by_hand(struct db *db, uint64_t invoice_id)
{
	struct db_param p[] = { DBP_INT(invoice_id) };

	return one_id(db, PAYMENTS_PAID_BY_HAND, p, 1, NULL);
}

/* The current row of PAYMENTS_LIST into *out: 0, or -1. */
static int
list_row(struct db_result *res, struct payment_row *out)
{
	int64_t inv;

	memset(out, 0, sizeof(*out));
	db_col_text(res, LIST_COL_CURRENCY, out->currency,
	    sizeof(out->currency));
	db_col_text(res, LIST_COL_STATUS, out->status, sizeof(out->status));
	db_col_text(res, LIST_COL_METHOD, out->method, sizeof(out->method));
	db_col_text(res, LIST_COL_NUMBER, out->invoice_number,
	    sizeof(out->invoice_number));
	db_col_text(res, LIST_COL_PI, out->payment_intent,
	    sizeof(out->payment_intent));
	db_col_text(res, LIST_COL_STRIPE_INVOICE, out->stripe_invoice,
	    sizeof(out->stripe_invoice));
	db_col_text(res, LIST_COL_FAILURE, out->failure, sizeof(out->failure));
	if (db_col_i64(res, LIST_COL_ID, &out->id) != 0 ||
	    db_col_i64(res, LIST_COL_INVOICE, &inv) != 0 ||
	    db_col_decimal(res, LIST_COL_AMOUNT, &out->amount) != 0 ||
	    db_col_time(res, LIST_COL_CREATED_AT, &out->created_at) != 0)
		return -1;
	out->invoice_id = (uint64_t)inv;
	return 0;
}

enum result_code
payments_list(struct db *db, struct payments_page *pg, payments_row_fn fn,
    void *arg, struct result *r)
{
	struct db_result *res = NULL;
	struct payment_row row;
	int64_t n = 0;
	int rc, f;

	pg->more = 0;
	pg->last_id = 0;
	struct db_param p[] = { DBP_STR(pg->user_id),
	    DBP_INT(pg->before > 0 ? pg->before : INT64_MAX),
	    DBP_INT(pg->limit + 1) };
	if ((rc = db_get(db, &payments_stmts, PAYMENTS_LIST, p, 3, &res)) !=
	    DB_OK)
		return result_db(r, rc);
	/* one row more than a page says there is a next one */
	while ((f = db_fetch(res)) == 1) {
		if (n == pg->limit) {
			pg->more = 1;
			break;
		}
		if (list_row(res, &row) != 0) {
			f = DB_ERROR;
			break;
		}
		pg->last_id = row.id;
		fn(&row, arg);
		n++;
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	return result_set(r, RESULT_OK, NULL, "ok");
}
