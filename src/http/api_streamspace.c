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

#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "result.h"
#include "signature.h"
#include "streamspace.h"
#include "timeutil.h"

#define SS_JSON_DEPTH 32

/* The envelope and the data its kind needs (streamspace_body_read), and a
 * timestamp within the tolerance.  0, or -1 after answering. */
static int
read_delivery(struct app *app, struct http_request *req,
    struct json_object *root, struct streamspace_delivery *d)
{
	struct result r;
	int64_t skew, tol;

	if (streamspace_body_read(app->cfg, root, d, &r) != RESULT_OK) {
		api_send_result(req, &r);
		return -1;
	}
	tol = (int64_t)app->cfg->streamspace_webhook_tolerance_seconds *
	    USEC_PER_SEC;
	skew = d->at > d->now ? d->at - d->now : d->now - d->at;
	if (skew > tol)
		return api_bad_param(req, "timestamp", "is further from now "
		    "than streamspaceWebhookToleranceSeconds");
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
	int rc;

	if ((rc = api_webhook_body(req, cfg->n_streamspace_webhook_secrets > 0,
	    "StreamSpace webhooks are not configured (streamspaceWebhookSecret)",
	    HTTP_MAX_BODY)) != 0)
		return rc > 0 ? 0 : -1;
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
