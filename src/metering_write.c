/*
 * metering_write: the usage job's batch writes.  A batch's records, its
 * segments' progress and its daily totals each go in multi-row statements
 * of 256, 64, 16, 4 or 1 rows, whose SQL is built once per shape and size.
 * Cutting segments into records and the job loop are metering.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "metering.h"
#include "metering_impl.h"
#include "money.h"
#include "timeutil.h"

static const size_t chunk_sizes[] = { 256, 64, 16, 4, 1 };
#define NCHUNKS (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))

/* SQL for n rows, built once per shape and size and kept for the process. */
static const char *
sql_for(const char **cache, size_t n, const char *head, const char *row,
    const char *tail)
{
	size_t k, len, rowlen = strlen(row);
	char *sql, *p;

	for (k = 0; k < NCHUNKS; k++)
		if (chunk_sizes[k] == n)
			break;
	if (cache[k] != NULL)
		return cache[k];
	len = strlen(head) + n * (rowlen + 1) + strlen(tail) + 1;
	if ((sql = malloc(len)) == NULL)
		return NULL;
	p = sql + sprintf(sql, "%s", head);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", row);
	strcpy(p, tail);
	cache[k] = sql;
	return sql;
}

static const char *
sql_insert_records(size_t n)
{
	static const char *cache[NCHUNKS];

	return sql_for(cache, n,
	    "INSERT INTO billing_usage_records (account_id, session_pk, "
	    "segment_id, resource_type, quantity, unit, unit_price, total_cost, "
	    "start_time, end_time) VALUES ",
	    "(?,?,?,?,?,?,?,?,?,?)", "");
}

static const char *
sql_upsert_daily(size_t n)
{
	static const char *cache[NCHUNKS];

	return sql_for(cache, n,
	    "INSERT INTO billing_usage_daily (account_id, day, resource_type, "
	    "unit_price, quantity, total_cost, records) VALUES ",
	    "(?,?,?,?,?,?,?)",
	    " ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), "
	    "total_cost = total_cost + VALUES(total_cost), "
	    "records = records + VALUES(records)");
}

/*
 * One statement updates n segments: each gets its own metered_until,
 * added cost and done flag through CASE on its id.  Decimal parameters are
 * CAST so that the arithmetic stays DECIMAL (a bare string would be DOUBLE).
 */
static const char *
sql_update_segments(size_t n)
{
	static const char *cache[NCHUNKS];
	size_t k, i, len;
	char *sql, *p;

	for (k = 0; k < NCHUNKS; k++)
		if (chunk_sizes[k] == n)
			break;
	if (cache[k] != NULL)
		return cache[k];
	len = 256 + n * 120;
	if ((sql = malloc(len)) == NULL)
		return NULL;
	p = sql + sprintf(sql, "UPDATE billing_session_segments SET "
	    "metered_until = CASE id");
	for (i = 0; i < n; i++)
		p += sprintf(p, " WHEN ? THEN ?");
	p += sprintf(p, " END, metered_cost = metered_cost + CASE id");
	for (i = 0; i < n; i++)
		p += sprintf(p, " WHEN ? THEN CAST(? AS DECIMAL(20,6))");
	p += sprintf(p, " END, metered_done = CASE id");
	for (i = 0; i < n; i++)
		p += sprintf(p, " WHEN ? THEN ?");
	p += sprintf(p, " END WHERE id IN (");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s?", i ? "," : "");
	strcpy(p, ")");
	cache[k] = sql;
	return sql;
}

/* Largest chunk size that fits in left. */
static size_t
chunk_for(size_t left)
{
	size_t k;

	for (k = 0; k < NCHUNKS; k++)
		if (chunk_sizes[k] <= left)
			return chunk_sizes[k];
	return 1;
}

int
metering_write_records(struct db *db, struct batch *b, struct db_param *p)
{
	size_t done = 0, n, i, j;
	int rc;

	while (done < b->nrecs) {
		const char *sql;

		n = chunk_for(b->nrecs - done);
		if ((sql = sql_insert_records(n)) == NULL)
			return DB_ERROR;
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
		}
		if ((rc = db_exec(db, sql, p, j, NULL, NULL)) != DB_OK)
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
		const char *sql;

		n = chunk_for(nt - done);
		if ((sql = sql_update_segments(n)) == NULL)
			return DB_ERROR;
		j = 0;
		for (i = 0; i < n; i++) {
			p[j++] = DBP_INT(touched[done + i]->id);
			p[j++] = touched[done + i]->new_until ?
			    DBP_STR(txt[done + i].until) : DBP_NULLV;
		}
		for (i = 0; i < n; i++) {
			p[j++] = DBP_INT(touched[done + i]->id);
			p[j++] = DBP_STR(txt[done + i].cost);
		}
		for (i = 0; i < n; i++) {
			p[j++] = DBP_INT(touched[done + i]->id);
			p[j++] = DBP_INT(touched[done + i]->done);
		}
		for (i = 0; i < n; i++)
			p[j++] = DBP_INT(touched[done + i]->id);
		if ((rc = db_exec(db, sql, p, j, NULL, NULL)) != DB_OK)
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

/* Daily totals, in key order so that concurrent runs lock rows alike. */
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
		const char *sql;

		n = chunk_for(b->ndays - done);
		if ((sql = sql_upsert_daily(n)) == NULL) {
			rc = DB_ERROR;
			break;
		}
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
		rc = db_exec(db, sql, p, j, NULL, NULL);
		done += n;
	}
	free(txt);
	return rc;
}
