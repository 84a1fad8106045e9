/*
 * subscriptions: an account's paid subscription (billing_subscriptions, one
 * row per account, kept in step with Stripe by the webhook) and the changes
 * a user asks for, which go through Stripe.
 */
#ifndef BILLING_SUBSCRIPTIONS_H
#define BILLING_SUBSCRIPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct account;
struct app;
struct db;
struct json_object;
struct plan;

struct subscription {
	uint64_t id, account_id;
	char plan_id[65];
	char status[32];
	int64_t current_period_start, current_period_end;
	int cancel_at_period_end;
	char stripe_subscription_id[256];
};

/* The account's subscription row.  DB_OK, DB_NOT_FOUND or an error. */
int subscription_find(struct db *db, uint64_t account_id,
    struct subscription *out);

/* 1 while Stripe bills it (active, trialing, past_due, incomplete, unpaid). */
int subscription_is_live(const struct subscription *sub);

/*
 * Asks Stripe to stop the subscription at the end of its period and records
 * cancel_at_period_end.  Returns 0, or an HTTP status (503 Stripe
 * unreachable or off, 502 Stripe refused) with a message in err.
 */
int subscription_cancel_at_period_end(struct app *app,
    const struct subscription *sub, char *err, size_t errlen);

/*
 * Moves the account to a paid plan: a new Checkout Session when Stripe bills
 * nothing yet (*checkout = {id, url}), else the live subscription's price is
 * changed.  Returns 0, or an HTTP status with a message in err.
 */
int subscription_change_paid(struct app *app, const struct account *acct,
    const struct subscription *live, const struct plan *plan,
    struct json_object **checkout, char *err, size_t errlen);

#endif
