/*
 * statements: the list of the library's statement tables (statements.h).
 */
#include <stddef.h>

#include "db.h"
#include "dispatch.h"
#include "events.h"
#include "jobs.h"
#include "quotas.h"
#include "sql_rows.h"
#include "statements.h"

/* Each module's table, by layer and module; add a new one in its place. */
static const struct db_stmts *const tables[] = {
	/* core */

	/* billing: accounts, sessions, metering, usage, reports */

	/* billing: credits, invoices, payments */

	/* billing: subscriptions, checkout, Stripe webhooks */

	/* billing: jobs, events, dispatch, quotas */
	&jobs_stmts,
	&events_stmts,
	&dispatch_stmts,
	&quotas_stmts,

	NULL
};

/* The multi-row statements (sql_rows.h, SQL_ROWS_STMT). */
static struct sql_rows *const rows[] = {
	/* billing: accounts, sessions, metering, usage, reports */

	/* billing: credits, invoices, payments */

	/* billing: subscriptions, checkout, Stripe webhooks */

	/* billing: jobs, events, dispatch, quotas */
	&events_insert_rows,

	NULL
};

int
statements_check(struct db *db, void (*report)(const char *msg, void *arg),
    void *arg, unsigned *count)
{
	size_t i;
	int r, bad = 0;

	*count = 0;
	for (i = 0; tables[i] != NULL; i++) {
		if ((r = db_check_stmts(db, tables[i], report, arg)) < 0)
			return -1;
		bad += r;
		*count += (unsigned)tables[i]->n;
	}
	for (i = 0; rows[i] != NULL; i++) {
		if ((r = db_check_rows(db, rows[i], report, arg)) < 0)
			return -1;
		bad += r;
		*count += 1;
	}
	return bad;
}
