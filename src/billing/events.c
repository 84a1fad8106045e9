/*
 * events: the outbox (billing_events): writing it, recording its delivery
 * state, and reading it a page at a time for admin/events.  The delivery
 * loop is dispatch.c, which calls the event_lease ... event_release below.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "accounts.h"
#include "db.h"
#include "events.h"
#include "result.h"
#include "sql_rows.h"
#include "timeutil.h"

enum { EVENTS_INSERT, EVENTS_PAGE, EVENTS_LEASE, EVENTS_DELIVERED,
    EVENTS_RETRY, EVENTS_FAILED, EVENTS_RELEASE, EVENTS_EMAILS_QUEUED,
    EVENTS_NSTMTS,
    EVENTS_INSERT_ROWS = EVENTS_NSTMTS };

/* the columns of EVENTS_PAGE */
enum { PAGE_COL_ID, PAGE_COL_EVENT_ID, PAGE_COL_TYPE, PAGE_COL_USER,
    PAGE_COL_STATUS, PAGE_COL_ATTEMPTS, PAGE_COL_NEXT, PAGE_COL_ERROR,
    PAGE_COL_CREATED, PAGE_COL_DELIVERED, PAGE_COL_PAYLOAD,
    PAGE_COL_MAIL_STATUS, PAGE_COL_MAIL_TO, PAGE_COL_MAIL_ATTEMPTS,
    PAGE_COL_MAIL_NEXT, PAGE_COL_MAIL_ERROR, PAGE_COL_MAIL_REPLY,
    PAGE_COL_MAIL_ID, PAGE_COL_MAIL_SENT, PAGE_COL_MAIL_SKIP, PAGE_NCOLS };

static const struct db_stmt events_sql[EVENTS_NSTMTS] = {
	[EVENTS_INSERT] = {
	    "INSERT INTO billing_events (event_id, type, account_id, "
	    "dedupe_key, payload, next_attempt_at, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)", 7, 0 },
	/* newest first, after the cursor, by the filters ('' and 0: any) */
	[EVENTS_PAGE] = {
	    "SELECT e.id, e.event_id, e.type, a.user_id, e.status, e.attempts, "
	    "e.next_attempt_at, e.last_error, e.created_at, e.delivered_at, "
	    "e.payload, m.status, m.recipient, m.attempts, m.next_attempt_at, "
	    "m.last_error, m.relay_reply, m.message_id, m.sent_at, "
	    "m.skip_reason FROM billing_events e "
	    "LEFT JOIN billing_accounts a ON a.id = e.account_id "
	    "LEFT JOIN billing_emails m ON m.event_ref = e.id "
	    "WHERE (? = 0 OR e.id < ?) AND (? = '' OR e.status = ?) "
	    "AND (? = '' OR e.type = ?) AND (? = 0 OR e.account_id = ?) "
	    "ORDER BY e.id DESC LIMIT ?", 9, PAGE_NCOLS },
	/* delivery (dispatch.c) */
	[EVENTS_LEASE] = {
	    "UPDATE billing_events SET next_attempt_at = ? WHERE id = ?", 2, 0 },
	[EVENTS_DELIVERED] = {
	    "UPDATE billing_events SET status = 'delivered', "
	    "attempts = attempts + 1, delivered_at = ?, last_error = NULL "
	    "WHERE id = ? AND status = 'pending'", 2, 0 },
	[EVENTS_RETRY] = {
	    "UPDATE billing_events SET attempts = attempts + 1, "
	    "next_attempt_at = ?, last_error = ? "
	    "WHERE id = ? AND status = 'pending'", 3, 0 },
	[EVENTS_FAILED] = {
	    "UPDATE billing_events SET status = 'failed', "
	    "attempts = attempts + 1, last_error = ? "
	    "WHERE id = ? AND status = 'pending'", 2, 0 },
	[EVENTS_RELEASE] = {
	    "UPDATE billing_events SET next_attempt_at = ? WHERE id = ? "
	    "AND status = 'pending'", 2, 0 },
	/* the email step (emails.c) has looked at it */
	[EVENTS_EMAILS_QUEUED] = {
	    "UPDATE billing_events SET emails_queued = 1 WHERE id = ?", 1, 0 },
};

const struct db_stmts events_stmts = DB_STMTS("events", events_sql);

struct sql_rows events_insert_rows = SQL_ROWS_STMT("events",
    EVENTS_INSERT_ROWS, 0,
    "INSERT INTO billing_events (event_id, type, account_id, dedupe_key, "
    "payload, next_attempt_at, created_at) VALUES ", "(?,?,?,?,?,?,?)", "");

#define EVENT_ID_MAX (4 + 24 + 1)

/* A fresh event id and the envelope receivers get (new reference). */
static struct json_object *
envelope(const char *type, struct json_object *data, int64_t now, char *id)
{
	unsigned char raw[12];
	struct json_object *env;
	size_t i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	strcpy(id, "evt_");
	for (i = 0; i < sizeof(raw); i++)
		snprintf(id + 4 + 2 * i, 3, "%02x", raw[i]);
	env = json_object_new_object();
	json_object_object_add(env, "id", json_object_new_string(id));
	json_object_object_add(env, "type", json_object_new_string(type));
	json_object_object_add(env, "created",
	    json_object_new_int64(now / USEC_PER_SEC));
	json_object_object_add(env, "data", json_object_get(data));
	return env;
}

static const char *
payload_of(struct json_object *env)
{
	return json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

int
event_emit(struct db *db, const char *type, uint64_t account_id,
    const char *dedupe_key, struct json_object *data, int64_t now)
{
	char id[EVENT_ID_MAX], when[TIME_TEXT_MAX];
	struct json_object *env;
	const char *payload;
	int rc;

	if ((env = envelope(type, data, now, id)) == NULL)
		return DB_ERROR;
	payload = payload_of(env);
	time_format_db(now, when, sizeof(when));
	struct db_param p[] = { DBP_STR(id), DBP_STR(type),
	    account_id ? DBP_INT(account_id) : DBP_NULLV,
	    dedupe_key ? DBP_STR(dedupe_key) : DBP_NULLV, DBP_STR(payload),
	    DBP_STR(when), DBP_STR(when) };
	rc = db_run(db, &events_stmts, EVENTS_INSERT, p, 7, NULL, NULL);
	json_object_put(env);
	/* the same cause again: the event is already queued */
	return rc == DB_DUPLICATE && dedupe_key != NULL ? DB_OK : rc;
}

int
event_emit_many(struct db *db, const struct event_spec *ev, size_t n,
    int64_t now)
{
	static struct db_param p[64 * 7];
	struct json_object *env[64];
	char id[64][EVENT_ID_MAX], when[TIME_TEXT_MAX];
	size_t done = 0, k, i, j;
	int rc = DB_OK;

	time_format_db(now, when, sizeof(when));
	/* 64 rows at most: the payloads are a few hundred bytes each */
	while (done < n && rc == DB_OK) {
		k = sql_rows_chunk(n - done < 64 ? n - done : 64);
		for (i = 0, j = 0; i < k; i++) {
			const struct event_spec *e = &ev[done + i];

			if ((env[i] = envelope(e->type, e->data, now, id[i])) == NULL) {
				while (i-- > 0)
					json_object_put(env[i]);
				return DB_ERROR;
			}
			p[j++] = DBP_STR(id[i]);
			p[j++] = DBP_STR(e->type);
			p[j++] = e->account_id ? DBP_INT(e->account_id) : DBP_NULLV;
			p[j++] = e->dedupe_key ? DBP_STR(e->dedupe_key) : DBP_NULLV;
			p[j++] = DBP_STR(payload_of(env[i]));
			p[j++] = DBP_STR(when);
			p[j++] = DBP_STR(when);
		}
		rc = db_run_rows(db, &events_insert_rows, k, p, j, NULL, NULL);
		for (i = 0; i < k; i++)
			json_object_put(env[i]);
		done += k;
	}
	return rc;
}

/* A column as borrowed text (NULL for SQL NULL). */
static const char *
col_text(const struct db_result *res, size_t col, size_t *len)
{
	*len = 0;
	return db_col(res, col, len);
}

/* One row of EVENTS_PAGE into *ev.  DB_OK, or DB_ERROR when unreadable. */
static int
read_row(const struct db_result *res, struct event_row *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->status = db_col(res, PAGE_COL_STATUS, NULL);
	if (db_col_i64(res, PAGE_COL_ID, &ev->id) != 0 || ev->status == NULL ||
	    db_col_i64(res, PAGE_COL_ATTEMPTS, &ev->attempts) != 0)
		return DB_ERROR;
	ev->event_id = col_text(res, PAGE_COL_EVENT_ID, &ev->event_id_len);
	ev->type = col_text(res, PAGE_COL_TYPE, &ev->type_len);
	ev->user_id = col_text(res, PAGE_COL_USER, &ev->user_id_len);
	ev->last_error = col_text(res, PAGE_COL_ERROR, &ev->last_error_len);
	ev->payload = col_text(res, PAGE_COL_PAYLOAD, &ev->payload_len);
	/* the next attempt is only a fact of a pending event */
	if ((strcmp(ev->status, "pending") == 0 &&
	    db_col_time(res, PAGE_COL_NEXT, &ev->next_attempt_at) != 0) ||
	    db_col_time(res, PAGE_COL_CREATED, &ev->created_at) != 0 ||
	    db_col_time(res, PAGE_COL_DELIVERED, &ev->delivered_at) != 0)
		return DB_ERROR;
	/* its email, when the email step made one */
	ev->email.status = db_col(res, PAGE_COL_MAIL_STATUS, NULL);
	if (ev->email.status != NULL) {
		ev->email.recipient = db_col(res, PAGE_COL_MAIL_TO, NULL);
		ev->email.last_error = db_col(res, PAGE_COL_MAIL_ERROR, NULL);
		ev->email.relay_reply = db_col(res, PAGE_COL_MAIL_REPLY, NULL);
		ev->email.message_id = db_col(res, PAGE_COL_MAIL_ID, NULL);
		ev->email.skip_reason = db_col(res, PAGE_COL_MAIL_SKIP, NULL);
		if (db_col_i64(res, PAGE_COL_MAIL_ATTEMPTS,
		    &ev->email.attempts) != 0 ||
		    (strcmp(ev->email.status, "pending") == 0 &&
		    db_col_time(res, PAGE_COL_MAIL_NEXT,
		    &ev->email.next_attempt_at) != 0) ||
		    db_col_time(res, PAGE_COL_MAIL_SENT, &ev->email.sent_at) != 0)
			return DB_ERROR;
	}
	return DB_OK;
}

enum result_code
event_list(struct db *db, const struct event_filter *f, event_row_fn each,
    void *arg, int *more, struct result *r)
{
	struct db_result *res = NULL;
	struct event_row ev;
	struct account acct;
	int64_t account_id = 0, n = 0;
	int rc, fr;

	*more = 0;
	if (f->user_id[0] != '\0') {
		rc = account_find(db, f->user_id, &acct);
		if (rc == DB_NOT_FOUND)
			return RESULT_OK;   /* no account: no events */
		if (rc != DB_OK)
			return result_db(r, rc);
		account_id = (int64_t)acct.id;
	}
	/* one row more than asked tells whether another page follows */
	struct db_param p[] = { DBP_INT(f->cursor), DBP_INT(f->cursor),
	    DBP_STR(f->status), DBP_STR(f->status), DBP_STR(f->type),
	    DBP_STR(f->type), DBP_INT(account_id), DBP_INT(account_id),
	    DBP_INT(f->limit + 1) };
	if ((rc = db_get(db, &events_stmts, EVENTS_PAGE, p,
	    sizeof(p) / sizeof(p[0]), &res)) != DB_OK)
		return result_db(r, rc);
	while ((fr = db_fetch(res)) == 1) {
		if (n == f->limit) {
			*more = 1;
			break;
		}
		if ((rc = read_row(res, &ev)) != DB_OK)
			break;
		each(&ev, arg);
		n++;
	}
	db_result_free(res);
	if (rc != DB_OK)
		return result_set(r, RESULT_ERROR, NULL,
		    "event %lld: a stored column is unreadable", (long long)ev.id);
	return fr < 0 ? result_db(r, fr) : RESULT_OK;
}

/* --- delivery state (dispatch.c) ------------------------------------------ */

int
event_lease(struct db *db, uint64_t id, const char *until)
{
	struct db_param p[] = { DBP_STR(until), DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_LEASE, p, 2, NULL, NULL);
}

int
event_delivered(struct db *db, uint64_t id, const char *when)
{
	struct db_param p[] = { DBP_STR(when), DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_DELIVERED, p, 2, NULL, NULL);
}

int
event_retry(struct db *db, uint64_t id, const char *next, const char *error)
{
	struct db_param p[] = { DBP_STR(next), DBP_STR(error), DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_RETRY, p, 3, NULL, NULL);
}

int
event_failed(struct db *db, uint64_t id, const char *error)
{
	struct db_param p[] = { DBP_STR(error), DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_FAILED, p, 2, NULL, NULL);
}

int
event_release(struct db *db, uint64_t id, const char *when)
{
	struct db_param p[] = { DBP_STR(when), DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_RELEASE, p, 2, NULL, NULL);
}

int
event_emails_queued(struct db *db, uint64_t id)
{
	struct db_param p[] = { DBP_INT(id) };

	return db_run(db, &events_stmts, EVENTS_EMAILS_QUEUED, p, 1, NULL,
	    NULL);
}
