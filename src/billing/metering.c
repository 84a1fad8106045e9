/*
 * metering: the hourly usage job.
 *
 * Work goes in batches of segments, each batch one transaction:
 *  1. lock up to BATCH_SEGMENTS pending segments (FOR UPDATE SKIP LOCKED:
 *     a concurrent run takes the others);
 *  2. read their sessions' last heartbeat and end (a plain read: hooks lock
 *     a session before its segments, so locking sessions here could deadlock);
 *  3. cut each segment from where metering stands to its horizon;
 *  4. write the records, the segments' progress and the daily totals with
 *     multi-row statements (metering_write.c, which calls nothing back
 *     here), and commit.
 * A run killed between batches leaves whole batches behind it; the next run
 * starts where metering stands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "metering.h"
#include "metering_impl.h"
#include "resource.h"
#include "money.h"
#include "timeutil.h"

#define BATCH_MAX_RECORDS 20000
#define MAX_HOURS_PER_SEGMENT (24 * 7) /* per batch; catch-up takes more passes */
#define MAX_PASSES 10000

enum {
	METERING_PENDING,       /* locks the next pending segments */
	METERING_SESSIONS,      /* their sessions' heartbeat and end */
	METERING_NSTMTS
};
static const struct db_stmt metering_sql[METERING_NSTMTS] = {
	[METERING_PENDING] = {
	    "SELECT id, session_pk, account_id, started_at, ended_at, cpu_cores, "
	    "memory_gb, storage_gb, metered_until FROM billing_session_segments "
	    /* without the hint MariaDB reads every pending row below id on
	     * each batch, which grows with the square of the pending
	     * segments */
	    "FORCE INDEX (ix_segments_pending) "
	    "WHERE metered_done = 0 AND id > ? ORDER BY id LIMIT 256 "
	    "FOR UPDATE SKIP LOCKED", 1, 9 },
	/* a hibernated session sends no heartbeats and is never stale: its
	 * storage accrues until it wakes or ends (docs/billing.md); nor is
	 * one whose source sends none (heartbeats = 0: hooks/streamspace) */
	[METERING_SESSIONS] = {
	    "SELECT g.id, IF(s.hibernated = 0 AND s.heartbeats = 1, "
	    "s.last_heartbeat_at, NULL), "
	    "s.ended_at "
	    "FROM billing_session_segments g "
	    "JOIN billing_sessions s ON s.id = g.session_pk "
	    "WHERE g.id BETWEEN ? AND ? AND g.metered_done = 0 ORDER BY g.id",
	    2, 3 },
};
const struct db_stmts metering_stmts = DB_STMTS("metering", metering_sql);

/* METERING_PENDING's columns */
enum { PENDING_ID, PENDING_SESSION, PENDING_ACCOUNT, PENDING_STARTED,
    PENDING_ENDED, PENDING_CPU, PENDING_MEMORY, PENDING_STORAGE,
    PENDING_UNTIL };
/* METERING_SESSIONS's columns */
enum { SESSIONS_SEGMENT, SESSIONS_HEARTBEAT, SESSIONS_ENDED };

/* The span of one unit of the resource's quantity, in microseconds. */
static int64_t
unit_usec(enum resource r)
{
	return r == RES_STORAGE ? HOURS_PER_MONTH * USEC_PER_HOUR : USEC_PER_HOUR;
}

int
metering_price(enum resource r, int64_t size, int64_t usec, int64_t rate,
    int64_t *quantity, int64_t *cost)
{
	if (money_muldiv(size, usec, unit_usec(r), quantity) != 0)
		return -1;
	return money_prorate(size, rate, usec, unit_usec(r), cost);
}

int64_t
metering_live_cost(const struct billing_config *cfg, int64_t cpu,
    int64_t memory, int64_t storage, int64_t from, int64_t to)
{
	int64_t size[RES_COUNT] = { cpu, memory, storage }, total = 0, q, c;
	int r;

	if (to <= from)
		return 0;
	for (r = 0; r < RES_COUNT; r++)
		if (size[r] > 0 && metering_price(r, size[r], to - from,
		    resource_rate(cfg, r), &q, &c) == 0)
			total += c;
	return total;
}

static int64_t
hour_floor(int64_t usec)
{
	return usec - (((usec % USEC_PER_HOUR) + USEC_PER_HOUR) % USEC_PER_HOUR);
}

static int
col_micros(const struct db_result *res, size_t i, int64_t *out)
{
	size_t len;
	const char *s = db_col(res, i, &len);

	return s == NULL ? -1 : money_parse(s, len, 6, out);
}

/* Locks and reads the next pending segments after b->after_id. */
static int
load_segments(struct db *db, struct batch *b)
{
	struct db_result *res = NULL;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_INT(b->after_id) };
	if ((rc = db_get(db, &metering_stmts, METERING_PENDING, p, 1,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		struct seg *s = &b->segs[b->nsegs];

		memset(s, 0, sizeof(*s));
		if (db_col_i64(res, PENDING_ID, &v) != 0)
			goto bad;
		s->id = (uint64_t)v;
		if (db_col_i64(res, PENDING_SESSION, &v) != 0)
			goto bad;
		s->session_pk = (uint64_t)v;
		if (db_col_i64(res, PENDING_ACCOUNT, &v) != 0)
			goto bad;
		s->account_id = (uint64_t)v;
		if (db_col_time(res, PENDING_STARTED, &s->started_at) != 0 ||
		    db_col_time(res, PENDING_ENDED, &s->ended_at) != 0 ||
		    col_micros(res, PENDING_CPU, &s->size[RES_CPU]) != 0 ||
		    col_micros(res, PENDING_MEMORY, &s->size[RES_MEMORY]) != 0 ||
		    col_micros(res, PENDING_STORAGE, &s->size[RES_STORAGE]) != 0 ||
		    db_col_time(res, PENDING_UNTIL, &s->metered_until) != 0)
			goto bad;
		if (++b->nsegs == BATCH_SEGMENTS)
			break;
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
bad:
	db_result_free(res);
	log_warnx("metering: unreadable segment row");
	return DB_ERROR;
}

/* Adds each locked segment's session heartbeat and end (both lists by id). */
static int
load_sessions(struct db *db, struct batch *b)
{
	struct db_result *res = NULL;
	size_t i = 0;
	int64_t id;
	int rc, r;

	if (b->nsegs == 0)
		return DB_OK;
	struct db_param p[] = { DBP_INT(b->segs[0].id),
	    DBP_INT(b->segs[b->nsegs - 1].id) };
	if ((rc = db_get(db, &metering_stmts, METERING_SESSIONS, p, 2,
	    &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		if (db_col_i64(res, SESSIONS_SEGMENT, &id) != 0)
			continue;
		while (i < b->nsegs && b->segs[i].id < (uint64_t)id)
			i++;
		if (i == b->nsegs)
			break;
		if (b->segs[i].id == (uint64_t)id) {
			db_col_time(res, SESSIONS_HEARTBEAT,
			    &b->segs[i].heartbeat);
			db_col_time(res, SESSIONS_ENDED,
			    &b->segs[i].session_ended);
		}
	}
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

static int
add_daily(struct batch *b, uint64_t account_id, int64_t day, enum resource res,
    int64_t price, int64_t qty, int64_t cost)
{
	size_t i;

	/* a batch touches few (account, day, resource) keys: a scan is enough */
	for (i = b->ndays; i-- > 0;) {
		struct daily *d = &b->days[i];

		if (d->account_id == account_id && d->day == day &&
		    d->res == res && d->price == price) {
			d->qty += qty;
			d->cost += cost;
			d->n++;
			return 0;
		}
	}
	if (b->ndays == b->days_cap) {
		size_t ncap = b->days_cap ? b->days_cap * 2 : 1024;
		struct daily *nd = realloc(b->days, ncap * sizeof(*nd));

		if (nd == NULL)
			return -1;
		b->days = nd;
		b->days_cap = ncap;
	}
	b->days[b->ndays++] = (struct daily){ account_id, day, res, price, qty,
	    cost, 1 };
	return 0;
}

/* Where a segment's metering stops this time, and whether it is then done. */
static int64_t
horizon_of(const struct batch *b, const struct seg *s, int *ends)
{
	int64_t h;

	*ends = 0;
	if (s->ended_at != 0) {
		h = s->ended_at;
		*ends = 1;
	} else if (s->session_ended != 0) {
		h = s->session_ended;
		*ends = 1;
	} else if (s->heartbeat != 0 && s->heartbeat < b->stale_before)
		h = s->heartbeat; /* stale: up to the last sign of life */
	else
		h = b->hour_now;
	if (h > b->now) {
		h = b->now; /* an end reported ahead of our clock: not yet */
		*ends = 0;
	}
	return h;
}

/* Cuts one segment into records; returns -1 when the batch is full. */
static int
cut_segment(struct batch *b, struct seg *s)
{
	const struct billing_config *cfg = b->app->cfg;
	int64_t start, horizon, t, limit;
	int ends, r;
	size_t need;

	start = s->metered_until ? s->metered_until : s->started_at;
	horizon = horizon_of(b, s, &ends);
	limit = hour_floor(start) + MAX_HOURS_PER_SEGMENT * USEC_PER_HOUR;
	if (horizon > limit) {
		horizon = limit;
		ends = 0;
		b->capped = 1;
	}
	if (horizon <= start) {
		/* nothing to cut; an ended one is finished */
		s->new_until = start;
		s->done = ends;
		s->touched = ends;
		return 0;
	}
	need = (size_t)((horizon - hour_floor(start)) / USEC_PER_HOUR + 1) *
	    RES_COUNT;
	if (b->nrecs + need > BATCH_MAX_RECORDS && b->nprocessed > 0)
		return -1;

	for (t = start; t < horizon;) {
		int64_t next = hour_floor(t) + USEC_PER_HOUR;
		int64_t day = t - (((t % (86400LL * USEC_PER_SEC)) +
		    86400LL * USEC_PER_SEC) % (86400LL * USEC_PER_SEC));

		if (next > horizon)
			next = horizon;
		for (r = 0; r < RES_COUNT; r++) {
			struct rec *rec;
			int64_t qty, cost, price = resource_rate(cfg, r);

			if (s->size[r] <= 0)
				continue;
			if (metering_price(r, s->size[r], next - t, price, &qty,
			    &cost) != 0)
				return -2;
			rec = &b->recs[b->nrecs++];
			rec->account_id = s->account_id;
			rec->session_pk = s->session_pk;
			rec->segment_id = s->id;
			rec->res = r;
			money_format(qty, 6, rec->qty, sizeof(rec->qty));
			money_format(price, 6, rec->price, sizeof(rec->price));
			money_format(cost, 6, rec->cost, sizeof(rec->cost));
			rec->start_at = t;
			time_format_db(t, rec->start, sizeof(rec->start));
			time_format_db(next, rec->end, sizeof(rec->end));
			s->cost += cost;
			if (add_daily(b, s->account_id, day, r, price, qty,
			    cost) != 0)
				return -2;
		}
		t = next;
	}
	s->new_until = horizon;
	s->done = ends;
	s->touched = 1;
	return 0;
}

/* One batch, inside a transaction (rerun from scratch on deadlock). */
static int
batch_txn(struct db *db, void *arg)
{
	static struct db_param params[256 * 11];
	static struct seg_text seg_txt[BATCH_SEGMENTS];
	struct batch *b = arg;
	size_t i;
	int rc, r;

	b->nsegs = b->nprocessed = b->nrecs = b->ndays = 0;
	b->capped = 0;
	b->last_id = b->after_id;
	if ((rc = load_segments(db, b)) != DB_OK ||
	    (rc = load_sessions(db, b)) != DB_OK)
		return rc;
	for (i = 0; i < b->nsegs; i++) {
		if ((r = cut_segment(b, &b->segs[i])) == -1)
			break; /* full: the rest waits for the next batch */
		if (r != 0) {
			log_warnx("metering: segment %llu overflows",
			    (unsigned long long)b->segs[i].id);
			return DB_ERROR;
		}
		b->nprocessed++;
		b->last_id = b->segs[i].id;
	}
	if ((rc = metering_write_bill_from(db, b, params)) != DB_OK ||
	    (rc = metering_write_records(db, b, params)) != DB_OK ||
	    (rc = metering_write_segments(db, b, params, seg_txt)) != DB_OK ||
	    (rc = metering_write_daily(db, b, params)) != DB_OK)
		return rc;
	return DB_OK;
}

int
metering_job(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	struct batch *b;
	uint64_t records = 0, segments = 0;
	int passes = 0, rc = DB_OK, again;

	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->recs = calloc(BATCH_MAX_RECORDS + MAX_HOURS_PER_SEGMENT * RES_COUNT
	    + RES_COUNT, sizeof(*b->recs))) == NULL) {
		free(b);
		snprintf(result->message, sizeof(result->message), "out of memory");
		return -1;
	}
	b->app = app;
	b->now = opts && opts->now ? opts->now : time_now_usec();
	b->hour_now = hour_floor(b->now);
	b->stale_before = b->now -
	    (int64_t)app->cfg->session_timeout_minutes * 60 * USEC_PER_SEC;
	do {
		again = 0;
		b->after_id = 0;
		for (;;) {
			rc = db_transaction(app->db, batch_txn, b);
			if (rc != DB_OK)
				goto out;
			if (b->nsegs == 0)
				break;
			records += b->nrecs;
			segments += b->nprocessed;
			again |= b->capped;
			b->after_id = b->last_id;
		}
	} while (again && ++passes < MAX_PASSES);
out:
	result->items = records;
	if (rc != DB_OK)
		snprintf(result->message, sizeof(result->message),
		    "failed after %llu records: %s",
		    (unsigned long long)records, db_error(app->db));
	else
		snprintf(result->message, sizeof(result->message),
		    "%llu usage records, %llu segments examined",
		    (unsigned long long)records, (unsigned long long)segments);
	free(b->recs);
	free(b->days);
	free(b);
	return rc == DB_OK ? 0 : -1;
}
