/*
 * webhook: applying Stripe's events.  The endpoint (api_webhook.c) checks
 * the signature and the envelope and calls webhook_apply (webhook.c), which
 * records the event and runs the handler of its type
 * (webhook_subscriptions.c, webhook_payments.c) in one transaction; the
 * helpers they share are in webhook_util.c.
 *
 * A handler runs inside webhook_apply's transaction, after the event's row
 * in billing_stripe_events has been inserted: whatever it writes commits
 * or rolls back with that row.  It finds its local record by the Stripe id
 * we stored, else by the metadata we set, else by the customer, and locks
 * the account row (webhook_lock_account) before anything else of the account:
 * one lock order, account then invoice or subscription, so the events of
 * one account apply one at a time.  An event about something we do not
 * know, or that is malformed or older than what was applied, is not an
 * error: the handler calls webhook_ignore and returns DB_OK.
 */
#ifndef BILLING_WEBHOOK_H
#define BILLING_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "log.h"
#include "result.h"
#include "stripe.h"
#include "timeutil.h"

struct account;
struct billing_config;
struct json_object;

#define WEBHOOK_TIME_MAX_SEC INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */
#define WEBHOOK_NOTE_MAX 512
#define WEBHOOK_COL_MAX 256
#define WEBHOOK_KEY_MAX 256

enum webhook_outcome {
	WEBHOOK_APPLIED = 0, WEBHOOK_DUPLICATE, WEBHOOK_IGNORED
};

/*
 * One event being applied.  The endpoint owns it (on its stack) and resets
 * outcome, reason and note at the start of every attempt of the
 * transaction; handlers read the event and write only outcome, reason
 * (through webhook_ignore) and note (through webhook_note).
 */
struct webhook_event {
	const struct billing_config *cfg;
	const char *event_id, *type;   /* borrowed from the parsed body */
	int64_t created;               /* the event's, unix seconds */
	struct json_object *obj;       /* data.object, borrowed */
	int64_t now;                   /* usec */
	enum webhook_outcome outcome;
	const char *reason;            /* static: why it was ignored */
	char note[WEBHOOK_NOTE_MAX];   /* what happened, for the log line */
};

/* The statement table of webhook.c (statements.c registers it). */
extern const struct db_stmts webhook_stmts;

/*
 * Applies the event w (its envelope checked, w->cfg, w->now set): records
 * it in billing_stripe_events and runs its type's handler, in one
 * transaction (retried on deadlock); a duplicate changes nothing.  Sets
 * w->outcome, reason and note.  RESULT_OK, or a database failure in r.
 */
enum result_code webhook_apply(struct db *db, struct webhook_event *w,
    struct result *r);

/*
 * The handlers: each applies one kind of event to the database within the
 * endpoint's transaction.  DB_OK (applied, or ignored through webhook_ignore),
 * or a database error, which rolls the transaction back.
 */

/* checkout.session.completed (webhook_subscriptions.c) */
int webhook_on_checkout_completed(struct db *db, struct webhook_event *w);
/* customer.subscription.updated and .deleted (webhook_subscriptions.c) */
int webhook_on_subscription(struct db *db, struct webhook_event *w);
/* invoice.paid (webhook_payments.c) */
int webhook_on_invoice_paid(struct db *db, struct webhook_event *w);
/* invoice.payment_failed (webhook_payments.c) */
int webhook_on_invoice_failed(struct db *db, struct webhook_event *w);
/* payment_intent.succeeded (webhook_payments.c) */
int webhook_on_payment_intent(struct db *db, struct webhook_event *w);
/* webhook_payments.c's statement table (statements.c) */
extern const struct db_stmts webhook_payments_stmts;

/* -- the event (webhook_util.c) ------------------------------------------- */

/* Appends to w->note, the log line's detail ("; " between parts; what does
 * not fit is cut). */
void webhook_note(struct webhook_event *w, const char *fmt, ...)
    LOG_PRINTF(2, 3);

/* Marks the event acknowledged without effect (it is still recorded).
 * reason must be static.  Returns DB_OK, for the handler to return. */
int webhook_ignore(struct webhook_event *w, const char *reason);

/*
 * -- Stripe objects (webhook_util.c) --------------------------------------
 *
 * Every result is borrowed from o, valid while the parsed body is; none
 * is to be freed (json_object_put) by the caller.  o may be NULL or not
 * an object: the result is then NULL (or 0).
 */

/* o[key], or NULL when o is not an object, key is absent or null. */
struct json_object *webhook_jget(struct json_object *o, const char *key);
/* A string field without NUL bytes, or NULL. */
const char *webhook_jtext(struct json_object *o, const char *key);
/* A Stripe id: the string, or an expanded object's "id"; NULL when it is
 * not a valid id (stripe_id_valid). */
const char *webhook_jid(struct json_object *o, const char *key);
/* An integer field into *out: 1 present, 0 absent or null, -1 another
 * type (*out untouched unless 1). */
int webhook_jint(struct json_object *o, const char *key, int64_t *out);
/* The first element of a Stripe list (o[key].data[0]), or NULL. */
struct json_object *webhook_jfirst(struct json_object *o, const char *key);

/* -- conversions (webhook_util.c) ----------------------------------------- */

/* Our numeric ids as text (metadata values are strings, and query_row
 * columns): 1..19 digits; 0 when it is not one. */
uint64_t webhook_parse_id(const char *s);
/* Unix seconds (Stripe's times) as DATETIME(6) text into the caller's buf.
 * 0, or -1 when out of 0..WEBHOOK_TIME_MAX_SEC. */
int webhook_sec_text(int64_t sec, char buf[TIME_TEXT_MAX]);

/* -- the database (webhook_util.c) ---------------------------------------- */

/*
 * Runs statement id of table t and copies the first row's first ncols
 * columns as text ("" for NULL) into the caller's cols.  DB_OK,
 * DB_NOT_FOUND or an error.
 */
int webhook_query_row(struct db *db, const struct db_stmts *t, unsigned id,
    const struct db_param *p, size_t np, char (*cols)[WEBHOOK_COL_MAX],
    size_t ncols);

/*
 * The account of a Stripe customer (accounts.c), of a Stripe subscription
 * (by our billing_subscriptions row, subscriptions.c) or of a platform user
 * id (metadata.user_id), into the caller's *out, unlocked.  A NULL (or,
 * for a user, invalid) key finds nothing.  DB_OK, DB_NOT_FOUND or an error.
 */
int webhook_account_by_customer(struct db *db, const char *customer,
    struct account *out);
int webhook_account_by_subscription(struct db *db, const char *sub_id,
    struct account *out);
int webhook_account_by_user(struct db *db, const char *user_id,
    struct account *out);

/* Locks the account's row until the transaction ends and reloads *acct
 * (account_lock). */
int webhook_lock_account(struct db *db, struct account *acct);

#endif
