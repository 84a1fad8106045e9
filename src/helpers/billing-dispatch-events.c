/*
 * billing-dispatch-events: delivers the events outbox to eventsWebhookUrl
 * (cron/, every minute).  See dispatch.h.
 */
#include "job_main.h"

int
main(int argc, char *argv[])
{
	return job_main("dispatch-events", argc, argv);
}
