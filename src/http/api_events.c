/*
 * GET admin/events: the events outbox, newest first, a page at a time.
 *
 *   ?status=   pending, delivered or failed
 *   ?type=     an event type, e.g. billing.invoice.created
 *   ?user_id=  the events of one account
 *   ?limit=    1-500, default 50
 *   ?cursor=   opaque to clients: the internal id of the last event of the
 *              previous page, as decimal text
 *
 * Each event: {id, type, user_id, status, attempts, next_attempt_at,
 * last_error, created_at, delivered_at, payload}; payload is the envelope
 * receivers get, as a JSON object.  next_attempt_at is null once the event
 * is delivered or failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "timeutil.h"

#define TYPE_MAX 64
#define PAYLOAD_DEPTH 32

static const char SQL_PAGE[] =
    "SELECT e.id, e.event_id, e.type, a.user_id, e.status, e.attempts, "
    "e.next_attempt_at, e.last_error, e.created_at, e.delivered_at, e.payload "
    "FROM billing_events e LEFT JOIN billing_accounts a ON a.id = e.account_id "
    "WHERE (? = 0 OR e.id < ?) AND (? = '' OR e.status = ?) "
    "AND (? = '' OR e.type = ?) AND (? = 0 OR e.account_id = ?) "
    "ORDER BY e.id DESC LIMIT ?";

enum { C_ID, C_EVENT_ID, C_TYPE, C_USER, C_STATUS, C_ATTEMPTS, C_NEXT,
    C_ERROR, C_CREATED, C_DELIVERED, C_PAYLOAD };

struct events_query {
	int64_t limit;
	int64_t cursor;                        /* 0: from the newest */
	const char *status;                    /* "" or a static name */
	char type[TYPE_MAX + 1];               /* "" for every type */
	char user[ACCOUNT_USER_ID_MAX + 1];    /* "" for every account */
};

static int
bad_arg(struct http_request *req, const char *msg, const char *param)
{
	http_send_error(req, 400, "invalid_argument", msg, param, NULL);
	return -1;
}

/* Reads the query string.  0, or -1 after answering 400. */
static int
parse_query(struct http_request *req, struct events_query *q)
{
	static const char *const statuses[] = { "pending", "delivered",
	    "failed", NULL };
	char buf[32];
	size_t i;
	int r;

	memset(q, 0, sizeof(*q));
	q->status = "";
	if (api_page_args(req, 1, &q->limit, &q->cursor) != 0)
		return -1;
	r = http_query_get(req->query, "status", buf, sizeof(buf));
	for (i = 0; r == 1 && statuses[i] != NULL; i++)
		if (strcmp(buf, statuses[i]) == 0)
			q->status = statuses[i];
	if (r < 0 || (r == 1 && q->status[0] == '\0'))
		return bad_arg(req, "status must be pending, delivered or "
		    "failed", "status");
	r = http_query_get(req->query, "type", q->type, sizeof(q->type));
	if (r < 0 || (r == 1 && q->type[0] == '\0'))
		return bad_arg(req, "type must be an event type of 1 to 64 "
		    "characters", "type");
	r = http_query_get(req->query, "user_id", q->user, sizeof(q->user));
	if (r < 0 || (r == 1 && !account_user_id_valid(q->user)))
		return bad_arg(req, "user_id is not a valid user id",
		    "user_id");
	return 0;
}

static void
add_text(struct json_object *o, const char *key, const struct db_result *res,
    size_t col)
{
	size_t len;
	const char *s = db_col(res, col, &len);

	json_object_object_add(o, key, s != NULL ?
	    json_object_new_string_len(s, (int)len) : NULL);
}

/* A DATETIME column as RFC 3339, or null.  0, or -1 when unreadable. */
static int
add_time(struct json_object *o, const char *key, const struct db_result *res,
    size_t col)
{
	size_t len;
	const char *s = db_col(res, col, &len);
	int64_t usec;

	if (s == NULL) {
		json_object_object_add(o, key, NULL);
		return 0;
	}
	if (time_parse_db(s, len, &usec) != 0)
		return -1;
	json_object_object_add(o, key, json_time(usec));
	return 0;
}

/* One row as the endpoint answers it, or NULL when unreadable.  New ref. */
static struct json_object *
event_json(const struct db_result *res, int64_t *id)
{
	struct json_object *o, *payload;
	const char *s, *status, *why;
	int64_t attempts;
	size_t len;

	status = db_col(res, C_STATUS, NULL);
	if (db_col_i64(res, C_ID, id) != 0 || status == NULL ||
	    db_col_i64(res, C_ATTEMPTS, &attempts) != 0)
		return NULL;
	o = json_object_new_object();
	add_text(o, "id", res, C_EVENT_ID);
	add_text(o, "type", res, C_TYPE);
	add_text(o, "user_id", res, C_USER);
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "attempts", json_object_new_int64(attempts));
	if (strcmp(status, "pending") == 0) {
		if (add_time(o, "next_attempt_at", res, C_NEXT) != 0)
			goto bad;
	} else
		json_object_object_add(o, "next_attempt_at", NULL);
	add_text(o, "last_error", res, C_ERROR);
	if (add_time(o, "created_at", res, C_CREATED) != 0 ||
	    add_time(o, "delivered_at", res, C_DELIVERED) != 0)
		goto bad;
	payload = NULL;
	if ((s = db_col(res, C_PAYLOAD, &len)) != NULL &&
	    (payload = json_parse_limited(s, len, PAYLOAD_DEPTH, &why)) == NULL)
		log_warnx("event %lld: stored payload is not JSON: %s",
		    (long long)*id, why);
	json_object_object_add(o, "payload", payload);
	return o;
bad:
	json_object_put(o);
	return NULL;
}

int
api_admin_events(struct app *app, struct http_request *req)
{
	struct json_object *events = NULL, *ev;
	struct db_result *res = NULL;
	struct events_query q;
	struct account acct;
	int64_t id = 0, n = 0, account_id = 0;
	int rc = DB_OK, r, more = 0;

	if (parse_query(req, &q) != 0)
		return -1;
	events = json_object_new_array();
	if (q.user[0] != '\0') {
		rc = account_find(app->db, q.user, &acct);
		if (rc == DB_NOT_FOUND) {
			/* no account: no events */
			rc = DB_OK;
			goto answer;
		}
		if (rc != DB_OK)
			goto out;
		account_id = (int64_t)acct.id;
	}
	struct db_param p[] = { DBP_INT(q.cursor), DBP_INT(q.cursor),
	    DBP_STR(q.status), DBP_STR(q.status), DBP_STR(q.type),
	    DBP_STR(q.type), DBP_INT(account_id), DBP_INT(account_id),
	    DBP_INT(q.limit + 1) };

	/* one row more than asked tells whether another page follows */
	if ((rc = db_query(app->db, SQL_PAGE, p, sizeof(p) / sizeof(p[0]),
	    &res)) != DB_OK)
		goto out;
	while ((r = db_fetch(res)) == 1) {
		if (n == q.limit) {
			more = 1;
			break;
		}
		if ((ev = event_json(res, &id)) == NULL) {
			rc = DB_ERROR;
			goto out;
		}
		json_object_array_add(events, ev);
		n++;
	}
	if (r < 0) {
		rc = r;
		goto out;
	}
answer:
	api_send_page(req, "events", events, more, id);
	events = NULL;
out:
	db_result_free(res);
	json_object_put(events);
	if (rc != DB_OK)
		api_db_error(app, req, rc);
	return rc == DB_OK ? 0 : -1;
}
