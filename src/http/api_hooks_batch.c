/*
 * POST hooks/batch: many hook calls in one request (docs/hooks.md).
 *
 * Each event is checked and answered by its own hook's code
 * (api_hooks.h) on a request of its own whose answer is captured, so that
 * an event gets exactly the status and body its hook would have sent.  The
 * heartbeats, the bulk of the traffic, are gathered and applied together
 * (session_heartbeats: one read and one UPDATE for all of them); any other
 * event that names a session with a gathered heartbeat applies those first,
 * so that every event sees the ones before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "api_hooks.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "sessions.h"

#define BATCH_MAX_EVENTS 1000
/* the webhook's limit; nginx lets up to 2 MiB through to this path */
#define BATCH_MAX_BODY (1024 * 1024)

/* One event's answer, as its hook wrote it. */
struct capture {
	char *buf;
	size_t len, cap;
};

static int
capture_write(void *ctx, const char *buf, size_t len)
{
	struct capture *c = ctx;
	char *p;

	if (c->len + len + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;

		while (cap < c->len + len + 1)
			cap *= 2;
		if ((p = realloc(c->buf, cap)) == NULL)
			return -1;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

/* A request of its own for one event: the caller's identity, an answer
 * captured in c. */
static void
sub_request(struct http_request *sub, const struct http_request *req,
    struct capture *c)
{
	memset(sub, 0, sizeof(*sub));
	sub->method = req->method;
	sub->path = req->path;
	sub->query = "";
	sub->content_length = -1;
	memcpy(sub->request_id, req->request_id, sizeof(sub->request_id));
	sub->start_mono_usec = req->start_mono_usec;
	sub->authenticated = req->authenticated;
	sub->claims = req->claims;
	sub->sink.write = capture_write;
	sub->sink.ctx = c;
	c->len = 0;
}

/* The captured answer as a result: {"status", "body"} or {"status",
 * "error"}.  New reference (NULL: out of memory or no answer). */
static struct json_object *
captured(const struct capture *c)
{
	struct json_object *o, *body, *err = NULL;
	const char *p;
	int status;

	if (c->buf == NULL || sscanf(c->buf, "Status: %d", &status) != 1 ||
	    (p = strstr(c->buf, "\r\n\r\n")) == NULL ||
	    (body = json_tokener_parse(p + 4)) == NULL)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_int(status));
	if (status >= 400 && json_object_object_get_ex(body, "error", &err)) {
		json_object_object_add(o, "error", json_object_get(err));
		json_object_put(body);
	} else
		json_object_object_add(o, "body", body);
	return o;
}

/* A result of our own: status with the error code, message and param. */
static struct json_object *
own_result(int status, const char *code, const char *message,
    const char *param)
{
	struct json_object *o = json_object_new_object();
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (param != NULL)
		json_object_object_add(err, "param",
		    json_object_new_string(param));
	json_object_object_add(o, "status", json_object_new_int(status));
	json_object_object_add(o, "error", err);
	return o;
}

/* 400 invalid_argument. */
static struct json_object *
refused(const char *message, const char *param)
{
	return own_result(400, "invalid_argument", message, param);
}

/* 500 internal: an answer that could not be captured (out of memory). */
static struct json_object *
unanswered(void)
{
	return own_result(500, "internal", "internal error", NULL);
}

/* The heartbeats gathered, not yet applied. */
struct pending {
	struct session_beat_item *items;
	size_t *at;              /* each item's place in results */
	size_t n;
};

static int
pending_names(const struct pending *pd, const char *session_id)
{
	size_t i;

	for (i = 0; i < pd->n; i++)
		if (strcmp(pd->items[i].session_id, session_id) == 0)
			return 1;
	return 0;
}

/* Applies the gathered heartbeats and puts their results in place. */
static void
flush(struct app *app, const struct http_request *req, struct pending *pd,
    struct json_object *results, struct capture *c)
{
	struct session_beat_item *it;
	struct http_request sub;
	struct json_object *o;
	size_t i;
	int rc;

	if (pd->n == 0)
		return;
	rc = session_heartbeats(app->db, pd->items, pd->n);
	for (i = 0; i < pd->n; i++) {
		it = &pd->items[i];
		if (rc != DB_OK)
			it->rc = rc;
		if (it->rc == DB_OK && (it->outcome == SESSION_UPDATED ||
		    it->outcome == SESSION_UNCHANGED)) {
			o = json_object_new_object();
			json_object_object_add(o, "status",
			    json_object_new_int(200));
			json_object_object_add(o, "body",
			    api_hook_session_json(&it->out));
		} else {
			sub_request(&sub, req, c);
			api_hook_beat_answer(app, &sub, it->rc, it->outcome,
			    &it->out);
			o = captured(c);
			http_request_reset(&sub);
		}
		if (o == NULL)
			o = unanswered();
		json_object_array_put_idx(results, pd->at[i], o);
	}
	pd->n = 0;
}

int
api_hooks_batch(struct app *app, struct http_request *req)
{
	static const char *const keys[] = { "events", NULL };
	struct json_object *root = NULL, *events, *ev, *t, *sid, *results;
	struct json_object *o;
	struct pending pd = { NULL, NULL, 0 };
	struct capture c = { NULL, 0, 0 };
	struct http_request sub;
	size_t n, i;
	int type;

	if (!http_content_type_is_json(req->content_type))
		return http_read_json(req, &root); /* answers 415 */
	if (http_read_body_max(req, BATCH_MAX_BODY) != 0 ||
	    http_read_json(req, &root) != 0)
		return -1;
	if (api_check_keys(req, root, keys) != 0)
		goto out;
	if (!json_object_object_get_ex(root, "events", &events) ||
	    !json_object_is_type(events, json_type_array)) {
		api_bad_param(req, "events", "must be an array of events");
		goto out;
	}
	n = json_object_array_length(events);
	if (n > BATCH_MAX_EVENTS) {
		api_bad_param(req, "events", "holds more than 1000 events");
		goto out;
	}
	results = json_object_new_array_ext(n > 0 ? (int)n : 1);
	pd.items = calloc(n > 0 ? n : 1, sizeof(*pd.items));
	pd.at = calloc(n > 0 ? n : 1, sizeof(*pd.at));
	if (results == NULL || pd.items == NULL || pd.at == NULL) {
		json_object_put(results);
		http_send_error(req, 500, "internal", "out of memory", NULL,
		    NULL);
		goto out;
	}
	for (i = 0; i < n; i++) {
		ev = json_object_array_get_idx(events, i);
		o = NULL;
		if (!json_object_is_type(ev, json_type_object)) {
			o = refused("an event must be a JSON object", NULL);
			goto put;
		}
		if (!json_object_object_get_ex(ev, "type", &t) ||
		    (type = api_hook_type(json_object_is_type(t,
		    json_type_string) ? json_object_get_string(t) : NULL)) < 0) {
			o = refused("type must be one of user-created, "
			    "session-created, session-heartbeat, "
			    "session-terminated, session-hibernated, "
			    "session-woken, user-storage", "type");
			goto put;
		}
		/* the rest is the hook's body, as strict as the hook */
		json_object_object_del(ev, "type");
		sub_request(&sub, req, &c);
		if (type == API_HOOK_SESSION_HEARTBEAT) {
			struct session_beat_item *it = &pd.items[pd.n];

			if (api_hook_beat_parse(&sub, ev, &it->session_id,
			    &it->beat) == 0) {
				pd.at[pd.n++] = i;
				http_request_reset(&sub);
				continue;
			}
		} else {
			/* its session's earlier heartbeats come first */
			if (json_object_object_get_ex(ev, "session_id", &sid) &&
			    json_object_is_type(sid, json_type_string) &&
			    pending_names(&pd, json_object_get_string(sid)))
				flush(app, req, &pd, results, &c);
			sub_request(&sub, req, &c);
			api_hook_apply(app, &sub, type, ev);
		}
		o = captured(&c);
		http_request_reset(&sub);
put:
		if (o == NULL)
			o = unanswered();
		json_object_array_put_idx(results, i, o);
	}
	flush(app, req, &pd, results, &c);
	o = json_object_new_object();
	json_object_object_add(o, "results", results);
	http_send_json(req, 200, o);
	json_object_put(o);
out:
	free(c.buf);
	free(pd.items);
	free(pd.at);
	json_object_put(root);
	return 0;
}
