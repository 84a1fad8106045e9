/*
 * streamspace: StreamSpace's webhook deliveries (streamspace.h).
 *
 * The delivery's row goes in first: a concurrent copy of the same body
 * waits on its primary key and, once the first commits, finds it and
 * answers "duplicate".  The effect follows in the same transaction, at the
 * delivery's own timestamp; a refusal rolls both back.
 */
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "result.h"
#include "sessions.h"
#include "streamspace.h"
#include "timeutil.h"

/* a refusal: db_transaction rolls back and passes it through */
#define TXN_REFUSED (-100)

enum { SS_RECORD, SS_IGNORED, SS_NSTMTS };

static const struct db_stmt streamspace_sql[SS_NSTMTS] = {
	[SS_RECORD] = { "INSERT INTO billing_streamspace_deliveries "
	    "(body_sha256, event, event_at, received_at, outcome) "
	    "VALUES (?, ?, ?, ?, ?)", 5, 0 },
	[SS_IGNORED] = { "UPDATE billing_streamspace_deliveries "
	    "SET outcome = 'ignored' WHERE body_sha256 = ?", 1, 0 },
};
const struct db_stmts streamspace_stmts = DB_STMTS("streamspace",
    streamspace_sql);

static const struct {
	const char *event;
	enum streamspace_kind kind;
} kinds[] = {
	{ "session.created", STREAMSPACE_SESSION_START },
	{ "session.started", STREAMSPACE_SESSION_START },
	{ "session.hibernated", STREAMSPACE_SESSION_HIBERNATE },
	{ "session.terminated", STREAMSPACE_SESSION_END },
	{ "session.failed", STREAMSPACE_SESSION_END },
	{ "user.created", STREAMSPACE_USER_CREATED },
	{ "user.deleted", STREAMSPACE_USER_DELETED },
};

enum streamspace_kind
streamspace_kind(const char *event)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].event, event) == 0)
			return kinds[i].kind;
	return STREAMSPACE_OTHER;
}

struct apply_txn {
	struct streamspace_delivery *d;
	struct result *r;
};

/* Marks the delivery ignored (its row says so). */
static int
ignore(struct db *db, struct streamspace_delivery *d, const char *reason)
{
	struct db_param p[] = { DBP_STR(d->body_sha256) };

	d->outcome = STREAMSPACE_IGNORED;
	d->reason = reason;
	return db_run(db, &streamspace_stmts, SS_IGNORED, p, 1, NULL, NULL);
}

/* A session outcome: applied, ignored, or a refusal in r (TXN_REFUSED). */
static int
session_result(struct db *db, struct apply_txn *a, int rc,
    enum session_outcome oc)
{
	struct streamspace_delivery *d = a->d;

	if (rc != DB_OK)
		return rc;
	switch (oc) {
	case SESSION_CREATED:
	case SESSION_UPDATED:
	case SESSION_UNCHANGED:
		return DB_OK;
	case SESSION_NOT_FOUND:
		/* bad input, like the hooks' 404: nothing is recorded, so a
		 * delivery sent again once billing knows the session applies */
		result_set(a->r, RESULT_NOT_FOUND, "data.name",
		    "no such session: billing has not seen it start");
		return TXN_REFUSED;
	case SESSION_ENDED:
	case SESSION_CONFLICT_END:
		return ignore(db, d, "the session has ended");
	case SESSION_CONFLICT_USER:
		result_set(a->r, RESULT_CONFLICT, "data.user",
		    "the session belongs to another user");
		return TXN_REFUSED;
	case SESSION_SUSPENDED:
		result_set(a->r, RESULT_SUSPENDED, "data.user",
		    "the account is suspended");
		return TXN_REFUSED;
	case SESSION_CLOSED:
		result_set(a->r, RESULT_CONFLICT, "data.user",
		    "the account is closed (its user was deleted)");
		return TXN_REFUSED;
	case SESSION_BEFORE_START:
	case SESSION_BEFORE_STATE:
		result_set(a->r, RESULT_INVALID, "timestamp",
		    "is before the session's current state began");
		return TXN_REFUSED;
	case SESSION_CONFLICT_EMAIL:
		result_set(a->r, RESULT_CONFLICT, "data.email",
		    "the account has another email");
		return TXN_REFUSED;
	default:
		result_set(a->r, RESULT_CONFLICT, NULL,
		    "the delivery contradicts what is recorded");
		return TXN_REFUSED;
	}
}

/* user.deleted: the account's sessions end at the delivery's timestamp, its
 * volume holds 0 from then on, and it is closed for good (a second one, or
 * one for a user billing does not know, is ignored). */
static int
close_account(struct db *db, struct streamspace_delivery *d)
{
	char at[TIME_TEXT_MAX];
	struct account acct;
	int64_t ended = 0;
	int rc;

	rc = account_find(db, d->user_id, &acct);
	if (rc == DB_NOT_FOUND)
		return ignore(db, d, "unknown user");
	if (rc != DB_OK || (rc = account_lock(db, &acct)) != DB_OK)
		return rc;
	if (strcmp(acct.status, "closed") == 0)
		return ignore(db, d, "the account is closed already");
	if ((rc = session_close_account_in(db, &acct, d->at, &ended)) != DB_OK)
		return rc;
	time_format_db(d->at, at, sizeof(at));
	return account_close(db, acct.id, at);
}

static int
apply_txn(struct db *db, void *arg)
{
	struct apply_txn *a = arg;
	struct streamspace_delivery *d = a->d;
	enum session_outcome oc = SESSION_UNCHANGED;
	char at[TIME_TEXT_MAX], now[TIME_TEXT_MAX];
	struct account acct;
	struct session vol;
	int known, rc;

	d->outcome = STREAMSPACE_APPLIED;
	d->reason = NULL;
	known = d->kind != STREAMSPACE_OTHER;
	time_format_db(d->at, at, sizeof(at));
	time_format_db(d->now, now, sizeof(now));
	struct db_param p[] = { DBP_STR(d->body_sha256), DBP_STR(d->event),
	    DBP_STR(at), DBP_STR(now), DBP_STR(known ? "applied" : "ignored") };
	rc = db_run(db, &streamspace_stmts, SS_RECORD, p, 5, NULL, NULL);
	if (rc == DB_DUPLICATE) {
		d->outcome = STREAMSPACE_DUPLICATE;
		return DB_OK;
	}
	if (rc != DB_OK)
		return rc;
	switch (d->kind) {
	case STREAMSPACE_SESSION_START:
		rc = session_start_in(db, d->session_id, d->user_id, d->at,
		    &d->size, &d->session, &oc);
		if ((rc = session_result(db, a, rc, oc)) != DB_OK ||
		    d->outcome != STREAMSPACE_APPLIED || d->home_storage_gb == 0)
			return rc;
		/* persistentHome: the user's volume (the same size again
		 * changes nothing; an instant before its first report too) */
		rc = session_user_storage_in(db, d->user_id, d->home_storage_gb,
		    d->at, &vol, &oc);
		return rc;
	case STREAMSPACE_SESSION_HIBERNATE:
		rc = session_hibernate_in(db, d->session_id, d->user_id, d->at,
		    &d->session, &oc);
		return session_result(db, a, rc, oc);
	case STREAMSPACE_SESSION_END:
		rc = session_end_in(db, d->session_id, d->user_id, d->at,
		    &d->session, &oc);
		return session_result(db, a, rc, oc);
	case STREAMSPACE_USER_CREATED:
		rc = session_user_created_in(db, d->user_id, d->email, &acct,
		    &oc);
		return session_result(db, a, rc, oc);
	case STREAMSPACE_USER_DELETED:
		return close_account(db, d);
	default:
		d->outcome = STREAMSPACE_IGNORED;
		d->reason = "unhandled event";
		return DB_OK;
	}
}

enum result_code
streamspace_apply(struct db *db, struct streamspace_delivery *d,
    struct result *r)
{
	struct apply_txn a = { d, r };
	int rc;

	result_set(r, RESULT_OK, NULL, "ok");
	rc = db_transaction(db, apply_txn, &a);
	if (rc == TXN_REFUSED)
		return r->code;
	if (rc != DB_OK)
		return result_db(r, rc);
	return RESULT_OK;
}
