/*
 * POST admin/credits (also POST credits): an admin grants a credit to an
 * account.  The account is created when the platform has not reported the
 * user yet, so that a credit can be given ahead of the first session.
 *
 *   {"user_id", "amount", "reason", "expires_at"?, "idempotency_key"?}
 *
 * The body is strict like the hooks': an unknown key is refused with its
 * name.  amount is an exact decimal with at most 2 decimals, above 0 and at
 * most CREDIT_MAX; a date-only expires_at means the end of that day.
 *
 * Idempotency: the unique key on billing_credits.idempotency_key is the
 * guarantee.  A repeated key answers 200 with the stored credit when it was
 * for the same user, amount and reason, and 409 otherwise; never a second
 * credit.  No transaction wraps the insert on purpose: after a duplicate-key
 * error the winner's row must be read with a fresh snapshot, which an open
 * REPEATABLE READ transaction would not give.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "money.h"
#include "timeutil.h"
#include "utf8.h"

#define CREDIT_MAX (100000LL * MONEY_SCALE)  /* 100000.00 per credit */
#define REASON_MAX 500                       /* characters, as the column */
#define KEY_MAX 255                          /* characters, as the column */
#define UTF8_MAX 4                           /* bytes per character */

#define CREDIT_COLUMNS \
	"c.id, a.user_id, c.amount, c.remaining, c.currency, c.reason, " \
	"c.expires_at, c.created_at, c.created_by"

static const char SQL_INSERT[] =
    "INSERT INTO billing_credits (account_id, amount, remaining, currency, "
    "reason, expires_at, created_by, idempotency_key, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_BY_ID[] =
    "SELECT " CREDIT_COLUMNS " FROM billing_credits c "
    "JOIN billing_accounts a ON a.id = c.account_id WHERE c.id = ?";
static const char SQL_BY_KEY[] =
    "SELECT " CREDIT_COLUMNS " FROM billing_credits c "
    "JOIN billing_accounts a ON a.id = c.account_id "
    "WHERE c.idempotency_key = ?";

/* What the request asks for; strings borrowed from the body. */
struct credit_req {
	const char *user_id;
	const char *reason;
	const char *key;        /* NULL when none */
	int64_t amount;         /* micro-units */
	int64_t expires_at;     /* 0 when none */
};

/* A stored credit. */
struct credit {
	int64_t id;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	int64_t amount, remaining;
	char currency[4];
	char reason[REASON_MAX * UTF8_MAX + 1];
	int64_t expires_at;     /* 0 when none */
	int64_t created_at;
	char created_by[ACCOUNT_USER_ID_MAX + 1]; /* "" when unknown */
};

/*
 * 1 when s is valid UTF-8 of 1 to max_chars characters, without control
 * characters (C0, DEL, C1) and not only white space; else 0.
 */
static int
text_ok(const char *s, size_t max_chars)
{
	const char *p = s;
	size_t n = 0, len;
	unsigned cp;
	int blank = 1;

	while (*p != '\0') {
		/* well-formed (utf8.h) */
		if ((len = utf8_char(p, &cp)) == 0)
			return 0;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		if (cp != ' ')
			blank = 0;
		p += len;
		n++;
	}
	return n >= 1 && n <= max_chars && !blank;
}

/* Validates the body into *cr.  0, or -1 after answering 400. */
static int
parse_body(struct http_request *req, struct json_object *body, int64_t now,
    const char *currency, struct credit_req *cr)
{
	static const char *const keys[] = { "user_id", "amount", "reason",
	    "expires_at", "idempotency_key", NULL };
	int r;

	memset(cr, 0, sizeof(*cr));
	if (api_check_keys(req, body, keys) != 0)
		return -1;

	r = json_field_string(body, "user_id", 1, ACCOUNT_USER_ID_MAX,
	    &cr->user_id);
	if (r == 0)
		return api_bad_param(req, "user_id", "is required");
	if (r < 0 || !account_user_id_valid(cr->user_id))
		return api_bad_param(req, "user_id", "must be a string of 1 to 255 "
		    "bytes without control characters");

	r = json_field_money(body, "amount", 2, &cr->amount);
	if (r == 0)
		return api_bad_param(req, "amount", "is required");
	if (r < 0 || cr->amount <= 0 || cr->amount > CREDIT_MAX)
		return api_bad_param(req, "amount", "must be a number above 0 and "
		    "at most 100000.00 with at most 2 decimals");
	/* jpy and the like have no cents: a credit is whole units */
	if (money_round(cr->amount, money_amount_decimals(currency)) !=
	    cr->amount)
		return api_bad_param(req, "amount", "must be whole units "
		    "of the currency (it has no minor unit)");

	r = json_field_string(body, "reason", 0, REASON_MAX * UTF8_MAX,
	    &cr->reason);
	if (r == 0)
		return api_bad_param(req, "reason", "is required");
	if (r < 0 || !text_ok(cr->reason, REASON_MAX))
		return api_bad_param(req, "reason", "must be text of 1 to 500 "
		    "characters without control characters");

	/* a date-only expires_at means the end of that day */
	r = json_field_time(body, "expires_at", TIME_DATE_END, &cr->expires_at,
	    NULL);
	if (r < 0)
		return api_bad_time(req, "expires_at", r, TIME_DATE_END);
	if (r == 1 && cr->expires_at <= now)
		return api_bad_param(req, "expires_at", "must be in the future");
	if (r == 0)
		cr->expires_at = 0;

	r = json_field_string(body, "idempotency_key", 0, KEY_MAX * UTF8_MAX,
	    &cr->key);
	if (r == 0)
		cr->key = NULL;
	else if (r < 0 || !text_ok(cr->key, KEY_MAX))
		return api_bad_param(req, "idempotency_key", "must be text of 1 to "
		    "255 characters without control characters");
	return 0;
}

/* Loads one credit by sql with param p.  DB_OK, DB_NOT_FOUND or an error. */
static int
credit_load(struct db *db, const char *sql, struct db_param p,
    struct credit *out)
{
	struct db_result *res = NULL;
	int rc, r;

	if ((rc = db_query(db, sql, &p, 1, &res)) != DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	r = db_fetch(res);
	if (r == 1) {
		db_col_text(res, 1, out->user_id, sizeof(out->user_id));
		db_col_text(res, 4, out->currency, sizeof(out->currency));
		db_col_text(res, 5, out->reason, sizeof(out->reason));
		db_col_text(res, 8, out->created_by, sizeof(out->created_by));
		if (db_col_i64(res, 0, &out->id) != 0 ||
		    db_col_decimal(res, 2, &out->amount) != 0 ||
		    db_col_decimal(res, 3, &out->remaining) != 0 ||
		    db_col_time(res, 6, &out->expires_at) != 0 ||
		    db_col_time(res, 7, &out->created_at) != 0)
			rc = DB_ERROR;
	} else
		rc = r < 0 ? r : DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

/* The credit as the endpoint answers it.  New reference. */
static struct json_object *
credit_json(const struct credit *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64(c->id));
	json_object_object_add(o, "user_id", json_object_new_string(c->user_id));
	json_object_object_add(o, "amount", json_money(c->amount, 2));
	json_object_object_add(o, "remaining", json_money(c->remaining, 2));
	json_object_object_add(o, "currency",
	    json_object_new_string(c->currency));
	json_object_object_add(o, "reason", json_object_new_string(c->reason));
	json_object_object_add(o, "expires_at",
	    c->expires_at != 0 ? json_time(c->expires_at) : NULL);
	json_object_object_add(o, "created_at", json_time(c->created_at));
	json_object_object_add(o, "created_by", c->created_by[0] != '\0' ?
	    json_object_new_string(c->created_by) : NULL);
	return o;
}

/*
 * Answers a repeated idempotency key: 200 with the stored credit when it is
 * the same grant, else 409.
 */
static void
answer_replay(struct http_request *req, const struct credit_req *cr,
    const struct credit *c)
{
	struct json_object *o;

	if (strcmp(c->user_id, cr->user_id) != 0 || c->amount != cr->amount ||
	    strcmp(c->reason, cr->reason) != 0) {
		http_send_error(req, 409, "conflict", "the idempotency_key was "
		    "used for another credit", "idempotency_key", NULL);
		return;
	}
	o = credit_json(c);
	http_send_json(req, 200, o);
	json_object_put(o);
}

/* Inserts the credit; *id is the new row's.  DB_OK, DB_DUPLICATE or an error. */
static int
credit_insert(struct app *app, struct http_request *req,
    const struct credit_req *cr, int64_t now, int64_t *id)
{
	char amount[32], expires[TIME_TEXT_MAX], created[TIME_TEXT_MAX];
	struct account acct;
	uint64_t insert_id = 0;
	int rc;

	if ((rc = account_ensure(app->db, cr->user_id, NULL, NULL, &acct,
	    NULL)) != DB_OK)
		return rc;
	money_format(cr->amount, 2, amount, sizeof(amount));
	time_format_db(now, created, sizeof(created));
	if (cr->expires_at != 0)
		time_format_db(cr->expires_at, expires, sizeof(expires));
	struct db_param p[] = { DBP_INT(acct.id), DBP_STR(amount),
	    DBP_STR(amount), DBP_STR(app->cfg->currency), DBP_STR(cr->reason),
	    cr->expires_at != 0 ? DBP_STR(expires) : DBP_NULLV,
	    DBP_STR(req->claims.sub),
	    cr->key != NULL ? DBP_STR(cr->key) : DBP_NULLV, DBP_STR(created) };
	rc = db_exec(app->db, SQL_INSERT, p, sizeof(p) / sizeof(p[0]), NULL,
	    &insert_id);
	*id = (int64_t)insert_id;
	return rc;
}

int
api_credits_create(struct app *app, struct http_request *req)
{
	struct json_object *body = NULL, *o = NULL;
	struct credit_req cr;
	struct credit c;
	int64_t now = time_now_usec(), id = 0;
	int rc;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (parse_body(req, body, now, app->cfg->currency, &cr) != 0)
		goto out;
	/* a repeated key is answered without touching anything */
	if (cr.key != NULL) {
		rc = credit_load(app->db, SQL_BY_KEY, DBP_STR(cr.key), &c);
		if (rc == DB_OK) {
			answer_replay(req, &cr, &c);
			goto out;
		}
		if (rc != DB_NOT_FOUND) {
			api_db_error(app, req, rc);
			goto out;
		}
	}
	rc = credit_insert(app, req, &cr, now, &id);
	if (rc == DB_DUPLICATE && cr.key != NULL) {
		/* a concurrent request with the same key won: answer as it */
		rc = credit_load(app->db, SQL_BY_KEY, DBP_STR(cr.key), &c);
		if (rc == DB_OK)
			answer_replay(req, &cr, &c);
		else
			api_db_error(app, req, rc == DB_NOT_FOUND ? DB_ERROR : rc);
		goto out;
	}
	if (rc == DB_OK)
		rc = credit_load(app->db, SQL_BY_ID, DBP_INT(id), &c);
	if (rc != DB_OK) {
		api_db_error(app, req, rc == DB_NOT_FOUND ? DB_ERROR : rc);
		goto out;
	}
	o = credit_json(&c);
	http_send_json(req, 201, o);
out:
	json_object_put(o);
	json_object_put(body);
	return 0;
}
