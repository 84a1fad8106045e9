/*
 * billing-calculate-usage: the hourly usage job (cron/, also POST
 * jobs/calculate-usage).  Cuts every session segment not yet metered into
 * hourly usage records; see metering.h.
 */
#include "jobs.h"

int
main(int argc, char *argv[])
{
	return job_helper_main("calculate-usage", argc, argv);
}
