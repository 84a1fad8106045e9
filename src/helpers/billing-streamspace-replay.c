/*
 * billing-streamspace-replay: applies a file of StreamSpace delivery bodies,
 * for backfills (docs/streamspace.md, "Backfill").
 *
 *   billing-streamspace-replay [-v] [-c config] FILE|-
 *
 * One delivery a line, the JSON body as StreamSpace sent it (its line end
 * is not part of it; blank lines are skipped).  Each goes through
 * streamspace_body_apply: the mapping of POST hooks/streamspace, at the
 * delivery's own timestamp, once by the body's SHA-256, without the
 * signature or the timestamp tolerance (this runs on the host with the
 * database credentials).  Prints the applied / duplicate / ignored / refused
 * counts; each refused line on standard error with its number and reason
 * (-v: each ignored one too).
 * Exit 0 when nothing was refused, 1 otherwise (and on a failure: the
 * configuration, the file, the database, which stops the run), 2 for a
 * usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "result.h"
#include "streamspace.h"
#include "timeutil.h"

#define PROG "billing-streamspace-replay"

static const char *
code_name(enum result_code c)
{
	switch (c) {
	case RESULT_INVALID: return "invalid";
	case RESULT_NOT_FOUND: return "not found";
	case RESULT_CONFLICT: return "conflict";
	case RESULT_SUSPENDED: return "suspended";
	default: return "error";
	}
}

static int
blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

int
main(int argc, char *argv[])
{
	const char *config_path = NULL, *path;
	struct billing_config *cfg = NULL;
	struct streamspace_delivery d;
	struct db *db = NULL;
	struct result r;
	enum result_code rc;
	unsigned long lineno = 0, applied = 0, dup = 0, ignored = 0,
	    refused = 0;
	char err[512], *line = NULL;
	size_t cap = 0, len;
	ssize_t n;
	FILE *in = NULL;
	int ch, status = 1, failed = 0, verbose = 0;

	log_init(PROG);
	while ((ch = getopt(argc, argv, "c:vh")) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'v': verbose = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	path = argv[optind];
	if ((cfg = config_load(config_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, PROG ": config: %s\n", err);
		return 1;
	}
	if (!cfg->enabled) {
		fprintf(stderr, PROG ": billing is disabled (enabled: false)\n");
		config_free(cfg);
		return 1;
	}
	if (strcmp(path, "-") == 0)
		in = stdin;
	else if ((in = fopen(path, "r")) == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		config_free(cfg);
		return 1;
	}
	mysql_library_init(0, NULL, NULL);
	if ((db = db_new(&cfg->database)) == NULL)
		goto out;
	if (db_connect(db) != DB_OK) {
		fprintf(stderr, PROG ": database: %s\n", db_error(db));
		goto out;
	}
	while ((n = getline(&line, &cap, in)) != -1) {
		lineno++;
		len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (blank(line, len))
			continue;
		rc = streamspace_body_apply(db, cfg, line, len,
		    time_now_usec(), &d, &r);
		if (rc == RESULT_UNAVAILABLE || rc == RESULT_ERROR) {
			/* the database: stop, the rest may depend on it */
			fprintf(stderr, PROG ": line %lu: stopped: %s\n",
			    lineno, r.message);
			failed = 1;
			break;
		}
		if (rc != RESULT_OK) {
			refused++;
			fprintf(stderr, PROG ": line %lu: refused (%s): %s\n",
			    lineno, code_name(rc), r.message);
		} else if (d.outcome == STREAMSPACE_DUPLICATE)
			dup++;
		else if (d.outcome == STREAMSPACE_IGNORED) {
			ignored++;
			if (verbose)
				fprintf(stderr, PROG ": line %lu: ignored: "
				    "%s\n", lineno, d.reason);
		} else
			applied++;
	}
	if (!failed && ferror(in)) {
		fprintf(stderr, PROG ": %s: read error\n", path);
		failed = 1;
	}
	printf("applied %lu, duplicate %lu, ignored %lu, refused %lu\n",
	    applied, dup, ignored, refused);
	status = failed || refused > 0 ? 1 : 0;
out:
	free(line);
	if (in != NULL && in != stdin)
		fclose(in);
	db_free(db);
	config_free(cfg);
	mysql_library_end();
	return status;
usage:
	fprintf(stderr, "usage: " PROG " [-v] [-c config] FILE|-\n");
	return 2;
}
