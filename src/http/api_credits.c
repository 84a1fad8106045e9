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
 * Idempotency: see credits.h (credits_grant); a repeated key answers 200
 * with the stored credit when it was the same grant, 409 otherwise.
 *
 * GET credits[?user_id=][&limit=&cursor=]: the account's credits, newest
 * first, each as above plus "used" (amount - remaining), "expired" and
 * "state": "used" (nothing remains), "expired" (something remained at its
 * expiry), else "available".
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "credits.h"
#include "http.h"
#include "json_util.h"
#include "money.h"
#include "result.h"
#include "timeutil.h"
#include "utf8.h"

#define CREDIT_MAX (100000LL * MONEY_SCALE)  /* 100000.00 per credit */
#define REASON_MAX CREDITS_REASON_MAX        /* characters, as the column */
#define KEY_MAX CREDITS_KEY_MAX              /* characters, as the column */
#define UTF8_MAX 4                           /* bytes per character */

/* What the request asks for; strings borrowed from the body. */
struct credit_req {
	const char *user_id;
	const char *reason;
	const char *key;        /* NULL when none */
	int64_t amount;         /* micro-units */
	int64_t expires_at;     /* 0 when none */
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

/* credits_list's callback: one credit of the page, with its state. */
struct credits_out {
	struct json_object *items;
	int64_t now;
};

static void
listed_credit(const struct credit *c, void *arg)
{
	struct credits_out *out = arg;
	struct json_object *o = credit_json(c);
	int expired = c->expires_at != 0 && c->expires_at <= out->now;

	json_object_object_add(o, "used",
	    json_money(c->amount - c->remaining, 2));
	json_object_object_add(o, "expired", json_object_new_boolean(expired));
	json_object_object_add(o, "state", json_object_new_string(
	    c->remaining == 0 ? "used" : expired ? "expired" : "available"));
	json_object_array_add(out->items, o);
}

int
api_credits_list(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 1];
	struct credits_page pg;
	struct credits_out out;
	struct result r;

	memset(&pg, 0, sizeof(pg));
	if (api_target_user(req, user, sizeof(user)) != 0 ||
	    api_page_args(req, 1, &pg.limit, &pg.before) != 0)
		return -1;
	pg.user_id = user;
	out.items = json_object_new_array();
	out.now = time_now_usec();
	if (credits_list(app->db, &pg, listed_credit, &out, &r) != RESULT_OK) {
		json_object_put(out.items);
		return api_send_result(req, &r);
	}
	api_send_page(req, "credits", out.items, pg.more, pg.last_id);
	return 0;
}

int
api_credits_create(struct app *app, struct http_request *req)
{
	struct json_object *body = NULL, *o = NULL;
	struct credit_req cr;
	struct credit_grant g;
	struct credit c;
	struct result r;
	int64_t now = time_now_usec();
	int replayed = 0;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (parse_body(req, body, now, app->cfg->currency, &cr) != 0)
		goto out;
	memset(&g, 0, sizeof(g));
	g.user_id = cr.user_id;
	g.reason = cr.reason;
	g.key = cr.key;
	g.currency = app->cfg->currency;
	g.created_by = req->claims.sub;
	g.amount = cr.amount;
	g.expires_at = cr.expires_at;
	g.now = now;
	if (credits_grant(app->db, &g, &c, &replayed, &r) != RESULT_OK) {
		api_send_result(req, &r);
		goto out;
	}
	o = credit_json(&c);
	http_send_json(req, replayed ? 200 : 201, o);
out:
	json_object_put(o);
	json_object_put(body);
	return 0;
}
