/*
 * events: the outbox.  An event is written in the same transaction as its
 * cause and delivered later, at least once, by billing-dispatch-events.
 * The payload is the envelope receivers get: {id, type, created, data}.
 */
#ifndef BILLING_EVENTS_H
#define BILLING_EVENTS_H

#include <stdint.h>

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

#endif
