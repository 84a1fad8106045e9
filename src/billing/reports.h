/*
 * reports: the usage export of GET admin/reports, as a cursor.  Rows stream
 * from an unbuffered query on the process's second connection (db_long,
 * with database.reportTimeoutSeconds), so a million records pass in
 * constant memory:
 *
 *	report_open(db, group, from, to, user_id, &rp, &r);
 *	while ((n = report_next(rp)) == 1)
 *		... report_cell(rp, i, buf, sizeof(buf)) for each column ...
 *	report_close(rp);
 *
 * No other statement may run on the second connection while it is open.
 */
#ifndef BILLING_REPORTS_H
#define BILLING_REPORTS_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct db;
struct report;

/* What a row is: one usage record, or a sum by user, day or resource. */
enum report_group { REPORT_RECORDS, REPORT_BY_USER, REPORT_BY_DAY,
    REPORT_BY_RESOURCE };

/* What a column holds, for its output form: decimals print trimmed
 * (quantities to at least 0 places, prices and costs to 2), times as
 * RFC 3339, dates as YYYY-MM-DD. */
enum report_kind { REPORT_TEXT, REPORT_DECIMAL, REPORT_PRICE, REPORT_COST,
    REPORT_INT, REPORT_TIME, REPORT_DATE };

/* The group named s ("user", "day" or "resource"): 0, or -1. */
int report_group_parse(const char *s, enum report_group *out);
/* "none", "user", "day" or "resource". */
const char *report_group_name(enum report_group g);

/*
 * Starts the report of the usage records that start in [from, to), of
 * user_id's account only unless user_id is NULL (RESULT_NOT_FOUND, param
 * "user_id", when there is no such user).  On RESULT_OK *out is open and
 * the caller closes it with report_close.
 */
enum result_code report_open(struct db *db, enum report_group group,
    int64_t from, int64_t to, const char *user_id, struct report **out,
    struct result *r);

/* 1: a row is ready; 0: no more rows; < 0: an enum db_rc error (the
 * stream is cut: report_error says why). */
int report_next(struct report *rp);

size_t report_ncols(const struct report *rp);
const char *report_col_name(const struct report *rp, size_t i);
enum report_kind report_col_kind(const struct report *rp, size_t i);

/* Column i of the current row as output text (a JSON number's text for
 * the numeric kinds), in buf or borrowed from the row; NULL for SQL NULL. */
const char *report_cell(const struct report *rp, size_t i, char *buf,
    size_t size);

/* The database's last error on the report's connection, for logs. */
const char *report_error(const struct report *rp);

/* Frees the cursor (NULL is fine); unread rows are discarded. */
void report_close(struct report *rp);

/* The module's statements (statements.c). */
struct db_stmts;
extern const struct db_stmts report_stmts;

#endif
