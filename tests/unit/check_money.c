/*
 * Unit tests for money: exact parsing, formatting, rounding and arithmetic
 * on int64_t micro-units.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

/* Parses a NUL-terminated literal; the sentinel shows *out was untouched. */
static int
parse(const char *text, int max_decimals, int64_t *out)
{
	*out = INT64_C(0x5a5a5a5a);
	return money_parse(text, strlen(text), max_decimals, out);
}

static void
assert_parses(const char *text, int max_decimals, int64_t want)
{
	int64_t v;

	ck_assert_msg(parse(text, max_decimals, &v) == 0,
	    "\"%s\" should parse", text);
	ck_assert_int_eq(v, want);
}

static void
assert_rejected(const char *text, int max_decimals)
{
	int64_t v;

	ck_assert_msg(parse(text, max_decimals, &v) == -1,
	    "\"%s\" should be rejected", text);
	ck_assert_int_eq(v, INT64_C(0x5a5a5a5a));
}

static void
assert_formats(int64_t micros, int decimals, const char *want)
{
	char buf[64];

	ck_assert_int_eq(money_format(micros, decimals, buf, sizeof(buf)),
	    (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

static void
assert_trims(int64_t micros, int min_decimals, const char *want)
{
	char buf[64];

	ck_assert_int_eq(money_format_trim(micros, min_decimals, buf,
	    sizeof(buf)), (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

/* ---- money_parse: accepted forms ---- */

START_TEST(test_parse_accepts_integer)
{
	assert_parses("12", 6, 12000000);
}
END_TEST

START_TEST(test_parse_accepts_price)
{
	assert_parses("29.99", 2, 29990000);
}
END_TEST

START_TEST(test_parse_accepts_negative_fraction)
{
	assert_parses("-0.5", 6, -500000);
}
END_TEST

START_TEST(test_parse_accepts_zero)
{
	assert_parses("0", 0, 0);
	assert_parses("0.000000", 6, 0);
}
END_TEST

START_TEST(test_parse_accepts_negative_zero_as_zero)
{
	assert_parses("-0", 2, 0);
	assert_parses("-0.00", 2, 0);
}
END_TEST

START_TEST(test_parse_accepts_leading_zeros)
{
	assert_parses("007.50", 2, 7500000);
}
END_TEST

START_TEST(test_parse_accepts_many_leading_zeros)
{
	assert_parses("00000000000000000000000000000001.5", 6, 1500000);
}
END_TEST

START_TEST(test_parse_accepts_one_micro)
{
	assert_parses("0.000001", 6, 1);
	assert_parses("-0.000001", 6, -1);
}
END_TEST

START_TEST(test_parse_accepts_fewer_decimals_than_max)
{
	assert_parses("1.5", 6, 1500000);
	assert_parses("1.05", 6, 1050000);
}
END_TEST

START_TEST(test_parse_accepts_max_magnitude)
{
	assert_parses("1000000000000", 6, MONEY_MAX_MICROS);
	assert_parses("-1000000000000.000000", 6, -MONEY_MAX_MICROS);
	assert_parses("999999999999.999999", 6, MONEY_MAX_MICROS - 1);
}
END_TEST

START_TEST(test_parse_reads_only_len_bytes)
{
	int64_t v = 0;

	/* The text need not be NUL-terminated: stop at len. */
	ck_assert_int_eq(money_parse("12.345xyz", 6, 6, &v), 0);
	ck_assert_int_eq(v, 12345000);
}
END_TEST

/* ---- money_parse: rejected forms ---- */

START_TEST(test_parse_rejects_empty)
{
	assert_rejected("", 6);
}
END_TEST

START_TEST(test_parse_rejects_lone_minus)
{
	assert_rejected("-", 6);
}
END_TEST

START_TEST(test_parse_rejects_missing_integer_part)
{
	assert_rejected(".5", 6);
	assert_rejected("-.5", 6);
	assert_rejected(".", 6);
}
END_TEST

START_TEST(test_parse_rejects_trailing_dot)
{
	assert_rejected("5.", 6);
	assert_rejected("-5.", 6);
}
END_TEST

START_TEST(test_parse_rejects_plus_sign)
{
	assert_rejected("+1", 6);
}
END_TEST

START_TEST(test_parse_rejects_double_sign)
{
	assert_rejected("--1", 6);
	assert_rejected("-+1", 6);
	assert_rejected("1-", 6);
}
END_TEST

START_TEST(test_parse_rejects_exponent)
{
	assert_rejected("1e3", 6);
	assert_rejected("1E3", 6);
	assert_rejected("1.5e2", 6);
}
END_TEST

START_TEST(test_parse_rejects_surrounding_space)
{
	assert_rejected(" 1", 6);
	assert_rejected("1 ", 6);
	assert_rejected("1\n", 6);
	assert_rejected("1 .5", 6);
}
END_TEST

START_TEST(test_parse_rejects_hex)
{
	assert_rejected("0x10", 6);
}
END_TEST

START_TEST(test_parse_rejects_two_dots)
{
	assert_rejected("1.2.3", 6);
}
END_TEST

START_TEST(test_parse_rejects_comma_separator)
{
	assert_rejected("1,5", 6);
	assert_rejected("1,000", 6);
}
END_TEST

START_TEST(test_parse_rejects_too_many_decimals)
{
	assert_rejected("1.234", 2);
	assert_rejected("1.0", 0);
	assert_rejected("0.0000001", 6);
	/* Even zeros: more digits than allowed is an error, not rounding. */
	assert_rejected("1.000", 2);
}
END_TEST

START_TEST(test_parse_rejects_overflow)
{
	assert_rejected("1000000000000.000001", 6);
	assert_rejected("-1000000000000.000001", 6);
	assert_rejected("1000000000001", 6);
	assert_rejected("9223372036854.775807", 6);
	assert_rejected("99999999999999999999999999", 6);
}
END_TEST

START_TEST(test_parse_rejects_embedded_nul)
{
	int64_t v = 7;

	ck_assert_int_eq(money_parse("1\0" "2", 3, 6, &v), -1);
	ck_assert_int_eq(money_parse("1.5\0", 4, 6, &v), -1);
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_parse_rejects_bad_max_decimals)
{
	assert_rejected("1", 7);
	assert_rejected("1", -1);
}
END_TEST

START_TEST(test_parse_rejects_null_arguments)
{
	int64_t v;

	ck_assert_int_eq(money_parse(NULL, 0, 6, &v), -1);
	ck_assert_int_eq(money_parse("1", 1, 6, NULL), -1);
}
END_TEST

/* ---- money_format ---- */

START_TEST(test_format_two_decimals)
{
	assert_formats(29990000, 2, "29.99");
	assert_formats(1050000, 2, "1.05");
	assert_formats(0, 2, "0.00");
}
END_TEST

START_TEST(test_format_rounds_half_up)
{
	assert_formats(5000, 2, "0.01");		/* 0.005 */
	assert_formats(1405000, 2, "1.41");
	assert_formats(995000, 2, "1.00");	/* carries into units */
}
END_TEST

START_TEST(test_format_rounds_down_below_half)
{
	assert_formats(4999, 2, "0.00");		/* 0.004999 */
	assert_formats(1404999, 2, "1.40");
}
END_TEST

START_TEST(test_format_rounds_negative_half_away_from_zero)
{
	assert_formats(-5000, 2, "-0.01");
	assert_formats(-1405000, 2, "-1.41");
	assert_formats(-1404999, 2, "-1.40");
}
END_TEST

START_TEST(test_format_never_prints_negative_zero)
{
	assert_formats(-4999, 2, "0.00");
	assert_formats(-1, 2, "0.00");
	assert_formats(-499999, 0, "0");
	assert_formats(-0, 6, "0.000000");
}
END_TEST

START_TEST(test_format_zero_decimals_has_no_dot)
{
	assert_formats(20000000, 0, "20");
	assert_formats(2500000, 0, "3");
	assert_formats(-2500000, 0, "-3");
	assert_formats(2499999, 0, "2");
}
END_TEST

START_TEST(test_format_six_decimals_is_exact)
{
	assert_formats(1, 6, "0.000001");
	assert_formats(-123456789, 6, "-123.456789");
	assert_formats(137, 6, "0.000137");
}
END_TEST

START_TEST(test_format_each_decimal_count)
{
	assert_formats(1234567, 1, "1.2");
	assert_formats(1250000, 1, "1.3");
	assert_formats(1234567, 3, "1.235");
	assert_formats(1234567, 4, "1.2346");
	assert_formats(1234565, 5, "1.23457");
}
END_TEST

START_TEST(test_format_handles_int64_extremes)
{
	assert_formats(INT64_MAX, 6, "9223372036854.775807");
	assert_formats(INT64_MIN, 6, "-9223372036854.775808");
	assert_formats(INT64_MAX, 0, "9223372036855");
	assert_formats(INT64_MIN, 2, "-9223372036854.78");
}
END_TEST

START_TEST(test_format_fits_exact_buffer)
{
	char buf[5];

	ck_assert_int_eq(money_format(1500000, 2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "1.50");
}
END_TEST

START_TEST(test_format_rejects_small_buffer)
{
	char buf[4] = "xyz";

	ck_assert_int_eq(money_format(1500000, 2, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(money_format(0, 0, buf, 0), -1);
	ck_assert_int_eq(money_format(0, 0, NULL, 0), -1);
}
END_TEST

START_TEST(test_format_rejects_bad_decimals)
{
	char buf[32];

	ck_assert_int_eq(money_format(1, 7, buf, sizeof(buf)), -1);
	ck_assert_int_eq(money_format(1, -1, buf, sizeof(buf)), -1);
}
END_TEST

/* ---- money_format_trim ---- */

START_TEST(test_trim_strips_zeros_down_to_min)
{
	assert_trims(50000, 2, "0.05");
	assert_trims(1500000, 0, "1.5");
	assert_trims(1500000, 2, "1.50");
}
END_TEST

START_TEST(test_trim_drops_dot_at_zero_min)
{
	assert_trims(20000000, 0, "20");
	assert_trims(0, 0, "0");
}
END_TEST

START_TEST(test_trim_keeps_min_decimals_of_zeros)
{
	assert_trims(20000000, 2, "20.00");
	assert_trims(20000000, 6, "20.000000");
}
END_TEST

START_TEST(test_trim_never_rounds)
{
	assert_trims(123456, 2, "0.123456");
	assert_trims(-1, 0, "-0.000001");
}
END_TEST

START_TEST(test_trim_negative_amount)
{
	assert_trims(-500000, 0, "-0.5");
	assert_trims(-500000, 2, "-0.50");
}
END_TEST

START_TEST(test_trim_fits_exact_buffer)
{
	char buf[5];

	/* The trimmed length, not the six-decimal one, is what must fit. */
	ck_assert_int_eq(money_format_trim(50000, 2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "0.05");
}
END_TEST

START_TEST(test_trim_rejects_small_buffer)
{
	char buf[4] = "xyz";

	ck_assert_int_eq(money_format_trim(50000, 2, buf, sizeof(buf)), -1);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_trim_rejects_bad_min_decimals)
{
	char buf[32];

	ck_assert_int_eq(money_format_trim(1, 7, buf, sizeof(buf)), -1);
	ck_assert_int_eq(money_format_trim(1, -1, buf, sizeof(buf)), -1);
}
END_TEST

/* ---- money_round ---- */

START_TEST(test_round_half_away_from_zero)
{
	ck_assert_int_eq(money_round(5000, 2), 10000);
	ck_assert_int_eq(money_round(-5000, 2), -10000);
	ck_assert_int_eq(money_round(1405000, 2), 1410000);
}
END_TEST

START_TEST(test_round_down_below_half)
{
	ck_assert_int_eq(money_round(4999, 2), 0);
	ck_assert_int_eq(money_round(-4999, 2), 0);
	ck_assert_int_eq(money_round(1404999, 2), 1400000);
}
END_TEST

START_TEST(test_round_to_units)
{
	ck_assert_int_eq(money_round(2500000, 0), 3000000);
	ck_assert_int_eq(money_round(-2500000, 0), -3000000);
	ck_assert_int_eq(money_round(2499999, 0), 2000000);
}
END_TEST

START_TEST(test_round_six_decimals_is_identity)
{
	ck_assert_int_eq(money_round(123457, 6), 123457);
	ck_assert_int_eq(money_round(-1, 6), -1);
}
END_TEST

START_TEST(test_round_saturates_instead_of_wrapping)
{
	ck_assert_int_eq(money_round(INT64_MAX, 0), INT64_MAX);
	ck_assert_int_eq(money_round(INT64_MIN, 0), INT64_MIN);
}
END_TEST

/* ---- money_mul ---- */

START_TEST(test_mul_seed_invoice_totals_1_40)
{
	int64_t rate_cpu, core_hours, rate_mem, gb_hours;
	int64_t cpu, mem, total;
	char buf[32];

	ck_assert_int_eq(parse("0.05", 6, &rate_cpu), 0);
	ck_assert_int_eq(parse("20", 6, &core_hours), 0);
	ck_assert_int_eq(parse("0.01", 6, &rate_mem), 0);
	ck_assert_int_eq(parse("40", 6, &gb_hours), 0);

	ck_assert_int_eq(money_mul(rate_cpu, core_hours, &cpu), 0);
	ck_assert_int_eq(money_mul(rate_mem, gb_hours, &mem), 0);
	ck_assert_int_eq(money_add(cpu, mem, &total), 0);

	ck_assert_int_eq(money_format(cpu, 2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "1.00");
	ck_assert_int_eq(money_format(mem, 2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "0.40");
	ck_assert_int_eq(money_format(total, 2, buf, sizeof(buf)), 4);
	ck_assert_str_eq(buf, "1.40");
}
END_TEST

START_TEST(test_mul_header_example)
{
	int64_t v;

	ck_assert_int_eq(money_mul(2000000, 50000, &v), 0);
	ck_assert_int_eq(v, 100000);
}
END_TEST

START_TEST(test_mul_rounds_half_away_from_zero)
{
	int64_t v;

	/* 0.000001 * 0.5 = 0.0000005 -> one micro-unit either side of zero. */
	ck_assert_int_eq(money_mul(1, 500000, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(money_mul(-1, 500000, &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(money_mul(1, 499999, &v), 0);
	ck_assert_int_eq(v, 0);
}
END_TEST

START_TEST(test_mul_signs)
{
	int64_t v;

	ck_assert_int_eq(money_mul(-2000000, -3000000, &v), 0);
	ck_assert_int_eq(v, 6000000);
	ck_assert_int_eq(money_mul(-2000000, 3000000, &v), 0);
	ck_assert_int_eq(v, -6000000);
}
END_TEST

START_TEST(test_mul_accepts_max_magnitude)
{
	int64_t v;

	ck_assert_int_eq(money_mul(MONEY_MAX_MICROS, MONEY_SCALE, &v), 0);
	ck_assert_int_eq(v, MONEY_MAX_MICROS);
}
END_TEST

START_TEST(test_mul_rejects_overflow)
{
	int64_t v = 7;

	ck_assert_int_eq(money_mul(MONEY_MAX_MICROS, 2 * MONEY_SCALE, &v), -1);
	ck_assert_int_eq(money_mul(INT64_MAX, INT64_MAX, &v), -1);
	ck_assert_int_eq(money_mul(INT64_MIN, INT64_MIN, &v), -1);
	ck_assert_int_eq(money_mul(INT64_MIN, INT64_MAX, &v), -1);
	ck_assert_int_eq(v, 7);
}
END_TEST

/* ---- money_muldiv ---- */

START_TEST(test_muldiv_storage_hour_of_gb_month)
{
	int64_t v;
	char buf[32];

	/* 1 GB for 1 hour at 0.10/GB-month (730 h): 100000 / 730 = 136.98. */
	ck_assert_int_eq(money_muldiv(100000, 1, 730, &v), 0);
	ck_assert_int_eq(v, 137);
	ck_assert_int_eq(money_format(v, 6, buf, sizeof(buf)), 8);
	ck_assert_str_eq(buf, "0.000137");
}
END_TEST

START_TEST(test_muldiv_prorates_seconds)
{
	int64_t v;

	/* Half an hour of a 0.05/hour rate. */
	ck_assert_int_eq(money_muldiv(50000, 1800, 3600, &v), 0);
	ck_assert_int_eq(v, 25000);
}
END_TEST

START_TEST(test_muldiv_rounds_half_away_from_zero)
{
	int64_t v;

	ck_assert_int_eq(money_muldiv(1, 1, 2, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(money_muldiv(-1, 1, 2, &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(money_muldiv(1, -1, 2, &v), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(money_muldiv(1, 1, 3, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(money_muldiv(2, 1, 3, &v), 0);
	ck_assert_int_eq(v, 1);
}
END_TEST

START_TEST(test_muldiv_keeps_wide_intermediate)
{
	int64_t v;

	/* a * num overflows 64 bits; the quotient does not. */
	ck_assert_int_eq(money_muldiv(MONEY_MAX_MICROS, INT64_MAX, INT64_MAX,
	    &v), 0);
	ck_assert_int_eq(v, MONEY_MAX_MICROS);
}
END_TEST

START_TEST(test_muldiv_rejects_nonpositive_den)
{
	int64_t v = 7;

	ck_assert_int_eq(money_muldiv(1, 1, 0, &v), -1);
	ck_assert_int_eq(money_muldiv(1, 1, -1, &v), -1);
	ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_muldiv_rejects_overflow)
{
	int64_t v = 7;

	ck_assert_int_eq(money_muldiv(MONEY_MAX_MICROS, 3, 2, &v), -1);
	ck_assert_int_eq(money_muldiv(INT64_MIN, INT64_MIN, 1, &v), -1);
	ck_assert_int_eq(v, 7);
}
END_TEST

/* ---- money_add ---- */

START_TEST(test_add_sums)
{
	int64_t v;

	ck_assert_int_eq(money_add(1000000, 400000, &v), 0);
	ck_assert_int_eq(v, 1400000);
	ck_assert_int_eq(money_add(-1000000, 400000, &v), 0);
	ck_assert_int_eq(v, -600000);
}
END_TEST

START_TEST(test_add_accepts_max_magnitude)
{
	int64_t v;

	ck_assert_int_eq(money_add(MONEY_MAX_MICROS - 1, 1, &v), 0);
	ck_assert_int_eq(v, MONEY_MAX_MICROS);
	ck_assert_int_eq(money_add(-MONEY_MAX_MICROS + 1, -1, &v), 0);
	ck_assert_int_eq(v, -MONEY_MAX_MICROS);
}
END_TEST

START_TEST(test_add_rejects_overflow)
{
	int64_t v = 7;

	ck_assert_int_eq(money_add(MONEY_MAX_MICROS, 1, &v), -1);
	ck_assert_int_eq(money_add(-MONEY_MAX_MICROS, -1, &v), -1);
	ck_assert_int_eq(money_add(INT64_MAX, 1, &v), -1);
	ck_assert_int_eq(money_add(INT64_MIN, -1, &v), -1);
	ck_assert_int_eq(v, 7);
}
END_TEST

/* ---- round trips ---- */

START_TEST(test_parse_format_round_trip)
{
	static const char *const texts[] = {
		"0.000000", "1.000000", "-1.000000", "29.990000",
		"0.000137", "-0.000001", "1000000000000.000000",
		"-999999999999.999999",
	};
	char buf[32];
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ck_assert_int_eq(parse(texts[i], 6, &v), 0);
		ck_assert_int_ge(money_format(v, 6, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, texts[i]);
	}
}
END_TEST

START_TEST(test_prorate_seed_hour_of_two_cores)
{
	int64_t v = 0;

	/* 2 cores x 0.05 per core-hour x 3600 s of 3600 = 0.10 */
	ck_assert_int_eq(money_prorate(2000000, 50000, 3600, 3600, &v), 0);
	ck_assert_int_eq(v, 100000);
}
END_TEST

START_TEST(test_prorate_storage_hour_rounds_once)
{
	int64_t v = 0;

	/* 1 GB x 0.10 per GB-month for one hour of a 730-hour month */
	ck_assert_int_eq(money_prorate(1000000, 100000, 1, 730, &v), 0);
	ck_assert_int_eq(v, 137);
	/* 3 GB for one hour: 0.000410958... rounds once to 0.000411, not 3 x 137 */
	ck_assert_int_eq(money_prorate(3000000, 100000, 1, 730, &v), 0);
	ck_assert_int_eq(v, 411);
}
END_TEST

START_TEST(test_prorate_half_rounds_away_from_zero)
{
	int64_t v = 0;

	/* 0.000001 x 0.5 = 0.0000005 -> 0.000001 */
	ck_assert_int_eq(money_prorate(1, 500000, 1, 1, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(money_prorate(1, 499999, 1, 1, &v), 0);
	ck_assert_int_eq(v, 0);
}
END_TEST

START_TEST(test_prorate_rejects_overflow_and_bad_den)
{
	int64_t v = 42;

	ck_assert_int_eq(money_prorate(MONEY_MAX_MICROS, MONEY_MAX_MICROS,
	    INT64_MAX, 1, &v), -1);
	ck_assert_int_eq(money_prorate(1, 1, 1, 0, &v), -1);
	ck_assert_int_eq(v, 42);
}
END_TEST

static Suite *
money_suite(void)
{
	Suite *s = suite_create("money");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_accepts_integer);
	tcase_add_test(tc, test_parse_accepts_price);
	tcase_add_test(tc, test_parse_accepts_negative_fraction);
	tcase_add_test(tc, test_parse_accepts_zero);
	tcase_add_test(tc, test_parse_accepts_negative_zero_as_zero);
	tcase_add_test(tc, test_parse_accepts_leading_zeros);
	tcase_add_test(tc, test_parse_accepts_many_leading_zeros);
	tcase_add_test(tc, test_parse_accepts_one_micro);
	tcase_add_test(tc, test_parse_accepts_fewer_decimals_than_max);
	tcase_add_test(tc, test_parse_accepts_max_magnitude);
	tcase_add_test(tc, test_parse_reads_only_len_bytes);
	tcase_add_test(tc, test_parse_rejects_empty);
	tcase_add_test(tc, test_parse_rejects_lone_minus);
	tcase_add_test(tc, test_parse_rejects_missing_integer_part);
	tcase_add_test(tc, test_parse_rejects_trailing_dot);
	tcase_add_test(tc, test_parse_rejects_plus_sign);
	tcase_add_test(tc, test_parse_rejects_double_sign);
	tcase_add_test(tc, test_parse_rejects_exponent);
	tcase_add_test(tc, test_parse_rejects_surrounding_space);
	tcase_add_test(tc, test_parse_rejects_hex);
	tcase_add_test(tc, test_parse_rejects_two_dots);
	tcase_add_test(tc, test_parse_rejects_comma_separator);
	tcase_add_test(tc, test_parse_rejects_too_many_decimals);
	tcase_add_test(tc, test_parse_rejects_overflow);
	tcase_add_test(tc, test_parse_rejects_embedded_nul);
	tcase_add_test(tc, test_parse_rejects_bad_max_decimals);
	tcase_add_test(tc, test_parse_rejects_null_arguments);
	tcase_add_test(tc, test_parse_format_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_two_decimals);
	tcase_add_test(tc, test_format_rounds_half_up);
	tcase_add_test(tc, test_format_rounds_down_below_half);
	tcase_add_test(tc, test_format_rounds_negative_half_away_from_zero);
	tcase_add_test(tc, test_format_never_prints_negative_zero);
	tcase_add_test(tc, test_format_zero_decimals_has_no_dot);
	tcase_add_test(tc, test_format_six_decimals_is_exact);
	tcase_add_test(tc, test_format_each_decimal_count);
	tcase_add_test(tc, test_format_handles_int64_extremes);
	tcase_add_test(tc, test_format_fits_exact_buffer);
	tcase_add_test(tc, test_format_rejects_small_buffer);
	tcase_add_test(tc, test_format_rejects_bad_decimals);
	suite_add_tcase(s, tc);

	tc = tcase_create("format_trim");
	tcase_add_test(tc, test_trim_strips_zeros_down_to_min);
	tcase_add_test(tc, test_trim_drops_dot_at_zero_min);
	tcase_add_test(tc, test_trim_keeps_min_decimals_of_zeros);
	tcase_add_test(tc, test_trim_never_rounds);
	tcase_add_test(tc, test_trim_negative_amount);
	tcase_add_test(tc, test_trim_fits_exact_buffer);
	tcase_add_test(tc, test_trim_rejects_small_buffer);
	tcase_add_test(tc, test_trim_rejects_bad_min_decimals);
	suite_add_tcase(s, tc);

	tc = tcase_create("round");
	tcase_add_test(tc, test_round_half_away_from_zero);
	tcase_add_test(tc, test_round_down_below_half);
	tcase_add_test(tc, test_round_to_units);
	tcase_add_test(tc, test_round_six_decimals_is_identity);
	tcase_add_test(tc, test_round_saturates_instead_of_wrapping);
	suite_add_tcase(s, tc);

	tc = tcase_create("arithmetic");
	tcase_add_test(tc, test_mul_seed_invoice_totals_1_40);
	tcase_add_test(tc, test_mul_header_example);
	tcase_add_test(tc, test_mul_rounds_half_away_from_zero);
	tcase_add_test(tc, test_mul_signs);
	tcase_add_test(tc, test_mul_accepts_max_magnitude);
	tcase_add_test(tc, test_mul_rejects_overflow);
	tcase_add_test(tc, test_muldiv_storage_hour_of_gb_month);
	tcase_add_test(tc, test_muldiv_prorates_seconds);
	tcase_add_test(tc, test_muldiv_rounds_half_away_from_zero);
	tcase_add_test(tc, test_muldiv_keeps_wide_intermediate);
	tcase_add_test(tc, test_muldiv_rejects_nonpositive_den);
	tcase_add_test(tc, test_muldiv_rejects_overflow);
	tcase_add_test(tc, test_add_sums);
	tcase_add_test(tc, test_add_accepts_max_magnitude);
	tcase_add_test(tc, test_add_rejects_overflow);
	tcase_add_test(tc, test_prorate_seed_hour_of_two_cores);
	tcase_add_test(tc, test_prorate_storage_hour_rounds_once);
	tcase_add_test(tc, test_prorate_half_rounds_away_from_zero);
	tcase_add_test(tc, test_prorate_rejects_overflow_and_bad_den);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(money_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
