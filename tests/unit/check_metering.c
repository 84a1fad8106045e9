/*
 * Pricing of metered usage: exact, rounded once per record.
 */
#include <string.h>

#include <check.h>

#include "config.h"
#include "metering.h"
#include "money.h"

static struct billing_config seed;

static void
setup(void)
{
	memset(&seed, 0, sizeof(seed));
	seed.cpu_per_core_hour = 50000;       /* 0.05 */
	seed.memory_per_gb_hour = 10000;      /* 0.01 */
	seed.storage_per_gb_month = 100000;   /* 0.10 */
}

START_TEST(test_seed_example_is_1_40_in_hourly_records)
{
	int64_t q, c, cpu_q = 0, cpu_c = 0, mem_q = 0, mem_c = 0;
	char buf[32];
	int h;

	for (h = 0; h < 10; h++) {
		ck_assert_int_eq(metering_price(RES_CPU, 2000000, USEC_PER_HOUR,
		    seed.cpu_per_core_hour, &q, &c), 0);
		cpu_q += q;
		cpu_c += c;
		ck_assert_int_eq(metering_price(RES_MEMORY, 4000000,
		    USEC_PER_HOUR, seed.memory_per_gb_hour, &q, &c), 0);
		mem_q += q;
		mem_c += c;
	}
	ck_assert_int_eq(cpu_q, 20000000);   /* 20 core-hours */
	ck_assert_int_eq(cpu_c, 1000000);    /* 1.00 */
	ck_assert_int_eq(mem_q, 40000000);   /* 40 GB-hours */
	ck_assert_int_eq(mem_c, 400000);     /* 0.40 */
	money_format(cpu_c + mem_c, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.40");
}
END_TEST

START_TEST(test_storage_is_gb_months_prorated_by_730_hours)
{
	int64_t q, c;

	ck_assert_int_eq(metering_price(RES_STORAGE, 1000000, USEC_PER_HOUR,
	    seed.storage_per_gb_month, &q, &c), 0);
	ck_assert_int_eq(q, 1370);  /* 1/730 GB-month = 0.001369863 -> 0.001370 */
	ck_assert_int_eq(c, 137);   /* 0.10/730 = 0.000136986 -> 0.000137 */
	/* a whole 730-hour month of 10 GB costs exactly 1.00 */
	ck_assert_int_eq(metering_price(RES_STORAGE, 10000000,
	    730 * USEC_PER_HOUR, seed.storage_per_gb_month, &q, &c), 0);
	ck_assert_int_eq(q, 10000000);
	ck_assert_int_eq(c, 1000000);
}
END_TEST

START_TEST(test_partial_hour_is_prorated_by_the_microsecond)
{
	int64_t q, c;

	/* 2 cores for 20 minutes = 0.666667 core-hours, cost 0.033333 */
	ck_assert_int_eq(metering_price(RES_CPU, 2000000, 20 * 60 * 1000000LL,
	    seed.cpu_per_core_hour, &q, &c), 0);
	ck_assert_int_eq(q, 666667);
	ck_assert_int_eq(c, 33333);
	/* 1.5 cores for 90 s at 0.05: 0.0375 core-hours, cost 0.001875 */
	ck_assert_int_eq(metering_price(RES_CPU, 1500000, 90 * 1000000LL,
	    seed.cpu_per_core_hour, &q, &c), 0);
	ck_assert_int_eq(q, 37500);
	ck_assert_int_eq(c, 1875);
}
END_TEST

START_TEST(test_cost_is_rounded_once_not_from_rounded_quantity)
{
	int64_t q, c;

	/* 1 GB memory for 1 s: 0.000278 GB-hours (rounded), cost
	 * 0.01/3600 = 0.0000028 -> 0.000003, not 0.000278 x 0.01 */
	ck_assert_int_eq(metering_price(RES_MEMORY, 1000000, 1000000,
	    seed.memory_per_gb_hour, &q, &c), 0);
	ck_assert_int_eq(q, 278);
	ck_assert_int_eq(c, 3);
}
END_TEST

START_TEST(test_live_cost_sums_the_resources)
{
	/* 2 cores + 4 GB + 10 GB storage for one hour: 0.10 + 0.04 + 0.00137 */
	ck_assert_int_eq(metering_live_cost(&seed, 2000000, 4000000, 10000000,
	    0, USEC_PER_HOUR), 100000 + 40000 + 1370);
	ck_assert_int_eq(metering_live_cost(&seed, 2000000, 0, 0, 10, 10), 0);
	ck_assert_int_eq(metering_live_cost(&seed, 2000000, 0, 0, 10, 5), 0);
}
END_TEST

START_TEST(test_resource_names_and_units)
{
	ck_assert_str_eq(resource_name(RES_CPU), "cpu");
	ck_assert_str_eq(resource_unit(RES_CPU), "core-hours");
	ck_assert_str_eq(resource_name(RES_MEMORY), "memory");
	ck_assert_str_eq(resource_unit(RES_MEMORY), "gb-hours");
	ck_assert_str_eq(resource_name(RES_STORAGE), "storage");
	ck_assert_str_eq(resource_unit(RES_STORAGE), "gb-months");
	ck_assert_int_eq(resource_rate(&seed, RES_STORAGE), 100000);
}
END_TEST

static Suite *
metering_suite(void)
{
	Suite *s = suite_create("metering");
	TCase *tc = tcase_create("pricing");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_seed_example_is_1_40_in_hourly_records);
	tcase_add_test(tc, test_storage_is_gb_months_prorated_by_730_hours);
	tcase_add_test(tc, test_partial_hour_is_prorated_by_the_microsecond);
	tcase_add_test(tc, test_cost_is_rounded_once_not_from_rounded_quantity);
	tcase_add_test(tc, test_live_cost_sums_the_resources);
	tcase_add_test(tc, test_resource_names_and_units);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metering_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
