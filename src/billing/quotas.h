/*
 * quotas: each account's current concurrent usage against its plan's
 * limits, the warning/exceeded crossings (one event each), and suspension
 * after the grace period (overage, or a payment left failing), with
 * resumption when the cause is gone.
 */
#ifndef BILLING_QUOTAS_H
#define BILLING_QUOTAS_H

struct app;
struct job_opts;
struct job_result;

/* The quota job (job_table "check-quotas"). */
int quotas_job(struct app *app, const struct job_opts *opts,
    struct job_result *result);

/* The statement table (statements.c). */
struct db_stmts;
extern const struct db_stmts quotas_stmts;

#endif
