/*
 * jobs: the scheduled jobs' names and their run records in billing_job_runs.
 * Every helper and every POST jobs/{name} records a run: running when it
 * starts, succeeded or failed with a count and a one-line message at the end.
 */
#ifndef BILLING_JOBS_H
#define BILLING_JOBS_H

#include <stddef.h>
#include <stdint.h>

struct db;

struct job_def {
	const char *name;      /* "calculate-usage" */
	const char *schedule;  /* cron expression of the default schedule */
	const char *describe;
};

extern const struct job_def job_defs[];
extern const size_t job_defs_count;

/* Borrowed definition for name, or NULL. */
const struct job_def *job_find(const char *name);

/* Records a run as started.  trigger is "cron", "api" or "manual".
 * Returns a db rc; *run_id is set on success. */
int job_run_begin(struct db *db, const char *job, const char *trigger,
    uint64_t *run_id);

/* Records the end of a run.  message may be NULL. */
int job_run_finish(struct db *db, uint64_t run_id, int ok, uint64_t items,
    const char *message);

#endif
