/*
 * emails: invoice and payment emails through the operator's SMTP relay
 * (docs/email.md).  The one writer of billing_emails.
 *
 * Two steps, run by billing-dispatch-events after the webhook:
 *  1. queue: each new event of billing_events (emails_queued = 0) of a
 *     type in email.events, with an account, gets one billing_emails row:
 *     pending to the account's email, or skipped (no email, opted out);
 *     the event is then marked looked at (events.c), in one transaction.
 *  2. send: due pending rows are claimed (leased) in a short transaction,
 *     sent one message each, and their outcome recorded: sent (with the
 *     relay's answer), a retry with back-off (like the events webhook),
 *     failed (a 5xx for the recipient; or still failing 3 days on).
 * At least once: a message whose outcome could not be recorded is sent
 * again when its lease runs out, with the same Message-ID (derived from
 * the event id), so a mail client shows it once.
 */
#ifndef BILLING_EMAILS_H
#define BILLING_EMAILS_H

#include <stdint.h>

struct app;

struct emails_stats {
	uint64_t queued, skipped, sent, retried, failed;
};

/*
 * Runs both steps for up to budget_usec, at fixed_now (usec; 0: the
 * clock).  DB_OK, or a database error (stats hold what was done).
 */
int emails_run(struct app *app, int64_t fixed_now, int64_t budget_usec,
    struct emails_stats *stats);

/* The statement table (statements.c). */
struct db_stmts;
extern const struct db_stmts emails_stmts;

#endif
