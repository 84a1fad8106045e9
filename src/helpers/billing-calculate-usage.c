/*
 * billing-calculate-usage: the hourly usage job (cron/, also POST
 * jobs/calculate-usage).  Cuts every session segment not yet metered into
 * hourly usage records; see metering.h.
 */
#include "job_main.h"

int
main(int argc, char *argv[])
{
	return job_main("calculate-usage", argc, argv);
}
