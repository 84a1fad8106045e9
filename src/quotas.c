/* placeholder until the quota job lands */
#include <stdio.h>

#include "jobs.h"
#include "quotas.h"

int
quotas_job(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	(void)app;
	(void)opts;
	snprintf(result->message, sizeof(result->message),
	    "check-quotas is not implemented yet");
	return -1;
}
