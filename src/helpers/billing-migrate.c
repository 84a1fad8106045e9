/*
 * billing-migrate: applies the pending migrations under sql/.
 *
 *   billing-migrate [-c config] [-d sqldir]
 *
 * Exit 0 when the schema is up to date (also when nothing was pending),
 * 1 with a one-line reason otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mysql.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

#ifndef BILLING_SQL_DIR
#define BILLING_SQL_DIR "/usr/share/streamspace-billing/sql"
#endif

int
main(int argc, char *argv[])
{
	const char *config_path = NULL, *dir = getenv("BILLING_SQL_DIR");
	struct billing_config *cfg = NULL;
	struct db *db = NULL;
	char err[512];
	int ch, applied = 0, rc = 1;

	log_init("billing-migrate");
	while ((ch = getopt(argc, argv, "c:d:h")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: billing-migrate [-c config] [-d sqldir]\n");
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
	rc = 0;
out:
	db_free(db);
	config_free(cfg);
	mysql_library_end();
	return rc;
}
