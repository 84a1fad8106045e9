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

#endif
