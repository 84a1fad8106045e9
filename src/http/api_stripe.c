/*
 * POST create-checkout and GET payment-methods: they parse and check the
 * request, call checkout.h (the customer, the session, the saved methods)
 * and answer.
 *
 *   POST create-checkout {"plan_id", "success_url"?, "cancel_url"?}
 *     -> 200 {"id": "cs_...", "url": "https://checkout.stripe.com/..."}
 *   POST billing-portal {"return_url"?}
 *     -> 200 {"url": "https://billing.stripe.com/p/session/..."}
 *     409 conflict when the account has no Stripe customer yet
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

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "checkout.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "result.h"
#include "stripe.h"

#define PAYMENT_METHODS_MAX 1000

/* -- answering ------------------------------------------------------- */

int
api_stripe_failed(struct app *app, struct http_request *req,
    const struct stripe_error *err)
{
	struct result r;

	result_stripe(&r, err);
	return api_send_result(req, &r);
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
	struct checkout_session cs;
	struct result res;
	const struct plan *plan;
	const char *plan_id;
	char success[STRIPE_URL_MAX + 1], cancel[STRIPE_URL_MAX + 1];
	int r;

	if (!stripe_configured(app->cfg))
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
	if (checkout_create(app, req->claims.sub, plan, success, cancel, &cs,
	    &res) != RESULT_OK) {
		api_send_result(req, &res);
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

int
api_billing_portal(struct app *app, struct http_request *req)
{
	static const char *const keys[] = { "return_url", NULL };
	struct json_object *body = NULL, *o = NULL;
	struct result res;
	char ret[STRIPE_URL_MAX + 1], url[STRIPE_URL_MAX + 1];

	if (!stripe_configured(app->cfg))
		return http_send_error(req, 503, "unavailable",
		    "Stripe is not configured", NULL, NULL);
	/* the body is optional: none means the default return URL */
	if (req->content_length > 0 || req->content_type != NULL) {
		if (http_read_json(req, &body) != 0)
			return -1;
	} else
		body = json_object_new_object();
	if (api_check_keys(req, body, keys) != 0 ||
	    pick_url(req, app->cfg, body, "return_url", "/billing/", ret,
	    sizeof(ret)) != 0)
		goto out;
	/* users act for themselves: the customer is the caller's own */
	if (checkout_portal(app, req->claims.sub, ret, url, &res) !=
	    RESULT_OK) {
		api_send_result(req, &res);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "url", json_object_new_string(url));
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
	struct result res;
	char user[ACCOUNT_USER_ID_MAX + 2];
	size_t i, n;

	if (!stripe_configured(app->cfg))
		return http_send_error(req, 503, "unavailable",
		    "Stripe is not configured", NULL, NULL);
	if (api_target_user(req, user, sizeof(user)) != 0)
		return -1;
	if (checkout_payment_methods(app, user, PAYMENT_METHODS_MAX, &items,
	    &res) != RESULT_OK)
		return api_send_result(req, &res), 0;
	list = json_object_new_array();
	n = json_object_array_length(items);
	for (i = 0; i < n; i++)
		json_object_array_add(list,
		    method_json(json_object_array_get_idx(items, i)));
	o = json_object_new_object();
	json_object_object_add(o, "payment_methods", list);
	http_send_json(req, 200, o);
	json_object_put(items);
	json_object_put(o);
	return 0;
}
