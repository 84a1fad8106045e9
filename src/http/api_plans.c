/*
 * GET plans: the configured plans (subscriptionPlans), in the config's
 * order, each as GET usage shows a plan plus its currency, whether it can
 * be bought now and whether it is the caller's current plan; the current
 * plan's id beside the list.  An admin or operator may add ?user_id=.
 *
 *   -> 200 {"plans": [{"id", "name", "price", "currency", "interval",
 *       "cpu_limit", "memory_limit", "storage_limit", "purchasable",
 *       "current"}], "current_plan_id": "free" | null, "currency": "usd"}
 *
 * purchasable: a free plan (price 0) always (POST subscription applies it);
 * a paid one when Stripe is configured and the plan has a stripe_price_id
 * (POST subscription or create-checkout sends the user to Checkout).  The
 * list is the whole configuration (a handful of plans): it has no pages.
 */
#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "result.h"
#include "stripe.h"
#include "subscriptions.h"

int
api_plans(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	char user[ACCOUNT_USER_ID_MAX + 1];
	struct subscription_view v;
	struct json_object *root, *list, *o;
	const struct plan *current, *p;
	struct result r;
	size_t i;
	int stripe_on = stripe_configured(cfg);

	if (api_target_user(req, user, sizeof(user)) != 0)
		return -1;
	if (subscription_view(app, user, &v, &r) != RESULT_OK)
		return api_send_result(req, &r);
	/* no account yet: the default plan is the one that would apply */
	current = account_plan(cfg, v.has_account ? &v.acct : NULL);
	list = json_object_new_array();
	for (i = 0; i < cfg->n_plans; i++) {
		p = &cfg->plans[i];
		o = api_plan_json(p);
		json_object_object_add(o, "currency",
		    json_object_new_string(cfg->currency));
		json_object_object_add(o, "purchasable", json_object_new_boolean(
		    p->price <= 0 || (stripe_on && p->stripe_price_id != NULL)));
		json_object_object_add(o, "current",
		    json_object_new_boolean(p == current));
		json_object_array_add(list, o);
	}
	root = json_object_new_object();
	json_object_object_add(root, "plans", list);
	json_object_object_add(root, "current_plan_id", current != NULL ?
	    json_object_new_string(current->id) : NULL);
	json_object_object_add(root, "currency",
	    json_object_new_string(cfg->currency));
	http_send_json(req, 200, root);
	json_object_put(root);
	return 0;
}
