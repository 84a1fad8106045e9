/*
 * GET admin/users: every account with its plan, mode, status and figures,
 * a page at a time.
 *
 *   ?limit=    1-500, default 50
 *   ?cursor=   opaque to clients: the id of the last account of the previous
 *              page, as decimal text
 *   ?status=   active, suspended or closed
 *   ?q=        a prefix of the user id or of the email (1-255 bytes)
 *   ?from=&to= the period of the figures' cost column, whole UTC days
 *              (default: the billing period containing now); given, only
 *              accounts created before `to` are listed
 *
 * GET admin/summary[?from=&to=]: the totals over every account (below).
 *
 * One query per page, whatever its size (account_list, src/billing/
 * accounts.c).  The figures follow GET usage's rules: the period is the
 * billing period containing now; a credit counts while it has not expired.
 *
 * PATCH admin/users/{user_id}: the account's billing settings.  For now
 * only `timezone` (an IANA name, applied from the account's next period:
 * account_set_timezone); the other billing details join this handler's key
 * list and body as they come.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "result.h"
#include "timeutil.h"
#include "utf8.h"
#include "tz.h"


#define RANGE_MAX_DAYS 400

struct page_req {
	int64_t limit;
	int64_t cursor;         /* 0: from the start */
	const char *status;     /* "" for every status; static */
	char q[ACCOUNT_Q_MAX + 1];
	int64_t from, to;
	int ranged;             /* from or to was given */
};

/* Reads ?limit=, ?cursor= and ?status=.  0, or -1 after answering 400. */
static int
parse_query(struct app *app, struct http_request *req, struct page_req *pr)
{
	static const char *const statuses[] = { "active", "suspended",
	    "closed", NULL };
	char buf[64];
	size_t i;
	int r;

	pr->status = "";
	if (api_page_args(req, 0, &pr->limit, &pr->cursor) != 0)
		return -1;
	r = http_query_get(req->query, "status", buf, sizeof(buf));
	for (i = 0; r == 1 && statuses[i] != NULL; i++)
		if (strcmp(buf, statuses[i]) == 0)
			pr->status = statuses[i];
	if (r < 0 || (r == 1 && pr->status[0] == '\0')) {
		http_send_error(req, 400, "invalid_argument",
		    "status must be active, suspended or closed", "status",
		    NULL);
		return -1;
	}
	r = http_query_get(req->query, "q", pr->q, sizeof(pr->q));
	if (r < 0 || (r == 1 && (pr->q[0] == '\0' || !utf8_valid(pr->q))))
		return api_bad_param(req, "q", "must be 1 to 255 bytes of UTF-8: "
		    "the start of a user id or an email");
	if (r == 0)
		pr->q[0] = '\0';
	pr->ranged = http_query_get(req->query, "from", buf, sizeof(buf)) != 0 ||
	    http_query_get(req->query, "to", buf, sizeof(buf)) != 0;
	return api_day_range_args(app, req, RANGE_MAX_DAYS, &pr->from, &pr->to);
}

static void
add_string_or_null(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v[0] != '\0' ?
	    json_object_new_string(v) : NULL);
}

/* account_list's callback: one row of the page into the array. */
struct page_out {
	const struct billing_config *cfg;
	const struct account_page *pg;
	struct json_object *users;
};

static void
user_json(const struct account_row *row, void *arg)
{
	struct page_out *po = arg;
	const struct billing_config *cfg = po->cfg;
	const struct account *acct = &row->account;
	struct json_object *o, *period;
	const struct plan *plan = account_plan(cfg, acct);

	o = json_object_new_object();
	json_object_object_add(o, "user_id",
	    json_object_new_string(acct->user_id));
	add_string_or_null(o, "email", acct->email);
	json_object_object_add(o, "plan_id",
	    plan != NULL ? json_object_new_string(plan->id) : NULL);
	json_object_object_add(o, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, acct))));
	json_object_object_add(o, "status", json_object_new_string(acct->status));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(po->pg->period_from));
	json_object_object_add(period, "to", json_time(po->pg->period_to));
	json_object_object_add(o, "current_period", period);
	json_object_object_add(o, "current_period_cost",
	    json_money(row->period_cost, 2));
	json_object_object_add(o, "outstanding_balance",
	    json_money(row->outstanding, 2));
	json_object_object_add(o, "credits_balance",
	    json_money(row->credits, 2));
	json_object_object_add(o, "active_sessions",
	    json_object_new_int64(row->sessions));
	json_object_object_add(o, "currency",
	    json_object_new_string(cfg->currency));
	json_object_object_add(o, "created_at", json_time(row->created_at));
	json_object_array_add(po->users, o);
}

int
api_admin_users(struct app *app, struct http_request *req)
{
	struct account_page pg;
	struct page_out po;
	struct page_req pr;
	struct result res;

	if (parse_query(app, req, &pr) != 0)
		return -1;
	memset(&pg, 0, sizeof(pg));
	pg.limit = pr.limit;
	pg.after_id = pr.cursor;
	pg.status = pr.status;
	pg.q = pr.q;
	pg.now = time_now_usec();
	pg.period_from = pr.from;
	pg.period_to = pr.to;
	pg.existed = pr.ranged;
	po = (struct page_out){ app->cfg, &pg, json_object_new_array() };
	if (account_list(app->db, app->cfg, &pg, user_json, &po,
	    &res) != RESULT_OK) {
		json_object_put(po.users);
		api_send_result(req, &res);
		return 0;
	}
	api_send_page(req, "users", po.users, pg.more, pg.last_id);
	return 0;
}

/*
 * GET admin/summary: this period's (or from/to's) metered usage of every
 * account, what is owed (invoices sent or overdue) and of that what is
 * overdue, as of now, and the accounts by status.
 */
int
api_admin_summary(struct app *app, struct http_request *req)
{
	struct account_summary sum;
	struct json_object *o, *period, *owed, *overdue, *accounts;
	struct result res;

	memset(&sum, 0, sizeof(sum));
	if (api_day_range_args(app, req, RANGE_MAX_DAYS, &sum.from,
	    &sum.to) != 0)
		return -1;
	if (account_summary(app->db, &sum, &res) != RESULT_OK)
		return api_send_result(req, &res);
	o = json_object_new_object();
	json_object_object_add(o, "currency",
	    json_object_new_string(app->cfg->currency));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(sum.from));
	json_object_object_add(period, "to", json_time(sum.to));
	json_object_object_add(o, "period", period);
	json_object_object_add(o, "usage_cost", json_money(sum.usage_cost, 2));
	owed = json_object_new_object();
	json_object_object_add(owed, "amount", json_money(sum.owed, 2));
	json_object_object_add(owed, "invoices",
	    json_object_new_int64(sum.owed_count));
	json_object_object_add(o, "outstanding", owed);
	overdue = json_object_new_object();
	json_object_object_add(overdue, "amount", json_money(sum.overdue, 2));
	json_object_object_add(overdue, "invoices",
	    json_object_new_int64(sum.overdue_count));
	json_object_object_add(o, "overdue", overdue);
	accounts = json_object_new_object();
	json_object_object_add(accounts, "total", json_object_new_int64(
	    sum.active + sum.suspended + sum.closed));
	json_object_object_add(accounts, "active",
	    json_object_new_int64(sum.active));
	json_object_object_add(accounts, "suspended",
	    json_object_new_int64(sum.suspended));
	json_object_object_add(accounts, "closed",
	    json_object_new_int64(sum.closed));
	json_object_object_add(o, "accounts", accounts);
	http_send_json(req, 200, o);
	json_object_put(o);
	return 0;
}

/* the keys PATCH admin/users/{user_id} takes */
static const char *const patch_keys[] = { "timezone", NULL };

/* The account's billing settings, as PATCH answers them. */
static struct json_object *
settings_json(const struct account *acct)
{
	const struct period_zone *z = &acct->zone;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "user_id",
	    json_object_new_string(acct->user_id));
	json_object_object_add(o, "timezone",
	    json_object_new_string(z->zone[0] ? z->zone : TZ_UTC));
	/* the zone before a change, and the instant the new one applies
	 * from (the start of the account's next period then) */
	add_string_or_null(o, "previous_timezone",
	    z->from != 0 ? z->prev : "");
	json_object_object_add(o, "timezone_effective_from",
	    z->from != 0 && z->prev[0] ? json_time(z->from) : NULL);
	return o;
}

int
api_admin_user_patch(struct app *app, struct http_request *req)
{
	struct json_object *body = NULL, *o;
	const char *zone = NULL;
	struct account acct;
	char zbuf[TZ_NAME_MAX + 1];
	struct result res;
	int r;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, patch_keys) != 0) {
		json_object_put(body);
		return -1;
	}
	r = json_field_string(body, "timezone", 0, TZ_NAME_MAX, &zone);
	if (r < 0 || (r == 1 && !tz_valid(zone)))
		return api_bad_body(req, body, "timezone must be an IANA time "
		    "zone name (e.g. Europe/Paris)", "timezone");
	if (r == 0)
		return api_bad_body(req, body, "nothing to change: give "
		    "timezone", "timezone");
	snprintf(zbuf, sizeof(zbuf), "%s", zone);
	json_object_put(body);
	if (account_set_timezone(app->db, app->cfg, req->params[0], zbuf,
	    time_now_usec(), &acct, &res) != RESULT_OK)
		return api_send_result(req, &res);
	o = settings_json(&acct);
	http_send_json(req, 200, o);
	json_object_put(o);
	return 0;
}
