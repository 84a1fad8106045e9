/*
 * api_common: what several handlers need from a request: the account a user
 * endpoint is about, list pages, date ranges, and the answer to a database
 * failure.  One rule each, in one place.
 */
#include <errno.h>
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
#include "log.h"
#include "period.h"
#include "timeutil.h"

int
api_reads_every_user(const struct http_request *req)
{
	return req->claims.role == JWT_ROLE_ADMIN ||
	    req->claims.role == JWT_ROLE_OPERATOR;
}

int
api_target_user(struct http_request *req, char *buf, size_t size)
{
	char want[JWT_SUB_MAX + 2];
	int r;

	r = http_query_get(req->query, "user_id", want, sizeof(want));
	if (r < 0 || (r == 1 && !account_user_id_valid(want))) {
		http_send_error(req, 400, "invalid_argument",
		    "user_id must be 1 to 255 characters of UTF-8", "user_id",
		    NULL);
		return -1;
	}
	if (r == 0 || strcmp(want, req->claims.sub) == 0) {
		snprintf(buf, size, "%s", req->claims.sub);
		return 0;
	}
	if (!api_reads_every_user(req)) {
		http_send_error(req, 403, "forbidden",
		    "only an admin or operator may ask about another user",
		    "user_id", NULL);
		return -1;
	}
	snprintf(buf, size, "%s", want);
	return 0;
}

int
api_page_args(struct http_request *req, int newest_first, int64_t *limit,
    int64_t *cursor)
{
	char buf[32];
	int r;

	*limit = API_PAGE_DEFAULT;
	*cursor = 0;
	r = http_query_get(req->query, "limit", buf, sizeof(buf));
	if (r < 0 || (r == 1 && (id_parse(buf, limit) != 0 || *limit < 1 ||
	    *limit > API_PAGE_MAX))) {
		http_send_error(req, 400, "invalid_argument",
		    "limit must be an integer from 1 to 500", "limit", NULL);
		return -1;
	}
	r = http_query_get(req->query, "cursor", buf, sizeof(buf));
	/* 0 starts an oldest-first list; nothing comes before id 0 */
	if (r < 0 || (r == 1 && (id_parse(buf, cursor) != 0 ||
	    (newest_first && *cursor == 0)))) {
		http_send_error(req, 400, "invalid_argument",
		    "cursor is not one this endpoint gave", "cursor", NULL);
		return -1;
	}
	return 0;
}

int
api_range_args(struct app *app, struct http_request *req, int64_t max_days,
    int64_t *from, int64_t *to, int *neither)
{
	char buf[64];
	int r, given = 0;

	period_containing(app->cfg->invoice_day, time_now_usec(), from, to);
	r = http_query_get(req->query, "from", buf, sizeof(buf));
	given |= r != 0;
	if (r == 1)
		r = time_parse_rfc3339(buf, strlen(buf), TIME_DATE_START, from,
		    NULL);
	if (r < 0)
		return api_bad_time(req, "from", r, TIME_DATE_START);
	/* a date-only `to` includes that whole day */
	r = http_query_get(req->query, "to", buf, sizeof(buf));
	given |= r != 0;
	if (neither != NULL)
		*neither = !given;
	if (r == 1)
		r = time_parse_rfc3339(buf, strlen(buf), TIME_DATE_END, to, NULL);
	if (r < 0)
		return api_bad_time(req, "to", r, TIME_DATE_END);
	if (*to <= *from) {
		http_send_error(req, 400, "invalid_argument",
		    "to must be after from", "to", NULL);
		return -1;
	}
	if (max_days > 0 && *to - *from > max_days * 86400LL * USEC_PER_SEC) {
		char msg[64];

		snprintf(msg, sizeof(msg), "the range may span at most %lld days",
		    (long long)max_days);
		http_send_error(req, 400, "invalid_argument", msg, "to", NULL);
		return -1;
	}
	return 0;
}

int
api_day_range_args(struct app *app, struct http_request *req,
    int64_t max_days, int64_t *from, int64_t *to)
{
	const int64_t day = 86400LL * USEC_PER_SEC;

	if (api_range_args(app, req, max_days, from, to, NULL) != 0)
		return -1;
	/* the daily totals hold whole UTC days */
	if (*from % day != 0)
		return api_bad_param(req, "from", "must be a date (YYYY-MM-DD) "
		    "or 00:00:00Z of one: costs are summed by whole UTC days");
	if (*to % day != 0)
		return api_bad_param(req, "to", "must be a date (YYYY-MM-DD, "
		    "that day included) or 00:00:00Z of one: costs are summed "
		    "by whole UTC days");
	return 0;
}

int
api_open_range_args(struct http_request *req, int64_t *from, int64_t *to)
{
	char buf[64];
	int r;

	*from = 0;
	*to = 0;
	r = http_query_get(req->query, "from", buf, sizeof(buf));
	if (r == 1)
		r = time_parse_rfc3339(buf, strlen(buf), TIME_DATE_START, from,
		    NULL);
	if (r < 0)
		return api_bad_time(req, "from", r, TIME_DATE_START);
	r = http_query_get(req->query, "to", buf, sizeof(buf));
	if (r == 1)
		r = time_parse_rfc3339(buf, strlen(buf), TIME_DATE_END, to, NULL);
	if (r < 0)
		return api_bad_time(req, "to", r, TIME_DATE_END);
	if (*from != 0 && *to == 0)
		*to = API_TIME_END;
	if (*to != 0 && *to <= *from) {
		http_send_error(req, 400, "invalid_argument",
		    "to must be after from", "to", NULL);
		return -1;
	}
	return 0;
}

int
api_send_page(struct http_request *req, const char *key,
    struct json_object *items, int more, int64_t last_id)
{
	struct json_object *root = json_object_new_object();
	char next[24];
	int rc;

	json_object_object_add(root, key, items);
	snprintf(next, sizeof(next), "%lld", (long long)last_id);
	json_object_object_add(root, "next_cursor",
	    more ? json_object_new_string(next) : NULL);
	rc = http_send_json(req, 200, root);
	json_object_put(root);
	return rc;
}

int
api_bad_param(struct http_request *req, const char *param, const char *why)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "%s %s", param, why);
	http_send_error(req, 400, "invalid_argument", msg, param, NULL);
	return -1;
}

int
api_bad_body(struct http_request *req, struct json_object *body,
    const char *msg, const char *param)
{
	http_send_error(req, 400, "invalid_argument", msg, param, NULL);
	json_object_put(body);
	return -1;
}

int
api_bad_time(struct http_request *req, const char *param, int r,
    int date_form)
{
	if (r == TIME_OUT_OF_RANGE)
		return api_bad_param(req, param, date_form == TIME_DATE_END ?
		    "must lie in the years 1970 to 9999 (a date-only end "
		    "includes its whole day: 9999-12-30 at the latest)" :
		    "must lie in the years 1970 to 9999 (UTC)");
	return api_bad_param(req, param, date_form == TIME_NO_DATE ?
	    "must be an RFC 3339 date-time such as 2025-01-31T10:00:00Z" :
	    "must be RFC 3339 or YYYY-MM-DD");
}

int
api_check_keys(struct http_request *req, struct json_object *body,
    const char *const *allowed)
{
	size_t i;

	json_object_object_foreach(body, key, val) {
		(void)val;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			http_send_error(req, 400, "invalid_argument",
			    "unknown field", key, NULL);
			return -1;
		}
	}
	return 0;
}

int
api_db_error(struct app *app, struct http_request *req, int rc)
{
	/* unreachable, or a lock (or a Galera causal read) that timed out:
	 * both pass, so the client is told to try again */
	if (rc == DB_UNAVAILABLE || rc == DB_RETRY) {
		log_warnx("req=%s database unavailable: %s", req->request_id,
		    db_error(app->db));
		return http_send_error(req, 503, "unavailable",
		    "the database is unavailable, try again", NULL, NULL);
	}
	log_warnx("req=%s database error %u: %s", req->request_id,
	    db_errno(app->db), db_error(app->db));
	return http_send_error(req, 500, "internal", "internal error", NULL,
	    NULL);
}

int
api_webhook_body(struct http_request *req, int configured,
    const char *unconfigured, size_t max)
{
	if (!configured) {
		http_send_error(req, 503, "unavailable", unconfigured, NULL,
		    NULL);
		return 1;
	}
	if (!http_content_type_is_json(req->content_type)) {
		http_send_error(req, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type application/json",
		    NULL, NULL);
		return 1;
	}
	return http_read_body_max(req, max) != 0 ? -1 : 0;
}
