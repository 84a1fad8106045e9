/*
 * migrate: applies sql/NNN_*.sql once each, in order, recording each with
 * its checksum in schema_migrations.  Safe to run again and concurrently.
 */
#ifndef BILLING_MIGRATE_H
#define BILLING_MIGRATE_H

#include <stddef.h>

struct db;

/*
 * Applies every pending migration found in dir.  *applied counts the files
 * applied by this call.  Returns 0, or -1 with a one-line reason in err.
 */
int migrate_apply(struct db *db, const char *dir, int *applied, char *err,
    size_t errlen);

/*
 * Splits a migration's text into statements: a statement ends with ';' at
 * the end of a line; lines starting with "--" are dropped.  Calls fn for
 * each non-empty statement (NUL-terminated, without the ';').  Stops and
 * returns fn's non-zero result, else 0.  Exposed for unit tests.
 */
int migrate_split(char *text, int (*fn)(const char *stmt, void *arg), void *arg);

#endif
