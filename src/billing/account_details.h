/*
 * account_details: an account's billing details as an admin sets them
 * (PATCH admin/users/{user_id}) and their audit trail,
 * billing_account_changes (this module is its one writer; the details'
 * columns of billing_accounts are written through accounts.c).
 */
#ifndef BILLING_ACCOUNT_DETAILS_H
#define BILLING_ACCOUNT_DETAILS_H

#include <stddef.h>
#include <stdint.h>

#include "accounts.h"
#include "result.h"

struct db;
struct db_stmts;

/* The fields a change may name, in the order they are audited. */
enum account_field {
	ACCOUNT_FIELD_BILLING_NAME,
	ACCOUNT_FIELD_BILLING_ADDRESS,
	ACCOUNT_FIELD_COUNTRY,
	ACCOUNT_FIELD_TAX_ID,
	ACCOUNT_FIELD_TAX_RATE_ID,
	ACCOUNT_FIELD_TAX_EXEMPT,
	ACCOUNT_FIELD_BILLING_MODE,
	ACCOUNT_FIELD_EMAIL_OPT_OUT,
	ACCOUNT_FIELD_COUNT
};

/* The field's name in the API and the audit trail ("billing_name"). */
const char *account_details_field_name(enum account_field f);

/* A change: the fields given (bit 1u << field) and their values (validated
 * by the caller; "" clears a text field). */
struct account_details_patch {
	unsigned given;
	struct account_billing v;
};

#define ACCOUNT_CHANGE_TEXT (ACCOUNT_ADDRESS_LINES * (ACCOUNT_TEXT_MAX + 1))

struct account_change {
	char field[32];
	char old_value[ACCOUNT_CHANGE_TEXT + 1];   /* "" with has_old 0: none */
	char new_value[ACCOUNT_CHANGE_TEXT + 1];
	int has_old, has_new;
	char changed_by[256];
	int64_t changed_at;
};

/* The newest changes GET admin/users/{user_id} shows. */
#define ACCOUNT_CHANGES_SHOWN 100

struct account_details {
	struct account account;
	struct account_billing billing;
	struct account_change *changes;   /* newest first; owned */
	size_t nchanges;
};

/*
 * Applies p to the account of user_id in one transaction: locks the row,
 * stores the fields given, and writes one billing_account_changes row per
 * field whose value changes (by `actor`, at now); a field given with its
 * current value changes nothing.  zone (NULL: not given; tz_valid) changes
 * the time zone first, in the same transaction (account_timezone_txn: from
 * the next period; RESULT_CONFLICT while an earlier change is not yet
 * invoiced, and then nothing is changed), audited as "timezone".
 * RESULT_OK with *changed (may be NULL) the
 * number of fields changed; RESULT_NOT_FOUND (user_id) for no account.
 */
enum result_code account_details_update(struct db *db,
    const struct billing_config *cfg, const char *user_id, const char *actor,
    const struct account_details_patch *p, const char *zone, int64_t now,
    unsigned *changed, struct result *r);

/* The account of user_id, its billing details and its newest changes
 * (newest first).  RESULT_OK, RESULT_NOT_FOUND (user_id).  Free with
 * account_details_free. */
enum result_code account_details_get(struct db *db, const char *user_id,
    struct account_details *out, struct result *r);
void account_details_free(struct account_details *d);

/* The statement table (statements.c). */
extern const struct db_stmts account_details_stmts;

#endif
