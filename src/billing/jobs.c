/*
 * jobs: the job table and the run records.  Run records are written outside
 * any job transaction, so a run that dies still leaves its "running" row
 * behind as evidence.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mysql.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "dispatch.h"
#include "invoices.h"
#include "metering.h"
#include "quotas.h"
#include "stripe.h"
#include "timeutil.h"

const struct job_def job_defs[] = {
	{ "calculate-usage", "5 * * * *",
	    "cuts session segments into hourly usage records", metering_job },
	{ "check-quotas", "*/15 * * * *",
	    "checks accounts against their plan limits", quotas_job },
	{ "generate-invoices", "30 0 * * *",
	    "invoices the period just ended on invoiceDay", invoice_job_run },
	{ "dispatch-events", "* * * * *",
	    "delivers the events outbox", dispatch_job },
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
	char now[TIME_TEXT_MAX];

	time_format_db(time_now_usec(), now, sizeof(now));
	struct db_param p[] = { DBP_STR(ok ? "succeeded" : "failed"),
	    DBP_STR(now), DBP_INT(items),
	    message && *message ? DBP_STR(message) : DBP_NULLV, DBP_INT(run_id) };
	return db_exec(db, SQL_FINISH, p, 5, NULL, NULL);
}

int
job_execute(struct app *app, const struct job_def *job, const char *trigger,
    const struct job_opts *opts, struct job_result *result, uint64_t *run_id)
{
	uint64_t id = 0;
	int64_t t0 = time_mono_usec();
	int rc;

	memset(result, 0, sizeof(*result));
	if ((rc = job_run_begin(app->db, job->name, trigger, &id)) != DB_OK) {
		snprintf(result->message, sizeof(result->message),
		    "cannot record the run: %s", db_error(app->db));
		return -1;
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
	return rc == 0 ? 0 : -1;
}

int
job_helper_main(const char *job_name, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "date", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct job_def *job = job_find(job_name);
	const char *config_path = NULL;
	struct billing_config *cfg = NULL;
	struct job_opts opts = { 0 };
	struct job_result result;
	struct app app;
	char err[512];
	int ch, rc = 1, verbose = 0;

	log_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'd':
			/* as of that day, 00:00 UTC: to catch up a missed day */
			if (strcmp(job_name, "generate-invoices") != 0 ||
			    time_parse_rfc3339(optarg, strlen(optarg), 1,
			    &opts.now, NULL) != 0 || opts.now > time_now_usec()) {
				fprintf(stderr, "billing-%s: --date: a past "
				    "YYYY-MM-DD (generate-invoices only)\n",
				    job_name);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: billing-%s [-v] [-c config]%s\n",
			    job_name, strcmp(job_name, "generate-invoices") == 0 ?
			    " [--date YYYY-MM-DD]" : "");
			return 2;
		}
	}
	if (job == NULL) {
		fprintf(stderr, "%s: unknown job\n", job_name);
		return 2;
	}
	if ((cfg = config_load(config_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "billing-%s: config: %s\n", job_name, err);
		return 1;
	}
	mysql_library_init(0, NULL, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	memset(&app, 0, sizeof(app));
	app.cfg = cfg;
	if ((app.db = db_new(&cfg->database)) == NULL)
		goto out;
	if (db_connect(app.db) != DB_OK) {
		fprintf(stderr, "billing-%s: database: %s\n", job_name,
		    db_error(app.db));
		goto out;
	}
	if (job_execute(&app, job, "cron", &opts, &result, NULL) != 0) {
		fprintf(stderr, "billing-%s: %s\n", job_name, result.message);
		goto out;
	}
	/* quiet on success under cron (which mails any output); -v or a
	 * terminal shows the outcome */
	if (verbose || isatty(STDERR_FILENO))
		log_info("%s", result.message);
	rc = 0;
out:
	db_free(app.db);
	config_free(cfg);
	stripe_close();
	curl_global_cleanup();
	mysql_library_end();
	return rc;
}
