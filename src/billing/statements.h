/*
 * statements: every statement table of the library, for the check that
 * prepares them all against the real schema (billing-migrate -s, run by the
 * integration suite test_statements), so a typo fails CI, not a request.
 * A module with SQL declares its table (db.h) and adds it here.
 */
#ifndef BILLING_STATEMENTS_H
#define BILLING_STATEMENTS_H

struct db;

/* Prepares every registered statement on db; report(msg, arg) for each
 * failure.  Returns the number of failures, or -1 when db is unreachable.
 * *count is set to the number of statements checked. */
int statements_check(struct db *db, void (*report)(const char *msg, void *arg),
    void *arg, unsigned *count);

#endif
