/*
 * job_table: the scheduled jobs by name, each with its default schedule and
 * the function that does its work.  It sits above the jobs (metering,
 * quotas, invoices, dispatch) and jobs.c, which knows no job by name: the
 * calls go one way.
 */
#ifndef BILLING_JOB_TABLE_H
#define BILLING_JOB_TABLE_H

#include <stddef.h>

#include "jobs.h"

extern const struct job_def job_table[];
extern const size_t job_table_count;

/* Borrowed definition for name, or NULL. */
const struct job_def *job_table_find(const char *name);

#endif
