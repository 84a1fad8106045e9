/*
 * GET admin/reports: usage export, streamed row by row from an unbuffered
 * query, so a million records pass through a worker in constant memory.
 *
 *   from, to    RFC 3339 or YYYY-MM-DD (a date-only `to` includes the day);
 *               default: the current billing period
 *   user_id     one account only
 *   group_by    user | resource | day; absent: every usage record
 *   format      json (default) | csv (RFC 4180, with a header line)
 *
 * A range spans at most reportMaxDays.  The rows come from a report cursor
 * (src/billing/reports.c) on the worker's second connection, whose read
 * timeout is database.reportTimeoutSeconds: a long report is not a lost
 * connection.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "reports.h"
#include "result.h"
#include "timeutil.h"

/* RFC 4180 quoting; a leading = + - @ is defused for spreadsheets. */
static int
csv_text(struct http_request *req, const char *v)
{
	char out[1100];
	size_t o = 0;
	int quote = strpbrk(v, ",\"\r\n") != NULL;

	if (strchr("=+-@", v[0]) != NULL && v[0] != '\0')
		out[o++] = '\'';
	for (; *v != '\0' && o < sizeof(out) - 4; v++) {
		if (*v == '"')
			out[o++] = '"';
		out[o++] = *v;
	}
	if (quote) {
		if (http_write(req, "\"", 1) != 0 || http_write(req, out, o) != 0)
			return -1;
		return http_write(req, "\"", 1);
	}
	return http_write(req, out, o);
}

static int
write_csv_row(struct http_request *req, const struct report *rp)
{
	char buf[64];
	size_t i;

	for (i = 0; i < report_ncols(rp); i++) {
		const char *v = report_cell(rp, i, buf, sizeof(buf));

		if (i > 0 && http_write(req, ",", 1) != 0)
			return -1;
		if (v == NULL)
			continue;
		if (report_col_kind(rp, i) == REPORT_TEXT) {
			if (csv_text(req, v) != 0)
				return -1;
		} else if (http_write(req, v, strlen(v)) != 0)
			return -1;
	}
	return http_write(req, "\r\n", 2);
}

static int
write_json_row(struct http_request *req, const struct report *rp, int first)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	char buf[64];
	size_t i, len;
	int rc;

	for (i = 0; i < report_ncols(rp); i++) {
		const char *v = report_cell(rp, i, buf, sizeof(buf));
		enum report_kind k = report_col_kind(rp, i);
		struct json_object *jv = NULL;

		if (v != NULL) {
			if (k != REPORT_TEXT && k != REPORT_TIME &&
			    k != REPORT_DATE)
				jv = json_object_new_double_s(0, v);
			else
				jv = json_object_new_string(v);
		}
		json_object_object_add(o, report_col_name(rp, i), jv);
	}
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	rc = (first ? 0 : http_write(req, ",\n", 2)) != 0 ||
	    http_write(req, text, len) != 0 ? -1 : 0;
	json_object_put(o);
	return rc;
}

static int
write_csv_header(struct http_request *req, const struct report *rp)
{
	const char *name;
	size_t i;

	for (i = 0; i < report_ncols(rp); i++) {
		name = report_col_name(rp, i);
		if ((i > 0 && http_write(req, ",", 1) != 0) ||
		    http_write(req, name, strlen(name)) != 0)
			return -1;
	}
	return http_write(req, "\r\n", 2);
}

int
api_admin_reports(struct app *app, struct http_request *req)
{
	enum report_group group = REPORT_RECORDS;
	char gname[16], format[8], user_id[ACCOUNT_USER_ID_MAX + 2];
	char hdr[128];
	struct report *rp = NULL;
	struct result res;
	int64_t from, to;
	int csv = 0, one = 0, r, first = 1;

	if (api_range_args(app, req, app->cfg->report_max_days, &from,
	    &to, NULL) != 0)
		return -1;
	r = http_query_get(req->query, "group_by", gname, sizeof(gname));
	if (r < 0 || (r == 1 && report_group_parse(gname, &group) != 0))
		return http_send_error(req, 400, "invalid_argument",
		    "group_by must be user, resource or day", "group_by", NULL);
	r = http_query_get(req->query, "format", format, sizeof(format));
	if (r < 0 || (r == 1 && strcmp(format, "json") != 0 &&
	    !(csv = strcmp(format, "csv") == 0)))
		return http_send_error(req, 400, "invalid_argument",
		    "format must be json or csv", "format", NULL);
	r = http_query_get(req->query, "user_id", user_id, sizeof(user_id));
	if (r < 0 || (r == 1 && !account_user_id_valid(user_id)))
		return http_send_error(req, 400, "invalid_argument",
		    "user_id must be 1 to 255 characters", "user_id", NULL);
	one = r == 1;
	if (report_open(app->db, group, from, to, one ? user_id : NULL, &rp,
	    &res) != RESULT_OK)
		return api_send_result(req, &res);

	if (csv) {
		snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; "
		    "filename=\"usage-%s.csv\"", report_group_name(group));
		if (http_begin(req, 200, "text/csv; charset=utf-8", hdr) != 0 ||
		    write_csv_header(req, rp) != 0)
			goto cut;
	} else {
		char head[256], f[TIME_TEXT_MAX], t[TIME_TEXT_MAX];
		int records = group == REPORT_RECORDS, n;

		time_format_rfc3339(from, f, sizeof(f));
		time_format_rfc3339(to, t, sizeof(t));
		n = snprintf(head, sizeof(head), "{\"from\":\"%s\",\"to\":\"%s\","
		    "\"group_by\":%s%s%s,\"currency\":\"%s\",\"rows\":[\n", f, t,
		    records ? "" : "\"",
		    records ? "null" : report_group_name(group),
		    records ? "" : "\"", app->cfg->currency);
		if (http_begin(req, 200, "application/json", NULL) != 0 ||
		    http_write(req, head, (size_t)n) != 0)
			goto cut;
	}
	while ((r = report_next(rp)) == 1) {
		if ((csv ? write_csv_row(req, rp) :
		    write_json_row(req, rp, first)) != 0)
			goto cut;
		first = 0;
	}
	if (r < 0)
		goto cut;
	if (!csv && http_write(req, "\n]}\n", 4) != 0)
		goto cut;
	report_close(rp);
	return 0;
cut:
	/* too late for an error status: the answer is cut short instead */
	log_warnx("req=%s report stream cut short: %s", req->request_id,
	    report_error(rp));
	req->error_code = "stream_cut";
	report_close(rp);
	return -1;
}
