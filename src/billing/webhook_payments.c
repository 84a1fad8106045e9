/*
 * The Stripe webhook's payment events (webhook.h): invoice.paid,
 * invoice.payment_failed and payment_intent.succeeded.  They record
 * billing_payments rows (Stripe's minor-unit amounts as our micro-units),
 * mark our invoice paid, start and end the account's grace period
 * (payment_failed_at) and queue billing.invoice.paid and
 * billing.payment.failed.
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
#include "timeutil.h"
#include "utf8.h"
#include "webhook.h"

#define FAILURE_MAX 1000        /* billing_payments.failure_message */
#define AMOUNT_MAX INT64_C(1000000000000)    /* minor units */

static const char SQL_INVOICE_BY_STRIPE[] =
    "SELECT id, account_id FROM billing_invoices WHERE stripe_invoice_id = ?";
static const char SQL_INVOICE_BY_ID[] =
    "SELECT id, account_id FROM billing_invoices WHERE id = ?";
static const char SQL_INVOICE_LOCK[] =
    "SELECT status, currency, COALESCE(stripe_invoice_id, '') "
    "FROM billing_invoices WHERE id = ? FOR UPDATE";
static const char SQL_INVOICE_LINK[] =
    "UPDATE billing_invoices SET stripe_invoice_id = ? "
    "WHERE id = ? AND stripe_invoice_id IS NULL";
static const char SQL_INVOICE_PAID[] =
    "UPDATE billing_invoices SET status = 'paid', paid_at = ? "
    "WHERE id = ? AND status IN ('sent', 'overdue')";
static const char SQL_PAYMENT_INSERT[] =
    "INSERT INTO billing_payments (account_id, invoice_id, amount, currency, "
    "status, method, stripe_payment_intent_id, stripe_invoice_id, "
    "idempotency_key, failure_message, created_at) "
    "VALUES (?, ?, ?, ?, ?, 'stripe', ?, ?, ?, ?, ?)";
static const char SQL_PAYMENT_BY_PI[] =
    "SELECT id FROM billing_payments WHERE account_id = ? "
    "AND stripe_payment_intent_id = ? AND status = 'succeeded' "
    "ORDER BY id LIMIT 1";
static const char SQL_PAYMENT_COMPLETE[] =
    "UPDATE billing_payments SET invoice_id = COALESCE(invoice_id, ?), "
    "stripe_invoice_id = COALESCE(stripe_invoice_id, ?) WHERE id = ?";
static const char SQL_PAYMENT_ANY_PI[] =
    "SELECT account_id, COALESCE(invoice_id, 0), "
    "COALESCE(stripe_invoice_id, '') FROM billing_payments "
    "WHERE stripe_payment_intent_id = ? ORDER BY id LIMIT 1";
static const char SQL_INVOICE_PAID_BY_STRIPE[] =
    "SELECT id FROM billing_payments WHERE account_id = ? "
    "AND stripe_invoice_id = ? AND status = 'succeeded' LIMIT 1";
static const char SQL_PAID_BY_HAND[] =
    "SELECT id FROM billing_payments WHERE invoice_id = ? "
    "AND method = 'manual' AND status = 'succeeded' LIMIT 1";
static const char SQL_FAILED_SINCE[] =
    "UPDATE billing_accounts SET payment_failed_at = "
    "COALESCE(payment_failed_at, ?) WHERE id = ?";
static const char SQL_FAILED_AT[] =
    "SELECT payment_failed_at FROM billing_accounts WHERE id = ?";
static const char SQL_FAILED_CLEAR[] =
    "UPDATE billing_accounts SET payment_failed_at = NULL "
    "WHERE id = ? AND payment_failed_at IS NOT NULL";

/*
 * The first row of sql, its first ncols columns as text (webhook_query_row's
 * contract), until this file's statements are in a table (db.h): then
 * webhook_query_row(db, &table, id, ...) takes its place.
 */
static int
query_row(struct db *db, const char *sql, const struct db_param *p,
    size_t np, char (*cols)[WEBHOOK_COL_MAX], size_t ncols)
{
	struct db_result *res = NULL;
	const char *v;
	size_t i;
	int rc, r;

	if ((rc = db_query(db, sql, p, np, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1)
		for (i = 0; i < ncols; i++) {
			v = db_col(res, i, NULL);
			snprintf(cols[i], WEBHOOK_COL_MAX, "%s", v != NULL ? v : "");
		}
	db_result_free(res);
	return r < 0 ? r : r == 0 ? DB_NOT_FOUND : DB_OK;
}

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

/* DECIMAL(18,2) text of micros (exact for whole cents).  Borrows buf. */
static struct db_param
amount_param(int64_t micros, char *buf, size_t size)
{
	money_format(micros, 2, buf, size);
	return DBP_STR(buf);
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

/* The subscription of an invoice: parent.subscription_details (2025-03-31
 * API) or the top level. */
static struct json_object *
invoice_sub_details(struct json_object *inv)
{
	return webhook_jget(webhook_jget(inv, "parent"), "subscription_details");
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
	char cols[3][WEBHOOK_COL_MAX];
	const char *sub_id, *user_id;
	uint64_t our;
	int rc;

	memset(t, 0, sizeof(*t));
	struct db_param ps[] = { DBP_STR(in_id) };
	rc = query_row(db, SQL_INVOICE_BY_STRIPE, ps, 1, cols, 2);
	if (rc == DB_NOT_FOUND &&
	    (our = webhook_parse_id(webhook_jtext(webhook_jget(inv, "metadata"),
	    "billing_invoice_id"))) != 0) {
		struct db_param pi[] = { DBP_INT(our) };
		rc = query_row(db, SQL_INVOICE_BY_ID, pi, 1, cols, 2);
	}
	if (rc == DB_OK) {
		t->invoice_id = webhook_parse_id(cols[0]);
		rc = account_get(db, webhook_parse_id(cols[1]), &t->acct);
	} else if (rc == DB_NOT_FOUND) {
		sub_id = webhook_jid(details, "subscription");
		if (sub_id == NULL)
			sub_id = webhook_jid(inv, "subscription");
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
	struct db_param pl[] = { DBP_INT(t->invoice_id) };
	if ((rc = query_row(db, SQL_INVOICE_LOCK, pl, 1, cols, 3)) != DB_OK)
		return rc;
	memcpy(t->status, cols[0], WEBHOOK_COL_MAX);
	memcpy(t->currency, cols[1], WEBHOOK_COL_MAX);
	webhook_note(w, "invoice %llu (%s)", (unsigned long long)t->invoice_id,
	    t->status);
	if (cols[2][0] == '\0') {
		struct db_param pk[] = { DBP_STR(in_id), DBP_INT(t->invoice_id) };
		rc = db_exec(db, SQL_INVOICE_LINK, pk, 2, NULL, NULL);
		if (rc == DB_DUPLICATE)
			webhook_note(w, "%s is linked to another invoice", in_id);
		else if (rc != DB_OK)
			return rc;
	} else if (strcmp(cols[2], in_id) != 0)
		webhook_note(w, "invoice is linked to %s", cols[2]);
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

struct payment {
	uint64_t account_id, invoice_id;     /* invoice 0: none */
	int64_t amount;                      /* micro-units */
	const char *currency, *status;
	const char *pi, *stripe_invoice;     /* may be NULL */
	const char *key;
	const char *failure;                 /* may be NULL */
};

/* Inserts the payment once (its idempotency key). */
static int
insert_payment(struct db *db, struct webhook_event *w, const struct payment *pm)
{
	char amt[32], nowt[TIME_TEXT_MAX];
	int rc;

	time_format_db(w->now, nowt, sizeof(nowt));
	struct db_param p[] = { DBP_INT(pm->account_id),
	    pm->invoice_id ? DBP_INT(pm->invoice_id) : DBP_NULLV,
	    amount_param(pm->amount, amt, sizeof(amt)), DBP_STR(pm->currency),
	    DBP_STR(pm->status), pm->pi ? DBP_STR(pm->pi) : DBP_NULLV,
	    pm->stripe_invoice ? DBP_STR(pm->stripe_invoice) : DBP_NULLV,
	    DBP_STR(pm->key), pm->failure ? DBP_STR(pm->failure) : DBP_NULLV,
	    DBP_STR(nowt) };
	rc = db_exec(db, SQL_PAYMENT_INSERT, p, 10, NULL, NULL);
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
	char cols[1][WEBHOOK_COL_MAX];
	int rc;

	if (pm->pi == NULL)
		return insert_payment(db, w, pm);
	struct db_param p[] = { DBP_INT(pm->account_id), DBP_STR(pm->pi) };
	rc = query_row(db, SQL_PAYMENT_BY_PI, p, 2, cols, 1);
	if (rc == DB_NOT_FOUND)
		return insert_payment(db, w, pm);
	if (rc != DB_OK)
		return rc;
	struct db_param pc[] = {
	    pm->invoice_id ? DBP_INT(pm->invoice_id) : DBP_NULLV,
	    pm->stripe_invoice ? DBP_STR(pm->stripe_invoice) : DBP_NULLV,
	    DBP_INT(webhook_parse_id(cols[0])) };
	webhook_note(w, "payment %s already recorded", cols[0]);
	return db_exec(db, SQL_PAYMENT_COMPLETE, pc, 3, NULL, NULL);
}

/* Queues billing.invoice.paid for our invoice, once. */
static int
emit_invoice_paid(struct db *db, struct webhook_event *w, uint64_t id)
{
	struct json_object *data;
	struct invoice inv;
	char key[64];
	int rc;

	if ((rc = invoice_load(db, id, &inv)) != DB_OK)
		return rc;
	data = invoice_json(&inv, 0);
	snprintf(key, sizeof(key), "billing.invoice.paid:%llu",
	    (unsigned long long)id);
	rc = event_emit(db, "billing.invoice.paid", inv.account_id, key, data,
	    w->now);
	json_object_put(data);
	invoice_free(&inv);
	return rc;
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
	json_object_object_add(d, "stripe_invoice_id",
	    json_object_new_string(pm->stripe_invoice));
	json_object_object_add(d, "stripe_event_id",
	    json_object_new_string(w->event_id));
	json_object_object_add(d, "amount", json_money(pm->amount, 2));
	json_object_object_add(d, "currency",
	    json_object_new_string(pm->currency));
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
	if ((rc = invoice_record_stripe(db, w->cfg, &t->acct, &sp,
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
	char key[WEBHOOK_KEY_MAX], paid[TIME_TEXT_MAX], cols[1][WEBHOOK_COL_MAX];
	const char *in_id = webhook_jid(inv, "id"), *sub_id;
	struct payment pm;
	struct target t;
	int64_t amount, at, paid_usec;
	int by_hand = 0, recorded = 0, rc;

	if (in_id == NULL || webhook_jint(inv, "amount_paid", &amount) != 1) {
		webhook_note(w, "no invoice id or amount_paid");
		return webhook_ignore(w, "malformed object");
	}
	rc = find_target(db, w, in_id, &t);
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "no invoice or account for %s", in_id);
		return webhook_ignore(w, "unknown invoice");
	}
	if (rc != DB_OK)
		return rc;
	memset(&pm, 0, sizeof(pm));
	pm.currency = pick_currency(w, inv, &t);
	if (minor_to_micros(pm.currency, amount, &pm.amount) != 0)
		return webhook_ignore(w, "malformed object");
	if (webhook_jint(webhook_jget(inv, "status_transitions"), "paid_at", &at) != 1 ||
	    webhook_sec_text(at, paid) != 0)
		time_format_db(w->now, paid, sizeof(paid));
	if (time_parse_db(paid, strlen(paid), &paid_usec) != 0)
		paid_usec = w->now;
	snprintf(key, sizeof(key), "stripe-invoice-paid:%s", in_id);
	pm.account_id = t.acct.id;
	pm.invoice_id = t.invoice_id;
	pm.status = "succeeded";
	pm.pi = invoice_payment_intent(inv);
	pm.stripe_invoice = in_id;
	pm.key = key;
	if (t.invoice_id != 0 && strcmp(t.status, "paid") == 0) {
		struct db_param ph[] = { DBP_INT(t.invoice_id) };
		rc = query_row(db, SQL_PAID_BY_HAND, ph, 1, cols, 1);
		if (rc != DB_OK && rc != DB_NOT_FOUND)
			return rc;
		by_hand = rc == DB_OK;
	}
	if (out_of_band(inv) || (by_hand && pm.pi == NULL)) {
		webhook_note(w, "paid out of band: no payment through Stripe");
		return DB_OK;
	}
	sub_id = webhook_jid(invoice_sub_details(inv), "subscription");
	if (sub_id == NULL)
		sub_id = webhook_jid(inv, "subscription");
	if (t.invoice_id == 0 && sub_id != NULL) {
		if ((rc = record_subscription_invoice(db, w, &t, &pm,
		    paid_usec)) != DB_OK)
			return rc;
		pm.invoice_id = t.invoice_id;
		recorded = 1;
	}
	if ((rc = record_success(db, w, &pm)) != DB_OK)
		return rc;
	struct db_param pa[] = { DBP_INT(t.acct.id) };
	if ((rc = db_exec(db, SQL_FAILED_CLEAR, pa, 1, NULL, NULL)) != DB_OK)
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
	    (rc = invoice_finalize(db, w->cfg, t.invoice_id, w->now)) != DB_OK)
		return rc;
	struct db_param pp[] = { DBP_STR(paid), DBP_INT(t.invoice_id) };
	if ((rc = db_exec(db, SQL_INVOICE_PAID, pp, 2, NULL, NULL)) != DB_OK)
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
	json_object_object_add(d, "stripe_invoice_id",
	    json_object_new_string(pm->stripe_invoice));
	json_object_object_add(d, "stripe_event_id",
	    json_object_new_string(w->event_id));
	json_object_object_add(d, "amount", json_money(pm->amount, 2));
	json_object_object_add(d, "currency",
	    json_object_new_string(pm->currency));
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
	char cols[1][WEBHOOK_COL_MAX];
	const char *in_id = webhook_jid(inv, "id");
	struct payment pm;
	struct target t;
	int64_t amount = 0, failed_at;
	int settled, rc;

	if (in_id == NULL || webhook_sec_text(w->created, when) != 0) {
		webhook_note(w, "no invoice id");
		return webhook_ignore(w, "malformed object");
	}
	rc = find_target(db, w, in_id, &t);
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "no invoice or account for %s", in_id);
		return webhook_ignore(w, "unknown invoice");
	}
	if (rc != DB_OK)
		return rc;
	memset(&pm, 0, sizeof(pm));
	if (webhook_jint(inv, "amount_due", &amount) != 1 &&
	    webhook_jint(inv, "amount_remaining", &amount) != 1)
		amount = 0;
	pm.currency = pick_currency(w, inv, &t);
	if (minor_to_micros(pm.currency, amount, &pm.amount) != 0)
		return webhook_ignore(w, "malformed object");
	failure_text(inv, in_id, fail, sizeof(fail));
	snprintf(key, sizeof(key), "stripe-invoice-failed:%s", w->event_id);
	pm.account_id = t.acct.id;
	pm.invoice_id = t.invoice_id;
	pm.status = "failed";
	pm.pi = invoice_payment_intent(inv);
	pm.stripe_invoice = in_id;
	pm.key = key;
	pm.failure = fail;
	if ((rc = insert_payment(db, w, &pm)) != DB_OK)
		return rc;
	/* a failure older than the payment (or of a void invoice) is history */
	settled = t.invoice_id != 0 && (strcmp(t.status, "paid") == 0 ||
	    strcmp(t.status, "void") == 0);
	if (!settled) {
		struct db_param pq[] = { DBP_INT(t.acct.id), DBP_STR(in_id) };
		rc = query_row(db, SQL_INVOICE_PAID_BY_STRIPE, pq, 2, cols, 1);
		if (rc != DB_OK && rc != DB_NOT_FOUND)
			return rc;
		settled = rc == DB_OK;
	}
	if (settled) {
		webhook_note(w, "invoice already settled: no grace period");
		return DB_OK;
	}
	struct db_param pf[] = { DBP_STR(when), DBP_INT(t.acct.id) };
	if ((rc = db_exec(db, SQL_FAILED_SINCE, pf, 2, NULL, NULL)) != DB_OK)
		return rc;
	struct db_param pa[] = { DBP_INT(t.acct.id) };
	if ((rc = query_row(db, SQL_FAILED_AT, pa, 1, cols, 1)) != DB_OK)
		return rc;
	if (time_parse_db(cols[0], strlen(cols[0]), &failed_at) != 0)
		return DB_ERROR;
	webhook_note(w, "payment failing since %s", cols[0]);
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
	char cols[3][WEBHOOK_COL_MAX], key[WEBHOOK_KEY_MAX];
	const char *pi_id = webhook_jid(pi, "id");
	struct payment pm;
	struct target t;
	uint64_t our;
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
	if (our != 0) {
		struct db_param p[] = { DBP_INT(our) };
		if ((rc = query_row(db, SQL_INVOICE_BY_ID, p, 1, cols, 2)) ==
		    DB_OK) {
			t.invoice_id = our;
			rc = account_get(db, webhook_parse_id(cols[1]), &t.acct);
		}
	}
	if (rc == DB_NOT_FOUND) {
		struct db_param p[] = { DBP_STR(pi_id) };
		if ((rc = query_row(db, SQL_PAYMENT_ANY_PI, p, 1, cols, 3)) ==
		    DB_OK) {
			t.invoice_id = webhook_parse_id(cols[1]);
			pm.stripe_invoice = cols[2][0] ? cols[2] : NULL;
			rc = account_get(db, webhook_parse_id(cols[0]), &t.acct);
		}
	}
	if (rc == DB_NOT_FOUND) {
		webhook_note(w, "not a payment of ours");
		return webhook_ignore(w, "unknown payment intent");
	}
	if (rc != DB_OK || (rc = webhook_lock_account(db, &t.acct)) != DB_OK)
		return rc;
	webhook_note(w, "account %llu", (unsigned long long)t.acct.id);
	pm.currency = pick_currency(w, pi, NULL);
	if (minor_to_micros(pm.currency, amount, &pm.amount) != 0)
		return webhook_ignore(w, "malformed object");
	snprintf(key, sizeof(key), "stripe-pi:%s", pi_id);
	pm.account_id = t.acct.id;
	pm.invoice_id = t.invoice_id;
	pm.status = "succeeded";
	pm.pi = pi_id;
	pm.key = key;
	return record_success(db, w, &pm);
}
