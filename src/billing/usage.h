/*
 * usage: what GET usage answers, read in one round trip (the hot path,
 * docs/architecture.md): the account and its credit balance, the metered
 * usage of a range from the daily totals (and from the records for partial
 * days at its edges), and the live part of the active sessions.
 */
#ifndef BILLING_USAGE_H
#define BILLING_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "accounts.h"
#include "resource.h"
#include "result.h"
#include "sessions.h"

struct billing_config;
struct db;

/* One line of the answer: a resource at one unit price. */
struct usage_item {
	enum resource res;
	int64_t price, qty, cost;
};

/* An active session as GET usage shows it. */
struct usage_session {
	char session_id[SESSION_ID_MAX + 1];
	int64_t started_at, last_heartbeat_at;
	int64_t size[RES_COUNT];      /* current size, micro-units */
	int stale;                    /* no heartbeat for sessionTimeoutMinutes */
	int hibernated;               /* accruing storage only (size: the
	                                 sizes it resumes with) */
	int64_t accrued;              /* metered so far plus not yet cut */
};

/* Called for each active session, in session order. */
typedef void (*usage_session_fn)(const struct usage_session *s, void *arg);

/* Zero it before usage_read; items owned (usage_free). */
struct usage {
	struct account account;
	int have_account;             /* 0: no such user (no rows at all) */
	int64_t credits;              /* the balance of unexpired credits */
	/* by resource, then price; every resource at least at its current
	 * rate, other prices only when they had usage */
	struct usage_item *items;
	size_t nitems, cap;
	int64_t total, pending;       /* metered; live, not yet metered */
	int64_t from, to;             /* the range read */
	int64_t in_use[RES_COUNT];    /* the sizes of active, fresh sessions
	                                 and the volume's storage */
	int64_t user_storage;         /* the persistent volume's GB, 0: none */
};

/*
 * Reads user_id's usage of [from, to) (both 0: the account's billing
 * period containing now, in its time zone; u->from and u->to say which
 * range was read) as of now into *u and passes each
 * active session to fn(arg).  RESULT_OK, or a failure in r.
 */
enum result_code usage_read(struct db *db, const struct billing_config *cfg,
    const char *user_id, int64_t from, int64_t to, int64_t now,
    struct usage *u, usage_session_fn fn, void *arg, struct result *r);
void usage_free(struct usage *u);

/* One day of GET usage/days: the records that started in it, by
 * resource. */
struct usage_day {
	int64_t day;                  /* the instant it starts (usage.c says
	                                 where the boundary is computed) */
	char date[11];                /* its local date, YYYY-MM-DD */
	int64_t total;
	int64_t qty[RES_COUNT], cost[RES_COUNT];
	int metered[RES_COUNT];       /* the resource has records that day */
};

/* Every day of a range, in order, zero days included; owned
 * (usage_days_free). */
struct usage_days {
	struct usage_day *days;
	size_t ndays;
	int64_t total;
	int64_t from, to;             /* the range read */
};

/*
 * Reads user_id's metered usage of [from, to) by day (the account, then one
 * statement): the account's local days (its time zone; UTC without one)
 * from the one containing from to the one containing to's last instant;
 * the first and last hold only what is inside [from, to).  from == to == 0:
 * the account's period containing now (period_account), as GET usage.  An
 * unknown user's days are UTC days without usage.  RESULT_OK, or a failure
 * in r (RESULT_INVALID naming "to" when a range in a zone spans more offset
 * changes than the statement takes).
 */
enum result_code usage_days_read(struct db *db,
    const struct billing_config *cfg, const char *user_id, int64_t from,
    int64_t to, int64_t now, struct usage_days *d, struct result *r);
void usage_days_free(struct usage_days *d);

/* The module's statements (statements.c). */
struct db_stmts;
extern const struct db_stmts usage_stmts;

#endif
