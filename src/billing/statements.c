/*
 * statements: the list of the library's statement tables (statements.h).
 */
#include <stddef.h>

#include "account_details.h"
#include "accounts.h"
#include "db.h"
#include "dispatch.h"
#include "emails.h"
#include "events.h"
#include "jobs.h"
#include "metering.h"
#include "metering_impl.h"
#include "quotas.h"
#include "reports.h"
#include "sessions.h"
#include "sql_rows.h"
#include "statements.h"
#include "streamspace.h"
#include "plan_changes.h"
#include "subscriptions.h"
#include "usage.h"
#include "webhook.h"

/* billing: credits, invoices, payments */
#include "credit_notes.h"
#include "credits.h"
#include "invoice_impl.h"
#include "invoices.h"
#include "payments.h"
#include "webhook.h"

/* Each module's table, by layer and module; add a new one in its place. */
static const struct db_stmts *const tables[] = {
	/* core */

	/* billing: accounts, sessions, metering, usage, reports */
	&account_list_stmts,
	&account_contact_stmts,
	&account_tz_stmts,
	&account_billing_stmts,
	&account_details_stmts,
	&session_stmts,
	&streamspace_stmts,
	&metering_stmts,
	&metering_write_claim_stmts,
	&usage_stmts,
	&report_stmts,

	/* billing: credits, invoices, payments */
	&credits_stmts,
	&credit_notes_stmts,
	&invoices_stmts,
	&invoice_build_stmts,
	&invoice_batch_stmts,
	&invoice_job_stmts,
	&invoice_stripe_stmts,
	&invoice_tax_stmts,
	&invoice_issued_stmts,
	&payments_stmts,
	&stripe_push_stmts,
	&webhook_payments_stmts,

	/* billing: subscriptions, checkout, Stripe webhooks */
	&account_stmts,
	&subscription_stmts,
	&plan_change_stmts,
	&webhook_stmts,

	/* billing: jobs, events, dispatch, quotas */
	&jobs_stmts,
	&events_stmts,
	&dispatch_stmts,
	&emails_stmts,
	&quotas_stmts,

	NULL
};

/* The multi-row statements (sql_rows.h, SQL_ROWS_STMT). */
static struct sql_rows *const rows[] = {
	/* billing: accounts, sessions, metering, usage, reports */
	&account_advance_rows,
	&metering_write_records_sql,
	&metering_write_daily_sql,
	&metering_write_day_totals_sql,
	&metering_write_lock_accounts_sql,
	&session_progress_rows,
	&session_beats_read_rows,
	&session_beats_update_rows,

	/* billing: credits, invoices, payments */
	&credits_rows_applications,
	&invoice_batch_rows_sums,
	&invoice_batch_rows_invoices,
	&invoice_lines_rows_insert,
	&invoice_tax_rows_insert,

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
