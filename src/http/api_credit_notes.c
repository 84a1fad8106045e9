/*
 * Credit notes over HTTP (docs/api.md, docs/billing.md "Credit notes"):
 *   POST admin/invoices/{id}/credit-notes   admin
 *        {"amount"} or {"lines": [{"line_no", "amount"}]}, "reason",
 *        "refund"? (bool, default false), "idempotency_key"?
 *        201 with the credit note; the same idempotency_key again 200 with
 *        the one it made
 *   GET credit-notes/{id}/pdf               user: their own; admin any
 * The body is strict: an unknown key is refused with its name.  Amounts are
 * exact decimals with at most 2 decimals, above 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "app.h"
#include "config.h"
#include "credit_notes.h"
#include "db.h"
#include "http.h"
#include "id.h"
#include "json_util.h"
#include "log.h"
#include "money.h"
#include "result.h"
#include "timeutil.h"
#include "utf8.h"

#define AMOUNT_MAX (100000000LL * MONEY_SCALE)

static uint64_t
parse_id(const char *s)
{
	int64_t v;

	return id_parse(s, &v) == 0 && v > 0 ? (uint64_t)v : 0;
}

/* 1 when s is 1..max characters of UTF-8 without control characters and
 * not only spaces. */
static int
text_ok(const char *s, size_t max)
{
	const char *p = s;
	size_t n = 0, len;
	unsigned cp;
	int blank = 1;

	while (*p != '\0') {
		if ((len = utf8_char(p, &cp)) == 0 || cp < 0x20 ||
		    (cp >= 0x7f && cp <= 0x9f))
			return 0;
		if (cp != ' ')
			blank = 0;
		p += len;
		n++;
	}
	return n >= 1 && n <= max && !blank;
}

/* lines into rq (heap, *out); 0, or -1 after answering 400. */
static int
parse_lines(struct http_request *req, struct json_object *arr,
    struct credit_note_line **out, size_t *n)
{
	struct credit_note_line *l;
	struct json_object *o, *v;
	size_t i, j, len;
	int64_t no;

	*out = NULL;
	*n = 0;
	if (!json_object_is_type(arr, json_type_array) ||
	    (len = json_object_array_length(arr)) == 0 ||
	    len > CREDIT_NOTE_LINES_MAX)
		return api_bad_param(req, "lines", "must be an array of 1 to "
		    "500 {line_no, amount}");
	if ((l = calloc(len, sizeof(*l))) == NULL)
		return http_send_error(req, 500, "internal", "out of memory",
		    NULL, NULL), -1;
	for (i = 0; i < len; i++) {
		o = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(o, json_type_object) ||
		    json_object_object_length(o) != 2 ||
		    !json_object_object_get_ex(o, "line_no", &v) ||
		    !json_object_is_type(v, json_type_int) ||
		    (no = json_object_get_int64(v)) < 1 || no > 1000000 ||
		    json_field_money(o, "amount", 2, &l[i].amount) != 1 ||
		    l[i].amount <= 0 || l[i].amount > AMOUNT_MAX) {
			free(l);
			return api_bad_param(req, "lines", "each line must be "
			    "{line_no: a line's number, amount: above 0 with "
			    "at most 2 decimals}");
		}
		l[i].line_no = (unsigned)no;
		for (j = 0; j < i; j++)
			if (l[j].line_no == l[i].line_no) {
				free(l);
				return api_bad_param(req, "lines",
				    "a line is named twice");
			}
	}
	*out = l;
	*n = len;
	return 0;
}

int
api_credit_note_create(struct app *app, struct http_request *req)
{
	static const char *const keys[] = { "amount", "lines", "reason",
	    "refund", "idempotency_key", NULL };
	struct json_object *body = NULL, *lines = NULL, *o = NULL;
	struct credit_note_request rq;
	struct credit_note_line *ll = NULL;
	struct credit_note cn;
	struct result res;
	const char *reason = NULL, *key = NULL;
	uint64_t invoice_id, id = 0;
	int replayed = 0, r, rc = -1;

	memset(&rq, 0, sizeof(rq));
	if ((invoice_id = parse_id(req->params[0])) == 0)
		return http_send_error(req, 404, "not_found", "no such invoice",
		    NULL, NULL);
	if (http_read_json(req, &body) != 0)
		return -1;
	if (api_check_keys(req, body, keys) != 0)
		goto out;
	r = json_field_money(body, "amount", 2, &rq.amount);
	if (r < 0 || (r == 1 && (rq.amount <= 0 || rq.amount > AMOUNT_MAX))) {
		api_bad_param(req, "amount", "must be a number above 0 with at "
		    "most 2 decimals");
		goto out;
	}
	if (json_object_object_get_ex(body, "lines", &lines) &&
	    lines != NULL) {
		if (r == 1) {
			api_bad_param(req, "amount", "give amount or lines, "
			    "not both");
			goto out;
		}
		if (parse_lines(req, lines, &ll, &rq.nlines) != 0)
			goto out;
		rq.lines = ll;
	} else if (r == 0) {
		api_bad_param(req, "amount", "is required (or lines)");
		goto out;
	}
	r = json_field_string(body, "reason", 0, CREDIT_NOTE_REASON_MAX * 4,
	    &reason);
	if (r != 1 || !text_ok(reason, CREDIT_NOTE_REASON_MAX)) {
		api_bad_param(req, "reason", r == 0 ? "is required" :
		    "must be text of 1 to 500 characters without control "
		    "characters");
		goto out;
	}
	if (json_field_bool(body, "refund", &rq.refund) < 0) {
		api_bad_param(req, "refund", "must be true or false");
		goto out;
	}
	r = json_field_string(body, "idempotency_key", 0,
	    CREDIT_NOTE_KEY_MAX * 4, &key);
	if (r < 0 || (r == 1 && !text_ok(key, CREDIT_NOTE_KEY_MAX))) {
		api_bad_param(req, "idempotency_key", "must be text of 1 to 255 "
		    "characters without control characters");
		goto out;
	}
	rq.invoice_id = invoice_id;
	rq.reason = reason;
	rq.key = r == 1 ? key : NULL;
	rq.created_by = req->claims.sub;
	rq.now = time_now_usec();
	if (credit_note_create(app->db, app->cfg, &rq, &id, &replayed,
	    &res) != RESULT_OK) {
		api_send_result(req, &res);
		goto out;
	}
	if ((r = credit_note_load(app->db, id, &cn)) != DB_OK) {
		api_db_error(app, req, r);
		goto out;
	}
	o = credit_note_json(&cn);
	credit_note_free(&cn);
	http_send_json(req, replayed ? 200 : 201, o);
	rc = 0;
out:
	free(ll);
	json_object_put(o);
	json_object_put(body);
	return rc;
}

int
api_credit_note_pdf(struct app *app, struct http_request *req)
{
	struct credit_note cn;
	unsigned char *pdf = NULL;
	size_t len = 0;
	uint64_t id = parse_id(req->params[0]);
	char hdr[128];
	int r, rc = -1;

	if (id == 0)
		return http_send_error(req, 404, "not_found",
		    "no such credit note", NULL, NULL);
	r = credit_note_load(app->db, id, &cn);
	if (r != DB_OK && r != DB_NOT_FOUND)
		return api_db_error(app, req, r);
	if (r == DB_NOT_FOUND || (!api_reads_every_user(req) &&
	    strcmp(cn.user_id, req->claims.sub) != 0)) {
		if (r == DB_OK)
			credit_note_free(&cn);
		return http_send_error(req, 404, "not_found",
		    "no such credit note", NULL, NULL);
	}
	if (credit_note_pdf(&cn, app->cfg->issuer.name ? app->cfg->issuer.name :
	    "StreamSpace", &pdf, &len) != 0) {
		http_send_error(req, 500, "internal", "cannot render the PDF",
		    NULL, NULL);
		goto out;
	}
	snprintf(hdr, sizeof(hdr), "Content-Disposition: inline; "
	    "filename=\"%s.pdf\"", cn.number);
	if (http_begin(req, 200, "application/pdf", hdr) == 0 &&
	    http_write(req, (const char *)pdf, len) == 0)
		rc = 0;
out:
	free(pdf);
	credit_note_free(&cn);
	return rc;
}
