/*
 * jobs: the scheduled jobs, what runs them, and their run records in
 * billing_job_runs.  A cron helper and POST jobs/{name} both go through
 * job_execute, so a run is recorded the same way whoever started it: running
 * when it starts, succeeded or failed with a count and a one-line message.
 */
#ifndef BILLING_JOBS_H
#define BILLING_JOBS_H

#include <stddef.h>
#include <stdint.h>

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

extern const struct job_def job_defs[];
extern const size_t job_defs_count;

/* Borrowed definition for name, or NULL. */
const struct job_def *job_find(const char *name);

/*
 * Records the start, runs the job (unless billing is disabled: then it
 * succeeds with JOB_DISABLED_MESSAGE and 0 items), records the end.
 * trigger is "cron", "api" or "manual".  Returns 0 on success, -1 on
 * failure (result->message says why; it is also stored).  *run_id (may be
 * NULL) is the record's id.
 */
int job_execute(struct app *app, const struct job_def *job, const char *trigger,
    const struct job_opts *opts, struct job_result *result, uint64_t *run_id);

/* Lower level: the run record alone. */
int job_run_begin(struct db *db, const char *job, const char *trigger,
    uint64_t *run_id);
int job_run_finish(struct db *db, uint64_t run_id, int ok, uint64_t items,
    const char *message);

/*
 * The body of every cron helper: parses -c CONFIG, loads the config, connects, runs job_execute with trigger "cron",
 * prints the one-line outcome and returns the exit code (0 or 1).
 */
int job_helper_main(const char *job_name, int argc, char *argv[]);

#endif
