/*
 * job_table: see job_table.h.
 */
#include <string.h>

#include "dispatch.h"
#include "invoices.h"
#include "job_table.h"
#include "metering.h"
#include "quotas.h"

const struct job_def job_table[] = {
	{ "calculate-usage", "5 * * * *",
	    "cuts session segments into hourly usage records", metering_job },
	{ "check-quotas", "*/15 * * * *",
	    "checks accounts against their plan limits", quotas_job },
	{ "generate-invoices", "30 0 * * *",
	    "invoices the period just ended on invoiceDay", invoice_job_run },
	{ "dispatch-events", "* * * * *",
	    "delivers the events outbox", dispatch_job },
};

const size_t job_table_count = sizeof(job_table) / sizeof(job_table[0]);

const struct job_def *
job_table_find(const char *name)
{
	size_t i;

	for (i = 0; i < job_table_count; i++)
		if (strcmp(job_table[i].name, name) == 0)
			return &job_table[i];
	return NULL;
}
