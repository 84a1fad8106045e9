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
 * GET and PATCH admin/users/{user_id}: one account's billing details
 * (name, address, country, tax id and rate, exemption, mode) and its time
 * zone (an IANA name, applied from the account's next period), changed in
 * one audited transaction (account_details_update).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "account_details.h"
#include "accounts.h"
#include "country.h"
#include "db.h"
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

/* --- one account: GET and PATCH admin/users/{user_id} ------------------- */

static void
add_tax_rate(struct json_object *o, const char *key, const struct tax_rate *t)
{
	struct json_object *r;

	if (t == NULL) {
		json_object_object_add(o, key, NULL);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(t->id));
	json_object_object_add(r, "name", json_object_new_string(t->name));
	json_object_object_add(r, "percent", json_money_trim(t->percent, 0));
	json_object_object_add(r, "inclusive",
	    json_object_new_boolean(t->inclusive));
	json_object_object_add(o, key, r);
}

/* The account as GET admin/users/{user_id} shows it (new reference). */
static struct json_object *
details_json(const struct billing_config *cfg, const struct account_details *d)
{
	const struct account *acct = &d->account;
	const struct account_billing *b = &d->billing;
	const struct plan *plan = account_plan(cfg, acct);
	struct json_object *o, *lines, *changes, *c;
	const struct tax_rate *rate = NULL;
	size_t i;

	o = json_object_new_object();
	json_object_object_add(o, "user_id",
	    json_object_new_string(acct->user_id));
	add_string_or_null(o, "email", acct->email);
	json_object_object_add(o, "plan_id",
	    plan != NULL ? json_object_new_string(plan->id) : NULL);
	json_object_object_add(o, "billing_mode", json_object_new_string(
	    config_mode_name(account_mode(cfg, acct))));
	json_object_object_add(o, "status", json_object_new_string(acct->status));
	/* the zone, and while a change is recorded the zone before it and the
	 * instant the new one applies from (the account's next period then) */
	json_object_object_add(o, "timezone", json_object_new_string(
	    acct->zone.zone[0] ? acct->zone.zone : TZ_UTC));
	add_string_or_null(o, "previous_timezone",
	    acct->zone.from != 0 ? acct->zone.prev : "");
	json_object_object_add(o, "timezone_effective_from",
	    acct->zone.from != 0 && acct->zone.prev[0] ?
	    json_time(acct->zone.from) : NULL);
	add_string_or_null(o, "billing_name", b->name);
	lines = json_object_new_array();
	for (i = 0; i < b->naddress; i++)
		json_object_array_add(lines,
		    json_object_new_string(b->address[i]));
	json_object_object_add(o, "billing_address", lines);
	add_string_or_null(o, "country", b->country);
	add_string_or_null(o, "tax_id", b->tax_id);
	add_string_or_null(o, "tax_rate_id", b->tax_rate_id);
	json_object_object_add(o, "tax_exempt",
	    json_object_new_boolean(b->tax_exempt));
	json_object_object_add(o, "email_opt_out",
	    json_object_new_boolean(b->email_opt_out));
	/* the rate its next invoice carries: none when exempt, else its own,
	 * else the config's default */
	if (!b->tax_exempt)
		rate = config_find_tax_rate(cfg, b->tax_rate_id[0] != '\0' ?
		    b->tax_rate_id : cfg->default_tax_rate);
	add_tax_rate(o, "tax_rate", rate);
	changes = json_object_new_array();
	for (i = 0; i < d->nchanges; i++) {
		const struct account_change *ch = &d->changes[i];

		c = json_object_new_object();
		json_object_object_add(c, "field",
		    json_object_new_string(ch->field));
		json_object_object_add(c, "old_value", ch->has_old ?
		    json_object_new_string(ch->old_value) : NULL);
		json_object_object_add(c, "new_value", ch->has_new ?
		    json_object_new_string(ch->new_value) : NULL);
		json_object_object_add(c, "changed_by",
		    json_object_new_string(ch->changed_by));
		json_object_object_add(c, "changed_at",
		    json_time(ch->changed_at));
		json_object_array_add(changes, c);
	}
	json_object_object_add(o, "changes", changes);
	return o;
}

static int
send_details(struct app *app, struct http_request *req, const char *user_id,
    int status)
{
	struct account_details d;
	struct result res;
	struct json_object *o;

	if (account_details_get(app->db, user_id, &d, &res) != RESULT_OK)
		return api_send_result(req, &res);
	o = details_json(app->cfg, &d);
	account_details_free(&d);
	http_send_json(req, status, o);
	json_object_put(o);
	return 0;
}

int
api_admin_user_get(struct app *app, struct http_request *req)
{
	return send_details(app, req, req->params[0], 200);
}

/* 1 when s is clean text: UTF-8, no control characters. */
static int
clean_text(const char *s)
{
	const unsigned char *p;

	if (!utf8_valid(s))
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * A text field of the body: absent (0), null (1, "" stored: cleared), or a
 * string of 1 to max bytes of clean text (1, copied into dst).  -1 after
 * answering 400 naming it.
 */
static int
text_field(struct json_object *body,
    const char *key, size_t max, char *dst, size_t size)
{
	struct json_object *v;
	const char *s;
	size_t len;

	if (!json_object_object_get_ex(body, key, &v))
		return 0;
	dst[0] = '\0';
	if (v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > max || len >= size || strlen(s) != len ||
	    !clean_text(s))
		return -1;
	memcpy(dst, s, len + 1);
	return 1;
}

/* billing_address: null or [] clears; up to 6 lines of 1-200 bytes. */
static int
address_field(struct json_object *body, struct account_billing *b)
{
	struct json_object *v, *line;
	const char *s;
	size_t i, n, len;

	if (!json_object_object_get_ex(body, "billing_address", &v))
		return 0;
	b->naddress = 0;
	if (v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) > ACCOUNT_ADDRESS_LINES)
		return -1;
	for (i = 0; i < n; i++) {
		line = json_object_array_get_idx(v, i);
		if (!json_object_is_type(line, json_type_string))
			return -1;
		s = json_object_get_string(line);
		len = (size_t)json_object_get_string_len(line);
		if (len == 0 || len > ACCOUNT_TEXT_MAX || strlen(s) != len ||
		    !clean_text(s))
			return -1;
		memcpy(b->address[i], s, len + 1);
	}
	b->naddress = n;
	return 1;
}

static const char *const patch_keys[] = { "billing_name", "billing_address",
    "country", "tax_id", "tax_rate_id", "tax_exempt", "billing_mode",
    "timezone", "email_opt_out", NULL };

/* Reads and checks the body into *p.  0, or -1 after answering 400. */
static int
parse_patch(struct app *app, struct http_request *req,
    struct json_object *body, struct account_details_patch *p)
{
	struct account_billing *v = &p->v;
	struct json_object *o;
	char country[8] = "", mode[16] = "";
	int r;

	memset(p, 0, sizeof(*p));
	if (api_check_keys(req, body, patch_keys) != 0)
		return -1;
	if ((r = text_field(body, "billing_name", ACCOUNT_TEXT_MAX,
	    v->name, sizeof(v->name))) < 0)
		return api_bad_param(req, "billing_name", "must be null or 1 "
		    "to 200 bytes of UTF-8 text without control characters");
	p->given |= (unsigned)r << ACCOUNT_FIELD_BILLING_NAME;
	if ((r = address_field(body, v)) < 0)
		return api_bad_param(req, "billing_address", "must be null or "
		    "an array of at most 6 lines, each 1 to 200 bytes of UTF-8 "
		    "text without control characters");
	p->given |= (unsigned)r << ACCOUNT_FIELD_BILLING_ADDRESS;
	if ((r = text_field(body, "country", 2, country,
	    sizeof(country))) < 0 || (r == 1 && country[0] != '\0' &&
	    (strlen(country) != 2 || !country_valid(country))))
		return api_bad_param(req, "country", "must be null or an ISO "
		    "3166-1 alpha-2 code in capitals, such as \"GB\"");
	if (r == 1)
		memcpy(v->country, country, 3);
	p->given |= (unsigned)r << ACCOUNT_FIELD_COUNTRY;
	if ((r = text_field(body, "tax_id", ACCOUNT_TAX_ID_MAX,
	    v->tax_id, sizeof(v->tax_id))) < 0)
		return api_bad_param(req, "tax_id", "must be null or 1 to 64 "
		    "bytes of text without control characters");
	p->given |= (unsigned)r << ACCOUNT_FIELD_TAX_ID;
	if ((r = text_field(body, "tax_rate_id", 64, v->tax_rate_id,
	    sizeof(v->tax_rate_id))) < 0 || (r == 1 &&
	    v->tax_rate_id[0] != '\0' &&
	    config_find_tax_rate(app->cfg, v->tax_rate_id) == NULL))
		return api_bad_param(req, "tax_rate_id", "must be null or the "
		    "id of a rate in the config's taxRates");
	p->given |= (unsigned)r << ACCOUNT_FIELD_TAX_RATE_ID;
	if (json_object_object_get_ex(body, "tax_exempt", &o)) {
		if (!json_object_is_type(o, json_type_boolean))
			return api_bad_param(req, "tax_exempt",
			    "must be true or false");
		v->tax_exempt = json_object_get_boolean(o);
		p->given |= 1u << ACCOUNT_FIELD_TAX_EXEMPT;
	}
	if (json_object_object_get_ex(body, "email_opt_out", &o)) {
		if (!json_object_is_type(o, json_type_boolean))
			return api_bad_param(req, "email_opt_out",
			    "must be true or false");
		v->email_opt_out = json_object_get_boolean(o);
		p->given |= 1u << ACCOUNT_FIELD_EMAIL_OPT_OUT;
	}
	if ((r = text_field(body, "billing_mode", 15, mode,
	    sizeof(mode))) < 0 || (r == 1 && mode[0] != '\0' &&
	    strcmp(mode, "usage") != 0 && strcmp(mode, "subscription") != 0 &&
	    strcmp(mode, "hybrid") != 0))
		return api_bad_param(req, "billing_mode", "must be null, usage, "
		    "subscription or hybrid");
	if (r == 1)
		memcpy(v->billing_mode, mode, sizeof(v->billing_mode));
	p->given |= (unsigned)r << ACCOUNT_FIELD_BILLING_MODE;
	return 0;
}

int
api_admin_user_patch(struct app *app, struct http_request *req)
{
	struct json_object *body = NULL;
	struct account_details_patch p;
	const char *zone = NULL;
	char zbuf[TZ_NAME_MAX + 1] = "";
	struct result res;
	int rc, r;

	if (http_read_json(req, &body) != 0)
		return -1;
	rc = parse_patch(app, req, body, &p);
	if (rc == 0) {
		r = json_field_string(body, "timezone", 0, TZ_NAME_MAX, &zone);
		if (r < 0 || (r == 1 && !tz_valid(zone)))
			rc = api_bad_param(req, "timezone", "must be an IANA "
			    "time zone name (e.g. Europe/Paris)");
		else if (r == 1)
			snprintf(zbuf, sizeof(zbuf), "%s", zone);
	}
	json_object_put(body);
	if (rc != 0)
		return -1;
	if (account_details_update(app->db, app->cfg, req->params[0],
	    req->claims.sub, &p, zbuf[0] != '\0' ? zbuf : NULL,
	    time_now_usec(), NULL, &res) != RESULT_OK)
		return api_send_result(req, &res);
	return send_details(app, req, req->params[0], 200);
}
