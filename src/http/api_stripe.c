/*
 * POST create-checkout and GET payment-methods, and the customer and
 * Checkout Session operations they are built on (stripe.h).
 *
 *   POST create-checkout {"plan_id", "success_url"?, "cancel_url"?}
 *     -> 200 {"id": "cs_...", "url": "https://checkout.stripe.com/..."}
 *   GET payment-methods[?user_id=]
 *     -> 200 {"payment_methods": [{"id", "type", "card": {"brand",
 *        "last4", "exp_month", "exp_year"} | null}]}
 *
 * Errors of ours: 503 unavailable when Stripe is not configured or cannot
 * be reached (timeouts, 5xx, 429 after the retries); 502 stripe_error with
 * Stripe's message when Stripe refused the request (docs/stripe.md).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "stripe.h"
#include "timeutil.h"

#define CLIENT_REFERENCE_MAX 200  /* Stripe's limit on client_reference_id */
#define PAYMENT_METHODS_MAX 1000

/* -- customers and checkout ------------------------------------------------ */

static void
db_failed(struct stripe_error *err, int db_rc)
{
	memset(err, 0, sizeof(*err));
	err->rc = STRIPE_DB;
	err->db_rc = db_rc;
	snprintf(err->message, sizeof(err->message), "database error");
}

/* The string field key of a Stripe object, copied when it is a valid id. */
static int
object_id(struct json_object *o, const char *key, char *dst, size_t size)
{
	struct json_object *v;
	const char *s;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (!stripe_id_valid(s) || strlen(s) >= size)
		return -1;
	snprintf(dst, size, "%s", s);
	return 0;
}

static int
bad_answer(struct stripe_error *err, const char *what)
{
	err->rc = STRIPE_BAD_ANSWER;
	snprintf(err->message, sizeof(err->message), "Stripe's answer has no "
	    "valid %s", what);
	log_warnx("stripe: %s", err->message);
	return STRIPE_BAD_ANSWER;
}

int
stripe_customer_ensure(struct app *app, struct stripe *s,
    struct account *acct, struct stripe_error *err)
{
	struct stripe_form f;
	struct json_object *cus = NULL;
	char key[64], id[STRIPE_ID_MAX + 1], acct_id[24];
	int rc, dbrc;

	if (acct->stripe_customer_id[0] != '\0') {
		memset(err, 0, sizeof(*err));
		return STRIPE_OK;
	}
	snprintf(key, sizeof(key), "customer-%llu",
	    (unsigned long long)acct->id);
	snprintf(acct_id, sizeof(acct_id), "%llu",
	    (unsigned long long)acct->id);
	stripe_form_init(&f);
	stripe_form_add(&f, "email", acct->email[0] != '\0' ? acct->email :
	    NULL);
	stripe_form_add(&f, "metadata[user_id]", acct->user_id);
	stripe_form_add(&f, "metadata[account_id]", acct_id);
	rc = stripe_request(s, "POST", "/v1/customers", &f, key, &cus, err);
	if (rc != STRIPE_OK)
		goto out;
	if (object_id(cus, "id", id, sizeof(id)) != 0) {
		rc = bad_answer(err, "customer id");
		goto out;
	}
	/* the first id stored wins; a concurrent request may have stored one */
	dbrc = account_set_stripe_customer(app->db, acct->id, id);
	if (dbrc == DB_OK)
		dbrc = account_get(app->db, acct->id, acct);
	if (dbrc == DB_OK && acct->stripe_customer_id[0] == '\0')
		dbrc = DB_ERROR;
	if (dbrc != DB_OK) {
		db_failed(err, dbrc);
		rc = STRIPE_DB;
		goto out;
	}
	if (strcmp(acct->stripe_customer_id, id) != 0)
		log_warnx("stripe: account %llu already had customer %s; %s is "
		    "not used", (unsigned long long)acct->id,
		    acct->stripe_customer_id, id);
	else
		log_info("stripe: account %llu has customer %s",
		    (unsigned long long)acct->id, id);
out:
	json_object_put(cus);
	stripe_form_free(&f);
	return rc;
}

/* 16 hex digits of SHA-256 over text: tells different requests apart. */
static void
short_hash(const char *text, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256((const unsigned char *)text, strlen(text), md);
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[16] = '\0';
}

int
stripe_checkout_create(struct app *app, struct stripe *s,
    struct account *acct, const struct plan *plan, const char *success_url,
    const char *cancel_url, struct stripe_checkout *out,
    struct stripe_error *err)
{
	struct stripe_form f;
	struct json_object *cs = NULL, *v;
	char key[160], hash[17];
	const char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	stripe_form_init(&f);
	if ((rc = stripe_customer_ensure(app, s, acct, err)) != STRIPE_OK)
		goto out;
	stripe_form_add(&f, "mode", "subscription");
	stripe_form_add(&f, "customer", acct->stripe_customer_id);
	if (strlen(acct->user_id) <= CLIENT_REFERENCE_MAX)
		stripe_form_add(&f, "client_reference_id", acct->user_id);
	stripe_form_add(&f, "line_items[0][price]", plan->stripe_price_id);
	stripe_form_add(&f, "line_items[0][quantity]", "1");
	stripe_form_add(&f, "success_url", success_url);
	stripe_form_add(&f, "cancel_url", cancel_url);
	stripe_form_add(&f, "metadata[user_id]", acct->user_id);
	stripe_form_add(&f, "metadata[plan_id]", plan->id);
	stripe_form_add(&f, "subscription_data[metadata][user_id]",
	    acct->user_id);
	stripe_form_add(&f, "subscription_data[metadata][plan_id]", plan->id);
	/*
	 * The same request again within the same minute (a double click, a
	 * retry by the client) is the same session; another plan or other
	 * URLs are another request.
	 */
	short_hash(stripe_form_text(&f), hash);
	snprintf(key, sizeof(key), "checkout-%llu-%s-%lld-%s",
	    (unsigned long long)acct->id, plan->id,
	    (long long)(time_now_usec() / (60 * USEC_PER_SEC)), hash);
	rc = stripe_request(s, "POST", "/v1/checkout/sessions", &f, key, &cs,
	    err);
	if (rc != STRIPE_OK)
		goto out;
	if (object_id(cs, "id", out->id, sizeof(out->id)) != 0) {
		rc = bad_answer(err, "session id");
		goto out;
	}
	if (!json_object_object_get_ex(cs, "url", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strncmp(url = json_object_get_string(v), "https://", 8) != 0 ||
	    strlen(url) > STRIPE_URL_MAX) {
		rc = bad_answer(err, "session url");
		goto out;
	}
	snprintf(out->url, sizeof(out->url), "%s", url);
out:
	json_object_put(cs);
	stripe_form_free(&f);
	return rc;
}

/* -- answering ------------------------------------------------------- */

int
api_stripe_failed(struct app *app, struct http_request *req,
    const struct stripe_error *err)
{
	char msg[700];

	switch (err->rc) {
	case STRIPE_DISABLED:
		return http_send_error(req, 503, "unavailable",
		    "Stripe is not configured", NULL, NULL);
	case STRIPE_DB:
		return api_db_error(app, req, err->db_rc);
	case STRIPE_UNAVAILABLE:
		return http_send_error(req, 503, "unavailable", "Stripe is "
		    "unavailable, try again later", NULL, NULL);
	case STRIPE_REJECTED:
		/* our credentials are no business of the caller's */
		if (err->status == 401 || err->status == 403 ||
		    strcmp(err->type, "authentication_error") == 0)
			snprintf(msg, sizeof(msg), "Stripe refused the "
			    "service's credentials");
		else
			snprintf(msg, sizeof(msg), "Stripe refused the "
			    "request: %s", err->message);
		return http_send_error(req, 502, "stripe_error", msg, NULL,
		    NULL);
	default:
		return http_send_error(req, 502, "stripe_error", "Stripe's "
		    "answer could not be used", NULL, NULL);
	}
}

/* 1 when s is an http(s) URL with a host, of printable ASCII, <= 2048. */
static int
url_ok(const char *s)
{
	const char *host, *p;

	if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return 0;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return 0;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return p - s <= STRIPE_URL_MAX;
}

/*
 * 1 when url's origin is publicBaseUrl's or one of checkoutReturnOrigins:
 * Checkout never sends a user on to someone else's site.
 */
static int
origin_allowed(const struct billing_config *cfg, const char *url)
{
	char o[STRIPE_URL_MAX + 1], base[STRIPE_URL_MAX + 1];
	size_t i;

	if (config_url_origin(url, o, sizeof(o)) != 0 || strchr(o, '@') != NULL)
		return 0;
	if (cfg->public_base_url != NULL && config_url_origin(
	    cfg->public_base_url, base, sizeof(base)) == 0 &&
	    strcmp(o, base) == 0)
		return 1;
	for (i = 0; i < cfg->n_checkout_return_origins; i++)
		if (strcmp(o, cfg->checkout_return_origins[i]) == 0)
			return 1;
	return 0;
}

/*
 * The URL param from the body, or publicBaseUrl + suffix when absent.  0
 * with the URL in buf, or -1 after answering 400.
 */
static int
pick_url(struct http_request *req, const struct billing_config *cfg,
    struct json_object *body, const char *param, const char *suffix,
    char *buf, size_t size)
{
	const char *base = cfg->public_base_url;
	const char *v;
	size_t n;
	int r;

	r = json_field_string(body, param, 1, STRIPE_URL_MAX, &v);
	if (r < 0 || (r == 1 && !url_ok(v)))
		return api_bad_param(req, param, "must be an http:// or https:// "
		    "URL of at most 2048 characters without spaces"), -1;
	if (r == 1 && !origin_allowed(cfg, v))
		return api_bad_param(req, param, "must be on publicBaseUrl's "
		    "origin or one of checkoutReturnOrigins"), -1;
	if (r == 1) {
		snprintf(buf, size, "%s", v);
		return 0;
	}
	if (base == NULL)
		return api_bad_param(req, param, "is required: publicBaseUrl is "
		    "not configured"), -1;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((size_t)snprintf(buf, size, "%.*s%s", (int)n, base, suffix) >=
	    size || !url_ok(buf))
		return api_bad_param(req, param, "is required: publicBaseUrl does "
		    "not make a valid URL"), -1;
	return 0;
}

int
api_create_checkout(struct app *app, struct http_request *req)
{
	static const char *const keys[] = { "plan_id", "success_url",
	    "cancel_url", NULL };
	struct json_object *body = NULL, *o = NULL;
	struct stripe s;
	struct stripe_error err;
	struct stripe_checkout cs;
	struct account acct;
	const struct plan *plan;
	const char *plan_id;
	char success[STRIPE_URL_MAX + 1], cancel[STRIPE_URL_MAX + 1];
	int rc, r;

	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return http_send_error(req, 503, "unavailable",
		    "Stripe is not configured", NULL, NULL);
	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, keys) != 0)
		goto out;
	r = json_field_string(body, "plan_id", 1, 64, &plan_id);
	if (r == 0) {
		api_bad_param(req, "plan_id", "is required");
		goto out;
	}
	if (r < 0 || (plan = config_find_plan(app->cfg, plan_id)) == NULL) {
		api_bad_param(req, "plan_id", "is not a known plan");
		goto out;
	}
	if (plan->price <= 0 || plan->stripe_price_id == NULL) {
		api_bad_param(req, "plan_id", "is not a paid plan with a Stripe "
		    "price: choose it with POST subscription");
		goto out;
	}
	if (pick_url(req, app->cfg, body, "success_url",
	    "/billing/success?session_id={CHECKOUT_SESSION_ID}", success,
	    sizeof(success)) != 0 ||
	    pick_url(req, app->cfg, body, "cancel_url", "/billing/cancel",
	    cancel, sizeof(cancel)) != 0)
		goto out;

	/* users act for themselves: the account is the caller's own */
	rc = account_ensure(app->db, req->claims.sub, NULL, NULL, &acct, NULL);
	if (rc != DB_OK) {
		api_db_error(app, req, rc);
		goto out;
	}
	if (stripe_checkout_create(app, &s, &acct, plan, success, cancel, &cs,
	    &err) != STRIPE_OK) {
		api_stripe_failed(app, req, &err);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(cs.id));
	json_object_object_add(o, "url", json_object_new_string(cs.url));
	http_send_json(req, 200, o);
out:
	json_object_put(o);
	json_object_put(body);
	return 0;
}

/* A field of o as a new JSON value of the same scalar kind, or NULL. */
static struct json_object *
copy_scalar(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	if (type == json_type_int)
		return json_object_new_int64(json_object_get_int64(v));
	return json_object_new_string(json_object_get_string(v));
}

/* What we show of a payment method: never the billing details. New ref. */
static struct json_object *
method_json(struct json_object *pm)
{
	struct json_object *o, *card = NULL, *c;
	const char *type;

	o = json_object_new_object();
	json_object_object_add(o, "id", copy_scalar(pm, "id",
	    json_type_string));
	json_object_object_add(o, "type", copy_scalar(pm, "type",
	    json_type_string));
	type = json_object_get_string(json_object_object_get(o, "type"));
	if (type != NULL && strcmp(type, "card") == 0 &&
	    json_object_object_get_ex(pm, "card", &c) &&
	    json_object_is_type(c, json_type_object)) {
		card = json_object_new_object();
		json_object_object_add(card, "brand", copy_scalar(c, "brand",
		    json_type_string));
		json_object_object_add(card, "last4", copy_scalar(c, "last4",
		    json_type_string));
		json_object_object_add(card, "exp_month", copy_scalar(c,
		    "exp_month", json_type_int));
		json_object_object_add(card, "exp_year", copy_scalar(c,
		    "exp_year", json_type_int));
	}
	json_object_object_add(o, "card", card);
	return o;
}

int
api_payment_methods(struct app *app, struct http_request *req)
{
	struct json_object *o = NULL, *list, *items = NULL;
	struct stripe s;
	struct stripe_error err;
	struct stripe_form q;
	struct account acct;
	char user[ACCOUNT_USER_ID_MAX + 2], path[STRIPE_ID_MAX + 64];
	size_t i, n;
	int rc;

	stripe_form_init(&q);
	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return http_send_error(req, 503, "unavailable",
		    "Stripe is not configured", NULL, NULL);
	if (api_target_user(req, user, sizeof(user)) != 0)
		return -1;
	memset(&acct, 0, sizeof(acct));
	rc = account_find(app->db, user, &acct);
	if (rc != DB_OK && rc != DB_NOT_FOUND) {
		api_db_error(app, req, rc);
		goto out;
	}
	/* no customer yet: nothing saved, and a GET creates nothing */
	if (acct.stripe_customer_id[0] != '\0') {
		if (!stripe_id_valid(acct.stripe_customer_id)) {
			log_warnx("req=%s account %llu: stored customer id is "
			    "not a Stripe id", req->request_id,
			    (unsigned long long)acct.id);
			http_send_error(req, 500, "internal", "internal error",
			    NULL, NULL);
			goto out;
		}
		snprintf(path, sizeof(path), "/v1/customers/%s/payment_methods",
		    acct.stripe_customer_id);
		stripe_form_add(&q, "limit", "100");
		if (stripe_list(&s, path, &q, PAYMENT_METHODS_MAX, &items,
		    &err) != STRIPE_OK) {
			api_stripe_failed(app, req, &err);
			goto out;
		}
	}
	list = json_object_new_array();
	n = items != NULL ? json_object_array_length(items) : 0;
	for (i = 0; i < n; i++)
		json_object_array_add(list,
		    method_json(json_object_array_get_idx(items, i)));
	o = json_object_new_object();
	json_object_object_add(o, "payment_methods", list);
	http_send_json(req, 200, o);
out:
	stripe_form_free(&q);
	json_object_put(items);
	json_object_put(o);
	return 0;
}
