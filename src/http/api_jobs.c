/*
 * GET jobs/status: the last run of each scheduled job, for operators and
 * monitoring.  POST jobs/{name}: run one now.
 */
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "jobs.h"
#include "json_util.h"
#include "timeutil.h"

static const char SQL_LAST_RUN[] =
    "SELECT id, trigger_source, status, started_at, finished_at, items, message "
    "FROM billing_job_runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT 1";
static const char SQL_LAST_SUCCESS[] =
    "SELECT MAX(finished_at) FROM billing_job_runs "
    "WHERE job = ? AND status = 'succeeded'";

static struct json_object *
time_or_null(const char *dbtext)
{
	int64_t usec;

	if (dbtext == NULL || time_parse_db(dbtext, strlen(dbtext), &usec) != 0)
		return NULL;
	return json_time(usec);
}

/* Adds "last_run" and "last_success_at" for one job to o. */
static int
add_job_runs(struct app *app, const char *job, struct json_object *o)
{
	struct db_result *res = NULL;
	struct json_object *run = NULL;
	int64_t v;
	int rc, r;

	struct db_param p[] = { DBP_STR(job) };
	if ((rc = db_query(app->db, SQL_LAST_RUN, p, 1, &res)) != DB_OK)
		return rc;
	if ((r = db_fetch(res)) == 1) {
		run = json_object_new_object();
		if (db_col_i64(res, 0, &v) == 0)
			json_object_object_add(run, "id", json_object_new_int64(v));
		json_object_object_add(run, "trigger",
		    json_object_new_string(db_col(res, 1, NULL)));
		json_object_object_add(run, "status",
		    json_object_new_string(db_col(res, 2, NULL)));
		json_object_object_add(run, "started_at",
		    time_or_null(db_col(res, 3, NULL)));
		json_object_object_add(run, "finished_at",
		    time_or_null(db_col(res, 4, NULL)));
		if (db_col_i64(res, 5, &v) == 0)
			json_object_object_add(run, "items",
			    json_object_new_int64(v));
		json_object_object_add(run, "message", db_col(res, 6, NULL) ?
		    json_object_new_string(db_col(res, 6, NULL)) : NULL);
	}
	db_result_free(res);
	if (r < 0) {
		json_object_put(run);
		return r;
	}
	json_object_object_add(o, "last_run", run);

	if ((rc = db_query(app->db, SQL_LAST_SUCCESS, p, 1, &res)) != DB_OK)
		return rc;
	r = db_fetch(res);
	json_object_object_add(o, "last_success_at",
	    r == 1 ? time_or_null(db_col(res, 0, NULL)) : NULL);
	db_result_free(res);
	return r < 0 ? r : DB_OK;
}

int
api_jobs_status(struct app *app, struct http_request *req)
{
	struct json_object *root = json_object_new_object();
	struct json_object *jobs = json_object_new_array();
	size_t i;
	int rc = DB_OK;

	json_object_object_add(root, "jobs", jobs);
	for (i = 0; i < job_defs_count && rc == DB_OK; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name",
		    json_object_new_string(job_defs[i].name));
		json_object_object_add(o, "schedule",
		    json_object_new_string(job_defs[i].schedule));
		json_object_object_add(o, "description",
		    json_object_new_string(job_defs[i].describe));
		json_object_array_add(jobs, o);
		rc = add_job_runs(app, job_defs[i].name, o);
	}
	if (rc != DB_OK)
		api_db_error(app, req, rc);
	else
		http_send_json(req, 200, root);
	json_object_put(root);
	return 0;
}

/* Runs the job in this worker (as of opts, borrowed) and answers with its
 * run record. */
static int
run_job(struct app *app, struct http_request *req, const struct job_def *job,
    const struct job_opts *opts)
{
	struct job_result result;
	struct json_object *o;
	uint64_t run_id = 0;
	int ok;

	ok = job_execute(app, job, "api", opts, &result, &run_id) == 0;
	if (!ok && run_id == 0)
		return api_db_error(app, req, DB_UNAVAILABLE);
	if (!ok && result.unavailable)
		return http_send_error(req, 503, "unavailable", result.message,
		    NULL, NULL);
	if (!ok)
		return http_send_error(req, 500, "internal", result.message,
		    NULL, NULL);
	o = json_object_new_object();
	json_object_object_add(o, "job", json_object_new_string(job->name));
	json_object_object_add(o, "run_id", json_object_new_int64((int64_t)run_id));
	json_object_object_add(o, "status", json_object_new_string("succeeded"));
	json_object_object_add(o, "items",
	    json_object_new_int64((int64_t)result.items));
	json_object_object_add(o, "message",
	    json_object_new_string(result.message));
	http_send_json(req, 200, o);
	json_object_put(o);
	return 0;
}

/*
 * {"date": "YYYY-MM-DD"}: the run as of 00:00 UTC that day, a day of the
 * clock's past or today (after 1970-01-01: a zero "now" means the clock).
 * Sets *now (0 when absent).  0, or -1 after answering 400.
 */
static int
date_option(struct http_request *req, struct json_object *body, int64_t *now)
{
	int date_only = 0, r;

	*now = 0;
	r = json_field_time(body, "date", 1, now, &date_only);
	if (r < 0 || (r == 1 && (!date_only || *now <= 0 ||
	    *now > time_now_usec()))) {
		*now = 0;
		return api_bad_param(req, "date", "must be a day YYYY-MM-DD "
		    "after 1970-01-01 and not after today");
	}
	return 0;
}

/*
 * POST jobs/{name}, with an optional JSON body of options (generate-invoices
 * takes {"date": "YYYY-MM-DD"} to run as of that day).
 */
int
api_jobs_run(struct app *app, struct http_request *req)
{
	static const char *const no_options[] = { NULL };
	static const char *const invoice_options[] = { "date", NULL };
	struct json_object *body = NULL;
	struct job_opts opts = { 0 };
	const struct job_def *job;
	int bad;

	if ((job = job_find(req->params[0])) == NULL)
		return http_send_error(req, 404, "not_found", "no such job",
		    "name", NULL);
	if (req->content_length > 0 || req->content_type != NULL) {
		if (http_read_json(req, &body) != 0)
			return -1;
		bad = strcmp(job->name, "generate-invoices") == 0 ?
		    api_check_keys(req, body, invoice_options) != 0 ||
		    date_option(req, body, &opts.now) != 0 :
		    api_check_keys(req, body, no_options) != 0;
		json_object_put(body);
		if (bad)
			return -1;
	}
	return run_job(app, req, job, &opts);
}
