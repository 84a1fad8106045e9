/*
 * dispatch: the events outbox (billing_events) delivered to eventsWebhookUrl.
 *
 * A run works in batches.  Each batch is claimed in a short transaction:
 * the due events (pending, next_attempt_at <= now), in id order, are read
 * with SELECT ... FOR UPDATE SKIP LOCKED and leased (next_attempt_at moved
 * LEASE_SEC ahead), and the transaction commits before any HTTP request, so
 * a concurrent run neither waits for us nor sees those events as due.
 *
 * Order per account: an event is claimed only when every older pending
 * event of its account is claimed in the same batch (and delivered before
 * it); one that is pending but not due, or leased by another run, holds the
 * later ones back.  When an attempt fails, the account's later events of
 * the batch go back unsent.  Events without an account are independent.
 *
 * After each attempt: 2xx is delivered; anything else (redirects are not
 * followed) or a network error schedules a retry after
 * min(30 s * 2^attempts, 6 h) plus up to 10 % jitter, never later than
 * 3 days after the event was created; an attempt that fails at or after
 * that point marks the event failed, and its account's next event flows.
 * Delivery is at least once: an event whose outcome could not be recorded
 * is sent again when its lease runs out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "emails.h"
#include "events.h"
#include "jobs.h"
#include "log.h"
#include "outbound.h"
#include "timeutil.h"

#define BATCH_MAX 500
#define LEASE_SEC 60
#define RUN_BUDGET_USEC (50 * USEC_PER_SEC)
/* a send starts at most this long after its claim, so it ends in the lease */
#define SEND_WINDOW_USEC ((LEASE_SEC - 15) * USEC_PER_SEC)
#define BACKOFF_BASE_SEC 30
#define BACKOFF_MAX_SEC (6 * 3600)
#define GIVE_UP_SEC (3 * 86400)
#define ERROR_MAX 1000

/* the claim reads; the delivery state is written by events.c (event_*) */
enum { DISPATCH_CLAIM, DISPATCH_NSTMTS };

/* the columns of DISPATCH_CLAIM */
enum { C_ID, C_EVENT_ID, C_TYPE, C_ACCOUNT, C_PAYLOAD, C_ATTEMPTS,
    C_CREATED, C_PREV, C_NCOLS };

static const struct db_stmt dispatch_sql[DISPATCH_NSTMTS] = {
	/*
	 * The due events in id order, without those of an account whose
	 * older pending event is not due (h: the first such event per
	 * account, computed once), with the id of the account's previous
	 * pending event (checked against the batch, see claim_txn).  Forced
	 * onto (status, next_attempt_at) so that only pending rows are read
	 * and locked, however long the history.
	 */
	[DISPATCH_CLAIM] = {
	    "SELECT e.id, e.event_id, e.type, e.account_id, e.payload, "
	    "e.attempts, e.created_at, (SELECT MAX(o.id) FROM billing_events o "
	    "  WHERE o.status = 'pending' AND o.account_id = e.account_id "
	    "  AND o.id < e.id) "
	    "FROM billing_events e FORCE INDEX (ix_events_due) "
	    "LEFT JOIN (SELECT b.account_id, MIN(b.id) AS first_held "
	    "  FROM billing_events b WHERE b.status = 'pending' "
	    "  AND b.next_attempt_at > ? AND b.account_id IS NOT NULL "
	    "  GROUP BY b.account_id) h ON h.account_id = e.account_id "
	    "WHERE e.status = 'pending' AND e.next_attempt_at <= ? "
	    "AND (h.first_held IS NULL OR e.id < h.first_held) "
	    "ORDER BY e.id LIMIT ? FOR UPDATE SKIP LOCKED", 3, C_NCOLS },
};

const struct db_stmts dispatch_stmts = DB_STMTS("dispatch", dispatch_sql);

enum ev_state { EV_CLAIMED = 0, EV_DONE, EV_HELD };

struct event {
	uint64_t id;
	uint64_t account_id;    /* 0: none */
	int64_t attempts;       /* before this run's attempt */
	int64_t created;        /* usec */
	char event_id[65];
	char type[65];
	char *payload;          /* owned */
	size_t len;
	enum ev_state state;
};

struct dispatcher {
	struct app *app;
	const char *url;        /* borrowed from the config */
	const char *secret;     /* borrowed; never logged nor stored */
	int64_t fixed_now;      /* opts->now; 0: the clock */
	int64_t claim_now;      /* "now" of the current batch's claim */
	struct outbound *out;   /* one handle for the run: connections reused */
	struct event ev[BATCH_MAX];
	size_t n;
	uint64_t delivered, retried, failed;
};

static int64_t
now_usec(const struct dispatcher *d)
{
	return d->fixed_now ? d->fixed_now : time_now_usec();
}

static void
batch_clear(struct dispatcher *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->ev[i].payload);
	d->n = 0;
}

/* 1 when prev (0: none) is an event of this batch's claim. */
static int
in_batch(const struct dispatcher *d, uint64_t prev)
{
	size_t i;

	if (prev == 0)
		return 1;
	for (i = d->n; i > 0; i--)
		if (d->ev[i - 1].id == prev)
			return 1;
	return 0;
}

static void
copy_col(const struct db_result *res, size_t col, char *buf, size_t size)
{
	const char *s;
	size_t len;

	buf[0] = '\0';
	if ((s = db_col(res, col, &len)) == NULL)
		return;
	if (len >= size)
		len = size - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
}

/* Reads one claimed row into the next slot.  DB_OK or DB_ERROR. */
static int
read_event(struct dispatcher *d, const struct db_result *res)
{
	struct event *e = &d->ev[d->n];
	const char *s;
	size_t len;
	int64_t v;

	memset(e, 0, sizeof(*e));
	if (db_col_i64(res, C_ID, &v) != 0)
		return DB_ERROR;
	e->id = (uint64_t)v;
	e->account_id = db_col_i64(res, C_ACCOUNT, &v) == 0 ? (uint64_t)v : 0;
	if (db_col_i64(res, C_ATTEMPTS, &e->attempts) != 0 ||
	    (s = db_col(res, C_CREATED, &len)) == NULL ||
	    time_parse_db(s, len, &e->created) != 0 ||
	    (s = db_col(res, C_PAYLOAD, &len)) == NULL)
		return DB_ERROR;
	if ((e->payload = malloc(len + 1)) == NULL)
		return DB_ERROR;
	memcpy(e->payload, s, len);
	e->payload[len] = '\0';
	e->len = len;
	copy_col(res, C_EVENT_ID, e->event_id, sizeof(e->event_id));
	copy_col(res, C_TYPE, e->type, sizeof(e->type));
	d->n++;
	return DB_OK;
}

/*
 * The claim transaction (db_transaction may run it again): the due events
 * whose older pending events of the account are all in the batch, leased.
 */
static int
claim_txn(struct db *db, void *arg)
{
	struct dispatcher *d = arg;
	struct db_result *res = NULL;
	char now[TIME_TEXT_MAX], lease[TIME_TEXT_MAX];
	int64_t prev;
	size_t i;
	int rc, r;

	batch_clear(d);
	d->claim_now = now_usec(d);
	time_format_db(d->claim_now, now, sizeof(now));
	time_format_db(d->claim_now + LEASE_SEC * USEC_PER_SEC, lease,
	    sizeof(lease));
	struct db_param p[] = { DBP_STR(now), DBP_STR(now), DBP_INT(BATCH_MAX) };
	if ((rc = db_get(db, &dispatch_stmts, DISPATCH_CLAIM, p, 3, &res)) != DB_OK)
		return rc;
	while ((r = db_fetch(res)) == 1) {
		/* an older pending event leased elsewhere holds this one back */
		if (db_col_i64(res, C_PREV, &prev) != 0)
			prev = 0;
		if (!in_batch(d, (uint64_t)prev))
			continue;
		if ((rc = read_event(d, res)) != DB_OK)
			break;
	}
	db_result_free(res);
	if (rc != DB_OK)
		return rc;
	if (r < 0)
		return r;
	for (i = 0; i < d->n; i++)
		if ((rc = event_lease(db, d->ev[i].id, lease)) != DB_OK)
			return rc;
	return DB_OK;
}

/*
 * One delivery attempt.  Returns 0 on a 2xx answer; -1 otherwise with the
 * reason (HTTP status or curl error, nothing of the secret) in err.
 */
static int
deliver(struct dispatcher *d, const struct event *e, char *err, size_t errlen)
{
	const struct outbound_header extra[] = {
		{ "Billing-Event-Id", e->event_id },
		{ "Billing-Event-Type", e->type },
	};

	return outbound_post(d->out, d->url, d->secret,
	    now_usec(d) / USEC_PER_SEC, e->payload, e->len, extra, 2, NULL,
	    err, errlen);
}

/* Microseconds until the next attempt after `attempts` failed ones:
 * min(30 s * 2^attempts, 6 h) plus 0-10 % jitter. */
static int64_t
backoff_usec(int64_t attempts)
{
	int64_t delay = BACKOFF_BASE_SEC;
	unsigned int r = 0;

	while (attempts-- > 0 && delay < BACKOFF_MAX_SEC)
		delay *= 2;
	if (delay > BACKOFF_MAX_SEC)
		delay = BACKOFF_MAX_SEC;
	delay *= USEC_PER_SEC;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned int)random();
	return delay + (int64_t)(r % 1000) * (delay / 10) / 1000;
}

/* Records a failed attempt: a retry, or failed for good.  DB rc. */
static int
record_failure(struct dispatcher *d, struct event *e, const char *err)
{
	char when[TIME_TEXT_MAX], safe[ERROR_MAX + 1];
	int64_t now = now_usec(d), give_up, next;
	size_t i;
	int rc;

	log_escape(safe, sizeof(safe), err, strlen(err));
	give_up = e->created + (int64_t)GIVE_UP_SEC * USEC_PER_SEC;
	if (now >= give_up) {
		if ((rc = event_failed(d->app->db, e->id, safe)) == DB_OK) {
			d->failed++;
			log_warnx("event %s (%s): failed for good after %lld "
			    "attempts: %s", e->event_id, e->type,
			    (long long)e->attempts + 1, safe);
		}
		return rc;
	}
	next = now + backoff_usec(e->attempts);
	if (next > give_up)
		next = give_up;
	time_format_db(next, when, sizeof(when));
	if ((rc = event_retry(d->app->db, e->id, when, safe)) != DB_OK)
		return rc;
	d->retried++;
	log_warnx("event %s (%s): attempt %lld failed, next at %s: %s",
	    e->event_id, e->type, (long long)e->attempts + 1, when, safe);
	/* the account's later events wait for this one */
	for (i = (size_t)(e - d->ev) + 1; e->account_id != 0 && i < d->n; i++)
		if (d->ev[i].account_id == e->account_id &&
		    d->ev[i].state == EV_CLAIMED)
			d->ev[i].state = EV_HELD;
	return DB_OK;
}

static int
record_delivered(struct dispatcher *d, const struct event *e)
{
	char when[TIME_TEXT_MAX];

	time_format_db(now_usec(d), when, sizeof(when));
	return event_delivered(d->app->db, e->id, when);
}

/* Gives the batch's unsent events back: due again at the claim's now. */
static void
release_rest(struct dispatcher *d)
{
	char when[TIME_TEXT_MAX];
	size_t i;

	time_format_db(d->claim_now, when, sizeof(when));
	for (i = 0; i < d->n; i++) {
		if (d->ev[i].state == EV_DONE)
			continue;
		if (event_release(d->app->db, d->ev[i].id, when) != DB_OK)
			break;  /* the lease runs out by itself */
		d->ev[i].state = EV_DONE;
	}
}

/*
 * Sends the claimed batch in id order until deadline (monotonic usec).
 * Returns DB_OK, or a db error after which the run stops.
 */
static int
send_batch(struct dispatcher *d, int64_t deadline)
{
	char err[ERROR_MAX + 1];
	struct event *e;
	size_t i;
	int rc = DB_OK;

	for (i = 0; i < d->n; i++) {
		e = &d->ev[i];
		if (e->state != EV_CLAIMED)
			continue;
		if (time_mono_usec() >= deadline)
			break;
		if (deliver(d, e, err, sizeof(err)) == 0) {
			if ((rc = record_delivered(d, e)) != DB_OK)
				break;
			d->delivered++;
		} else if ((rc = record_failure(d, e, err)) != DB_OK)
			break;
		e->state = EV_DONE;
	}
	release_rest(d);
	return rc;
}

/* The email step after the webhook's (emails.h): its outcome appended to
 * the run's message.  DB_OK or a database error. */
static int
email_step(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	struct emails_stats st;
	size_t n = strlen(result->message);
	int rc;

	if (!app->cfg->email.enabled)
		return DB_OK;
	rc = emails_run(app, opts != NULL ? opts->now : 0, RUN_BUDGET_USEC, &st);
	snprintf(result->message + n, sizeof(result->message) - n,
	    "; emails: %llu sent, %llu retried, %llu failed, %llu skipped%s",
	    (unsigned long long)st.sent, (unsigned long long)st.retried,
	    (unsigned long long)st.failed, (unsigned long long)st.skipped,
	    rc != DB_OK ? ", then the database failed" : "");
	return rc;
}

int
dispatch_job(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	const struct billing_config *cfg = app->cfg;
	struct dispatcher *d = NULL;
	int64_t start = time_mono_usec(), claimed, deadline;
	int rc = DB_OK, ret = -1;

	if (cfg->events_webhook_url == NULL || cfg->events_webhook_secret == NULL) {
		snprintf(result->message, sizeof(result->message),
		    "no eventsWebhookUrl configured: nothing to do");
		ret = email_step(app, opts, result) == DB_OK ? 0 : -1;
		goto out;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(result->message, sizeof(result->message),
		    "out of memory");
		goto out;
	}
	d->app = app;
	d->url = cfg->events_webhook_url;
	d->secret = cfg->events_webhook_secret;
	d->fixed_now = opts != NULL ? opts->now : 0;
	if ((d->out = outbound_new("events")) == NULL) {
		snprintf(result->message, sizeof(result->message),
		    "cannot set up the HTTP client");
		goto out;
	}
	while (time_mono_usec() - start < RUN_BUDGET_USEC) {
		if ((rc = db_transaction(app->db, claim_txn, d)) != DB_OK)
			break;
		if (d->n == 0)
			break;
		claimed = time_mono_usec();
		deadline = claimed + SEND_WINDOW_USEC;
		if (deadline > start + RUN_BUDGET_USEC)
			deadline = start + RUN_BUDGET_USEC;
		if ((rc = send_batch(d, deadline)) != DB_OK)
			break;
		batch_clear(d);
	}
	result->items = d->delivered;
	if (rc != DB_OK) {
		snprintf(result->message, sizeof(result->message),
		    "%llu delivered, %llu retried, %llu failed, then the "
		    "database failed: %s", (unsigned long long)d->delivered,
		    (unsigned long long)d->retried,
		    (unsigned long long)d->failed, db_error(app->db));
		goto out;
	}
	snprintf(result->message, sizeof(result->message),
	    "%llu delivered, %llu retried, %llu failed",
	    (unsigned long long)d->delivered, (unsigned long long)d->retried,
	    (unsigned long long)d->failed);
	ret = email_step(app, opts, result) == DB_OK ? 0 : -1;
out:
	if (d != NULL) {
		batch_clear(d);
		outbound_free(d->out);
		free(d);
	}
	return ret;
}
