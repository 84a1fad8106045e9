/*
 * invoice_tax: the tax of an invoice, worked out once when it is finalized
 * and stored with the rate as issued (billing_invoice_taxes), never
 * recomputed: a later change of the config's rate leaves it as it was.
 *
 * A rate per line: a plan's fee at the plan's own rate when it has one,
 * every other line at the account's (else the default).  Each rate taxes
 * what its lines charge less its share of the invoice's credits (split pro
 * rata over the rates' sums, exactly, by largest remainder), rounded
 * half-up once per rate to the minor unit.  All in integers: percent is
 * held in micro-units of a percent and the products are taken with a
 * 128-bit intermediate.
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
#include "log.h"
#include "money.h"
#include "sql_rows.h"

#define HUNDRED_PERCENT (100 * MONEY_SCALE)  /* percent in micro-units */
#define TAX_PARAMS 8

enum { TAX_SET, TAX_LINES, TAX_BASES, TAX_NSTMTS, TAX_ROWS = TAX_NSTMTS };
enum { BASE_RATE, BASE_AMOUNT, BASE_NCOLS };
enum { TL_RATE, TL_NAME, TL_PERCENT, TL_INCLUSIVE, TL_TAXABLE, TL_AMOUNT,
	TL_NCOLS };
static const struct db_stmt tax_sql[TAX_NSTMTS] = {
	[TAX_SET] = { "UPDATE billing_invoices SET tax = ?, tax_exempt = ? "
	    "WHERE id = ?", 3, 0 },
	[TAX_LINES] = { "SELECT rate_id, name, percent, inclusive, taxable, "
	    "amount FROM billing_invoice_taxes WHERE invoice_id = ? ORDER BY id",
	    1, TL_NCOLS },
	[TAX_BASES] = { "SELECT COALESCE(tax_rate_id, ''), amount "
	    "FROM billing_invoice_lines WHERE invoice_id = ? ORDER BY line_no",
	    1, BASE_NCOLS },
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

_Static_assert(INVOICE_MAX_TAXES == CONFIG_MAX_TAX_RATES,
    "an invoice has at most one tax line per configured rate");

__extension__ typedef unsigned __int128 tax_wide;

int
invoice_tax_allocate(const int64_t *bases, size_t n, int64_t credit,
    int decimals, int64_t *shares)
{
	int64_t unit, sum = 0, left, c;
	tax_wide rem[INVOICE_MAX_TAXES + 1];
	int given[INVOICE_MAX_TAXES + 1];
	size_t i, best;

	if (n > INVOICE_MAX_TAXES + 1 || decimals < 0 || decimals > 2 ||
	    credit < 0)
		return -1;
	unit = decimals == 2 ? 10000 : 1000000;   /* micro-units per minor unit */
	for (i = 0; i < n; i++) {
		if (bases[i] < 0 || bases[i] % unit != 0 ||
		    bases[i] > MONEY_MAX_MICROS - sum)
			return -1;
		sum += bases[i];
	}
	if (credit > sum || credit % unit != 0)
		return -1;
	/* in minor units: share = floor(c x base / sum), the remainder kept */
	c = credit / unit;
	left = c;
	for (i = 0; i < n; i++) {
		tax_wide num = (tax_wide)c * (tax_wide)(bases[i] / unit);

		shares[i] = sum == 0 ? 0 : (int64_t)(num / (tax_wide)(sum / unit));
		rem[i] = sum == 0 ? 0 : num % (tax_wide)(sum / unit);
		given[i] = 0;
		left -= shares[i];
	}
	/* fewer minor units left than bases with a remainder: one each to the
	 * largest remainders, the earlier base first on a tie */
	while (left > 0) {
		for (best = n, i = 0; i < n; i++)
			if (!given[i] && rem[i] > 0 &&
			    (best == n || rem[i] > rem[best]))
				best = i;
		if (best == n)
			return -1;      /* cannot happen: the remainders add up */
		given[best] = 1;
		shares[best]++;
		left--;
	}
	for (i = 0; i < n; i++)
		shares[i] *= unit;
	return 0;
}

const char *
invoice_tax_error(int rc)
{
	if (rc == -2)
		return "the account's tax rate is not in the config's taxRates";
	if (rc == -3)
		return "a plan's tax rate on its lines is not in the config's "
		    "taxRates";
	return "the tax is beyond the money range";
}

int
invoice_tax_compute(const struct billing_config *cfg, const char *rate_id,
    int exempt, const struct invoice_line *lines, size_t n, int64_t credits,
    int decimals, struct invoice_taxes *out)
{
	/* the rates' sums, [ng] for the lines no rate taxes */
	const struct tax_rate *rate[INVOICE_MAX_TAXES], *acct, *t;
	int64_t sum[INVOICE_MAX_TAXES + 1], base[INVOICE_MAX_TAXES + 1],
	    share[INVOICE_MAX_TAXES + 1], credit = credits, v;
	size_t ng = 0, i, g;

	memset(out, 0, sizeof(*out));
	if (exempt)
		return 0;
	acct = invoice_tax_rate(cfg, rate_id, 0);
	/* the account's own rate is gone from the config: never bill it
	 * untaxed by mistake */
	if (acct == NULL && rate_id != NULL && rate_id[0] != '\0')
		return -2;
	memset(sum, 0, sizeof(sum));
	for (i = 0; i < n; i++) {
		if (lines[i].tax_rate_id[0] == '\0')
			t = acct;
		else if ((t = config_find_tax_rate(cfg,
		    lines[i].tax_rate_id)) == NULL)
			return -3;
		for (g = 0; t != NULL && g < ng && rate[g] != t; g++)
			;
		if (t == NULL)
			g = INVOICE_MAX_TAXES;
		else if (g == ng) {
			if (ng == INVOICE_MAX_TAXES)
				return -1;
			rate[ng++] = t;
		}
		if (money_add(sum[g], lines[i].amount, &v) != 0)
			return -1;
		sum[g] = v;
	}
	if (ng == 0)
		return 0;
	/* the untaxed lines' sum next to the rates'; a sum below zero (a
	 * plan's proration credit) taxes nothing and counts as a credit */
	sum[ng] = sum[INVOICE_MAX_TAXES];
	for (v = 0, g = 0; g <= ng; g++) {
		base[g] = sum[g] > 0 ? sum[g] : 0;
		v += base[g];           /* no overflow: each below the range */
		if (sum[g] < 0 && money_add(credit, -sum[g], &credit) != 0)
			return -1;
	}
	if (credit > v)
		credit = v;             /* an invoice below zero charges nothing */
	if (invoice_tax_allocate(base, ng + 1, credit, decimals, share) != 0)
		return -1;
	for (g = 0; g < ng; g++) {
		struct invoice_tax *x = &out->t[g];

		snprintf(x->rate_id, sizeof(x->rate_id), "%s", rate[g]->id);
		snprintf(x->name, sizeof(x->name), "%s", rate[g]->name);
		x->percent = rate[g]->percent;
		x->inclusive = rate[g]->inclusive;
		x->taxable = base[g] - share[g];
		if (invoice_tax_amount(x->taxable, x->percent, x->inclusive,
		    decimals, &x->amount) != 0 ||
		    money_add(out->tax, x->amount, &out->tax) != 0 ||
		    (!x->inclusive && money_add(out->added, x->amount,
		    &out->added) != 0))
			return -1;
	}
	out->n = ng;
	return 0;
}

int
invoice_tax_of_invoice(struct db *db, const struct billing_config *cfg,
    uint64_t id, const char *rate_id, int exempt, int64_t credits,
    int decimals, struct invoice_taxes *out)
{
	struct db_result *res = NULL;
	struct invoice_line *lines = NULL, *l;
	size_t n = 0, cap = 0;
	int rc, f;

	struct db_param p[] = { DBP_INT(id) };
	if ((rc = db_get(db, &invoice_tax_stmts, TAX_BASES, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((f = db_fetch(res)) == 1) {
		if (n == cap) {
			void *grown = realloc(lines, (cap + 8) * sizeof(*lines));

			if (grown == NULL) {
				f = DB_ERROR;
				break;
			}
			lines = grown;
			cap += 8;
		}
		l = &lines[n++];
		memset(l, 0, sizeof(*l));
		db_col_text(res, BASE_RATE, l->tax_rate_id,
		    sizeof(l->tax_rate_id));
		if (db_col_decimal(res, BASE_AMOUNT, &l->amount) != 0) {
			f = DB_ERROR;
			break;
		}
	}
	db_result_free(res);
	if (f >= 0 && (rc = invoice_tax_compute(cfg, rate_id, exempt, lines, n,
	    credits, decimals, out)) != 0) {
		log_warnx("invoices: invoice %llu: %s", (unsigned long long)id,
		    invoice_tax_error(rc));
		f = DB_ERROR;
	}
	free(lines);
	return f < 0 ? f : DB_OK;
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
invoice_tax_store(struct db *db, uint64_t id, const struct invoice_taxes *t,
    int exempt)
{
	char amount[32];
	int rc;

	money_format(t->tax, 2, amount, sizeof(amount));
	struct db_param q[] = { DBP_STR(amount), DBP_INT(exempt ? 1 : 0),
	    DBP_INT(id) };
	if ((rc = db_run(db, &invoice_tax_stmts, TAX_SET, q, 3, NULL,
	    NULL)) != DB_OK)
		return rc;
	return invoice_tax_insert_many(db, &id, &t, 1);
}

int
invoice_tax_insert_many(struct db *db, const uint64_t *ids,
    const struct invoice_taxes *const *ts, size_t n)
{
	struct db_param *p;
	struct tax_text *txt;
	size_t i = 0, line = 0, k, m, j, left, a, b;
	int rc = DB_OK;

	p = calloc(SQL_ROWS_MAX * TAX_PARAMS, sizeof(*p));
	txt = calloc(SQL_ROWS_MAX, sizeof(*txt));
	if (p == NULL || txt == NULL) {
		free(p);
		free(txt);
		return DB_ERROR;
	}
	while (rc == DB_OK) {
		/* the tax lines left, up to a full statement */
		for (left = 0, a = i, b = line; a < n && left < SQL_ROWS_MAX;
		    a++, b = 0)
			left += ts[a] != NULL ? ts[a]->n - b : 0;
		if (left == 0)
			break;
		k = sql_rows_chunk(left);
		for (m = 0, j = 0; m < k; m++) {
			while (ts[i] == NULL || line == ts[i]->n) {
				i++;
				line = 0;
			}
			row_params(p + j, &txt[m], ids[i], &ts[i]->t[line++]);
			j += 7;
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
