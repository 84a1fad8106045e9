/*
 * accounts: lookups and the race-free "find or create".
 */
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "utf8.h"

#define ACCOUNT_COLUMNS \
	"id, user_id, COALESCE(email, ''), COALESCE(plan_id, ''), " \
	"COALESCE(billing_mode, ''), status, COALESCE(stripe_customer_id, '')"

static const char SQL_BY_USER[] =
    "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts WHERE user_id = ?";
static const char SQL_BY_ID[] =
    "SELECT " ACCOUNT_COLUMNS " FROM billing_accounts WHERE id = ?";
static const char SQL_SET_CUSTOMER[] =
    "UPDATE billing_accounts SET stripe_customer_id = ? "
    "WHERE id = ? AND stripe_customer_id IS NULL";
static const char SQL_INSERT[] =
    "INSERT INTO billing_accounts (user_id, email, plan_id) VALUES (?, ?, ?)";

static int
load(struct db *db, const char *sql, const struct db_param *p,
    struct account *out)
{
	struct db_result *res = NULL;
	int64_t id;
	int rc, r;

	if ((rc = db_query(db, sql, p, 1, &res)) != DB_OK)
		return rc;
	r = db_fetch(res);
	if (r == 1 && db_col_i64(res, 0, &id) == 0) {
		memset(out, 0, sizeof(*out));
		out->id = (uint64_t)id;
		db_col_text(res, 1, out->user_id, sizeof(out->user_id));
		db_col_text(res, 2, out->email, sizeof(out->email));
		db_col_text(res, 3, out->plan_id, sizeof(out->plan_id));
		db_col_text(res, 4, out->billing_mode, sizeof(out->billing_mode));
		db_col_text(res, 5, out->status, sizeof(out->status));
		db_col_text(res, 6, out->stripe_customer_id,
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

	return load(db, SQL_BY_USER, p, out);
}

int
account_get(struct db *db, uint64_t id, struct account *out)
{
	struct db_param p[] = { DBP_INT(id) };

	return load(db, SQL_BY_ID, p, out);
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
	rc = db_exec(db, SQL_INSERT, p, 3, &affected, NULL);
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

	return db_exec(db, SQL_SET_CUSTOMER, p, 2, NULL, NULL);
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
	return utf8_valid(s - n);
}
