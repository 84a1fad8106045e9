/*
 * credit_note_stripe: a credit note on an invoice that Stripe collects is
 * made in Stripe too, first, so that Stripe never charges what is credited
 * here (docs/stripe.md, "Credit notes and refunds").
 *
 *   refund: POST /v1/refunds payment_intent, amount
 *                                   key credit-note-<invoice>-<seq>-refund
 *   credit note: POST /v1/credit_notes invoice, amount, memo, and for a
 *           paid invoice either refund=<that refund> or out_of_band_amount
 *                                   key credit-note-<invoice>-<seq>
 *
 * <seq> is the credit note's place among its invoice's (1, 2, ...), fixed
 * under the invoice's lock, so a retried transaction sends the same request
 * with the same key.  Neither credit_amount (Stripe's customer balance) nor
 * refund_amount is used: a credit to the balance is ours (a credit applied
 * to our next invoice, pushed with it), which Stripe's balance would apply
 * a second time, and a refund is made as its own request so that it can be
 * recorded with the payment it returns.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "credit_notes.h"
#include "stripe.h"

#define MEMO_MAX 500

static int
answer_id(struct json_object *o, char *out, size_t size,
    struct stripe_error *err)
{
	const char *id = stripe_str(o, "id");

	if (!stripe_id_valid(id)) {
		err->rc = STRIPE_BAD_ANSWER;
		snprintf(err->message, sizeof(err->message),
		    "Stripe's answer has no id");
		return STRIPE_BAD_ANSWER;
	}
	snprintf(out, size, "%s", id);
	return STRIPE_OK;
}

static int
begin(struct stripe *s, const struct billing_config *cfg,
    const struct credit_note_stripe *cs, int64_t *minor,
    struct stripe_error *err)
{
	memset(err, 0, sizeof(*err));
	if (stripe_init(s, cfg) != STRIPE_OK) {
		err->rc = STRIPE_DISABLED;
		snprintf(err->message, sizeof(err->message),
		    "Stripe is not configured");
		return STRIPE_DISABLED;
	}
	if (stripe_minor_units(cs->currency, cs->amount, minor) != 0) {
		err->rc = STRIPE_BAD_ANSWER;
		snprintf(err->message, sizeof(err->message),
		    "the amount is not exact in the currency's minor unit");
		return STRIPE_BAD_ANSWER;
	}
	return STRIPE_OK;
}

int
credit_note_stripe_refund(const struct billing_config *cfg, const char *pi,
    const struct credit_note_stripe *cs, char *re, size_t size,
    struct stripe_error *err)
{
	struct stripe s;
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[80], inv[24], seq[16];
	int64_t minor;
	int rc;

	if ((rc = begin(&s, cfg, cs, &minor, err)) != STRIPE_OK)
		return rc;
	if (!stripe_id_valid(pi)) {
		err->rc = STRIPE_BAD_ANSWER;
		snprintf(err->message, sizeof(err->message),
		    "the stored payment intent id is not one");
		return STRIPE_BAD_ANSWER;
	}
	snprintf(key, sizeof(key), "credit-note-%llu-%u-refund",
	    (unsigned long long)cs->invoice_id, cs->seq);
	snprintf(inv, sizeof(inv), "%llu", (unsigned long long)cs->invoice_id);
	snprintf(seq, sizeof(seq), "%u", cs->seq);
	stripe_form_init(&f);
	stripe_form_add(&f, "payment_intent", pi);
	stripe_form_add_i64(&f, "amount", minor);
	stripe_form_add(&f, "metadata[billing_invoice_id]", inv);
	stripe_form_add(&f, "metadata[credit_note_seq]", seq);
	rc = stripe_request(&s, "POST", "/v1/refunds", &f, key, &o, err);
	stripe_form_free(&f);
	if (rc == STRIPE_OK)
		rc = answer_id(o, re, size, err);
	json_object_put(o);
	return rc;
}

int
credit_note_stripe_create(const struct billing_config *cfg,
    const struct credit_note_stripe *cs, char *out, size_t size,
    struct stripe_error *err)
{
	struct stripe s;
	struct stripe_form f;
	struct json_object *o = NULL;
	char key[80], inv[24], seq[16], memo[MEMO_MAX + 1];
	int64_t minor;
	int rc;

	if ((rc = begin(&s, cfg, cs, &minor, err)) != STRIPE_OK)
		return rc;
	if (!stripe_id_valid(cs->sid)) {
		err->rc = STRIPE_BAD_ANSWER;
		snprintf(err->message, sizeof(err->message),
		    "the stored Stripe invoice id is not one");
		return STRIPE_BAD_ANSWER;
	}
	snprintf(key, sizeof(key), "credit-note-%llu-%u",
	    (unsigned long long)cs->invoice_id, cs->seq);
	snprintf(inv, sizeof(inv), "%llu", (unsigned long long)cs->invoice_id);
	snprintf(seq, sizeof(seq), "%u", cs->seq);
	snprintf(memo, sizeof(memo), "%s", cs->memo ? cs->memo : "");
	if (cs->memo != NULL && strlen(cs->memo) > MEMO_MAX) {
		/* cut at a character's start, never inside one */
		size_t n = MEMO_MAX;

		while (n > 0 && ((unsigned char)memo[n] & 0xc0) == 0x80)
			n--;
		memo[n] = '\0';
	}
	stripe_form_init(&f);
	stripe_form_add(&f, "invoice", cs->sid);
	stripe_form_add_i64(&f, "amount", minor);
	if (cs->refund_id != NULL)
		stripe_form_add(&f, "refund", cs->refund_id);
	else if (cs->out_of_band)
		stripe_form_add_i64(&f, "out_of_band_amount", minor);
	if (memo[0] != '\0')
		stripe_form_add(&f, "memo", memo);
	stripe_form_add(&f, "metadata[billing_invoice_id]", inv);
	stripe_form_add(&f, "metadata[credit_note_seq]", seq);
	rc = stripe_request(&s, "POST", "/v1/credit_notes", &f, key, &o, err);
	stripe_form_free(&f);
	if (rc == STRIPE_OK)
		rc = answer_id(o, out, size, err);
	json_object_put(o);
	return rc;
}
