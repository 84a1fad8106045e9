/*
 * metering_write: the usage job's batch writes.  A batch's records, its
 * segments' progress, its daily totals and the days' all-accounts totals
 * each go in multi-row statements of 256, 64, 16, 4 or 1 rows, whose SQL is
 * built once per shape and size.
 * Cutting segments into records and the job loop are metering.c, which
 * calls these; nothing here calls back into it.
 *
 * The one writer of billing_usage_records: the invoice module claims and
 * gives back records (invoice_id, bill_from) through the
 * metering_write_claim_* functions at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metering.h"
#include "metering_impl.h"
#include "sessions.h"
#include "resource.h"
#include "money.h"
#include "sql_rows.h"
#include "timeutil.h"

/* The batch's statements, each of 256, 64, 16, 4 or 1 rows. */
enum { WRITE_RECORDS, WRITE_DAILY, WRITE_LOCK_ACCOUNTS, WRITE_DAY_TOTALS };

struct sql_rows metering_write_records_sql = SQL_ROWS_STMT("metering_write",
    WRITE_RECORDS, 0,
    "INSERT INTO billing_usage_records (account_id, session_pk, "
    "segment_id, resource_type, quantity, unit, unit_price, total_cost, "
    "start_time, end_time, bill_from) VALUES ",
    "(?,?,?,?,?,?,?,?,?,?,?)", "");

struct sql_rows metering_write_daily_sql = SQL_ROWS_STMT("metering_write",
    WRITE_DAILY, 0,
    "INSERT INTO billing_usage_daily (account_id, day, resource_type, "
    "unit_price, quantity, total_cost, records) VALUES ",
    "(?,?,?,?,?,?,?)",
    " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), "
    "total_cost = total_cost + VALUES(total_cost), "
    "records = records + VALUES(records)");

/* each day's total over every account (GET admin/summary): the sum of the
 * batch's daily rows of that day, added in the same transaction, so that it
 * always equals the sum of the day's billing_usage_daily rows */
struct sql_rows metering_write_day_totals_sql = SQL_ROWS_STMT("metering_write",
    WRITE_DAY_TOTALS, 0,
    "INSERT INTO billing_usage_day_totals (day, total_cost, records) VALUES ",
    "(?,?,?)",
    " ON DUPLICATE KEY UPDATE total_cost = total_cost + VALUES(total_cost), "
    "records = records + VALUES(records)");

/* the accounts' watermarks, read under a shared lock held to the commit:
 * the invoice run locks an account to invoice it, so a record cannot land
 * behind its invoice.  Every account of the batch, never-invoiced ones
 * (NULL) too: under READ COMMITTED a row that fails a filter is unlocked at
 * once, and the run could close a new account's first period meanwhile. */
struct sql_rows metering_write_lock_accounts_sql = SQL_ROWS_STMT(
    "metering_write", WRITE_LOCK_ACCOUNTS, 2,
    "SELECT id, billed_through FROM billing_accounts WHERE id IN (", "?",
    ") LOCK IN SHARE MODE");
enum { LOCK_ID, LOCK_BILLED_THROUGH };

/*
 * One statement updates n segments, each with its own metered_until, added
 * cost and done flag, joined by id from a table of values (the empty first
 * part names its columns).  The values are read first and each segment
 * found by its primary key (STRAIGHT_JOIN, FORCE INDEX): a scan would lock
 * segments a concurrent run holds.  The cost is CAST so that the
 * arithmetic stays DECIMAL (a bare string would be DOUBLE).
 */
/* The invoices' claims on records (metering.h). */
enum { CLAIM_MANUAL, CLAIM_GIVE_BACK, CLAIM_MOVE, CLAIM_NSTMTS };

static const struct db_stmt claim_sql[CLAIM_NSTMTS] = {
	/* a manual invoice takes the unbilled usage of its period: records
	 * no scheduled invoice has claimed (bill_from below billed_through) */
	[CLAIM_MANUAL] = { "UPDATE billing_usage_records SET invoice_id = ? "
	    "WHERE account_id = ? AND invoice_id IS NULL AND start_time >= ? "
	    "AND start_time < ? AND bill_from >= ?", 5, 0 },
	/* a void gives its usage back: to the next scheduled invoice's claim */
	[CLAIM_GIVE_BACK] = { "UPDATE billing_usage_records SET invoice_id = "
	    "NULL, bill_from = GREATEST(bill_from, ?) WHERE invoice_id = ?",
	    2, 0 },
	[CLAIM_MOVE] = { "UPDATE billing_usage_records SET bill_from = ? "
	    "WHERE account_id = ? AND invoice_id IS NULL AND bill_from >= ? "
	    "AND bill_from < ?", 4, 0 },
};
const struct db_stmts metering_write_claim_stmts = DB_STMTS("metering_claim",
    claim_sql);

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct watermark {
	uint64_t account_id;
	int64_t billed_through;
};

static int
cmp_watermark(const void *a, const void *b)
{
	return cmp_u64(&((const struct watermark *)a)->account_id,
	    &((const struct watermark *)b)->account_id);
}

int
metering_write_bill_from(struct db *db, struct batch *b, struct db_param *p)
{
	uint64_t *ids = NULL;
	struct watermark *w = NULL;
	size_t nids = 0, nw = 0, done = 0, i;
	int rc = DB_OK;

	if (b->nrecs == 0)
		return DB_OK;
	if ((ids = malloc(b->nrecs * sizeof(*ids))) == NULL ||
	    (w = malloc(b->nrecs * sizeof(*w))) == NULL) {
		rc = DB_ERROR;
		goto out;
	}
	for (i = 0; i < b->nrecs; i++)
		ids[i] = b->recs[i].account_id;
	qsort(ids, b->nrecs, sizeof(*ids), cmp_u64);
	for (i = 0; i < b->nrecs; i++)
		if (nids == 0 || ids[nids - 1] != ids[i])
			ids[nids++] = ids[i];
	/* in id order, padded with the last id: every batch locks alike */
	while (done < nids && rc == DB_OK) {
		struct db_result *res = NULL;
		size_t n = nids - done < SQL_ROWS_MAX ? nids - done : SQL_ROWS_MAX;
		size_t k = sql_rows_chunk_up(n);
		int64_t id;
		int r;

		for (i = 0; i < k; i++)
			p[i] = DBP_INT(ids[done + (i < n ? i : n - 1)]);
		if ((rc = db_get_rows(db, &metering_write_lock_accounts_sql, k,
		    p, k, &res)) != DB_OK)
			break;
		while ((r = db_fetch(res)) == 1)
			if (db_col_i64(res, LOCK_ID, &id) == 0 &&
			    db_col_time(res, LOCK_BILLED_THROUGH,
			    &w[nw].billed_through) == 0) {
				w[nw].account_id = (uint64_t)id;
				nw++;
			}
		db_result_free(res);
		if (r < 0)
			rc = r;
		done += n;
	}
	if (rc != DB_OK)
		goto out;
	qsort(w, nw, sizeof(*w), cmp_watermark);
	for (i = 0; i < b->nrecs; i++) {
		struct rec *r = &b->recs[i];
		struct watermark key = { r->account_id, 0 }, *found;

		found = nw ? bsearch(&key, w, nw, sizeof(*w), cmp_watermark) : NULL;
		if (found != NULL && found->billed_through > r->start_at)
			time_format_db(found->billed_through, r->bill_from,
			    sizeof(r->bill_from));
		else
			memcpy(r->bill_from, r->start, sizeof(r->bill_from));
	}
out:
	free(ids);
	free(w);
	return rc;
}

int
metering_write_records(struct db *db, struct batch *b, struct db_param *p)
{
	size_t done = 0, n, i, j;
	int rc;

	while (done < b->nrecs) {
		n = sql_rows_chunk(b->nrecs - done);
		for (i = 0, j = 0; i < n; i++) {
			struct rec *r = &b->recs[done + i];

			p[j++] = DBP_INT(r->account_id);
			p[j++] = DBP_INT(r->session_pk);
			p[j++] = DBP_INT(r->segment_id);
			p[j++] = DBP_STR(resource_name(r->res));
			p[j++] = DBP_STR(r->qty);
			p[j++] = DBP_STR(resource_unit(r->res));
			p[j++] = DBP_STR(r->price);
			p[j++] = DBP_STR(r->cost);
			p[j++] = DBP_STR(r->start);
			p[j++] = DBP_STR(r->end);
			p[j++] = DBP_STR(r->bill_from);
		}
		if ((rc = db_run_rows(db, &metering_write_records_sql, n, p, j,
		    NULL, NULL)) != DB_OK)
			return rc;
		done += n;
	}
	return DB_OK;
}

int
metering_write_segments(struct db *db, struct batch *b, struct db_param *p,
    struct seg_text *txt)
{
	struct seg *touched[BATCH_SEGMENTS];
	size_t nt = 0, done = 0, n, i, j;
	int rc;

	for (i = 0; i < b->nprocessed; i++)
		if (b->segs[i].touched)
			touched[nt++] = &b->segs[i];
	for (i = 0; i < nt; i++) {
		if (touched[i]->new_until != 0)
			time_format_db(touched[i]->new_until, txt[i].until,
			    sizeof(txt[i].until));
		money_format(touched[i]->cost, 6, txt[i].cost,
		    sizeof(txt[i].cost));
	}
	while (done < nt) {
		n = sql_rows_chunk(nt - done);
		j = 0;
		for (i = 0; i < n; i++) {
			struct seg *g = touched[done + i];

			p[j++] = DBP_INT(g->id);
			p[j++] = g->new_until ? DBP_STR(txt[done + i].until) :
			    DBP_NULLV;
			p[j++] = DBP_STR(txt[done + i].cost);
			p[j++] = DBP_INT(g->done);
		}
		if ((rc = session_segments_progress(db, n, p, j)) != DB_OK)
			return rc;
		done += n;
	}
	return DB_OK;
}

static int
cmp_daily(const void *a, const void *b)
{
	const struct daily *x = a, *y = b;

	if (x->account_id != y->account_id)
		return x->account_id < y->account_id ? -1 : 1;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->res != y->res)
		return x->res < y->res ? -1 : 1;
	return x->price < y->price ? -1 : x->price > y->price;
}

struct day_total {
	int64_t day, cost, n;
	char day_txt[32], cost_txt[32];
};

static int
cmp_day_total(const void *a, const void *b)
{
	const struct day_total *x = a, *y = b;

	return x->day < y->day ? -1 : x->day > y->day;
}

/*
 * The batch's daily rows summed per day, added to the days' totals: in day
 * order, after the daily rows (the last write of the batch), so that
 * concurrent batches lock the few rows of this table in one order and hold
 * them only to their commit.
 */
static int
write_day_totals(struct db *db, struct batch *b, struct db_param *p)
{
	struct day_total *t;
	size_t nt = 0, done = 0, n, i, j;
	int rc = DB_OK;

	if ((t = calloc(b->ndays, sizeof(*t))) == NULL)
		return DB_ERROR;
	for (i = 0; i < b->ndays; i++) {
		t[i].day = b->days[i].day;
		t[i].cost = b->days[i].cost;
		t[i].n = b->days[i].n;
	}
	qsort(t, b->ndays, sizeof(*t), cmp_day_total);
	for (i = 0; i < b->ndays; i++) {
		if (nt > 0 && t[nt - 1].day == t[i].day) {
			t[nt - 1].cost += t[i].cost;
			t[nt - 1].n += t[i].n;
		} else
			t[nt++] = t[i];
	}
	for (i = 0; i < nt; i++) {
		time_format_db(t[i].day, t[i].day_txt, sizeof(t[i].day_txt));
		t[i].day_txt[10] = '\0'; /* the DATE part */
		money_format(t[i].cost, 6, t[i].cost_txt, sizeof(t[i].cost_txt));
	}
	while (done < nt && rc == DB_OK) {
		n = sql_rows_chunk(nt - done);
		for (i = 0, j = 0; i < n; i++) {
			p[j++] = DBP_STR(t[done + i].day_txt);
			p[j++] = DBP_STR(t[done + i].cost_txt);
			p[j++] = DBP_INT(t[done + i].n);
		}
		rc = db_run_rows(db, &metering_write_day_totals_sql, n, p, j,
		    NULL, NULL);
		done += n;
	}
	free(t);
	return rc;
}

/* Daily totals, in key order so that concurrent runs lock rows alike, then
 * the days' totals over every account. */
int
metering_write_daily(struct db *db, struct batch *b, struct db_param *p)
{
	char (*txt)[4][32] = NULL;
	size_t done = 0, n, i, j;
	int rc = DB_OK;

	if (b->ndays == 0)
		return DB_OK;
	qsort(b->days, b->ndays, sizeof(b->days[0]), cmp_daily);
	if ((txt = calloc(b->ndays, sizeof(*txt))) == NULL)
		return DB_ERROR;
	for (i = 0; i < b->ndays; i++) {
		time_format_db(b->days[i].day, txt[i][0], sizeof(txt[i][0]));
		txt[i][0][10] = '\0'; /* the DATE part */
		money_format(b->days[i].price, 6, txt[i][1], sizeof(txt[i][1]));
		money_format(b->days[i].qty, 6, txt[i][2], sizeof(txt[i][2]));
		money_format(b->days[i].cost, 6, txt[i][3], sizeof(txt[i][3]));
	}
	while (done < b->ndays && rc == DB_OK) {
		n = sql_rows_chunk(b->ndays - done);
		for (i = 0, j = 0; i < n; i++) {
			struct daily *d = &b->days[done + i];

			p[j++] = DBP_INT(d->account_id);
			p[j++] = DBP_STR(txt[done + i][0]);
			p[j++] = DBP_STR(resource_name(d->res));
			p[j++] = DBP_STR(txt[done + i][1]);
			p[j++] = DBP_STR(txt[done + i][2]);
			p[j++] = DBP_STR(txt[done + i][3]);
			p[j++] = DBP_INT(d->n);
		}
		rc = db_run_rows(db, &metering_write_daily_sql, n, p, j, NULL,
		    NULL);
		done += n;
	}
	free(txt);
	if (rc == DB_OK)
		rc = write_day_totals(db, b, p);
	return rc;
}

/* --- the invoices' claims (metering.h) ------------------------------------ */

int
metering_write_claim_manual(struct db *db, uint64_t invoice_id,
    uint64_t account_id, const char *start, const char *end,
    const char *unbilled_from)
{
	struct db_param p[] = { DBP_INT(invoice_id), DBP_INT(account_id),
	    DBP_STR(start), DBP_STR(end), DBP_STR(unbilled_from) };

	return db_run(db, &metering_write_claim_stmts, CLAIM_MANUAL, p, 5, NULL,
	    NULL);
}

int
metering_write_claim_give_back(struct db *db, uint64_t invoice_id,
    const char *bill_from)
{
	struct db_param p[] = { DBP_STR(bill_from), DBP_INT(invoice_id) };

	return db_run(db, &metering_write_claim_stmts, CLAIM_GIVE_BACK, p, 2,
	    NULL, NULL);
}

int
metering_write_claim_move(struct db *db, uint64_t account_id,
    const char *bill_from, const char *from, const char *to)
{
	struct db_param p[] = { DBP_STR(bill_from), DBP_INT(account_id),
	    DBP_STR(from), DBP_STR(to) };

	return db_run(db, &metering_write_claim_stmts, CLAIM_MOVE, p, 4, NULL,
	    NULL);
}
