/*
 * GET jobs/status: the last run of each scheduled job, for operators and
 * monitoring.  POST jobs/{name}: run one now.
 */
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "app.h"
#include "http.h"
#include "job_table.h"
#include "jobs.h"
#include "json_util.h"
#include "result.h"
#include "timeutil.h"

/* A time of the run record as RFC 3339, or JSON null for none. */
static struct json_object *
time_or_null(int64_t usec)
{
	return usec != 0 ? json_time(usec) : NULL;
}

/* The last run of a job as the endpoint answers it (new reference). */
static struct json_object *
run_json(const struct job_run *run)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_int64((int64_t)run->id));
	json_object_object_add(o, "trigger",
	    json_object_new_string(run->trigger));
	json_object_object_add(o, "status", json_object_new_string(run->status));
	json_object_object_add(o, "started_at", time_or_null(run->started_at));
	json_object_object_add(o, "finished_at",
	    time_or_null(run->finished_at));
	json_object_object_add(o, "items",
	    json_object_new_int64((int64_t)run->items));
	json_object_object_add(o, "message", run->has_message ?
	    json_object_new_string(run->message) : NULL);
	return o;
}

int
api_jobs_status(struct app *app, struct http_request *req)
{
	struct json_object *root = json_object_new_object();
	struct json_object *jobs = json_object_new_array();
	struct job_status st;
	struct result r;
	size_t i;
	enum result_code rc = RESULT_OK;

	json_object_object_add(root, "jobs", jobs);
	for (i = 0; i < job_table_count && rc == RESULT_OK; i++) {
		const struct job_def *job = &job_table[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(job->name));
		json_object_object_add(o, "schedule",
		    json_object_new_string(job->schedule));
		json_object_object_add(o, "description",
		    json_object_new_string(job->describe));
		json_object_array_add(jobs, o);
		if ((rc = job_status_get(app->db, job->name, &st, &r)) != RESULT_OK)
			break;
		json_object_object_add(o, "last_run",
		    st.has_run ? run_json(&st.last) : NULL);
		json_object_object_add(o, "last_success_at",
		    time_or_null(st.last_success_at));
	}
	if (rc != RESULT_OK)
		api_send_result(req, &r);
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
	struct result r;
	uint64_t run_id = 0;
	enum result_code rc;

	rc = job_execute(app, job, "api", opts, &result, &run_id);
	if (rc != RESULT_OK) {
		result_set(&r, rc, NULL, "%s", result.message);
		return api_send_result(req, &r);
	}
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

	if ((job = job_table_find(req->params[0])) == NULL)
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
