/*
 * account_details: billing details set by an admin, audited.
 *
 * The change runs in one transaction: the account row locked, the new
 * values stored (accounts.c, the writer of billing_accounts) and one row of
 * billing_account_changes per field that changed, naming who (the token's
 * subject), the old and the new value (NULL for none) and when.  A failure
 * anywhere rolls back the whole change: nothing is half-set or unaudited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_details.h"
#include "accounts.h"
#include "db.h"
#include "timeutil.h"

enum { DETAILS_CHANGE_INSERT, DETAILS_CHANGES, DETAILS_NSTMTS };
enum { CH_FIELD, CH_OLD, CH_NEW, CH_BY, CH_AT, CH_NCOLS };
static const struct db_stmt details_sql[DETAILS_NSTMTS] = {
	[DETAILS_CHANGE_INSERT] = { "INSERT INTO billing_account_changes "
	    "(account_id, changed_by, field, old_value, new_value, changed_at) "
	    "VALUES (?, ?, ?, ?, ?, ?)", 6, 0 },
	[DETAILS_CHANGES] = { "SELECT field, old_value, new_value, changed_by, "
	    "changed_at FROM billing_account_changes WHERE account_id = ? "
	    "ORDER BY id DESC LIMIT 100", 1, CH_NCOLS },
};
const struct db_stmts account_details_stmts = DB_STMTS("account_details",
    details_sql);

static const char *const field_names[ACCOUNT_FIELD_COUNT] = {
	"billing_name", "billing_address", "country", "tax_id", "tax_rate_id",
	"tax_exempt", "billing_mode", "email_opt_out",
};

const char *
account_details_field_name(enum account_field f)
{
	return (unsigned)f < ACCOUNT_FIELD_COUNT ? field_names[f] : "";
}

/* Field f of b as the audit trail writes it: text ("" for none), the
 * address's lines joined by "\n", tax_exempt and email_opt_out "true" or "false". */
static void
field_text(const struct account_billing *b, enum account_field f, char *buf,
    size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	switch (f) {
	case ACCOUNT_FIELD_BILLING_NAME:
		snprintf(buf, size, "%s", b->name);
		break;
	case ACCOUNT_FIELD_BILLING_ADDRESS:
		for (i = 0; i < b->naddress && n < size; i++)
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
			    i > 0 ? "\n" : "", b->address[i]);
		break;
	case ACCOUNT_FIELD_COUNTRY:
		snprintf(buf, size, "%s", b->country);
		break;
	case ACCOUNT_FIELD_TAX_ID:
		snprintf(buf, size, "%s", b->tax_id);
		break;
	case ACCOUNT_FIELD_TAX_RATE_ID:
		snprintf(buf, size, "%s", b->tax_rate_id);
		break;
	case ACCOUNT_FIELD_TAX_EXEMPT:
		snprintf(buf, size, "%s", b->tax_exempt ? "true" : "false");
		break;
	case ACCOUNT_FIELD_BILLING_MODE:
		snprintf(buf, size, "%s", b->billing_mode);
		break;
	case ACCOUNT_FIELD_EMAIL_OPT_OUT:
		snprintf(buf, size, "%s", b->email_opt_out ? "true" : "false");
		break;
	case ACCOUNT_FIELD_COUNT:
		break;
	}
}

/* Copies field f of from into to. */
static void
field_copy(struct account_billing *to, const struct account_billing *from,
    enum account_field f)
{
	switch (f) {
	case ACCOUNT_FIELD_BILLING_NAME:
		memcpy(to->name, from->name, sizeof(to->name));
		break;
	case ACCOUNT_FIELD_BILLING_ADDRESS:
		memcpy(to->address, from->address, sizeof(to->address));
		to->naddress = from->naddress;
		break;
	case ACCOUNT_FIELD_COUNTRY:
		memcpy(to->country, from->country, sizeof(to->country));
		break;
	case ACCOUNT_FIELD_TAX_ID:
		memcpy(to->tax_id, from->tax_id, sizeof(to->tax_id));
		break;
	case ACCOUNT_FIELD_TAX_RATE_ID:
		memcpy(to->tax_rate_id, from->tax_rate_id,
		    sizeof(to->tax_rate_id));
		break;
	case ACCOUNT_FIELD_TAX_EXEMPT:
		to->tax_exempt = from->tax_exempt;
		break;
	case ACCOUNT_FIELD_BILLING_MODE:
		memcpy(to->billing_mode, from->billing_mode,
		    sizeof(to->billing_mode));
		break;
	case ACCOUNT_FIELD_EMAIL_OPT_OUT:
		to->email_opt_out = from->email_opt_out;
		break;
	case ACCOUNT_FIELD_COUNT:
		break;
	}
}

struct update {
	const char *actor;
	const struct account_details_patch *p;
	uint64_t account_id;
	int64_t now;
	unsigned changed;
	struct account_tz_change tz;   /* tz.zone NULL: no zone given */
};

/* The zone first (it may refuse: nothing is written then), audited like
 * the other fields. */
static int
update_zone(struct db *db, struct update *u, const char *when)
{
	int rc;

	if ((rc = account_timezone_txn(db, &u->tz)) != DB_OK ||
	    u->tz.code != RESULT_OK || !u->tz.changed)
		return rc;
	struct db_param q[] = { DBP_INT(u->account_id), DBP_STR(u->actor),
	    DBP_STR("timezone"), DBP_STR(u->tz.old_zone),
	    DBP_STR(u->tz.zone), DBP_STR(when) };
	if ((rc = db_run(db, &account_details_stmts, DETAILS_CHANGE_INSERT, q,
	    6, NULL, NULL)) == DB_OK)
		u->changed++;
	return rc;
}

static int
update_txn(struct db *db, void *arg)
{
	struct update *u = arg;
	struct account_billing old, cur;
	char a[ACCOUNT_CHANGE_TEXT + 1], b[ACCOUNT_CHANGE_TEXT + 1];
	char when[TIME_TEXT_MAX];
	unsigned f;
	int rc;

	u->changed = 0;
	time_format_db(u->now, when, sizeof(when));
	if (u->tz.zone != NULL && ((rc = update_zone(db, u, when)) != DB_OK ||
	    u->tz.code != RESULT_OK))
		return rc;
	if ((rc = account_billing_get(db, u->account_id, 1, &old)) != DB_OK)
		return rc;
	cur = old;
	for (f = 0; f < ACCOUNT_FIELD_COUNT; f++)
		if (u->p->given & (1u << f))
			field_copy(&cur, &u->p->v, (enum account_field)f);
	for (f = 0; f < ACCOUNT_FIELD_COUNT; f++) {
		if (!(u->p->given & (1u << f)))
			continue;
		field_text(&old, (enum account_field)f, a, sizeof(a));
		field_text(&cur, (enum account_field)f, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		struct db_param q[] = { DBP_INT(u->account_id),
		    DBP_STR(u->actor), DBP_STR(field_names[f]),
		    a[0] != '\0' ? DBP_STR(a) : DBP_NULLV,
		    b[0] != '\0' ? DBP_STR(b) : DBP_NULLV, DBP_STR(when) };
		if ((rc = db_run(db, &account_details_stmts,
		    DETAILS_CHANGE_INSERT, q, 6, NULL, NULL)) != DB_OK)
			return rc;
		u->changed++;
	}
	if (memcmp(&old, &cur, sizeof(old)) == 0)
		return DB_OK;
	return account_billing_store(db, u->account_id, &cur);
}

enum result_code
account_details_update(struct db *db, const struct billing_config *cfg,
    const char *user_id, const char *actor,
    const struct account_details_patch *p, const char *zone, int64_t now,
    unsigned *changed, struct result *r)
{
	struct account acct;
	struct update u;
	int rc;

	if ((rc = account_find(db, user_id, &acct)) == DB_NOT_FOUND)
		return result_set(r, RESULT_NOT_FOUND, "user_id",
		    "no such user");
	if (rc != DB_OK)
		return result_db(r, rc);
	memset(&u, 0, sizeof(u));
	u.actor = actor;
	u.p = p;
	u.account_id = acct.id;
	u.now = now;
	u.tz.cfg = cfg;
	u.tz.user_id = user_id;
	u.tz.zone = zone;
	u.tz.now = now;
	u.tz.r = r;
	if ((rc = db_transaction(db, update_txn, &u)) != DB_OK)
		return result_db(r, rc);
	if (u.tz.code != RESULT_OK)
		return u.tz.code;
	if (changed != NULL)
		*changed = u.changed;
	return RESULT_OK;
}

static int
load_changes(struct db *db, uint64_t account_id, struct account_details *d)
{
	struct db_result *res = NULL;
	struct account_change *c;
	int rc, f;

	struct db_param p[] = { DBP_INT(account_id) };
	if ((rc = db_get(db, &account_details_stmts, DETAILS_CHANGES, p, 1,
	    &res)) != DB_OK)
		return rc;
	if ((d->changes = calloc(ACCOUNT_CHANGES_SHOWN,
	    sizeof(*d->changes))) == NULL) {
		db_result_free(res);
		return DB_ERROR;
	}
	while ((f = db_fetch(res)) == 1 && d->nchanges < ACCOUNT_CHANGES_SHOWN) {
		c = &d->changes[d->nchanges++];
		db_col_text(res, CH_FIELD, c->field, sizeof(c->field));
		c->has_old = db_col(res, CH_OLD, NULL) != NULL;
		c->has_new = db_col(res, CH_NEW, NULL) != NULL;
		db_col_text(res, CH_OLD, c->old_value, sizeof(c->old_value));
		db_col_text(res, CH_NEW, c->new_value, sizeof(c->new_value));
		db_col_text(res, CH_BY, c->changed_by, sizeof(c->changed_by));
		if (db_col_time(res, CH_AT, &c->changed_at) != 0)
			f = DB_ERROR;
	}
	db_result_free(res);
	return f < 0 ? f : DB_OK;
}

enum result_code
account_details_get(struct db *db, const char *user_id,
    struct account_details *out, struct result *r)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = account_find(db, user_id, &out->account)) == DB_NOT_FOUND)
		return result_set(r, RESULT_NOT_FOUND, "user_id",
		    "no such user");
	if (rc != DB_OK ||
	    (rc = account_billing_get(db, out->account.id, 0,
	    &out->billing)) != DB_OK ||
	    (rc = load_changes(db, out->account.id, out)) != DB_OK) {
		account_details_free(out);
		return result_db(r, rc);
	}
	return RESULT_OK;
}

void
account_details_free(struct account_details *d)
{
	if (d == NULL)
		return;
	free(d->changes);
	d->changes = NULL;
	d->nchanges = 0;
}
