/*
 * plan_changes: plan changes of accounts whose plan fee we bill ourselves
 * (billing mode subscription or hybrid, no live Stripe subscription), and
 * the record of changes asked of Stripe.  The one writer of
 * billing_plan_changes (sql/009_plan_changes.sql).
 *
 * An upgrade (a plan not cheaper per day) applies at once and records two
 * proration amounts, each rounded once: a credit for the unused part of the
 * old plan's cycle and a charge for the rest of the new plan's cycle; the
 * invoice of the period it falls in bills them as `proration` lines.  A
 * downgrade is pending until the end of the old plan's cycle.  The rules and
 * worked examples are in docs/billing.md ("Plan changes").
 */
#ifndef BILLING_PLAN_CHANGES_H
#define BILLING_PLAN_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct account;
struct billing_config;
struct db;
struct db_stmts;
struct plan;

/* The statement table (statements.c registers it). */
extern const struct db_stmts plan_change_stmts;

/*
 * a's price per day against b's: -1, 0 or 1.  A month counts 365/12 days
 * and a year 365, so the comparison is exact in integers: a monthly price
 * times 12 against a yearly price.
 */
int plan_change_compare(const struct plan *a, const struct plan *b);

/*
 * price * num / den (den > 0) rounded once, half-up (away from zero), to
 * `decimals` (2: cents, 0: whole units), as micro-units.  0, or -1 on
 * overflow.
 */
int plan_change_prorate(int64_t price, int64_t num, int64_t den, int decimals,
    int64_t *out);

/*
 * The billing cycle of plan that contains `at`, in the account's time zone
 * (zone; NULL: UTC): a monthly plan's is the account's invoice period
 * (period_account); a yearly plan's the twelve periods from the period of
 * the account's anniversary month (created, its local month) on or before
 * `at`.
 */
struct period_zone;
void plan_change_cycle(const struct billing_config *cfg,
    const struct period_zone *zone, const struct plan *plan, int64_t created,
    int64_t at, int64_t *start, int64_t *end);

/* An account's pending downgrade, if any. */
struct plan_change_pending {
	int has;
	uint64_t id;
	char to_plan[65];
	int64_t effective_at;
};

/* The pending downgrade of account_id (local).  DB_OK or an error. */
int plan_change_find_pending(struct db *db, uint64_t account_id,
    struct plan_change_pending *out);

/*
 * Moves the plan of every account (account_id 0), or of that one, whose
 * pending downgrade is due (effective_at <= now) and marks it applied,
 * with its event; a transaction per account (the account row locked
 * first).  DB_OK or an error.
 */
int plan_change_apply_due(struct db *db, const struct billing_config *cfg,
    uint64_t account_id, int64_t now);

/* What plan_change_local did. */
enum plan_change_outcome {
	PLAN_CHANGE_NONE,        /* already on that plan, nothing pending */
	PLAN_CHANGE_UPGRADED,    /* at once, with proration */
	PLAN_CHANGE_SCHEDULED,   /* a downgrade, pending to the cycle's end */
	PLAN_CHANGE_UNSCHEDULED  /* the pending downgrade was cancelled */
};

/*
 * Changes the plan of the account (its own transaction, the account row
 * locked) to `to` at `now`, by the rules above: the current plan cancels a
 * pending downgrade; an upgrade cancels it too.  RESULT_OK with *out, or a
 * database failure in r.
 */
enum result_code plan_change_local(struct db *db,
    const struct billing_config *cfg, uint64_t account_id,
    const struct plan *to, int64_t now, enum plan_change_outcome *out,
    struct result *r);

/* Records a change asked of Stripe (source 'stripe', status applied: Stripe
 * prorates it); *id names the request's idempotency key.  DB_OK or an
 * error. */
int plan_change_record_stripe(struct db *db, uint64_t account_id,
    const char *from_plan, const char *to_plan, int upgrade, int64_t now,
    uint64_t *id);

/* Marks a change recorded for Stripe as not made (Stripe refused it or
 * could not be reached). */
int plan_change_stripe_failed(struct db *db, uint64_t id);

/* A local change as the invoice run reads it (not cancelled). */
struct plan_change_row {
	uint64_t id, account_id;
	int upgrade;
	char from_plan[65], to_plan[65];
	int64_t effective_at;
	int64_t credit, charge;                 /* micro-units, rounded */
	int64_t credit_qty, charge_qty;         /* share of the cycle */
};

/*
 * The local changes of accounts lo..hi effective at or after `since`, by
 * account, then time (heap; caller frees *rows).  DB_OK or an error.
 */
int plan_change_load_range(struct db *db, uint64_t lo, uint64_t hi,
    int64_t since, struct plan_change_row **rows, size_t *n);

/*
 * The plan id in force at `at` from an account's changes (rows, n, sorted,
 * all effective at or after the period's start), else `current`: the
 * to_plan of the last change at or before `at`, else the from_plan of the
 * first one after it.  Borrowed.
 */
const char *plan_change_plan_at(const struct plan_change_row *rows, size_t n,
    int64_t at, const char *current);

#endif
