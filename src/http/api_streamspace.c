/*
 * POST hooks/streamspace: StreamSpace's own webhook (docs/hooks.md).
 *
 * No token: X-StreamSpace-Signature, the lowercase hex HMAC-SHA256 of the
 * raw body keyed with one of streamspaceWebhookSecret's secrets, is checked
 * before anything is parsed (401 and nothing changes when it is bad or
 * missing).  Then the envelope {event, timestamp, data, metadata?}: the
 * timestamp must be within streamspaceWebhookToleranceSeconds of now.  The
 * delivery is applied once by streamspace.c at its timestamp.
 *
 * Unlike the hooks' bodies, unknown keys are accepted: StreamSpace's
 * payloads carry many fields billing does not use.
 */
#include <stdint.h>
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
#include "quantity.h"
#include "result.h"
#include "sessions.h"
#include "signature.h"
#include "streamspace.h"
#include "timeutil.h"

#define SS_JSON_DEPTH 32
#define EMAIL_MIN 3
#define EMAIL_MAX 320

/* A required id at data.key (1-255 bytes, no control characters). */
static int
get_id(struct http_request *req, struct json_object *data, const char *key,
    const char *param, const char **out)
{
	int r;

	r = json_field_string(data, key, 1, ACCOUNT_USER_ID_MAX, out);
	if (r == 0)
		return api_bad_param(req, param, "is required");
	if (r < 0 || !account_user_id_valid(*out))
		return api_bad_param(req, param,
		    "must be a string of 1 to 255 bytes without control characters");
	return 0;
}

/* data.resources.cpu and .memory (Kubernetes quantities), data.persistentHome. */
static int
get_start(struct app *app, struct http_request *req, struct json_object *data,
    struct streamspace_delivery *d)
{
	struct json_object *res = NULL;
	int home = 0, r;

	if (!json_object_object_get_ex(data, "resources", &res) ||
	    !json_object_is_type(res, json_type_object))
		return api_bad_param(req, "data.resources",
		    "must be an object with cpu and memory");
	r = json_field_quantity(res, "cpu", QUANTITY_CORES, SESSION_CPU_MAX,
	    &d->size.cpu_cores);
	if (r != 1)
		return api_bad_param(req, "data.resources.cpu",
		    "must be a quantity of cores such as \"1000m\" or \"2\"");
	r = json_field_quantity(res, "memory", QUANTITY_GIB,
	    SESSION_MEMORY_MAX, &d->size.memory_gb);
	if (r != 1)
		return api_bad_param(req, "data.resources.memory",
		    "must be a quantity of memory such as \"2Gi\"");
	d->size.storage_gb = 0;
	if (json_field_bool(data, "persistentHome", &home) < 0)
		return api_bad_param(req, "data.persistentHome",
		    "must be a boolean");
	d->home_storage_gb = home ?
	    (int64_t)app->cfg->streamspace_home_storage_gb * 1000000 : 0;
	return 0;
}

/* The envelope and the data its kind needs.  0, or -1 after answering. */
static int
read_delivery(struct app *app, struct http_request *req,
    struct json_object *root, struct streamspace_delivery *d)
{
	struct json_object *data = NULL;
	int64_t skew, tol;
	const char *p;
	int r;

	if (json_field_string(root, "event", 1, STREAMSPACE_EVENT_MAX,
	    &d->event) != 1)
		return api_bad_param(req, "event", "must be a string of 1 to 64 "
		    "bytes");
	for (p = d->event; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return api_bad_param(req, "event",
			    "must be printable ASCII");
	r = json_field_time(root, "timestamp", TIME_NO_DATE, &d->at, NULL);
	if (r == 0)
		return api_bad_param(req, "timestamp", "is required");
	if (r < 0)
		return api_bad_time(req, "timestamp", r, TIME_NO_DATE);
	tol = (int64_t)app->cfg->streamspace_webhook_tolerance_seconds *
	    USEC_PER_SEC;
	skew = d->at > d->now ? d->at - d->now : d->now - d->at;
	if (skew > tol)
		return api_bad_param(req, "timestamp", "is further from now "
		    "than streamspaceWebhookToleranceSeconds");
	d->kind = streamspace_kind(d->event);
	if (d->kind == STREAMSPACE_OTHER)
		return 0;
	if (!json_object_object_get_ex(root, "data", &data) ||
	    !json_object_is_type(data, json_type_object))
		return api_bad_param(req, "data", "must be an object");
	if (d->kind == STREAMSPACE_USER_DELETED)
		return get_id(req, data, "username", "data.username",
		    &d->user_id);
	if (d->kind == STREAMSPACE_USER_CREATED) {
		if (get_id(req, data, "username", "data.username",
		    &d->user_id) != 0)
			return -1;
		r = json_field_string(data, "email", EMAIL_MIN, EMAIL_MAX,
		    &d->email);
		if (r == 0)
			d->email = NULL;
		else if (r < 0 || strchr(d->email, '@') == NULL)
			return api_bad_param(req, "data.email",
			    "must be an email address of 3 to 320 characters");
		for (p = d->email; p != NULL && *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return api_bad_param(req, "data.email",
				    "must not hold control characters");
		return 0;
	}
	if (get_id(req, data, "name", "data.name", &d->session_id) != 0 ||
	    get_id(req, data, "user", "data.user", &d->user_id) != 0)
		return -1;
	if (d->kind == STREAMSPACE_SESSION_START)
		return get_start(app, req, data, d);
	return 0;
}

int
api_streamspace_hook(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *root = NULL, *o;
	struct streamspace_delivery d;
	char sha[SIGNATURE_SHA256_HEX], ev[4 * STREAMSPACE_EVENT_MAX];
	const char *why = NULL;
	struct result r;

	if (cfg->n_streamspace_webhook_secrets == 0) {
		http_send_error(req, 503, "unavailable",
		    "StreamSpace webhooks are not configured "
		    "(streamspaceWebhookSecret)", NULL, NULL);
		return 0;
	}
	if (!http_content_type_is_json(req->content_type)) {
		http_send_error(req, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type application/json",
		    NULL, NULL);
		return 0;
	}
	if (http_read_body(req) != 0)
		return -1;
	/* the raw bytes as received: nothing is parsed before this */
	if (signature_verify_hex(req->streamspace_signature,
	    (const char *const *)cfg->streamspace_webhook_secrets,
	    cfg->n_streamspace_webhook_secrets, req->body, req->body_len,
	    &why) != 0) {
		log_info("req=%s streamspace webhook refused: %s",
		    req->request_id, why);
		http_send_error(req, 401, "unauthenticated",
		    "X-StreamSpace-Signature verification failed",
		    "X-StreamSpace-Signature", NULL);
		return 0;
	}
	if (!cfg->enabled)
		return api_hooks_disabled(req);
	memset(&d, 0, sizeof(d));
	d.now = time_now_usec();
	root = json_parse_limited(req->body, req->body_len, SS_JSON_DEPTH,
	    &why);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		http_send_error(req, 400, "invalid_json", root == NULL ? why :
		    "the delivery must be a JSON object", NULL, NULL);
		goto out;
	}
	if (read_delivery(app, req, root, &d) != 0)
		goto out;
	if (signature_sha256_hex(req->body, req->body_len, sha) != 0) {
		http_send_error(req, 500, "internal", "internal error", NULL,
		    NULL);
		goto out;
	}
	d.body_sha256 = sha;
	if (streamspace_apply(app->db, &d, &r) != RESULT_OK) {
		api_send_result(req, &r);
		goto out;
	}
	log_escape(ev, sizeof(ev), d.event, strlen(d.event));
	log_info("req=%s streamspace %s: %s%s", req->request_id, ev,
	    d.outcome == STREAMSPACE_DUPLICATE ? "duplicate" :
	    d.outcome == STREAMSPACE_IGNORED ? "ignored: " : "applied",
	    d.outcome == STREAMSPACE_IGNORED ? d.reason : "");
	o = json_object_new_object();
	json_object_object_add(o, "received", json_object_new_boolean(1));
	json_object_object_add(o, "event", json_object_new_string(d.event));
	json_object_object_add(o, "outcome", json_object_new_string(
	    d.outcome == STREAMSPACE_DUPLICATE ? "duplicate" :
	    d.outcome == STREAMSPACE_IGNORED ? "ignored" : "applied"));
	if (d.outcome == STREAMSPACE_DUPLICATE)
		json_object_object_add(o, "duplicate",
		    json_object_new_boolean(1));
	if (d.outcome == STREAMSPACE_IGNORED)
		json_object_object_add(o, "ignored",
		    json_object_new_string(d.reason));
	http_send_json(req, 200, o);
	json_object_put(o);
out:
	json_object_put(root);
	return 0;
}
