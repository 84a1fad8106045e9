/*
 * billing-check-quotas: the quota check (cron/, every 15 minutes; also POST
 * jobs/check-quotas).  See quotas.h.
 */
#include "job_main.h"

int
main(int argc, char *argv[])
{
	return job_main("check-quotas", argc, argv);
}
