/*
 * POST webhook: Stripe's events (docs/webhooks.md).
 *
 * The Stripe-Signature header is checked over the raw body exactly as
 * received, against every configured secret, before anything is parsed; a
 * bad or stale one is refused with 400 and nothing changes.
 *
 * The envelope (id, type, created, data.object) is checked here; the event
 * is applied, once, by webhook.c (webhook_apply), under the rules webhook.h
 * states.
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
#include "stripe.h"
#include "timeutil.h"
#include "webhook.h"

#define WEBHOOK_JSON_DEPTH 32   /* Stripe objects nest deeper than ours */
#define EVENT_TYPE_MAX 128
/* Stripe's events can be large (an invoice with many lines); the other
 * routes keep HTTP_MAX_BODY.  nginx lets up to 2 MiB through here. */
#define WEBHOOK_MAX_BODY (1024 * 1024)

/* The envelope: id, type, created, data.object.  0, or -1 after 400. */
static int
read_event(struct http_request *req, struct json_object *root,
    struct webhook_event *w)
{
	struct json_object *obj = webhook_jget(webhook_jget(root, "data"),
	    "object");
	const char *param = NULL;
	size_t i;

	w->event_id = webhook_jtext(root, "id");
	w->type = webhook_jtext(root, "type");
	if (!stripe_id_valid(w->event_id))
		param = "id";
	else if (w->type == NULL || w->type[0] == '\0' ||
	    strlen(w->type) > EVENT_TYPE_MAX)
		param = "type";
	else if (webhook_jint(root, "created", &w->created) != 1 ||
	    w->created < 0 ||
	    w->created > WEBHOOK_TIME_MAX_SEC)
		param = "created";
	else if (!json_object_is_type(obj, json_type_object))
		param = "data.object";
	for (i = 0; param == NULL && w->type[i] != '\0'; i++)
		if ((unsigned char)w->type[i] <= 0x20 ||
		    (unsigned char)w->type[i] >= 0x7f)
			param = "type";
	if (param != NULL) {
		http_send_error(req, 400, "invalid_argument",
		    "not a Stripe event: missing or invalid field", param,
		    NULL);
		return -1;
	}
	w->obj = obj;
	return 0;
}

int
api_stripe_webhook(struct app *app, struct http_request *req)
{
	const struct billing_config *cfg = app->cfg;
	struct json_object *root = NULL, *resp = NULL;
	char msg[160], esc[WEBHOOK_NOTE_MAX + 64], eid[4 * STRIPE_ID_MAX];
	char etype[4 * EVENT_TYPE_MAX];
	const char *why = NULL;
	struct result r;
	struct webhook_event w;
	int rc;

	if ((rc = api_webhook_body(req, cfg->n_stripe_webhook_secrets > 0,
	    "Stripe webhooks are not configured", WEBHOOK_MAX_BODY)) != 0)
		return rc > 0 ? 0 : -1;
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.now = time_now_usec();
	/* the raw bytes as received: nothing is parsed before this */
	if (signature_verify(req->stripe_signature,
	    (const char *const *)cfg->stripe_webhook_secrets,
	    cfg->n_stripe_webhook_secrets, req->body, req->body_len,
	    w.now / USEC_PER_SEC, SIGNATURE_TOLERANCE_SEC, &why) != 0) {
		log_info("req=%s stripe webhook refused: %s", req->request_id,
		    why);
		snprintf(msg, sizeof(msg), "Stripe-Signature verification "
		    "failed: %s", why);
		http_send_error(req, 400, "invalid_argument", msg,
		    "Stripe-Signature", NULL);
		return 0;
	}
	root = json_parse_limited(req->body, req->body_len, WEBHOOK_JSON_DEPTH,
	    &why);
	if (root == NULL || !json_object_is_type(root, json_type_object)) {
		http_send_error(req, 400, "invalid_json", root == NULL ? why :
		    "the event must be a JSON object", NULL, NULL);
		goto out;
	}
	if (read_event(req, root, &w) != 0)
		goto out;
	if (webhook_apply(app->db, &w, &r) != RESULT_OK) {
		api_send_result(req, &r);
		goto out;
	}
	log_escape(esc, sizeof(esc), w.note, strlen(w.note));
	log_escape(eid, sizeof(eid), w.event_id, strlen(w.event_id));
	log_escape(etype, sizeof(etype), w.type, strlen(w.type));
	log_info("req=%s stripe event %s %s: %s%s%s%s", req->request_id,
	    eid, etype, w.outcome == WEBHOOK_DUPLICATE ? "duplicate" :
	    w.outcome == WEBHOOK_IGNORED ? "ignored: " : "applied",
	    w.outcome == WEBHOOK_IGNORED ? w.reason : "", esc[0] ? "; " : "",
	    esc);
	resp = json_object_new_object();
	json_object_object_add(resp, "received", json_object_new_boolean(1));
	if (w.outcome == WEBHOOK_DUPLICATE)
		json_object_object_add(resp, "duplicate",
		    json_object_new_boolean(1));
	else if (w.outcome == WEBHOOK_IGNORED) {
		json_object_object_add(resp, "ignored",
		    json_object_new_boolean(1));
		json_object_object_add(resp, "reason",
		    json_object_new_string(w.reason));
	}
	http_send_json(req, 200, resp);
out:
	json_object_put(resp);
	json_object_put(root);
	return 0;
}
