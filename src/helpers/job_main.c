/*
 * job_main: see job_main.h.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mysql.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "job_main.h"
#include "job_table.h"
#include "jobs.h"
#include "log.h"
#include "stripe.h"
#include "timeutil.h"

int
job_main(const char *job_name, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "date", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct job_def *job = job_table_find(job_name);
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
	if (job_execute(&app, job, "cron", &opts, &result, NULL) != RESULT_OK) {
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
