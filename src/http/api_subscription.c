/*
 * GET subscription: the plan that applies to the user, its status and
 * period.  With no subscription of its own an account is on the default
 * plan, which is a valid answer, never an error.
 *
 * POST subscription: {"plan_id": "..."} or {"cancel": true}.
 *  - to a free plan (price 0): at once;
 *  - to a paid plan: through a Stripe Checkout Session (the answer carries
 *    it), since paying is what makes the plan apply;
 *  - cancel: a Stripe subscription is cancelled at the end of its period.
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
#include "period.h"
#include "subscriptions.h"
#include "timeutil.h"

static const char *const keys[] = { "plan_id", "cancel", NULL };

static const char SQL_SET_PLAN[] =
    "UPDATE billing_accounts SET plan_id = ? WHERE id = ?";

static int
answer(struct app *app, struct http_request *req, int status,
    const struct account *acct, const char *user_id,
    struct json_object *checkout)
{
	const struct billing_config *cfg = app->cfg;
	struct subscription sub;
	struct json_object *o;
	const struct plan *plan;
	int64_t start, end;
	int rc, have_sub = 0;

	if (acct != NULL) {
		rc = subscription_find(app->db, acct->id, &sub);
		if (rc != DB_OK && rc != DB_NOT_FOUND) {
			json_object_put(checkout);
			return api_db_error(app, req, rc);
		}
		have_sub = rc == DB_OK;
	}
	plan = account_plan(cfg, acct);
	period_containing(cfg->invoice_day, time_now_usec(), &start, &end);
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "plan", api_plan_json(plan));
	json_object_object_add(o, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, acct))));
	json_object_object_add(o, "account_status", json_object_new_string(
	    acct ? acct->status : "active"));
	if (have_sub) {
		json_object_object_add(o, "status", json_object_new_string(sub.status));
		json_object_object_add(o, "source", json_object_new_string("stripe"));
		json_object_object_add(o, "current_period_start",
		    json_time(sub.current_period_start));
		json_object_object_add(o, "current_period_end",
		    json_time(sub.current_period_end));
		json_object_object_add(o, "cancel_at_period_end",
		    json_object_new_boolean(sub.cancel_at_period_end));
		json_object_object_add(o, "stripe_subscription_id",
		    sub.stripe_subscription_id[0] ?
		    json_object_new_string(sub.stripe_subscription_id) : NULL);
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
	if (checkout != NULL)
		json_object_object_add(o, "checkout", checkout);
	http_send_json(req, status, o);
	json_object_put(o);
	return 0;
}

int
api_subscription_get(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 1];
	struct account acct;
	int rc;

	if (api_target_user(req, user, sizeof(user)) != 0)
		return -1;
	rc = account_find(app->db, user, &acct);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return api_db_error(app, req, rc);
	return answer(app, req, 200, rc == DB_OK ? &acct : NULL, user, NULL);
}

static int
bad(struct http_request *req, struct json_object *body, const char *msg,
    const char *param)
{
	http_send_error(req, 400, "invalid_argument", msg, param, NULL);
	json_object_put(body);
	return -1;
}

int
api_subscription_post(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *body = NULL, *checkout = NULL;
	struct subscription sub;
	const struct plan *plan = NULL;
	const char *plan_id = NULL, *user = req->claims.sub;
	char err[256];
	struct account acct;
	int cancel = 0, r, rc, have_sub;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, keys) != 0) {
		json_object_put(body);
		return -1;
	}
	r = json_field_bool(body, "cancel", &cancel);
	if (r < 0)
		return bad(req, body, "cancel must be true or false", "cancel");
	if (json_field_string(body, "plan_id", 1, 64, &plan_id) < 0)
		return bad(req, body, "plan_id must be a plan's id", "plan_id");
	if ((plan_id == NULL) == (cancel == 0))
		return bad(req, body, "give either plan_id or cancel: true",
		    plan_id ? "cancel" : "plan_id");
	if (plan_id != NULL && (plan = config_find_plan(cfg, plan_id)) == NULL)
		return bad(req, body, "no such plan", "plan_id");
	json_object_put(body);

	if ((rc = account_ensure(app->db, user, NULL, NULL, &acct, NULL)) != DB_OK)
		return api_db_error(app, req, rc);
	rc = subscription_find(app->db, acct.id, &sub);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return api_db_error(app, req, rc);
	have_sub = rc == DB_OK && subscription_is_live(&sub);

	if (cancel || plan->price == 0) {
		/* leaving a paid plan: Stripe stops billing at the period's end */
		if (have_sub) {
			rc = subscription_cancel_at_period_end(app, &sub, err,
			    sizeof(err));
			if (rc != 0)
				return http_send_error(req, rc == 503 ? 503 : 502,
				    rc == 503 ? "unavailable" : "stripe_error", err,
				    NULL, NULL);
		} else if (cancel)
			return http_send_error(req, 409, "conflict",
			    "there is no paid subscription to cancel", "cancel",
			    NULL);
		if (!have_sub && plan != NULL) {
			struct db_param p[] = { DBP_STR(plan->id), DBP_INT(acct.id) };
			if ((rc = db_exec(app->db, SQL_SET_PLAN, p, 2, NULL,
			    NULL)) != DB_OK)
				return api_db_error(app, req, rc);
		}
	} else {
		/* a paid plan: pay first, through Stripe */
		rc = subscription_change_paid(app, &acct, have_sub ? &sub : NULL,
		    plan, &checkout, err, sizeof(err));
		if (rc != 0)
			return http_send_error(req, rc, rc == 503 ? "unavailable" :
			    rc == 400 ? "invalid_argument" : "stripe_error", err,
			    rc == 400 ? "plan_id" : NULL, NULL);
	}
	if ((rc = account_find(app->db, user, &acct)) != DB_OK)
		return api_db_error(app, req, rc);
	return answer(app, req, 200, &acct, user, checkout);
}
