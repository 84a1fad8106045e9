/*
 * invoices: reading an invoice with its lines, credits and payments, and its
 * JSON form.  Building and finalizing live in invoice_build.c, the invoice
 * job in invoice_job.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "db.h"
#include "grow.h"
#include "invoices.h"
#include "json_util.h"
#include "money.h"
#include "timeutil.h"

static const char SQL_INVOICE[] =
    "SELECT i.id, i.account_id, a.user_id, COALESCE(a.email, ''), "
    "COALESCE(i.invoice_number, ''), i.kind, i.status, i.currency, "
    "i.billing_mode, COALESCE(i.plan_id, ''), i.period_start, i.period_end, "
    "i.subtotal, i.credits, i.total, i.due_date, i.finalized_at, i.paid_at, "
    "i.voided_at, i.created_at, COALESCE(i.stripe_invoice_id, '') "
    "FROM billing_invoices i JOIN billing_accounts a ON a.id = i.account_id "
    "WHERE i.id = ?";
static const char SQL_LINES[] =
    "SELECT line_no, kind, COALESCE(resource_type, ''), description, quantity, "
    "unit, unit_price, amount FROM billing_invoice_lines WHERE invoice_id = ? "
    "ORDER BY line_no";
static const char SQL_APPLIED[] =
    "SELECT ca.credit_id, ca.amount, c.reason FROM billing_credit_applications ca "
    "JOIN billing_credits c ON c.id = ca.credit_id WHERE ca.invoice_id = ? "
    "ORDER BY ca.id";
static const char SQL_PAYMENTS[] =
    "SELECT id, amount, status, method, created_at, "
    "COALESCE(stripe_payment_intent_id, '') FROM billing_payments "
    "WHERE invoice_id = ? ORDER BY id";

static int
load_header(struct db *db, uint64_t id, struct invoice *inv)
{
	struct db_result *res = NULL;
	int64_t v;
	int rc, r, bad = 0;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_query(db, SQL_INVOICE, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, 0, &v);
		inv->id = (uint64_t)v;
		db_col_i64(res, 1, &v);
		inv->account_id = (uint64_t)v;
		db_col_text(res, 2, inv->user_id, sizeof(inv->user_id));
		db_col_text(res, 3, inv->email, sizeof(inv->email));
		db_col_text(res, 4, inv->number, sizeof(inv->number));
		db_col_text(res, 5, inv->kind, sizeof(inv->kind));
		db_col_text(res, 6, inv->status, sizeof(inv->status));
		db_col_text(res, 7, inv->currency, sizeof(inv->currency));
		db_col_text(res, 8, inv->billing_mode, sizeof(inv->billing_mode));
		db_col_text(res, 9, inv->plan_id, sizeof(inv->plan_id));
		bad |= db_col_time(res, 10, &inv->period_start) | db_col_time(res, 11,
		    &inv->period_end) | db_col_decimal(res, 12, &inv->subtotal) |
		    db_col_decimal(res, 13, &inv->credits) | db_col_decimal(res, 14, &inv->total) |
		    db_col_time(res, 15, &inv->due_date) | db_col_time(res, 16,
		    &inv->finalized_at) | db_col_time(res, 17, &inv->paid_at) |
		    db_col_time(res, 18, &inv->voided_at) | db_col_time(res, 19,
		    &inv->created_at);
		db_col_text(res, 20, inv->stripe_invoice_id,
		    sizeof(inv->stripe_invoice_id));
	}
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
	if ((rc = db_query(db, SQL_LINES, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_line *l = push((void **)&inv->lines, &inv->nlines,
		    &cap, sizeof(*l));

		if (l == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, 0, &v);
		l->line_no = (unsigned)v;
		db_col_text(res, 1, l->kind, sizeof(l->kind));
		db_col_text(res, 2, l->resource_type, sizeof(l->resource_type));
		db_col_text(res, 3, l->description, sizeof(l->description));
		db_col_text(res, 5, l->unit, sizeof(l->unit));
		if (db_col_decimal(res, 4, &l->quantity) || db_col_decimal(res, 6, &l->unit_price) ||
		    db_col_decimal(res, 7, &l->amount)) {
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
	if ((rc = db_query(db, SQL_APPLIED, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_credit *c = push((void **)&inv->applied,
		    &inv->napplied, &cap, sizeof(*c));

		if (c == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, 0, &v);
		c->credit_id = (uint64_t)v;
		db_col_decimal(res, 1, &c->amount);
		db_col_text(res, 2, c->reason, sizeof(c->reason));
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
	if ((rc = db_query(db, SQL_PAYMENTS, p, 1, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct invoice_payment *pm = push((void **)&inv->payments,
		    &inv->npayments, &cap, sizeof(*pm));

		if (pm == NULL) {
			r = DB_ERROR;
			break;
		}
		db_col_i64(res, 0, &v);
		pm->id = (uint64_t)v;
		db_col_decimal(res, 1, &pm->amount);
		db_col_text(res, 2, pm->status, sizeof(pm->status));
		db_col_text(res, 3, pm->method, sizeof(pm->method));
		db_col_time(res, 4, &pm->created_at);
		db_col_text(res, 5, pm->stripe_payment_intent_id,
		    sizeof(pm->stripe_payment_intent_id));
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
	    (rc = load_payments(db, out)) != DB_OK) {
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
	json_object_object_add(o, "total", json_money(inv->total, 2));
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
	return o;
}
