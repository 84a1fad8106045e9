/*
 * reports: see reports.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "db.h"
#include "log.h"
#include "money.h"
#include "period.h"
#include "reports.h"
#include "result.h"
#include "timeutil.h"

/* The per-resource columns of the user and day groupings. */
#define RES_SUMS \
	"SUM(CASE WHEN r.resource_type = 'cpu' THEN r.quantity ELSE 0 END), " \
	"SUM(CASE WHEN r.resource_type = 'memory' THEN r.quantity ELSE 0 END), " \
	"SUM(CASE WHEN r.resource_type = 'storage' THEN r.quantity ELSE 0 END)"
#define RANGE "r.start_time >= ? AND r.start_time < ?"
#define ONE_ACCOUNT " AND r.account_id = ?"
#define RAW_SELECT \
	"SELECT a.user_id, IF(s.kind = 'session', s.session_id, NULL), " \
	"r.resource_type, r.quantity, r.unit, " \
	"r.unit_price, r.total_cost, r.start_time, r.end_time " \
	"FROM billing_usage_records r " \
	"JOIN billing_accounts a ON a.id = r.account_id " \
	"LEFT JOIN billing_sessions s ON s.id = r.session_pk "
#define BY_USER_SELECT \
	"SELECT a.user_id, SUM(r.total_cost), COUNT(*), " RES_SUMS " " \
	"FROM billing_usage_records r " \
	"JOIN billing_accounts a ON a.id = r.account_id "
#define BY_DAY_SELECT \
	"SELECT DATE(r.start_time), SUM(r.total_cost), COUNT(*), " RES_SUMS " " \
	"FROM billing_usage_records r "
/*
 * One account's days in its time zone: a record counts on the local date
 * of its start, the UTC offset then picked from up to REPORT_TZ_SPANS
 * spans of constant offset (tz_offsets): CASE start < the next span's
 * start THEN the span's offset ..., ELSE the last one's.
 */
#define REPORT_TZ_SPANS 8
#define BY_LOCAL_DAY_SELECT \
	"SELECT DATE(r.start_time + INTERVAL (CASE " \
	"WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? WHEN r.start_time < ? THEN ? " \
	"ELSE ? END) SECOND), SUM(r.total_cost), COUNT(*), " RES_SUMS " " \
	"FROM billing_usage_records r "
#define BY_RESOURCE_SELECT \
	"SELECT r.resource_type, r.unit, SUM(r.quantity), SUM(r.total_cost), " \
	"COUNT(*) FROM billing_usage_records r "

/* Per group, every account (2 parameters) and one account (3). */
enum {
	REPORT_SQL_RAW, REPORT_SQL_RAW_ONE,
	REPORT_SQL_BY_USER, REPORT_SQL_BY_USER_ONE,
	REPORT_SQL_BY_DAY, REPORT_SQL_BY_DAY_ONE,
	REPORT_SQL_BY_RESOURCE, REPORT_SQL_BY_RESOURCE_ONE,
	REPORT_SQL_BY_LOCAL_DAY_ONE,
	REPORT_SQL_N
};
static const struct db_stmt report_sql[REPORT_SQL_N] = {
	[REPORT_SQL_RAW] = { RAW_SELECT "WHERE " RANGE
	    " ORDER BY r.start_time, r.id", 2, 9 },
	[REPORT_SQL_RAW_ONE] = { RAW_SELECT "WHERE " RANGE ONE_ACCOUNT
	    " ORDER BY r.start_time, r.id", 3, 9 },
	[REPORT_SQL_BY_USER] = { BY_USER_SELECT "WHERE " RANGE
	    " GROUP BY r.account_id ORDER BY a.user_id", 2, 6 },
	[REPORT_SQL_BY_USER_ONE] = { BY_USER_SELECT "WHERE " RANGE ONE_ACCOUNT
	    " GROUP BY r.account_id ORDER BY a.user_id", 3, 6 },
	[REPORT_SQL_BY_DAY] = { BY_DAY_SELECT "WHERE " RANGE
	    " GROUP BY DATE(r.start_time) ORDER BY 1", 2, 6 },
	[REPORT_SQL_BY_DAY_ONE] = { BY_DAY_SELECT "WHERE " RANGE ONE_ACCOUNT
	    " GROUP BY DATE(r.start_time) ORDER BY 1", 3, 6 },
	[REPORT_SQL_BY_RESOURCE] = { BY_RESOURCE_SELECT "WHERE " RANGE
	    " GROUP BY r.resource_type, r.unit ORDER BY 1", 2, 5 },
	[REPORT_SQL_BY_RESOURCE_ONE] = { BY_RESOURCE_SELECT "WHERE " RANGE
	    ONE_ACCOUNT " GROUP BY r.resource_type, r.unit ORDER BY 1", 3, 5 },
	[REPORT_SQL_BY_LOCAL_DAY_ONE] = { BY_LOCAL_DAY_SELECT "WHERE " RANGE
	    ONE_ACCOUNT " GROUP BY 1 ORDER BY 1",
	    2 * (REPORT_TZ_SPANS - 1) + 1 + 3, 6 },
};
const struct db_stmts report_stmts = DB_STMTS("reports", report_sql);

/* Each group's statements and columns, by position. */
struct report_def {
	const char *group;       /* "none", "user", "day", "resource" */
	unsigned sql_all, sql_one;
	const char *const *names;
	const enum report_kind *kinds;
	size_t ncols;
};

static const char *const raw_names[] = { "user_id", "session_id",
    "resource_type", "quantity", "unit", "unit_price", "total_cost",
    "start_time", "end_time" };
static const enum report_kind raw_kinds[] = { REPORT_TEXT, REPORT_TEXT,
    REPORT_TEXT, REPORT_DECIMAL, REPORT_TEXT, REPORT_PRICE, REPORT_COST,
    REPORT_TIME, REPORT_TIME };
static const char *const user_names[] = { "user_id", "total_cost", "records",
    "cpu_core_hours", "memory_gb_hours", "storage_gb_months" };
static const char *const day_names[] = { "day", "total_cost", "records",
    "cpu_core_hours", "memory_gb_hours", "storage_gb_months" };
static const enum report_kind user_kinds[] = { REPORT_TEXT, REPORT_COST,
    REPORT_INT, REPORT_DECIMAL, REPORT_DECIMAL, REPORT_DECIMAL };
static const enum report_kind day_kinds[] = { REPORT_DATE, REPORT_COST,
    REPORT_INT, REPORT_DECIMAL, REPORT_DECIMAL, REPORT_DECIMAL };
static const char *const res_names[] = { "resource_type", "unit", "quantity",
    "total_cost", "records" };
static const enum report_kind res_kinds[] = { REPORT_TEXT, REPORT_TEXT,
    REPORT_DECIMAL, REPORT_COST, REPORT_INT };

static const struct report_def defs[] = {
	[REPORT_RECORDS] = { "none", REPORT_SQL_RAW, REPORT_SQL_RAW_ONE,
	    raw_names, raw_kinds, 9 },
	[REPORT_BY_USER] = { "user", REPORT_SQL_BY_USER,
	    REPORT_SQL_BY_USER_ONE, user_names, user_kinds, 6 },
	[REPORT_BY_DAY] = { "day", REPORT_SQL_BY_DAY, REPORT_SQL_BY_DAY_ONE,
	    day_names, day_kinds, 6 },
	[REPORT_BY_RESOURCE] = { "resource", REPORT_SQL_BY_RESOURCE,
	    REPORT_SQL_BY_RESOURCE_ONE, res_names, res_kinds, 5 },
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

struct report {
	const struct report_def *def;
	struct db *db;           /* borrowed: the second connection */
	struct db_result *res;
};

int
report_group_parse(const char *s, enum report_group *out)
{
	size_t i;

	for (i = 1; i < NDEFS; i++)
		if (strcmp(s, defs[i].group) == 0) {
			*out = (enum report_group)i;
			return 0;
		}
	return -1;
}

const char *
report_group_name(enum report_group g)
{
	return (unsigned)g < NDEFS ? defs[g].group : "none";
}

enum result_code
report_open(struct db *db, enum report_group group, int64_t from, int64_t to,
    const char *user_id, struct report **out, struct result *r)
{
	char a[TIME_TEXT_MAX], b[TIME_TEXT_MAX];
	char bounds[REPORT_TZ_SPANS][TIME_TEXT_MAX];
	struct db_param p[2 * REPORT_TZ_SPANS + 2];
	struct tz_span spans[REPORT_TZ_SPANS];
	struct report *rp;
	size_t np = 0, i;
	unsigned stmt;
	int nspans = 0;
	struct account acct;
	struct db *rdb;
	int rc;

	*out = NULL;
	if ((unsigned)group >= NDEFS)
		return result_set(r, RESULT_INVALID, "group_by",
		    "group_by must be user, resource or day");
	if (user_id != NULL) {
		if ((rc = account_find(db, user_id, &acct)) == DB_NOT_FOUND)
			return result_set(r, RESULT_NOT_FOUND, "user_id",
			    "no such user");
		if (rc != DB_OK)
			return result_db(r, rc);
		/* days at the account's local midnights */
		if (group == REPORT_BY_DAY && !period_zone_is_utc(&acct.zone) &&
		    (nspans = period_zone_offsets(&acct.zone, from, to, spans,
		    REPORT_TZ_SPANS)) < 0)
			return result_set(r, RESULT_INVALID, "to", "a report "
			    "by day in %s spans at most %d changes of its UTC "
			    "offset: ask for a shorter range", acct.zone.zone,
			    REPORT_TZ_SPANS - 1);
	}
	if ((rdb = db_long(db)) == NULL ||
	    (rp = calloc(1, sizeof(*rp))) == NULL)
		return result_set(r, RESULT_ERROR, NULL,
		    "report: out of memory");
	rp->def = &defs[group];
	rp->db = rdb;
	time_format_db(from, a, sizeof(a));
	time_format_db(to, b, sizeof(b));
	stmt = user_id != NULL ? rp->def->sql_one : rp->def->sql_all;
	if (nspans > 0) {
		/* each span's end and offset; the unused ones end never */
		stmt = REPORT_SQL_BY_LOCAL_DAY_ONE;
		for (i = 0; i + 1 < REPORT_TZ_SPANS; i++) {
			if (i + 1 < (size_t)nspans)
				time_format_db(spans[i + 1].start, bounds[i],
				    sizeof(bounds[i]));
			else
				snprintf(bounds[i], sizeof(bounds[i]),
				    "9999-12-31 23:59:59");
			p[np++] = DBP_STR(bounds[i]);
			p[np++] = DBP_INT(spans[i < (size_t)nspans ? i :
			    (size_t)nspans - 1].offset);
		}
		p[np++] = DBP_INT(spans[nspans - 1].offset);
	}
	p[np++] = DBP_STR(a);
	p[np++] = DBP_STR(b);
	if (user_id != NULL)
		p[np++] = DBP_INT(acct.id);
	rc = db_get_stream(rdb, &report_stmts, stmt, p, np, &rp->res);
	if (rc != DB_OK) {
		log_warnx("report: %s", db_error(rdb));
		free(rp);
		if (rc == DB_UNAVAILABLE || rc == DB_RETRY)
			return result_db(r, rc);
		return result_set(r, RESULT_ERROR, NULL,
		    "report: database error %u: %s", db_errno(rdb),
		    db_error(rdb));
	}
	*out = rp;
	return result_set(r, RESULT_OK, NULL, "ok");
}

int
report_next(struct report *rp)
{
	return db_fetch(rp->res);
}

size_t
report_ncols(const struct report *rp)
{
	return rp->def->ncols;
}

const char *
report_col_name(const struct report *rp, size_t i)
{
	return i < rp->def->ncols ? rp->def->names[i] : "?";
}

enum report_kind
report_col_kind(const struct report *rp, size_t i)
{
	return i < rp->def->ncols ? rp->def->kinds[i] : REPORT_TEXT;
}

const char *
report_cell(const struct report *rp, size_t i, char *buf, size_t size)
{
	enum report_kind kind = report_col_kind(rp, i);
	size_t len;
	const char *v = db_col(rp->res, i, &len);
	int64_t n;

	if (v == NULL)
		return NULL;
	switch (kind) {
	case REPORT_DECIMAL:
	case REPORT_PRICE:
	case REPORT_COST:
		if (money_parse(v, len, 6, &n) != 0 || money_format_trim(n,
		    kind == REPORT_DECIMAL ? 0 : 2, buf, size) < 0)
			return v;
		return buf;
	case REPORT_TIME:
		if (time_parse_db(v, len, &n) != 0 ||
		    time_format_rfc3339(n, buf, size) < 0)
			return v;
		return buf;
	default:
		return v;
	}
}

const char *
report_error(const struct report *rp)
{
	return db_error(rp->db);
}

void
report_close(struct report *rp)
{
	if (rp == NULL)
		return;
	db_result_free(rp->res);
	free(rp);
}
