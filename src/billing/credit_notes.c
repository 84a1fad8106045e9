/*
 * credit_notes: see credit_notes.h.  The one writer of
 * billing_credit_notes, billing_credit_note_lines,
 * billing_credit_note_counters and billing_refunds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "credit_notes.h"
#include "credits.h"
#include "db.h"
#include "events.h"
#include "grow.h"
#include "invoices.h"
#include "json_util.h"
#include "log.h"
#include "money.h"
#include "stripe.h"
#include "timeutil.h"

/* what create_tx returns, past the rollback, when it answered r itself */
#define CN_STOP (-100)

enum {
	CN_INVOICE_ACCOUNT,
	CN_LOCK_ACCOUNT,
	CN_BY_KEY,
	CN_INVOICE_LINES,
	CN_CREDITED_LINES,
	CN_COUNT,
	CN_PAYMENT,
	CN_PAID_SUM,
	CN_COUNTER_BUMP,
	CN_COUNTER_READ,
	CN_INSERT,
	CN_LINE_INSERT,
	CN_REFUND_INSERT,
	CN_ONE,
	CN_OF_INVOICE,
	CN_NOTE_LINES,
	CN_PENDING_STRIPE,
	CN_SET_STRIPE,
	CN_NSTMTS
};

#define CN_SELECT \
    "SELECT cn.id, cn.invoice_id, cn.account_id, cn.seq, a.user_id, " \
    "cn.credit_note_number, COALESCE(i.invoice_number, ''), cn.amount, " \
    "cn.currency, cn.reason, cn.settlement, COALESCE(cn.credit_id, 0), " \
    "COALESCE(cn.stripe_credit_note_id, ''), cn.created_at, " \
    "COALESCE(r.amount, 0), COALESCE(r.method, ''), " \
    "COALESCE(r.stripe_refund_id, ''), " \
    "COALESCE(JSON_VALUE(i.issued_details, '$.timezone'), a.timezone), " \
    "IF(i.issued_details IS NULL, COALESCE(a.timezone_prev, ''), ''), " \
    "IF(i.issued_details IS NULL, a.timezone_from, NULL), " \
    "COALESCE(JSON_VALUE(i.issued_details, '$.issuer.name'), ''), " \
    "IF(i.issued_details IS NULL, COALESCE(a.billing_name, ''), " \
    "COALESCE(JSON_VALUE(i.issued_details, '$.bill_to.name'), '')) " \
    "FROM billing_credit_notes cn " \
    "JOIN billing_accounts a ON a.id = cn.account_id " \
    "JOIN billing_invoices i ON i.id = cn.invoice_id " \
    "LEFT JOIN billing_refunds r ON r.credit_note_id = cn.id "

enum {
	COL_ID, COL_INVOICE, COL_ACCOUNT, COL_SEQ, COL_USER, COL_NUMBER,
	COL_INVOICE_NUMBER, COL_AMOUNT, COL_CURRENCY, COL_REASON,
	COL_SETTLEMENT, COL_CREDIT, COL_STRIPE_ID, COL_CREATED,
	COL_REFUND_AMOUNT, COL_REFUND_METHOD, COL_REFUND_STRIPE, COL_TZ,
	COL_TZ_PREV, COL_TZ_FROM, COL_ISSUER, COL_BILL_TO, NCOLS
};
enum { KEY_COL_ID, KEY_COL_INVOICE, KEY_COL_AMOUNT, KEY_NCOLS };
enum { PAY_COL_ID, PAY_COL_PI, PAY_COL_METHOD, PAY_COL_REFUNDABLE,
	PAY_NCOLS };

static const struct db_stmt cn_sql[CN_NSTMTS] = {
	[CN_INVOICE_ACCOUNT] = { "SELECT account_id FROM billing_invoices "
	    "WHERE id = ?", 1, 1 },
	[CN_LOCK_ACCOUNT] = { "SELECT user_id FROM billing_accounts "
	    "WHERE id = ? FOR UPDATE", 1, 1 },
	[CN_BY_KEY] = { "SELECT id, invoice_id, amount FROM "
	    "billing_credit_notes WHERE idempotency_key = ? FOR UPDATE", 1,
	    KEY_NCOLS },
	[CN_INVOICE_LINES] = { "SELECT line_no, amount FROM "
	    "billing_invoice_lines WHERE invoice_id = ? ORDER BY line_no", 1,
	    2 },
	[CN_CREDITED_LINES] = { "SELECT line_no, SUM(amount) FROM "
	    "billing_credit_note_lines WHERE invoice_id = ? GROUP BY line_no",
	    1, 2 },
	[CN_COUNT] = { "SELECT COUNT(*) FROM billing_credit_notes "
	    "WHERE invoice_id = ?", 1, 1 },
	/* the payment to refund: the one with the most left to refund,
	 * Stripe's first */
	[CN_PAYMENT] = { "SELECT p.id, COALESCE(p.stripe_payment_intent_id, "
	    "''), p.method, p.amount - COALESCE((SELECT SUM(r.amount) FROM "
	    "billing_refunds r WHERE r.payment_id = p.id), 0) AS refundable "
	    "FROM billing_payments p WHERE p.invoice_id = ? "
	    "AND p.status = 'succeeded' ORDER BY refundable DESC, "
	    "p.method = 'stripe' DESC, p.id LIMIT 1", 1, PAY_NCOLS },
	[CN_PAID_SUM] = { "SELECT COALESCE(SUM(amount), 0) FROM "
	    "billing_payments WHERE invoice_id = ? AND status = 'succeeded'",
	    1, 1 },
	[CN_COUNTER_BUMP] = { "INSERT INTO billing_credit_note_counters (year, "
	    "last_number) VALUES (?, 1) "
	    "ON DUPLICATE KEY UPDATE last_number = last_number + 1", 1, 0 },
	[CN_COUNTER_READ] = { "SELECT last_number FROM "
	    "billing_credit_note_counters WHERE year = ?", 1, 1 },
	[CN_INSERT] = { "INSERT INTO billing_credit_notes (invoice_id, "
	    "account_id, seq, credit_note_number, amount, currency, reason, "
	    "settlement, credit_id, stripe_credit_note_id, idempotency_key, "
	    "created_by, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 13, 0 },
	[CN_LINE_INSERT] = { "INSERT INTO billing_credit_note_lines "
	    "(credit_note_id, invoice_id, line_no, amount) VALUES (?, ?, ?, ?)",
	    4, 0 },
	[CN_REFUND_INSERT] = { "INSERT INTO billing_refunds (credit_note_id, "
	    "invoice_id, account_id, payment_id, amount, currency, method, "
	    "stripe_refund_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    9, 0 },
	[CN_ONE] = { CN_SELECT "WHERE cn.id = ?", 1, NCOLS },
	[CN_OF_INVOICE] = { CN_SELECT "WHERE cn.invoice_id = ? ORDER BY cn.id",
	    1, NCOLS },
	[CN_NOTE_LINES] = { "SELECT line_no, amount FROM "
	    "billing_credit_note_lines WHERE credit_note_id = ? "
	    "ORDER BY line_no", 1, 2 },
	[CN_PENDING_STRIPE] = { "SELECT id FROM billing_credit_notes "
	    "WHERE invoice_id = ? AND stripe_credit_note_id IS NULL "
	    "ORDER BY id", 1, 1 },
	[CN_SET_STRIPE] = { "UPDATE billing_credit_notes SET "
	    "stripe_credit_note_id = ? WHERE id = ? "
	    "AND stripe_credit_note_id IS NULL", 2, 0 },
};
const struct db_stmts credit_notes_stmts = DB_STMTS("credit_notes", cn_sql);

/* -- reading -------------------------------------------------------------- */

static int
read_row(struct db_result *res, struct credit_note *cn)
{
	int64_t v;
	int bad = 0;

	memset(cn, 0, sizeof(*cn));
	db_col_i64(res, COL_ID, &v);
	cn->id = (uint64_t)v;
	db_col_i64(res, COL_INVOICE, &v);
	cn->invoice_id = (uint64_t)v;
	db_col_i64(res, COL_ACCOUNT, &v);
	cn->account_id = (uint64_t)v;
	db_col_i64(res, COL_SEQ, &v);
	cn->seq = (unsigned)v;
	db_col_text(res, COL_USER, cn->user_id, sizeof(cn->user_id));
	db_col_text(res, COL_NUMBER, cn->number, sizeof(cn->number));
	db_col_text(res, COL_INVOICE_NUMBER, cn->invoice_number,
	    sizeof(cn->invoice_number));
	db_col_text(res, COL_CURRENCY, cn->currency, sizeof(cn->currency));
	db_col_text(res, COL_REASON, cn->reason, sizeof(cn->reason));
	db_col_text(res, COL_SETTLEMENT, cn->settlement,
	    sizeof(cn->settlement));
	db_col_i64(res, COL_CREDIT, &v);
	cn->credit_id = (uint64_t)v;
	db_col_text(res, COL_STRIPE_ID, cn->stripe_credit_note_id,
	    sizeof(cn->stripe_credit_note_id));
	db_col_text(res, COL_REFUND_METHOD, cn->refund_method,
	    sizeof(cn->refund_method));
	db_col_text(res, COL_REFUND_STRIPE, cn->stripe_refund_id,
	    sizeof(cn->stripe_refund_id));
	db_col_text(res, COL_TZ, cn->zone.zone, sizeof(cn->zone.zone));
	db_col_text(res, COL_TZ_PREV, cn->zone.prev, sizeof(cn->zone.prev));
	bad |= db_col_time(res, COL_TZ_FROM, &cn->zone.from);
	db_col_text(res, COL_ISSUER, cn->issuer, sizeof(cn->issuer));
	db_col_text(res, COL_BILL_TO, cn->bill_to, sizeof(cn->bill_to));
	bad |= db_col_decimal(res, COL_AMOUNT, &cn->amount) |
	    db_col_time(res, COL_CREATED, &cn->created_at) |
	    db_col_decimal(res, COL_REFUND_AMOUNT, &cn->refund_amount);
	return bad ? -1 : 0;
}

static int
load_lines(struct db *db, struct credit_note *cn)
{
	struct db_result *res = NULL;
	size_t cap = 0;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(cn->id) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_NOTE_LINES, p, 1, &res)) !=
	    DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (cn->nlines == cap) {
			void *na = grow_array(cn->lines, &cap, sizeof(*cn->lines));

			if (na == NULL) {
				r = DB_ERROR;
				break;
			}
			cn->lines = na;
		}
		db_col_i64(res, 0, &v);
		cn->lines[cn->nlines].line_no = (unsigned)v;
		if (db_col_decimal(res, 1, &cn->lines[cn->nlines].amount) != 0) {
			r = DB_ERROR;
			break;
		}
		cn->nlines++;
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

/* Rows of statement stmt (param id) into a heap array. */
static int
load_many(struct db *db, unsigned stmt, uint64_t id, struct credit_note **out,
    size_t *n)
{
	struct db_result *res = NULL;
	struct credit_note *arr = NULL;
	size_t cap = 0, i;
	int rc, r;

	*out = NULL;
	*n = 0;
	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &credit_notes_stmts, stmt, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (*n == cap) {
			void *na = grow_array(arr, &cap, sizeof(*arr));

			if (na == NULL) {
				r = DB_ERROR;
				break;
			}
			arr = na;
		}
		if (read_row(res, &arr[*n]) != 0) {
			r = DB_ERROR;
			break;
		}
		(*n)++;
	}
	db_result_free(res);
	for (i = 0; r >= 0 && i < *n; i++)
		r = load_lines(db, &arr[i]);
	if (r < 0) {
		credit_notes_free(arr, *n);
		*n = 0;
		return r;
	}
	*out = arr;
	return DB_OK;
}

int
credit_note_load(struct db *db, uint64_t id, struct credit_note *out)
{
	struct credit_note *arr = NULL;
	size_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load_many(db, CN_ONE, id, &arr, &n)) != DB_OK)
		return rc;
	if (n == 0) {
		free(arr);
		return DB_NOT_FOUND;
	}
	*out = arr[0];
	free(arr);
	return DB_OK;
}

void
credit_note_free(struct credit_note *cn)
{
	if (cn == NULL)
		return;
	free(cn->lines);
	cn->lines = NULL;
	cn->nlines = 0;
}

int
credit_notes_of_invoice(struct db *db, uint64_t invoice_id,
    struct credit_note **out, size_t *n)
{
	return load_many(db, CN_OF_INVOICE, invoice_id, out, n);
}

void
credit_notes_free(struct credit_note *cns, size_t n)
{
	size_t i;

	for (i = 0; cns != NULL && i < n; i++)
		credit_note_free(&cns[i]);
	free(cns);
}

struct json_object *
credit_note_json(const struct credit_note *cn)
{
	struct json_object *o = json_object_new_object(), *arr, *ro = NULL;
	size_t i;

	json_object_object_add(o, "id", json_object_new_int64((int64_t)cn->id));
	json_object_object_add(o, "credit_note_number",
	    json_object_new_string(cn->number));
	json_object_object_add(o, "invoice_id",
	    json_object_new_int64((int64_t)cn->invoice_id));
	json_object_object_add(o, "invoice_number",
	    json_object_new_string(cn->invoice_number));
	json_object_object_add(o, "user_id", json_object_new_string(cn->user_id));
	json_object_object_add(o, "amount", json_money(cn->amount, 2));
	json_object_object_add(o, "currency", json_object_new_string(cn->currency));
	json_object_object_add(o, "reason", json_object_new_string(cn->reason));
	json_object_object_add(o, "settlement",
	    json_object_new_string(cn->settlement));
	json_object_object_add(o, "credit_id", cn->credit_id ?
	    json_object_new_int64((int64_t)cn->credit_id) : NULL);
	if (cn->refund_amount > 0) {
		ro = json_object_new_object();
		json_object_object_add(ro, "amount", json_money(cn->refund_amount, 2));
		json_object_object_add(ro, "currency",
		    json_object_new_string(cn->currency));
		json_object_object_add(ro, "method",
		    json_object_new_string(cn->refund_method));
		json_object_object_add(ro, "stripe_refund_id",
		    cn->stripe_refund_id[0] ?
		    json_object_new_string(cn->stripe_refund_id) : NULL);
	}
	json_object_object_add(o, "refund", ro);
	arr = json_object_new_array();
	for (i = 0; i < cn->nlines; i++) {
		struct json_object *lo = json_object_new_object();

		json_object_object_add(lo, "line_no",
		    json_object_new_int((int)cn->lines[i].line_no));
		json_object_object_add(lo, "amount",
		    json_money(cn->lines[i].amount, 2));
		json_object_array_add(arr, lo);
	}
	json_object_object_add(o, "lines", arr);
	json_object_object_add(o, "stripe_credit_note_id",
	    cn->stripe_credit_note_id[0] ?
	    json_object_new_string(cn->stripe_credit_note_id) : NULL);
	json_object_object_add(o, "created_at", json_time(cn->created_at));
	return o;
}

/* -- issuing -------------------------------------------------------------- */

/* One credit note in the making (create_tx). */
struct issue {
	const struct billing_config *cfg;
	const struct credit_note_request *rq;
	struct result *r;
	uint64_t id;
	int replayed;
};

static int
stop(struct issue *is, enum result_code code, const char *param,
    const char *msg)
{
	result_set(is->r, code, param, "%s", msg);
	return CN_STOP;
}

/* The invoice's account locked (one lock order everywhere: account, then
 * invoice), its user into user[size]. */
static int
lock_account(struct db *db, uint64_t invoice_id, uint64_t *account_id,
    char *user, size_t size)
{
	struct db_result *res = NULL;
	int64_t a = 0;
	int rc, r;

	struct db_param p[] = { DBP_INT(invoice_id) };
	if ((rc = db_get_i64(db, &credit_notes_stmts, CN_INVOICE_ACCOUNT, p, 1,
	    &a)) != DB_OK)
		return rc;
	*account_id = (uint64_t)a;
	struct db_param ap[] = { DBP_INT(a) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_LOCK_ACCOUNT, ap, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		db_col_text(res, 0, user, size);
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* A line of the invoice: what it charged and what credit notes took. */
struct line_left {
	unsigned no;
	int64_t have, done;
};

/* Each line asked for exists and keeps within what its earlier credit
 * notes left of it; *sum the lines' sum.  DB_OK, CN_STOP or an error. */
static int
check_lines(struct db *db, struct issue *is, int64_t *sum)
{
	const struct credit_note_request *rq = is->rq;
	struct db_result *res = NULL;
	struct line_left *ll = NULL;
	int64_t v, amt;
	size_t i, j, n = 0, cap = 0;
	int rc, r;

	*sum = 0;
	struct db_param p[] = { DBP_INT(rq->invoice_id) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_INVOICE_LINES, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (n == cap) {
			void *a = grow_array(ll, &cap, sizeof(*ll));

			if (a == NULL) {
				r = DB_ERROR;
				break;
			}
			ll = a;
		}
		db_col_i64(res, 0, &v);
		ll[n].no = (unsigned)v;
		ll[n].done = 0;
		if (db_col_decimal(res, 1, &ll[n].have) != 0) {
			r = DB_ERROR;
			break;
		}
		n++;
	}
	db_result_free(res);
	res = NULL;
	if (r < 0) {
		rc = r;
		goto out;
	}
	/* what earlier credit notes took off each line */
	if ((rc = db_get(db, &credit_notes_stmts, CN_CREDITED_LINES, p, 1,
	    &res)) != DB_OK)
		goto out;
	while ((r = db_fetch(res)) == 1) {
		db_col_i64(res, 0, &v);
		if (db_col_decimal(res, 1, &amt) != 0) {
			r = DB_ERROR;
			break;
		}
		for (j = 0; j < n; j++)
			if (ll[j].no == (unsigned)v)
				ll[j].done += amt;
	}
	db_result_free(res);
	if (r < 0) {
		rc = r;
		goto out;
	}
	rc = DB_OK;
	for (i = 0; i < rq->nlines; i++) {
		for (j = 0; j < n && ll[j].no != rq->lines[i].line_no; j++)
			;
		if (j == n) {
			result_set(is->r, RESULT_INVALID, "lines",
			    "the invoice has no line %u", rq->lines[i].line_no);
			rc = CN_STOP;
			goto out;
		}
		if (ll[j].done + rq->lines[i].amount > ll[j].have) {
			char left[32];

			money_format(ll[j].have - ll[j].done, 2, left,
			    sizeof(left));
			result_set(is->r, RESULT_INVALID, "lines",
			    "line %u has %s left to credit", ll[j].no, left);
			rc = CN_STOP;
			goto out;
		}
		ll[j].done += rq->lines[i].amount;
		*sum += rq->lines[i].amount;
	}
out:
	free(ll);
	return rc;
}

/* The payment to refund: *pid, its intent (pi[size], "" for none), its
 * method and what is left of it to refund.  DB_NOT_FOUND when none. */
static int
payment_to_refund(struct db *db, uint64_t invoice_id, uint64_t *pid, char *pi,
    size_t size, char *method, size_t msize, int64_t *refundable)
{
	struct db_result *res = NULL;
	int64_t v = 0;
	int rc, r;

	*refundable = 0;
	struct db_param p[] = { DBP_INT(invoice_id) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_PAYMENT, p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, PAY_COL_ID, &v);
		db_col_text(res, PAY_COL_PI, pi, size);
		db_col_text(res, PAY_COL_METHOD, method, msize);
		if (db_col_decimal(res, PAY_COL_REFUNDABLE, refundable) != 0)
			r = DB_ERROR;
	}
	db_result_free(res);
	*pid = (uint64_t)v;
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* The invoice's succeeded payments, summed into *paid (micro-units). */
static int
paid_sum(struct db *db, uint64_t invoice_id, int64_t *paid)
{
	struct db_result *res = NULL;
	int rc, r;

	*paid = 0;
	struct db_param p[] = { DBP_INT(invoice_id) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_PAID_SUM, p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && db_col_decimal(res, 0, paid) != 0)
		r = DB_ERROR;
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
next_number(struct db *db, int year, char *buf, size_t size)
{
	int64_t n = 0;
	int rc;

	struct db_param p[] = { DBP_INT(year) };
	if ((rc = db_run(db, &credit_notes_stmts, CN_COUNTER_BUMP, p, 1, NULL,
	    NULL)) != DB_OK ||
	    (rc = db_get_i64(db, &credit_notes_stmts, CN_COUNTER_READ, p, 1,
	    &n)) != DB_OK)
		return rc;
	snprintf(buf, size, "CN-%04d-%06lld", year, (long long)n);
	return DB_OK;
}

/* The earlier credit note of the same key: replayed, or a conflict. */
static int
replay(struct db *db, struct issue *is, int64_t amount)
{
	struct db_result *res = NULL;
	int64_t id = 0, inv = 0, amt = 0;
	int rc, r;

	struct db_param p[] = { DBP_STR(is->rq->key) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_BY_KEY, p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, KEY_COL_ID, &id);
		db_col_i64(res, KEY_COL_INVOICE, &inv);
		if (db_col_decimal(res, KEY_COL_AMOUNT, &amt) != 0)
			r = DB_ERROR;
	}
	db_result_free(res);
	if (r <= 0)
		return r == 0 ? DB_NOT_FOUND : r;
	if ((uint64_t)inv != is->rq->invoice_id || amt != amount)
		return stop(is, RESULT_CONFLICT, "idempotency_key",
		    "the idempotency key was used for another credit note");
	is->id = (uint64_t)id;
	is->replayed = 1;
	return DB_OK;
}

/* Stripe refused or failed: nothing changes here. */
static int
stripe_stop(struct issue *is, const struct stripe_error *se, const char *what)
{
	if (se->rc == STRIPE_REJECTED && se->status == 400)
		result_set(is->r, RESULT_CONFLICT, "status", "Stripe refused "
		    "the %s: %s", what, se->message);
	else
		result_stripe(is->r, se);
	return CN_STOP;
}

/* Queues billing.credit_note.created and, with a refund,
 * billing.refund.created. */
static int
emit_events(struct db *db, uint64_t id, int64_t now)
{
	struct credit_note cn;
	struct json_object *data;
	char key[64];
	int rc;

	if ((rc = credit_note_load(db, id, &cn)) != DB_OK)
		return rc;
	data = credit_note_json(&cn);
	snprintf(key, sizeof(key), "billing.credit_note.created:%llu",
	    (unsigned long long)id);
	rc = event_emit(db, "billing.credit_note.created", cn.account_id, key,
	    data, now);
	json_object_put(data);
	if (rc == DB_OK && cn.refund_amount > 0) {
		data = json_object_new_object();
		json_object_object_add(data, "credit_note_id",
		    json_object_new_int64((int64_t)cn.id));
		json_object_object_add(data, "credit_note_number",
		    json_object_new_string(cn.number));
		json_object_object_add(data, "invoice_id",
		    json_object_new_int64((int64_t)cn.invoice_id));
		json_object_object_add(data, "user_id",
		    json_object_new_string(cn.user_id));
		json_object_object_add(data, "amount",
		    json_money(cn.refund_amount, 2));
		json_object_object_add(data, "currency",
		    json_object_new_string(cn.currency));
		json_object_object_add(data, "method",
		    json_object_new_string(cn.refund_method));
		json_object_object_add(data, "stripe_refund_id",
		    cn.stripe_refund_id[0] ?
		    json_object_new_string(cn.stripe_refund_id) : NULL);
		snprintf(key, sizeof(key), "billing.refund.created:%llu",
		    (unsigned long long)id);
		rc = event_emit(db, "billing.refund.created", cn.account_id, key,
		    data, now);
		json_object_put(data);
	}
	credit_note_free(&cn);
	return rc;
}

static int
create_tx(struct db *db, void *arg)
{
	struct issue *is = arg;
	const struct credit_note_request *rq = is->rq;
	struct invoice_locked lk;
	struct credit_note_stripe cs;
	struct stripe_error se;
	char user[256], number[33], nowt[TIME_TEXT_MAX], amt[32];
	char pi[256] = "", method[16] = "", re[256] = "", scn[256] = "";
	const char *settlement = "due";
	uint64_t account_id = 0, pid = 0, credit_id = 0, id = 0;
	int64_t amount = rq->amount, seq = 0, refundable = 0, paid = 0;
	int y, m, d, hh, mm, ss, us, rc;
	size_t i;

	is->id = 0;
	is->replayed = 0;
	if ((rc = lock_account(db, rq->invoice_id, &account_id, user,
	    sizeof(user))) != DB_OK ||
	    (rc = invoice_lock(db, rq->invoice_id, &lk)) != DB_OK)
		return rc;
	for (i = 0; rq->nlines > 0 && i < rq->nlines; i++)
		amount += rq->lines[i].amount;
	if (rq->key != NULL && (rc = replay(db, is, amount)) != DB_NOT_FOUND)
		return rc;
	if (strcmp(lk.status, "draft") == 0 || strcmp(lk.status, "void") == 0)
		return stop(is, RESULT_CONFLICT, "status", "only a finalized "
		    "invoice (sent, overdue or paid) takes credit notes");
	if (rq->nlines > 0 && (rc = check_lines(db, is, &amount)) != DB_OK)
		return rc;
	if (money_round(amount, money_amount_decimals(lk.currency)) != amount)
		return stop(is, RESULT_INVALID, "amount", "the amount must be "
		    "whole units of the invoice's currency");
	if (amount > lk.total - lk.credit_notes) {
		money_format(lk.total - lk.credit_notes, 2, amt, sizeof(amt));
		result_set(is->r, RESULT_INVALID, rq->nlines ? "lines" : "amount",
		    "the invoice has %s left to credit", amt);
		return CN_STOP;
	}
	if (strcmp(lk.status, "paid") == 0) {
		settlement = rq->refund ? "refund" : "balance";
		if (rq->refund) {
			rc = payment_to_refund(db, rq->invoice_id, &pid, pi,
			    sizeof(pi), method, sizeof(method), &refundable);
			if (rc != DB_OK && rc != DB_NOT_FOUND)
				return rc;
			if (amount > refundable) {
				money_format(refundable, 2, amt, sizeof(amt));
				result_set(is->r, RESULT_INVALID, "amount",
				    "%s of the invoice's payment is left to "
				    "refund", amt);
				return CN_STOP;
			}
		}
	}
	struct db_param ip[] = { DBP_INT(rq->invoice_id) };
	if ((rc = db_get_i64(db, &credit_notes_stmts, CN_COUNT, ip, 1,
	    &seq)) != DB_OK ||
	    (rc = paid_sum(db, rq->invoice_id, &paid)) != DB_OK)
		return rc;
	seq++;

	/* Stripe first: nothing here when it refuses (the keys name the
	 * invoice and the credit note's place on it, the same on a retry) */
	memset(&cs, 0, sizeof(cs));
	cs.invoice_id = rq->invoice_id;
	cs.seq = (unsigned)seq;
	cs.sid = lk.stripe_invoice_id;
	cs.currency = lk.currency;
	cs.amount = amount;
	cs.memo = rq->reason;
	if (rq->refund && strcmp(settlement, "refund") == 0 && pi[0] != '\0' &&
	    strcmp(method, "stripe") == 0) {
		if (credit_note_stripe_refund(is->cfg, pi, &cs, re, sizeof(re),
		    &se) != STRIPE_OK)
			return stripe_stop(is, &se, "refund");
		cs.refund_id = re;
	}
	if (lk.stripe_invoice_id[0] != '\0') {
		cs.out_of_band = strcmp(settlement, "due") != 0 &&
		    cs.refund_id == NULL;
		if (credit_note_stripe_create(is->cfg, &cs, scn, sizeof(scn),
		    &se) != STRIPE_OK)
			return stripe_stop(is, &se, "credit note");
	}

	time_format_db(rq->now, nowt, sizeof(nowt));
	time_to_civil(rq->now, &y, &m, &d, &hh, &mm, &ss, &us);
	if ((rc = next_number(db, y, number, sizeof(number))) != DB_OK)
		return rc;
	if (strcmp(settlement, "balance") == 0) {
		struct credit_grant g;
		char why[64];

		memset(&g, 0, sizeof(g));
		snprintf(why, sizeof(why), "Credit note %s", number);
		g.user_id = user;
		g.reason = why;
		g.currency = lk.currency;
		g.created_by = rq->created_by;
		g.amount = amount;
		g.now = rq->now;
		if ((rc = credits_insert(db, &g, &credit_id)) != DB_OK)
			return rc;
	}
	money_format(amount, 2, amt, sizeof(amt));
	struct db_param p[] = { DBP_INT(rq->invoice_id), DBP_INT(account_id),
	    DBP_INT(seq), DBP_STR(number), DBP_STR(amt), DBP_STR(lk.currency),
	    DBP_STR(rq->reason), DBP_STR(settlement),
	    credit_id ? DBP_INT(credit_id) : DBP_NULLV,
	    scn[0] ? DBP_STR(scn) : DBP_NULLV,
	    rq->key ? DBP_STR(rq->key) : DBP_NULLV,
	    rq->created_by ? DBP_STR(rq->created_by) : DBP_NULLV,
	    DBP_STR(nowt) };
	if ((rc = db_run(db, &credit_notes_stmts, CN_INSERT, p, 13, NULL,
	    &id)) != DB_OK)
		return rc;
	for (i = 0; i < rq->nlines; i++) {
		char la[32];

		money_format(rq->lines[i].amount, 2, la, sizeof(la));
		struct db_param lp[] = { DBP_INT(id), DBP_INT(rq->invoice_id),
		    DBP_INT(rq->lines[i].line_no), DBP_STR(la) };
		if ((rc = db_run(db, &credit_notes_stmts, CN_LINE_INSERT, lp, 4,
		    NULL, NULL)) != DB_OK)
			return rc;
	}
	if (strcmp(settlement, "refund") == 0) {
		struct db_param rp[] = { DBP_INT(id), DBP_INT(rq->invoice_id),
		    DBP_INT(account_id), pid ? DBP_INT(pid) : DBP_NULLV,
		    DBP_STR(amt), DBP_STR(lk.currency),
		    DBP_STR(re[0] ? "stripe" : "manual"),
		    re[0] ? DBP_STR(re) : DBP_NULLV, DBP_STR(nowt) };
		if ((rc = db_run(db, &credit_notes_stmts, CN_REFUND_INSERT, rp,
		    9, NULL, NULL)) != DB_OK)
			return rc;
	}
	if ((rc = invoice_add_credit_note(db, rq->invoice_id, amount)) != DB_OK)
		return rc;
	/* credited in full before it was paid: settled, nothing to pay */
	if (strcmp(settlement, "due") == 0 &&
	    lk.total - lk.credit_notes - amount - paid <= 0) {
		if ((rc = invoice_mark_paid(db, rq->invoice_id, nowt)) != DB_OK ||
		    (rc = invoice_build_emit_event(db, rq->invoice_id,
		    "billing.invoice.paid", rq->now)) != DB_OK)
			return rc;
	}
	is->id = id;
	return emit_events(db, id, rq->now);
}

enum result_code
credit_note_create(struct db *db, const struct billing_config *cfg,
    const struct credit_note_request *rq, uint64_t *id, int *replayed,
    struct result *r)
{
	struct issue is;
	int rc;

	*id = 0;
	*replayed = 0;
	memset(&is, 0, sizeof(is));
	is.cfg = cfg;
	is.rq = rq;
	is.r = r;
	rc = db_transaction(db, create_tx, &is);
	if (rc == CN_STOP)
		return r->code;
	/* the same key on another invoice at the same time (on the same
	 * invoice the lock orders them and replay() answers) */
	if (rc == DB_DUPLICATE && rq->key != NULL)
		return result_set(r, RESULT_CONFLICT, "idempotency_key",
		    "the idempotency key was used for another credit note");
	if (rc == DB_NOT_FOUND)
		return result_set(r, RESULT_NOT_FOUND, NULL, "no such invoice");
	if (rc != DB_OK)
		return result_db(r, rc);
	*id = is.id;
	*replayed = is.replayed;
	return result_set(r, RESULT_OK, NULL, "ok");
}

/* -- credit notes issued before the invoice reached Stripe ---------------- */

int
credit_notes_push_pending(struct db *db, const struct billing_config *cfg,
    uint64_t invoice_id, const char *sid, struct stripe_error *err)
{
	struct db_result *res = NULL;
	struct credit_note cn;
	struct credit_note_stripe cs;
	uint64_t ids[64];
	char scn[256];
	size_t n = 0, i;
	int64_t v;
	int rc, r;

	memset(err, 0, sizeof(*err));
	struct db_param p[] = { DBP_INT(invoice_id) };
	if ((rc = db_get(db, &credit_notes_stmts, CN_PENDING_STRIPE, p, 1,
	    &res)) != DB_OK)
		goto db_failed;
	while ((r = db_fetch(res)) == 1 && n < sizeof(ids) / sizeof(ids[0]))
		if (db_col_i64(res, 0, &v) == 0)
			ids[n++] = (uint64_t)v;
	db_result_free(res);
	if (r < 0) {
		rc = r;
		goto db_failed;
	}
	for (i = 0; i < n; i++) {
		if ((rc = credit_note_load(db, ids[i], &cn)) != DB_OK)
			goto db_failed;
		memset(&cs, 0, sizeof(cs));
		cs.invoice_id = invoice_id;
		cs.seq = cn.seq;
		cs.sid = sid;
		cs.currency = cn.currency;
		cs.amount = cn.amount;
		cs.memo = cn.reason;
		cs.out_of_band = strcmp(cn.settlement, "due") != 0;
		r = credit_note_stripe_create(cfg, &cs, scn, sizeof(scn), err);
		credit_note_free(&cn);
		if (r != STRIPE_OK)
			return -1;
		struct db_param sp[] = { DBP_STR(scn), DBP_INT(ids[i]) };
		if ((rc = db_run(db, &credit_notes_stmts, CN_SET_STRIPE, sp, 2,
		    NULL, NULL)) != DB_OK)
			goto db_failed;
	}
	return 0;
db_failed:
	err->rc = STRIPE_DB;
	err->db_rc = rc;
	snprintf(err->message, sizeof(err->message), "%s", db_error(db));
	return -1;
}
