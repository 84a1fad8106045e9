/*
 * Unit tests for tz (local days in named zones) and the billing periods
 * built on it (period.c): midnights across daylight-saving changes (23-,
 * 25-, 23.5- and 24.5-hour days), a midnight that does not exist, the
 * +05:45 zone, TZ left as it was, and the cost of a call.
 */
#include "build-config.h"
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "period.h"
#include "timeutil.h"
#include "tz.h"

#define H (3600LL * USEC_PER_SEC)

static int64_t
at(const char *rfc3339)
{
	int64_t v = 0;

	ck_assert_int_eq(time_parse_rfc3339(rfc3339, strlen(rfc3339),
	    TIME_NO_DATE, &v, NULL), 0);
	return v;
}

START_TEST(test_valid_names)
{
	ck_assert(tz_valid("UTC"));
	ck_assert(tz_valid("America/Los_Angeles"));
	ck_assert(tz_valid("Australia/Lord_Howe"));
	ck_assert(tz_valid("Asia/Kathmandu"));
	ck_assert(tz_valid("America/Port-au-Prince"));
	ck_assert(tz_valid("Etc/GMT+5"));
}
END_TEST

START_TEST(test_invalid_names)
{
	ck_assert(!tz_valid(NULL));
	ck_assert(!tz_valid(""));
	ck_assert(!tz_valid("Mars/Olympus_Mons"));
	ck_assert(!tz_valid("america/los_angeles_"));
	ck_assert(!tz_valid("/etc/passwd"));
	ck_assert(!tz_valid("../../../etc/passwd"));
	ck_assert(!tz_valid("America/../../../etc/passwd"));
	ck_assert(!tz_valid("America"));          /* a directory */
	ck_assert(!tz_valid("America//Chicago"));
	ck_assert(!tz_valid("PST8PDT,M3.2.0,M11.1.0")); /* a POSIX rule */
	ck_assert(!tz_valid("right/UTC"));
	ck_assert(!tz_valid("posix/UTC"));
	ck_assert(!tz_valid("zone.tab"));         /* not a TZif file */
	ck_assert(!tz_valid("Europe/Paris\n"));
}
END_TEST

START_TEST(test_la_23_and_25_hour_days)
{
	/* spring forward at 02:00 on 2024-03-10: a 23-hour day */
	ck_assert_int_eq(tz_day_start("America/Los_Angeles", 2024, 3, 10),
	    at("2024-03-10T08:00:00Z"));
	ck_assert_int_eq(tz_day_start("America/Los_Angeles", 2024, 3, 11),
	    at("2024-03-11T07:00:00Z"));
	/* fall back at 02:00 on 2024-11-03: a 25-hour day */
	ck_assert_int_eq(tz_day_start("America/Los_Angeles", 2024, 11, 3),
	    at("2024-11-03T07:00:00Z"));
	ck_assert_int_eq(tz_day_start("America/Los_Angeles", 2024, 11, 4),
	    at("2024-11-04T08:00:00Z"));
	ck_assert_int_eq(tz_day_start("America/Los_Angeles", 2024, 11, 4) -
	    tz_day_start("America/Los_Angeles", 2024, 11, 3), 25 * H);
}
END_TEST

START_TEST(test_lord_howe_half_hour_shift)
{
	/* +11 to +10:30 at 02:00 on 2024-04-07: a 24.5-hour day */
	ck_assert_int_eq(tz_day_start("Australia/Lord_Howe", 2024, 4, 7),
	    at("2024-04-06T13:00:00Z"));
	ck_assert_int_eq(tz_day_start("Australia/Lord_Howe", 2024, 4, 8),
	    at("2024-04-07T13:30:00Z"));
	/* +10:30 to +11 at 02:00 on 2024-10-06: a 23.5-hour day */
	ck_assert_int_eq(tz_day_start("Australia/Lord_Howe", 2024, 10, 7) -
	    tz_day_start("Australia/Lord_Howe", 2024, 10, 6), 47 * H / 2);
}
END_TEST

START_TEST(test_kathmandu_quarter_hour)
{
	ck_assert_int_eq(tz_day_start("Asia/Kathmandu", 2025, 1, 1),
	    at("2024-12-31T18:15:00Z"));
	/* month 13 rolls into the next year, month 0 into the last */
	ck_assert_int_eq(tz_day_start("Asia/Kathmandu", 2024, 13, 1),
	    at("2024-12-31T18:15:00Z"));
	ck_assert_int_eq(tz_day_start("Asia/Kathmandu", 2025, 0, 1),
	    at("2024-11-30T18:15:00Z"));
}
END_TEST

START_TEST(test_skipped_midnight_starts_at_first_instant)
{
	/* America/Havana springs forward at midnight: 2024-03-10 begins at
	 * 01:00 local, the first instant of the day */
	ck_assert_int_eq(tz_day_start("America/Havana", 2024, 3, 10),
	    at("2024-03-10T05:00:00Z"));
	/* America/Santiago likewise on 2024-09-08 (00:00 -04 is 01:00 -03) */
	ck_assert_int_eq(tz_day_start("America/Santiago", 2024, 9, 8),
	    at("2024-09-08T04:00:00Z"));
	/* and falls back to 23:00 the day before on 2024-04-07: that day
	 * starts once, at its one midnight */
	ck_assert_int_eq(tz_day_start("America/Santiago", 2024, 4, 7),
	    at("2024-04-07T04:00:00Z"));
}
END_TEST

START_TEST(test_local_date)
{
	int y, m, d;

	tz_local_date("America/Los_Angeles", at("2024-03-10T07:59:59Z"), &y,
	    &m, &d);
	ck_assert_int_eq(y * 10000 + m * 100 + d, 20240309);
	tz_local_date("America/Los_Angeles", at("2024-03-10T08:00:00Z"), &y,
	    &m, &d);
	ck_assert_int_eq(y * 10000 + m * 100 + d, 20240310);
	tz_local_date("Asia/Kathmandu", at("2024-12-31T18:14:59.999999Z"), &y,
	    &m, &d);
	ck_assert_int_eq(y * 10000 + m * 100 + d, 20241231);
	tz_local_date(NULL, at("2024-12-31T23:59:59Z"), &y, &m, &d);
	ck_assert_int_eq(y * 10000 + m * 100 + d, 20241231);
}
END_TEST

START_TEST(test_tz_restored)
{
	setenv("TZ", "Europe/Paris", 1);
	tzset();
	(void)tz_day_start("Asia/Kathmandu", 2025, 1, 1);
	ck_assert_str_eq(getenv("TZ"), "Europe/Paris");
	unsetenv("TZ");
	tzset();
	(void)tz_day_start("Asia/Kathmandu", 2025, 1, 1);
	ck_assert_ptr_null(getenv("TZ"));
}
END_TEST

START_TEST(test_periods_in_zone)
{
	int64_t s, e;

	/* invoiceDay 1 in Los Angeles: March 2024 has 743 hours (spring
	 * forward), November 721 (fall back) */
	period_containing_tz("America/Los_Angeles", 1,
	    at("2024-03-15T00:00:00Z"), &s, &e);
	ck_assert_int_eq(s, at("2024-03-01T08:00:00Z"));
	ck_assert_int_eq(e, at("2024-04-01T07:00:00Z"));
	ck_assert_int_eq(e - s, 743 * H);
	period_containing_tz("America/Los_Angeles", 1,
	    at("2024-11-01T06:59:59Z"), &s, &e);
	ck_assert_int_eq(s, at("2024-10-01T07:00:00Z"));
	ck_assert_int_eq(e, at("2024-11-01T07:00:00Z"));
	period_containing_tz("America/Los_Angeles", 1, e, &s, &e);
	ck_assert_int_eq(e - s, 721 * H);
	/* UTC is the old rule */
	period_containing(15, at("2025-01-15T00:00:00Z"), &s, &e);
	ck_assert_int_eq(s, at("2025-01-15T00:00:00Z"));
	ck_assert_int_eq(e, at("2025-02-15T00:00:00Z"));
}
END_TEST

START_TEST(test_days_in_zone)
{
	int64_t d = period_day_floor_tz("America/Los_Angeles",
	    at("2024-11-03T20:00:00Z"));

	ck_assert_int_eq(d, at("2024-11-03T07:00:00Z"));
	ck_assert_int_eq(period_day_next_tz("America/Los_Angeles", d),
	    at("2024-11-04T08:00:00Z"));
}
END_TEST

START_TEST(test_zone_change_applies_next_period)
{
	struct period_zone z;
	int64_t s, e;

	/* Kathmandu until 2025-02-01 00:00 +05:45, then Los Angeles */
	memset(&z, 0, sizeof(z));
	snprintf(z.zone, sizeof(z.zone), "America/Los_Angeles");
	snprintf(z.prev, sizeof(z.prev), "Asia/Kathmandu");
	z.from = at("2025-01-31T18:15:00Z");
	period_account(&z, 1, at("2025-01-20T00:00:00Z"), &s, &e);
	ck_assert_int_eq(s, at("2024-12-31T18:15:00Z"));
	ck_assert_int_eq(e, z.from);
	/* the next period runs from there to 1 March in Los Angeles, not to
	 * 1 February there fourteen hours later */
	period_account(&z, 1, z.from, &s, &e);
	ck_assert_int_eq(s, z.from);
	ck_assert_int_eq(e, at("2025-03-01T08:00:00Z"));
	period_account(&z, 1, at("2025-03-01T08:00:00Z"), &s, &e);
	ck_assert_int_eq(s, at("2025-03-01T08:00:00Z"));
	ck_assert_int_eq(e, at("2025-04-01T07:00:00Z"));
	/* the other way: Los Angeles until 2025-02-01 08:00Z, then Kathmandu */
	snprintf(z.zone, sizeof(z.zone), "Asia/Kathmandu");
	snprintf(z.prev, sizeof(z.prev), "America/Los_Angeles");
	z.from = at("2025-02-01T08:00:00Z");
	period_account(&z, 1, at("2025-02-10T00:00:00Z"), &s, &e);
	ck_assert_int_eq(s, z.from);
	ck_assert_int_eq(e, at("2025-02-28T18:15:00Z"));
}
END_TEST

START_TEST(test_offsets_over_a_year)
{
	struct tz_span sp[4];
	struct period_zone z;

	ck_assert_int_eq(tz_offsets("America/Los_Angeles",
	    at("2024-01-01T00:00:00Z"), at("2025-01-01T00:00:00Z"), sp, 4), 3);
	ck_assert_int_eq(sp[0].offset, -8 * 3600);
	ck_assert_int_eq(sp[1].start, at("2024-03-10T10:00:00Z"));
	ck_assert_int_eq(sp[1].offset, -7 * 3600);
	ck_assert_int_eq(sp[2].start, at("2024-11-03T09:00:00Z"));
	ck_assert_int_eq(sp[2].offset, -8 * 3600);
	ck_assert_int_eq(tz_offsets("America/Los_Angeles",
	    at("2024-01-01T00:00:00Z"), at("2025-01-01T00:00:00Z"), sp, 2), -1);
	ck_assert_int_eq(tz_offsets("Asia/Kathmandu",
	    at("2024-01-01T00:00:00Z"), at("2025-01-01T00:00:00Z"), sp, 1), 1);
	ck_assert_int_eq(sp[0].offset, 5 * 3600 + 45 * 60);
	/* Lord Howe: 30 minutes */
	ck_assert_int_eq(tz_offsets("Australia/Lord_Howe",
	    at("2024-03-01T00:00:00Z"), at("2024-05-01T00:00:00Z"), sp, 4), 2);
	ck_assert_int_eq(sp[1].offset - sp[0].offset, -1800);
	/* across a zone change: UTC, then Kathmandu */
	memset(&z, 0, sizeof(z));
	snprintf(z.zone, sizeof(z.zone), "Asia/Kathmandu");
	snprintf(z.prev, sizeof(z.prev), "UTC");
	z.from = at("2025-01-01T00:00:00Z");
	ck_assert_int_eq(period_zone_offsets(&z, at("2024-12-01T00:00:00Z"),
	    at("2025-02-01T00:00:00Z"), sp, 4), 2);
	ck_assert_int_eq(sp[0].offset, 0);
	ck_assert_int_eq(sp[1].start, z.from);
	ck_assert(!period_zone_is_utc(&z));
}
END_TEST

/* Not a check: prints what a call costs (docs and tz.c quote it). */
START_TEST(test_cost)
{
	int64_t t0 = time_mono_usec(), s, e;
	int i, n = 2000;

	for (i = 0; i < n; i++)
		period_containing_tz("America/Los_Angeles", 1,
		    at("2024-03-15T00:00:00Z") + i * H, &s, &e);
	fprintf(stderr, "tz: period_containing_tz (Los Angeles) %.1f us a "
	    "call\n", (double)(time_mono_usec() - t0) / n);
	t0 = time_mono_usec();
	for (i = 0; i < n; i++)
		period_containing(1, at("2024-03-15T00:00:00Z") + i * H, &s, &e);
	fprintf(stderr, "tz: period_containing (UTC) %.2f us a call\n",
	    (double)(time_mono_usec() - t0) / n);
}
END_TEST

static Suite *
tz_suite(void)
{
	Suite *s = suite_create("tz");
	TCase *tc = tcase_create("tz");

	tcase_add_test(tc, test_valid_names);
	tcase_add_test(tc, test_invalid_names);
	tcase_add_test(tc, test_la_23_and_25_hour_days);
	tcase_add_test(tc, test_lord_howe_half_hour_shift);
	tcase_add_test(tc, test_kathmandu_quarter_hour);
	tcase_add_test(tc, test_skipped_midnight_starts_at_first_instant);
	tcase_add_test(tc, test_local_date);
	tcase_add_test(tc, test_tz_restored);
	tcase_add_test(tc, test_periods_in_zone);
	tcase_add_test(tc, test_days_in_zone);
	tcase_add_test(tc, test_zone_change_applies_next_period);
	tcase_add_test(tc, test_offsets_over_a_year);
	tcase_add_test(tc, test_cost);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(tz_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
