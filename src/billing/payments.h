/*
 * payments: the one writer of billing_payments.  A payment is recorded by
 * hand (an admin marks an invoice paid: invoice_build.c) or from Stripe's
 * events (webhook_payments.c); each row carries an idempotency key, whose
 * unique index keeps a payment from being recorded twice.  Everything runs
 * inside the caller's transaction and returns an enum db_rc.
 */
#ifndef BILLING_PAYMENTS_H
#define BILLING_PAYMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct db;
struct db_stmts;

/* A payment to record. */
struct payment {
	uint64_t account_id, invoice_id;     /* invoice 0: none */
	int64_t amount;                      /* micro-units, whole cents */
	const char *currency, *status;       /* succeeded, failed */
	const char *pi, *stripe_invoice;     /* may be NULL */
	const char *key;                     /* idempotency key */
	const char *failure;                 /* may be NULL */
	const char *now;                     /* DATETIME text */
};

/* The manual payment of invoice id, for its total (key: its idempotency
 * key).  DB_DUPLICATE when it was recorded before. */
int payments_record_manual(struct db *db, uint64_t invoice_id,
    const char *key, const char *now);

/* A Stripe payment.  DB_DUPLICATE when its key was recorded before. */
int payments_insert(struct db *db, const struct payment *pm);

/* The first succeeded payment of the account for payment intent pi into
 * *id.  DB_OK, DB_NOT_FOUND or an error. */
int payments_find_succeeded(struct db *db, uint64_t account_id,
    const char *pi, uint64_t *id);

/* Completes payment id with the invoice and Stripe invoice it was for,
 * where it names none yet (0 and NULL: unknown). */
int payments_complete(struct db *db, uint64_t id, uint64_t invoice_id,
    const char *stripe_invoice);

/* The first payment of intent pi: its account, invoice (0: none) and
 * Stripe invoice ("" for none) into sin[size].  DB_NOT_FOUND for none. */
int payments_find_by_intent(struct db *db, const char *pi,
    uint64_t *account_id, uint64_t *invoice_id, char *sin, size_t size);

/* DB_OK when Stripe invoice sin of the account has a succeeded payment,
 * DB_NOT_FOUND when not, or an error. */
int payments_stripe_paid(struct db *db, uint64_t account_id, const char *sin);

/* DB_OK when invoice id was paid by hand, DB_NOT_FOUND when not, or an
 * error. */
int payments_paid_by_hand(struct db *db, uint64_t invoice_id);

/* --- reading: the payment history (GET payments) ----------------------- */

/* A recorded payment as the history shows it. */
struct payment_row {
	int64_t id;
	int64_t amount;                  /* micro-units, whole cents */
	char currency[4];
	char status[16];                 /* pending, succeeded, failed, refunded */
	char method[16];                 /* stripe, manual */
	uint64_t invoice_id;             /* 0: none */
	char invoice_number[33];         /* "" for none */
	char payment_intent[256];        /* "" for none */
	char stripe_invoice[256];        /* "" for none */
	char failure[1001];              /* "" for none */
	int64_t created_at;
};

/* A page of a user's payments, newest first: the caller sets the first
 * three fields. */
struct payments_page {
	const char *user_id;
	int64_t before;         /* ids below this; 0: from the newest */
	int64_t limit;          /* rows per page (>= 1) */
	/* set by payments_list */
	int more;               /* another page follows */
	int64_t last_id;        /* the cursor of the next page */
};

typedef void (*payments_row_fn)(const struct payment_row *p, void *arg);

/* Passes each payment of the page to fn(arg), in one query (not inside a
 * transaction of the caller's).  RESULT_OK, or a failure in r. */
enum result_code payments_list(struct db *db, struct payments_page *pg,
    payments_row_fn fn, void *arg, struct result *r);

/* The statement table (statements.c). */
extern const struct db_stmts payments_stmts;

#endif
