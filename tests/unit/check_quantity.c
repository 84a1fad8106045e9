/*
 * Unit tests for quantity: Kubernetes quantities ("1500m", "4Gi", "4G")
 * read exactly into micro-units of cores or GiB.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

#define SENTINEL INT64_C(0x5a5a5a5a)
#define CPU_MAX (1024LL * 1000000LL)
#define MEMORY_MAX (65536LL * 1000000LL)
#define STORAGE_MAX (1000000LL * 1000000LL)
#define NO_MAX INT64_MAX

static int
parse(const char *text, enum quantity_kind kind, int64_t max, int64_t *out)
{
	*out = SENTINEL;
	return quantity_parse(text, strlen(text), kind, max, out);
}

static void
assert_is(const char *text, enum quantity_kind kind, int64_t want)
{
	int64_t v;

	ck_assert_msg(parse(text, kind, NO_MAX, &v) == 0,
	    "\"%s\" should parse", text);
	ck_assert_msg(v == want, "\"%s\": %lld, want %lld", text,
	    (long long)v, (long long)want);
}

static void
assert_refused(const char *text, enum quantity_kind kind, int64_t max)
{
	int64_t v;

	ck_assert_msg(parse(text, kind, max, &v) == -1,
	    "\"%s\" should be refused", text);
	ck_assert_int_eq(v, SENTINEL);
}

START_TEST(test_cores_plain)
{
	assert_is("2", QUANTITY_CORES, 2000000);
	assert_is("0.5", QUANTITY_CORES, 500000);
	assert_is("0", QUANTITY_CORES, 0);
	assert_is("1.000001", QUANTITY_CORES, 1000001);
	assert_is("007.5", QUANTITY_CORES, 7500000);
}
END_TEST

START_TEST(test_cores_millicores)
{
	assert_is("1500m", QUANTITY_CORES, 1500000);
	assert_is("1000m", QUANTITY_CORES, 1000000);
	assert_is("1m", QUANTITY_CORES, 1000);
	assert_is("250m", QUANTITY_CORES, 250000);
	assert_is("0.5m", QUANTITY_CORES, 500);
	assert_is("0m", QUANTITY_CORES, 0);
}
END_TEST

START_TEST(test_cores_refuse_byte_suffixes)
{
	assert_refused("1Gi", QUANTITY_CORES, NO_MAX);
	assert_refused("1k", QUANTITY_CORES, NO_MAX);
	assert_refused("1M", QUANTITY_CORES, NO_MAX);
}
END_TEST

START_TEST(test_bytes_binary_suffixes)
{
	assert_is("4Gi", QUANTITY_GIB, 4000000);
	assert_is("512Mi", QUANTITY_GIB, 500000);
	assert_is("1Ti", QUANTITY_GIB, 1024000000);
	assert_is("1Pi", QUANTITY_GIB, 1048576000000LL);
	/* 1 MiB = 1/1024 GiB = 0.0009765625 -> 0.000977 */
	assert_is("1Mi", QUANTITY_GIB, 977);
	/* 1 KiB = 2^-20 GiB = 0.00000095367... -> 0.000001 */
	assert_is("1Ki", QUANTITY_GIB, 1);
	assert_is("1048576Ki", QUANTITY_GIB, 1000000);
}
END_TEST

START_TEST(test_bytes_decimal_suffixes)
{
	/* 4e9 / 2^30 = 3.7252902984... */
	assert_is("4G", QUANTITY_GIB, 3725290);
	/* 1e6 / 2^30 = 0.000931322574... */
	assert_is("1M", QUANTITY_GIB, 931);
	/* 1e12 / 2^30 = 931.3225746154... */
	assert_is("1T", QUANTITY_GIB, 931322575);
	/* 1000k = 1e6 bytes, as 1M */
	assert_is("1000k", QUANTITY_GIB, 931);
	/* 1e3 / 2^30 = 0.00000093132... -> 0.000001 */
	assert_is("1k", QUANTITY_GIB, 1);
	/* 1e15 / 2^30 = 931322.5746154785... */
	assert_is("1P", QUANTITY_GIB, 931322574615LL);
}
END_TEST

START_TEST(test_bytes_plain_is_gib)
{
	assert_is("4", QUANTITY_GIB, 4000000);
	assert_is("0.5", QUANTITY_GIB, 500000);
	assert_is("10.123456", QUANTITY_GIB, 10123456);
	/* a bare byte count is GB, so this one is four billion GB */
	assert_is("4000000000", QUANTITY_GIB, 4000000000000000LL);
	assert_refused("4000000000", QUANTITY_GIB, MEMORY_MAX);
}
END_TEST

START_TEST(test_decimals_with_suffix)
{
	assert_is("1.5Gi", QUANTITY_GIB, 1500000);
	assert_is("0.25Ti", QUANTITY_GIB, 256000000);
	assert_is("1.5G", QUANTITY_GIB, 1396984); /* 1.396983862... */
	/* more than 6 decimals before a suffix are converted, then rounded */
	assert_is("0.0000005Gi", QUANTITY_GIB, 1);
	assert_is("0.0000004Gi", QUANTITY_GIB, 0);
}
END_TEST

START_TEST(test_half_up_at_sixth_decimal)
{
	/* 0.0000005 cores exactly: half rounds up */
	assert_is("0.0005m", QUANTITY_CORES, 1);
	/* 0.00000049 cores: down */
	assert_is("0.00049m", QUANTITY_CORES, 0);
	/* 1.2345675 cores: up to 1.234568 */
	assert_is("1234.5675m", QUANTITY_CORES, 1234568);
	/* 1.2345674999 cores: down */
	assert_is("1234.5674999m", QUANTITY_CORES, 1234567);
	/* 512 KiB = 2^-11 GiB = 0.00048828125 */
	assert_is("512Ki", QUANTITY_GIB, 488);
	/* 2^-21 GiB * 1 = 0.000000476... ; 1.5 KiB = 0.00000143... */
	assert_is("1.5Ki", QUANTITY_GIB, 1);
}
END_TEST

START_TEST(test_plain_more_than_6_decimals_refused)
{
	/* a plain number is taken as written, never silently rounded */
	assert_refused("0.1234567", QUANTITY_CORES, NO_MAX);
	assert_refused("1.0000000", QUANTITY_GIB, NO_MAX);
}
END_TEST

START_TEST(test_limits)
{
	int64_t v;

	ck_assert_int_eq(parse("1024", QUANTITY_CORES, CPU_MAX, &v), 0);
	ck_assert_int_eq(v, CPU_MAX);
	ck_assert_int_eq(parse("1024000m", QUANTITY_CORES, CPU_MAX, &v), 0);
	assert_refused("1024.000001", QUANTITY_CORES, CPU_MAX);
	assert_refused("1024001m", QUANTITY_CORES, CPU_MAX);
	assert_refused("1025", QUANTITY_CORES, CPU_MAX);
	/* 64 TiB of memory, not a byte more */
	ck_assert_int_eq(parse("64Ti", QUANTITY_GIB, MEMORY_MAX, &v), 0);
	ck_assert_int_eq(v, MEMORY_MAX);
	ck_assert_int_eq(parse("65536Gi", QUANTITY_GIB, MEMORY_MAX, &v), 0);
	ck_assert_int_eq(parse("65536", QUANTITY_GIB, MEMORY_MAX, &v), 0);
	assert_refused("65537Gi", QUANTITY_GIB, MEMORY_MAX);
	assert_refused("65Ti", QUANTITY_GIB, MEMORY_MAX);
	assert_refused("1Pi", QUANTITY_GIB, MEMORY_MAX);
	/* 64 TiB + 1 MiB rounds to 65536.000977 GiB */
	assert_refused("68719477760Ki", QUANTITY_GIB, MEMORY_MAX);
	/* storage: 1,000,000 GB */
	ck_assert_int_eq(parse("1000000Gi", QUANTITY_GIB, STORAGE_MAX, &v), 0);
	ck_assert_int_eq(parse("1P", QUANTITY_GIB, STORAGE_MAX, &v), 0);
	assert_refused("1000001Gi", QUANTITY_GIB, STORAGE_MAX);
	assert_refused("1Pi", QUANTITY_GIB, STORAGE_MAX);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = { "", "Gi", "m", "1.2.3", "-1",
	    "+1", "1e3", "1E3", "1 Gi", " 1", "1 ", ".5", "5.", "1.Gi",
	    "1gi", "1GI", "1g", "1Gib", "1iG", "1Gi ", "0x10", "1,5",
	    "1Ei", "1E", "1u", "1n", "NaN", "inf", "1mm", NULL };
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		assert_refused(bad[i], QUANTITY_GIB, NO_MAX);
		assert_refused(bad[i], QUANTITY_CORES, NO_MAX);
	}
}
END_TEST

START_TEST(test_huge_values_overflow_to_an_error)
{
	/* 18 digits is the most; more is refused rather than wrapped */
	assert_refused("1234567890123456789", QUANTITY_CORES, NO_MAX);
	assert_refused("0.0000000000000000001Gi", QUANTITY_GIB, NO_MAX);
	/* 10^18 - 1 cores is beyond int64 micro-units */
	assert_refused("999999999999999999", QUANTITY_CORES, NO_MAX);
	/* the numerator passes 2^128: refused, never wrapped */
	assert_refused("999999999999999999P", QUANTITY_GIB, NO_MAX);
	assert_refused("999999999999999999Pi", QUANTITY_GIB, NO_MAX);
	assert_refused("99999999999999999999Gi", QUANTITY_GIB, NO_MAX);
	/* within int64, above every bound: refused by the bound */
	assert_is("9000000000000", QUANTITY_CORES, 9000000000000000000LL);
	assert_refused("9000000000000", QUANTITY_CORES, CPU_MAX);
}
END_TEST

START_TEST(test_reads_only_len_bytes)
{
	int64_t v = 0;

	ck_assert_int_eq(quantity_parse("4Gi and more", 3, QUANTITY_GIB,
	    NO_MAX, &v), 0);
	ck_assert_int_eq(v, 4000000);
	ck_assert_int_eq(quantity_parse(NULL, 0, QUANTITY_GIB, NO_MAX, &v), -1);
}
END_TEST

static Suite *
quantity_suite(void)
{
	Suite *s = suite_create("quantity");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_cores_plain);
	tcase_add_test(tc, test_cores_millicores);
	tcase_add_test(tc, test_cores_refuse_byte_suffixes);
	tcase_add_test(tc, test_bytes_binary_suffixes);
	tcase_add_test(tc, test_bytes_decimal_suffixes);
	tcase_add_test(tc, test_bytes_plain_is_gib);
	tcase_add_test(tc, test_decimals_with_suffix);
	tcase_add_test(tc, test_half_up_at_sixth_decimal);
	tcase_add_test(tc, test_plain_more_than_6_decimals_refused);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_huge_values_overflow_to_an_error);
	tcase_add_test(tc, test_reads_only_len_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(quantity_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
