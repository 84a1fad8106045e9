/*
 * invoice_issued: what an invoice was issued with, kept so that its
 * documents never change after it got its number (sql/016).
 *
 * When an invoice is finalized (invoice_build.c, invoice_batch.c,
 * invoice_stripe.c) the caller stores, in the same transaction, the text
 * made here: one JSON object with the customer's block (the account's
 * billing name, address lines, country, tax id), the issuer's (the config's
 * invoiceIssuer) and the zones of the period's dates, from the account's
 * zone history as it stood then.  Empty fields are left out.
 *
 * invoice_issued_load reads it back into the invoice (bill_to, issuer,
 * zone, start_zone), or, for a draft or an invoice finalized before
 * sql/016 (no text stored), the account's current details.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "json_util.h"
#include "period.h"
#include "tz.h"

#define ISSUED_DEPTH 4          /* object, block, address lines */

enum { ISSUED_GET, ISSUED_NSTMTS };
static const struct db_stmt issued_sql[ISSUED_NSTMTS] = {
	[ISSUED_GET] = { "SELECT issued_details FROM "
	    "billing_invoices WHERE id = ?", 1, 1 },
};
const struct db_stmts invoice_issued_stmts = DB_STMTS("invoice_issued",
    issued_sql);

/* The issuer as issued: one heap block (free() releases it all), whose
 * struct invoice_issuer points into its own buffers. */
struct issued_issuer {
	struct invoice_issuer is;      /* first: the block's address */
	char name[ACCOUNT_TEXT_MAX + 1];
	char address[CONFIG_MAX_ADDRESS_LINES][ACCOUNT_TEXT_MAX + 1];
	char email[ACCOUNT_TEXT_MAX + 1];
	char tax_id[ACCOUNT_TAX_ID_MAX + 1];
};

void
invoice_issued_address(const char *text, struct account_billing *b)
{
	const char *nl;
	size_t len;

	b->naddress = 0;
	while (text != NULL && *text != '\0' &&
	    b->naddress < ACCOUNT_ADDRESS_LINES) {
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

/* key: s, unless s is NULL or "". */
static void
add_text(struct json_object *o, const char *key, const char *s)
{
	if (s != NULL && s[0] != '\0')
		json_object_object_add(o, key, json_object_new_string(s));
}

static struct json_object *
lines_json(char *const *lines, size_t n)
{
	struct json_object *arr = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(lines[i]));
	return arr;
}

/* A zone's name as stored: "UTC" for none. */
static const char *
zone_name(const char *z)
{
	return z != NULL && z[0] != '\0' ? z : TZ_UTC;
}

char *
invoice_issued_text(const struct account_billing *b,
    const struct invoice_issuer *is, int64_t start, int64_t end)
{
	struct json_object *o, *c, *i, *arr;
	const char *zone, *start_zone, *s;
	char *out = NULL;
	size_t k;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	c = json_object_new_object();
	add_text(c, "name", b->name);
	arr = json_object_new_array();
	for (k = 0; k < b->naddress; k++)
		json_object_array_add(arr, json_object_new_string(b->address[k]));
	json_object_object_add(c, "address", arr);
	add_text(c, "country", b->country);
	add_text(c, "tax_id", b->tax_id);
	json_object_object_add(o, "bill_to", c);

	i = json_object_new_object();
	if (is != NULL) {
		add_text(i, "name", is->name);
		json_object_object_add(i, "address", lines_json(is->address,
		    is->n_address));
		add_text(i, "email", is->email);
		add_text(i, "tax_id", is->tax_id);
	}
	json_object_object_add(o, "issuer", i);

	/* the zones as the PDF names them: the period's last instant's, and
	 * the instant's before its start (the zone before a change, for the
	 * one period that starts at the old zone's midnight) */
	zone = zone_name(period_zone_at(&b->zone, end > start ? end - 1 : end));
	start_zone = zone_name(period_zone_at(&b->zone, start - 1));
	json_object_object_add(o, "timezone", json_object_new_string(zone));
	if (strcmp(zone, start_zone) != 0)
		json_object_object_add(o, "start_timezone",
		    json_object_new_string(start_zone));
	if ((s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) !=
	    NULL)
		out = strdup(s);
	json_object_put(o);
	return out;
}

/* obj's key as text into buf ("" when absent or not a string). */
static void
get_text(struct json_object *obj, const char *key, char *buf, size_t size)
{
	struct json_object *v;

	buf[0] = '\0';
	if (obj != NULL && json_object_object_get_ex(obj, key, &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(buf, size, "%s", json_object_get_string(v));
}

/* obj's key, an array of strings, into at most max lines of buf. */
static size_t
get_lines(struct json_object *obj, const char *key, char *buf, size_t width,
    size_t max)
{
	struct json_object *arr, *v;
	size_t n = 0, i, len;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return 0;
	len = json_object_array_length(arr);
	for (i = 0; i < len && n < max; i++) {
		v = json_object_array_get_idx(arr, i);
		if (json_object_is_type(v, json_type_string))
			snprintf(buf + n++ * width, width, "%s",
			    json_object_get_string(v));
	}
	return n;
}

/* The stored text into inv: bill_to, issuer, zones.  0, or -1 when it
 * cannot be read (out of memory, not the JSON written here). */
static int
parse(const char *text, size_t len, struct invoice *inv)
{
	struct json_object *o, *c = NULL, *i = NULL;
	struct account_billing *b;
	struct issued_issuer *ii;
	const char *why;
	size_t k;
	int rc = -1;

	if ((o = json_parse_limited(text, len, ISSUED_DEPTH, &why)) == NULL ||
	    !json_object_is_type(o, json_type_object))
		goto out;
	(void)json_object_object_get_ex(o, "bill_to", &c);
	(void)json_object_object_get_ex(o, "issuer", &i);
	if ((b = calloc(1, sizeof(*b))) == NULL)
		goto out;
	inv->bill_to = b;
	get_text(c, "name", b->name, sizeof(b->name));
	b->naddress = get_lines(c, "address", &b->address[0][0],
	    sizeof(b->address[0]), ACCOUNT_ADDRESS_LINES);
	get_text(c, "country", b->country, sizeof(b->country));
	get_text(c, "tax_id", b->tax_id, sizeof(b->tax_id));
	get_text(o, "timezone", inv->zone, sizeof(inv->zone));
	get_text(o, "start_timezone", inv->start_zone, sizeof(inv->start_zone));
	if (inv->start_zone[0] == '\0')
		snprintf(inv->start_zone, sizeof(inv->start_zone), "%s",
		    inv->zone);
	snprintf(b->zone.zone, sizeof(b->zone.zone), "%s", inv->zone);
	if ((ii = calloc(1, sizeof(*ii))) == NULL)
		goto out;
	inv->issuer = &ii->is;
	get_text(i, "name", ii->name, sizeof(ii->name));
	get_text(i, "email", ii->email, sizeof(ii->email));
	get_text(i, "tax_id", ii->tax_id, sizeof(ii->tax_id));
	ii->is.n_address = get_lines(i, "address", &ii->address[0][0],
	    sizeof(ii->address[0]), CONFIG_MAX_ADDRESS_LINES);
	for (k = 0; k < ii->is.n_address; k++)
		ii->is.address[k] = ii->address[k];
	ii->is.name = ii->name[0] != '\0' ? ii->name : NULL;
	ii->is.email = ii->email[0] != '\0' ? ii->email : NULL;
	ii->is.tax_id = ii->tax_id[0] != '\0' ? ii->tax_id : NULL;
	inv->issued = 1;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int
invoice_issued_load(struct db *db, struct invoice *inv)
{
	struct db_result *res = NULL;
	const char *text;
	size_t len = 0;
	int rc, f, stored = 0;

	struct db_param p[] = { DBP_INT(inv->id) };
	if ((rc = db_get(db, &invoice_issued_stmts, ISSUED_GET, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((f = db_fetch(res)) == 1 && (text = db_col(res, 0, &len)) != NULL &&
	    len > 0) {
		stored = 1;
		f = parse(text, len, inv) == 0 ? 1 : DB_ERROR;
	}
	db_result_free(res);
	if (f < 0)
		return f;
	if (stored)
		return DB_OK;
	/* a draft, or finalized before sql/016: the current details */
	if ((inv->bill_to = calloc(1, sizeof(*inv->bill_to))) == NULL)
		return DB_ERROR;
	rc = account_billing_get(db, inv->account_id, 0, inv->bill_to);
	return rc == DB_NOT_FOUND ? DB_OK : rc;
}

static struct json_object *
text_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_object_new_string(s) : NULL;
}

void
invoice_issued_json(const struct invoice *inv, struct json_object *o)
{
	const struct account_billing *bt = inv->bill_to;
	const struct invoice_issuer *is = inv->issuer;
	struct json_object *b, *arr;
	size_t i;

	if (bt == NULL) {
		json_object_object_add(o, "bill_to", NULL);
	} else {
		b = json_object_new_object();
		json_object_object_add(b, "name", text_or_null(bt->name));
		arr = json_object_new_array();
		for (i = 0; i < bt->naddress; i++)
			json_object_array_add(arr,
			    json_object_new_string(bt->address[i]));
		json_object_object_add(b, "address", arr);
		json_object_object_add(b, "country", text_or_null(bt->country));
		json_object_object_add(b, "tax_id", text_or_null(bt->tax_id));
		json_object_object_add(o, "bill_to", b);
	}
	if (is == NULL) {
		json_object_object_add(o, "issuer", NULL);
		return;
	}
	b = json_object_new_object();
	json_object_object_add(b, "name", text_or_null(is->name));
	json_object_object_add(b, "address", lines_json(is->address,
	    is->n_address));
	json_object_object_add(b, "email", text_or_null(is->email));
	json_object_object_add(b, "tax_id", text_or_null(is->tax_id));
	json_object_object_add(o, "issuer", b);
}
