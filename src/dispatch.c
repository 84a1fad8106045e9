/* placeholder until the dispatcher lands */
#include <stdio.h>

#include "dispatch.h"
#include "jobs.h"

int
dispatch_job(struct app *app, const struct job_opts *opts,
    struct job_result *result)
{
	(void)app;
	(void)opts;
	snprintf(result->message, sizeof(result->message),
	    "dispatch-events is not implemented yet");
	return -1;
}
