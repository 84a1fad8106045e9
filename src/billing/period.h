/*
 * period: billing periods.  A period runs from 00:00 UTC on invoiceDay of
 * one month to the same instant a month later (invoiceDay is 1-28, so every
 * month has that day).
 */
#ifndef BILLING_PERIOD_H
#define BILLING_PERIOD_H

#include <stdint.h>

/* The period containing `at`: [*start, *end). */
void period_containing(int invoice_day, int64_t at, int64_t *start,
    int64_t *end);

/* Start of the UTC day containing `at`, and of the day after. */
int64_t period_day_floor(int64_t at);
int64_t period_day_ceil(int64_t at);

#endif
