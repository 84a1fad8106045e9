/*
 * sessions: what the platform's hooks record (billing_accounts,
 * billing_sessions, billing_session_segments), with no HTTP in sight.
 *
 * A session is cut into segments of constant size; the usage job meters
 * segments (metered_until, metered_cost, metered_done) and these functions
 * never re-cut what it has metered: a late resize or end takes effect where
 * metering stands.
 *
 * Every function runs one transaction (db_transaction: retried on deadlock)
 * and locks in one order: the session row first, then its segment rows.
 * The one exception is the common heartbeat (no resize): one autocommitted
 * UPDATE that applies only to a running session of the sizes stated, with a
 * read and the transaction as the fallbacks (see session_heartbeat).
 * Each returns DB_OK with *outcome saying what happened (an outcome that
 * refuses the call has changed nothing), or an enum db_rc error.
 *
 * Sizes are micro-units (micro-cores, micro-GB); instants are usec since the
 * epoch (timeutil.h).
 */
#ifndef BILLING_SESSIONS_H
#define BILLING_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "accounts.h"

struct db;

#define SESSION_ID_MAX 255

/* The upper bounds of a size, inclusive, in micro-units. */
#define SESSION_CPU_MAX (1024LL * 1000000LL)
#define SESSION_MEMORY_MAX (65536LL * 1000000LL)
#define SESSION_STORAGE_MAX (1000000LL * 1000000LL)

struct session_size {
	int64_t cpu_cores;   /* micro-cores */
	int64_t memory_gb;   /* micro-GB */
	int64_t storage_gb;  /* micro-GB */
};

struct session {
	uint64_t pk;                 /* billing_sessions.id */
	uint64_t account_id;
	char session_id[SESSION_ID_MAX + 1];
	char user_id[ACCOUNT_USER_ID_MAX + 1];
	int64_t started_at;
	int64_t last_heartbeat_at;
	int ended;                   /* 1 when ended_at is set */
	int64_t ended_at;
	struct session_size size;    /* current size (the open segment's,
	                                but while hibernated the sizes it
	                                resumes with) */
	int64_t segment;             /* seq of the latest segment */
	int hibernated;              /* 1 from a hibernation to its wake */
	int64_t hibernated_at;       /* the latest hibernation, 0: never */
	int64_t woken_at;            /* the latest wake, 0: never */
	int brief;                   /* only session_id and last_heartbeat_at
	                                are known (the one-UPDATE heartbeat:
	                                session_heartbeat) */
};

enum session_outcome {
	SESSION_CREATED = 0,     /* a new row: 201 */
	SESSION_UNCHANGED,       /* a repeat, or nothing to change: 200 */
	SESSION_UPDATED,         /* 200 */
	SESSION_NOT_FOUND,       /* no such session: 404 */
	SESSION_CONFLICT_USER,   /* the session belongs to another user: 409 */
	SESSION_CONFLICT_SIZE,   /* created before with other sizes: 409 */
	SESSION_CONFLICT_START,  /* created before with another started_at: 409 */
	SESSION_CONFLICT_END,    /* ended before at another instant: 409 */
	SESSION_CONFLICT_EMAIL,  /* the account has another email: 409 */
	SESSION_CONFLICT_PLAN,   /* the account has another plan: 409 */
	SESSION_ENDED,           /* a heartbeat after the end: 409 */
	SESSION_BEFORE_START,    /* an instant before started_at: 400 */
	SESSION_SUSPENDED,       /* the account is suspended: 403 */
	SESSION_NOT_HIBERNATED,  /* a wake of a session not hibernated: 409 */
	SESSION_BEFORE_STATE,    /* an instant before the current state's
	                            start (started, last wake, hibernation):
	                            400 */
	SESSION_CLOSED           /* the account is closed (its user was
	                            deleted): 409, nothing changes */
};

/* A heartbeat: an instant and the sizes it states (has_* 0: not stated). */
struct session_beat {
	int64_t at;
	int has_cpu, has_memory, has_storage;
	struct session_size size;
};

/*
 * hooks/user-created: finds or creates the account of user_id (email and
 * plan_id may be NULL: not stated).  A stated value that differs from a
 * stored one is a conflict; one the account lacks (NULL) is filled in.
 * Outcomes: CREATED, UNCHANGED, UPDATED (filled in), CONFLICT_EMAIL,
 * CONFLICT_PLAN.  *out receives the account as stored (all but conflicts).
 */
int session_user_created(struct db *db, const char *user_id,
    const char *email, const char *plan_id, struct account *out,
    enum session_outcome *outcome);

/*
 * hooks/session-created: creates the account if unknown, the session and
 * its segment 0.  A repeat (same id) is UNCHANGED unless it contradicts
 * what is stored: another user, other sizes than segment 0's, or (when
 * started_given) another started_at.  *out receives the stored session on
 * CREATED and UNCHANGED.
 */
int session_create(struct db *db, const char *session_id, const char *user_id,
    int64_t started_at, int started_given, const struct session_size *size,
    struct session *out, enum session_outcome *outcome);

/*
 * hooks/session-heartbeat: moves last_heartbeat_at forward (never back); a
 * stated size that differs from the current one closes the open segment and
 * opens the next at max(at, its start, its metered_until), or changes the
 * open segment in place when that instant is its start and it was never
 * metered.  Outcomes: UPDATED, UNCHANGED, NOT_FOUND, ENDED, BEFORE_START.
 * *out receives the session on UPDATED and UNCHANGED.
 *
 * The common beat (it moves last_heartbeat_at forward on a running session
 * and states no other size) is one autocommitted UPDATE with no read first:
 * then *out has out->brief set and only session_id and last_heartbeat_at.
 * A beat that UPDATE did not apply takes a read of the session, its user
 * and its latest segment (a repeat or an out-of-order beat is answered from
 * it, UNCHANGED), then, for a resize, a hibernated session or a refusal,
 * the locking transaction.
 */
int session_heartbeat(struct db *db, const char *session_id,
    const struct session_beat *beat, struct session *out,
    enum session_outcome *outcome);

/* One heartbeat of a batch (session_heartbeats): the input, then what
 * session_heartbeat would have answered for it. */
struct session_beat_item {
	const char *session_id;          /* borrowed */
	struct session_beat beat;
	int rc;                          /* DB_OK or an enum db_rc error */
	enum session_outcome outcome;    /* on DB_OK */
	struct session out;              /* on UPDATED and UNCHANGED */
};

/*
 * POST hooks/batch: n heartbeats (n <= SESSION_BEATS_MAX), each answered as
 * session_heartbeat would answer it had they been sent one after the other
 * in this order.  The common beats (no resize, on a running session whose
 * open segment has its sizes) take two statements for the whole batch: one
 * read of every session named (its user and open segment), then one
 * autocommitted UPDATE of each session's latest heartbeat, applied while the
 * session is still open, awake and older (a resize in between commutes with
 * these beats: they stand as if applied just before it).  Every beat
 * of a session that needs more (a resize, a hibernated, ended, unknown or
 * closed session, a beat before its start), and every beat of the batch's
 * UPDATE when it did not change the rows it should have (a session changed
 * in between), goes through session_heartbeat, one by one, in order.
 * Returns DB_OK (each item has its own rc) or an error of the read (no item
 * answered: the caller answers them all with it).
 */
#define SESSION_BEATS_MAX 1024
int session_heartbeats(struct db *db, struct session_beat_item *items,
    size_t n);

/*
 * hooks/session-terminated: ends the session at ended_at, and its open
 * segment at max(ended_at, its start, its metered_until).  On an ended
 * session: UNCHANGED when !ended_given or the same instant, else
 * CONFLICT_END.  Also NOT_FOUND, BEFORE_START.  *out receives the session on
 * UPDATED and UNCHANGED.
 */
int session_terminate(struct db *db, const char *session_id, int64_t ended_at,
    int ended_given, struct session *out, enum session_outcome *outcome);

/*
 * hooks/session-hibernated (wake 0) and hooks/session-woken (wake 1) at
 * instant at (at_given 0: the server's now).  A hibernation closes the open
 * segment at max(at, its start, its metered_until) and opens one with
 * cpu_cores and memory_gb 0 and the session's storage_gb (or changes the
 * open one in place when it was never metered and starts there); a wake
 * opens one with the session's sizes again.  last_heartbeat_at moves
 * forward to at.  Outcomes: UPDATED; UNCHANGED for a hibernation of a
 * hibernated session, a wake of an awake one that was woken at `at` (or
 * with no `at`), or a late repeat of the latest hibernation or wake (the
 * same at); NOT_FOUND; ENDED; NOT_HIBERNATED (a wake otherwise);
 * BEFORE_STATE (at before the session's start, its latest wake for a
 * hibernation, its hibernation for a wake).  *out receives the session on
 * UPDATED and UNCHANGED.
 */
int session_hibernate(struct db *db, const char *session_id, int wake,
    int64_t at, int at_given, struct session *out,
    enum session_outcome *outcome);

/*
 * hooks/user-storage: the persistent volume of user_id holds storage_gb from
 * at on (0: none).  The account is made if unknown.  The volume is a row of
 * kind 'user_storage' in billing_sessions, hibernated (storage only, never
 * stale) and never ended; each change of size is a resize of it at at (as
 * session_heartbeat's).  Outcomes: CREATED (the first volume), UPDATED,
 * UNCHANGED (the same size, or 0 with no volume: then *out holds only
 * user_id), BEFORE_START (at before the volume's first report).  *out
 * receives the volume's row (size.storage_gb, started_at, segment).
 */
int session_user_storage(struct db *db, const char *user_id,
    int64_t storage_gb, int64_t at, struct session *out,
    enum session_outcome *outcome);

/*
 * hooks/streamspace: the same effects inside the caller's transaction
 * (db_in_transaction), which records the delivery with them.  Each returns
 * DB_OK with *outcome, or an enum db_rc error (DB_RETRY: retry the whole
 * transaction).  An outcome other than CREATED, UPDATED or UNCHANGED is a
 * refusal: the caller rolls its transaction back (an account made on the
 * way goes with it).  user_id must be the session's user, else
 * CONFLICT_USER; an unknown session is NOT_FOUND (but for session_start_in).
 *
 * session_start_in: an unknown session is made at `at` (and its account if
 * unknown) with heartbeats = 0: never stale, it accrues until it is
 * hibernated or ended; a hibernated one is woken at `at`; a running one is
 * UNCHANGED; an ended one ENDED; a suspended account SUSPENDED.
 * session_hibernate_in, session_end_in: as session_hibernate and
 * session_terminate with the instant given.  session_user_created_in and
 * session_user_storage_in: as their hooks.
 */
int session_start_in(struct db *db, const char *session_id,
    const char *user_id, int64_t at, const struct session_size *size,
    struct session *out, enum session_outcome *outcome);
int session_hibernate_in(struct db *db, const char *session_id,
    const char *user_id, int64_t at, struct session *out,
    enum session_outcome *outcome);
int session_end_in(struct db *db, const char *session_id, const char *user_id,
    int64_t at, struct session *out, enum session_outcome *outcome);
int session_user_created_in(struct db *db, const char *user_id,
    const char *email, struct account *out, enum session_outcome *outcome);
int session_user_storage_in(struct db *db, const char *user_id,
    int64_t storage_gb, int64_t at, struct session *out,
    enum session_outcome *outcome);

/*
 * Closing an account (StreamSpace's user.deleted), inside the caller's
 * transaction, before the caller marks the account closed (account_close):
 * each open session of acct ends at `at` (at its start when that is
 * later), as session_terminate's; its volume holds 0 from `at` on (from
 * its start when that is later).  *ended: the sessions ended.  DB_OK or an
 * enum db_rc error.  Once the account is closed, every function here
 * answers CLOSED for its user and its sessions and changes nothing.
 */
int session_close_account_in(struct db *db, const struct account *acct,
    int64_t at, int64_t *ended);

/*
 * The usage job's progress on rows segments (a chunk size, sql_rows.h):
 * p holds (id, metered_until or NULL, cost to add, done) per segment, np of
 * them in all.  Runs in the caller's transaction.  An enum db_rc.
 */
struct db_param;
int session_segments_progress(struct db *db, size_t rows,
    const struct db_param *p, size_t np);

/* This module's statements (statements.c). */
struct db_stmts;
struct sql_rows;
extern const struct db_stmts session_stmts;
extern struct sql_rows session_progress_rows;
/* session_heartbeats' read and UPDATE (statements.c checks them) */
extern struct sql_rows session_beats_read_rows;
extern struct sql_rows session_beats_update_rows;

#endif
