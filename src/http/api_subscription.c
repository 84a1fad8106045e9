/*
 * GET subscription: the plan that applies to the user, its status and
 * period.  With no subscription of its own an account is on the default
 * plan, which is a valid answer, never an error.
 *
 * POST subscription: {"plan_id": "..."} or {"cancel": true}, by the rules
 * of subscription_change (subscriptions.h): a plan a Stripe subscription
 * collects changes in Stripe; a plan fee we bill changes here, an upgrade
 * at once with proration and a downgrade at the cycle's end (shown as
 * pending_plan_id, pending_at; the current plan cancels it); a first paid
 * plan goes through a Stripe Checkout Session (the answer carries it).
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "checkout.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "period.h"
#include "result.h"
#include "subscriptions.h"
#include "timeutil.h"

static const char *const keys[] = { "plan_id", "cancel", NULL };

/* The user's plan and subscription, with checkout (may be NULL) added. */
static int
answer(struct app *app, struct http_request *req, const char *user_id,
    const struct checkout_session *checkout)
{
	const struct billing_config *cfg = app->cfg;
	struct subscription_view v;
	const struct account *acct;
	const struct subscription *sub = &v.sub;
	struct json_object *o, *cs;
	const struct plan *plan;
	struct result r;
	int64_t start, end;

	if (subscription_view(app, user_id, &v, &r) != RESULT_OK)
		return api_send_result(req, &r);
	acct = v.has_account ? &v.acct : NULL;
	plan = account_plan(cfg, acct);
	/* the account's period: local midnights in its time zone */
	if (acct != NULL)
		period_account(&acct->zone, cfg->invoice_day, time_now_usec(),
		    &start, &end);
	else
		period_containing(cfg->invoice_day, time_now_usec(), &start,
		    &end);
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "plan", api_plan_json(plan));
	json_object_object_add(o, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, acct))));
	json_object_object_add(o, "account_status", json_object_new_string(
	    acct ? acct->status : "active"));
	if (v.has_sub) {
		json_object_object_add(o, "status", json_object_new_string(sub->status));
		json_object_object_add(o, "source", json_object_new_string("stripe"));
		json_object_object_add(o, "current_period_start",
		    json_time(sub->current_period_start));
		json_object_object_add(o, "current_period_end",
		    json_time(sub->current_period_end));
		json_object_object_add(o, "cancel_at_period_end",
		    json_object_new_boolean(sub->cancel_at_period_end));
		json_object_object_add(o, "stripe_subscription_id",
		    sub->stripe_subscription_id[0] ?
		    json_object_new_string(sub->stripe_subscription_id) : NULL);
	} else {
		json_object_object_add(o, "status", json_object_new_string("active"));
		json_object_object_add(o, "source", json_object_new_string(
		    acct && acct->plan_id[0] ? "plan" : "default"));
		json_object_object_add(o, "current_period_start", json_time(start));
		json_object_object_add(o, "current_period_end", json_time(end));
		json_object_object_add(o, "cancel_at_period_end",
		    json_object_new_boolean(0));
		json_object_object_add(o, "stripe_subscription_id", NULL);
	}
	/* a downgrade waiting for the end of the plan's cycle */
	json_object_object_add(o, "pending_plan_id", v.pending.has ?
	    json_object_new_string(v.pending.to_plan) : NULL);
	json_object_object_add(o, "pending_at", v.pending.has ?
	    json_time(v.pending.effective_at) : NULL);
	if (checkout != NULL) {
		cs = json_object_new_object();
		json_object_object_add(cs, "id",
		    json_object_new_string(checkout->id));
		json_object_object_add(cs, "url",
		    json_object_new_string(checkout->url));
		json_object_object_add(o, "checkout", cs);
	}
	http_send_json(req, 200, o);
	json_object_put(o);
	return 0;
}

int
api_subscription_get(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 1];

	if (api_target_user(req, user, sizeof(user)) != 0)
		return -1;
	return answer(app, req, user, NULL);
}

int
api_subscription_post(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *body = NULL;
	struct checkout_session checkout;
	const struct plan *plan = NULL;
	const char *plan_id = NULL, *user = req->claims.sub;
	struct result r;
	int cancel = 0, has_checkout = 0;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, keys) != 0) {
		json_object_put(body);
		return -1;
	}
	if (json_field_bool(body, "cancel", &cancel) < 0)
		return api_bad_body(req, body,
		    "cancel must be true or false", "cancel");
	if (json_field_string(body, "plan_id", 1, 64, &plan_id) < 0)
		return api_bad_body(req, body,
		    "plan_id must be a plan's id", "plan_id");
	if ((plan_id == NULL) == (cancel == 0))
		return api_bad_body(req, body,
		    "give either plan_id or cancel: true",
		    plan_id ? "cancel" : "plan_id");
	if (plan_id != NULL && (plan = config_find_plan(cfg, plan_id)) == NULL)
		return api_bad_body(req, body, "no such plan", "plan_id");
	json_object_put(body);

	/* plan NULL: cancel */
	if (subscription_change(app, user, plan, &checkout, &has_checkout,
	    &r) != RESULT_OK)
		return api_send_result(req, &r);
	return answer(app, req, user, has_checkout ? &checkout : NULL);
}
