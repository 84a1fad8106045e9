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
 * A range spans at most reportMaxDays.  The query runs on the worker's
 * second connection (db_long), whose read timeout is
 * database.reportTimeoutSeconds: a long report is not a lost connection.
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
#include "log.h"
#include "money.h"
#include "timeutil.h"

/* The per-resource columns of the user and day groupings. */
#define RES_SUMS \
	"SUM(CASE WHEN r.resource_type = 'cpu' THEN r.quantity ELSE 0 END), " \
	"SUM(CASE WHEN r.resource_type = 'memory' THEN r.quantity ELSE 0 END), " \
	"SUM(CASE WHEN r.resource_type = 'storage' THEN r.quantity ELSE 0 END)"
#define RANGE "r.start_time >= ? AND r.start_time < ?"
#define ONE_ACCOUNT " AND r.account_id = ?"

static const char SQL_RAW[] =
    "SELECT a.user_id, s.session_id, r.resource_type, r.quantity, r.unit, "
    "r.unit_price, r.total_cost, r.start_time, r.end_time "
    "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
    "LEFT JOIN billing_sessions s ON s.id = r.session_pk "
    "WHERE " RANGE " ORDER BY r.start_time, r.id";
static const char SQL_RAW_ONE[] =
    "SELECT a.user_id, s.session_id, r.resource_type, r.quantity, r.unit, "
    "r.unit_price, r.total_cost, r.start_time, r.end_time "
    "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
    "LEFT JOIN billing_sessions s ON s.id = r.session_pk "
    "WHERE " RANGE ONE_ACCOUNT " ORDER BY r.start_time, r.id";
static const char SQL_BY_USER[] =
    "SELECT a.user_id, SUM(r.total_cost), COUNT(*), " RES_SUMS " "
    "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
    "WHERE " RANGE " GROUP BY r.account_id ORDER BY a.user_id";
static const char SQL_BY_USER_ONE[] =
    "SELECT a.user_id, SUM(r.total_cost), COUNT(*), " RES_SUMS " "
    "FROM billing_usage_records r JOIN billing_accounts a ON a.id = r.account_id "
    "WHERE " RANGE ONE_ACCOUNT " GROUP BY r.account_id ORDER BY a.user_id";
static const char SQL_BY_DAY[] =
    "SELECT DATE(r.start_time), SUM(r.total_cost), COUNT(*), " RES_SUMS " "
    "FROM billing_usage_records r WHERE " RANGE
    " GROUP BY DATE(r.start_time) ORDER BY 1";
static const char SQL_BY_DAY_ONE[] =
    "SELECT DATE(r.start_time), SUM(r.total_cost), COUNT(*), " RES_SUMS " "
    "FROM billing_usage_records r WHERE " RANGE ONE_ACCOUNT
    " GROUP BY DATE(r.start_time) ORDER BY 1";
static const char SQL_BY_RESOURCE[] =
    "SELECT r.resource_type, r.unit, SUM(r.quantity), SUM(r.total_cost), COUNT(*) "
    "FROM billing_usage_records r WHERE " RANGE
    " GROUP BY r.resource_type, r.unit ORDER BY 1";
static const char SQL_BY_RESOURCE_ONE[] =
    "SELECT r.resource_type, r.unit, SUM(r.quantity), SUM(r.total_cost), COUNT(*) "
    "FROM billing_usage_records r WHERE " RANGE ONE_ACCOUNT
    " GROUP BY r.resource_type, r.unit ORDER BY 1";

/* decimals print trimmed: quantities to at least 0, prices and costs to 2 */
enum col_kind { COL_TEXT, COL_DECIMAL, COL_PRICE, COL_COST, COL_INT, COL_TIME,
    COL_DATE };

struct report {
	const char *group;       /* "none", "user", "day", "resource" */
	const char *sql_all, *sql_one;
	const char *const *names;
	const enum col_kind *kinds;
	size_t ncols;
};

static const char *const raw_names[] = { "user_id", "session_id",
    "resource_type", "quantity", "unit", "unit_price", "total_cost",
    "start_time", "end_time" };
static const enum col_kind raw_kinds[] = { COL_TEXT, COL_TEXT, COL_TEXT,
    COL_DECIMAL, COL_TEXT, COL_PRICE, COL_COST, COL_TIME, COL_TIME };
static const char *const user_names[] = { "user_id", "total_cost", "records",
    "cpu_core_hours", "memory_gb_hours", "storage_gb_months" };
static const char *const day_names[] = { "day", "total_cost", "records",
    "cpu_core_hours", "memory_gb_hours", "storage_gb_months" };
static const enum col_kind user_kinds[] = { COL_TEXT, COL_COST, COL_INT,
    COL_DECIMAL, COL_DECIMAL, COL_DECIMAL };
static const enum col_kind day_kinds[] = { COL_DATE, COL_COST, COL_INT,
    COL_DECIMAL, COL_DECIMAL, COL_DECIMAL };
static const char *const res_names[] = { "resource_type", "unit", "quantity",
    "total_cost", "records" };
static const enum col_kind res_kinds[] = { COL_TEXT, COL_TEXT, COL_DECIMAL,
    COL_COST, COL_INT };

static const struct report reports[] = {
	{ "none", SQL_RAW, SQL_RAW_ONE, raw_names, raw_kinds, 9 },
	{ "user", SQL_BY_USER, SQL_BY_USER_ONE, user_names, user_kinds, 6 },
	{ "day", SQL_BY_DAY, SQL_BY_DAY_ONE, day_names, day_kinds, 6 },
	{ "resource", SQL_BY_RESOURCE, SQL_BY_RESOURCE_ONE, res_names, res_kinds, 5 },
};

/* A column's value as text for output (JSON number text or CSV field);
 * NULL for SQL NULL.  Decimals are trimmed; times become RFC 3339. */
static const char *
cell(const struct db_result *res, size_t i, enum col_kind kind, char *buf,
    size_t size)
{
	size_t len;
	const char *v = db_col(res, i, &len);
	int64_t n;

	if (v == NULL)
		return NULL;
	switch (kind) {
	case COL_DECIMAL:
	case COL_PRICE:
	case COL_COST:
		if (money_parse(v, len, 6, &n) != 0 || money_format_trim(n,
		    kind == COL_DECIMAL ? 0 : 2, buf, size) < 0)
			return v;
		return buf;
	case COL_TIME:
		if (time_parse_db(v, len, &n) != 0 ||
		    time_format_rfc3339(n, buf, size) < 0)
			return v;
		return buf;
	default:
		return v;
	}
}

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
write_csv_row(struct http_request *req, const struct report *rp,
    const struct db_result *res)
{
	char buf[64];
	size_t i;

	for (i = 0; i < rp->ncols; i++) {
		const char *v = cell(res, i, rp->kinds[i], buf, sizeof(buf));

		if (i > 0 && http_write(req, ",", 1) != 0)
			return -1;
		if (v == NULL)
			continue;
		if (rp->kinds[i] == COL_TEXT) {
			if (csv_text(req, v) != 0)
				return -1;
		} else if (http_write(req, v, strlen(v)) != 0)
			return -1;
	}
	return http_write(req, "\r\n", 2);
}

static int
write_json_row(struct http_request *req, const struct report *rp,
    const struct db_result *res, int first)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	char buf[64];
	size_t i, len;
	int rc;

	for (i = 0; i < rp->ncols; i++) {
		const char *v = cell(res, i, rp->kinds[i], buf, sizeof(buf));
		struct json_object *jv = NULL;

		if (v != NULL) {
			if (rp->kinds[i] != COL_TEXT && rp->kinds[i] != COL_TIME &&
			    rp->kinds[i] != COL_DATE)
				jv = json_object_new_double_s(0, v);
			else
				jv = json_object_new_string(v);
		}
		json_object_object_add(o, rp->names[i], jv);
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
	size_t i;

	for (i = 0; i < rp->ncols; i++)
		if ((i > 0 && http_write(req, ",", 1) != 0) ||
		    http_write(req, rp->names[i], strlen(rp->names[i])) != 0)
			return -1;
	return http_write(req, "\r\n", 2);
}

int
api_admin_reports(struct app *app, struct http_request *req)
{
	const struct report *rp = &reports[0];
	char group[16], format[8], user_id[ACCOUNT_USER_ID_MAX + 2];
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX], hdr[128];
	struct db_result *res = NULL;
	struct db *rdb;
	struct account acct;
	int64_t from, to;
	int csv = 0, one = 0, rc, r, first = 1;
	size_t i;

	if (api_range_args(app, req, app->cfg->report_max_days, &from,
	    &to) != 0)
		return -1;
	r = http_query_get(req->query, "group_by", group, sizeof(group));
	for (i = 1; r == 1 && i < sizeof(reports) / sizeof(reports[0]); i++)
		if (strcmp(group, reports[i].group) == 0)
			rp = &reports[i];
	if (r < 0 || (r == 1 && rp == &reports[0]))
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
	if (r == 1) {
		if ((rc = account_find(app->db, user_id, &acct)) == DB_NOT_FOUND)
			return http_send_error(req, 404, "not_found",
			    "no such user", "user_id", NULL);
		if (rc != DB_OK)
			return api_db_error(app, req, rc);
		one = 1;
	}

	time_format_db(from, a, sizeof(a));
	time_format_db(to, b, sizeof(b));
	struct db_param p[] = { DBP_STR(a), DBP_STR(b),
	    DBP_INT(one ? acct.id : 0) };
	if ((rdb = db_long(app->db)) == NULL)
		return api_db_error(app, req, DB_ERROR);
	rc = db_query_stream(rdb, one ? rp->sql_one : rp->sql_all, p,
	    one ? 3 : 2, &res);
	if (rc != DB_OK) {
		log_warnx("req=%s report: %s", req->request_id, db_error(rdb));
		return api_db_error(app, req, rc);
	}

	if (csv) {
		snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; "
		    "filename=\"usage-%s.csv\"", rp->group);
		if (http_begin(req, 200, "text/csv; charset=utf-8", hdr) != 0 ||
		    write_csv_header(req, rp) != 0)
			goto cut;
	} else {
		char head[256], f[TIME_TEXT_MAX], t[TIME_TEXT_MAX];
		int n;

		time_format_rfc3339(from, f, sizeof(f));
		time_format_rfc3339(to, t, sizeof(t));
		n = snprintf(head, sizeof(head), "{\"from\":\"%s\",\"to\":\"%s\","
		    "\"group_by\":%s%s%s,\"currency\":\"%s\",\"rows\":[\n", f, t,
		    rp == &reports[0] ? "" : "\"",
		    rp == &reports[0] ? "null" : rp->group,
		    rp == &reports[0] ? "" : "\"", app->cfg->currency);
		if (http_begin(req, 200, "application/json", NULL) != 0 ||
		    http_write(req, head, (size_t)n) != 0)
			goto cut;
	}
	while ((r = db_fetch(res)) == 1) {
		if ((csv ? write_csv_row(req, rp, res) :
		    write_json_row(req, rp, res, first)) != 0)
			goto cut;
		first = 0;
	}
	if (r < 0)
		goto cut;
	if (!csv && http_write(req, "\n]}\n", 4) != 0)
		goto cut;
	db_result_free(res);
	return 0;
cut:
	/* too late for an error status: the answer is cut short instead */
	log_warnx("req=%s report stream cut short: %s", req->request_id,
	    db_error(rdb));
	req->error_code = "stream_cut";
	db_result_free(res);
	return -1;
}
