/*
 * sessions: the database side of the platform's hooks.  Unique keys make a
 * repeated creation harmless (the loser of a race reads the winner's row);
 * row locks (session, then its segments) keep heartbeats, terminations and
 * the usage job apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "money.h"
#include "sessions.h"
#include "sql_rows.h"
#include "timeutil.h"

/* A transaction function's "refused, roll back": the outcome says why. */
#define TXN_REFUSED (-100)
#define TXN_SUSPENDED (-101)
#define TXN_CLOSED (-102)

#define SESSION_COLUMNS \
	"id, account_id, started_at, last_heartbeat_at, ended_at, " \
	"cpu_cores, memory_gb, storage_gb, hibernated, hibernated_at, woken_at"

enum {
	SESSION_SQL_BY_ID,
	SESSION_SQL_LOCK,
	SESSION_SQL_INSERT,
	SESSION_SQL_BEAT,
	SESSION_SQL_END,
	SESSION_SQL_USER_OF,
	SESSION_SQL_LAST_SEQ,
	SESSION_SQL_SEGMENT0,
	SESSION_SQL_OPEN_SEGMENT_LOCK,
	SESSION_SQL_SEGMENT_INSERT,
	SESSION_SQL_SEGMENT_CLOSE,
	SESSION_SQL_SEGMENT_RESIZE,
	SESSION_SQL_BEAT_ONLY,
	SESSION_SQL_BEAT_READ,
	SESSION_SQL_HIBERNATE,
	SESSION_SQL_WAKE,
	SESSION_SQL_VOLUME_INSERT,
	SESSION_SQL_INSERT_QUIET,
	SESSION_SQL_OPEN_OF_ACCOUNT,
	SESSION_SQL_ACCOUNT_STATUS,
	SESSION_SQL_N
};
static const struct db_stmt session_sql[SESSION_SQL_N] = {
	[SESSION_SQL_BY_ID] = {
	    "SELECT " SESSION_COLUMNS " FROM billing_sessions "
	    "WHERE session_id = ?", 1, 11 },
	[SESSION_SQL_LOCK] = {
	    "SELECT " SESSION_COLUMNS " FROM billing_sessions "
	    "WHERE session_id = ? FOR UPDATE", 1, 11 },
	[SESSION_SQL_INSERT] = {
	    "INSERT INTO billing_sessions (session_id, account_id, started_at, "
	    "last_heartbeat_at, cpu_cores, memory_gb, storage_gb) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)", 7, 0 },
	[SESSION_SQL_BEAT] = {
	    "UPDATE billing_sessions SET last_heartbeat_at = ?, cpu_cores = ?, "
	    "memory_gb = ?, storage_gb = ? WHERE id = ?", 5, 0 },
	[SESSION_SQL_END] = {
	    "UPDATE billing_sessions SET ended_at = ? WHERE id = ?", 2, 0 },
	[SESSION_SQL_USER_OF] = {
	    "SELECT user_id FROM billing_accounts WHERE id = ?", 1, 1 },
	[SESSION_SQL_LAST_SEQ] = {
	    "SELECT MAX(seq) FROM billing_session_segments "
	    "WHERE session_pk = ?", 1, 1 },
	[SESSION_SQL_SEGMENT0] = {
	    "SELECT cpu_cores, memory_gb, storage_gb "
	    "FROM billing_session_segments WHERE session_pk = ? AND seq = 0",
	    1, 3 },
	[SESSION_SQL_OPEN_SEGMENT_LOCK] = {
	    "SELECT id, seq, started_at, metered_until, cpu_cores, memory_gb, "
	    "storage_gb FROM billing_session_segments "
	    "WHERE session_pk = ? AND ended_at IS NULL ORDER BY seq DESC "
	    "LIMIT 1 FOR UPDATE", 1, 7 },
	[SESSION_SQL_SEGMENT_INSERT] = {
	    "INSERT INTO billing_session_segments (session_pk, account_id, seq, "
	    "started_at, cpu_cores, memory_gb, storage_gb) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?)", 7, 0 },
	[SESSION_SQL_SEGMENT_CLOSE] = {
	    "UPDATE billing_session_segments SET ended_at = ? WHERE id = ?",
	    2, 0 },
	[SESSION_SQL_SEGMENT_RESIZE] = {
	    "UPDATE billing_session_segments SET cpu_cores = ?, memory_gb = ?, "
	    "storage_gb = ? WHERE id = ?", 4, 0 },
	/*
	 * The common heartbeat in one statement, with no read first: it
	 * moves last_heartbeat_at forward on a running session (open, not
	 * hibernated, started by then) whose sizes are those the beat states,
	 * if any (a size not stated is NULL and compares with itself).  An
	 * open, running session's open segment has the session's sizes (every
	 * resize, hibernation and wake keeps them together in a transaction),
	 * so nothing else needs looking at.  It touches no indexed column
	 * (migration 018), so InnoDB updates the row in place.
	 */
	[SESSION_SQL_BEAT_ONLY] = {
	    "UPDATE billing_sessions SET last_heartbeat_at = ? "
	    "WHERE session_id = ? AND ended_at IS NULL AND hibernated = 0 "
	    "AND started_at <= ? AND last_heartbeat_at < ? "
	    "AND cpu_cores = COALESCE(CAST(? AS DECIMAL(12,6)), cpu_cores) "
	    "AND memory_gb = COALESCE(CAST(? AS DECIMAL(14,6)), memory_gb) "
	    "AND storage_gb = COALESCE(CAST(? AS DECIMAL(16,6)), storage_gb)",
	    7, 0 },
	/* a heartbeat beat_only did not apply: the session, its user and its
	 * latest segment in one read (beat_read) */
	[SESSION_SQL_BEAT_READ] = {
	    "SELECT s.id, s.started_at, s.last_heartbeat_at, s.ended_at, "
	    "s.cpu_cores, s.memory_gb, s.storage_gb, a.user_id, g.seq, "
	    "g.ended_at, g.cpu_cores, g.memory_gb, g.storage_gb, s.hibernated "
	    "FROM billing_sessions s "
	    "JOIN billing_accounts a ON a.id = s.account_id "
	    "JOIN billing_session_segments g ON g.session_pk = s.id "
	    "WHERE s.session_id = ? ORDER BY g.seq DESC LIMIT 1", 1, 14 },
	[SESSION_SQL_HIBERNATE] = {
	    "UPDATE billing_sessions SET hibernated = 1, hibernated_at = ?, "
	    "last_heartbeat_at = ? WHERE id = ?", 3, 0 },
	[SESSION_SQL_WAKE] = {
	    "UPDATE billing_sessions SET hibernated = 0, woken_at = ?, "
	    "last_heartbeat_at = ? WHERE id = ?", 3, 0 },
	/* an account's persistent volume: storage only, never stale */
	[SESSION_SQL_VOLUME_INSERT] = {
	    "INSERT INTO billing_sessions (session_id, account_id, started_at, "
	    "last_heartbeat_at, cpu_cores, memory_gb, storage_gb, kind, "
	    "hibernated) VALUES (?, ?, ?, ?, 0, 0, ?, 'user_storage', 1)",
	    5, 0 },
	/* a session whose source sends no heartbeats (hooks/streamspace):
	 * never stale, it accrues until it is hibernated or ended */
	[SESSION_SQL_INSERT_QUIET] = {
	    "INSERT INTO billing_sessions (session_id, account_id, started_at, "
	    "last_heartbeat_at, cpu_cores, memory_gb, storage_gb, heartbeats) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, 0)", 7, 0 },
	/* closing an account: its open sessions, one at a time */
	[SESSION_SQL_OPEN_OF_ACCOUNT] = {
	    "SELECT session_id FROM billing_sessions WHERE account_id = ? "
	    "AND kind = 'session' AND ended_at IS NULL ORDER BY id LIMIT 1 "
	    "FOR UPDATE", 1, 1 },
	/* the account's status as committed, held until the new row is in:
	 * a close (which locks the account first) waits for the row, or the
	 * row for the close, never both missed */
	[SESSION_SQL_ACCOUNT_STATUS] = {
	    "SELECT status FROM billing_accounts WHERE id = ? "
	    "LOCK IN SHARE MODE", 1, 1 },
};
const struct db_stmts session_stmts = DB_STMTS("sessions", session_sql);

/*
 * The usage job's progress on the segments it metered (metered_until, the
 * cost added, done), a batch at a time: one UPDATE joined to the rows' values.
 * STRAIGHT_JOIN and the primary key keep MariaDB from scanning the table
 * (and locking segments another run holds).
 */
struct sql_rows session_progress_rows = SQL_ROWS_STMT("session_progress", 0, 0,
    "UPDATE (SELECT 0 AS id, CAST(NULL AS DATETIME(6)) AS until, "
    "CAST(0 AS DECIMAL(20,6)) AS cost, 0 AS done FROM DUAL WHERE 0 "
    "UNION ALL VALUES ",
    "(?, ?, CAST(? AS DECIMAL(20,6)), ?)",
    ") v STRAIGHT_JOIN billing_session_segments g FORCE INDEX (PRIMARY) "
    "ON g.id = v.id SET g.metered_until = v.until, "
    "g.metered_cost = g.metered_cost + v.cost, g.metered_done = v.done");

int
session_segments_progress(struct db *db, size_t rows,
    const struct db_param *p, size_t np)
{
	return db_run_rows(db, &session_progress_rows, rows, p, np, NULL, NULL);
}

/* SESSION_SQL_BY_ID's and SESSION_SQL_LOCK's columns */
enum { ROW_PK, ROW_ACCOUNT, ROW_STARTED, ROW_HEARTBEAT, ROW_ENDED, ROW_SIZE,
    ROW_HIBERNATED = ROW_SIZE + 3, ROW_HIBERNATED_AT, ROW_WOKEN_AT };
/* SESSION_SQL_OPEN_SEGMENT_LOCK's */
enum { SEG_ID, SEG_SEQ, SEG_STARTED, SEG_METERED_UNTIL, SEG_SIZE };
/* SESSION_SQL_BEAT_READ's */
enum { BEAT_PK, BEAT_STARTED, BEAT_HEARTBEAT, BEAT_ENDED, BEAT_SIZE,
    BEAT_USER = BEAT_SIZE + 3, BEAT_SEQ, BEAT_SEG_ENDED, BEAT_SEG_SIZE,
    BEAT_HIBERNATED = BEAT_SEG_SIZE + 3 };

/* The open segment of a session, as locked by heartbeat and terminate. */
struct segment {
	uint64_t id;
	int64_t seq;
	int64_t started_at;
	int metered;             /* 1 when metered_until is set */
	int64_t metered_until;
	struct session_size size;
};

/* Text forms of values for binding; each lives as long as the struct. */
struct time_text {
	char s[TIME_TEXT_MAX];
};
struct size_text {
	char cpu[32], memory[32], storage[32];
};

static const char *
time_text(struct time_text *t, int64_t usec)
{
	if (time_format_db(usec, t->s, sizeof(t->s)) < 0)
		t->s[0] = '\0';
	return t->s;
}

static void
size_text(struct size_text *t, const struct session_size *sz)
{
	money_format(sz->cpu_cores, MONEY_DECIMALS, t->cpu, sizeof(t->cpu));
	money_format(sz->memory_gb, MONEY_DECIMALS, t->memory,
	    sizeof(t->memory));
	money_format(sz->storage_gb, MONEY_DECIMALS, t->storage,
	    sizeof(t->storage));
}

static int
size_equal(const struct session_size *a, const struct session_size *b)
{
	return a->cpu_cores == b->cpu_cores && a->memory_gb == b->memory_gb &&
	    a->storage_gb == b->storage_gb;
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Column i as an instant; 1 when set, 0 when NULL, -1 when unreadable. */
static int
col_time(const struct db_result *res, size_t i, int64_t *out)
{
	size_t len;
	const char *v = db_col(res, i, &len);

	if (v == NULL)
		return 0;
	return time_parse_db(v, len, out) == 0 ? 1 : -1;
}

/* Columns i..i+2 as sizes; 0 or -1. */
static int
col_size(const struct db_result *res, size_t i, struct session_size *out)
{
	int64_t *dst[3] = { &out->cpu_cores, &out->memory_gb, &out->storage_gb };
	size_t k, len;
	const char *v;

	for (k = 0; k < 3; k++) {
		v = db_col(res, i + k, &len);
		if (v == NULL || money_parse(v, len, MONEY_DECIMALS, dst[k]) != 0)
			return -1;
	}
	return 0;
}

/*
 * Runs query id of session_stmts and fetches its first row: DB_OK with *res
 * at that row (the caller frees it), none when there is no row, or the
 * error (*res freed then).
 */
static int
get_row(struct db *db, unsigned id, const struct db_param *p, size_t n,
    int none, struct db_result **res)
{
	int rc, r;

	if ((rc = db_get(db, &session_stmts, id, p, n, res)) != DB_OK)
		return rc;
	if ((r = db_fetch(*res)) == 1)
		return DB_OK;
	db_result_free(*res);
	return r < 0 ? r : none;
}

/* Column i as an id; 0 or -1. */
static int
col_id(const struct db_result *res, size_t i, uint64_t *out)
{
	int64_t v;

	if (db_col_i64(res, i, &v) != 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* The sizes a beat asks for: from, with those the beat states. */
static void
beat_size(const struct session_beat *beat, const struct session_size *from,
    struct session_size *out)
{
	*out = *from;
	if (beat->has_cpu)
		out->cpu_cores = beat->size.cpu_cores;
	if (beat->has_memory)
		out->memory_gb = beat->size.memory_gb;
	if (beat->has_storage)
		out->storage_gb = beat->size.storage_gb;
}

/*
 * Loads the session row (locked when lock is set) into *out, without
 * user_id and segment (see complete()).  DB_OK, DB_NOT_FOUND or an error.
 */
static int
load_row(struct db *db, const char *session_id, int lock, struct session *out)
{
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_STR(session_id) };
	int64_t hibernated = 0;
	int rc;

	if ((rc = get_row(db, lock ? SESSION_SQL_LOCK : SESSION_SQL_BY_ID, p,
	    1, DB_NOT_FOUND, &res)) != DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->session_id, sizeof(out->session_id), "%s", session_id);
	rc = DB_ERROR;
	if (col_id(res, ROW_PK, &out->pk) == 0 &&
	    col_id(res, ROW_ACCOUNT, &out->account_id) == 0 &&
	    col_time(res, ROW_STARTED, &out->started_at) == 1 &&
	    col_time(res, ROW_HEARTBEAT, &out->last_heartbeat_at) == 1 &&
	    (out->ended = col_time(res, ROW_ENDED, &out->ended_at)) >= 0 &&
	    col_size(res, ROW_SIZE, &out->size) == 0 &&
	    db_col_i64(res, ROW_HIBERNATED, &hibernated) == 0 &&
	    col_time(res, ROW_HIBERNATED_AT, &out->hibernated_at) >= 0 &&
	    col_time(res, ROW_WOKEN_AT, &out->woken_at) >= 0) {
		out->hibernated = hibernated != 0;
		rc = DB_OK;
	}
	db_result_free(res);
	return rc;
}

/* Fills in the session's user_id and latest segment seq. */
static int
complete(struct db *db, struct session *s)
{
	struct db_result *res = NULL;
	struct db_param pa[] = { DBP_INT(s->account_id) };
	struct db_param ps[] = { DBP_INT(s->pk) };
	const char *v;
	int rc;

	if ((rc = get_row(db, SESSION_SQL_USER_OF, pa, 1, DB_ERROR,
	    &res)) != DB_OK)
		return rc;
	if ((v = db_col(res, 0, NULL)) != NULL)
		snprintf(s->user_id, sizeof(s->user_id), "%s", v);
	db_result_free(res);
	rc = db_get_i64(db, &session_stmts, SESSION_SQL_LAST_SEQ, ps, 1,
	    &s->segment);
	return rc == DB_NOT_FOUND ? DB_ERROR : rc;
}

/* Loads the whole session: load_row and complete. */
static int
load_session(struct db *db, const char *session_id, int lock,
    struct session *out)
{
	int rc;

	if ((rc = load_row(db, session_id, lock, out)) != DB_OK)
		return rc;
	return complete(db, out);
}

/* Locks and loads the open segment of session pk. */
static int
lock_open_segment(struct db *db, uint64_t pk, struct segment *out)
{
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_INT(pk) };
	int rc;

	/* an open session without an open segment is a bug: 500 */
	if ((rc = get_row(db, SESSION_SQL_OPEN_SEGMENT_LOCK, p, 1, DB_ERROR,
	    &res)) != DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	rc = DB_ERROR;
	if (col_id(res, SEG_ID, &out->id) == 0 &&
	    db_col_i64(res, SEG_SEQ, &out->seq) == 0 &&
	    col_time(res, SEG_STARTED, &out->started_at) == 1 &&
	    (out->metered = col_time(res, SEG_METERED_UNTIL,
	    &out->metered_until)) >= 0 &&
	    col_size(res, SEG_SIZE, &out->size) == 0)
		rc = DB_OK;
	db_result_free(res);
	return rc;
}

/* Where the open segment seg may end at the earliest for an instant at:
 * never before its start, nor before what the usage job has metered. */
static int64_t
segment_end(const struct segment *seg, int64_t at)
{
	int64_t end = max64(at, seg->started_at);

	if (seg->metered)
		end = max64(end, seg->metered_until);
	return end;
}

/* Runs fn in a transaction; *outcome gets the outcome it left (*txn_outcome)
 * and a refusal is DB_OK (the outcome says why). */
static int
outcome_txn(struct db *db, db_txn_fn fn, void *arg,
    const enum session_outcome *txn_outcome, enum session_outcome *outcome)
{
	int rc;

	rc = db_transaction(db, fn, arg);
	*outcome = *txn_outcome;
	return rc == TXN_REFUSED ? DB_OK : rc;
}

static int
insert_segment(struct db *db, uint64_t pk, uint64_t account_id, int64_t seq,
    int64_t started_at, const struct session_size *size)
{
	struct time_text t;
	struct size_text z;

	size_text(&z, size);
	struct db_param p[] = { DBP_INT(pk), DBP_INT(account_id), DBP_INT(seq),
	    DBP_STR(time_text(&t, started_at)), DBP_STR(z.cpu),
	    DBP_STR(z.memory), DBP_STR(z.storage) };
	return db_run(db, &session_stmts, SESSION_SQL_SEGMENT_INSERT, p, 7, NULL,
	    NULL);
}

/* Whether account id is closed: 1, 0, or an enum db_rc error (< 0). */
static int
account_closed(struct db *db, uint64_t id)
{
	struct account acct;
	int rc;

	if ((rc = account_get(db, id, &acct)) != DB_OK)
		return rc == DB_NOT_FOUND ? DB_ERROR : rc;
	return strcmp(acct.status, "closed") == 0;
}

/* Before a new row for acct: its status read again under a shared lock
 * (account_ensure's plain read may predate a close that committed since)
 * into acct->status.  DB_OK or an error. */
static int
lock_status(struct db *db, struct account *acct)
{
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_INT(acct->id) };
	int rc;

	if ((rc = get_row(db, SESSION_SQL_ACCOUNT_STATUS, p, 1, DB_ERROR,
	    &res)) != DB_OK)
		return rc;
	db_col_text(res, 0, acct->status, sizeof(acct->status));
	db_result_free(res);
	return DB_OK;
}

/* The session row s of a closed account: its outcome CLOSED and
 * TXN_REFUSED; DB_OK when the account is open; or an error. */
static int
refuse_closed(struct db *db, const struct session *s,
    enum session_outcome *outcome)
{
	int rc = account_closed(db, s->account_id);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return DB_OK;
	*outcome = SESSION_CLOSED;
	return TXN_REFUSED;
}

/* --- user-created ------------------------------------------------------ */

struct user_txn {
	const char *user_id, *email, *plan_id; /* borrowed */
	struct account *out;
	enum session_outcome outcome;
};

static int
user_txn(struct db *db, void *arg)
{
	struct user_txn *u = arg;
	enum account_fill fill;
	int created = 0, rc;

	rc = account_ensure(db, u->user_id, u->email, u->plan_id, u->out,
	    &created);
	if (rc != DB_OK)
		return rc;
	if (created) {
		u->outcome = SESSION_CREATED;
		return DB_OK;
	}
	/* it locks the account: the status read next is the committed one */
	rc = account_fill_contact(db, u->out->id, u->email, u->plan_id, &fill);
	if (rc != DB_OK || (rc = lock_status(db, u->out)) != DB_OK)
		return rc;
	if (strcmp(u->out->status, "closed") == 0) {
		u->outcome = SESSION_CLOSED;
		return TXN_REFUSED;
	}
	switch (fill) {
	case ACCOUNT_FILL_UNCHANGED:
		u->outcome = SESSION_UNCHANGED;
		return DB_OK;
	case ACCOUNT_FILL_CONFLICT_EMAIL:
		u->outcome = SESSION_CONFLICT_EMAIL;
		return TXN_REFUSED;
	case ACCOUNT_FILL_CONFLICT_PLAN:
		u->outcome = SESSION_CONFLICT_PLAN;
		return TXN_REFUSED;
	default:
		break;
	}
	u->outcome = SESSION_UPDATED;
	return account_get(db, u->out->id, u->out);
}

int
session_user_created(struct db *db, const char *user_id, const char *email,
    const char *plan_id, struct account *out, enum session_outcome *outcome)
{
	struct user_txn u = { user_id, email, plan_id, out, SESSION_UNCHANGED };

	return outcome_txn(db, user_txn, &u, &u.outcome, outcome);
}

/* --- session-created --------------------------------------------------- */

struct create_txn {
	const char *session_id, *user_id;   /* borrowed */
	int64_t started_at;
	const struct session_size *size;    /* borrowed */
	struct session *out;
};

static int
create_txn(struct db *db, void *arg)
{
	struct create_txn *c = arg;
	struct account acct;
	struct time_text t;
	struct size_text z;
	uint64_t pk = 0;
	int rc;

	rc = account_ensure(db, c->user_id, NULL, NULL, &acct, NULL);
	if (rc != DB_OK || (rc = lock_status(db, &acct)) != DB_OK)
		return rc;
	/* a suspended account starts nothing new until it is resumed */
	if (strcmp(acct.status, "suspended") == 0)
		return TXN_SUSPENDED;
	/* a closed account never starts anything again */
	if (strcmp(acct.status, "closed") == 0)
		return TXN_CLOSED;
	size_text(&z, c->size);
	time_text(&t, c->started_at);
	struct db_param p[] = { DBP_STR(c->session_id), DBP_INT(acct.id),
	    DBP_STR(t.s), DBP_STR(t.s), DBP_STR(z.cpu), DBP_STR(z.memory),
	    DBP_STR(z.storage) };
	rc = db_run(db, &session_stmts, SESSION_SQL_INSERT, p, 7, NULL, &pk);
	if (rc == DB_DUPLICATE)
		return TXN_REFUSED; /* rolls back an account made here too */
	if (rc != DB_OK)
		return rc;
	rc = insert_segment(db, pk, acct.id, 0, c->started_at, c->size);
	if (rc != DB_OK)
		return rc == DB_DUPLICATE ? DB_ERROR : rc;
	return load_session(db, c->session_id, 0, c->out);
}

/* Loads the sizes segment 0 was created with. */
static int
load_segment0(struct db *db, uint64_t pk, struct session_size *out)
{
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_INT(pk) };
	int rc;

	if ((rc = get_row(db, SESSION_SQL_SEGMENT0, p, 1, DB_ERROR,
	    &res)) != DB_OK)
		return rc;
	rc = col_size(res, 0, out) == 0 ? DB_OK : DB_ERROR;
	db_result_free(res);
	return rc;
}

int
session_create(struct db *db, const char *session_id, const char *user_id,
    int64_t started_at, int started_given, const struct session_size *size,
    struct session *out, enum session_outcome *outcome)
{
	struct create_txn c = { session_id, user_id, started_at, size, out };
	struct session_size first;
	int rc;

	*outcome = SESSION_CREATED;
	rc = db_transaction(db, create_txn, &c);
	if (rc == TXN_SUSPENDED || rc == TXN_CLOSED) {
		*outcome = rc == TXN_CLOSED ? SESSION_CLOSED : SESSION_SUSPENDED;
		return DB_OK;
	}
	if (rc != TXN_REFUSED)
		return rc;
	/* the id exists (committed: the insert waited for its creator) */
	*outcome = SESSION_UNCHANGED;
	if ((rc = load_session(db, session_id, 0, out)) != DB_OK)
		return rc == DB_NOT_FOUND ? DB_ERROR : rc;
	if ((rc = load_segment0(db, out->pk, &first)) != DB_OK)
		return rc;
	if (strcmp(out->user_id, user_id) != 0)
		*outcome = SESSION_CONFLICT_USER;
	else if (!size_equal(&first, size))
		*outcome = SESSION_CONFLICT_SIZE;
	else if (started_given && started_at != out->started_at)
		*outcome = SESSION_CONFLICT_START;
	return DB_OK;
}

/* --- session-heartbeat ------------------------------------------------- */

struct beat_txn {
	const char *session_id;             /* borrowed */
	const struct session_beat *beat;    /* borrowed */
	struct session *out;
	enum session_outcome outcome;
};

/* Applies a new size from instant at: closes and opens, or changes in place. */
static int
resize(struct db *db, const struct session *s, const struct segment *seg,
    int64_t at, const struct session_size *size)
{
	struct time_text t;
	struct size_text z;
	int64_t eff;
	int rc;

	/* what the usage job has metered is never cut again */
	eff = segment_end(seg, at);
	if (eff == seg->started_at && !seg->metered) {
		size_text(&z, size);
		struct db_param p[] = { DBP_STR(z.cpu), DBP_STR(z.memory),
		    DBP_STR(z.storage), DBP_INT(seg->id) };
		return db_run(db, &session_stmts, SESSION_SQL_SEGMENT_RESIZE, p, 4,
		    NULL, NULL);
	}
	struct db_param p[] = { DBP_STR(time_text(&t, eff)), DBP_INT(seg->id) };
	if ((rc = db_run(db, &session_stmts, SESSION_SQL_SEGMENT_CLOSE, p, 2,
	    NULL, NULL)) != DB_OK)
		return rc;
	rc = insert_segment(db, s->pk, s->account_id, seg->seq + 1, eff, size);
	return rc == DB_DUPLICATE ? DB_ERROR : rc;
}

static int
beat_txn(struct db *db, void *arg)
{
	struct beat_txn *b = arg;
	const struct session_beat *beat = b->beat;
	struct session_size size, seg_size;
	struct segment seg;
	struct session s;
	struct time_text t;
	struct size_text z;
	int64_t last;
	int rc, resized;

	b->outcome = SESSION_UNCHANGED;
	if ((rc = load_row(db, b->session_id, 1, &s)) == DB_NOT_FOUND) {
		b->outcome = SESSION_NOT_FOUND;
		return TXN_REFUSED;
	}
	if (rc != DB_OK ||
	    (rc = refuse_closed(db, &s, &b->outcome)) != DB_OK)
		return rc;
	if (s.ended) {
		b->outcome = SESSION_ENDED;
		return TXN_REFUSED;
	}
	if (beat->at < s.started_at) {
		b->outcome = SESSION_BEFORE_START;
		return TXN_REFUSED;
	}
	if ((rc = lock_open_segment(db, s.pk, &seg)) != DB_OK)
		return rc;
	/* while hibernated the session row holds the sizes it resumes with
	 * and the open segment has only its storage */
	beat_size(beat, s.hibernated ? &s.size : &seg.size, &size);
	seg_size = size;
	if (s.hibernated)
		seg_size.cpu_cores = seg_size.memory_gb = 0;
	resized = !size_equal(&seg_size, &seg.size);
	if (resized && (rc = resize(db, &s, &seg, beat->at, &seg_size)) !=
	    DB_OK)
		return rc;
	/* an out-of-order heartbeat never moves it back */
	last = max64(s.last_heartbeat_at, beat->at);
	if (resized || last != s.last_heartbeat_at ||
	    !size_equal(&size, &s.size)) {
		size_text(&z, &size);
		struct db_param p[] = { DBP_STR(time_text(&t, last)),
		    DBP_STR(z.cpu), DBP_STR(z.memory), DBP_STR(z.storage),
		    DBP_INT(s.pk) };
		rc = db_run(db, &session_stmts, SESSION_SQL_BEAT, p, 5, NULL,
		    NULL);
		if (rc != DB_OK)
			return rc;
		b->outcome = SESSION_UPDATED;
	}
	return load_session(db, b->session_id, 0, b->out);
}

/*
 * The common heartbeat, in one autocommitted UPDATE (SESSION_SQL_BEAT_ONLY):
 * 1 when it moved last_heartbeat_at forward (*out has only the session's id
 * and the new last_heartbeat_at, out->brief set; *outcome UPDATED), 0 when
 * it changed nothing (anything else: beat_read and beat_txn find out why),
 * or an enum db_rc error.  A platform's heartbeats are nearly all this.
 */
static int
beat_only(struct db *db, const char *session_id,
    const struct session_beat *beat, struct session *out,
    enum session_outcome *outcome)
{
	struct size_text z;
	struct time_text t;
	uint64_t affected = 0;
	int rc;

	size_text(&z, &beat->size);
	time_text(&t, beat->at);
	struct db_param p[] = { DBP_STR(t.s), DBP_STR(session_id),
	    DBP_STR(t.s), DBP_STR(t.s),
	    beat->has_cpu ? DBP_STR(z.cpu) : DBP_NULLV,
	    beat->has_memory ? DBP_STR(z.memory) : DBP_NULLV,
	    beat->has_storage ? DBP_STR(z.storage) : DBP_NULLV };
	if ((rc = db_run(db, &session_stmts, SESSION_SQL_BEAT_ONLY, p, 7,
	    &affected, NULL)) != DB_OK)
		return rc;
	if (affected != 1)
		return 0;
	memset(out, 0, sizeof(*out));
	snprintf(out->session_id, sizeof(out->session_id), "%s", session_id);
	out->last_heartbeat_at = beat->at;
	out->brief = 1;
	*outcome = SESSION_UPDATED;
	return 1;
}

/*
 * The heartbeat that beat_only did not apply, outside a transaction: one
 * read of the session, its user and its latest segment answers a repeat or
 * a late beat (UNCHANGED) on an open, awake session whose open segment has
 * its sizes, for a beat that states no other size.  Returns 1 when it
 * answered (*out and *outcome set), 0 when the beat needs beat_txn (a
 * resize, a hibernated, ended or unknown session, a beat before the start,
 * or a newer beat on a row that changed since beat_only), or an enum db_rc
 * error.
 */
static int
beat_read(struct db *db, const char *session_id,
    const struct session_beat *beat, struct session *out,
    enum session_outcome *outcome)
{
	struct db_result *res = NULL;
	struct session_size seg_size, size;
	uint64_t pk;
	int64_t seq = 0, seg_end, hibernated = 1;
	int rc, usable = 0;

	struct db_param p[] = { DBP_STR(session_id) };
	rc = get_row(db, SESSION_SQL_BEAT_READ, p, 1, DB_NOT_FOUND, &res);
	if (rc == DB_NOT_FOUND)
		return 0; /* unknown: beat_txn answers 404 */
	if (rc != DB_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->session_id, sizeof(out->session_id), "%s", session_id);
	if (col_id(res, BEAT_PK, &pk) == 0 &&
	    col_time(res, BEAT_STARTED, &out->started_at) == 1 &&
	    col_time(res, BEAT_HEARTBEAT, &out->last_heartbeat_at) == 1 &&
	    (out->ended = col_time(res, BEAT_ENDED, &out->ended_at)) == 0 &&
	    col_size(res, BEAT_SIZE, &out->size) == 0 &&
	    db_col(res, BEAT_USER, NULL) != NULL &&
	    db_col_i64(res, BEAT_SEQ, &seq) == 0 &&
	    /* the latest segment is open */
	    col_time(res, BEAT_SEG_ENDED, &seg_end) == 0 &&
	    col_size(res, BEAT_SEG_SIZE, &seg_size) == 0 &&
	    /* a hibernated session goes through the transaction */
	    db_col_i64(res, BEAT_HIBERNATED, &hibernated) == 0 &&
	    hibernated == 0) {
		out->pk = pk;
		out->segment = seq;
		db_col_text(res, BEAT_USER, out->user_id, sizeof(out->user_id));
		usable = 1;
	}
	db_result_free(res);
	if (!usable || beat->at < out->started_at ||
	    !size_equal(&seg_size, &out->size))
		return 0;
	beat_size(beat, &out->size, &size);
	if (!size_equal(&size, &out->size))
		return 0; /* a resize */
	if (beat->at > out->last_heartbeat_at)
		return 0; /* newer than stored, yet beat_only did not apply it:
			   * the row changed in between; the transaction decides */
	/* out of order or a repeat: nothing to change */
	*outcome = SESSION_UNCHANGED;
	return 1;
}

int
session_heartbeat(struct db *db, const char *session_id,
    const struct session_beat *beat, struct session *out,
    enum session_outcome *outcome)
{
	struct beat_txn b = { session_id, beat, out, SESSION_UNCHANGED };
	int rc;

	if ((rc = beat_only(db, session_id, beat, out, outcome)) != 0)
		return rc == 1 ? DB_OK : rc;
	if ((rc = beat_read(db, session_id, beat, out, outcome)) != 0)
		return rc == 1 ? DB_OK : rc;
	return outcome_txn(db, beat_txn, &b, &b.outcome, outcome);
}

/* --- heartbeats in batches (POST hooks/batch) -------------------------- */

/*
 * Every session named that beat_only could take: open, awake, of an account
 * that is not closed, whose open segment (the latest of a running session)
 * has the session's sizes; with its user and that segment's seq.  The
 * conditions are the server's so that only what is answered comes back; a
 * session not returned goes through session_heartbeat, which says why.
 */
struct sql_rows session_beats_read_rows = SQL_ROWS_STMT("session_beats", 0, 9,
    "SELECT s.id, s.session_id, s.started_at, s.last_heartbeat_at, "
    "s.cpu_cores, s.memory_gb, s.storage_gb, a.user_id, g.seq "
    "FROM billing_sessions s "
    "JOIN billing_accounts a ON a.id = s.account_id "
    "JOIN billing_session_segments g ON g.session_pk = s.id "
    "AND g.ended_at IS NULL AND g.cpu_cores = s.cpu_cores "
    "AND g.memory_gb = s.memory_gb AND g.storage_gb = s.storage_gb "
    "WHERE s.ended_at IS NULL AND s.hibernated = 0 "
    "AND a.status <> 'closed' AND s.session_id IN (",
    "?", ")");

/*
 * Each session's latest heartbeat of the batch, applied while the session is
 * still open, awake and older; padding rows have id 0.  Unlike
 * SESSION_SQL_BEAT_ONLY it does not compare the sizes: a resize committed
 * between the read and this changes nothing these beats do (they state no
 * other size than the one read, and moving last_heartbeat_at forward
 * commutes with a resize), so they stand as if applied just before it.
 */
struct sql_rows session_beats_update_rows = SQL_ROWS_STMT("session_beats", 1, 0,
    "UPDATE (SELECT 0 AS id, CAST(NULL AS DATETIME(6)) AS at FROM DUAL "
    "WHERE 0 UNION ALL VALUES ",
    "(?, ?)",
    ") v STRAIGHT_JOIN billing_sessions s FORCE INDEX (PRIMARY) "
    "ON s.id = v.id SET s.last_heartbeat_at = v.at "
    "WHERE s.ended_at IS NULL AND s.hibernated = 0 "
    "AND s.last_heartbeat_at < v.at");

/* session_beats_read_rows' columns */
enum { BEATS_PK, BEATS_SESSION_ID, BEATS_STARTED, BEATS_HEARTBEAT,
    BEATS_SIZE, BEATS_USER = BEATS_SIZE + 3, BEATS_SEQ };

/* One session of a batch. */
struct beats_session {
	const char *session_id;  /* borrowed from the first item naming it */
	int found, fast;         /* fast: every beat of it takes the grouped path */
	struct session s;        /* as read (last_heartbeat_at: as stored) */
	int64_t latest;          /* the latest `at` of its beats */
};

static int
beats_cmp(const void *a, const void *b)
{
	return strcmp(((const struct beats_session *)a)->session_id,
	    ((const struct beats_session *)b)->session_id);
}

static struct beats_session *
beats_find(struct beats_session *ss, size_t n, const char *session_id)
{
	struct beats_session key = { .session_id = session_id };

	return bsearch(&key, ss, n, sizeof(*ss), beats_cmp);
}

/* Reads every session of ss (sorted, n <= SQL_ROWS_WIDE) in one statement. */
static int
beats_read(struct db *db, struct beats_session *ss, size_t n)
{
	struct db_param *p;
	struct db_result *res = NULL;
	struct beats_session *b;
	char sid[SESSION_ID_MAX + 1];
	size_t k = sql_rows_chunk_wide(n), i;
	int rc, r;

	if ((p = calloc(k, sizeof(*p))) == NULL)
		return DB_ERROR;
	for (i = 0; i < k; i++)   /* padded with the last id: read once */
		p[i] = DBP_STR(ss[i < n ? i : n - 1].session_id);
	rc = db_get_rows(db, &session_beats_read_rows, k, p, k, &res);
	free(p);
	if (rc != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		db_col_text(res, BEATS_SESSION_ID, sid, sizeof(sid));
		if ((b = beats_find(ss, n, sid)) == NULL)
			continue;
		if (b->found) {
			b->fast = 0; /* two open segments: not ours to judge */
			continue;
		}
		memset(&b->s, 0, sizeof(b->s));
		snprintf(b->s.session_id, sizeof(b->s.session_id), "%s", sid);
		if (col_id(res, BEATS_PK, &b->s.pk) != 0 ||
		    col_time(res, BEATS_STARTED, &b->s.started_at) != 1 ||
		    col_time(res, BEATS_HEARTBEAT, &b->s.last_heartbeat_at) != 1 ||
		    col_size(res, BEATS_SIZE, &b->s.size) != 0 ||
		    db_col_i64(res, BEATS_SEQ, &b->s.segment) != 0)
			continue; /* unreadable: session_heartbeat decides */
		db_col_text(res, BEATS_USER, b->s.user_id, sizeof(b->s.user_id));
		b->found = b->fast = 1;
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

/* The one UPDATE: the latest heartbeat of every fast session it moves
 * forward.  *all: 1 when it changed every row it should have. */
static int
beats_update(struct db *db, struct beats_session *ss, size_t n, int *all)
{
	struct db_param *p;
	struct time_text *t;
	uint64_t affected = 0;
	size_t m = 0, k, i, j = 0;
	int rc;

	*all = 1;
	for (i = 0; i < n; i++)
		m += ss[i].fast && ss[i].latest > ss[i].s.last_heartbeat_at;
	if (m == 0)
		return DB_OK;
	k = sql_rows_chunk_wide(m);
	p = calloc(k * 2, sizeof(*p));
	t = calloc(m, sizeof(*t));
	if (p == NULL || t == NULL) {
		free(p), free(t);
		return DB_ERROR;
	}
	for (i = 0; i < n; i++) {
		if (!ss[i].fast || ss[i].latest <= ss[i].s.last_heartbeat_at)
			continue;
		p[j] = DBP_INT(ss[i].s.pk);
		p[j + 1] = DBP_STR(time_text(&t[j / 2], ss[i].latest));
		j += 2;
	}
	for (; j < k * 2; j += 2) {   /* padding: matches no session */
		p[j] = DBP_INT(0);
		p[j + 1] = DBP_NULLV;
	}
	rc = db_run_rows(db, &session_beats_update_rows, k, p, k * 2,
	    &affected, NULL);
	free(p), free(t);
	if (rc == DB_OK && affected != m)
		*all = 0;
	return rc;
}

int
session_heartbeats(struct db *db, struct session_beat_item *items, size_t n)
{
	struct beats_session *ss, *b;
	struct session_size size;
	size_t ns = 0, i;
	int rc, all = 1;

	if (n == 0)
		return DB_OK;
	if (n > SESSION_BEATS_MAX || (ss = calloc(n, sizeof(*ss))) == NULL)
		return DB_ERROR;
	/* the sessions named, each once */
	for (i = 0; i < n; i++)
		ss[i].session_id = items[i].session_id;
	qsort(ss, n, sizeof(*ss), beats_cmp);
	for (i = 0; i < n; i++)
		if (ns == 0 || strcmp(ss[ns - 1].session_id,
		    ss[i].session_id) != 0)
			ss[ns++] = ss[i];
	if ((rc = beats_read(db, ss, ns)) != DB_OK) {
		free(ss);
		return rc;
	}
	/* a session stays on the grouped path only if each of its beats
	 * would have taken beat_only without a resize */
	for (i = 0; i < n; i++) {
		b = beats_find(ss, ns, items[i].session_id);
		if (!b->found || !b->fast)
			continue;
		beat_size(&items[i].beat, &b->s.size, &size);
		if (items[i].beat.at < b->s.started_at ||
		    !size_equal(&size, &b->s.size))
			b->fast = 0;
		else if (items[i].beat.at > b->latest)
			b->latest = items[i].beat.at;
	}
	if ((rc = beats_update(db, ss, ns, &all)) != DB_OK) {
		free(ss);
		return rc;
	}
	/* the answers, in order: each beat sees the ones before it */
	for (i = 0; i < n; i++) {
		struct session_beat_item *it = &items[i];

		b = beats_find(ss, ns, it->session_id);
		if (b->found && b->fast && all) {
			it->rc = DB_OK;
			it->out = b->s;
			if (it->beat.at > b->s.last_heartbeat_at) {
				/* the answer beat_only would give */
				b->s.last_heartbeat_at = it->beat.at;
				it->out.last_heartbeat_at = it->beat.at;
				it->out.brief = 1;
				it->outcome = SESSION_UPDATED;
			} else
				it->outcome = SESSION_UNCHANGED;
			continue;
		}
		/* one by one, as its own hook (the same beat twice is
		 * harmless: heartbeats never move back) */
		it->rc = session_heartbeat(db, it->session_id, &it->beat,
		    &it->out, &it->outcome);
	}
	free(ss);
	return DB_OK;
}

/* --- session-terminated ------------------------------------------------ */

struct end_txn {
	const char *session_id;   /* borrowed */
	int64_t ended_at;
	int ended_given;
	struct session *out;
	enum session_outcome outcome;
};

static int
end_txn(struct db *db, void *arg)
{
	struct end_txn *e = arg;
	struct segment seg;
	struct session s;
	struct time_text t;
	int64_t seg_end;
	int rc;

	e->outcome = SESSION_UNCHANGED;
	if ((rc = load_row(db, e->session_id, 1, &s)) == DB_NOT_FOUND) {
		e->outcome = SESSION_NOT_FOUND;
		return TXN_REFUSED;
	}
	if (rc != DB_OK ||
	    (rc = refuse_closed(db, &s, &e->outcome)) != DB_OK)
		return rc;
	if (e->ended_given && e->ended_at < s.started_at) {
		e->outcome = SESSION_BEFORE_START;
		return TXN_REFUSED;
	}
	if (s.ended) {
		if (e->ended_given && e->ended_at != s.ended_at) {
			e->outcome = SESSION_CONFLICT_END;
			return TXN_REFUSED;
		}
		return load_session(db, e->session_id, 0, e->out);
	}
	if (e->ended_at < s.started_at) {
		/* "now" before a start the platform put in the future */
		e->outcome = SESSION_BEFORE_START;
		return TXN_REFUSED;
	}
	if ((rc = lock_open_segment(db, s.pk, &seg)) != DB_OK)
		return rc;
	/* never un-bill what the usage job has metered */
	seg_end = segment_end(&seg, e->ended_at);
	struct db_param ps[] = { DBP_STR(time_text(&t, seg_end)),
	    DBP_INT(seg.id) };
	if ((rc = db_run(db, &session_stmts, SESSION_SQL_SEGMENT_CLOSE, ps, 2,
	    NULL, NULL)) != DB_OK)
		return rc;
	struct db_param pe[] = { DBP_STR(time_text(&t, e->ended_at)),
	    DBP_INT(s.pk) };
	if ((rc = db_run(db, &session_stmts, SESSION_SQL_END, pe, 2, NULL,
	    NULL)) != DB_OK)
		return rc;
	e->outcome = SESSION_UPDATED;
	return load_session(db, e->session_id, 0, e->out);
}

int
session_terminate(struct db *db, const char *session_id, int64_t ended_at,
    int ended_given, struct session *out, enum session_outcome *outcome)
{
	struct end_txn e = { session_id, ended_at, ended_given, out,
	    SESSION_UNCHANGED };

	return outcome_txn(db, end_txn, &e, &e.outcome, outcome);
}

/* --- session-hibernated, session-woken --------------------------------- */

struct hibernate_txn {
	const char *session_id;   /* borrowed */
	int wake;
	int64_t at;
	int at_given;
	struct session *out;
	enum session_outcome outcome;
};

/* Whether a hibernation or wake is already applied (UNCHANGED), refused
 * (*outcome set), or to apply (0). */
static int
hibernate_applied(const struct hibernate_txn *h, const struct session *s,
    enum session_outcome *outcome)
{
	int64_t since;

	*outcome = SESSION_UNCHANGED;
	if (!h->wake) {
		if (s->hibernated || (h->at_given && s->hibernated_at != 0 &&
		    h->at == s->hibernated_at))
			return 1; /* hibernated, or a late repeat */
		since = max64(s->started_at, s->woken_at);
	} else {
		if (h->at_given && s->woken_at != 0 && h->at == s->woken_at)
			return 1; /* a repeat of the latest wake */
		if (!s->hibernated) {
			if (s->woken_at != 0 && !h->at_given)
				return 1; /* awake since its latest wake */
			*outcome = SESSION_NOT_HIBERNATED;
			return -1;
		}
		since = s->hibernated_at;
	}
	if (h->at < since) {
		*outcome = SESSION_BEFORE_STATE;
		return -1;
	}
	return 0;
}

static int
hibernate_txn(struct db *db, void *arg)
{
	struct hibernate_txn *h = arg;
	struct session_size size;
	struct segment seg;
	struct session s;
	struct time_text t, l;
	int rc;

	h->outcome = SESSION_UNCHANGED;
	if ((rc = load_row(db, h->session_id, 1, &s)) == DB_NOT_FOUND) {
		h->outcome = SESSION_NOT_FOUND;
		return TXN_REFUSED;
	}
	if (rc != DB_OK ||
	    (rc = refuse_closed(db, &s, &h->outcome)) != DB_OK)
		return rc;
	if (s.ended) {
		h->outcome = SESSION_ENDED;
		return TXN_REFUSED;
	}
	if ((rc = hibernate_applied(h, &s, &h->outcome)) < 0)
		return TXN_REFUSED;
	if (rc == 1)
		return load_session(db, h->session_id, 0, h->out);
	if ((rc = lock_open_segment(db, s.pk, &seg)) != DB_OK)
		return rc;
	/* compute stops (or resumes); the session's storage goes on */
	size = s.size;
	if (!h->wake)
		size.cpu_cores = size.memory_gb = 0;
	if (!size_equal(&size, &seg.size) &&
	    (rc = resize(db, &s, &seg, h->at, &size)) != DB_OK)
		return rc;
	struct db_param p[] = { DBP_STR(time_text(&t, h->at)),
	    DBP_STR(time_text(&l, max64(s.last_heartbeat_at, h->at))),
	    DBP_INT(s.pk) };
	if ((rc = db_run(db, &session_stmts, h->wake ? SESSION_SQL_WAKE :
	    SESSION_SQL_HIBERNATE, p, 3, NULL, NULL)) != DB_OK)
		return rc;
	h->outcome = SESSION_UPDATED;
	return load_session(db, h->session_id, 0, h->out);
}

int
session_hibernate(struct db *db, const char *session_id, int wake,
    int64_t at, int at_given, struct session *out,
    enum session_outcome *outcome)
{
	struct hibernate_txn h = { session_id, wake, at, at_given, out,
	    SESSION_UNCHANGED };

	return outcome_txn(db, hibernate_txn, &h, &h.outcome, outcome);
}

/* --- user-storage ------------------------------------------------------ */

struct volume_txn {
	const char *user_id;     /* borrowed */
	int64_t storage_gb, at;
	struct session *out;
	enum session_outcome outcome;
};

static int
volume_txn(struct db *db, void *arg)
{
	struct volume_txn *v = arg;
	struct session_size size = { 0, 0, v->storage_gb };
	char sid[SESSION_ID_MAX + 1];
	struct account acct;
	struct segment seg;
	struct session s;
	struct time_text t, l;
	struct size_text z;
	uint64_t pk = 0;
	int rc;

	v->outcome = SESSION_UNCHANGED;
	if ((rc = account_ensure(db, v->user_id, NULL, NULL, &acct,
	    NULL)) != DB_OK || (rc = lock_status(db, &acct)) != DB_OK)
		return rc;
	if (strcmp(acct.status, "closed") == 0) {
		v->outcome = SESSION_CLOSED;
		return TXN_REFUSED;
	}
	/* no hook's id holds a control character: this one is ours */
	snprintf(sid, sizeof(sid), "%cvolume:%llu", 1,
	    (unsigned long long)acct.id);
	rc = load_row(db, sid, 1, &s);
	if (rc == DB_NOT_FOUND && v->storage_gb == 0) {
		/* no volume, and none now: nothing to record */
		memset(v->out, 0, sizeof(*v->out));
		snprintf(v->out->user_id, sizeof(v->out->user_id), "%s",
		    v->user_id);
		return DB_OK;
	}
	if (rc == DB_NOT_FOUND) {
		size_text(&z, &size);
		struct db_param p[] = { DBP_STR(sid), DBP_INT(acct.id),
		    DBP_STR(time_text(&t, v->at)), DBP_STR(t.s),
		    DBP_STR(z.storage) };
		rc = db_run(db, &session_stmts, SESSION_SQL_VOLUME_INSERT, p, 5,
		    NULL, &pk);
		if (rc == DB_DUPLICATE)
			return DB_RETRY; /* made meanwhile: read it again */
		if (rc != DB_OK ||
		    (rc = insert_segment(db, pk, acct.id, 0, v->at,
		    &size)) != DB_OK)
			return rc == DB_DUPLICATE ? DB_ERROR : rc;
		v->outcome = SESSION_CREATED;
		return load_session(db, sid, 0, v->out);
	}
	if (rc != DB_OK)
		return rc;
	if (v->at < s.started_at) {
		v->outcome = SESSION_BEFORE_START;
		return TXN_REFUSED;
	}
	if ((rc = lock_open_segment(db, s.pk, &seg)) != DB_OK)
		return rc;
	if (!size_equal(&size, &seg.size)) {
		if ((rc = resize(db, &s, &seg, v->at, &size)) != DB_OK)
			return rc;
		size_text(&z, &size);
		struct db_param p[] = { DBP_STR(time_text(&l,
		    max64(s.last_heartbeat_at, v->at))), DBP_STR(z.cpu),
		    DBP_STR(z.memory), DBP_STR(z.storage), DBP_INT(s.pk) };
		if ((rc = db_run(db, &session_stmts, SESSION_SQL_BEAT, p, 5,
		    NULL, NULL)) != DB_OK)
			return rc;
		v->outcome = SESSION_UPDATED;
	}
	return load_session(db, sid, 0, v->out);
}

int
session_user_storage(struct db *db, const char *user_id, int64_t storage_gb,
    int64_t at, struct session *out, enum session_outcome *outcome)
{
	struct volume_txn v = { user_id, storage_gb, at, out,
	    SESSION_UNCHANGED };

	return outcome_txn(db, volume_txn, &v, &v.outcome, outcome);
}

/* --- inside the caller's transaction (hooks/streamspace) --------------- */

/* A transaction function's result inside the caller's transaction: a
 * refusal is DB_OK with its outcome (the caller rolls back). */
static int
in_txn(int rc)
{
	return rc == TXN_REFUSED || rc == TXN_SUSPENDED || rc == TXN_CLOSED ?
	    DB_OK : rc;
}

/* Locks the session and checks its user: DB_OK with *outcome UNCHANGED (go
 * on, *out loaded), NOT_FOUND or CONFLICT_USER; or an error. */
static int
lock_owned(struct db *db, const char *session_id, const char *user_id,
    struct session *out, enum session_outcome *outcome)
{
	int rc;

	*outcome = SESSION_UNCHANGED;
	rc = load_session(db, session_id, 1, out);
	if (rc == DB_NOT_FOUND) {
		*outcome = SESSION_NOT_FOUND;
		return DB_OK;
	}
	if (rc == DB_OK && strcmp(out->user_id, user_id) != 0)
		*outcome = SESSION_CONFLICT_USER;
	else if (rc == DB_OK)
		rc = in_txn(refuse_closed(db, out, outcome));
	return rc;
}

int
session_start_in(struct db *db, const char *session_id, const char *user_id,
    int64_t at, const struct session_size *size, struct session *out,
    enum session_outcome *outcome)
{
	struct hibernate_txn h = { session_id, 1, at, 1, out,
	    SESSION_UNCHANGED };
	struct account acct;
	struct time_text t;
	struct size_text z;
	uint64_t pk = 0;
	int rc;

	if ((rc = lock_owned(db, session_id, user_id, out, outcome)) != DB_OK)
		return rc;
	if (*outcome == SESSION_CONFLICT_USER || *outcome == SESSION_CLOSED)
		return DB_OK;
	if (*outcome == SESSION_UNCHANGED) {
		if (out->ended)
			*outcome = SESSION_ENDED;
		else if (out->hibernated) {
			rc = in_txn(hibernate_txn(db, &h));
			*outcome = h.outcome;
		}
		return rc;
	}
	/* unknown: the account (made if unknown) and a quiet session */
	if ((rc = account_ensure(db, user_id, NULL, NULL, &acct,
	    NULL)) != DB_OK || (rc = lock_status(db, &acct)) != DB_OK)
		return rc;
	if (strcmp(acct.status, "suspended") == 0 ||
	    strcmp(acct.status, "closed") == 0) {
		*outcome = acct.status[0] == 'c' ? SESSION_CLOSED :
		    SESSION_SUSPENDED;
		return DB_OK;
	}
	size_text(&z, size);
	time_text(&t, at);
	struct db_param p[] = { DBP_STR(session_id), DBP_INT(acct.id),
	    DBP_STR(t.s), DBP_STR(t.s), DBP_STR(z.cpu), DBP_STR(z.memory),
	    DBP_STR(z.storage) };
	rc = db_run(db, &session_stmts, SESSION_SQL_INSERT_QUIET, p, 7, NULL,
	    &pk);
	if (rc == DB_DUPLICATE)
		return DB_RETRY; /* made meanwhile: the retry reads it */
	if (rc != DB_OK)
		return rc;
	if ((rc = insert_segment(db, pk, acct.id, 0, at, size)) != DB_OK)
		return rc == DB_DUPLICATE ? DB_ERROR : rc;
	*outcome = SESSION_CREATED;
	return load_session(db, session_id, 0, out);
}

int
session_hibernate_in(struct db *db, const char *session_id,
    const char *user_id, int64_t at, struct session *out,
    enum session_outcome *outcome)
{
	struct hibernate_txn h = { session_id, 0, at, 1, out,
	    SESSION_UNCHANGED };
	int rc;

	if ((rc = lock_owned(db, session_id, user_id, out, outcome)) != DB_OK ||
	    *outcome != SESSION_UNCHANGED)
		return rc;
	rc = in_txn(hibernate_txn(db, &h));
	*outcome = h.outcome;
	return rc;
}

int
session_end_in(struct db *db, const char *session_id, const char *user_id,
    int64_t at, struct session *out, enum session_outcome *outcome)
{
	struct end_txn e = { session_id, at, 1, out, SESSION_UNCHANGED };
	int rc;

	if ((rc = lock_owned(db, session_id, user_id, out, outcome)) != DB_OK ||
	    *outcome != SESSION_UNCHANGED)
		return rc;
	rc = in_txn(end_txn(db, &e));
	*outcome = e.outcome;
	return rc;
}

int
session_user_created_in(struct db *db, const char *user_id,
    const char *email, struct account *out, enum session_outcome *outcome)
{
	struct user_txn u = { user_id, email, NULL, out, SESSION_UNCHANGED };
	int rc;

	rc = in_txn(user_txn(db, &u));
	*outcome = u.outcome;
	return rc;
}

int
session_user_storage_in(struct db *db, const char *user_id,
    int64_t storage_gb, int64_t at, struct session *out,
    enum session_outcome *outcome)
{
	struct volume_txn v = { user_id, storage_gb, at, out,
	    SESSION_UNCHANGED };
	int rc;

	rc = in_txn(volume_txn(db, &v));
	*outcome = v.outcome;
	return rc;
}

int
session_close_account_in(struct db *db, const struct account *acct,
    int64_t at, int64_t *ended)
{
	char sid[SESSION_ID_MAX + 1];
	struct db_result *res = NULL;
	struct db_param p[] = { DBP_INT(acct->id) };
	struct session s;
	int rc;

	*ended = 0;
	/* the open sessions, one at a time: each ends at `at` (or its start,
	 * when the platform put that later) */
	for (;;) {
		rc = get_row(db, SESSION_SQL_OPEN_OF_ACCOUNT, p, 1, DB_NOT_FOUND,
		    &res);
		if (rc == DB_NOT_FOUND)
			break;
		if (rc != DB_OK)
			return rc;
		db_col_text(res, 0, sid, sizeof(sid));
		db_result_free(res);
		if ((rc = load_row(db, sid, 1, &s)) != DB_OK)
			return rc == DB_NOT_FOUND ? DB_ERROR : rc;
		struct end_txn e = { sid, max64(at, s.started_at), 1, &s,
		    SESSION_UNCHANGED };
		if ((rc = end_txn(db, &e)) != DB_OK)
			return rc == TXN_REFUSED ? DB_ERROR : rc;
		(*ended)++;
	}
	/* the volume holds nothing from then on */
	snprintf(sid, sizeof(sid), "%cvolume:%llu", 1,
	    (unsigned long long)acct->id);
	rc = load_row(db, sid, 1, &s);
	if (rc == DB_NOT_FOUND)
		return DB_OK;
	if (rc != DB_OK)
		return rc;
	struct volume_txn v = { acct->user_id, 0, max64(at, s.started_at), &s,
	    SESSION_UNCHANGED };
	rc = volume_txn(db, &v);
	return rc == TXN_REFUSED ? DB_ERROR : rc;
}
