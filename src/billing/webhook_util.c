/*
 * Helpers shared by the Stripe webhook's endpoint and handlers (webhook.h):
 * the log note and the ignored outcome of the event being applied, typed
 * access to the fields of Stripe objects, id and time conversion, and
 * finding and locking the account an event is about.
 *
 * Stripe's objects are read defensively: a field of the wrong type, an id
 * that is not printable ASCII or too long for our columns, or a time out
 * of range reads as absent, so a handler ignores the event rather than
 * storing something odd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "db.h"
#include "id.h"
#include "timeutil.h"
#include "webhook.h"

static const char SQL_ACCOUNT_BY_CUSTOMER[] =
    "SELECT id FROM billing_accounts WHERE stripe_customer_id = ?";
static const char SQL_ACCOUNT_BY_SUB[] =
    "SELECT account_id FROM billing_subscriptions "
    "WHERE stripe_subscription_id = ?";
static const char SQL_LOCK_ACCOUNT[] =
    "SELECT id FROM billing_accounts WHERE id = ? FOR UPDATE";

/* -- the event ------------------------------------------------------------ */

/* Appends to the log note ("; " between parts). */
void
wh_note(struct wh *w, const char *fmt, ...)
{
	size_t n = strlen(w->note);
	va_list ap;

	if (n > 0 && n + 2 < sizeof(w->note)) {
		memcpy(w->note + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(w->note + n, sizeof(w->note) - n, fmt, ap);
	va_end(ap);
}

/* Marks the event acknowledged without effect (it is still recorded). */
int
wh_ignore(struct wh *w, const char *reason)
{
	w->outcome = OUT_IGNORED;
	w->reason = reason;
	return DB_OK;
}

/* -- Stripe objects ------------------------------------------------------- */

/* o[key], or NULL when o is not an object, key is absent or null. */
struct json_object *
wh_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A string field without NUL bytes (borrowed), or NULL. */
const char *
wh_jtext(struct json_object *o, const char *key)
{
	struct json_object *v = wh_jget(o, key);
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* 1..STRIPE_ID_MAX bytes of printable ASCII without blanks. */
int
wh_id_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= STRIPE_ID_MAX || (unsigned char)s[n] <= 0x20 ||
		    (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0;
}

/* A Stripe id: the string, or an expanded object's "id".  Borrowed. */
const char *
wh_jid(struct json_object *o, const char *key)
{
	struct json_object *v = wh_jget(o, key);
	const char *s;

	s = json_object_is_type(v, json_type_object) ? wh_jtext(v, "id") :
	    wh_jtext(o, key);
	return wh_id_ok(s) ? s : NULL;
}

/* An integer field: 1 present, 0 absent or null, -1 another type. */
int
wh_jint(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v = wh_jget(o, key);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 1;
}

/* The first element of a Stripe list (o[key].data[0]), or NULL. */
struct json_object *
wh_jfirst(struct json_object *o, const char *key)
{
	struct json_object *data = wh_jget(wh_jget(o, key), "data");

	if (!json_object_is_type(data, json_type_array) ||
	    json_object_array_length(data) == 0)
		return NULL;
	return json_object_array_get_idx(data, 0);
}

/* -- conversions ---------------------------------------------------------- */

/* Our numeric ids as text (metadata values are strings; id.h); 0 when
 * it is not one. */
uint64_t
wh_parse_id(const char *s)
{
	int64_t v;

	return id_parse(s, &v) == 0 ? (uint64_t)v : 0;
}

/* Unix seconds as DATETIME(6) text.  0, or -1 when out of range. */
int
wh_sec_text(int64_t sec, char buf[TIME_TEXT_MAX])
{
	if (sec < 0 || sec > TIME_MAX_SEC)
		return -1;
	return time_format_db(sec * USEC_PER_SEC, buf, TIME_TEXT_MAX) < 0 ?
	    -1 : 0;
}

/* -- the database --------------------------------------------------------- */

/*
 * Runs sql and copies the first row's first ncols columns as text ("" for
 * NULL) into cols.  DB_OK, DB_NOT_FOUND or an error.
 */
int
wh_query_row(struct db *db, const char *sql, const struct db_param *p,
    size_t np, char (*cols)[COL_MAX], size_t ncols)
{
	struct db_result *res = NULL;
	const char *v;
	size_t i;
	int rc, r;

	if ((rc = db_query(db, sql, p, np, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		for (i = 0; i < ncols; i++) {
			v = db_col(res, i, NULL);
			snprintf(cols[i], COL_MAX, "%s", v != NULL ? v : "");
		}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* -- accounts ------------------------------------------------------------- */

int
wh_account_by_customer(struct db *db, const char *customer,
    struct account *out)
{
	int64_t id;
	int rc;

	if (customer == NULL)
		return DB_NOT_FOUND;
	struct db_param p[] = { DBP_STR(customer) };
	if ((rc = db_query_i64(db, SQL_ACCOUNT_BY_CUSTOMER, p, 1, &id)) != DB_OK)
		return rc;
	return account_get(db, (uint64_t)id, out);
}

int
wh_account_by_subscription(struct db *db, const char *sub_id,
    struct account *out)
{
	int64_t id;
	int rc;

	if (sub_id == NULL)
		return DB_NOT_FOUND;
	struct db_param p[] = { DBP_STR(sub_id) };
	if ((rc = db_query_i64(db, SQL_ACCOUNT_BY_SUB, p, 1, &id)) != DB_OK)
		return rc;
	return account_get(db, (uint64_t)id, out);
}

int
wh_account_by_user(struct db *db, const char *user_id,
    struct account *out)
{
	if (user_id == NULL || !account_user_id_valid(user_id))
		return DB_NOT_FOUND;
	return account_find(db, user_id, out);
}

/* Locks the account's row until the transaction ends and reloads it. */
int
wh_lock_account(struct db *db, struct account *acct)
{
	int64_t id;
	int rc;

	struct db_param p[] = { DBP_INT(acct->id) };
	if ((rc = db_query_i64(db, SQL_LOCK_ACCOUNT, p, 1, &id)) != DB_OK)
		return rc;
	return account_get(db, acct->id, acct);
}
