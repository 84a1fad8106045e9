/*
 * The Stripe webhook's payment events (webhook.h): invoice.paid,
 * invoice.payment_failed and payment_intent.succeeded.  They record
 * billing_payments rows (payments.c; Stripe's minor-unit amounts as our
 * micro-units), mark our invoice paid (invoices.c), start and end the
 * account's grace period (payment_failed_at) and queue billing.invoice.paid
 * and billing.payment.failed.
 *
 * A succeeded payment is recorded once: whichever of invoice.paid and
 * payment_intent.succeeded comes second completes the row the first wrote
 * for the same payment intent.  A failed one is recorded once per event.
 *
 * Out-of-order delivery never regresses state: a paid invoice stays paid,
 * a void one void, and a payment failure of an invoice already paid starts
 * no grace period.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "events.h"
#include "invoices.h"
#include "json_util.h"
#include "money.h"
#include "payments.h"
#include "timeutil.h"
#include "utf8.h"
#include "webhook.h"

#define FAILURE_MAX 1000        /* billing_payments.failure_message */
#define AMOUNT_MAX INT64_C(1000000000000)    /* minor units */

enum {
	WHP_INVOICE_BY_STRIPE,
	WHP_INVOICE_BY_ID,
	WHP_FAILED_AT,
	WHP_NSTMTS
};

/* the columns of WHP_INVOICE_BY_STRIPE and WHP_INVOICE_BY_ID */
enum { INV_COL_ID, INV_COL_ACCOUNT, INV_NCOLS };

static const struct db_stmt whp_sql[WHP_NSTMTS] = {
	[WHP_INVOICE_BY_STRIPE] = { "SELECT id, account_id FROM billing_invoices "
	    "WHERE stripe_invoice_id = ?", 1, INV_NCOLS },
	[WHP_INVOICE_BY_ID] = { "SELECT id, account_id FROM billing_invoices "
	    "WHERE id = ?", 1, INV_NCOLS },
	[WHP_FAILED_AT] = { "SELECT payment_failed_at FROM billing_accounts "
	    "WHERE id = ?", 1, 1 },
};
const struct db_stmts webhook_payments_stmts = DB_STMTS("webhook_payments",
    whp_sql);

/* -- amounts and text ----------------------------------------------------- */

/* A currency code as Stripe writes it: three lowercase letters. */
static int
currency_ok(const char *s)
{
	return s != NULL && strlen(s) == 3 && s[0] >= 'a' && s[0] <= 'z' &&
	    s[1] >= 'a' && s[1] <= 'z' && s[2] >= 'a' && s[2] <= 'z';
}

/*
 * Minor units (Stripe's integers) to exact micro-units.  Zero-decimal
 * currencies count whole units, three-decimal ones thousandths (Stripe
 * keeps their last digit 0, so two decimals hold them).  0 or -1.
 */
static int
minor_to_micros(const char *currency, int64_t amount, int64_t *out)
{
	int64_t scale = MONEY_SCALE;
	int d;

	if (amount < 0 || amount > AMOUNT_MAX)
		return -1;
	for (d = money_currency_decimals(currency); d > 0; d--)
		scale /= 10;
	*out = amount * scale;
	return 0;
}

/*
 * Copies s as valid UTF-8 of at most size - 1 bytes: control characters
 * become blanks and bytes that are not UTF-8 become '?', so the text fits
 * a utf8mb4 column whatever Stripe (or anyone) put in it.
 */
static void
clean_text(const char *s, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, n, i;

	while (*p != '\0' && o + 1 < size) {
		if ((n = utf8_char((const char *)p, NULL)) == 0) {
			out[o++] = '?';
			p++;
			continue;
		}
		if (o + n >= size)
			break;
		if (n == 1)
			out[o++] = *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
		else
			for (i = 0; i < n; i++)
				out[o++] = (char)p[i];
		p += n;
	}
	out[o] = '\0';
}

/* -- invoices and payments ------------------------------------------------ */

/* What an invoice event is about: the account, and our invoice if any. */
struct target {
	struct account acct;
	uint64_t invoice_id;        /* 0: not one of ours */
	char status[WEBHOOK_COL_MAX];       /* our invoice's */
	char currency[WEBHOOK_COL_MAX];
};

/* Our invoice by statement stmt (its Stripe id, or ours) into *id and
 * *account_id.  DB_OK, DB_NOT_FOUND or an error. */
static int
find_invoice(struct db *db, unsigned stmt, struct db_param p, uint64_t *id,
    uint64_t *account_id)
{
	struct db_result *res = NULL;
	int64_t i = 0, a = 0;
	int rc, r;

	if ((rc = db_get(db, &webhook_payments_stmts, stmt, &p, 1, &res)) !=
	    DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1 && (db_col_i64(res, INV_COL_ID, &i) != 0 ||
	    db_col_i64(res, INV_COL_ACCOUNT, &a) != 0))
		r = DB_ERROR;
	db_result_free(res);
	*id = (uint64_t)i;
	*account_id = (uint64_t)a;
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

/* The subscription of an invoice: parent.subscription_details (2025-03-31
 * API) or the top level. */
static struct json_object *
invoice_sub_details(struct json_object *inv)
{
	return webhook_jget(webhook_jget(inv, "parent"), "subscription_details");
}

/* The subscription id of an invoice: subscription_details', else the top
 * level's.  Borrowed or NULL. */
static const char *
invoice_sub_id(struct json_object *inv)
{
	const char *sub_id = webhook_jid(invoice_sub_details(inv),
	    "subscription");

	return sub_id != NULL ? sub_id : webhook_jid(inv, "subscription");
}

/*
 * Finds and locks what invoice in_id is about: our invoice by its Stripe id
 * or metadata.billing_invoice_id (linked to in_id if it has none), else the
 * account by customer, subscription or metadata.user_id.
 */
static int
find_target(struct db *db, struct webhook_event *w, const char *in_id,
    struct target *t)
{
	struct json_object *inv = w->obj, *details = invoice_sub_details(inv);
	struct invoice_locked lk;
	const char *sub_id, *user_id;
	uint64_t our, id = 0, account_id = 0;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = find_invoice(db, WHP_INVOICE_BY_STRIPE, DBP_STR(in_id), &id,
	    &account_id);
	if (rc == DB_NOT_FOUND &&
	    (our = webhook_parse_id(webhook_jtext(webhook_jget(inv, "metadata"),
	    "billing_invoice_id"))) != 0)
		rc = find_invoice(db, WHP_INVOICE_BY_ID, DBP_INT(our), &id,
		    &account_id);
	if (rc == DB_OK) {
		t->invoice_id = id;
		rc = account_get(db, account_id, &t->acct);
	} else if (rc == DB_NOT_FOUND) {
		sub_id = invoice_sub_id(inv);
		user_id = webhook_jtext(webhook_jget(details, "metadata"), "user_id");
		if (user_id == NULL)
			user_id = webhook_jtext(webhook_jget(inv, "metadata"), "user_id");
		rc = webhook_account_by_customer(db, webhook_jid(inv, "customer"), &t->acct);
		if (rc == DB_NOT_FOUND)
			rc = webhook_account_by_subscription(db, sub_id, &t->acct);
		if (rc == DB_NOT_FOUND)
			rc = webhook_account_by_user(db, user_id, &t->acct);
	}
	if (rc != DB_OK || (rc = webhook_lock_account(db, &t->acct)) != DB_OK)
		return rc;
	webhook_note(w, "account %llu", (unsigned long long)t->acct.id);
	if (t->invoice_id == 0)
		return DB_OK;
	if ((rc = invoice_lock(db, t->invoice_id, &lk)) != DB_OK)
		return rc;
	snprintf(t->status, sizeof(t->status), "%s", lk.status);
	snprintf(t->currency, sizeof(t->currency), "%s", lk.currency);
	webhook_note(w, "invoice %llu (%s)", (unsigned long long)t->invoice_id,
	    t->status);
	if (lk.stripe_invoice_id[0] == '\0') {
		rc = invoice_link_stripe(db, t->invoice_id, in_id);
		if (rc == DB_DUPLICATE)
			webhook_note(w, "%s is linked to another invoice", in_id);
		else if (rc != DB_OK)
			return rc;
	} else if (strcmp(lk.stripe_invoice_id, in_id) != 0)
		webhook_note(w, "invoice is linked to %s", lk.stripe_invoice_id);
	return DB_OK;
}

/* The payment intent of an invoice: payment_intent (older API) or
 * payments.data[0].payment.payment_intent.  Borrowed or NULL. */
static const char *
invoice_payment_intent(struct json_object *inv)
{
	const char *pi = webhook_jid(inv, "payment_intent");

	if (pi == NULL)
		pi = webhook_jid(webhook_jget(webhook_jfirst(inv, "payments"), "payment"),
		    "payment_intent");
	return pi;
}

/* The currency of a Stripe amount: the object's, else our invoice's, else
 * the configured one. */
static const char *
pick_currency(struct webhook_event *w, struct json_object *o, const struct target *t)
{
	const char *c = webhook_jtext(o, "currency");

	if (currency_ok(c))
		return c;
	if (t != NULL && currency_ok(t->currency))
		return t->currency;
	return w->cfg->currency;
}

/* A payment of amount minor units of currency to account t (and its
 * invoice, if any) into *pm, all but its Stripe invoice and failure.  0, or
 * -1 when the amount does not convert. */
static int
fill_payment(const char *currency, int64_t amount, const struct target *t,
    const char *status, const char *pi, const char *key, struct payment *pm)
{
	pm->currency = currency;
	if (minor_to_micros(pm->currency, amount, &pm->amount) != 0)
		return -1;
	pm->account_id = t->acct.id;
	pm->invoice_id = t->invoice_id;
	pm->status = status;
	pm->pi = pi;
	pm->key = key;
	return 0;
}

/*
 * The start of invoice.paid and invoice.payment_failed: finds and locks
 * what invoice w->obj (in_id) is about (*t) and fills *pm (fill_payment,
 * and the invoice's payment intent and in_id).  DB_OK, 1 when the event
 * was ignored (an unknown invoice, an amount that does not convert), or an
 * error.
 */
static int
invoice_payment(struct db *db, struct webhook_event *w, const char *in_id,
    int64_t amount, const char *status, const char *key, struct target *t,
    struct payment *pm)
{
	struct json_object *inv = w->obj;
	int rc;

	rc = find_target(db, w, in_id, t);
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "no invoice or account for %s", in_id);
		webhook_ignore(w, "unknown invoice");
		return 1;
	}
	if (rc != DB_OK)
		return rc;
	memset(pm, 0, sizeof(*pm));
	if (fill_payment(pick_currency(w, inv, t), amount, t, status,
	    invoice_payment_intent(inv), key, pm) != 0) {
		webhook_ignore(w, "malformed object");
		return 1;
	}
	pm->stripe_invoice = in_id;
	return DB_OK;
}

/* Inserts the payment once (its idempotency key). */
static int
insert_payment(struct db *db, struct webhook_event *w, const struct payment *pm)
{
	char nowt[TIME_TEXT_MAX];
	struct payment row = *pm;
	int rc;

	time_format_db(w->now, nowt, sizeof(nowt));
	row.now = nowt;
	rc = payments_insert(db, &row);
	if (rc == DB_DUPLICATE) {
		webhook_note(w, "payment %s already recorded", pm->key);
		return DB_OK;
	}
	if (rc == DB_OK)
		webhook_note(w, "%s payment recorded", pm->status);
	return rc;
}

/*
 * A succeeded payment, once per payment intent: a row another event
 * already recorded for the same intent is completed, not doubled.
 */
static int
record_success(struct db *db, struct webhook_event *w, const struct payment *pm)
{
	uint64_t id = 0;
	int rc;

	if (pm->pi == NULL)
		return insert_payment(db, w, pm);
	rc = payments_find_succeeded(db, pm->account_id, pm->pi, &id);
	if (rc == DB_NOT_FOUND)
		return insert_payment(db, w, pm);
	if (rc != DB_OK)
		return rc;
	webhook_note(w, "payment %llu already recorded", (unsigned long long)id);
	return payments_complete(db, id, pm->invoice_id, pm->stripe_invoice);
}

/* Queues billing.invoice.paid for our invoice, once. */
static int
emit_invoice_paid(struct db *db, struct webhook_event *w, uint64_t id)
{
	return invoice_build_emit_event(db, id, "billing.invoice.paid", w->now);
}

/* The Stripe payment's part of an event's data: its Stripe invoice, the
 * event, amount and currency. */
static void
add_payment(struct json_object *d, const struct webhook_event *w,
    const struct payment *pm)
{
	json_object_object_add(d, "stripe_invoice_id",
	    json_object_new_string(pm->stripe_invoice));
	json_object_object_add(d, "stripe_event_id",
	    json_object_new_string(w->event_id));
	json_object_object_add(d, "amount", json_money(pm->amount, 2));
	json_object_object_add(d, "currency",
	    json_object_new_string(pm->currency));
}

/*
 * billing.payment.unexpected, once per Stripe invoice: Stripe collected an
 * invoice that is void here, or that was already paid by hand.  The payment
 * is recorded; someone has to refund it or settle it by hand.
 */
static int
emit_unexpected(struct db *db, struct webhook_event *w, const struct target *t,
    const struct payment *pm, const char *why)
{
	struct json_object *d = json_object_new_object();
	char key[WEBHOOK_KEY_MAX];
	int rc;

	json_object_object_add(d, "user_id",
	    json_object_new_string(t->acct.user_id));
	json_object_object_add(d, "invoice_id",
	    json_object_new_int64((int64_t)t->invoice_id));
	json_object_object_add(d, "invoice_status",
	    json_object_new_string(t->status));
	add_payment(d, w, pm);
	json_object_object_add(d, "reason", json_object_new_string(why));
	snprintf(key, sizeof(key), "billing.payment.unexpected:%s",
	    pm->stripe_invoice);
	rc = event_emit(db, "billing.payment.unexpected", t->acct.id, key, d,
	    w->now);
	json_object_put(d);
	if (rc == DB_OK)
		webhook_note(w, "unexpected payment: %s", why);
	return rc;
}

/* 1 when Stripe reports the invoice paid outside Stripe (paid_out_of_band,
 * the older API's flag). */
static int
out_of_band(struct json_object *inv)
{
	struct json_object *v = webhook_jget(inv, "paid_out_of_band");

	return v != NULL && json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v);
}

/*
 * A subscription's invoice that Stripe made and collected: recorded as our
 * paid invoice of kind 'stripe' (invoice_stripe.c), its line and period
 * from the invoice's first line, else the invoice's own period.
 */
static int
record_subscription_invoice(struct db *db, struct webhook_event *w, struct target *t,
    const struct payment *pm, int64_t paid_usec)
{
	struct json_object *inv = w->obj, *line = webhook_jfirst(inv, "lines");
	struct json_object *period = webhook_jget(line, "period");
	struct invoice_stripe_paid sp;
	char desc[501];
	int64_t start, end;
	int rc;

	if (webhook_jint(period, "start", &start) != 1 ||
	    webhook_jint(period, "end", &end) != 1) {
		if (webhook_jint(inv, "period_start", &start) != 1 ||
		    webhook_jint(inv, "period_end", &end) != 1)
			start = end = paid_usec / USEC_PER_SEC;
	}
	if (start < 0 || start > WEBHOOK_TIME_MAX_SEC - 1 || end < 0 ||
	    end > WEBHOOK_TIME_MAX_SEC)
		start = end = paid_usec / USEC_PER_SEC;
	clean_text(webhook_jtext(line, "description") ? webhook_jtext(line,
	    "description") : "", desc, sizeof(desc));
	memset(&sp, 0, sizeof(sp));
	sp.stripe_invoice_id = pm->stripe_invoice;
	sp.description = desc;
	sp.currency = pm->currency;
	sp.amount = pm->amount;
	sp.period_start = start * USEC_PER_SEC;
	sp.period_end = end * USEC_PER_SEC;
	sp.paid_at = paid_usec;
	sp.now = w->now;
	if ((rc = invoice_stripe_record(db, w->cfg, &t->acct, &sp,
	    &t->invoice_id)) != DB_OK)
		return rc;
	snprintf(t->status, sizeof(t->status), "paid");
	webhook_note(w, "subscription invoice recorded as invoice %llu",
	    (unsigned long long)t->invoice_id);
	return DB_OK;
}

/*
 * invoice.paid: a succeeded payment (amount_paid), our invoice paid (paid
 * is final; a draft is finalized first) with its billing.invoice.paid
 * event, and the account's payment trouble is over.  A subscription's
 * invoice that is not ours is recorded as a paid invoice of kind 'stripe'.
 * Stripe collecting an invoice that is void here, or that was paid by hand,
 * is recorded and raised as billing.payment.unexpected.  Our own "paid out
 * of band" echoed back (no payment intent, or paid_out_of_band) moved no
 * money through Stripe: nothing is recorded.
 */
int
webhook_on_invoice_paid(struct db *db, struct webhook_event *w)
{
	struct json_object *inv = w->obj;
	char key[WEBHOOK_KEY_MAX], paid[TIME_TEXT_MAX];
	const char *in_id = webhook_jid(inv, "id"), *sub_id;
	struct payment pm;
	struct target t;
	int64_t amount, at, paid_usec;
	int by_hand = 0, recorded = 0, rc;

	if (in_id == NULL || webhook_jint(inv, "amount_paid", &amount) != 1) {
		webhook_note(w, "no invoice id or amount_paid");
		return webhook_ignore(w, "malformed object");
	}
	snprintf(key, sizeof(key), "stripe-invoice-paid:%s", in_id);
	if ((rc = invoice_payment(db, w, in_id, amount, "succeeded", key, &t,
	    &pm)) != DB_OK)
		return rc == 1 ? DB_OK : rc;
	if (webhook_jint(webhook_jget(inv, "status_transitions"), "paid_at", &at) != 1 ||
	    webhook_sec_text(at, paid) != 0)
		time_format_db(w->now, paid, sizeof(paid));
	if (time_parse_db(paid, strlen(paid), &paid_usec) != 0)
		paid_usec = w->now;
	if (t.invoice_id != 0 && strcmp(t.status, "paid") == 0) {
		rc = payments_paid_by_hand(db, t.invoice_id);
		if (rc != DB_OK && rc != DB_NOT_FOUND)
			return rc;
		by_hand = rc == DB_OK;
	}
	if (out_of_band(inv) || (by_hand && pm.pi == NULL)) {
		webhook_note(w, "paid out of band: no payment through Stripe");
		return DB_OK;
	}
	sub_id = invoice_sub_id(inv);
	if (t.invoice_id == 0 && sub_id != NULL) {
		if ((rc = record_subscription_invoice(db, w, &t, &pm,
		    paid_usec)) != DB_OK)
			return rc;
		pm.invoice_id = t.invoice_id;
		recorded = 1;
	}
	if ((rc = record_success(db, w, &pm)) != DB_OK)
		return rc;
	if ((rc = account_clear_payment_failed(db, t.acct.id)) != DB_OK)
		return rc;
	if (t.invoice_id == 0)
		return DB_OK;
	if (recorded)
		return emit_invoice_paid(db, w, t.invoice_id);
	if (strcmp(t.status, "void") == 0) {
		webhook_note(w, "invoice is void: left void");
		return emit_unexpected(db, w, &t, &pm, "the invoice is void");
	}
	if (strcmp(t.status, "paid") == 0)
		return by_hand ? emit_unexpected(db, w, &t, &pm,
		    "the invoice was already paid by hand") : DB_OK;
	if (strcmp(t.status, "draft") == 0 &&
	    (rc = invoice_build_finalize(db, w->cfg, t.invoice_id, w->now)) != DB_OK)
		return rc;
	if ((rc = invoice_mark_paid(db, t.invoice_id, paid)) != DB_OK)
		return rc;
	webhook_note(w, "invoice paid");
	return emit_invoice_paid(db, w, t.invoice_id);
}

/* The failure's text: last_finalization_error's message, code or type. */
static void
failure_text(struct json_object *inv, const char *in_id, char *out,
    size_t size)
{
	struct json_object *err = webhook_jget(inv, "last_finalization_error");
	const char *s = webhook_jtext(err, "message");

	if (s == NULL || s[0] == '\0')
		s = webhook_jtext(err, "code");
	if (s == NULL || s[0] == '\0')
		s = webhook_jtext(err, "type");
	if (s != NULL && s[0] != '\0')
		clean_text(s, out, size);
	else
		snprintf(out, size, "payment of Stripe invoice %s failed", in_id);
}

/* billing.payment.failed, once per Stripe event. */
static int
emit_payment_failed(struct db *db, struct webhook_event *w, const struct target *t,
    const struct payment *pm, int64_t failed_at)
{
	struct json_object *inv = w->obj, *d = json_object_new_object();
	char key[WEBHOOK_KEY_MAX];
	int64_t v;
	int rc;

	json_object_object_add(d, "user_id",
	    json_object_new_string(t->acct.user_id));
	json_object_object_add(d, "invoice_id", t->invoice_id ?
	    json_object_new_int64((int64_t)t->invoice_id) : NULL);
	add_payment(d, w, pm);
	json_object_object_add(d, "failure_message",
	    json_object_new_string(pm->failure));
	json_object_object_add(d, "attempt_count",
	    webhook_jint(inv, "attempt_count", &v) == 1 ? json_object_new_int64(v) :
	    NULL);
	json_object_object_add(d, "next_payment_attempt",
	    webhook_jint(inv, "next_payment_attempt", &v) == 1 && v >= 0 &&
	    v <= WEBHOOK_TIME_MAX_SEC ? json_time(v * USEC_PER_SEC) : NULL);
	json_object_object_add(d, "payment_failed_at", json_time(failed_at));
	json_object_object_add(d, "grace_period_ends_at", json_time(failed_at +
	    (int64_t)w->cfg->grace_period_days * 86400 * USEC_PER_SEC));
	snprintf(key, sizeof(key), "billing.payment.failed:%s", w->event_id);
	rc = event_emit(db, "billing.payment.failed", t->acct.id, key, d,
	    w->now);
	json_object_put(d);
	return rc;
}

/* The account's payment_failed_at, as text ("" for NULL) and usec (a
 * NULL does not parse: DB_ERROR). */
static int
failing_since(struct db *db, uint64_t account_id, char since[TIME_TEXT_MAX],
    int64_t *usec)
{
	struct db_result *res = NULL;
	int rc, r;

	since[0] = '\0';
	struct db_param p[] = { DBP_INT(account_id) };
	if ((rc = db_get(db, &webhook_payments_stmts, WHP_FAILED_AT, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		db_col_text(res, 0, since, TIME_TEXT_MAX);
	db_result_free(res);
	if (r < 0)
		return r;
	if (r == 0)
		return DB_NOT_FOUND;
	return time_parse_db(since, strlen(since), usec) != 0 ? DB_ERROR : DB_OK;
}

/*
 * invoice.payment_failed: a failed payment row (once per event) and, unless
 * the invoice is already paid or void, the billing.payment.failed event and
 * the start of the grace period (payment_failed_at, never moved forward by
 * later failures).
 */
int
webhook_on_invoice_failed(struct db *db, struct webhook_event *w)
{
	struct json_object *inv = w->obj;
	char key[WEBHOOK_KEY_MAX], fail[FAILURE_MAX + 1], when[TIME_TEXT_MAX];
	char since[TIME_TEXT_MAX];
	const char *in_id = webhook_jid(inv, "id");
	struct payment pm;
	struct target t;
	int64_t amount = 0, failed_at;
	int settled, rc;

	if (in_id == NULL || webhook_sec_text(w->created, when) != 0) {
		webhook_note(w, "no invoice id");
		return webhook_ignore(w, "malformed object");
	}
	if (webhook_jint(inv, "amount_due", &amount) != 1 &&
	    webhook_jint(inv, "amount_remaining", &amount) != 1)
		amount = 0;
	snprintf(key, sizeof(key), "stripe-invoice-failed:%s", w->event_id);
	if ((rc = invoice_payment(db, w, in_id, amount, "failed", key, &t,
	    &pm)) != DB_OK)
		return rc == 1 ? DB_OK : rc;
	failure_text(inv, in_id, fail, sizeof(fail));
	pm.failure = fail;
	if ((rc = insert_payment(db, w, &pm)) != DB_OK)
		return rc;
	/* a failure older than the payment (or of a void invoice) is history */
	settled = t.invoice_id != 0 && (strcmp(t.status, "paid") == 0 ||
	    strcmp(t.status, "void") == 0);
	if (!settled) {
		rc = payments_stripe_paid(db, t.acct.id, in_id);
		if (rc != DB_OK && rc != DB_NOT_FOUND)
			return rc;
		settled = rc == DB_OK;
	}
	if (settled) {
		webhook_note(w, "invoice already settled: no grace period");
		return DB_OK;
	}
	if ((rc = account_set_payment_failed(db, t.acct.id, when)) != DB_OK)
		return rc;
	if ((rc = failing_since(db, t.acct.id, since, &failed_at)) != DB_OK)
		return rc;
	webhook_note(w, "payment failing since %s", since);
	return emit_payment_failed(db, w, &t, &pm, failed_at);
}

/*
 * payment_intent.succeeded: for a payment of ours (metadata
 * billing_invoice_id, or an intent a payment row already names), makes sure
 * a succeeded payment row exists.  Anything else is acknowledged.
 */
int
webhook_on_payment_intent(struct db *db, struct webhook_event *w)
{
	struct json_object *pi = w->obj;
	char sin[WEBHOOK_COL_MAX], key[WEBHOOK_KEY_MAX];
	const char *pi_id = webhook_jid(pi, "id");
	struct payment pm;
	struct target t;
	uint64_t our, id = 0, account_id = 0;
	int64_t amount;
	int rc;

	if (pi_id == NULL || (webhook_jint(pi, "amount_received", &amount) != 1 &&
	    webhook_jint(pi, "amount", &amount) != 1)) {
		webhook_note(w, "no payment intent id or amount");
		return webhook_ignore(w, "malformed object");
	}
	memset(&t, 0, sizeof(t));
	memset(&pm, 0, sizeof(pm));
	our = webhook_parse_id(webhook_jtext(webhook_jget(pi, "metadata"), "billing_invoice_id"));
	rc = DB_NOT_FOUND;
	if (our != 0 && (rc = find_invoice(db, WHP_INVOICE_BY_ID, DBP_INT(our),
	    &id, &account_id)) == DB_OK) {
		t.invoice_id = our;
		rc = account_get(db, account_id, &t.acct);
	}
	if (rc == DB_NOT_FOUND && (rc = payments_find_by_intent(db, pi_id,
	    &account_id, &id, sin, sizeof(sin))) == DB_OK) {
		t.invoice_id = id;
		pm.stripe_invoice = sin[0] ? sin : NULL;
		rc = account_get(db, account_id, &t.acct);
	}
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "not a payment of ours");
		return webhook_ignore(w, "unknown payment intent");
	}
	if (rc != DB_OK || (rc = webhook_lock_account(db, &t.acct)) != DB_OK)
		return rc;
	webhook_note(w, "account %llu", (unsigned long long)t.acct.id);
	snprintf(key, sizeof(key), "stripe-pi:%s", pi_id);
	if (fill_payment(pick_currency(w, pi, NULL), amount, &t, "succeeded",
	    pi_id, key, &pm) != 0)
		return webhook_ignore(w, "malformed object");
	return record_success(db, w, &pm);
}
