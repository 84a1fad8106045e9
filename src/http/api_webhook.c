/*
 * POST webhook: Stripe's events (docs/webhooks.md).
 *
 * The Stripe-Signature header is checked over the raw body exactly as
 * received, against every configured secret, before anything is parsed; a
 * bad or stale one is refused with 400 and nothing changes.
 *
 * Each event id is applied once: its row in billing_stripe_events is
 * inserted in the same transaction as its effect, so an event is recorded
 * exactly when its effect is.  A redelivery finds the row and changes
 * nothing; a concurrent delivery waits on the primary key until the first
 * commits, then finds it too.
 *
 * The effect is the handler's of the event's type: webhook_subscriptions.c
 * and webhook_payments.c, under the rules webhook.h states (how a handler
 * finds its local record, the lock order, what it ignores).  An event of
 * another type, or about something we do not know, is acknowledged,
 * logged and recorded as processed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "json_util.h"
#include "log.h"
#include "signature.h"
#include "timeutil.h"
#include "webhook.h"

#define WEBHOOK_JSON_DEPTH 32   /* Stripe objects nest deeper than ours */
#define EVENT_TYPE_MAX 128
/* Stripe's events can be large (an invoice with many lines); the other
 * routes keep HTTP_MAX_BODY.  nginx lets up to 2 MiB through here. */
#define WEBHOOK_MAX_BODY (1024 * 1024)

static const char SQL_RECORD_EVENT[] =
    "INSERT INTO billing_stripe_events (event_id, type, stripe_created, "
    "processed_at) VALUES (?, ?, ?, ?)";

/* -- the endpoint --------------------------------------------------------- */

static const struct {
	const char *type;
	int (*fn)(struct db *, struct wh *);
} handlers[] = {
	{ "checkout.session.completed", wh_on_checkout_completed },
	{ "customer.subscription.updated", wh_on_subscription },
	{ "customer.subscription.deleted", wh_on_subscription },
	{ "invoice.paid", wh_on_invoice_paid },
	{ "invoice.payment_failed", wh_on_invoice_failed },
	{ "payment_intent.succeeded", wh_on_payment_intent },
};

/* The event's row and its effect, in one transaction (db_transaction). */
static int
webhook_txn(struct db *db, void *arg)
{
	struct wh *w = arg;
	char nowt[TIME_TEXT_MAX];
	size_t i;
	int rc;

	w->outcome = OUT_APPLIED;
	w->reason = NULL;
	w->note[0] = '\0';
	time_format_db(w->now, nowt, sizeof(nowt));
	struct db_param p[] = { DBP_STR(w->event_id), DBP_STR(w->type),
	    DBP_INT(w->created), DBP_STR(nowt) };
	rc = db_exec(db, SQL_RECORD_EVENT, p, 4, NULL, NULL);
	if (rc == DB_DUPLICATE) {
		w->outcome = OUT_DUPLICATE;
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, w->type) == 0)
			return handlers[i].fn(db, w);
	return wh_ignore(w, "unhandled event type");
}

/* Whether the event's type has a handler (and so an effect to apply). */
static int
has_handler(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, type) == 0)
			return 1;
	return 0;
}

/*
 * An event without a handler has no effect but its row: one INSERT,
 * autocommitted, is the same unit as the transaction around it would be
 * (START TRANSACTION, INSERT, COMMIT: two round trips fewer).  A deadlock
 * or lock wait timeout goes to the retrying transaction.  (A connection
 * lost under the INSERT is retried once on a new one, as any statement
 * outside a transaction is: the row is still written once, and a retry
 * that finds it answers "duplicate".)
 */
static int
record_unhandled(struct db *db, struct wh *w)
{
	int rc;

	rc = webhook_txn(db, w);
	if (rc == DB_RETRY)
		rc = db_transaction(db, webhook_txn, w);
	return rc;
}

/* The envelope: id, type, created, data.object.  0, or -1 after 400. */
static int
read_event(struct http_request *req, struct json_object *root, struct wh *w)
{
	struct json_object *obj = wh_jget(wh_jget(root, "data"), "object");
	const char *param = NULL;
	size_t i;

	w->event_id = wh_jtext(root, "id");
	w->type = wh_jtext(root, "type");
	if (!wh_id_ok(w->event_id))
		param = "id";
	else if (w->type == NULL || w->type[0] == '\0' ||
	    strlen(w->type) > EVENT_TYPE_MAX)
		param = "type";
	else if (wh_jint(root, "created", &w->created) != 1 || w->created < 0 ||
	    w->created > TIME_MAX_SEC)
		param = "created";
	else if (!json_object_is_type(obj, json_type_object))
		param = "data.object";
	for (i = 0; param == NULL && w->type[i] != '\0'; i++)
		if ((unsigned char)w->type[i] <= 0x20 ||
		    (unsigned char)w->type[i] >= 0x7f)
			param = "type";
	if (param != NULL) {
		http_send_error(req, 400, "invalid_argument",
		    "not a Stripe event: missing or invalid field", param, NULL);
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
	char msg[160], esc[NOTE_MAX + 64], eid[4 * STRIPE_ID_MAX];
	char etype[4 * EVENT_TYPE_MAX];
	const char *why = NULL;
	struct wh w;
	int rc;

	if (cfg->n_stripe_webhook_secrets == 0) {
		http_send_error(req, 503, "unavailable",
		    "Stripe webhooks are not configured", NULL, NULL);
		return 0;
	}
	if (!http_content_type_is_json(req->content_type)) {
		http_send_error(req, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type application/json",
		    NULL, NULL);
		return 0;
	}
	if (http_read_body_max(req, WEBHOOK_MAX_BODY) != 0)
		return -1;
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
	rc = has_handler(w.type) ? db_transaction(app->db, webhook_txn, &w) :
	    record_unhandled(app->db, &w);
	if (rc != DB_OK) {
		api_db_error(app, req, rc);
		goto out;
	}
	log_escape(esc, sizeof(esc), w.note, strlen(w.note));
	log_escape(eid, sizeof(eid), w.event_id, strlen(w.event_id));
	log_escape(etype, sizeof(etype), w.type, strlen(w.type));
	log_info("req=%s stripe event %s %s: %s%s%s%s", req->request_id,
	    eid, etype, w.outcome == OUT_DUPLICATE ? "duplicate" :
	    w.outcome == OUT_IGNORED ? "ignored: " : "applied",
	    w.outcome == OUT_IGNORED ? w.reason : "", esc[0] ? "; " : "", esc);
	resp = json_object_new_object();
	json_object_object_add(resp, "received", json_object_new_boolean(1));
	if (w.outcome == OUT_DUPLICATE)
		json_object_object_add(resp, "duplicate",
		    json_object_new_boolean(1));
	else if (w.outcome == OUT_IGNORED) {
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
