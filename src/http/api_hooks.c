/*
 * POST hooks/...: the platform (role service) reports users and sessions.
 * This file checks and answers; sessions.c does the database work.
 *
 * Bodies are strict: an unknown key is refused (it is most likely a typo
 * that would otherwise lose data), and every refusal names its param.
 * Sizes are exact decimals, instants RFC 3339; nothing passes through a
 * binary floating point value.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "api.h"
#include "api_hooks.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "money.h"
#include "quantity.h"
#include "sessions.h"
#include "timeutil.h"

#define FUTURE_LEEWAY (5LL * 60 * USEC_PER_SEC)     /* clocks drift */
#define MAX_START_AGE (90LL * 86400 * USEC_PER_SEC) /* how far back a session may start */
#define EMAIL_MIN 3
#define EMAIL_MAX 320
#define PLAN_ID_MAX 64

/* A required id (user_id, session_id): 1-255 bytes, no control characters.
 * *out is borrowed from body.  0 or -1 after answering. */
static int
get_id(struct http_request *req, struct json_object *body, const char *key,
    const char **out)
{
	int r;

	r = json_field_string(body, key, 1, ACCOUNT_USER_ID_MAX, out);
	if (r == 0)
		return api_bad_param(req, key, "is required");
	if (r < 0 || !account_user_id_valid(*out))
		return api_bad_param(req, key,
		    "must be a string of 1 to 255 bytes without control characters");
	return 0;
}

/* A size 0..max: a JSON number with at most 6 decimals, or a Kubernetes
 * quantity string of kind (quantity.h: "1500m" cores, "4Gi" or "4G" bytes
 * as GiB, a bare number as it stands).  *given is set when present;
 * absence is an error when required.  0 or -1. */
static int
get_size(struct http_request *req, struct json_object *body, const char *key,
    enum quantity_kind kind, int64_t max, int required, int64_t *out,
    int *given)
{
	char why[160];
	int r;

	r = json_field_quantity(body, key, kind, max, out);
	*given = r == 1;
	if (r == 0 && required)
		return api_bad_param(req, key, "is required");
	if (r < 0) {
		snprintf(why, sizeof(why), "must be a number from 0 to %lld "
		    "with at most 6 decimals or a quantity such as %s",
		    (long long)(max / 1000000), kind == QUANTITY_CORES ?
		    "\"1500m\"" : "\"4Gi\" or \"512Mi\" (a bare number is GB)");
		return api_bad_param(req, key, why);
	}
	return 0;
}

/* The three sizes, cpu_cores, memory_gb and storage_gb in that order, as
 * get_size (has_*: its *given of each).  0 or -1. */
static int
get_sizes(struct http_request *req, struct json_object *body, int required,
    struct session_size *size, int *has_cpu, int *has_memory,
    int *has_storage)
{
	if (get_size(req, body, "cpu_cores", QUANTITY_CORES, SESSION_CPU_MAX,
	    required, &size->cpu_cores, has_cpu) != 0 ||
	    get_size(req, body, "memory_gb", QUANTITY_GIB, SESSION_MEMORY_MAX,
	    required, &size->memory_gb, has_memory) != 0 ||
	    get_size(req, body, "storage_gb", QUANTITY_GIB,
	    SESSION_STORAGE_MAX, required, &size->storage_gb, has_storage) != 0)
		return -1;
	return 0;
}

/* An instant: RFC 3339, not more than FUTURE_LEEWAY ahead of now; now when
 * absent (*given 0).  0 or -1. */
static int
get_time(struct http_request *req, struct json_object *body, const char *key,
    int64_t now, int64_t *out, int *given)
{
	int r;

	r = json_field_time(body, key, TIME_NO_DATE, out, NULL);
	*given = r == 1;
	if (r < 0)
		return api_bad_time(req, key, r, TIME_NO_DATE);
	if (r == 0)
		*out = now;
	else if (*out > now + FUTURE_LEEWAY)
		return api_bad_param(req, key,
		    "is more than 5 minutes in the future");
	return 0;
}

int
api_hooks_disabled(struct http_request *req)
{
	struct json_object *o = json_object_new_object();
	int rc;

	/* 200, not an error: the platform must not retry or queue a report
	 * that billing has been told to ignore */
	json_object_object_add(o, "billing", json_object_new_string("disabled"));
	json_object_object_add(o, "recorded", json_object_new_boolean(0));
	json_object_object_add(o, "message", json_object_new_string(
	    "billing is disabled (enabled: false): nothing was recorded"));
	rc = http_send_json(req, 200, o);
	json_object_put(o);
	return rc;
}

static void
add_string_or_null(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v != NULL && v[0] != '\0' ?
	    json_object_new_string(v) : NULL);
}

/* The session as the hooks answer it (only its id and last_heartbeat_at
 * when s->brief); with its state ("running",
 * "hibernated", "ended") when with_state is set (the hibernation hooks) or
 * it is hibernated (the other hooks' answers keep their shape otherwise).
 * New reference. */
static struct json_object *
session_json(const struct session *s, int with_state)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "session_id",
	    json_object_new_string(s->session_id));
	if (s->brief) {
		/* the one-UPDATE heartbeat read nothing else (docs/hooks.md) */
		json_object_object_add(o, "last_heartbeat_at",
		    json_time(s->last_heartbeat_at));
		return o;
	}
	json_object_object_add(o, "user_id", json_object_new_string(s->user_id));
	json_object_object_add(o, "started_at", json_time(s->started_at));
	json_object_object_add(o, "last_heartbeat_at",
	    json_time(s->last_heartbeat_at));
	json_object_object_add(o, "ended_at",
	    s->ended ? json_time(s->ended_at) : NULL);
	json_object_object_add(o, "cpu_cores",
	    json_money_trim(s->size.cpu_cores, 0));
	json_object_object_add(o, "memory_gb",
	    json_money_trim(s->size.memory_gb, 0));
	json_object_object_add(o, "storage_gb",
	    json_money_trim(s->size.storage_gb, 0));
	json_object_object_add(o, "segment", json_object_new_int64(s->segment));
	if (with_state || s->hibernated)
		json_object_object_add(o, "state", json_object_new_string(
		    s->ended ? "ended" : s->hibernated ? "hibernated" :
		    "running"));
	return o;
}

/* Answers a session hook: its database error rc, else its outcome (s valid
 * on CREATED/UPDATED/UNCHANGED; with_state as session_json). */
static int
answer_session(struct app *app, struct http_request *req, int rc,
    enum session_outcome oc, const struct session *s, const char *time_param,
    int with_state)
{
	struct json_object *o;

	if (rc != DB_OK)
		return api_db_error(app, req, rc);
	switch (oc) {
	case SESSION_CREATED:
	case SESSION_UPDATED:
	case SESSION_UNCHANGED:
		o = session_json(s, with_state);
		rc = http_send_json(req, oc == SESSION_CREATED ? 201 : 200, o);
		json_object_put(o);
		return rc;
	case SESSION_NOT_FOUND:
		return http_send_error(req, 404, "not_found", "no such session",
		    "session_id", NULL);
	case SESSION_CONFLICT_USER:
		return http_send_error(req, 409, "conflict",
		    "the session belongs to another user", "user_id", NULL);
	case SESSION_CONFLICT_SIZE:
		return http_send_error(req, 409, "conflict",
		    "the session was created with other sizes", NULL, NULL);
	case SESSION_CONFLICT_START:
		return http_send_error(req, 409, "conflict",
		    "the session was created with another started_at",
		    "started_at", NULL);
	case SESSION_CONFLICT_END:
		return http_send_error(req, 409, "conflict",
		    "the session has already ended at another time",
		    "ended_at", NULL);
	case SESSION_ENDED:
		return http_send_error(req, 409, "conflict",
		    "the session has ended", NULL, NULL);
	case SESSION_BEFORE_START:
		return api_bad_param(req, time_param,
		    "is before the session's started_at");
	case SESSION_SUSPENDED:
		return http_send_error(req, 403, "account_suspended",
		    "the account is suspended", "user_id", NULL);
	case SESSION_NOT_HIBERNATED:
		return http_send_error(req, 409, "conflict",
		    "the session is not hibernated", NULL, NULL);
	case SESSION_CLOSED:
		return http_send_error(req, 409, "conflict",
		    "the account is closed (its user was deleted)", "user_id",
		    NULL);
	case SESSION_BEFORE_STATE:
		return api_bad_param(req, time_param, "is before the session's "
		    "current state began (its start, latest wake or hibernation)");
	default:
		return http_send_error(req, 500, "internal", "internal error",
		    NULL, NULL);
	}
}

/* email: optional, 3-320 bytes with an '@', no control characters. */
static int
get_email(struct http_request *req, struct json_object *body,
    const char **out)
{
	const char *p;
	int r;

	*out = NULL;
	r = json_field_string(body, "email", EMAIL_MIN, EMAIL_MAX, out);
	if (r == 0)
		return 0;
	for (p = r == 1 ? *out : ""; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			r = -1;
	if (r < 0 || strchr(*out, '@') == NULL) {
		*out = NULL;
		return api_bad_param(req, "email",
		    "must be an email address of 3 to 320 characters");
	}
	return 0;
}

/* plan_id: optional, one of the configured plans. */
static int
get_plan(struct app *app, struct http_request *req, struct json_object *body,
    const char **out)
{
	int r;

	*out = NULL;
	r = json_field_string(body, "plan_id", 1, PLAN_ID_MAX, out);
	if (r < 0 || (r == 1 && config_find_plan(app->cfg, *out) == NULL)) {
		*out = NULL;
		return api_bad_param(req, "plan_id", "is not a configured plan");
	}
	return 0;
}

/* The account as user-created answers it.  New reference. */
static struct json_object *
account_json(const struct account *a, int created)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "user_id", json_object_new_string(a->user_id));
	add_string_or_null(o, "email", a->email);
	add_string_or_null(o, "plan_id", a->plan_id);
	json_object_object_add(o, "status", json_object_new_string(a->status));
	json_object_object_add(o, "created", json_object_new_boolean(created));
	return o;
}

static int
hook_user_created(struct app *app, struct http_request *req,
    struct json_object *body)
{
	static const char *const keys[] = { "user_id", "email", "plan_id",
	    NULL };
	struct json_object *o = NULL;
	const char *user_id, *email, *plan_id;
	enum session_outcome oc;
	struct account acct;
	int rc;

	if (api_check_keys(req, body, keys) != 0 ||
	    get_id(req, body, "user_id", &user_id) != 0 ||
	    get_email(req, body, &email) != 0 ||
	    get_plan(app, req, body, &plan_id) != 0)
		goto out;
	rc = session_user_created(app->db, user_id, email, plan_id, &acct,
	    &oc);
	if (rc != DB_OK) {
		api_db_error(app, req, rc);
		goto out;
	}
	switch (oc) {
	case SESSION_CONFLICT_EMAIL:
		http_send_error(req, 409, "conflict",
		    "the account has another email", "email", NULL);
		break;
	case SESSION_CONFLICT_PLAN:
		http_send_error(req, 409, "conflict",
		    "the account has another plan", "plan_id", NULL);
		break;
	case SESSION_CLOSED:
		http_send_error(req, 409, "conflict",
		    "the account is closed (its user was deleted)", "user_id",
		    NULL);
		break;
	default:
		o = account_json(&acct, oc == SESSION_CREATED);
		http_send_json(req, oc == SESSION_CREATED ? 201 : 200, o);
		break;
	}
out:
	json_object_put(o);
	return 0;
}

static int
hook_session_created(struct app *app, struct http_request *req,
    struct json_object *body)
{
	static const char *const keys[] = { "session_id", "user_id",
	    "cpu_cores", "memory_gb", "storage_gb", "started_at", NULL };
	const char *session_id, *user_id;
	struct session_size size;
	enum session_outcome oc;
	struct session s;
	int64_t now = time_now_usec(), started_at;
	int given, rc;

	if (api_check_keys(req, body, keys) != 0 ||
	    get_id(req, body, "session_id", &session_id) != 0 ||
	    get_id(req, body, "user_id", &user_id) != 0 ||
	    get_sizes(req, body, 1, &size, &given, &given, &given) != 0 ||
	    get_time(req, body, "started_at", now, &started_at, &given) != 0)
		goto out;
	if (started_at < now - MAX_START_AGE) {
		api_bad_param(req, "started_at", "is more than 90 days ago");
		goto out;
	}
	rc = session_create(app->db, session_id, user_id, started_at, given,
	    &size, &s, &oc);
	answer_session(app, req, rc, oc, &s, "started_at", 0);
out:
	return 0;
}

int
api_hook_beat_parse(struct http_request *req, struct json_object *body,
    const char **session_id, struct session_beat *beat)
{
	static const char *const keys[] = { "session_id", "at", "cpu_cores",
	    "memory_gb", "storage_gb", NULL };
	int given;

	memset(beat, 0, sizeof(*beat));
	if (api_check_keys(req, body, keys) != 0 ||
	    get_id(req, body, "session_id", session_id) != 0 ||
	    get_time(req, body, "at", time_now_usec(), &beat->at, &given) != 0 ||
	    get_sizes(req, body, 0, &beat->size, &beat->has_cpu,
	    &beat->has_memory, &beat->has_storage) != 0)
		return -1;
	return 0;
}

int
api_hook_beat_answer(struct app *app, struct http_request *req, int rc,
    enum session_outcome oc, const struct session *s)
{
	return answer_session(app, req, rc, oc, s, "at", 0);
}

struct json_object *
api_hook_session_json(const struct session *s)
{
	return session_json(s, 0);
}

static int
hook_session_heartbeat(struct app *app, struct http_request *req,
    struct json_object *body)
{
	struct session_beat beat;
	const char *session_id;
	enum session_outcome oc;
	struct session s;
	int rc;

	if (api_hook_beat_parse(req, body, &session_id, &beat) != 0)
		return 0;
	rc = session_heartbeat(app->db, session_id, &beat, &s, &oc);
	answer_session(app, req, rc, oc, &s, "at", 0);
	return 0;
}

/* What session-terminated, -hibernated and -woken do to a session. */
enum session_step { STEP_END, STEP_HIBERNATE, STEP_WAKE };

/*
 * {session_id, <time_key>?}: the session ended, hibernated or woken at that
 * instant (default now).  The three hooks differ only in that.
 */
static int
hook_session_step(struct app *app, struct http_request *req,
    struct json_object *body, enum session_step step)
{
	const char *time_key = step == STEP_END ? "ended_at" : "at";
	const char *const keys[] = { "session_id", time_key, NULL };
	const char *session_id;
	enum session_outcome oc;
	struct session s;
	int64_t at;
	int given, rc;

	if (api_check_keys(req, body, keys) != 0 ||
	    get_id(req, body, "session_id", &session_id) != 0 ||
	    get_time(req, body, time_key, time_now_usec(), &at, &given) != 0)
		return 0;
	if (step == STEP_END)
		rc = session_terminate(app->db, session_id, at, given, &s, &oc);
	else
		rc = session_hibernate(app->db, session_id, step == STEP_WAKE,
		    at, given, &s, &oc);
	answer_session(app, req, rc, oc, &s, time_key, step != STEP_END);
	return 0;
}

static int
hook_session_terminated(struct app *app, struct http_request *req,
    struct json_object *body)
{
	return hook_session_step(app, req, body, STEP_END);
}

static int
hook_session_hibernated(struct app *app, struct http_request *req,
    struct json_object *body)
{
	return hook_session_step(app, req, body, STEP_HIBERNATE);
}

static int
hook_session_woken(struct app *app, struct http_request *req,
    struct json_object *body)
{
	return hook_session_step(app, req, body, STEP_WAKE);
}

/* user-storage: {user_id, storage_gb, at?}: the user's persistent volume. */
static int
hook_user_storage(struct app *app, struct http_request *req,
    struct json_object *body)
{
	static const char *const keys[] = { "user_id", "storage_gb", "at",
	    NULL };
	struct json_object *o;
	const char *user_id;
	enum session_outcome oc;
	struct session s;
	int64_t storage, at;
	int given, rc;

	if (api_check_keys(req, body, keys) != 0 ||
	    get_id(req, body, "user_id", &user_id) != 0 ||
	    get_size(req, body, "storage_gb", QUANTITY_GIB, SESSION_STORAGE_MAX,
	    1, &storage, &given) != 0 ||
	    get_time(req, body, "at", time_now_usec(), &at, &given) != 0)
		goto out;
	rc = session_user_storage(app->db, user_id, storage, at, &s, &oc);
	if (rc != DB_OK) {
		api_db_error(app, req, rc);
		goto out;
	}
	if (oc == SESSION_BEFORE_START) {
		api_bad_param(req, "at", "is before the volume's first report");
		goto out;
	}
	if (oc == SESSION_CLOSED) {
		http_send_error(req, 409, "conflict",
		    "the account is closed (its user was deleted)", "user_id",
		    NULL);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "storage_gb",
	    json_money_trim(s.size.storage_gb, 0));
	json_object_object_add(o, "segment", json_object_new_int64(s.segment));
	http_send_json(req, oc == SESSION_CREATED ? 201 : 200, o);
	json_object_put(o);
out:
	return 0;
}

/* The hooks POST hooks/batch takes, by its events' type (api_hooks.h). */
static const struct {
	const char *type;
	int (*fn)(struct app *, struct http_request *, struct json_object *);
} hooks[] = {
	{ "user-created", hook_user_created },
	{ "session-created", hook_session_created },
	{ "session-heartbeat", hook_session_heartbeat },
	{ "session-terminated", hook_session_terminated },
	{ "session-hibernated", hook_session_hibernated },
	{ "session-woken", hook_session_woken },
	{ "user-storage", hook_user_storage },
};

int
api_hook_type(const char *type)
{
	size_t i;

	for (i = 0; type != NULL && i < sizeof(hooks) / sizeof(hooks[0]); i++)
		if (strcmp(hooks[i].type, type) == 0)
			return (int)i;
	return -1;
}

int
api_hook_apply(struct app *app, struct http_request *req, int type,
    struct json_object *body)
{
	return hooks[type].fn(app, req, body);
}

/* POST hooks/<type>: the body read, then the hook of that type. */
static int
hook_route(struct app *app, struct http_request *req, int type)
{
	struct json_object *body = NULL;

	if (http_read_json(req, &body) != 0)
		return -1;
	hooks[type].fn(app, req, body);
	json_object_put(body);
	return 0;
}

int
api_hook_user_created(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_USER_CREATED);
}

int
api_hook_session_created(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_SESSION_CREATED);
}

int
api_hook_session_heartbeat(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_SESSION_HEARTBEAT);
}

int
api_hook_session_terminated(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_SESSION_TERMINATED);
}

int
api_hook_session_hibernated(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_SESSION_HIBERNATED);
}

int
api_hook_session_woken(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_SESSION_WOKEN);
}

int
api_hook_user_storage(struct app *app, struct http_request *req)
{
	return hook_route(app, req, API_HOOK_USER_STORAGE);
}
