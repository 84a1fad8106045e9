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
struct db_stmts;
struct sql_rows;
struct plan;
struct billing_config;

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

/* As many sums as the records have groups (heap, growing; all zero to
 * start).  Free with invoice_lines_sums_free. */
struct usage_sums {
	struct usage_sum *s;
	size_t n, cap;
};

/* A new zeroed sum at the end of u, or NULL when out of memory. */
struct usage_sum *invoice_lines_sums_next(struct usage_sums *u);
void invoice_lines_sums_free(struct usage_sums *u);

/*
 * An invoice's lines: usage lines (a resource x unit price each),
 * subscription, overage, as many as there are (heap, growing; all zero to
 * start).  Free with invoice_lines_set_free.
 */
struct line_set {
	struct invoice_line *lines;
	size_t n, cap;
	int64_t subtotal;   /* the sum of the lines' amounts */
	int whole_units;    /* 1: the currency has no minor unit (jpy), amounts
	                     * round to whole units; 0: to cents */
};
void invoice_lines_set_free(struct line_set *set);

/*
 * The functions that add lines return 0, or -1 when a line cannot be added
 * (out of memory, an amount beyond the money range): the set is then short
 * and the caller must fail the whole invoice run, never bill it.
 */

/* One usage line per sum, amounts rounded to the currency's minor unit. */
int invoice_lines_usage(struct line_set *set, const struct usage_sum *sums,
    size_t n);

/* The plan's price: monthly plans every period, yearly ones in the period
 * of the account's anniversary month (or a period of about a year). */
int invoice_lines_subscription(struct line_set *set, const struct plan *plan,
    int64_t account_created, int64_t period_start, int64_t period_end);

/*
 * An upgrade's two `proration` lines (plan_changes.h), amounts as the change
 * recorded them: the credit for the unused part of `from` (<= 0) and the
 * charge for the rest of `to`; quantities are the shares of the plans'
 * cycles.  A plan no longer configured is named by its id; the change's
 * day is its local date in zone (the period's; NULL or "": UTC).
 */
int invoice_lines_proration(struct line_set *set, const char *zone,
    const struct plan *from, const struct plan *to, const char *from_id,
    const char *to_id, int64_t at, int64_t credit, int64_t charge,
    int64_t credit_qty, int64_t charge_qty);

/*
 * Hybrid overage, hour by hour: in one clock hour the quantity of a
 * resource is its average concurrent size, so what exceeds the plan's
 * limit that hour is the overage.  invoice_lines_overage_add takes one
 * hour's sum of one resource and price (0, or -1 as above);
 * invoice_lines_overage adds the lines.  Zero to start; free with
 * invoice_lines_overage_free.
 */
struct overage {
	struct usage_sums over;
};
int invoice_lines_overage_add(struct overage *o, const struct plan *plan,
    const char *resource, const char *unit, int64_t price, int64_t qty);
int invoice_lines_overage(struct line_set *set, const struct overage *o,
    const struct plan *plan);
void invoice_lines_overage_free(struct overage *o);

/* Writes the lines of n invoices (ids[i] gets sets[i]) in multi-row
 * statements. */
int invoice_lines_insert(struct db *db, const uint64_t *ids,
    const struct line_set *const *sets, size_t n);
extern struct sql_rows invoice_lines_rows_insert;   /* (statements.c) */

/* The next gap-free number of the year ("INV-2025-000001"), from the
 * counter row locked until the caller's transaction ends (invoice_build.c). */
int invoice_build_next_number(struct db *db, int year, char *buf, size_t size);

/* The scheduled run over a batch of accounts (invoice_batch.c). */
struct invoice_batch {
	const struct billing_config *cfg;
	const char *zone;        /* the accounts' time zone, the period's */
	int64_t now, period_start, period_end;
	/* the start of the latest period that has ended: a never-invoiced
	 * account created after `now` (a run as of a past day) is open from
	 * there; others from their creation */
	int64_t latest_start;
	int draft;
	uint64_t after;          /* accounts with a larger id */
	/* results of the last call */
	size_t naccounts;        /* 0: no accounts left */
	uint64_t last;           /* the batch's last account id */
	uint64_t created;        /* invoices made */
	char error[160];         /* why the batch failed, when not the database */
};
#define INVOICE_BATCH_ACCOUNTS 100

/* One batch, inside the caller's transaction. */
int invoice_batch_run(struct db *db, struct invoice_batch *ib);

/*
 * Taxes (invoice_tax.c).  A rate per line: a plan's fee (its
 * `subscription` line, the `proration` lines of that plan) at the plan's
 * own rate (subscriptionPlans[].tax_rate_id, kept on the line as
 * tax_rate_id), every other line at the account's (tax_rate_id), else the
 * config's defaultTaxRate; none when the account is exempt.
 */
struct tax_rate;

/* The account's rate, or NULL (exempt, or none).  Borrowed from cfg. */
const struct tax_rate *invoice_tax_rate(const struct billing_config *cfg,
    const char *rate_id, int exempt);

/*
 * The tax on `charged` micro-units (what is charged at the rate after
 * credits, a whole number of the minor unit) at percent (micro-units of a
 * percent), rounded half-up once to the minor unit of `decimals` (2: cents,
 * 0: whole units): exclusive, charged x percent / 100; inclusive, the part
 * of charged that is tax, charged x percent / (100 + percent), so that the
 * net (charged - tax) and the tax add up to charged exactly.  Integer
 * arithmetic only.  0, or -1 on overflow or a bad argument.
 */
int invoice_tax_amount(int64_t charged, int64_t percent, int inclusive,
    int decimals, int64_t *out);

/*
 * The credit split over n bases (micro-units, whole minor units of
 * `decimals`, each >= 0, credit <= their sum) pro rata, exactly: each
 * share is credit x base / sum rounded down to the minor unit, and the
 * minor units left over go one each to the largest remainders (ties: the
 * earlier base), so the shares add up to the credit and none exceeds its
 * base.  0, or -1 on a bad argument.
 */
int invoice_tax_allocate(const int64_t *bases, size_t n, int64_t credit,
    int decimals, int64_t *shares);

/* An invoice's tax lines, one per rate in the order the lines first use
 * them; tax is their sum, added the exclusive rates' (what the total adds
 * to what is charged after credits). */
#define INVOICE_MAX_TAXES 32      /* = CONFIG_MAX_TAX_RATES */
struct invoice_taxes {
	struct invoice_tax t[INVOICE_MAX_TAXES];
	size_t n;
	int64_t tax, added;
};

/*
 * The taxes of n lines (their amounts and tax_rate_id) charged `credits`
 * in all: each rate taxes what its lines charge less its share of the
 * credits (invoice_tax_allocate over the rates' sums; lines that no rate
 * taxes take their share too; a rate whose lines sum below zero taxes
 * nothing and its sum counts as a further credit), once per rate.
 * 0; -1 on overflow; -2 when the account's own rate_id is not in the
 * config, -3 when a line's (its plan's) is not (the invoice must not be
 * made: its tax is unknown).
 */
int invoice_tax_compute(const struct billing_config *cfg, const char *rate_id,
    int exempt, const struct invoice_line *lines, size_t n, int64_t credits,
    int decimals, struct invoice_taxes *out);

/* Why invoice_tax_compute failed (its result), for the logs. */
const char *invoice_tax_error(int rc);

/* The taxes of a draft being finalized: its lines read here, the
 * account's rate and exemption given (its billing details, read by the
 * caller for the invoice's issued details too).  DB_OK, or an error (a
 * failed invoice_tax_compute is logged and is DB_ERROR). */
int invoice_tax_of_invoice(struct db *db, const struct billing_config *cfg,
    uint64_t id, const char *rate_id, int exempt, int64_t credits,
    int decimals, struct invoice_taxes *out);

/*
 * Stores a finalized invoice's tax lines, its tax and tax_exempt, inside
 * the caller's transaction.  invoice_tax_insert_many writes the lines of
 * n invoices (ids[i] gets ts[i], NULL: none) in multi-row statements;
 * their invoices were inserted with tax and tax_exempt already.
 */
int invoice_tax_store(struct db *db, uint64_t id,
    const struct invoice_taxes *t, int exempt);
int invoice_tax_insert_many(struct db *db, const uint64_t *ids,
    const struct invoice_taxes *const *ts, size_t n);

/* The tax lines and the details as issued (invoice_issued_load) of a
 * loaded invoice. */
int invoice_tax_load(struct db *db, struct invoice *inv);

/* Adds the invoice's "taxes" (its tax lines), "bill_to" and "issuer"
 * (invoice_issued_json) to o, as GET invoices/{id} shows them. */
struct json_object;
void invoice_tax_json(const struct invoice *inv, struct json_object *o);

extern const struct db_stmts invoice_tax_stmts;
extern struct sql_rows invoice_tax_rows_insert;

/*
 * Invoices as issued (invoice_issued.c, sql/016): the customer's block, the
 * issuer's and the period's zones, stored in the transaction that numbers
 * the invoice and never changed after.
 */
struct account_billing;
struct invoice_issuer;

/* The text to store (JSON; caller frees; NULL when out of memory) for
 * customer b and issuer is (both borrowed; is NULL: none), with the zones of
 * the period [start, end) from b's zone history (b->zone). */
char *invoice_issued_text(const struct account_billing *b,
    const struct invoice_issuer *is, int64_t start, int64_t end);

/* The address column's lines (joined by "\n") into b. */
void invoice_issued_address(const char *text, struct account_billing *b);

/* inv's details as issued: the stored ones (inv->issued 1: bill_to,
 * issuer, zone, start_zone), else the account's current ones (bill_to). */
int invoice_issued_load(struct db *db, struct invoice *inv);

/* Adds "bill_to" and "issuer" (null when not loaded or not stored) to o. */
void invoice_issued_json(const struct invoice *inv, struct json_object *o);

extern const struct db_stmts invoice_issued_stmts;

/* The statement tables (statements.c). */
extern const struct db_stmts invoice_build_stmts;
extern const struct db_stmts invoice_batch_stmts;
extern struct sql_rows invoice_batch_rows_sums;
extern struct sql_rows invoice_batch_rows_invoices;
extern const struct db_stmts invoice_job_stmts;
extern const struct db_stmts invoice_stripe_stmts;
extern const struct db_stmts stripe_push_stmts;

#endif
