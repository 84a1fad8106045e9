/*
 * jobs: run records.  They are written outside any job transaction, so a run
 * that dies still leaves its "running" row behind as evidence.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "jobs.h"
#include "timeutil.h"

const struct job_def job_defs[] = {
	{ "calculate-usage", "5 * * * *", "cuts session segments into hourly usage records" },
	{ "check-quotas", "*/15 * * * *", "checks accounts against their plan limits" },
	{ "generate-invoices", "30 0 * * *", "invoices the period just ended on invoiceDay" },
	{ "dispatch-events", "* * * * *", "delivers the events outbox" },
};
const size_t job_defs_count = sizeof(job_defs) / sizeof(job_defs[0]);

static const char SQL_BEGIN[] =
    "INSERT INTO billing_job_runs (job, trigger_source, status, host, pid, "
    "started_at) VALUES (?, ?, 'running', ?, ?, ?)";
static const char SQL_FINISH[] =
    "UPDATE billing_job_runs SET status = ?, finished_at = ?, items = ?, "
    "message = ? WHERE id = ?";

const struct job_def *
job_find(const char *name)
{
	size_t i;

	for (i = 0; i < job_defs_count; i++)
		if (strcmp(job_defs[i].name, name) == 0)
			return &job_defs[i];
	return NULL;
}

int
job_run_begin(struct db *db, const char *job, const char *trigger,
    uint64_t *run_id)
{
	char host[256] = "", now[TIME_TEXT_MAX];

	gethostname(host, sizeof(host) - 1);
	time_format_db(time_now_usec(), now, sizeof(now));
	struct db_param p[] = { DBP_STR(job), DBP_STR(trigger), DBP_STR(host),
	    DBP_INT(getpid()), DBP_STR(now) };
	return db_exec(db, SQL_BEGIN, p, 5, NULL, run_id);
}

int
job_run_finish(struct db *db, uint64_t run_id, int ok, uint64_t items,
    const char *message)
{
	char now[TIME_TEXT_MAX], msg[1000];

	time_format_db(time_now_usec(), now, sizeof(now));
	snprintf(msg, sizeof(msg), "%s", message ? message : "");
	struct db_param p[] = { DBP_STR(ok ? "succeeded" : "failed"),
	    DBP_STR(now), DBP_INT(items), message ? DBP_STR(msg) : DBP_NULLV,
	    DBP_INT(run_id) };
	return db_exec(db, SQL_FINISH, p, 5, NULL, NULL);
}
