/*
 * job_main: the body of every cron helper (billing-calculate-usage,
 * billing-check-quotas, billing-generate-invoices, billing-dispatch-events),
 * linked into each of them; not part of the library.
 */
#ifndef BILLING_JOB_MAIN_H
#define BILLING_JOB_MAIN_H

/*
 * Parses -c CONFIG (and -v; --date for generate-invoices), loads the config,
 * connects, runs job_execute for the job named job_name (job_table) with
 * trigger "cron", prints the one-line outcome and returns the exit code
 * (0 or 1; 2 for a usage error).
 */
int job_main(const char *job_name, int argc, char *argv[]);

#endif
