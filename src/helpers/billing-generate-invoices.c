/*
 * billing-generate-invoices: the daily invoice check (cron/, also POST
 * jobs/generate-invoices).  On invoiceDay it invoices the period just ended
 * for every account; every day it finalizes drafts whose review window has
 * passed and marks unpaid invoices past due as overdue.  --date YYYY-MM-DD
 * runs it as of that day.  See invoices.h.
 */
#include "job_main.h"

int
main(int argc, char *argv[])
{
	return job_main("generate-invoices", argc, argv);
}
