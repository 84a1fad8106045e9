/*
 * billing-dispatch-events: delivers the events outbox to eventsWebhookUrl
 * (cron/, every minute).  See dispatch.h.
 */
#include "jobs.h"

int
main(int argc, char *argv[])
{
	return job_helper_main("dispatch-events", argc, argv);
}
