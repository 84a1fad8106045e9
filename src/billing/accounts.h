/*
 * accounts: one row per platform user (billing_accounts).  Every other table
 * points at an account by its integer id; the user id string lives here once.
 */
#ifndef BILLING_ACCOUNTS_H
#define BILLING_ACCOUNTS_H

#include <stdint.h>

#include "config.h"

struct db;
struct db_stmts;

#define ACCOUNT_USER_ID_MAX 255

struct account {
	uint64_t id;
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	char email[321];           /* "" when unknown */
	char plan_id[65];          /* "" when none: the default plan applies */
	char billing_mode[16];     /* "" when none: the config's billingMode applies */
	char status[16];           /* active, suspended, closed */
	char stripe_customer_id[256];
};

/* Loads the account of user_id into *out.  DB_OK, DB_NOT_FOUND or an error. */
int account_find(struct db *db, const char *user_id, struct account *out);

/* Loads the account with this id.  DB_OK, DB_NOT_FOUND or an error. */
int account_get(struct db *db, uint64_t id, struct account *out);

/*
 * Finds the account of user_id or creates it (email and plan_id may be NULL).
 * Safe against concurrent creators: the unique key on user_id decides, and
 * the loser reads the winner's row.  *created (may be NULL) is 1 when this
 * call made the row.  Works inside or outside a transaction.
 */
int account_ensure(struct db *db, const char *user_id, const char *email,
    const char *plan_id, struct account *out, int *created);

/* The plan that applies to the account (its own, else the config's default);
 * NULL when there is none.  Borrowed from cfg. */
const struct plan *account_plan(const struct billing_config *cfg,
    const struct account *acct);

/* The billing mode that applies to the account. */
enum billing_mode account_mode(const struct billing_config *cfg,
    const struct account *acct);

/*
 * Stores the account's Stripe customer id unless it has one already (the
 * first writer wins; the unique key keeps two accounts from sharing one).
 * Returns DB_OK (the caller re-reads the account to see which id stayed),
 * or an error.
 */
int account_set_stripe_customer(struct db *db, uint64_t id,
    const char *customer_id);

/* Sets the account's own plan (NULL: none, the default plan applies).  The
 * one writer of billing_accounts.plan_id.  DB_OK or an error. */
int account_set_plan(struct db *db, uint64_t id, const char *plan_id);

/* The account of a Stripe customer (NULL finds nothing).  DB_OK,
 * DB_NOT_FOUND or an error. */
int account_find_by_customer(struct db *db, const char *customer,
    struct account *out);

/* Locks the account's row until the transaction ends (SELECT ... FOR
 * UPDATE) and reloads *acct.  DB_OK or an error. */
int account_lock(struct db *db, struct account *acct);

/* The statement table of accounts.c (statements.c registers it). */
extern const struct db_stmts account_stmts;

/* 1 when s is a valid user id: 1-255 bytes of UTF-8, no control
 * characters, no blank at either end. */
int account_user_id_valid(const char *s);

#endif
