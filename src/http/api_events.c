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
#include "events.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "result.h"

#define TYPE_MAX 64
#define PAYLOAD_DEPTH 32

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

/* Text of a column as a JSON string, or null. */
static void
add_text(struct json_object *o, const char *key, const char *s, size_t len)
{
	json_object_object_add(o, key, s != NULL ?
	    json_object_new_string_len(s, (int)len) : NULL);
}

/* A time as RFC 3339, or null for none. */
static void
add_time(struct json_object *o, const char *key, int64_t usec)
{
	json_object_object_add(o, key, usec != 0 ? json_time(usec) : NULL);
}

/* The page being answered: the events so far and the last one's id. */
struct page {
	struct json_object *events;
	int64_t last_id;
};

/* The event's email (docs/email.md); ev->email.status is set. */
static struct json_object *
email_state(const struct event_row *ev)
{
	struct json_object *m = json_object_new_object();

	json_object_object_add(m, "status",
	    json_object_new_string(ev->email.status));
	add_text(m, "recipient", ev->email.recipient, ev->email.recipient ?
	    strlen(ev->email.recipient) : 0);
	add_text(m, "skip_reason", ev->email.skip_reason,
	    ev->email.skip_reason ? strlen(ev->email.skip_reason) : 0);
	json_object_object_add(m, "attempts",
	    json_object_new_int64(ev->email.attempts));
	add_time(m, "next_attempt_at", ev->email.next_attempt_at);
	add_text(m, "last_error", ev->email.last_error, ev->email.last_error ?
	    strlen(ev->email.last_error) : 0);
	add_text(m, "relay_reply", ev->email.relay_reply,
	    ev->email.relay_reply ? strlen(ev->email.relay_reply) : 0);
	add_text(m, "message_id", ev->email.message_id, ev->email.message_id ?
	    strlen(ev->email.message_id) : 0);
	add_time(m, "sent_at", ev->email.sent_at);
	return m;
}

/* One event as the endpoint answers it, appended to the page arg. */
static void
add_event(const struct event_row *ev, void *arg)
{
	struct page *pg = arg;
	struct json_object *o = json_object_new_object(), *payload = NULL;
	const char *why;

	add_text(o, "id", ev->event_id, ev->event_id_len);
	add_text(o, "type", ev->type, ev->type_len);
	add_text(o, "user_id", ev->user_id, ev->user_id_len);
	json_object_object_add(o, "status", json_object_new_string(ev->status));
	json_object_object_add(o, "attempts",
	    json_object_new_int64(ev->attempts));
	add_time(o, "next_attempt_at", ev->next_attempt_at);
	add_text(o, "last_error", ev->last_error, ev->last_error_len);
	add_time(o, "created_at", ev->created_at);
	add_time(o, "delivered_at", ev->delivered_at);
	if (ev->payload != NULL && (payload = json_parse_limited(ev->payload,
	    ev->payload_len, PAYLOAD_DEPTH, &why)) == NULL)
		log_warnx("event %lld: stored payload is not JSON: %s",
		    (long long)ev->id, why);
	json_object_object_add(o, "payload", payload);
	/* only an event the email step mails (or skipped) has one */
	if (ev->email.status != NULL)
		json_object_object_add(o, "email", email_state(ev));
	json_object_array_add(pg->events, o);
	pg->last_id = ev->id;
}

int
api_admin_events(struct app *app, struct http_request *req)
{
	struct events_query q;
	struct result r;
	int more = 0;

	if (parse_query(req, &q) != 0)
		return -1;
	struct event_filter f = { q.limit, q.cursor, q.status, q.type, q.user };
	struct page pg = { json_object_new_array(), 0 };
	if (event_list(app->db, &f, add_event, &pg, &more, &r) != RESULT_OK) {
		json_object_put(pg.events);
		return api_send_result(req, &r);
	}
	/* consumes the events */
	api_send_page(req, "events", pg.events, more, pg.last_id);
	return 0;
}
