/*
 * jobs: running a job and its run records (jobs.h).  Run records are
 * written outside any job transaction, so a run that dies still leaves its
 * "running" row behind as evidence.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "result.h"
#include "timeutil.h"

enum { JOBS_BEGIN, JOBS_FINISH, JOBS_LAST_RUN, JOBS_LAST_SUCCESS,
    JOBS_NSTMTS };

/* the columns of JOBS_LAST_RUN */
enum { RUN_COL_ID, RUN_COL_TRIGGER, RUN_COL_STATUS, RUN_COL_STARTED,
    RUN_COL_FINISHED, RUN_COL_ITEMS, RUN_COL_MESSAGE, RUN_NCOLS };

static const struct db_stmt jobs_sql[JOBS_NSTMTS] = {
	[JOBS_BEGIN] = {
	    "INSERT INTO billing_job_runs (job, trigger_source, status, host, "
	    "pid, started_at) VALUES (?, ?, 'running', ?, ?, ?)", 5, 0 },
	[JOBS_FINISH] = {
	    "UPDATE billing_job_runs SET status = ?, finished_at = ?, "
	    "items = ?, message = ? WHERE id = ?", 5, 0 },
	[JOBS_LAST_RUN] = {
	    "SELECT id, trigger_source, status, started_at, finished_at, "
	    "items, message FROM billing_job_runs WHERE job = ? "
	    "ORDER BY started_at DESC, id DESC LIMIT 1", 1, RUN_NCOLS },
	[JOBS_LAST_SUCCESS] = {
	    "SELECT MAX(finished_at) FROM billing_job_runs "
	    "WHERE job = ? AND status = 'succeeded'", 1, 1 },
};

const struct db_stmts jobs_stmts = DB_STMTS("jobs", jobs_sql);

int
job_run_begin(struct db *db, const char *job, const char *trigger,
    uint64_t *run_id)
{
	char host[256] = "", now[TIME_TEXT_MAX];

	gethostname(host, sizeof(host) - 1);
	time_format_db(time_now_usec(), now, sizeof(now));
	struct db_param p[] = { DBP_STR(job), DBP_STR(trigger), DBP_STR(host),
	    DBP_INT(getpid()), DBP_STR(now) };
	return db_run(db, &jobs_stmts, JOBS_BEGIN, p, 5, NULL, run_id);
}

int
job_run_finish(struct db *db, uint64_t run_id, int ok, uint64_t items,
    const char *message)
{
	char now[TIME_TEXT_MAX];

	time_format_db(time_now_usec(), now, sizeof(now));
	struct db_param p[] = { DBP_STR(ok ? "succeeded" : "failed"),
	    DBP_STR(now), DBP_INT(items),
	    message && *message ? DBP_STR(message) : DBP_NULLV, DBP_INT(run_id) };
	return db_run(db, &jobs_stmts, JOBS_FINISH, p, 5, NULL, NULL);
}

enum result_code
job_execute(struct app *app, const struct job_def *job, const char *trigger,
    const struct job_opts *opts, struct job_result *result, uint64_t *run_id)
{
	uint64_t id = 0;
	int64_t t0 = time_mono_usec();
	int rc;

	memset(result, 0, sizeof(*result));
	if (run_id != NULL)
		*run_id = 0;
	if ((rc = job_run_begin(app->db, job->name, trigger, &id)) != DB_OK) {
		snprintf(result->message, sizeof(result->message),
		    "cannot record the run: %s", db_error(app->db));
		result->unavailable = 1;
		return RESULT_UNAVAILABLE;
	}
	/* enabled: false: the run is recorded, its work is not done */
	if (!app->cfg->enabled) {
		snprintf(result->message, sizeof(result->message),
		    "%s", JOB_DISABLED_MESSAGE);
		rc = 0;
	} else
		rc = job->run(app, opts, result);
	if (rc != 0 && !db_is_connected(app->db))
		result->unavailable = 1;
	if (rc == 0 && result->message[0] == '\0')
		snprintf(result->message, sizeof(result->message),
		    "%llu items in %lld ms", (unsigned long long)result->items,
		    (long long)((time_mono_usec() - t0) / 1000));
	if (job_run_finish(app->db, id, rc == 0, result->items,
	    result->message) != DB_OK)
		log_warnx("%s: cannot record the end of run %llu: %s",
		    job->name, (unsigned long long)id, db_error(app->db));
	if (run_id != NULL)
		*run_id = id;
	if (rc == 0)
		return RESULT_OK;
	return result->unavailable ? RESULT_UNAVAILABLE : RESULT_ERROR;
}

/* The row of JOBS_LAST_RUN into *run. */
static void
read_run(const struct db_result *res, struct job_run *run)
{
	int64_t v;

	memset(run, 0, sizeof(*run));
	if (db_col_i64(res, RUN_COL_ID, &v) == 0)
		run->id = (uint64_t)v;
	db_col_text(res, RUN_COL_TRIGGER, run->trigger, sizeof(run->trigger));
	db_col_text(res, RUN_COL_STATUS, run->status, sizeof(run->status));
	/* an unreadable time reads as none */
	if (db_col_time(res, RUN_COL_STARTED, &run->started_at) != 0)
		run->started_at = 0;
	if (db_col_time(res, RUN_COL_FINISHED, &run->finished_at) != 0)
		run->finished_at = 0;
	if (db_col_i64(res, RUN_COL_ITEMS, &v) == 0)
		run->items = (uint64_t)v;
	run->has_message = db_col(res, RUN_COL_MESSAGE, NULL) != NULL;
	db_col_text(res, RUN_COL_MESSAGE, run->message, sizeof(run->message));
}

enum result_code
job_status_get(struct db *db, const char *job, struct job_status *st,
    struct result *r)
{
	struct db_result *res = NULL;
	int rc, f;

	memset(st, 0, sizeof(*st));
	struct db_param p[] = { DBP_STR(job) };
	if ((rc = db_get(db, &jobs_stmts, JOBS_LAST_RUN, p, 1, &res)) != DB_OK)
		return result_db(r, rc);
	if ((f = db_fetch(res)) == 1) {
		st->has_run = 1;
		read_run(res, &st->last);
	}
	db_result_free(res);
	if (f < 0)
		return result_db(r, f);
	if ((rc = db_get(db, &jobs_stmts, JOBS_LAST_SUCCESS, p, 1,
	    &res)) != DB_OK)
		return result_db(r, rc);
	if ((f = db_fetch(res)) == 1 &&
	    db_col_time(res, 0, &st->last_success_at) != 0)
		st->last_success_at = 0;
	db_result_free(res);
	return f < 0 ? result_db(r, f) : RESULT_OK;
}
