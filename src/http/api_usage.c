/*
 * GET usage: the hottest read, one call of usage_read (src/billing/usage.c):
 * the metered usage from the daily totals and the live part of the active
 * sessions from their open segments.
 *
 *   ?from=&to=   RFC 3339 or YYYY-MM-DD (a date-only `to` includes that day);
 *                default: the account's current billing period (from the
 *                last invoiceDay, at local midnight in its time zone)
 *   ?user_id=    admins only
 *
 * GET usage/days: the same range's metered usage by day, every day present
 * (one call of usage_days_read), for the pages' cost-per-day chart.
 */
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "money.h"
#include "resource.h"
#include "result.h"
#include "timeutil.h"
#include "usage.h"

#define MAX_RANGE_DAYS 400

/* usage_read's callback: an active session into the list. */
static void
session_json(const struct usage_session *s, void *arg)
{
	struct json_object *list = arg, *o = json_object_new_object();

	json_object_object_add(o, "session_id",
	    json_object_new_string(s->session_id));
	json_object_object_add(o, "started_at", json_time(s->started_at));
	json_object_object_add(o, "last_heartbeat_at",
	    json_time(s->last_heartbeat_at));
	json_object_object_add(o, "cpu_cores",
	    json_money_trim(s->size[RES_CPU], 0));
	json_object_object_add(o, "memory_gb",
	    json_money_trim(s->size[RES_MEMORY], 0));
	json_object_object_add(o, "storage_gb",
	    json_money_trim(s->size[RES_STORAGE], 0));
	json_object_object_add(o, "stale", json_object_new_boolean(s->stale));
	json_object_object_add(o, "state", json_object_new_string(
	    s->hibernated ? "hibernated" : "running"));
	json_object_object_add(o, "accrued_cost",
	    json_money_trim(s->accrued, 2));
	json_object_array_add(list, o);
}

static struct json_object *
quota_of(int64_t in_use, int64_t limit)
{
	struct json_object *o = json_object_new_object();
	int64_t pct;

	json_object_object_add(o, "in_use", json_money_trim(in_use, 0));
	json_object_object_add(o, "limit", json_money_trim(limit, 0));
	if (limit > 0 && money_muldiv(in_use, 100 * MONEY_SCALE, limit, &pct) == 0)
		json_object_object_add(o, "percent", json_money(pct, 2));
	else
		json_object_object_add(o, "percent", NULL);
	return o;
}

struct json_object *
api_plan_json(const struct plan *p)
{
	struct json_object *o;

	if (p == NULL)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "price", json_money(p->price, 2));
	json_object_object_add(o, "interval", json_object_new_string(
	    p->interval == INTERVAL_YEAR ? "year" : "month"));
	json_object_object_add(o, "cpu_limit", json_money_trim(p->cpu_limit, 0));
	json_object_object_add(o, "memory_limit",
	    json_money_trim(p->memory_limit, 0));
	json_object_object_add(o, "storage_limit",
	    json_money_trim(p->storage_limit, 0));
	return o;
}

int
api_usage(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *root = NULL, *items, *sessions, *period, *quota;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	const struct account *acct;
	const struct plan *plan;
	struct result res;
	struct usage u;
	int64_t now = time_now_usec(), from, to;
	int neither;
	size_t i;

	if (api_target_user(req, user_id, sizeof(user_id)) != 0 ||
	    api_range_args(app, req, MAX_RANGE_DAYS, &from, &to, &neither) != 0)
		return -1;
	/* no range asked: the account's own period (usage_read finds it) */
	if (neither)
		from = to = 0;
	memset(&u, 0, sizeof(u));
	sessions = json_object_new_array();
	if (usage_read(app->db, cfg, user_id, from, to, now, &u, session_json,
	    sessions, &res) != RESULT_OK) {
		json_object_put(sessions);
		usage_free(&u);
		return api_send_result(req, &res);
	}
	acct = u.have_account ? &u.account : NULL;
	from = u.from;
	to = u.to;

	root = json_object_new_object();
	json_object_object_add(root, "user_id", json_object_new_string(user_id));
	json_object_object_add(root, "currency",
	    json_object_new_string(cfg->currency));
	json_object_object_add(root, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, acct))));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(from));
	json_object_object_add(period, "to", json_time(to));
	json_object_object_add(root, "period", period);
	items = json_object_new_array();
	for (i = 0; i < u.nitems; i++) {
		const struct usage_item *ui = &u.items[i];
		struct json_object *it = json_object_new_object();

		json_object_object_add(it, "resource_type",
		    json_object_new_string(resource_name(ui->res)));
		json_object_object_add(it, "quantity",
		    json_money_trim(ui->qty, 0));
		json_object_object_add(it, "unit",
		    json_object_new_string(resource_unit(ui->res)));
		json_object_object_add(it, "unit_price",
		    json_money_trim(ui->price, 2));
		json_object_object_add(it, "total_cost",
		    json_money_trim(ui->cost, 2));
		json_object_array_add(items, it);
	}
	json_object_object_add(root, "items", items);
	json_object_object_add(root, "total_cost", json_money_trim(u.total, 2));
	json_object_object_add(root, "pending_cost", json_money_trim(u.pending, 2));
	json_object_object_add(root, "user_storage_gb",
	    json_money_trim(u.user_storage, 0));
	json_object_object_add(root, "estimated_total_cost",
	    json_money_trim(u.total + u.pending, 2));
	json_object_object_add(root, "active_sessions", sessions);
	plan = account_plan(cfg, acct);
	json_object_object_add(root, "plan", api_plan_json(plan));
	quota = json_object_new_object();
	json_object_object_add(quota, "cpu", quota_of(u.in_use[RES_CPU],
	    plan ? plan->cpu_limit : 0));
	json_object_object_add(quota, "memory", quota_of(u.in_use[RES_MEMORY],
	    plan ? plan->memory_limit : 0));
	json_object_object_add(quota, "storage", quota_of(u.in_use[RES_STORAGE],
	    plan ? plan->storage_limit : 0));
	json_object_object_add(root, "quota", quota);
	/* the percent of a quota where the pages show the warning colour */
	json_object_object_add(root, "alert_threshold",
	    json_object_new_int(cfg->alert_threshold));
	json_object_object_add(root, "credits_balance",
	    json_money(u.credits, 2));
	http_send_json(req, 200, root);
	json_object_put(root);
	usage_free(&u);
	return 0;
}

int
api_usage_days(struct app *app, struct http_request *req)
{
	struct json_object *root, *period, *days;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	struct usage_days d;
	struct result res;
	int64_t from, to;
	size_t i;
	int k, neither;

	if (api_target_user(req, user_id, sizeof(user_id)) != 0 ||
	    api_range_args(app, req, MAX_RANGE_DAYS, &from, &to, &neither) != 0)
		return -1;
	/* no range asked: the account's own period (usage_days_read finds
	 * it, as usage_read does) */
	if (neither)
		from = to = 0;
	if (usage_days_read(app->db, app->cfg, user_id, from, to,
	    time_now_usec(), &d, &res) != RESULT_OK)
		return api_send_result(req, &res);
	from = d.from;
	to = d.to;

	root = json_object_new_object();
	json_object_object_add(root, "user_id", json_object_new_string(user_id));
	json_object_object_add(root, "currency",
	    json_object_new_string(app->cfg->currency));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(from));
	json_object_object_add(period, "to", json_time(to));
	json_object_object_add(root, "period", period);
	days = json_object_new_array_ext((int)d.ndays);
	for (i = 0; i < d.ndays; i++) {
		const struct usage_day *ud = &d.days[i];
		struct json_object *o = json_object_new_object();
		struct json_object *items = json_object_new_array();

		json_object_object_add(o, "day",
		    json_object_new_string(ud->date));
		json_object_object_add(o, "total_cost",
		    json_money_trim(ud->total, 2));
		for (k = 0; k < RES_COUNT; k++) {
			struct json_object *it;

			if (!ud->metered[k])
				continue;
			it = json_object_new_object();
			json_object_object_add(it, "resource_type",
			    json_object_new_string(resource_name(k)));
			json_object_object_add(it, "quantity",
			    json_money_trim(ud->qty[k], 0));
			json_object_object_add(it, "unit",
			    json_object_new_string(resource_unit(k)));
			json_object_object_add(it, "total_cost",
			    json_money_trim(ud->cost[k], 2));
			json_object_array_add(items, it);
		}
		json_object_object_add(o, "items", items);
		json_object_array_add(days, o);
	}
	json_object_object_add(root, "days", days);
	json_object_object_add(root, "total_cost", json_money_trim(d.total, 2));
	http_send_json(req, 200, root);
	json_object_put(root);
	usage_days_free(&d);
	return 0;
}
