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
#include "result.h"
#include "timeutil.h"

#define MAX_PERIOD_DAYS 366

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
	if (rc == DB_NOT_FOUND || (!api_reads_every_user(req) &&
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
	if (invoice_pdf_issued(&inv, &app->cfg->issuer, &pdf, &len) != 0) {
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
	struct invoice_page pg;
	struct result res;
	int64_t limit, cursor;
	size_t i;
	int r;

	if (api_target_user(req, user, sizeof(user)) != 0 ||
	    api_page_args(req, 1, &limit, &cursor) != 0)
		return -1;
	r = http_query_get(req->query, "status", status, sizeof(status));
	if (r < 0 || (r == 1 && !known_status(status)))
		return http_send_error(req, 400, "invalid_argument",
		    "status must be draft, sent, paid, overdue or void",
		    "status", NULL);
	memset(&pg, 0, sizeof(pg));
	pg.user_id = user;
	pg.status = status;
	pg.drafts = api_reads_every_user(req);
	/* newest first: a cursor is the last id of the previous page */
	pg.before = (uint64_t)cursor;
	pg.limit = (size_t)limit;
	if (invoice_list(app->db, &pg, &res) != RESULT_OK) {
		invoice_page_free(&pg);
		return api_send_result(req, &res);
	}
	root = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(root, "invoices", arr);
	for (i = 0; i < pg.n; i++)
		json_object_array_add(arr, invoice_json(&pg.items[i], 0));
	if (pg.next_cursor != 0) {
		char cur[32];

		snprintf(cur, sizeof(cur), "%llu",
		    (unsigned long long)pg.next_cursor);
		json_object_object_add(root, "next_cursor",
		    json_object_new_string(cur));
	} else
		json_object_object_add(root, "next_cursor", NULL);
	invoice_page_free(&pg);
	http_send_json(req, 200, root);
	json_object_put(root);
	return 0;
}

/*
 * GET admin/invoices: every account's invoices, drafts included, newest
 * first; ?status=, ?user_id=, ?from=&to= (the invoice's period overlaps
 * [from, to)), ?limit=, ?cursor=.  The items as GET invoices shows them.
 */
int
api_admin_invoices_list(struct app *app, struct http_request *req)
{
	char user[ACCOUNT_USER_ID_MAX + 2] = "", status[16] = "";
	struct json_object *arr;
	struct invoice_page pg;
	struct result res;
	int64_t limit, cursor;
	size_t i;
	int r;

	memset(&pg, 0, sizeof(pg));
	if (api_page_args(req, 1, &limit, &cursor) != 0)
		return -1;
	r = http_query_get(req->query, "status", status, sizeof(status));
	if (r < 0 || (r == 1 && !known_status(status)))
		return api_bad_param(req, "status",
		    "must be draft, sent, paid, overdue or void");
	r = http_query_get(req->query, "user_id", user, sizeof(user));
	if (r < 0 || (r == 1 && !account_user_id_valid(user)))
		return api_bad_param(req, "user_id",
		    "must be 1 to 255 characters of UTF-8");
	if (api_open_range_args(req, &pg.from, &pg.to) != 0)
		return -1;
	pg.every_user = 1;
	pg.user_id = user;
	pg.status = status;
	pg.drafts = 1;
	pg.before = (uint64_t)cursor;
	pg.limit = (size_t)limit;
	if (invoice_list(app->db, &pg, &res) != RESULT_OK) {
		invoice_page_free(&pg);
		return api_send_result(req, &res);
	}
	arr = json_object_new_array();
	for (i = 0; i < pg.n; i++)
		json_object_array_add(arr, invoice_json(&pg.items[i], 0));
	api_send_page(req, "invoices", arr, pg.next_cursor != 0,
	    (int64_t)pg.next_cursor);
	invoice_page_free(&pg);
	return 0;
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
	struct invoice_spec spec;
	struct invoice inv;
	struct result res;
	const char *user = NULL;
	uint64_t id = 0;
	int draft = 0, rc, r;

	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, create_keys) != 0) {
		json_object_put(body);
		return -1;
	}
	memset(&spec, 0, sizeof(spec));
	r = json_field_string(body, "user_id", 1, ACCOUNT_USER_ID_MAX, &user);
	if (r != 1 || !account_user_id_valid(user))
		return api_bad_body(req, body,
		    "user_id is required (1 to 255 characters)",
		    "user_id");
	r = json_field_time(body, "period_start", TIME_DATE_START,
	    &spec.period_start, NULL);
	if (r != 1)
		return bad_time(req, body, "period_start", r, TIME_DATE_START);
	/* a date-only end includes that whole day */
	r = json_field_time(body, "period_end", TIME_DATE_END,
	    &spec.period_end, NULL);
	if (r != 1)
		return bad_time(req, body, "period_end", r, TIME_DATE_END);
	if (spec.period_end <= spec.period_start)
		return api_bad_body(req, body,
		    "period_end must be after period_start",
		    "period_end");
	if (spec.period_end - spec.period_start >
	    MAX_PERIOD_DAYS * 86400LL * USEC_PER_SEC)
		return api_bad_body(req, body,
		    "a period may span at most 366 days",
		    "period_end");
	if (json_field_bool(body, "draft", &draft) < 0)
		return api_bad_body(req, body,
		    "draft must be true or false", "draft");

	spec.user_id = user;
	spec.draft = draft;
	spec.now = time_now_usec();
	r = invoice_build_manual(app->db, app->cfg, &spec, &id, &res);
	json_object_put(body);  /* user was borrowed from it */
	if (r != RESULT_OK)
		return api_send_result(req, &res);
	if ((rc = invoice_load(app->db, id, &inv)) != DB_OK)
		return api_db_error(app, req, rc);
	o = invoice_json(&inv, 1);
	http_send_json(req, 201, o);
	json_object_put(o);
	invoice_free(&inv);
	return 0;
}

int
api_invoice_patch(struct app *app, struct http_request *req)
{
	static const char *const allowed[] = { "sent", "paid", "void" };
	struct json_object *body = NULL, *o;
	struct invoice inv;
	struct result res;
	const char *status = NULL, *to = NULL;
	uint64_t id;
	size_t i;
	int rc;

	if ((id = parse_id(req->params[0])) == 0)
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
		return api_bad_body(req, body,
		    "status must be sent, paid or void", "status");
	for (i = 0; i < 3; i++)
		if (strcmp(status, allowed[i]) == 0)
			to = allowed[i];
	json_object_put(body);
	if (to == NULL)
		return http_send_error(req, 400, "invalid_argument",
		    "status must be sent, paid or void", "status", NULL);
	if (invoice_build_set_status(app->db, app->cfg, id, to, time_now_usec(),
	    &res) != RESULT_OK)
		return api_send_result(req, &res);
	if ((rc = invoice_load(app->db, id, &inv)) != DB_OK)
		return api_db_error(app, req, rc);
	o = invoice_json(&inv, 1);
	http_send_json(req, 200, o);
	json_object_put(o);
	invoice_free(&inv);
	return 0;
}
