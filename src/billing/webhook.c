/*
 * webhook: applying one Stripe event (webhook.h).
 *
 * Each event id is applied once: its row in billing_stripe_events (this
 * module is the table's one writer) is inserted in the same transaction as
 * its effect, so an event is recorded exactly when its effect is.  A
 * redelivery finds the row and changes nothing; a concurrent delivery waits
 * on the primary key until the first commits, then finds it too.
 *
 * The effect is the handler's of the event's type: webhook_subscriptions.c
 * and webhook_payments.c.  An event of another type, or about something we
 * do not know, is acknowledged, logged and recorded as processed.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "result.h"
#include "timeutil.h"
#include "webhook.h"

enum { WEBHOOK_RECORD_EVENT, WEBHOOK_NSTMTS };

static const struct db_stmt webhook_sql[WEBHOOK_NSTMTS] = {
	[WEBHOOK_RECORD_EVENT] = { "INSERT INTO billing_stripe_events "
	    "(event_id, type, stripe_created, processed_at) "
	    "VALUES (?, ?, ?, ?)", 4, 0 },
};

const struct db_stmts webhook_stmts = DB_STMTS("webhook", webhook_sql);

static const struct {
	const char *type;
	int (*fn)(struct db *, struct webhook_event *);
} handlers[] = {
	{ "checkout.session.completed", webhook_on_checkout_completed },
	{ "customer.subscription.updated", webhook_on_subscription },
	{ "customer.subscription.deleted", webhook_on_subscription },
	{ "invoice.paid", webhook_on_invoice_paid },
	{ "invoice.payment_failed", webhook_on_invoice_failed },
	{ "payment_intent.succeeded", webhook_on_payment_intent },
};

/* The event's row and its effect, in one transaction (db_transaction). */
static int
apply_txn(struct db *db, void *arg)
{
	struct webhook_event *w = arg;
	char nowt[TIME_TEXT_MAX];
	size_t i;
	int rc;

	w->outcome = WEBHOOK_APPLIED;
	w->reason = NULL;
	w->note[0] = '\0';
	time_format_db(w->now, nowt, sizeof(nowt));
	struct db_param p[] = { DBP_STR(w->event_id), DBP_STR(w->type),
	    DBP_INT(w->created), DBP_STR(nowt) };
	rc = db_run(db, &webhook_stmts, WEBHOOK_RECORD_EVENT, p, 4, NULL, NULL);
	if (rc == DB_DUPLICATE) {
		w->outcome = WEBHOOK_DUPLICATE;
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(handlers[i].type, w->type) == 0)
			return handlers[i].fn(db, w);
	return webhook_ignore(w, "unhandled event type");
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
record_unhandled(struct db *db, struct webhook_event *w)
{
	int rc;

	rc = apply_txn(db, w);
	if (rc == DB_RETRY)
		rc = db_transaction(db, apply_txn, w);
	return rc;
}

enum result_code
webhook_apply(struct db *db, struct webhook_event *w, struct result *r)
{
	int rc;

	rc = has_handler(w->type) ? db_transaction(db, apply_txn, w) :
	    record_unhandled(db, w);
	if (rc != DB_OK)
		return result_db(r, rc);
	return RESULT_OK;
}
