/*
 * invoice_impl: what the invoice modules share inside the library: the
 * lines of an invoice, worked out in C from usage sums (invoice_lines.c),
 * so that the scheduled run (invoice_batch.c, many accounts at a time) and
 * manual invoices (invoice_build.c, one at a time) bill alike.
 */
#ifndef BILLING_INVOICE_IMPL_H
#define BILLING_INVOICE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "invoices.h"

struct db;
struct plan;
struct billing_config;

/* usage lines (a resource x unit price each), subscription, overage */
#define INVOICE_MAX_LINES 40
#define USAGE_MAX_SUMS 16

/*
 * 1 for an account (billing_accounts in the outer query) whose plan is
 * collected by a live Stripe subscription: its invoices here carry no plan
 * line (Stripe's subscription invoices are recorded as kind 'stripe').
 */
#define SQL_STRIPE_PLAN "EXISTS (SELECT 1 FROM billing_subscriptions s " \
    "WHERE s.account_id = billing_accounts.id " \
    "AND s.stripe_subscription_id IS NOT NULL " \
    "AND s.status IN ('active', 'trialing', 'past_due'))"

/* Usage summed by resource, unit and unit price (micro-units). */
struct usage_sum {
	char resource[16];
	char unit[32];
	int64_t price, qty, cost;
};

struct line_set {
	struct invoice_line lines[INVOICE_MAX_LINES];
	size_t n;
	int64_t subtotal;   /* the sum of the lines' amounts */
	int whole_units;    /* 1: the currency has no minor unit (jpy), amounts
	                     * round to whole units; 0: to cents */
};

/* One usage line per sum, amounts rounded to the currency's minor unit. */
void lines_usage(struct line_set *set, const struct usage_sum *sums, size_t n);

/* The plan's price: monthly plans every period, yearly ones in the period
 * of the account's anniversary month (or a period of about a year). */
void lines_subscription(struct line_set *set, const struct plan *plan,
    int64_t account_created, int64_t period_start, int64_t period_end);

/*
 * Hybrid overage, hour by hour: in one clock hour the quantity of a
 * resource is its average concurrent size, so what exceeds the plan's
 * limit that hour is the overage.  overage_add takes one hour's sum of one
 * resource and price; lines_overage adds the lines.
 */
struct overage {
	struct usage_sum over[USAGE_MAX_SUMS];
	size_t n;
};
void overage_add(struct overage *o, const struct plan *plan,
    const char *resource, const char *unit, int64_t price, int64_t qty);
void lines_overage(struct line_set *set, const struct overage *o,
    const struct plan *plan);

/* Writes the lines of n invoices (ids[i] gets sets[i]) in multi-row
 * statements. */
int lines_insert(struct db *db, const uint64_t *ids,
    const struct line_set *const *sets, size_t n);

/* The next gap-free number of the year ("INV-2025-000001"), from the
 * counter row locked until the caller's transaction ends (invoice_build.c). */
int invoice_next_number(struct db *db, int year, char *buf, size_t size);

/* The scheduled run over a batch of accounts (invoice_batch.c). */
struct invoice_batch {
	const struct billing_config *cfg;
	int64_t now, period_start, period_end;
	int draft;
	uint64_t after;          /* accounts with a larger id */
	/* results of the last call */
	size_t naccounts;        /* 0: no accounts left */
	uint64_t last;           /* the batch's last account id */
	uint64_t created;        /* invoices made */
};
#define INVOICE_BATCH_ACCOUNTS 100

/* One batch, inside the caller's transaction. */
int invoice_batch_run(struct db *db, struct invoice_batch *ib);

#endif
