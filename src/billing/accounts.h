/*
 * accounts: one row per platform user (billing_accounts).  Every other table
 * points at an account by its integer id; the user id string lives here once.
 */
#ifndef BILLING_ACCOUNTS_H
#define BILLING_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "period.h"
#include "result.h"

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
	struct period_zone zone;   /* its time zone, and the one before a
	                            * change ("" when none: UTC) */
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

/* A time-zone change inside a caller's transaction (account_timezone_txn). */
struct account_tz_change {
	const struct billing_config *cfg;
	const char *user_id, *zone;   /* zone: tz_valid, checked by the caller */
	int64_t now;
	struct result *r;
	enum result_code code;        /* out: RESULT_OK, NOT_FOUND, CONFLICT */
	char old_zone[65];            /* out: the zone before ("UTC" for none) */
	int changed;                  /* out: 1 when the row was changed */
};

/* account_set_timezone's work in the caller's transaction (locks the row):
 * DB_OK with c->code saying what happened, or a database error. */
int account_timezone_txn(struct db *db, struct account_tz_change *c);

/*
 * Sets the account's time zone (tz_valid, else RESULT_INVALID naming
 * "timezone") as of `now`: it applies from the account's next period (the
 * current one ends as it would have); a change not yet in effect is
 * replaced (or undone by naming the zone before it); RESULT_CONFLICT while
 * an earlier change is in effect but its periods are not all invoiced yet;
 * RESULT_NOT_FOUND for an unknown user.  Reloads *out.
 */
enum result_code account_set_timezone(struct db *db,
    const struct billing_config *cfg, const char *user_id, const char *zone,
    int64_t now, struct account *out, struct result *r);

/* The statement table of accounts.c and its multi-row statement
 * (statements.c registers them). */
struct sql_rows;
extern const struct db_stmts account_stmts;
extern struct sql_rows account_advance_rows;
extern const struct db_stmts account_tz_stmts;

/*
 * The account's status, grace period and invoicing watermark.  accounts.c
 * is the one writer of billing_accounts: the quotas job, the Stripe
 * webhooks and the invoice module call these inside their own transaction
 * (the caller takes whatever row locks it needs first).  Times are the
 * database's text (time_format_db).  Each returns DB_OK or an error.
 */

/* status 'suspended' since `when`, for `reason` (overage, payment_failed) */
int account_suspend(struct db *db, uint64_t id, const char *when,
    const char *reason);

/* status 'active' again, the suspension's time and reason cleared */
int account_resume(struct db *db, uint64_t id);

/* status 'closed' for good since `when` (the platform deleted the user;
 * closed_at, set once): suspend and resume leave a closed account as it
 * is, and the invoice run bills it no plan fee for a later period. */
int account_close(struct db *db, uint64_t id, const char *when);

/* The platform was told the account's status: platform_status = status,
 * unless the status changed meanwhile. */
int account_mark_notified(struct db *db, uint64_t id, const char *status);

/* A payment failed: the grace period starts at `since` unless it started
 * already (payment_failed_at is never moved forward). */
int account_set_payment_failed(struct db *db, uint64_t id,
    const char *since);

/* A payment succeeded: no grace period runs (payment_failed_at NULL). */
int account_clear_payment_failed(struct db *db, uint64_t id);

/* billed_through = through (NULL: never invoiced). */
int account_set_billed_through(struct db *db, uint64_t id,
    const char *through);

/* billed_through = through for the n accounts of ids (the invoice run's
 * batch): one statement per chunk of up to SQL_ROWS_MAX ids. */
int account_advance_billed_through(struct db *db, const uint64_t *ids,
    size_t n, const char *through);

/* 1 when s is a valid user id: 1-255 bytes of UTF-8, no control
 * characters, no blank at either end. */
int account_user_id_valid(const char *s);

/* --- the admin listing (GET admin/users) ------------------------------- */

/* An account with its figures of the current billing period. */
struct account_row {
	struct account account;
	int64_t created_at;
	int64_t period_cost;     /* from the daily totals */
	int64_t outstanding;     /* invoices sent or overdue */
	int64_t credits;         /* unexpired credits */
	int64_t sessions;        /* open sessions */
};

#define ACCOUNT_Q_MAX 255        /* bytes of a search prefix */

/* One page of the listing: the caller sets the fields down to existed. */
struct account_page {
	int64_t limit;           /* rows per page */
	int64_t after_id;        /* 0: from the start */
	const char *status;      /* "" for every status */
	const char *q;           /* "": all; else a prefix of user_id or email */
	int64_t now;
	/* the period of the figures, whole UTC days; both 0: account_list
	 * sets the billing period containing now */
	int64_t period_from, period_to;
	int existed;             /* 1: only accounts created before period_to */
	/* set by account_list */
	int more;                /* another page follows */
	int64_t last_id;         /* the cursor of the next page */
};

typedef void (*account_row_fn)(const struct account_row *row, void *arg);

/*
 * The accounts after pg->after_id in id order, pg->limit of them, each
 * passed to fn(arg): one query per page, whatever its size.  RESULT_OK,
 * or a failure in r.
 */
enum result_code account_list(struct db *db, const struct billing_config *cfg,
    struct account_page *pg, account_row_fn fn, void *arg, struct result *r);

/* GET admin/summary: totals over every account.  The caller sets from and
 * to (whole UTC days). */
struct account_summary {
	int64_t from, to;
	int64_t usage_cost;      /* the daily totals of [from, to) */
	int64_t owed_count, owed;        /* invoices sent or overdue */
	int64_t overdue_count, overdue;  /* of which overdue */
	int64_t active, suspended, closed;  /* accounts by status */
};
enum result_code account_summary(struct db *db, struct account_summary *out,
    struct result *r);

/* The listing's statements (statements.c). */
struct db_stmts;
extern const struct db_stmts account_list_stmts;

/* --- contact details given by the platform ------------------------------ */

enum account_fill { ACCOUNT_FILL_UNCHANGED, ACCOUNT_FILL_FILLED,
    ACCOUNT_FILL_CONFLICT_EMAIL, ACCOUNT_FILL_CONFLICT_PLAN };

/*
 * Inside a transaction: locks account id and compares the email and
 * plan_id given (either may be NULL: not given) with the stored ones.  A
 * stored one that differs is a conflict (email first) and nothing is
 * written; one the account lacks is filled in; never overwritten.  DB_OK
 * with *out, or an error.
 */
int account_fill_contact(struct db *db, uint64_t id, const char *email,
    const char *plan_id, enum account_fill *out);

/* Those statements (statements.c). */
extern const struct db_stmts account_contact_stmts;

/* --- billing details set by an admin (account_details.c runs the change) */

#define ACCOUNT_TEXT_MAX 200     /* bytes of UTF-8: a name, an address line */
#define ACCOUNT_ADDRESS_LINES 6
#define ACCOUNT_TAX_ID_MAX 64

/* "" (0 for tax_exempt and email_opt_out) when unset. */
struct account_billing {
	char name[ACCOUNT_TEXT_MAX + 1];
	char address[ACCOUNT_ADDRESS_LINES][ACCOUNT_TEXT_MAX + 1];
	size_t naddress;
	char country[3];               /* ISO 3166-1 alpha-2 */
	char tax_id[ACCOUNT_TAX_ID_MAX + 1];
	char tax_rate_id[65];          /* "": the config's defaultTaxRate */
	int tax_exempt;
	char billing_mode[16];         /* "": the config's billingMode */
	struct period_zone zone;       /* read only here: its time zone (the
	                                  PDFs' dates); account_set_timezone
	                                  writes it */
	int email_opt_out;             /* 1: no email (docs/email.md) */
};

/* The billing details of account id; with lock, the row stays locked until
 * the transaction ends.  DB_OK, DB_NOT_FOUND or an error. */
int account_billing_get(struct db *db, uint64_t id, int lock,
    struct account_billing *out);

/* Stores them (the one writer of those columns).  DB_OK or an error. */
int account_billing_store(struct db *db, uint64_t id,
    const struct account_billing *b);

/* Those statements (statements.c). */
extern const struct db_stmts account_billing_stmts;

#endif
