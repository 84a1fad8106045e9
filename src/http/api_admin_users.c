/*
 * GET admin/users: every account with its plan, mode, status and figures,
 * a page at a time.
 *
 *   ?limit=    1-500, default 50
 *   ?cursor=   opaque to clients: the id of the last account of the previous
 *              page, as decimal text
 *   ?status=   active, suspended or closed
 *
 * One query per page, whatever its size: the page of accounts in id order,
 * each with four scalar subqueries (the current period's cost from the
 * daily totals, the outstanding invoices, the credits balance, the open
 * sessions), each an index lookup on the account id.  The figures follow
 * GET usage's rules: the period is the billing period containing now; a
 * credit counts while it has not expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "money.h"
#include "period.h"
#include "timeutil.h"


static const char SQL_PAGE[] =
    "SELECT a.id, a.user_id, COALESCE(a.email, ''), COALESCE(a.plan_id, ''), "
    "COALESCE(a.billing_mode, ''), a.status, a.created_at, "
    "(SELECT COALESCE(SUM(d.total_cost), 0) FROM billing_usage_daily d "
    "  WHERE d.account_id = a.id AND d.day >= ? AND d.day < ?), "
    "(SELECT COALESCE(SUM(i.total), 0) FROM billing_invoices i "
    "  WHERE i.account_id = a.id AND i.status IN ('sent', 'overdue')), "
    "(SELECT COALESCE(SUM(c.remaining), 0) FROM billing_credits c "
    "  WHERE c.account_id = a.id AND (c.expires_at IS NULL OR c.expires_at > ?)), "
    "(SELECT COUNT(*) FROM billing_sessions s "
    "  WHERE s.account_id = a.id AND s.ended_at IS NULL) "
    "FROM billing_accounts a "
    "WHERE a.id > ? AND (? = '' OR a.status = ?) "
    "ORDER BY a.id LIMIT ?";

enum { C_ID, C_USER, C_EMAIL, C_PLAN, C_MODE, C_STATUS, C_CREATED, C_COST,
    C_OUTSTANDING, C_CREDITS, C_SESSIONS };

struct page_req {
	int64_t limit;
	int64_t cursor;         /* 0: from the start */
	const char *status;     /* "" for every status; static */
};

/* Reads ?limit=, ?cursor= and ?status=.  0, or -1 after answering 400. */
static int
parse_query(struct http_request *req, struct page_req *pr)
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
	return 0;
}

static void
add_string_or_null(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v[0] != '\0' ?
	    json_object_new_string(v) : NULL);
}

/*
 * One row of the page as the endpoint answers it; NULL when the row cannot
 * be read (a bug: the caller answers 500).  New reference.
 */
static struct json_object *
user_json(const struct billing_config *cfg, const struct db_result *res,
    int64_t from, int64_t to, int64_t *id)
{
	struct json_object *o, *period;
	const struct plan *plan;
	struct account acct;
	int64_t cost, outstanding, credits, sessions, created;
	size_t len;
	const char *ct;

	memset(&acct, 0, sizeof(acct));
	ct = db_col(res, C_CREATED, &len);
	if (db_col_i64(res, C_ID, id) != 0 || ct == NULL ||
	    time_parse_db(ct, len, &created) != 0 ||
	    db_col_decimal(res, C_COST, &cost) != 0 ||
	    db_col_decimal(res, C_OUTSTANDING, &outstanding) != 0 ||
	    db_col_decimal(res, C_CREDITS, &credits) != 0 ||
	    db_col_i64(res, C_SESSIONS, &sessions) != 0)
		return NULL;
	acct.id = (uint64_t)*id;
	db_col_text(res, C_USER, acct.user_id, sizeof(acct.user_id));
	db_col_text(res, C_EMAIL, acct.email, sizeof(acct.email));
	db_col_text(res, C_PLAN, acct.plan_id, sizeof(acct.plan_id));
	db_col_text(res, C_MODE, acct.billing_mode, sizeof(acct.billing_mode));
	db_col_text(res, C_STATUS, acct.status, sizeof(acct.status));
	plan = account_plan(cfg, &acct);

	o = json_object_new_object();
	json_object_object_add(o, "user_id",
	    json_object_new_string(acct.user_id));
	add_string_or_null(o, "email", acct.email);
	json_object_object_add(o, "plan_id",
	    plan != NULL ? json_object_new_string(plan->id) : NULL);
	json_object_object_add(o, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, &acct))));
	json_object_object_add(o, "status", json_object_new_string(acct.status));
	period = json_object_new_object();
	json_object_object_add(period, "from", json_time(from));
	json_object_object_add(period, "to", json_time(to));
	json_object_object_add(o, "current_period", period);
	json_object_object_add(o, "current_period_cost", json_money(cost, 2));
	json_object_object_add(o, "outstanding_balance",
	    json_money(outstanding, 2));
	json_object_object_add(o, "credits_balance", json_money(credits, 2));
	json_object_object_add(o, "active_sessions",
	    json_object_new_int64(sessions));
	json_object_object_add(o, "currency",
	    json_object_new_string(cfg->currency));
	json_object_object_add(o, "created_at", json_time(created));
	return o;
}

int
api_admin_users(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *users = NULL, *u;
	struct db_result *res = NULL;
	struct page_req pr;
	char dfrom[TIME_TEXT_MAX], dto[TIME_TEXT_MAX], tnow[TIME_TEXT_MAX];
	int64_t now = time_now_usec(), from, to, id = 0, n = 0;
	int rc = DB_OK, r, more = 0;

	if (parse_query(req, &pr) != 0)
		return -1;
	period_containing(cfg->invoice_day, now, &from, &to);
	/* periods start at 00:00 UTC: whole days of the daily totals */
	time_format_db(from, dfrom, sizeof(dfrom));
	dfrom[10] = '\0';
	time_format_db(to, dto, sizeof(dto));
	dto[10] = '\0';
	time_format_db(now, tnow, sizeof(tnow));
	struct db_param p[] = { DBP_STR(dfrom), DBP_STR(dto), DBP_STR(tnow),
	    DBP_INT(pr.cursor), DBP_STR(pr.status), DBP_STR(pr.status),
	    DBP_INT(pr.limit + 1) };

	/* one row more than asked tells whether another page follows */
	if ((rc = db_query(app->db, SQL_PAGE, p, sizeof(p) / sizeof(p[0]),
	    &res)) != DB_OK)
		goto out;
	users = json_object_new_array();
	while ((r = db_fetch(res)) == 1) {
		if (n == pr.limit) {
			more = 1;
			break;
		}
		if ((u = user_json(cfg, res, from, to, &id)) == NULL) {
			rc = DB_ERROR;
			goto out;
		}
		json_object_array_add(users, u);
		n++;
	}
	if (r < 0) {
		rc = r;
		goto out;
	}
	api_send_page(req, "users", users, more, id);
	users = NULL;
out:
	db_result_free(res);
	json_object_put(users);
	if (rc != DB_OK)
		api_db_error(app, req, rc);
	return 0;
}
