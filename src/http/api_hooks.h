/*
 * api_hooks: the hooks' bodies apart from their requests, for POST
 * hooks/batch (api_hooks_batch.c), which applies each event as its own hook
 * would: the same checks, the same billing call, the same answer.
 */
#ifndef BILLING_API_HOOKS_H
#define BILLING_API_HOOKS_H

#include "sessions.h"

struct app;
struct http_request;
struct json_object;

/* The event types, as api_hook_type numbers them. */
enum {
	API_HOOK_USER_CREATED,
	API_HOOK_SESSION_CREATED,
	API_HOOK_SESSION_HEARTBEAT,
	API_HOOK_SESSION_TERMINATED,
	API_HOOK_SESSION_HIBERNATED,
	API_HOOK_SESSION_WOKEN,
	API_HOOK_USER_STORAGE
};

/* The number of hook type ("session-heartbeat"), or -1. */
int api_hook_type(const char *type);

/* Checks body (a JSON object, the caller's) as hook type does, applies it
 * and answers on req; 0. */
int api_hook_apply(struct app *app, struct http_request *req, int type,
    struct json_object *body);

/* session-heartbeat's checks: 0 with *session_id (borrowed from body) and
 * *beat, or -1 after answering on req. */
int api_hook_beat_parse(struct http_request *req, struct json_object *body,
    const char **session_id, struct session_beat *beat);

/* session-heartbeat's answer to what session_heartbeat returned. */
int api_hook_beat_answer(struct app *app, struct http_request *req, int rc,
    enum session_outcome oc, const struct session *s);

/* The session as session-heartbeat answers it (200).  New reference. */
struct json_object *api_hook_session_json(const struct session *s);

#endif
