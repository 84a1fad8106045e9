/*
 * invoice_tax: the tax of an invoice, worked out once when it is finalized
 * and stored with the rate as issued (billing_invoice_taxes), never
 * recomputed: a later change of the config's rate leaves it as it was.
 *
 * One rate per invoice (the account's, else the default), applied to what
 * the invoice charges after credits, rounded half-up once to the minor
 * unit.  All in integers: percent is held in micro-units of a percent and
 * the product is taken with a 128-bit intermediate (money_muldiv).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "invoice_impl.h"
#include "json_util.h"
#include "money.h"
#include "sql_rows.h"

#define HUNDRED_PERCENT (100 * MONEY_SCALE)  /* percent in micro-units */
#define TAX_PARAMS 8

enum { TAX_SET, TAX_LINES, TAX_NSTMTS, TAX_ROWS = TAX_NSTMTS };
enum { TL_RATE, TL_NAME, TL_PERCENT, TL_INCLUSIVE, TL_TAXABLE, TL_AMOUNT,
	TL_NCOLS };
static const struct db_stmt tax_sql[TAX_NSTMTS] = {
	[TAX_SET] = { "UPDATE billing_invoices SET tax = ?, tax_exempt = ? "
	    "WHERE id = ?", 3, 0 },
	[TAX_LINES] = { "SELECT rate_id, name, percent, inclusive, taxable, "
	    "amount FROM billing_invoice_taxes WHERE invoice_id = ? ORDER BY id",
	    1, TL_NCOLS },
};
const struct db_stmts invoice_tax_stmts = DB_STMTS("invoice_tax", tax_sql);

struct sql_rows invoice_tax_rows_insert = SQL_ROWS_STMT("invoice_tax",
    TAX_ROWS, 0, "INSERT INTO billing_invoice_taxes (invoice_id, rate_id, "
    "name, percent, inclusive, taxable, amount) VALUES ", "(?,?,?,?,?,?,?)",
    "");

const struct tax_rate *
invoice_tax_rate(const struct billing_config *cfg, const char *rate_id,
    int exempt)
{
	if (exempt)
		return NULL;
	return config_find_tax_rate(cfg, rate_id != NULL && rate_id[0] != '\0' ?
	    rate_id : cfg->default_tax_rate);
}

int
invoice_tax_amount(int64_t charged, int64_t percent, int inclusive,
    int decimals, int64_t *out)
{
	int64_t unit, minor, tax;

	if (charged < 0 || percent < 0 || percent > HUNDRED_PERCENT ||
	    decimals < 0 || decimals > 2)
		return -1;
	unit = decimals == 2 ? 10000 : 1000000;   /* micro-units per minor unit */
	if (charged % unit != 0)
		return -1;
	minor = charged / unit;
	if (money_muldiv(minor, percent, inclusive ? HUNDRED_PERCENT + percent :
	    HUNDRED_PERCENT, &tax) != 0)
		return -1;
	if (tax > MONEY_MAX_MICROS / unit)
		return -1;
	*out = tax * unit;
	return 0;
}

int
invoice_tax_line(const struct billing_config *cfg, const char *rate_id,
    int exempt, int64_t charged, int decimals, struct invoice_tax *out,
    int *has)
{
	const struct tax_rate *t = invoice_tax_rate(cfg, rate_id, exempt);

	*has = 0;
	memset(out, 0, sizeof(*out));
	/* the account's own rate is gone from the config: never bill it
	 * untaxed by mistake */
	if (t == NULL && !exempt && rate_id != NULL && rate_id[0] != '\0')
		return -2;
	if (t == NULL)
		return 0;
	snprintf(out->rate_id, sizeof(out->rate_id), "%s", t->id);
	snprintf(out->name, sizeof(out->name), "%s", t->name);
	out->percent = t->percent;
	out->inclusive = t->inclusive;
	out->taxable = charged;
	if (invoice_tax_amount(charged, t->percent, t->inclusive, decimals,
	    &out->amount) != 0)
		return -1;
	*has = 1;
	return 0;
}

/* The texts of one row's decimals. */
struct tax_text {
	char percent[32], taxable[32], amount[32];
};

static void
row_params(struct db_param *p, struct tax_text *txt, uint64_t id,
    const struct invoice_tax *t)
{
	money_format(t->percent, 4, txt->percent, sizeof(txt->percent));
	money_format(t->taxable, 2, txt->taxable, sizeof(txt->taxable));
	money_format(t->amount, 2, txt->amount, sizeof(txt->amount));
	p[0] = DBP_INT(id);
	p[1] = DBP_STR(t->rate_id);
	p[2] = DBP_STR(t->name);
	p[3] = DBP_STR(txt->percent);
	p[4] = DBP_INT(t->inclusive ? 1 : 0);
	p[5] = DBP_STR(txt->taxable);
	p[6] = DBP_STR(txt->amount);
}

int
invoice_tax_store(struct db *db, uint64_t id, const struct invoice_tax *t,
    int exempt)
{
	char amount[32];
	int rc;

	money_format(t != NULL ? t->amount : 0, 2, amount, sizeof(amount));
	struct db_param q[] = { DBP_STR(amount), DBP_INT(exempt ? 1 : 0),
	    DBP_INT(id) };
	if ((rc = db_run(db, &invoice_tax_stmts, TAX_SET, q, 3, NULL,
	    NULL)) != DB_OK || t == NULL)
		return rc;
	return invoice_tax_insert_many(db, &id, &t, 1);
}

int
invoice_tax_insert_many(struct db *db, const uint64_t *ids,
    const struct invoice_tax *const *ts, size_t n)
{
	struct db_param *p;
	struct tax_text *txt;
	size_t i = 0, k, m, j, left;
	int rc = DB_OK;

	p = calloc(SQL_ROWS_MAX * TAX_PARAMS, sizeof(*p));
	txt = calloc(SQL_ROWS_MAX, sizeof(*txt));
	if (p == NULL || txt == NULL) {
		free(p);
		free(txt);
		return DB_ERROR;
	}
	while (rc == DB_OK) {
		for (left = 0, m = i; m < n; m++)
			left += ts[m] != NULL;
		if (left == 0)
			break;
		k = sql_rows_chunk(left);
		for (m = 0, j = 0; m < k; i++)
			if (ts[i] != NULL) {
				row_params(p + j, &txt[m], ids[i], ts[i]);
				j += 7;
				m++;
			}
		rc = db_run_rows(db, &invoice_tax_rows_insert, k, p, j, NULL,
		    NULL);
	}
	free(p);
	free(txt);
	return rc;
}

int
invoice_tax_load(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	struct invoice_tax *t;
	int64_t v;
	size_t cap = 0;
	int rc, f;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoice_tax_stmts, TAX_LINES, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		if (inv->ntaxes == cap) {
			void *grown = realloc(inv->taxes, (cap + 4) *
			    sizeof(*inv->taxes));

			if (grown == NULL) {
				f = DB_ERROR;
				break;
			}
			inv->taxes = grown;
			cap += 4;
		}
		t = &inv->taxes[inv->ntaxes++];
		memset(t, 0, sizeof(*t));
		db_col_text(res, TL_RATE, t->rate_id, sizeof(t->rate_id));
		db_col_text(res, TL_NAME, t->name, sizeof(t->name));
		v = 0;
		(void)db_col_i64(res, TL_INCLUSIVE, &v);
		t->inclusive = v != 0;
		if (db_col_decimal(res, TL_PERCENT, &t->percent) != 0 ||
		    db_col_decimal(res, TL_TAXABLE, &t->taxable) != 0 ||
		    db_col_decimal(res, TL_AMOUNT, &t->amount) != 0) {
			f = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	if (f < 0)
		return f;
	/* the customer and issuer as issued (invoice_issued.c) */
	return invoice_issued_load(db, inv);
}

void
invoice_tax_json(const struct invoice *inv, struct json_object *o)
{
	struct json_object *arr, *t;
	size_t i;

	arr = json_object_new_array();
	for (i = 0; i < inv->ntaxes; i++) {
		const struct invoice_tax *x = &inv->taxes[i];

		t = json_object_new_object();
		json_object_object_add(t, "rate_id",
		    json_object_new_string(x->rate_id));
		json_object_object_add(t, "name",
		    json_object_new_string(x->name));
		json_object_object_add(t, "percent",
		    json_money_trim(x->percent, 0));
		json_object_object_add(t, "inclusive",
		    json_object_new_boolean(x->inclusive));
		json_object_object_add(t, "taxable", json_money(x->taxable, 2));
		json_object_object_add(t, "amount", json_money(x->amount, 2));
		json_object_object_add(t, "currency",
		    json_object_new_string(inv->currency));
		json_object_array_add(arr, t);
	}
	json_object_object_add(o, "taxes", arr);
	invoice_issued_json(inv, o);
}
