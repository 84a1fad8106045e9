/*
 * checkout: customers, Checkout Sessions and saved payment methods
 * (checkout.h), on Stripe's wire (stripe.h).
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "accounts.h"
#include "app.h"
#include "checkout.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "result.h"
#include "stripe.h"
#include "timeutil.h"

#define CLIENT_REFERENCE_MAX 200  /* Stripe's limit on client_reference_id */

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

/* The account's Stripe customer, made on first need (checkout.h). */
static int
customer_ensure(struct app *app, struct stripe *s, struct account *acct,
    struct stripe_error *err)
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
checkout_session_create(struct app *app, struct stripe *s,
    struct account *acct, const struct plan *plan, const char *success_url,
    const char *cancel_url, struct checkout_session *out,
    struct stripe_error *err)
{
	struct stripe_form f;
	struct json_object *cs = NULL, *v;
	char key[160], hash[17];
	const char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	stripe_form_init(&f);
	if ((rc = customer_ensure(app, s, acct, err)) != STRIPE_OK)
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

enum result_code
checkout_create(struct app *app, const char *user_id, const struct plan *plan,
    const char *success_url, const char *cancel_url,
    struct checkout_session *out, struct result *r)
{
	struct stripe s;
	struct stripe_error err;
	struct account acct;
	int rc;

	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	/* users act for themselves: the account is the caller's own */
	rc = account_ensure(app->db, user_id, NULL, NULL, &acct, NULL);
	if (rc != DB_OK)
		return result_db(r, rc);
	if (checkout_session_create(app, &s, &acct, plan, success_url,
	    cancel_url, out, &err) != STRIPE_OK)
		return result_stripe(r, &err);
	return RESULT_OK;
}

enum result_code
checkout_portal(struct app *app, const char *user_id, const char *return_url,
    char *url, struct result *r)
{
	struct stripe s;
	struct stripe_error err;
	struct stripe_form f;
	struct json_object *ps = NULL, *v;
	struct account acct;
	char key[160], hash[17];
	const char *u;
	enum result_code code = RESULT_OK;
	int rc;

	url[0] = '\0';
	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	memset(&acct, 0, sizeof(acct));
	rc = account_find(app->db, user_id, &acct);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return result_db(r, rc);
	/* the portal manages a customer; paying through Checkout makes one */
	if (acct.stripe_customer_id[0] == '\0')
		return result_set(r, RESULT_CONFLICT, NULL, "the account has no "
		    "Stripe customer yet: subscribe to a paid plan first");
	if (!stripe_id_valid(acct.stripe_customer_id))
		return result_set(r, RESULT_ERROR, NULL, "account %llu: stored "
		    "customer id is not a Stripe id",
		    (unsigned long long)acct.id);
	stripe_form_init(&f);
	stripe_form_add(&f, "customer", acct.stripe_customer_id);
	stripe_form_add(&f, "return_url", return_url);
	/* a retry within the same minute is the same session */
	short_hash(stripe_form_text(&f), hash);
	snprintf(key, sizeof(key), "portal-%llu-%lld-%s",
	    (unsigned long long)acct.id,
	    (long long)(time_now_usec() / (60 * USEC_PER_SEC)), hash);
	if (stripe_request(&s, "POST", "/v1/billing_portal/sessions", &f, key,
	    &ps, &err) != STRIPE_OK)
		code = result_stripe(r, &err);
	else if (!json_object_object_get_ex(ps, "url", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strncmp(u = json_object_get_string(v), "https://", 8) != 0 ||
	    strlen(u) > STRIPE_URL_MAX) {
		bad_answer(&err, "portal session url");
		code = result_stripe(r, &err);
	} else
		snprintf(url, STRIPE_URL_MAX + 1, "%s", u);
	json_object_put(ps);
	stripe_form_free(&f);
	return code;
}

enum result_code
checkout_payment_methods(struct app *app, const char *user_id, size_t max,
    struct json_object **items, struct result *r)
{
	struct stripe s;
	struct stripe_error err;
	struct stripe_form q;
	struct account acct;
	char path[STRIPE_ID_MAX + 64];
	enum result_code code = RESULT_OK;
	int rc;

	*items = NULL;
	if (stripe_init(&s, app->cfg) != STRIPE_OK)
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	memset(&acct, 0, sizeof(acct));
	rc = account_find(app->db, user_id, &acct);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return result_db(r, rc);
	/* no customer yet: nothing saved, and a GET creates nothing */
	if (acct.stripe_customer_id[0] == '\0') {
		*items = json_object_new_array();
		return RESULT_OK;
	}
	if (!stripe_id_valid(acct.stripe_customer_id))
		return result_set(r, RESULT_ERROR, NULL, "account %llu: stored "
		    "customer id is not a Stripe id",
		    (unsigned long long)acct.id);
	snprintf(path, sizeof(path), "/v1/customers/%s/payment_methods",
	    acct.stripe_customer_id);
	stripe_form_init(&q);
	stripe_form_add(&q, "limit", "100");
	if (stripe_list(&s, path, &q, max, items, &err) != STRIPE_OK) {
		*items = NULL;
		code = result_stripe(r, &err);
	}
	stripe_form_free(&q);
	return code;
}
