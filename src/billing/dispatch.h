/*
 * dispatch: delivering the events outbox (billing_events) to
 * eventsWebhookUrl, at least once, signed like Stripe signs its webhooks
 * (signature.h), in order per account, with exponential backoff for up to
 * 3 days, after which an event is marked failed.
 */
#ifndef BILLING_DISPATCH_H
#define BILLING_DISPATCH_H

struct app;
struct job_opts;
struct job_result;

/* The dispatch job (job_table "dispatch-events"). */
int dispatch_job(struct app *app, const struct job_opts *opts,
    struct job_result *result);

/* The statement table (statements.c). */
struct db_stmts;
extern const struct db_stmts dispatch_stmts;

#endif
