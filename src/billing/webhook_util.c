/*
 * Helpers shared by the Stripe webhook's endpoint and handlers (webhook.h):
 * the log note and the ignored outcome of the event being applied, typed
 * access to the fields of Stripe objects, id and time conversion, and
 * finding and locking the account an event is about.
 *
 * Stripe's objects are read defensively: a field of the wrong type, an id
 * that breaks the Stripe id rule (stripe_id_valid), or a time out
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
#include "stripe.h"
#include "subscriptions.h"
#include "timeutil.h"
#include "webhook.h"

/* -- the event ------------------------------------------------------------ */

/* Appends to the log note ("; " between parts). */
void
webhook_note(struct webhook_event *w, const char *fmt, ...)
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
webhook_ignore(struct webhook_event *w, const char *reason)
{
	w->outcome = WEBHOOK_IGNORED;
	w->reason = reason;
	return DB_OK;
}

/* -- Stripe objects ------------------------------------------------------- */

/* o[key], or NULL when o is not an object, key is absent or null. */
struct json_object *
webhook_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* A string field without NUL bytes (borrowed), or NULL. */
const char *
webhook_jtext(struct json_object *o, const char *key)
{
	struct json_object *v = webhook_jget(o, key);
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* A Stripe id: the string, or an expanded object's "id".  Borrowed. */
const char *
webhook_jid(struct json_object *o, const char *key)
{
	struct json_object *v = webhook_jget(o, key);
	const char *s;

	s = json_object_is_type(v, json_type_object) ? webhook_jtext(v, "id") :
	    webhook_jtext(o, key);
	return stripe_id_valid(s) ? s : NULL;
}

/* An integer field: 1 present, 0 absent or null, -1 another type. */
int
webhook_jint(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v = webhook_jget(o, key);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	return 1;
}

/* The first element of a Stripe list (o[key].data[0]), or NULL. */
struct json_object *
webhook_jfirst(struct json_object *o, const char *key)
{
	struct json_object *data = webhook_jget(webhook_jget(o, key), "data");

	if (!json_object_is_type(data, json_type_array) ||
	    json_object_array_length(data) == 0)
		return NULL;
	return json_object_array_get_idx(data, 0);
}

/* -- conversions ---------------------------------------------------------- */

/* Our numeric ids as text (metadata values are strings; id.h); 0 when
 * it is not one. */
uint64_t
webhook_parse_id(const char *s)
{
	int64_t v;

	return id_parse(s, &v) == 0 ? (uint64_t)v : 0;
}

/* Unix seconds as DATETIME(6) text.  0, or -1 when out of range. */
int
webhook_sec_text(int64_t sec, char buf[TIME_TEXT_MAX])
{
	if (sec < 0 || sec > WEBHOOK_TIME_MAX_SEC)
		return -1;
	return time_format_db(sec * USEC_PER_SEC, buf, TIME_TEXT_MAX) < 0 ?
	    -1 : 0;
}

/* -- the database --------------------------------------------------------- */

/*
 * Runs statement id of t and copies the first row's first ncols columns as
 * text ("" for NULL) into cols.  DB_OK, DB_NOT_FOUND or an error.
 */
int
webhook_query_row(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *p, size_t np, char (*cols)[WEBHOOK_COL_MAX],
    size_t ncols)
{
	struct db_result *res = NULL;
	const char *v;
	size_t i;
	int rc, r;

	if ((rc = db_get(db, t, id, p, np, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		for (i = 0; i < ncols; i++) {
			v = db_col(res, i, NULL);
			snprintf(cols[i], WEBHOOK_COL_MAX, "%s",
			    v != NULL ? v : "");
		}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* -- accounts ------------------------------------------------------------- */

int
webhook_account_by_customer(struct db *db, const char *customer,
    struct account *out)
{
	return account_find_by_customer(db, customer, out);
}

int
webhook_account_by_subscription(struct db *db, const char *sub_id,
    struct account *out)
{
	return subscription_account(db, sub_id, out);
}

int
webhook_account_by_user(struct db *db, const char *user_id,
    struct account *out)
{
	if (user_id == NULL || !account_user_id_valid(user_id))
		return DB_NOT_FOUND;
	return account_find(db, user_id, out);
}

/* Locks the account's row until the transaction ends and reloads it. */
int
webhook_lock_account(struct db *db, struct account *acct)
{
	return account_lock(db, acct);
}
