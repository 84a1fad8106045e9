/*
 * subscriptions: an account's paid subscription (billing_subscriptions, one
 * row per account, kept in step with Stripe by the webhook) and the changes
 * a user asks for, which go through Stripe.  The one writer of
 * billing_subscriptions: the webhook's handlers write it through
 * subscription_lock and subscription_write.
 */
#ifndef BILLING_SUBSCRIPTIONS_H
#define BILLING_SUBSCRIPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "accounts.h"
#include "plan_changes.h"
#include "result.h"
#include "timeutil.h"

struct app;
struct checkout_session;
struct db;
struct db_stmts;
struct plan;

struct subscription {
	uint64_t id, account_id;
	char plan_id[65];
	char status[32];
	int64_t current_period_start, current_period_end;
	int cancel_at_period_end;
	char stripe_subscription_id[256];
};

/* The statement table of subscriptions.c (statements.c registers it). */
extern const struct db_stmts subscription_stmts;

/* The account's subscription row.  DB_OK, DB_NOT_FOUND or an error. */
int subscription_find(struct db *db, uint64_t account_id,
    struct subscription *out);

/* 1 while Stripe bills it (active, trialing, past_due, incomplete, unpaid). */
int subscription_is_live(const struct subscription *sub);

/* -- as the webhook keeps it ------------------------------------------------ */

#define SUBSCRIPTION_TEXT_MAX 256

/* The row as the webhook reads it (locked), its columns as text. */
struct subscription_row {
	int exists;
	uint64_t id;
	char plan_id[SUBSCRIPTION_TEXT_MAX];
	char status[SUBSCRIPTION_TEXT_MAX];
	char stripe_id[SUBSCRIPTION_TEXT_MAX];
	int has_created;             /* stripe_event_created is not NULL */
	int64_t event_created;
	char start[SUBSCRIPTION_TEXT_MAX], end[SUBSCRIPTION_TEXT_MAX];
};

/* What the webhook writes (all borrowed or the caller's). */
struct subscription_state {
	const char *stripe_id;
	const char *plan_id;
	const char *status;
	int cancel_at_period_end;
	char start[SUBSCRIPTION_TEXT_MAX], end[SUBSCRIPTION_TEXT_MAX];
	int has_canceled;
	char canceled[TIME_TEXT_MAX];
	int has_created;             /* stripe_event_created, else NULL */
	int64_t created;
};

/* The account of a Stripe subscription, by its row (NULL finds nothing).
 * DB_OK, DB_NOT_FOUND or an error. */
int subscription_account(struct db *db, const char *stripe_id,
    struct account *out);

/* The account's row, locked until the transaction ends.  DB_OK with
 * row->exists 0 or 1, or an error. */
int subscription_lock(struct db *db, uint64_t account_id,
    struct subscription_row *row);

/* Writes the account's row (row as subscription_lock read it).  DB_OK,
 * DB_DUPLICATE when another account holds the Stripe subscription, or an
 * error. */
int subscription_write(struct db *db, uint64_t account_id,
    const struct subscription_row *row, const struct subscription_state *s);

/* -- what a user asks for --------------------------------------------------- */

/* What GET subscription shows: the account (if any) and its row (if any). */
struct subscription_view {
	int has_account;
	struct account acct;
	int has_sub;
	struct subscription sub;
	struct plan_change_pending pending;   /* a downgrade not yet due */
};

/* The view of user_id's subscription (a downgrade come due is applied
 * first).  RESULT_OK, or a failure in r. */
enum result_code subscription_view(struct app *app, const char *user_id,
    struct subscription_view *out, struct result *r);

/*
 * POST subscription for user_id (its account is made if needed).
 *  - A live Stripe subscription: a paid plan changes its price in Stripe
 *    (proration_behavior=create_prorations; nothing when it has that price
 *    already); a free plan or plan NULL cancels it at the period's end.
 *  - Otherwise plan NULL is RESULT_CONFLICT.  In billing mode subscription
 *    or hybrid, a change from a paid plan, or to a free one, is a local plan
 *    change (plan_change_local: upgrade at once with proration, downgrade
 *    pending, the current plan cancels a pending downgrade).
 *  - Else the current plan changes nothing; a paid plan makes a Checkout
 *    Session (*has_checkout 1, *checkout filled); a free plan applies at
 *    once (usage mode bills no plan fee).
 * RESULT_OK, or a failure in r (RESULT_UNAVAILABLE when Stripe is off or
 * unreachable, RESULT_STRIPE_REFUSED when it refused, with Stripe's
 * message).
 */
enum result_code subscription_change(struct app *app, const char *user_id,
    const struct plan *plan, struct checkout_session *checkout,
    int *has_checkout, struct result *r);

#endif
