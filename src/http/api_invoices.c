/*
 * Invoices over HTTP:
 *   GET invoices                 the user's invoices (?status=, ?limit=, ?cursor=)
 *   GET invoices/{id}            one, with lines, credits applied and payments
 *   GET invoices/{id}/pdf        the same as a PDF
 *   POST invoices, admin/invoices  a manual invoice {user_id, period_start,
 *                                period_end, draft?}
 *   PATCH admin/invoices/{id}    {status: sent | paid | void}
 * Users see their own finalized invoices; an invoice of someone else, or a
 * draft, is 404 to them (its existence is not theirs to learn).
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
#include "id.h"
#include "invoice_pdf.h"
#include "invoices.h"
#include "json_util.h"
#include "log.h"
#include "stripe.h"
#include "timeutil.h"

#define MAX_PERIOD_DAYS 366

static const char SQL_LIST[] =
    "SELECT id FROM billing_invoices WHERE account_id = ? AND id < ? "
    "AND (? = '' OR status = ?) AND (? = 1 OR status <> 'draft') "
    "ORDER BY id DESC LIMIT ?";

static const char *const create_keys[] = { "user_id", "period_start",
    "period_end", "draft", NULL };
static const char *const patch_keys[] = { "status", NULL };
static const char *const statuses[] = { "draft", "sent", "paid", "overdue",
    "void" };

static int
known_status(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(s, statuses[i]) == 0)
			return 1;
	return 0;
}

/* A positive decimal id (id.h); 0 when s is not one. */
static uint64_t
parse_id(const char *s)
{
	int64_t v;

	return id_parse(s, &v) == 0 && v > 0 ? (uint64_t)v : 0;
}

static int
is_admin(const struct http_request *req)
{
	return req->claims.role == JWT_ROLE_ADMIN;
}

/* Loads the invoice of {id} if the caller may see it; answers 404 itself. */
static int
load_visible(struct app *app, struct http_request *req, int details,
    struct invoice *inv)
{
	uint64_t id = parse_id(req->params[0]);
	int rc;

	if (id == 0)
		return http_send_error(req, 404, "not_found", "no such invoice",
		    NULL, NULL), -1;
	rc = details ? invoice_load(app->db, id, inv) :
	    invoice_load_summary(app->db, id, inv);
	if (rc != DB_OK && rc != DB_NOT_FOUND)
		return api_db_error(app, req, rc), -1;
	if (rc == DB_NOT_FOUND || (!is_admin(req) &&
	    (strcmp(inv->user_id, req->claims.sub) != 0 ||
	    strcmp(inv->status, "draft") == 0))) {
		invoice_free(inv);
		return http_send_error(req, 404, "not_found", "no such invoice",
		    NULL, NULL), -1;
	}
	return 0;
}

int
api_invoice_get(struct app *app, struct http_request *req)
{
	struct invoice inv;
	struct json_object *o;

	if (load_visible(app, req, 1, &inv) != 0)
		return -1;
	o = invoice_json(&inv, 1);
	http_send_json(req, 200, o);
	json_object_put(o);
	invoice_free(&inv);
	return 0;
}

int
api_invoice_pdf(struct app *app, struct http_request *req)
{
	struct invoice inv;
	unsigned char *pdf = NULL;
	size_t len = 0;
	char hdr[128];
	int rc = -1;

	if (load_visible(app, req, 1, &inv) != 0)
		return -1;
	if (invoice_pdf(&inv, "StreamSpace", &pdf, &len) != 0) {
		log_warnx("req=%s cannot render invoice %llu", req->request_id,
		    (unsigned long long)inv.id);
		http_send_error(req, 500, "internal", "cannot render the PDF",
		    NULL, NULL);
		goto out;
	}
	snprintf(hdr, sizeof(hdr), "Content-Disposition: inline; "
	    "filename=\"%s.pdf\"", inv.number[0] ? inv.number : "draft");
	if (http_begin(req, 200, "application/pdf", hdr) == 0 &&
	    http_write(req, (const char *)pdf, len) == 0)
		rc = 0;
out:
	free(pdf);
	invoice_free(&inv);
	return rc;
}

int
api_invoices_list(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 1], status[16] = "";
	struct json_object *root, *arr;
	struct db_result *res = NULL;
	uint64_t before, ids[API_PAGE_MAX + 1];
	int64_t limit, cursor;
	struct account acct;
	size_t n = 0, i;
	int64_t v;
	int rc, r;

	if (api_target_user(req, user, sizeof(user)) != 0 ||
	    api_page_args(req, 1, &limit, &cursor) != 0)
		return -1;
	/* newest first: a cursor is the last id of the previous page */
	before = cursor ? (uint64_t)cursor : UINT64_C(9000000000000000000);
	r = http_query_get(req->query, "status", status, sizeof(status));
	if (r < 0 || (r == 1 && !known_status(status)))
		return http_send_error(req, 400, "invalid_argument",
		    "status must be draft, sent, paid, overdue or void",
		    "status", NULL);
	root = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(root, "invoices", arr);
	rc = account_find(app->db, user, &acct);
	if (rc == DB_OK) {
		struct db_param p[] = { DBP_INT(acct.id), DBP_INT(before),
		    DBP_STR(status), DBP_STR(status), DBP_INT(is_admin(req)),
		    DBP_INT(limit + 1) };
		if ((rc = db_query(app->db, SQL_LIST, p, 6, &res)) == DB_OK) {
			while ((r = db_fetch(res)) == 1 && n <= (size_t)limit)
				if (db_col_i64(res, 0, &v) == 0)
					ids[n++] = (uint64_t)v;
			db_result_free(res);
			rc = r < 0 ? r : DB_OK;
		}
	} else if (rc == DB_NOT_FOUND)
		rc = DB_OK;
	for (i = 0; rc == DB_OK && i < n && i < (size_t)limit; i++) {
		struct invoice inv;

		if ((rc = invoice_load_summary(app->db, ids[i], &inv)) == DB_OK)
			json_object_array_add(arr, invoice_json(&inv, 0));
	}
	if (rc != DB_OK) {
		json_object_put(root);
		return api_db_error(app, req, rc);
	}
	if (n > (size_t)limit) {
		char cur[32];

		snprintf(cur, sizeof(cur), "%llu",
		    (unsigned long long)ids[limit - 1]);
		json_object_object_add(root, "next_cursor",
		    json_object_new_string(cur));
	} else
		json_object_object_add(root, "next_cursor", NULL);
	http_send_json(req, 200, root);
	json_object_put(root);
	return 0;
}

struct create_txn {
	const struct billing_config *cfg;
	struct invoice_spec spec;
	enum invoice_outcome outcome;
	uint64_t id;
};

static int
create_txn(struct db *db, void *arg)
{
	struct create_txn *c = arg;

	return invoice_build(db, c->cfg, &c->spec, &c->outcome, &c->id);
}

static int
bad(struct http_request *req, struct json_object *body, const char *msg,
    const char *param)
{
	http_send_error(req, 400, "invalid_argument", msg, param, NULL);
	json_object_put(body);
	return -1;
}

/* 400 for an instant json_field_time refused (r < 0) or did not find
 * (r == 0); consumes body. */
static int
bad_time(struct http_request *req, struct json_object *body,
    const char *param, int r, int date_form)
{
	if (r == 0)
		api_bad_param(req, param, "is required (RFC 3339 or YYYY-MM-DD)");
	else
		api_bad_time(req, param, r, date_form);
	json_object_put(body);
	return -1;
}

int
api_invoice_create(struct app *app, struct http_request *req)
{
	struct json_object *body = NULL, *o;
	struct create_txn c;
	struct account acct;
	struct invoice inv;
	const char *user = NULL;
	int draft = 0, rc, r;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, create_keys) != 0) {
		json_object_put(body);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	r = json_field_string(body, "user_id", 1, ACCOUNT_USER_ID_MAX, &user);
	if (r != 1 || !account_user_id_valid(user))
		return bad(req, body, "user_id is required (1 to 255 characters)",
		    "user_id");
	r = json_field_time(body, "period_start", TIME_DATE_START,
	    &c.spec.period_start, NULL);
	if (r != 1)
		return bad_time(req, body, "period_start", r, TIME_DATE_START);
	/* a date-only end includes that whole day */
	r = json_field_time(body, "period_end", TIME_DATE_END,
	    &c.spec.period_end, NULL);
	if (r != 1)
		return bad_time(req, body, "period_end", r, TIME_DATE_END);
	if (c.spec.period_end <= c.spec.period_start)
		return bad(req, body, "period_end must be after period_start",
		    "period_end");
	if (c.spec.period_end - c.spec.period_start >
	    MAX_PERIOD_DAYS * 86400LL * USEC_PER_SEC)
		return bad(req, body, "a period may span at most 366 days",
		    "period_end");
	if (json_field_bool(body, "draft", &draft) < 0)
		return bad(req, body, "draft must be true or false", "draft");

	rc = account_find(app->db, user, &acct);
	json_object_put(body);
	if (rc == DB_NOT_FOUND)
		return http_send_error(req, 404, "not_found", "no such user",
		    "user_id", NULL);
	if (rc != DB_OK)
		return api_db_error(app, req, rc);
	c.cfg = app->cfg;
	c.spec.account_id = acct.id;
	c.spec.draft = draft;
	c.spec.now = time_now_usec();
	if ((rc = db_transaction(app->db, create_txn, &c)) != DB_OK)
		return api_db_error(app, req, rc);
	if (c.outcome != INVOICE_CREATED)
		return http_send_error(req, 409, "conflict",
		    "the period overlaps an invoice of this user", "period_start",
		    NULL);
	if ((rc = invoice_load(app->db, c.id, &inv)) != DB_OK)
		return api_db_error(app, req, rc);
	o = invoice_json(&inv, 1);
	http_send_json(req, 201, o);
	json_object_put(o);
	invoice_free(&inv);
	return 0;
}

struct status_txn {
	const struct billing_config *cfg;
	uint64_t id;
	const char *to;
	int64_t now;
	enum invoice_status_outcome outcome;
	struct stripe_error se;
};

static int
status_txn(struct db *db, void *arg)
{
	struct status_txn *s = arg;

	return invoice_set_status(db, s->cfg, s->id, s->to, s->now, &s->outcome,
	    &s->se);
}

/*
 * Stripe did not void or pay out of band the invoice it collects: nothing
 * changed here.  A refusal for the invoice's state in Stripe (400: it is
 * paid already, say) is 409 with Stripe's reason; the rest as every Stripe
 * failure (503 when Stripe is down or off, 502 otherwise).
 */
static int
stripe_refused(struct app *app, struct http_request *req,
    const struct status_txn *s)
{
	char msg[700];

	if (s->se.rc == STRIPE_REJECTED && s->se.status == 400) {
		snprintf(msg, sizeof(msg), "Stripe collects this invoice and "
		    "refused to mark it %s: %s", s->to, s->se.message);
		return http_send_error(req, 409, "conflict", msg, "status",
		    NULL);
	}
	return api_stripe_failed(app, req, &s->se);
}

int
api_invoice_patch(struct app *app, struct http_request *req)
{
	static const char *const allowed[] = { "sent", "paid", "void" };
	struct json_object *body = NULL, *o;
	struct status_txn s;
	struct invoice inv;
	const char *status = NULL;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((s.id = parse_id(req->params[0])) == 0)
		return http_send_error(req, 404, "not_found", "no such invoice",
		    NULL, NULL);
	if (http_read_json(req, &body) != 0)
		return -1;
	/* only status can change: amounts of an invoice never do */
	if (api_check_keys(req, body, patch_keys) != 0) {
		json_object_put(body);
		return -1;
	}
	if (json_field_string(body, "status", 1, 16, &status) != 1)
		return bad(req, body, "status must be sent, paid or void", "status");
	for (i = 0; i < 3; i++)
		if (strcmp(status, allowed[i]) == 0)
			s.to = allowed[i];
	json_object_put(body);
	if (s.to == NULL)
		return http_send_error(req, 400, "invalid_argument",
		    "status must be sent, paid or void", "status", NULL);
	s.cfg = app->cfg;
	s.now = time_now_usec();
	rc = db_transaction(app->db, status_txn, &s);
	if (rc == DB_NOT_FOUND)
		return http_send_error(req, 404, "not_found", "no such invoice",
		    NULL, NULL);
	if (rc != DB_OK)
		return api_db_error(app, req, rc);
	if (s.outcome == INVOICE_STATUS_CONFLICT)
		return http_send_error(req, 409, "conflict",
		    "the invoice cannot move to that status from its own",
		    "status", NULL);
	if (s.outcome == INVOICE_STATUS_STRIPE)
		return stripe_refused(app, req, &s);
	if ((rc = invoice_load(app->db, s.id, &inv)) != DB_OK)
		return api_db_error(app, req, rc);
	o = invoice_json(&inv, 1);
	http_send_json(req, 200, o);
	json_object_put(o);
	invoice_free(&inv);
	return 0;
}
