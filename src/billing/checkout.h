/*
 * checkout: an account's Stripe customer, the Checkout Sessions that make
 * it pay for a plan, and the payment methods saved on it.
 *
 * The customer is made on first need (Idempotency-Key
 * "customer-<account id>", metadata user_id and account_id, the email when
 * known) and its id stored on the account (accounts.c) unless a concurrent
 * request stored one first, in which case that one is used.
 */
#ifndef BILLING_CHECKOUT_H
#define BILLING_CHECKOUT_H

#include <stddef.h>

#include "result.h"
#include "stripe.h"

struct account;
struct app;
struct json_object;
struct plan;

struct checkout_session {
	char id[STRIPE_ID_MAX + 1];
	char url[STRIPE_URL_MAX + 1];
};

/*
 * A Checkout Session in subscription mode for plan (which must have a
 * stripe_price_id) for the account, creating its customer first if needed
 * (acct is then updated).  success_url and cancel_url are borrowed and
 * already validated.  STRIPE_OK, or an enum stripe_rc with err filled.
 */
int checkout_session_create(struct app *app, struct stripe *s,
    struct account *acct, const struct plan *plan, const char *success_url,
    const char *cancel_url, struct checkout_session *out,
    struct stripe_error *err);

/*
 * POST create-checkout: the session above for the account of user_id (made
 * when it has none).  RESULT_OK with *out filled, or a failure in r
 * (result_stripe's for Stripe's).
 */
enum result_code checkout_create(struct app *app, const char *user_id,
    const struct plan *plan, const char *success_url, const char *cancel_url,
    struct checkout_session *out, struct result *r);

/*
 * POST billing-portal: a Stripe Billing Portal session
 * (POST /v1/billing_portal/sessions, customer and return_url) for the
 * Stripe customer of user_id, into url[STRIPE_URL_MAX + 1].  return_url is
 * borrowed and already validated.  Nothing is created here: RESULT_CONFLICT
 * (no param) when the user has no account or no Stripe customer yet;
 * RESULT_UNAVAILABLE when Stripe is off; else RESULT_OK or result_stripe's.
 */
enum result_code checkout_portal(struct app *app, const char *user_id,
    const char *return_url, char *url, struct result *r);

/*
 * The payment methods saved on the Stripe customer of user_id, as Stripe's
 * objects (at most max of them): *items is a new JSON array the caller
 * puts, empty when the user has no account or no customer yet (nothing is
 * created).  RESULT_OK, or a failure in r.
 */
enum result_code checkout_payment_methods(struct app *app,
    const char *user_id, size_t max, struct json_object **items,
    struct result *r);

#endif
