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

#include "result.h"

struct account;
struct app;
struct db;
struct billing_config;
struct json_object;
struct job_opts;
struct job_result;
struct db_stmts;

struct invoice_line {
	unsigned line_no;
	char kind[16];           /* usage, subscription, overage, adjustment */
	char resource_type[16];  /* "" for subscription lines */
	char description[256];
	int64_t quantity;        /* micro-units */
	char unit[32];
	int64_t unit_price;      /* micro-units */
	int64_t amount;          /* micro-units, a whole number of cents */
	char tax_rate_id[65];    /* its plan's rate; "": the account's */
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

/* A credit note of the invoice, as the invoice shows it (credit_notes.c
 * issues them). */
struct invoice_credit_note {
	uint64_t id;
	char number[33];
	int64_t amount;
	char reason[500 * 4 + 1];
	char settlement[16];     /* due, refund, balance */
	int64_t refund_amount;   /* 0: no refund */
	char refund_method[16];
	char stripe_refund_id[256];
	int64_t created_at;
};

/* A tax line: the rate as issued and what it taxed (invoice_tax.c). */
struct invoice_tax {
	char rate_id[65];
	char name[101];
	int64_t percent;         /* micro-units of a percent: 20% = 20000000 */
	int inclusive;           /* 1: the tax is part of the prices */
	int64_t taxable;         /* micro-units: what is charged after credits */
	int64_t amount;          /* micro-units, a whole number of cents */
};

struct account_billing;

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
	int64_t credit_notes;    /* the sum of its credit notes */
	int64_t due_date, finalized_at, paid_at, voided_at, created_at; /* 0: none */
	char stripe_invoice_id[256];
	struct invoice_line *lines;
	size_t nlines;
	struct invoice_credit *applied;
	size_t napplied;
	struct invoice_payment *payments;
	size_t npayments;
	struct invoice_credit_note *notes;   /* oldest first */
	size_t nnotes;
	/* taxes (invoice_tax.c): tax is the sum of the tax lines; total holds
	 * an exclusive rate's tax, an inclusive one's is inside subtotal */
	int64_t tax;
	int tax_exempt;          /* the account was exempt when finalized */
	struct invoice_tax *taxes;
	size_t ntaxes;
	/* with details (invoice_load): the customer (heap; NULL in lists):
	 * as issued when issued (invoice_issued.c), else the account's
	 * current billing details (a draft, or finalized before sql/016) */
	struct account_billing *bill_to;
	/* issued 1: the invoice stores what it was issued with: issuer (heap,
	 * one block; free() releases it), and the zones of its dates (zone,
	 * start_zone: the period start's; names, "UTC" for UTC).  issued 0:
	 * issuer NULL (the config's applies), zones from bill_to's history */
	int issued;
	struct invoice_issuer *issuer;
	char zone[65], start_zone[65];
};

/*
 * What is still due on an invoice (invoice_load, with its payments): for
 * an unpaid one total - credit notes - succeeded payments, never below 0;
 * 0 for a paid or void one.
 */
int64_t invoice_amount_due(const struct invoice *inv);

/* Loads invoice id with its lines, credits applied, payments and credit
 * notes.
 * DB_OK, DB_NOT_FOUND or an error.  Free with invoice_free. */
int invoice_load(struct db *db, uint64_t id, struct invoice *out);
void invoice_free(struct invoice *inv);

/* The invoice without lines, credits or payments (lists). */
int invoice_load_summary(struct db *db, uint64_t id, struct invoice *out);

/* A page of a user's invoices, newest first, in one query.  With
 * every_user (GET admin/invoices): every account's, drafts included,
 * user_id "" for all or one user's, and when to > 0 only those whose
 * period overlaps [from, to). */
struct invoice_page {
	int every_user;
	int64_t from, to;       /* every_user: 0 and 0 for any period */
	const char *user_id;
	const char *status;     /* only these; "" for any */
	int drafts;             /* 1: drafts too (an admin asks) */
	uint64_t before;        /* ids below this; 0: from the newest */
	size_t limit;           /* at most this many (>= 1) */
	/* out */
	struct invoice *items;  /* summaries (no lines); invoice_page_free */
	size_t n;
	uint64_t next_cursor;   /* the last id when there is more; else 0 */
};
enum result_code invoice_list(struct db *db, struct invoice_page *pg,
    struct result *r);
void invoice_page_free(struct invoice_page *pg);

/*
 * -- changes to an invoice row (invoices.c, their one writer) --
 * Inside the caller's transaction, the invoice locked (invoice_lock) where
 * its status is read first.  Each returns an enum db_rc.  Times are
 * DATETIME text (time_format_db).
 */

/* What a locked invoice is (invoice_lock). */
struct invoice_locked {
	uint64_t account_id;
	int64_t period_start, period_end;
	char status[16];
	int64_t subtotal;
	char currency[4];
	char stripe_invoice_id[256];    /* "" for none */
	int64_t total, credit_notes;    /* credit_notes: their sum */
	char number[33];                /* "" for drafts */
	char kind[16];
};
/* Locks invoice id until the transaction ends.  DB_NOT_FOUND for none. */
int invoice_lock(struct db *db, uint64_t id, struct invoice_locked *out);
/* A draft's amounts: subtotal and total, no credits yet. */
int invoice_store_amounts(struct db *db, uint64_t id, int64_t subtotal);
/* A draft finalized: status sent with its number, credits, total, times. */
/* issued: what it is issued with (invoice_issued_text), stored with it. */
int invoice_store_final(struct db *db, uint64_t id, const char *number,
    int64_t credits, int64_t total, const char *now, const char *due,
    const char *issued);
/* Paid at paid_at, when it is sent or overdue (paid is final). */
int invoice_mark_paid(struct db *db, uint64_t id, const char *paid_at);
int invoice_mark_void(struct db *db, uint64_t id, const char *now);
/* Every sent invoice with something to pay past its due date; *count
 * (may be NULL) how many. */
int invoice_mark_overdue(struct db *db, const char *now, uint64_t *count);
/* Adds a credit note's amount to the invoice's credit_notes (the CHECK of
 * sql/010 refuses a sum above the total). */
int invoice_add_credit_note(struct db *db, uint64_t id, int64_t amount);
/* Stores the Stripe invoice that collects it, unless one is stored (the
 * first stays).  DB_DUPLICATE: that Stripe id belongs to another invoice. */
int invoice_link_stripe(struct db *db, uint64_t id,
    const char *stripe_invoice_id);

/*
 * The invoice as the API shows it (new reference).  Amounts with 2
 * decimals, quantities and unit prices with up to 6, RFC 3339 times; with
 * details: lines, credits_applied and payments.
 */
struct json_object *invoice_json(const struct invoice *inv, int details);

/* -- building (invoice_build.c) -- */

struct invoice_spec {
	const char *user_id;
	int64_t period_start, period_end;   /* usage inside the period only */
	int draft;    /* keep it a numberless draft */
	int64_t now;
};

/*
 * Makes a manual invoice of the user's account for the period, in its own
 * transaction: lines by billing mode from the unbilled usage records inside
 * it, which are tied to it, and unless spec->draft, finalized (the
 * scheduled run is invoice_batch.c).  RESULT_OK with *invoice_id the new
 * invoice; RESULT_NOT_FOUND (user_id) for an unknown user; RESULT_CONFLICT
 * (period_start) when a live invoice of the account overlaps the period.
 */
enum result_code invoice_build_manual(struct db *db,
    const struct billing_config *cfg, const struct invoice_spec *spec,
    uint64_t *invoice_id, struct result *r);

/* Finalizes a draft: credits, number, due date, status sent, the
 * billing.invoice.created event.  A final invoice is left as it is.
 * Inside the caller's transaction; an enum db_rc. */
int invoice_build_finalize(struct db *db, const struct billing_config *cfg,
    uint64_t id, int64_t now);

/* Queues event `type` (billing.invoice.created, .paid) for invoice id,
 * keyed "<type>:<id>" so that it is queued once.  An enum db_rc. */
int invoice_build_emit_event(struct db *db, uint64_t id, const char *type,
    int64_t now);

/*
 * Moves an invoice to status `to` (sent, paid, void), in its own
 * transaction.  The same status again changes nothing.  paid records a
 * manual payment; void keeps the invoice, gives its credits back and frees
 * its usage for the next invoice.  Locks the account first, then the
 * invoice, then its credits.  An invoice that Stripe collects (it has a
 * stripe_invoice_id) is voided or paid out of band in Stripe first,
 * holding those locks; when Stripe refuses or fails, nothing changes here.
 * RESULT_OK; RESULT_NOT_FOUND for no such invoice; RESULT_CONFLICT (status)
 * when it cannot move there from its status, when a void is asked of an
 * invoice that has credit notes, or Stripe refused for the
 * invoice's state there; RESULT_UNAVAILABLE or RESULT_STRIPE_REFUSED for
 * the other Stripe failures.
 */
enum result_code invoice_build_set_status(struct db *db,
    const struct billing_config *cfg, uint64_t id, const char *to,
    int64_t now, struct result *r);

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
int invoice_stripe_record(struct db *db, const struct billing_config *cfg,
    const struct account *acct, const struct invoice_stripe_paid *sp,
    uint64_t *invoice_id);

/* The invoice job (job_table "generate-invoices"; invoice_job.c). */
int invoice_job_run(struct app *app, const struct job_opts *opts,
    struct job_result *result);

/* The statement table (statements.c). */
extern const struct db_stmts invoices_stmts;

#endif
