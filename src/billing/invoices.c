/*
 * invoices: reading an invoice with its lines, credits and payments (one
 * or a page of them), and its JSON form.  The one writer of changes to an
 * existing billing_invoices row: its amounts, finalization, status (paid,
 * void, overdue) and Stripe id; the builders (invoice_build.c,
 * invoice_batch.c, invoice_stripe.c) insert new rows and call these.
 * Building and finalizing live in invoice_build.c, the invoice job in
 * invoice_job.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "db.h"
#include "grow.h"
#include "invoices.h"
#include "invoice_impl.h"
#include "json_util.h"
#include "money.h"
#include "result.h"
#include "timeutil.h"

/* An invoice's columns (INVOICES_HEADER, INVOICES_LIST), by HDR_COL_*. */
#define HEADER_SELECT \
    "SELECT i.id, i.account_id, a.user_id, COALESCE(a.email, ''), " \
    "COALESCE(i.invoice_number, ''), i.kind, i.status, i.currency, " \
    "i.billing_mode, COALESCE(i.plan_id, ''), i.period_start, i.period_end, " \
    "i.subtotal, i.credits, i.total, i.due_date, i.finalized_at, i.paid_at, " \
    "i.voided_at, i.created_at, COALESCE(i.stripe_invoice_id, ''), " \
    "i.credit_notes, i.tax, i.tax_exempt " \
    "FROM billing_invoices i JOIN billing_accounts a ON a.id = i.account_id "

enum {
	INVOICES_HEADER,
	INVOICES_LIST,
	INVOICES_LIST_ALL,
	INVOICES_LINES,
	INVOICES_APPLIED,
	INVOICES_PAYMENTS,
	INVOICES_LOCK,
	INVOICES_SET_AMOUNTS,
	INVOICES_FINALIZE,
	INVOICES_SET_PAID,
	INVOICES_SET_VOID,
	INVOICES_SET_OVERDUE,
	INVOICES_LINK_STRIPE,
	INVOICES_ADD_CREDIT_NOTE,
	INVOICES_CREDIT_NOTES,
	INVOICES_NSTMTS
};

enum {
	HDR_COL_ID, HDR_COL_ACCOUNT_ID, HDR_COL_USER_ID, HDR_COL_EMAIL,
	HDR_COL_NUMBER, HDR_COL_KIND, HDR_COL_STATUS, HDR_COL_CURRENCY,
	HDR_COL_BILLING_MODE, HDR_COL_PLAN_ID, HDR_COL_PERIOD_START,
	HDR_COL_PERIOD_END, HDR_COL_SUBTOTAL, HDR_COL_CREDITS, HDR_COL_TOTAL,
	HDR_COL_DUE_DATE, HDR_COL_FINALIZED_AT, HDR_COL_PAID_AT,
	HDR_COL_VOIDED_AT, HDR_COL_CREATED_AT, HDR_COL_STRIPE_ID,
	HDR_COL_CREDIT_NOTES, HDR_COL_TAX, HDR_COL_TAX_EXEMPT, HDR_NCOLS
};
enum {
	LINE_COL_NO, LINE_COL_KIND, LINE_COL_RESOURCE, LINE_COL_DESCRIPTION,
	LINE_COL_QUANTITY, LINE_COL_UNIT, LINE_COL_UNIT_PRICE, LINE_COL_AMOUNT,
	LINE_NCOLS
};
enum { APPLIED_COL_CREDIT, APPLIED_COL_AMOUNT, APPLIED_COL_REASON,
	APPLIED_NCOLS };
enum {
	PAY_COL_ID, PAY_COL_AMOUNT, PAY_COL_STATUS, PAY_COL_METHOD,
	PAY_COL_CREATED_AT, PAY_COL_PI, PAY_NCOLS
};
enum {
	CN_COL_ID, CN_COL_NUMBER, CN_COL_AMOUNT, CN_COL_REASON,
	CN_COL_SETTLEMENT, CN_COL_REFUND, CN_COL_METHOD, CN_COL_STRIPE,
	CN_COL_CREATED, CN_NCOLS
};
enum {
	LOCK_COL_ACCOUNT_ID, LOCK_COL_STATUS, LOCK_COL_SUBTOTAL,
	LOCK_COL_CURRENCY, LOCK_COL_STRIPE_ID, LOCK_COL_TOTAL,
	LOCK_COL_CREDIT_NOTES, LOCK_COL_NUMBER, LOCK_COL_KIND,
	LOCK_COL_PERIOD_START, LOCK_COL_PERIOD_END, LOCK_NCOLS
};

static const struct db_stmt invoices_sql[INVOICES_NSTMTS] = {
	[INVOICES_HEADER] = { HEADER_SELECT "WHERE i.id = ?", 1, HDR_NCOLS },
	/* a page of a user's invoices, newest first, below a cursor id */
	[INVOICES_LIST] = { HEADER_SELECT "WHERE a.user_id = ? AND i.id < ? "
	    "AND (? = '' OR i.status = ?) AND (? = 1 OR i.status <> 'draft') "
	    "ORDER BY i.id DESC LIMIT ?", 6, HDR_NCOLS },
	/* every account's (GET admin/invoices): by status, one user, a period
	 * that overlaps [from, to) (both NULL: any), newest first */
	[INVOICES_LIST_ALL] = { HEADER_SELECT "WHERE i.id < ? "
	    "AND (? = '' OR i.status = ?) AND (? = '' OR a.user_id = ?) "
	    "AND (? IS NULL OR (i.period_start < ? AND i.period_end > ?)) "
	    "ORDER BY i.id DESC LIMIT ?", 9, HDR_NCOLS },
	[INVOICES_LINES] = { "SELECT line_no, kind, COALESCE(resource_type, ''), "
	    "description, quantity, unit, unit_price, amount "
	    "FROM billing_invoice_lines WHERE invoice_id = ? ORDER BY line_no",
	    1, LINE_NCOLS },
	[INVOICES_APPLIED] = { "SELECT ca.credit_id, ca.amount, c.reason "
	    "FROM billing_credit_applications ca "
	    "JOIN billing_credits c ON c.id = ca.credit_id "
	    "WHERE ca.invoice_id = ? ORDER BY ca.id", 1, APPLIED_NCOLS },
	[INVOICES_PAYMENTS] = { "SELECT id, amount, status, method, created_at, "
	    "COALESCE(stripe_payment_intent_id, '') FROM billing_payments "
	    "WHERE invoice_id = ? ORDER BY id", 1, PAY_NCOLS },
	[INVOICES_LOCK] = { "SELECT account_id, status, subtotal, currency, "
	    "COALESCE(stripe_invoice_id, ''), total, credit_notes, "
	    "COALESCE(invoice_number, ''), kind, period_start, period_end "
	    "FROM billing_invoices WHERE id = ? FOR UPDATE", 1, LOCK_NCOLS },
	[INVOICES_SET_AMOUNTS] = { "UPDATE billing_invoices SET subtotal = ?, "
	    "credits = 0, total = ? WHERE id = ?", 3, 0 },
	[INVOICES_FINALIZE] = { "UPDATE billing_invoices SET status = 'sent', "
	    "invoice_number = ?, credits = ?, total = ?, finalized_at = ?, "
	    "due_date = ?, issued_details = ? WHERE id = ?", 7, 0 },
	/* paid is final, and only an unpaid final invoice becomes paid */
	[INVOICES_SET_PAID] = { "UPDATE billing_invoices SET status = 'paid', "
	    "paid_at = ? WHERE id = ? AND status IN ('sent', 'overdue')", 2, 0 },
	[INVOICES_SET_VOID] = { "UPDATE billing_invoices SET status = 'void', "
	    "voided_at = ? WHERE id = ?", 2, 0 },
	[INVOICES_SET_OVERDUE] = { "UPDATE billing_invoices SET status = "
	    "'overdue' WHERE status = 'sent' AND due_date < ? AND total > 0",
	    1, 0 },
	/* the first Stripe id stored stays */
	[INVOICES_LINK_STRIPE] = { "UPDATE billing_invoices SET "
	    "stripe_invoice_id = ? WHERE id = ? AND stripe_invoice_id IS NULL",
	    2, 0 },
	/* the CHECK of sql/010 keeps the sum at most the total */
	[INVOICES_ADD_CREDIT_NOTE] = { "UPDATE billing_invoices SET "
	    "credit_notes = credit_notes + CAST(? AS DECIMAL(18,2)) "
	    "WHERE id = ?", 2, 0 },
	[INVOICES_CREDIT_NOTES] = { "SELECT cn.id, cn.credit_note_number, "
	    "cn.amount, cn.reason, cn.settlement, COALESCE(r.amount, 0), "
	    "COALESCE(r.method, ''), COALESCE(r.stripe_refund_id, ''), "
	    "cn.created_at FROM billing_credit_notes cn "
	    "LEFT JOIN billing_refunds r ON r.credit_note_id = cn.id "
	    "WHERE cn.invoice_id = ? ORDER BY cn.id", 1, CN_NCOLS },
};
const struct db_stmts invoices_stmts = DB_STMTS("invoices", invoices_sql);

/* The current row's header columns into *inv.  0, or -1 when a column is
 * not what it should hold. */
static int
read_header(struct db_result *res, struct invoice *inv)
{
	int64_t v;
	int bad = 0;

	db_col_i64(res, HDR_COL_ID, &v);
	inv->id = (uint64_t)v;
	db_col_i64(res, HDR_COL_ACCOUNT_ID, &v);
	inv->account_id = (uint64_t)v;
	db_col_text(res, HDR_COL_USER_ID, inv->user_id, sizeof(inv->user_id));
	db_col_text(res, HDR_COL_EMAIL, inv->email, sizeof(inv->email));
	db_col_text(res, HDR_COL_NUMBER, inv->number, sizeof(inv->number));
	db_col_text(res, HDR_COL_KIND, inv->kind, sizeof(inv->kind));
	db_col_text(res, HDR_COL_STATUS, inv->status, sizeof(inv->status));
	db_col_text(res, HDR_COL_CURRENCY, inv->currency, sizeof(inv->currency));
	db_col_text(res, HDR_COL_BILLING_MODE, inv->billing_mode,
	    sizeof(inv->billing_mode));
	db_col_text(res, HDR_COL_PLAN_ID, inv->plan_id, sizeof(inv->plan_id));
	bad |= db_col_time(res, HDR_COL_PERIOD_START, &inv->period_start) |
	    db_col_time(res, HDR_COL_PERIOD_END, &inv->period_end) |
	    db_col_decimal(res, HDR_COL_SUBTOTAL, &inv->subtotal) |
	    db_col_decimal(res, HDR_COL_CREDITS, &inv->credits) |
	    db_col_decimal(res, HDR_COL_TOTAL, &inv->total) |
	    db_col_time(res, HDR_COL_DUE_DATE, &inv->due_date) |
	    db_col_time(res, HDR_COL_FINALIZED_AT, &inv->finalized_at) |
	    db_col_time(res, HDR_COL_PAID_AT, &inv->paid_at) |
	    db_col_time(res, HDR_COL_VOIDED_AT, &inv->voided_at) |
	    db_col_time(res, HDR_COL_CREATED_AT, &inv->created_at) |
	    db_col_decimal(res, HDR_COL_CREDIT_NOTES, &inv->credit_notes);
	db_col_text(res, HDR_COL_STRIPE_ID, inv->stripe_invoice_id,
	    sizeof(inv->stripe_invoice_id));
	bad |= db_col_decimal(res, HDR_COL_TAX, &inv->tax);
	v = 0;
	(void)db_col_i64(res, HDR_COL_TAX_EXEMPT, &v);
	inv->tax_exempt = v != 0;
	return bad ? -1 : 0;
}

static int
load_header(struct db *db, uint64_t id, struct invoice *inv)
{
	struct db_result *res = NULL;
	int rc, r, bad = 0;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_HEADER, p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		bad = read_header(res, inv);
	db_result_free(res);
	if (r < 0)
		return r;
	if (r == 0)
		return DB_NOT_FOUND;
	return bad ? DB_ERROR : DB_OK;
}

/* Appends a zeroed element (elem bytes) to *arr of *n, capacity *cap,
 * doubling it when full; returns the new slot, or NULL (the array as it
 * was) when out of memory. */
static void *
push(void **arr, size_t *n, size_t *cap, size_t elem)
{
	void *na;

	if (*n == *cap) {
		if ((na = grow_array(*arr, cap, elem)) == NULL)
			return NULL;
		*arr = na;
	}
	memset((char *)*arr + *n * elem, 0, elem);
	return (char *)*arr + (*n)++ * elem;
}

static int
load_lines(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	size_t cap = 0;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_LINES, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_line *l = push((void **)&inv->lines, &inv->nlines,
		    &cap, sizeof(*l));

		if (l == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, LINE_COL_NO, &v);
		l->line_no = (unsigned)v;
		db_col_text(res, LINE_COL_KIND, l->kind, sizeof(l->kind));
		db_col_text(res, LINE_COL_RESOURCE, l->resource_type,
		    sizeof(l->resource_type));
		db_col_text(res, LINE_COL_DESCRIPTION, l->description,
		    sizeof(l->description));
		db_col_text(res, LINE_COL_UNIT, l->unit, sizeof(l->unit));
		if (db_col_decimal(res, LINE_COL_QUANTITY, &l->quantity) ||
		    db_col_decimal(res, LINE_COL_UNIT_PRICE, &l->unit_price) ||
		    db_col_decimal(res, LINE_COL_AMOUNT, &l->amount)) {
			r = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
load_applied(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	size_t cap = 0;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_APPLIED, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_credit *c = push((void **)&inv->applied,
		    &inv->napplied, &cap, sizeof(*c));

		if (c == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, APPLIED_COL_CREDIT, &v);
		c->credit_id = (uint64_t)v;
		db_col_decimal(res, APPLIED_COL_AMOUNT, &c->amount);
		db_col_text(res, APPLIED_COL_REASON, c->reason,
		    sizeof(c->reason));
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
load_payments(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	size_t cap = 0;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_PAYMENTS, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_payment *pm = push((void **)&inv->payments,
		    &inv->npayments, &cap, sizeof(*pm));

		if (pm == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, PAY_COL_ID, &v);
		pm->id = (uint64_t)v;
		db_col_decimal(res, PAY_COL_AMOUNT, &pm->amount);
		db_col_text(res, PAY_COL_STATUS, pm->status, sizeof(pm->status));
		db_col_text(res, PAY_COL_METHOD, pm->method, sizeof(pm->method));
		db_col_time(res, PAY_COL_CREATED_AT, &pm->created_at);
		db_col_text(res, PAY_COL_PI, pm->stripe_payment_intent_id,
		    sizeof(pm->stripe_payment_intent_id));
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
load_credit_notes(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	size_t cap = 0;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_CREDIT_NOTES, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_credit_note *cn = push((void **)&inv->notes,
		    &inv->nnotes, &cap, sizeof(*cn));

		if (cn == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, CN_COL_ID, &v);
		cn->id = (uint64_t)v;
		db_col_text(res, CN_COL_NUMBER, cn->number, sizeof(cn->number));
		db_col_text(res, CN_COL_REASON, cn->reason, sizeof(cn->reason));
		db_col_text(res, CN_COL_SETTLEMENT, cn->settlement,
		    sizeof(cn->settlement));
		db_col_text(res, CN_COL_METHOD, cn->refund_method,
		    sizeof(cn->refund_method));
		db_col_text(res, CN_COL_STRIPE, cn->stripe_refund_id,
		    sizeof(cn->stripe_refund_id));
		if (db_col_decimal(res, CN_COL_AMOUNT, &cn->amount) != 0 ||
		    db_col_decimal(res, CN_COL_REFUND, &cn->refund_amount) != 0 ||
		    db_col_time(res, CN_COL_CREATED, &cn->created_at) != 0) {
			r = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

int
invoice_load_summary(struct db *db, uint64_t id, struct invoice *out)
{
	memset(out, 0, sizeof(*out));
	return load_header(db, id, out);
}

int
invoice_load(struct db *db, uint64_t id, struct invoice *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = load_header(db, id, out)) != DB_OK ||
	    (rc = load_lines(db, out)) != DB_OK ||
	    (rc = load_applied(db, out)) != DB_OK ||
	    (rc = load_payments(db, out)) != DB_OK ||
	    (rc = load_credit_notes(db, out)) != DB_OK ||
	    (rc = invoice_tax_load(db, out)) != DB_OK) {
		invoice_free(out);
		return rc;
	}
	return DB_OK;
}

void
invoice_free(struct invoice *inv)
{
	if (inv == NULL)
		return;
	free(inv->lines);
	free(inv->applied);
	free(inv->payments);
	free(inv->notes);
	inv->notes = NULL;
	inv->nnotes = 0;
	free(inv->taxes);
	free(inv->bill_to);
	free(inv->issuer);
	inv->taxes = NULL;
	inv->bill_to = NULL;
	inv->issuer = NULL;
	inv->issued = 0;
	inv->ntaxes = 0;
	inv->lines = NULL;
	inv->applied = NULL;
	inv->payments = NULL;
	inv->nlines = inv->napplied = inv->npayments = 0;
}

static struct json_object *
time_or_null(int64_t usec)
{
	return usec ? json_time(usec) : NULL;
}

static struct json_object *
str_or_null(const char *s)
{
	return s[0] ? json_object_new_string(s) : NULL;
}

struct json_object *
invoice_json(const struct invoice *inv, int details)
{
	struct json_object *o = json_object_new_object(), *arr;
	size_t i;

	json_object_object_add(o, "id", json_object_new_int64((int64_t)inv->id));
	json_object_object_add(o, "user_id", json_object_new_string(inv->user_id));
	json_object_object_add(o, "invoice_number", str_or_null(inv->number));
	json_object_object_add(o, "kind", json_object_new_string(inv->kind));
	json_object_object_add(o, "status", json_object_new_string(inv->status));
	json_object_object_add(o, "billing_mode",
	    json_object_new_string(inv->billing_mode));
	json_object_object_add(o, "plan_id", str_or_null(inv->plan_id));
	json_object_object_add(o, "period_start", json_time(inv->period_start));
	json_object_object_add(o, "period_end", json_time(inv->period_end));
	json_object_object_add(o, "currency", json_object_new_string(inv->currency));
	json_object_object_add(o, "subtotal", json_money(inv->subtotal, 2));
	json_object_object_add(o, "credits", json_money(inv->credits, 2));
	json_object_object_add(o, "tax", json_money(inv->tax, 2));
	json_object_object_add(o, "tax_exempt",
	    json_object_new_boolean(inv->tax_exempt));
	json_object_object_add(o, "total", json_money(inv->total, 2));
	json_object_object_add(o, "credited", json_money(inv->credit_notes, 2));
	json_object_object_add(o, "amount_due",
	    json_money(invoice_amount_due(inv), 2));
	json_object_object_add(o, "due_date", time_or_null(inv->due_date));
	json_object_object_add(o, "finalized_at", time_or_null(inv->finalized_at));
	json_object_object_add(o, "paid_at", time_or_null(inv->paid_at));
	json_object_object_add(o, "voided_at", time_or_null(inv->voided_at));
	json_object_object_add(o, "created_at", json_time(inv->created_at));
	json_object_object_add(o, "stripe_invoice_id",
	    str_or_null(inv->stripe_invoice_id));
	if (!details)
		return o;

	arr = json_object_new_array();
	for (i = 0; i < inv->nlines; i++) {
		const struct invoice_line *l = &inv->lines[i];
		struct json_object *lo = json_object_new_object();

		json_object_object_add(lo, "line_no",
		    json_object_new_int((int)l->line_no));
		json_object_object_add(lo, "kind", json_object_new_string(l->kind));
		json_object_object_add(lo, "resource_type",
		    str_or_null(l->resource_type));
		json_object_object_add(lo, "description",
		    json_object_new_string(l->description));
		json_object_object_add(lo, "quantity", json_money_trim(l->quantity, 0));
		json_object_object_add(lo, "unit", json_object_new_string(l->unit));
		json_object_object_add(lo, "unit_price",
		    json_money_trim(l->unit_price, 2));
		json_object_object_add(lo, "amount", json_money(l->amount, 2));
		json_object_object_add(lo, "currency",
		    json_object_new_string(inv->currency));
		json_object_array_add(arr, lo);
	}
	json_object_object_add(o, "lines", arr);
	invoice_tax_json(inv, o);
	arr = json_object_new_array();
	for (i = 0; i < inv->napplied; i++) {
		struct json_object *co = json_object_new_object();

		json_object_object_add(co, "credit_id",
		    json_object_new_int64((int64_t)inv->applied[i].credit_id));
		json_object_object_add(co, "amount",
		    json_money(inv->applied[i].amount, 2));
		json_object_object_add(co, "currency",
		    json_object_new_string(inv->currency));
		json_object_object_add(co, "reason",
		    json_object_new_string(inv->applied[i].reason));
		json_object_array_add(arr, co);
	}
	json_object_object_add(o, "credits_applied", arr);
	arr = json_object_new_array();
	for (i = 0; i < inv->npayments; i++) {
		const struct invoice_payment *pm = &inv->payments[i];
		struct json_object *po = json_object_new_object();

		json_object_object_add(po, "id", json_object_new_int64((int64_t)pm->id));
		json_object_object_add(po, "amount", json_money(pm->amount, 2));
		json_object_object_add(po, "currency",
		    json_object_new_string(inv->currency));
		json_object_object_add(po, "status", json_object_new_string(pm->status));
		json_object_object_add(po, "method", json_object_new_string(pm->method));
		json_object_object_add(po, "created_at", json_time(pm->created_at));
		json_object_object_add(po, "stripe_payment_intent_id",
		    str_or_null(pm->stripe_payment_intent_id));
		json_object_array_add(arr, po);
	}
	json_object_object_add(o, "payments", arr);
	arr = json_object_new_array();
	for (i = 0; i < inv->nnotes; i++) {
		const struct invoice_credit_note *cn = &inv->notes[i];
		struct json_object *co = json_object_new_object(), *ro = NULL;

		json_object_object_add(co, "id",
		    json_object_new_int64((int64_t)cn->id));
		json_object_object_add(co, "credit_note_number",
		    json_object_new_string(cn->number));
		json_object_object_add(co, "amount", json_money(cn->amount, 2));
		json_object_object_add(co, "currency",
		    json_object_new_string(inv->currency));
		json_object_object_add(co, "reason",
		    json_object_new_string(cn->reason));
		json_object_object_add(co, "settlement",
		    json_object_new_string(cn->settlement));
		if (cn->refund_amount > 0) {
			ro = json_object_new_object();
			json_object_object_add(ro, "amount",
			    json_money(cn->refund_amount, 2));
			json_object_object_add(ro, "method",
			    json_object_new_string(cn->refund_method));
			json_object_object_add(ro, "stripe_refund_id",
			    str_or_null(cn->stripe_refund_id));
		}
		json_object_object_add(co, "refund", ro);
		json_object_object_add(co, "created_at", json_time(cn->created_at));
		json_object_array_add(arr, co);
	}
	json_object_object_add(o, "credit_notes", arr);
	return o;
}

enum result_code
invoice_list(struct db *db, struct invoice_page *pg, struct result *r)
{
	struct db_result *res = NULL;
	struct invoice *inv;
	int rc, f;

	pg->items = NULL;
	pg->n = 0;
	pg->next_cursor = 0;
	if ((pg->items = calloc(pg->limit ? pg->limit : 1,
	    sizeof(*pg->items))) == NULL)
		return result_set(r, RESULT_ERROR, NULL, "out of memory");
	uint64_t before = pg->before ? pg->before :
	    UINT64_C(9000000000000000000);
	char from[TIME_TEXT_MAX], to[TIME_TEXT_MAX];
	struct db_param p[] = { DBP_STR(pg->user_id), DBP_INT(before),
	    DBP_STR(pg->status), DBP_STR(pg->status), DBP_INT(pg->drafts ? 1 : 0),
	    DBP_INT(pg->limit + 1) };

	if (pg->every_user) {
		time_format_db(pg->from, from, sizeof(from));
		time_format_db(pg->to, to, sizeof(to));
		struct db_param a[] = { DBP_INT(before), DBP_STR(pg->status),
		    DBP_STR(pg->status), DBP_STR(pg->user_id),
		    DBP_STR(pg->user_id),
		    pg->to > 0 ? DBP_STR(to) : DBP_NULLV, DBP_STR(to),
		    DBP_STR(from), DBP_INT(pg->limit + 1) };
		rc = db_get(db, &invoices_stmts, INVOICES_LIST_ALL, a, 9, &res);
	} else
		rc = db_get(db, &invoices_stmts, INVOICES_LIST, p, 6, &res);
	if (rc != DB_OK)
		return result_db(r, rc);
	/* one row more than a page says there is a next one */
	while ((f = db_fetch(res)) == 1) {
		if (pg->n == pg->limit) {
			pg->next_cursor = pg->n ? pg->items[pg->n - 1].id : 0;
			break;
		}
		inv = &pg->items[pg->n];
		if (read_header(res, inv) != 0) {
			f = DB_ERROR;
			break;
		}
		pg->n++;
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	return result_set(r, RESULT_OK, NULL, "ok");
}

void
invoice_page_free(struct invoice_page *pg)
{
	free(pg->items);
	pg->items = NULL;
	pg->n = 0;
}

int
invoice_lock(struct db *db, uint64_t id, struct invoice_locked *out)
{
	struct db_result *res = NULL;
	int64_t v = 0;
	int rc, r;

	memset(out, 0, sizeof(*out));
	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &invoices_stmts, INVOICES_LOCK, p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, LOCK_COL_ACCOUNT_ID, &v);
		out->account_id = (uint64_t)v;
		db_col_text(res, LOCK_COL_STATUS, out->status,
		    sizeof(out->status));
		db_col_text(res, LOCK_COL_CURRENCY, out->currency,
		    sizeof(out->currency));
		db_col_text(res, LOCK_COL_STRIPE_ID, out->stripe_invoice_id,
		    sizeof(out->stripe_invoice_id));
		db_col_text(res, LOCK_COL_NUMBER, out->number,
		    sizeof(out->number));
		db_col_text(res, LOCK_COL_KIND, out->kind, sizeof(out->kind));
		if (db_col_time(res, LOCK_COL_PERIOD_START,
		    &out->period_start) != 0 ||
		    db_col_time(res, LOCK_COL_PERIOD_END, &out->period_end) != 0 ||
		    db_col_decimal(res, LOCK_COL_SUBTOTAL, &out->subtotal) != 0 ||
		    db_col_decimal(res, LOCK_COL_TOTAL, &out->total) != 0 ||
		    db_col_decimal(res, LOCK_COL_CREDIT_NOTES,
		    &out->credit_notes) != 0)
			r = DB_ERROR;
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* Decimal text for a bind, kept alive in buf. */
static struct db_param
dec_param(int64_t micros, char *buf, size_t size)
{
	money_format(micros, 2, buf, size);
	return DBP_STR(buf);
}

int
invoice_store_amounts(struct db *db, uint64_t id, int64_t subtotal)
{
	char st[32], tt[32];

	struct db_param p[] = { dec_param(subtotal, st, sizeof(st)),
	    dec_param(subtotal, tt, sizeof(tt)), DBP_INT(id) };
	return db_run(db, &invoices_stmts, INVOICES_SET_AMOUNTS, p, 3, NULL,
	    NULL);
}

int
invoice_store_final(struct db *db, uint64_t id, const char *number,
    int64_t credits, int64_t total, const char *now, const char *due,
    const char *issued)
{
	char cr[32], tot[32];

	struct db_param p[] = { DBP_STR(number),
	    dec_param(credits, cr, sizeof(cr)),
	    dec_param(total, tot, sizeof(tot)),
	    DBP_STR(now), DBP_STR(due),
	    issued != NULL ? DBP_STR(issued) : DBP_NULLV, DBP_INT(id) };
	return db_run(db, &invoices_stmts, INVOICES_FINALIZE, p, 7, NULL, NULL);
}

int
invoice_mark_paid(struct db *db, uint64_t id, const char *paid_at)
{
	struct db_param p[] = { DBP_STR(paid_at), DBP_INT(id) };

	return db_run(db, &invoices_stmts, INVOICES_SET_PAID, p, 2, NULL, NULL);
}

int
invoice_mark_void(struct db *db, uint64_t id, const char *now)
{
	struct db_param p[] = { DBP_STR(now), DBP_INT(id) };

	return db_run(db, &invoices_stmts, INVOICES_SET_VOID, p, 2, NULL, NULL);
}

int
invoice_mark_overdue(struct db *db, const char *now, uint64_t *count)
{
	struct db_param p[] = { DBP_STR(now) };

	return db_run(db, &invoices_stmts, INVOICES_SET_OVERDUE, p, 1, count,
	    NULL);
}

int
invoice_add_credit_note(struct db *db, uint64_t id, int64_t amount)
{
	char a[32];

	struct db_param p[] = { dec_param(amount, a, sizeof(a)), DBP_INT(id) };
	return db_run(db, &invoices_stmts, INVOICES_ADD_CREDIT_NOTE, p, 2, NULL,
	    NULL);
}

int64_t
invoice_amount_due(const struct invoice *inv)
{
	int64_t due = inv->total - inv->credit_notes;
	size_t i;

	if (strcmp(inv->status, "sent") != 0 &&
	    strcmp(inv->status, "overdue") != 0 &&
	    strcmp(inv->status, "draft") != 0)
		return 0;   /* paid or void: nothing is due */
	for (i = 0; i < inv->npayments; i++)
		if (strcmp(inv->payments[i].status, "succeeded") == 0)
			due -= inv->payments[i].amount;
	return due > 0 ? due : 0;
}

int
invoice_link_stripe(struct db *db, uint64_t id, const char *stripe_invoice_id)
{
	struct db_param p[] = { DBP_STR(stripe_invoice_id), DBP_INT(id) };

	return db_run(db, &invoices_stmts, INVOICES_LINK_STRIPE, p, 2, NULL,
	    NULL);
}
