/*
 * streamspace: applying StreamSpace's own webhook deliveries
 * (POST hooks/streamspace, docs/hooks.md).  The endpoint (api_streamspace.c)
 * checks the signature, the timestamp and the body and fills a
 * streamspace_delivery; streamspace_apply records it in
 * billing_streamspace_deliveries (this module is the table's one writer)
 * and applies its effect through sessions.c, in one transaction: the same
 * body twice has one effect, even concurrently (the second waits on the
 * primary key, then finds the row).
 */
#ifndef BILLING_STREAMSPACE_H
#define BILLING_STREAMSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"
#include "sessions.h"

struct db;

#define STREAMSPACE_EVENT_MAX 64

enum streamspace_kind {
	STREAMSPACE_OTHER = 0,        /* ignored (recorded as ignored) */
	STREAMSPACE_SESSION_START,    /* session.created, session.started */
	STREAMSPACE_SESSION_HIBERNATE,/* session.hibernated */
	STREAMSPACE_SESSION_END,      /* session.terminated, session.failed */
	STREAMSPACE_USER_CREATED,     /* user.created */
	STREAMSPACE_USER_DELETED      /* user.deleted: closes the account */
};

enum streamspace_outcome {
	STREAMSPACE_APPLIED = 0, STREAMSPACE_DUPLICATE, STREAMSPACE_IGNORED
};

/* The kind of an event name. */
enum streamspace_kind streamspace_kind(const char *event);

/* One delivery: the endpoint fills the input; streamspace_apply the rest. */
struct streamspace_delivery {
	const char *body_sha256;     /* lowercase hex of the raw body */
	const char *event;           /* borrowed */
	enum streamspace_kind kind;
	int64_t at;                  /* the delivery's timestamp, usec */
	int64_t now;                 /* usec */
	/* session events: data.name, data.user; START: its sizes and the
	 * home volume to give the user (micro-GB, 0: none) */
	const char *session_id, *user_id;
	struct session_size size;
	int64_t home_storage_gb;
	/* user.created, user.deleted: data.username; user.created:
	 * data.email (NULL: not given) */
	const char *email;

	enum streamspace_outcome outcome;
	const char *reason;          /* static: why ignored */
	struct session session;      /* session events, when applied */
};

/*
 * Records the delivery and applies it, in one transaction (retried on
 * deadlock).  RESULT_OK with d->outcome; a refusal (the session belongs to
 * another user, an email that contradicts the account's: RESULT_CONFLICT;
 * an instant before the session's state: RESULT_INVALID; a suspended
 * account: RESULT_SUSPENDED; any event for a closed account's user or
 * sessions: RESULT_CONFLICT) changes nothing, the delivery's row included;
 * a database failure in r.
 */
enum result_code streamspace_apply(struct db *db,
    struct streamspace_delivery *d, struct result *r);

/*
 * streamspace_body.c: a raw delivery body (as StreamSpace sent or logged
 * it), for the host's helpers (billing-streamspace-replay): read with the
 * endpoint's rules, then streamspace_apply at its own timestamp with now as
 * its received_at, deduplicated by the SHA-256 of these bytes.  No
 * signature, no timestamp tolerance.  RESULT_INVALID (the field at fault in
 * r) for a body that is not a delivery; else as streamspace_apply.  d is
 * filled as there, except that its strings (event, ids, email) are NULL on
 * return.
 */
struct billing_config;
enum result_code streamspace_body_apply(struct db *db,
    const struct billing_config *cfg, const char *body, size_t len,
    int64_t now, struct streamspace_delivery *d, struct result *r);

/*
 * The envelope {event, timestamp, data} of a parsed delivery and the data
 * its kind needs, into d (strings borrowed from root): the one reading of a
 * delivery, for the webhook and the replay helper alike.  RESULT_OK, or
 * RESULT_INVALID with the field at fault.  The timestamp's distance from
 * now is the caller's to judge.
 */
struct json_object;
enum result_code streamspace_body_read(const struct billing_config *cfg,
    struct json_object *root, struct streamspace_delivery *d,
    struct result *r);

/* The statement table of streamspace.c (statements.c registers it). */
struct db_stmts;
extern const struct db_stmts streamspace_stmts;

#endif
