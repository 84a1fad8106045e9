/*
 * accounts: lookups and the race-free "find or create".
 */
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "db.h"

#define ACCOUNT_COLUMNS \
	"id, user_id, COALESCE(email, ''), COALESCE(plan_id, ''), " \
	"COALESCE(billing_mode, ''), status, COALESCE(stripe_customer_id, '')"

/* The columns of ACCOUNT_COLUMNS, by position. */
enum {
	ACCOUNT_COL_ID, ACCOUNT_COL_USER_ID, ACCOUNT_COL_EMAIL,
	ACCOUNT_COL_PLAN_ID, ACCOUNT_COL_BILLING_MODE, ACCOUNT_COL_STATUS,
	ACCOUNT_COL_CUSTOMER, ACCOUNT_NCOLS
};

enum {
	ACCOUNT_BY_USER, ACCOUNT_BY_ID, ACCOUNT_SET_CUSTOMER, ACCOUNT_INSERT,
	ACCOUNT_SET_PLAN, ACCOUNT_BY_CUSTOMER, ACCOUNT_LOCK, ACCOUNT_NSTMTS
};

static const struct db_stmt account_sql[ACCOUNT_NSTMTS] = {
	[ACCOUNT_BY_USER] = { "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts "
	    "WHERE user_id = ?", 1, ACCOUNT_NCOLS },
	[ACCOUNT_BY_ID] = { "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts "
	    "WHERE id = ?", 1, ACCOUNT_NCOLS },
	[ACCOUNT_SET_CUSTOMER] = { "UPDATE billing_accounts SET "
	    "stripe_customer_id = ? WHERE id = ? AND stripe_customer_id IS NULL",
	    2, 0 },
	[ACCOUNT_INSERT] = { "INSERT INTO billing_accounts (user_id, email, "
	    "plan_id) VALUES (?, ?, ?)", 3, 0 },
	[ACCOUNT_SET_PLAN] = { "UPDATE billing_accounts SET plan_id = ? "
	    "WHERE id = ?", 2, 0 },
	[ACCOUNT_BY_CUSTOMER] = { "SELECT id FROM billing_accounts "
	    "WHERE stripe_customer_id = ?", 1, 1 },
	[ACCOUNT_LOCK] = { "SELECT id FROM billing_accounts WHERE id = ? "
	    "FOR UPDATE", 1, 1 },
};

const struct db_stmts account_stmts = DB_STMTS("accounts", account_sql);

static int
load(struct db *db, unsigned stmt, const struct db_param *p,
    struct account *out)
{
	struct db_result *res = NULL;
	int64_t id;
	int rc, r;

	if ((rc = db_get(db, &account_stmts, stmt, p, 1, &res)) != DB_OK)
		return rc;
	r = db_fetch(res);
	if (r == 1 && db_col_i64(res, ACCOUNT_COL_ID, &id) == 0) {
		memset(out, 0, sizeof(*out));
		out->id = (uint64_t)id;
		db_col_text(res, ACCOUNT_COL_USER_ID, out->user_id,
		    sizeof(out->user_id));
		db_col_text(res, ACCOUNT_COL_EMAIL, out->email,
		    sizeof(out->email));
		db_col_text(res, ACCOUNT_COL_PLAN_ID, out->plan_id,
		    sizeof(out->plan_id));
		db_col_text(res, ACCOUNT_COL_BILLING_MODE, out->billing_mode,
		    sizeof(out->billing_mode));
		db_col_text(res, ACCOUNT_COL_STATUS, out->status,
		    sizeof(out->status));
		db_col_text(res, ACCOUNT_COL_CUSTOMER, out->stripe_customer_id,
		    sizeof(out->stripe_customer_id));
		rc = DB_OK;
	} else
		rc = r < 0 ? r : DB_NOT_FOUND;
	db_result_free(res);
	return rc;
}

int
account_find(struct db *db, const char *user_id, struct account *out)
{
	struct db_param p[] = { DBP_STR(user_id) };

	return load(db, ACCOUNT_BY_USER, p, out);
}

int
account_get(struct db *db, uint64_t id, struct account *out)
{
	struct db_param p[] = { DBP_INT(id) };

	return load(db, ACCOUNT_BY_ID, p, out);
}

int
account_ensure(struct db *db, const char *user_id, const char *email,
    const char *plan_id, struct account *out, int *created)
{
	uint64_t affected = 0;
	int rc;

	if (created != NULL)
		*created = 0;
	rc = account_find(db, user_id, out);
	if (rc != DB_NOT_FOUND)
		return rc;
	struct db_param p[] = { DBP_STR(user_id),
	    email ? DBP_STR(email) : DBP_NULLV,
	    plan_id ? DBP_STR(plan_id) : DBP_NULLV };
	/* a concurrent creator may win the unique key: then read its row */
	rc = db_run(db, &account_stmts, ACCOUNT_INSERT, p, 3, &affected, NULL);
	if (rc != DB_OK && rc != DB_DUPLICATE)
		return rc;
	if (created != NULL)
		*created = rc == DB_OK && affected == 1;
	return account_find(db, user_id, out);
}

int
account_set_stripe_customer(struct db *db, uint64_t id, const char *customer_id)
{
	struct db_param p[] = { DBP_STR(customer_id), DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SET_CUSTOMER, p, 2, NULL,
	    NULL);
}

int
account_set_plan(struct db *db, uint64_t id, const char *plan_id)
{
	struct db_param p[] = { plan_id != NULL ? DBP_STR(plan_id) : DBP_NULLV,
	    DBP_INT(id) };

	return db_run(db, &account_stmts, ACCOUNT_SET_PLAN, p, 2, NULL, NULL);
}

int
account_find_by_customer(struct db *db, const char *customer,
    struct account *out)
{
	int64_t id;
	int rc;

	if (customer == NULL)
		return DB_NOT_FOUND;
	struct db_param p[] = { DBP_STR(customer) };
	rc = db_get_i64(db, &account_stmts, ACCOUNT_BY_CUSTOMER, p, 1, &id);
	if (rc != DB_OK)
		return rc;
	return account_get(db, (uint64_t)id, out);
}

int
account_lock(struct db *db, struct account *acct)
{
	int64_t id;
	int rc;

	struct db_param p[] = { DBP_INT(acct->id) };
	rc = db_get_i64(db, &account_stmts, ACCOUNT_LOCK, p, 1, &id);
	if (rc != DB_OK)
		return rc;
	return account_get(db, acct->id, acct);
}

const struct plan *
account_plan(const struct billing_config *cfg, const struct account *acct)
{
	const struct plan *p = NULL;

	if (acct != NULL && acct->plan_id[0] != '\0')
		p = config_find_plan(cfg, acct->plan_id);
	if (p == NULL && cfg->default_plan != NULL)
		p = config_find_plan(cfg, cfg->default_plan);
	return p;
}

enum billing_mode
account_mode(const struct billing_config *cfg, const struct account *acct)
{
	if (acct != NULL) {
		if (strcmp(acct->billing_mode, "usage") == 0)
			return MODE_USAGE;
		if (strcmp(acct->billing_mode, "subscription") == 0)
			return MODE_SUBSCRIPTION;
		if (strcmp(acct->billing_mode, "hybrid") == 0)
			return MODE_HYBRID;
	}
	return cfg->billing_mode;
}

/* 1 when s holds well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static int
utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned c = *s++, n, cp, min;

		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return 0;
		while (n-- > 0) {
			if ((*s & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (*s++ & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

int
account_user_id_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) < 1 || n > ACCOUNT_USER_ID_MAX)
		return 0;
	/* ids are compared byte for byte: blanks around one are a mistake */
	if (s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return utf8_valid((const unsigned char *)s - n);
}
