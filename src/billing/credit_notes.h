/*
 * credit_notes: the one writer of billing_credit_notes,
 * billing_credit_note_lines, billing_credit_note_counters and
 * billing_refunds (sql/010_credit_notes.sql; docs/billing.md, "Credit
 * notes").
 *
 * A finalized invoice (sent, overdue or paid) is corrected only by a credit
 * note: an amount, or amounts on some of its lines, and a reason.  Issuing
 * one is one transaction that locks the account, then the invoice:
 *   - the sum of the invoice's credit notes never exceeds its total, and
 *     what a line's credit notes take never exceeds the line;
 *   - the number CN-YYYY-NNNNNN comes from the year's counter row, locked
 *     until commit (a rolled-back credit note gives its number back);
 *   - unpaid invoice: it lowers what is due (settlement "due"); credited in
 *     full, the invoice is settled: status paid, no payment recorded;
 *   - paid invoice: refund true gives the money back (a Stripe refund of
 *     the payment intent Stripe collected, else a refund recorded as made by
 *     hand), refund false credits the account's balance (a credit that the
 *     next invoices use);
 *   - an invoice that Stripe collects gets a Stripe credit note first
 *     (credit_note_stripe.c); when Stripe refuses or fails nothing changes
 *     here;
 *   - events billing.credit_note.created and, for a refund,
 *     billing.refund.created.
 *
 * Idempotency: an optional client key (idempotency_key in the body) with a
 * unique index; the same key again answers the credit note it made when it
 * was for the same invoice and amount, RESULT_CONFLICT otherwise.
 */
#ifndef BILLING_CREDIT_NOTES_H
#define BILLING_CREDIT_NOTES_H

#include <stddef.h>
#include <stdint.h>

#include "period.h"
#include "result.h"

struct db;
struct db_stmts;
struct billing_config;
struct json_object;
struct stripe_error;

#define CREDIT_NOTE_LINES_MAX 500
#define CREDIT_NOTE_REASON_MAX 500   /* characters, as the column */
#define CREDIT_NOTE_KEY_MAX 255

struct credit_note_line {
	unsigned line_no;
	int64_t amount;              /* micro-units, whole cents */
};

/* A stored credit note, with its refund when it has one. */
struct credit_note {
	uint64_t id, invoice_id, account_id;
	unsigned seq;                /* the n-th of its invoice */
	char user_id[256];
	char number[33];             /* CN-2025-000001 */
	char invoice_number[33];
	int64_t amount;
	char currency[4];
	char reason[CREDIT_NOTE_REASON_MAX * 4 + 1];
	char settlement[16];         /* due, refund, balance */
	uint64_t credit_id;          /* balance: the credit made; else 0 */
	char stripe_credit_note_id[256];
	int64_t created_at;
	/* refund: refund_amount 0 when none */
	int64_t refund_amount;
	char refund_method[16];      /* stripe, manual */
	char stripe_refund_id[256];
	struct credit_note_line *lines;   /* owned */
	size_t nlines;
	struct period_zone zone;     /* the zone of the PDF's date: its
	                                invoice's as issued (sql/016), else
	                                the account's then in force */
	char issuer[201];            /* its invoice's issuer's name as
	                                issued; "": the config's */
	char bill_to[201];           /* the customer's billing name: its
	                                invoice's as issued, else the
	                                account's; "": none */
};

/* What an admin asks for; strings borrowed. */
struct credit_note_request {
	uint64_t invoice_id;
	int64_t amount;              /* 0: the sum of lines */
	const struct credit_note_line *lines;
	size_t nlines;               /* 0: by amount */
	const char *reason;
	int refund;
	const char *key;             /* NULL: none */
	const char *created_by;
	int64_t now;
};

/*
 * Issues a credit note (see above).  RESULT_OK with *id and *replayed (1:
 * an earlier request with the same key made it); RESULT_NOT_FOUND for no
 * such invoice; RESULT_CONFLICT (status) for a draft or void invoice, or
 * (idempotency_key) a key used for another credit note; RESULT_INVALID
 * (amount, lines) above what is left to credit or refund, or a line the
 * invoice does not have; Stripe's failures as result_stripe, a refusal
 * for the invoice's state there RESULT_CONFLICT.
 */
enum result_code credit_note_create(struct db *db,
    const struct billing_config *cfg, const struct credit_note_request *rq,
    uint64_t *id, int *replayed, struct result *r);

/* Credit note id with its lines and refund.  DB_OK, DB_NOT_FOUND or an
 * error.  Free with credit_note_free. */
int credit_note_load(struct db *db, uint64_t id, struct credit_note *out);
void credit_note_free(struct credit_note *cn);

/* The credit notes of an invoice, oldest first (*out: heap, n of them, NULL
 * when none; free with credit_notes_free).  An enum db_rc. */
int credit_notes_of_invoice(struct db *db, uint64_t invoice_id,
    struct credit_note **out, size_t *n);
void credit_notes_free(struct credit_note *cns, size_t n);

/* As the API shows it (new reference): number, amount, reason, refund. */
struct json_object *credit_note_json(const struct credit_note *cn);

/*
 * An invoice that Stripe collects got its Stripe id (stripe_push.c): its
 * credit notes issued before then are made in Stripe too (open invoice:
 * amount; else out of band).  0, or -1 with err set.
 */
int credit_notes_push_pending(struct db *db, const struct billing_config *cfg,
    uint64_t invoice_id, const char *sid, struct stripe_error *err);

/* -- Stripe (credit_note_stripe.c) -- */

/* What a Stripe credit note is for. */
struct credit_note_stripe {
	uint64_t invoice_id;
	unsigned seq;
	const char *sid;             /* Stripe's invoice */
	const char *currency;
	int64_t amount;              /* micro-units */
	const char *memo;            /* the reason */
	const char *refund_id;       /* a Stripe refund it is for, or NULL */
	int out_of_band;             /* 1: settled outside Stripe */
};

/* POST /v1/refunds of payment intent pi for amount (micro-units), key
 * credit-note-<invoice>-<seq>-refund; its id into re[size].  STRIPE_OK or
 * an enum stripe_rc with err filled. */
int credit_note_stripe_refund(const struct billing_config *cfg,
    const char *pi, const struct credit_note_stripe *cs, char *re,
    size_t size, struct stripe_error *err);

/* POST /v1/credit_notes, key credit-note-<invoice>-<seq>; its id into
 * out[size]. */
int credit_note_stripe_create(const struct billing_config *cfg,
    const struct credit_note_stripe *cs, char *out, size_t size,
    struct stripe_error *err);

/* -- PDF (credit_note_pdf.c) -- */

/* cn as a PDF (naming its number and its invoice's); *out malloc'd, *len
 * bytes.  0, or -1. */
int credit_note_pdf(const struct credit_note *cn, const char *issuer_name,
    unsigned char **out, size_t *len);

/* The statement table (statements.c). */
extern const struct db_stmts credit_notes_stmts;

#endif
