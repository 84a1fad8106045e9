/*
 * jobs: what runs a scheduled job, and the run records in billing_job_runs
 * (the only writer of that table).  A cron helper and POST jobs/{name} both
 * go through job_execute, so a run is recorded the same way whoever started
 * it: running when it starts, succeeded or failed with a count and a
 * one-line message.
 *
 * This module knows no job by name: the table of jobs is job_table.c, a
 * module above the jobs (metering, quotas, invoices, dispatch), which only
 * see the types declared here.
 */
#ifndef BILLING_JOBS_H
#define BILLING_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct app;
struct db;

struct job_opts {
	int64_t now;     /* the run's notion of "now" (usec); 0: the clock */
};

struct job_result {
	uint64_t items;        /* records written, accounts invoiced, ... */
	char message[256];     /* one line for the run record and the exit */
	int unavailable;       /* it failed because the database or Stripe
	                        * could not be reached: worth a retry (503) */
};

/* The outcome of every run while billing is disabled (enabled: false). */
#define JOB_DISABLED_MESSAGE "billing disabled, nothing done"

/* Runs the job's work.  Returns 0, or -1 with result->message set. */
typedef int (*job_run_fn)(struct app *app, const struct job_opts *opts,
    struct job_result *result);

struct job_def {
	const char *name;      /* "calculate-usage" */
	const char *schedule;  /* cron expression of the default schedule */
	const char *describe;
	job_run_fn run;
};

/*
 * Records the start, runs the job (unless billing is disabled: then it
 * succeeds with JOB_DISABLED_MESSAGE and 0 items), records the end.
 * trigger is "cron", "api" or "manual".  Returns RESULT_OK; or
 * RESULT_UNAVAILABLE when the start could not be recorded or the job failed
 * for want of the database or Stripe; or RESULT_ERROR.  On failure
 * result->message says why (it is also stored, when a record was made).
 * *run_id (may be NULL) is the record's id, 0 when none was made.
 */
enum result_code job_execute(struct app *app, const struct job_def *job,
    const char *trigger, const struct job_opts *opts,
    struct job_result *result, uint64_t *run_id);

/* Lower level: the run record alone (enum db_rc). */
int job_run_begin(struct db *db, const char *job, const char *trigger,
    uint64_t *run_id);
int job_run_finish(struct db *db, uint64_t run_id, int ok, uint64_t items,
    const char *message);

/* The last run of a job and its last success, for GET jobs/status. */
struct job_run {
	uint64_t id;
	char trigger[17];       /* "cron", "api", "manual" */
	char status[17];        /* "running", "succeeded", "failed" */
	int64_t started_at;     /* usec */
	int64_t finished_at;    /* usec; 0: not finished */
	uint64_t items;
	int has_message;
	char message[4001];     /* up to 1000 characters */
};

struct job_status {
	int has_run;            /* 0: never run; last is empty */
	struct job_run last;
	int64_t last_success_at; /* usec; 0: never succeeded */
};

/* Reads the status of job (a name).  RESULT_OK, or a database failure
 * (result_db). */
enum result_code job_status_get(struct db *db, const char *job,
    struct job_status *st, struct result *r);

/* The statement table (statements.c). */
struct db_stmts;
extern const struct db_stmts jobs_stmts;

#endif
