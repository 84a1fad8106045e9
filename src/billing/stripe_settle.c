/*
 * stripe_settle: an invoice that Stripe collects, voided or marked paid
 * here, is voided or marked paid out of band in Stripe first, so that
 * Stripe never charges what is void or already paid (docs/stripe.md).
 *
 *   void: POST /v1/invoices/{id}/void                   key invoice-void-<id>
 *   paid: POST /v1/invoices/{id}/pay paid_out_of_band=true
 *                                                       key invoice-pay-<id>
 *
 * The keys make a retry (a deadlock retry of the caller's transaction, a
 * repeated PATCH) the same request within Stripe's 24 hours.  After that,
 * Stripe refuses a second void or pay of the same invoice; a refusal is
 * then checked against the invoice itself (GET): already in the status
 * asked for is success.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "stripe.h"

/* 1 when Stripe's invoice sid is already what `to` asks for. */
static int
already(struct stripe *s, const char *sid, const char *to)
{
	struct stripe_error ge;
	struct json_object *o = NULL, *oob;
	char path[STRIPE_ID_MAX + 16];
	int done = 0;

	snprintf(path, sizeof(path), "/v1/invoices/%s", sid);
	if (stripe_request(s, "GET", path, NULL, NULL, &o, &ge) != STRIPE_OK)
		return 0;
	if (strcmp(to, "void") == 0)
		done = strcmp(stripe_str(o, "status"), "void") == 0;
	else
		done = strcmp(stripe_str(o, "status"), "paid") == 0 &&
		    json_object_object_get_ex(o, "paid_out_of_band", &oob) &&
		    json_object_get_boolean(oob);
	json_object_put(o);
	return done;
}

int
stripe_settle_invoice(const struct billing_config *cfg, uint64_t invoice_id,
    const char *sid, const char *to, struct stripe_error *err)
{
	struct stripe s;
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[48], path[STRIPE_ID_MAX + 32];
	int paid = strcmp(to, "paid") == 0, rc;

	memset(err, 0, sizeof(*err));
	if (stripe_init(&s, cfg) != STRIPE_OK) {
		err->rc = STRIPE_DISABLED;
		snprintf(err->message, sizeof(err->message),
		    "Stripe is not configured");
		return STRIPE_DISABLED;
	}
	if (!stripe_id_valid(sid)) {
		err->rc = STRIPE_BAD_ANSWER;
		snprintf(err->message, sizeof(err->message),
		    "the stored Stripe invoice id is not one");
		return STRIPE_BAD_ANSWER;
	}
	snprintf(key, sizeof(key), "invoice-%s-%llu", paid ? "pay" : "void",
	    (unsigned long long)invoice_id);
	snprintf(path, sizeof(path), "/v1/invoices/%s/%s", sid,
	    paid ? "pay" : "void");
	stripe_form_init(&f);
	if (paid)
		stripe_form_add(&f, "paid_out_of_band", "true");
	rc = stripe_request(&s, "POST", path, &f, key, &o, err);
	stripe_form_free(&f);
	json_object_put(o);
	if (rc == STRIPE_REJECTED && err->status == 400 && already(&s, sid, to))
		rc = STRIPE_OK;
	if (rc == STRIPE_OK)
		memset(err, 0, sizeof(*err));
	return rc;
}
