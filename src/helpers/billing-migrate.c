/*
 * billing-migrate: applies the pending migrations under sql/.
 *
 *   billing-migrate [-c config] [-d sqldir] [-s]
 *
 * Exit 0 when the schema is up to date (also when nothing was pending),
 * 1 with a one-line reason otherwise.  -s then prepares every statement of
 * the library against that schema (a line for each that fails; exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mysql.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "statements.h"

/* seconds a migration statement may take when reportTimeoutSeconds is unset */
#define MIGRATE_READ_TIMEOUT 300

#ifndef BILLING_SQL_DIR
#define BILLING_SQL_DIR "/usr/share/streamspace-billing/sql"
#endif

static void
report(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "billing-migrate: statement %s\n", msg);
}

/* -s: every statement of the library prepares on this schema. */
static int
check_statements(struct db *db)
{
	unsigned count = 0;
	int bad = statements_check(db, report, NULL, &count);

	if (bad < 0) {
		fprintf(stderr, "billing-migrate: database: %s\n", db_error(db));
		return -1;
	}
	log_info("%u statements checked, %d failed", count, bad);
	return bad == 0 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	const char *config_path = NULL, *dir = getenv("BILLING_SQL_DIR");
	struct billing_config *cfg = NULL;
	struct db *db = NULL;
	char err[512];
	int ch, applied = 0, rc = 1, check = 0;

	log_init("billing-migrate");
	while ((ch = getopt(argc, argv, "c:d:sh")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'd': dir = optarg; break;
		case 's': check = 1; break;
		default:
			fprintf(stderr, "usage: billing-migrate [-c config] "
			    "[-d sqldir] [-s]\n");
			return 2;
		}
	}
	if (dir == NULL)
		dir = BILLING_SQL_DIR;
	if ((cfg = config_load(config_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "billing-migrate: config: %s\n", err);
		return 1;
	}
	mysql_library_init(0, NULL, NULL);
	/* DDL can take long (an ALTER of a big table, a Galera cluster
	 * applying it everywhere): the reports' timeout, not a request's */
	cfg->database.read_timeout = cfg->database.report_timeout ?
	    cfg->database.report_timeout : MIGRATE_READ_TIMEOUT;
	if ((db = db_new(&cfg->database)) == NULL)
		goto out;
	if (db_connect(db) != DB_OK) {
		fprintf(stderr, "billing-migrate: database: %s\n", db_error(db));
		goto out;
	}
	if (migrate_apply(db, dir, &applied, err, sizeof(err)) != 0) {
		fprintf(stderr, "billing-migrate: %s\n", err);
		goto out;
	}
	log_info("schema up to date (%d migration%s applied)", applied,
	    applied == 1 ? "" : "s");
	if (check && check_statements(db) != 0)
		goto out;
	rc = 0;
out:
	db_free(db);
	config_free(cfg);
	mysql_library_end();
	return rc;
}
