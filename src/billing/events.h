/*
 * events: the outbox.  An event is written in the same transaction as its
 * cause and delivered later, at least once, by billing-dispatch-events.
 * The payload is the envelope receivers get: {id, type, created, data}.
 */
#ifndef BILLING_EVENTS_H
#define BILLING_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct db;
struct json_object;

/*
 * Queues an event.  data is borrowed (serialized here).  dedupe_key (may be
 * NULL) makes the event once-only for its cause: a second call with the same
 * key changes nothing and returns DB_OK.  account_id 0: none.
 */
int event_emit(struct db *db, const char *type, uint64_t account_id,
    const char *dedupe_key, struct json_object *data, int64_t now);

/* One event of a batch for event_emit_many. */
struct event_spec {
	const char *type;
	uint64_t account_id;
	const char *dedupe_key;      /* NULL: none */
	struct json_object *data;    /* borrowed */
};

/*
 * Queues n new events in multi-row statements (a batch job's events, e.g.
 * the invoice run's).  Unlike event_emit, a dedupe key already queued is an
 * error (DB_DUPLICATE): callers pass keys of causes made in this
 * transaction.
 */
int event_emit_many(struct db *db, const struct event_spec *ev, size_t n,
    int64_t now);

/*
 * Reading the outbox, newest first, a page at a time (GET admin/events).
 */
struct event_filter {
	int64_t limit;          /* 1..500 */
	int64_t cursor;         /* the id of the last event of the previous
	                         * page; 0: from the newest */
	const char *status;     /* "" or pending, delivered, failed */
	const char *type;       /* "" for every type */
	const char *user_id;    /* "" for every account */
};

/* One event, borrowed for the call of event_row_fn only.  Texts are NULL
 * for SQL NULL; times are usec, 0 for none. */
struct event_row {
	int64_t id;                     /* internal: the cursor */
	const char *event_id;           /* "evt_..." */
	size_t event_id_len;
	const char *type;
	size_t type_len;
	const char *user_id;            /* NULL: no account */
	size_t user_id_len;
	const char *status;             /* pending, delivered or failed */
	int64_t attempts;
	int64_t next_attempt_at;        /* 0 unless pending */
	const char *last_error;
	size_t last_error_len;
	int64_t created_at;
	int64_t delivered_at;
	const char *payload;            /* the envelope's JSON text */
	size_t payload_len;
	/* its email (emails.c): status NULL when it has none */
	struct {
		const char *status;     /* pending, sent, failed, skipped */
		const char *recipient;  /* NULL: none (skipped) */
		const char *skip_reason;        /* no_email, opted_out */
		int64_t attempts;
		int64_t next_attempt_at;        /* 0 unless pending */
		const char *last_error;
		const char *relay_reply;        /* the relay's answer */
		const char *message_id;
		int64_t sent_at;                /* 0: not sent */
	} email;
};

typedef void (*event_row_fn)(const struct event_row *ev, void *arg);

/*
 * Calls each(ev, arg) for up to f->limit events matching f, newest first;
 * *more is set when another page follows (the cursor of the next page is
 * the id of the last event passed).  An unknown user_id has no events.
 * RESULT_OK, RESULT_ERROR when a stored event is unreadable, or a
 * database failure.
 */
struct result;
enum result_code event_list(struct db *db, const struct event_filter *f,
    event_row_fn each, void *arg, int *more, struct result *r);

/*
 * The delivery state, for dispatch.c's delivery loop (events.c is the one
 * writer of billing_events).  Times are the database's text
 * (time_format_db); error is stored as given.  The last four change only a
 * pending event.  Each returns DB_OK or an error.
 */
/* Leases a claimed event: due again at `until` (inside the claim). */
int event_lease(struct db *db, uint64_t id, const char *until);
/* Delivered at `when`: one more attempt, no error. */
int event_delivered(struct db *db, uint64_t id, const char *when);
/* A failed attempt: one more, due again at `next`, with its error. */
int event_retry(struct db *db, uint64_t id, const char *next,
    const char *error);
/* A failed attempt after which it is given up: status failed. */
int event_failed(struct db *db, uint64_t id, const char *error);
/* Given back unsent: due again at `when`. */
int event_release(struct db *db, uint64_t id, const char *when);

/* The email step (emails.c) has looked at event id: it made the event's
 * email row, or the event mails nothing.  DB_OK or an error. */
int event_emails_queued(struct db *db, uint64_t id);

/* The statement tables (statements.c). */
struct db_stmts;
struct sql_rows;
extern const struct db_stmts events_stmts;
extern struct sql_rows events_insert_rows;

#endif
