/*
 * metering_impl: what metering.c (cutting, the job) and metering_write.c
 * (the batch's multi-row SQL) share; not an API (metering.h is).
 */
#ifndef BILLING_METERING_IMPL_H
#define BILLING_METERING_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "metering.h"

struct app;
struct db;
struct db_param;
struct sql_rows;

#define BATCH_SEGMENTS 256

struct seg {
	uint64_t id, session_pk, account_id;
	int64_t started_at, ended_at, metered_until; /* 0: NULL */
	int64_t size[RES_COUNT];
	int64_t heartbeat, session_ended;            /* 0: unknown / NULL */
	/* the outcome */
	int64_t new_until, cost;
	int done, touched;
};

struct rec {
	uint64_t account_id, session_pk, segment_id;
	enum resource res;
	int64_t start_at;
	char qty[32], price[32], cost[32], start[32], end[32], bill_from[32];
};

struct daily {
	uint64_t account_id;
	int64_t day;
	enum resource res;
	int64_t price, qty, cost;
	int64_t n;
};

struct batch {
	struct app *app;
	int64_t now, hour_now, stale_before;
	uint64_t after_id;
	/* results of the last attempt */
	struct seg segs[BATCH_SEGMENTS];
	size_t nsegs, nprocessed;
	struct rec *recs;
	size_t nrecs;
	struct daily *days;
	size_t ndays, days_cap;
	uint64_t last_id;
	int capped;
};

/* The text of each touched segment's new state, kept alive for the binds. */
struct seg_text {
	char until[32], cost[32];
};

/*
 * The batch's writes, each in chunks of 256, 64, 16, 4 or 1 rows per
 * statement; p holds the binds of one statement (256 rows of up to 11).
 */
int metering_write_records(struct db *db, struct batch *b,
    struct db_param *p);
int metering_write_segments(struct db *db, struct batch *b,
    struct db_param *p, struct seg_text *txt);
/* the daily rows, then each day's total over every account (admin/summary) */
int metering_write_daily(struct db *db, struct batch *b, struct db_param *p);

/*
 * Sets each record's bill_from: its start, or its account's billed_through
 * when that is later (the period was invoiced: the record goes on the next
 * invoice).  Reads the accounts under a shared lock, held to commit.
 */
int metering_write_bill_from(struct db *db, struct batch *b,
    struct db_param *p);

/* The batch's multi-row statements (statements.c). */
extern struct sql_rows metering_write_records_sql;
extern struct sql_rows metering_write_daily_sql;
extern struct sql_rows metering_write_day_totals_sql;
extern struct sql_rows metering_write_lock_accounts_sql;

#endif
