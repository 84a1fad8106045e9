/*
 * subscriptions: reading the subscription row; plan changes through Stripe.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "money.h"
#include "stripe.h"
#include "subscriptions.h"
#include "timeutil.h"

static const char SQL_FIND[] =
    "SELECT id, plan_id, status, current_period_start, current_period_end, "
    "cancel_at_period_end, COALESCE(stripe_subscription_id, '') "
    "FROM billing_subscriptions WHERE account_id = ?";
static const char SQL_CANCEL[] =
    "UPDATE billing_subscriptions SET cancel_at_period_end = 1 WHERE id = ?";

int
subscription_find(struct db *db, uint64_t account_id, struct subscription *out)
{
	struct db_result *res = NULL;
	size_t len;
	const char *s;
	int64_t v;
	int rc, r;

	memset(out, 0, sizeof(*out));
	struct db_param p[] = { DBP_INT(account_id) };
	if ((rc = db_query(db, SQL_FIND, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		db_col_i64(res, 0, &v);
		out->id = (uint64_t)v;
		out->account_id = account_id;
		snprintf(out->plan_id, sizeof(out->plan_id), "%s", db_col(res, 1, NULL));
		snprintf(out->status, sizeof(out->status), "%s", db_col(res, 2, NULL));
		if ((s = db_col(res, 3, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_start);
		if ((s = db_col(res, 4, &len)) != NULL)
			time_parse_db(s, len, &out->current_period_end);
		db_col_i64(res, 5, &v);
		out->cancel_at_period_end = v != 0;
		snprintf(out->stripe_subscription_id,
		    sizeof(out->stripe_subscription_id), "%s", db_col(res, 6, NULL));
	}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

int
subscription_is_live(const struct subscription *sub)
{
	static const char *const live[] = { "active", "trialing", "past_due",
	    "incomplete", "unpaid" };
	size_t i;

	for (i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (strcmp(sub->status, live[i]) == 0)
			return 1;
	return 0;
}

/* The HTTP status for a failed Stripe call, and its message. */
static int
stripe_status(const struct stripe_error *se, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", se->message[0] ? se->message :
	    "Stripe could not be reached");
	switch (se->rc) {
	case STRIPE_REJECTED:
	case STRIPE_BAD_ANSWER:
		return 502;
	default:
		return 503;
	}
}

int
subscription_cancel_at_period_end(struct app *app,
    const struct subscription *sub, char *err, size_t errlen)
{
	struct stripe s;
	struct stripe_error se;
	struct stripe_form f;
	struct json_object *out = NULL;
	char path[300], key[300];
	int rc;

	if (stripe_init(&s, app->cfg) != STRIPE_OK) {
		snprintf(err, errlen, "Stripe is not configured");
		return 503;
	}
	memset(&se, 0, sizeof(se));
	stripe_form_init(&f);
	stripe_form_add(&f, "cancel_at_period_end", "true");
	snprintf(path, sizeof(path), "/v1/subscriptions/%s",
	    sub->stripe_subscription_id);
	snprintf(key, sizeof(key), "subscription-cancel-%s",
	    sub->stripe_subscription_id);
	rc = stripe_request(&s, "POST", path, &f, key, &out, &se);
	stripe_form_free(&f);
	json_object_put(out);
	if (rc != STRIPE_OK)
		return stripe_status(&se, err, errlen);
	/* Stripe's customer.subscription.updated will say the same */
	struct db_param p[] = { DBP_INT(sub->id) };
	if ((rc = db_exec(app->db, SQL_CANCEL, p, 1, NULL, NULL)) != DB_OK) {
		snprintf(err, errlen, "the database is unavailable, try again");
		return 503;
	}
	return 0;
}

/* Moves a live Stripe subscription to the plan's price; the webhook's
 * customer.subscription.updated then records the new plan. */
static int
change_price(struct stripe *s, const struct subscription *live,
    const struct plan *plan, char *err, size_t errlen)
{
	struct stripe_error se;
	struct stripe_form f;
	struct json_object *sub = NULL, *out = NULL, *items, *data, *first, *id;
	char path[300], key[400];
	int rc, status = 0;

	memset(&se, 0, sizeof(se));
	snprintf(path, sizeof(path), "/v1/subscriptions/%s",
	    live->stripe_subscription_id);
	if (stripe_request(s, "GET", path, NULL, NULL, &sub, &se) != STRIPE_OK)
		return stripe_status(&se, err, errlen);
	if (!json_object_object_get_ex(sub, "items", &items) ||
	    !json_object_object_get_ex(items, "data", &data) ||
	    (first = json_object_array_get_idx(data, 0)) == NULL ||
	    !json_object_object_get_ex(first, "id", &id)) {
		json_object_put(sub);
		snprintf(err, errlen, "the Stripe subscription has no item");
		return 502;
	}
	stripe_form_init(&f);
	stripe_form_add(&f, "items[0][id]", json_object_get_string(id));
	stripe_form_add(&f, "items[0][price]", plan->stripe_price_id);
	stripe_form_add(&f, "proration_behavior", "create_prorations");
	stripe_form_add(&f, "cancel_at_period_end", "false");
	stripe_form_add(&f, "metadata[plan_id]", plan->id);
	snprintf(key, sizeof(key), "subscription-plan-%s-%s-%lld",
	    live->stripe_subscription_id, plan->id,
	    (long long)(time_now_usec() / (60 * USEC_PER_SEC)));
	rc = stripe_request(s, "POST", path, &f, key, &out, &se);
	if (rc != STRIPE_OK)
		status = stripe_status(&se, err, errlen);
	stripe_form_free(&f);
	json_object_put(out);
	json_object_put(sub);
	return status;
}

int
subscription_change_paid(struct app *app, const struct account *acct,
    const struct subscription *live, const struct plan *plan,
    struct json_object **checkout, char *err, size_t errlen)
{
	const char *base = app->cfg->public_base_url;
	char success[2100], cancel[2100];
	struct stripe_checkout cs;
	struct stripe_error se;
	struct account a = *acct;
	struct stripe s;
	struct json_object *o;

	*checkout = NULL;
	if (stripe_init(&s, app->cfg) != STRIPE_OK) {
		snprintf(err, errlen, "Stripe is not configured");
		return 503;
	}
	if (plan->stripe_price_id == NULL) {
		snprintf(err, errlen, "the plan has no Stripe price");
		return 400;
	}
	if (live != NULL)
		return change_price(&s, live, plan, err, errlen);
	if (base == NULL) {
		snprintf(err, errlen, "publicBaseUrl is not configured: use "
		    "POST create-checkout with success_url and cancel_url");
		return 400;
	}
	snprintf(success, sizeof(success),
	    "%s/billing/success?session_id={CHECKOUT_SESSION_ID}", base);
	snprintf(cancel, sizeof(cancel), "%s/billing/cancel", base);
	memset(&se, 0, sizeof(se));
	if (stripe_checkout_create(app, &s, &a, plan, success, cancel, &cs,
	    &se) != STRIPE_OK)
		return stripe_status(&se, err, errlen);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(cs.id));
	json_object_object_add(o, "url", json_object_new_string(cs.url));
	*checkout = o;
	return 0;
}
