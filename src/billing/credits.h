/*
 * credits: the credits an admin grants an account, and their use on
 * invoices.  This module is the one writer of billing_credits and of
 * billing_credit_applications: a grant inserts a credit; applying credits
 * to an invoice (a manual or finalized draft one at a time, the scheduled
 * run a batch at a time) records the applications and deducts what they
 * took; a void gives it back.  The invoice modules decide how much goes on
 * an invoice and call these functions inside their own transaction.
 *
 * Idempotency of a grant: the unique key on billing_credits.idempotency_key
 * is the guarantee.  A repeated key answers the stored credit when it was
 * for the same user, amount and reason, and RESULT_CONFLICT otherwise;
 * never a second credit.  No transaction wraps the insert on purpose: after
 * a duplicate-key error the winner's row must be read with a fresh
 * snapshot, which an open REPEATABLE READ transaction would not give.
 */
#ifndef BILLING_CREDITS_H
#define BILLING_CREDITS_H

#include <stddef.h>
#include <stdint.h>

#include "accounts.h"
#include "result.h"

struct db;
struct db_stmts;
struct sql_rows;

#define CREDITS_REASON_MAX 500  /* characters, as the column */
#define CREDITS_KEY_MAX 255     /* characters, as the column */

/* A stored credit. */
struct credit {
	int64_t id;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	int64_t amount, remaining;      /* micro-units */
	char currency[4];
	char reason[CREDITS_REASON_MAX * 4 + 1];
	int64_t expires_at;             /* 0 when none */
	int64_t created_at;
	char created_by[ACCOUNT_USER_ID_MAX + 1]; /* "" when unknown */
};

/* What a grant asks for (validated by the caller); strings borrowed. */
struct credit_grant {
	const char *user_id;
	const char *reason;
	const char *key;        /* idempotency key; NULL when none */
	const char *currency;
	const char *created_by;
	int64_t amount;         /* micro-units */
	int64_t expires_at;     /* 0 when none */
	int64_t now;
};

/*
 * Grants a credit to the user's account (made when the platform has not
 * reported the user yet).  RESULT_OK with *out the credit and *replayed 1
 * when an earlier grant with the same key and the same terms is answered;
 * RESULT_CONFLICT (param idempotency_key) when the key was used for another
 * credit; else a database failure.
 */
enum result_code credits_grant(struct db *db, const struct credit_grant *g,
    struct credit *out, int *replayed, struct result *r);

/*
 * Applies the account's available credits to invoice_id, earliest expiry
 * first, never expired ones, up to `left` micro-units; *applied is what
 * was taken.  Locks the credits; inside the caller's transaction.  An enum
 * db_rc.
 */
int credits_apply(struct db *db, uint64_t account_id, uint64_t invoice_id,
    int64_t left, const char *now, int64_t *applied);

/* Gives back what was applied to invoice_id (a void).  An enum db_rc. */
int credits_restore(struct db *db, uint64_t invoice_id);

/* An available credit of an account (credits_lock_range). */
struct credits_available {
	uint64_t account_id, credit_id;
	int64_t remaining;
};

/*
 * Locks the available credits of the accounts lo..hi, in account order
 * and then in the order they are to be used, and calls each(arg, c) for
 * every one (0 to go on, -1 to stop with DB_ERROR).  An enum db_rc.
 */
int credits_lock_range(struct db *db, uint64_t lo, uint64_t hi,
    const char *now, int (*each)(void *arg, const struct credits_available *c),
    void *arg);

/* One use of a credit on an invoice. */
struct credits_application {
	uint64_t credit_id, invoice_id;
	int64_t amount;         /* micro-units, whole cents */
};

/* Records n applications (multi-row) and deducts them from their credits.
 * An enum db_rc. */
int credits_apply_many(struct db *db, const struct credits_application *a,
    size_t n, const char *now);

/* A page of a user's credits, newest first (GET credits): the caller sets
 * the first three fields. */
struct credits_page {
	const char *user_id;
	int64_t before;         /* ids below this; 0: from the newest */
	int64_t limit;          /* rows per page (>= 1) */
	/* set by credits_list */
	int more;               /* another page follows */
	int64_t last_id;        /* the cursor of the next page */
};

typedef void (*credits_row_fn)(const struct credit *c, void *arg);

/* Passes each credit of the page to fn(arg), in one query.  RESULT_OK, or
 * a failure in r.  An unknown user has no credits (an empty page). */
enum result_code credits_list(struct db *db, struct credits_page *pg,
    credits_row_fn fn, void *arg, struct result *r);

/* The statement tables, for statements.c. */
extern const struct db_stmts credits_stmts;
extern struct sql_rows credits_rows_applications;

#endif
