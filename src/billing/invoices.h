/*
 * invoices: building, finalizing and reading invoices.
 *
 * An invoice is built in one transaction: its lines (by billing mode), the
 * usage records it bills (a scheduled invoice claims its account's unbilled
 * records by their bill_from range, a manual one sets their invoice_id; see
 * sql/003_usage_claims.sql), 
 * and, when it is finalized, the credits applied (earliest-expiring first,
 * never expired ones, never below zero), a gap-free number from the year's
 * counter (locked in the same transaction) and the billing.invoice.created
 * event.  One invoice per account and period: the unique key on
 * (account_id, period_start) is the guarantee; locks only keep runs apart.
 * Finalized amounts and lines never change.
 */
#ifndef BILLING_INVOICES_H
#define BILLING_INVOICES_H

#include <stddef.h>
#include <stdint.h>

struct account;
struct app;
struct db;
struct billing_config;
struct json_object;
struct job_opts;
struct job_result;
struct stripe_error;

struct invoice_line {
	unsigned line_no;
	char kind[16];           /* usage, subscription, overage, adjustment */
	char resource_type[16];  /* "" for subscription lines */
	char description[256];
	int64_t quantity;        /* micro-units */
	char unit[32];
	int64_t unit_price;      /* micro-units */
	int64_t amount;          /* micro-units, a whole number of cents */
};

struct invoice_credit {
	uint64_t credit_id;
	int64_t amount;          /* applied to this invoice */
	char reason[500 * 4 + 1];  /* VARCHAR(500) of utf8mb4, never cut */
};

struct invoice_payment {
	uint64_t id;
	int64_t amount;
	char status[16];
	char method[16];
	int64_t created_at;
	char stripe_payment_intent_id[256];
};

struct invoice {
	uint64_t id, account_id;
	char user_id[256];
	char email[321];
	char number[33];         /* "" for drafts */
	char kind[16];           /* scheduled, manual */
	char status[16];         /* draft, sent, paid, overdue, void */
	char currency[4];
	char billing_mode[16];
	char plan_id[65];
	int64_t period_start, period_end;
	int64_t subtotal, credits, total; /* micro-units, whole cents */
	int64_t due_date, finalized_at, paid_at, voided_at, created_at; /* 0: none */
	char stripe_invoice_id[256];
	struct invoice_line *lines;
	size_t nlines;
	struct invoice_credit *applied;
	size_t napplied;
	struct invoice_payment *payments;
	size_t npayments;
};

/* Loads invoice id with its lines, credits applied and payments.
 * DB_OK, DB_NOT_FOUND or an error.  Free with invoice_free. */
int invoice_load(struct db *db, uint64_t id, struct invoice *out);
void invoice_free(struct invoice *inv);

/* The invoice without lines, credits or payments (lists). */
int invoice_load_summary(struct db *db, uint64_t id, struct invoice *out);

/*
 * The invoice as the API shows it (new reference).  Amounts with 2
 * decimals, quantities and unit prices with up to 6, RFC 3339 times; with
 * details: lines, credits_applied and payments.
 */
struct json_object *invoice_json(const struct invoice *inv, int details);

/* -- building (invoice_build.c); all inside the caller's transaction -- */

struct invoice_spec {
	uint64_t account_id;
	int64_t period_start, period_end;   /* usage inside the period only */
	int draft;    /* keep it a numberless draft */
	int64_t now;
};

enum invoice_outcome {
	INVOICE_CREATED = 0,
	INVOICE_EXISTS    /* a live invoice of the account overlaps the period */
};

/*
 * Makes a manual invoice of the account for the period: lines by billing
 * mode from the unbilled usage records inside it, which are tied to it, and
 * unless spec->draft, finalized (the scheduled run is invoice_batch.c).  On DB_OK,
 * *outcome says what happened and *invoice_id is the new invoice (or the
 * overlapping one, when known).
 */
int invoice_build(struct db *db, const struct billing_config *cfg,
    const struct invoice_spec *spec, enum invoice_outcome *outcome,
    uint64_t *invoice_id);

/* Finalizes a draft: credits, number, due date, status sent, the
 * billing.invoice.created event.  A final invoice is left as it is. */
int invoice_finalize(struct db *db, const struct billing_config *cfg,
    uint64_t id, int64_t now);

enum invoice_status_outcome {
	INVOICE_STATUS_DONE = 0,   /* changed, or already so */
	INVOICE_STATUS_CONFLICT,   /* makes no sense from its status */
	INVOICE_STATUS_STRIPE      /* Stripe refused or failed: *se says why */
};

/*
 * Moves an invoice to status `to` (sent, paid, void).  The same status again
 * changes nothing.  paid records a manual payment; void keeps the invoice,
 * gives its credits back and frees its usage for the next invoice.  Locks
 * the account first, then the invoice, then its credits.  An invoice that
 * Stripe collects (it has a stripe_invoice_id) is voided or paid out of
 * band in Stripe first, holding those locks; when Stripe refuses or fails,
 * nothing changes here and *outcome is INVOICE_STATUS_STRIPE with *se
 * filled.  DB_NOT_FOUND for no such invoice.
 */
int invoice_set_status(struct db *db, const struct billing_config *cfg,
    uint64_t id, const char *to, int64_t now,
    enum invoice_status_outcome *outcome, struct stripe_error *se);

/*
 * A Stripe subscription's invoice, paid in Stripe and not made by us, as it
 * is recorded here (invoice_stripe.c).
 */
struct invoice_stripe_paid {
	const char *stripe_invoice_id;   /* borrowed */
	const char *description;         /* the line's text, clean UTF-8; "" */
	const char *currency;            /* three lowercase letters */
	int64_t amount;                  /* micro-units paid, whole cents */
	int64_t period_start, period_end, paid_at, now;   /* usec */
};

/*
 * Records it for the account (locked by the caller) as a paid invoice of
 * kind 'stripe' with one subscription line, numbered like ours; an invoice
 * already recorded for that Stripe id is found instead.  *invoice_id is
 * ours.  Inside the caller's transaction.
 */
int invoice_record_stripe(struct db *db, const struct billing_config *cfg,
    const struct account *acct, const struct invoice_stripe_paid *sp,
    uint64_t *invoice_id);

/* The invoice job (job_table "generate-invoices"; invoice_job.c). */
int invoices_job(struct app *app, const struct job_opts *opts,
    struct job_result *result);

#endif
