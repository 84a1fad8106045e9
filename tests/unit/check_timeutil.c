/*
 * Unit tests for timeutil: civil-date arithmetic, RFC 3339 and DATETIME(6)
 * text both ways, month boundaries and the clocks.
 *
 * Build with -DBILLING_TEST_CLOCK (matching timeutil.c) to exercise the
 * BILLING_TEST_NOW override; without it the tests check it is ignored.
 */
#include "build-config.h"
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeutil.h"

#define SENTINEL INT64_C(0x5a5a5a5a)

/* 2025-01-31T00:00:00Z, a fixed point checked against `date -u`. */
#define JAN31_2025 (INT64_C(1738281600) * USEC_PER_SEC)

static int
parse(const char *text, int allow_date, int64_t *usec, int *date_only)
{
	*usec = SENTINEL;
	return time_parse_rfc3339(text, strlen(text), allow_date, usec,
	    date_only);
}

static void
assert_parses(const char *text, int64_t want)
{
	int64_t v;

	ck_assert_msg(parse(text, 0, &v, NULL) == 0, "\"%s\" should parse",
	    text);
	ck_assert_int_eq(v, want);
}

static void
assert_rejected(const char *text)
{
	int64_t v;

	ck_assert_msg(parse(text, 1, &v, NULL) == -1,
	    "\"%s\" should be rejected", text);
	ck_assert_int_eq(v, SENTINEL);
}

static void
assert_formats(int64_t usec, const char *want)
{
	char buf[TIME_TEXT_MAX];

	ck_assert_int_eq(time_format_rfc3339(usec, buf, sizeof(buf)),
	    (int)strlen(want));
	ck_assert_str_eq(buf, want);
}

static int64_t
at(int y, int mo, int d, int h, int mi, int s)
{
	return time_from_civil(y, mo, d, h, mi, s);
}

/* ---- civil arithmetic ---- */

START_TEST(test_civil_epoch_is_zero)
{
	ck_assert_int_eq(at(1970, 1, 1, 0, 0, 0), 0);
}
END_TEST

START_TEST(test_civil_known_instant)
{
	ck_assert_int_eq(at(2025, 1, 31, 0, 0, 0), JAN31_2025);
	ck_assert_int_eq(at(2000, 3, 1, 0, 0, 0),
	    INT64_C(951868800) * USEC_PER_SEC);
}
END_TEST

/*
 * The exhaustive loops below only call ck_assert on a mismatch: Check
 * records every passing assertion, which would dominate the run time.
 */
START_TEST(test_civil_matches_timegm)
{
	struct tm tm;
	int64_t day, got;
	time_t t;

	/* Every day 1970..2200 at a non-midnight time, against libc. */
	for (day = 0; day < 84000; day++) {
		t = (time_t)(day * 86400 + 45296);
		if (gmtime_r(&t, &tm) == NULL)
			ck_abort_msg("gmtime_r failed for %lld", (long long)t);
		got = at(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		if (got != (int64_t)t * USEC_PER_SEC)
			ck_abort_msg("%lld: got %lld", (long long)t,
			    (long long)got);
	}
}
END_TEST

START_TEST(test_civil_round_trips_every_day_to_9999)
{
	int64_t day, usec;
	int y, mo, d, h, mi, s, us, next;
	int py = 1969, pmo = 12, pd = 31;

	/* Each day follows the previous one: catches any skipped or doubled
	 * date through year 9999, leap rules included. */
	for (day = 0; day <= 2932896; day++) {
		usec = day * 86400 * USEC_PER_SEC;
		time_to_civil(usec, &y, &mo, &d, &h, &mi, &s, &us);
		if (d == 1)
			next = pd >= 28 && (mo == pmo + 1 ||
			    (mo == 1 && pmo == 12 && y == py + 1));
		else
			next = y == py && mo == pmo && d == pd + 1;
		if (!next || h != 0 || mi != 0 || s != 0 || us != 0 ||
		    at(y, mo, d, 0, 0, 0) != usec)
			ck_abort_msg("day %lld -> %04d-%02d-%02d after "
			    "%04d-%02d-%02d", (long long)day, y, mo, d,
			    py, pmo, pd);
		py = y;
		pmo = mo;
		pd = d;
	}
	ck_assert_int_eq(y, 9999);
	ck_assert_int_eq(mo, 12);
	ck_assert_int_eq(d, 31);
}
END_TEST

START_TEST(test_civil_leap_years)
{
	int mo, d;

	time_to_civil(at(2024, 2, 28, 0, 0, 0) + 86400 * USEC_PER_SEC,
	    NULL, &mo, &d, NULL, NULL, NULL, NULL);
	ck_assert(mo == 2 && d == 29);
	time_to_civil(at(2100, 2, 28, 0, 0, 0) + 86400 * USEC_PER_SEC,
	    NULL, &mo, &d, NULL, NULL, NULL, NULL);
	ck_assert(mo == 3 && d == 1);
	time_to_civil(at(2000, 2, 28, 0, 0, 0) + 86400 * USEC_PER_SEC,
	    NULL, &mo, &d, NULL, NULL, NULL, NULL);
	ck_assert(mo == 2 && d == 29);
}
END_TEST

START_TEST(test_civil_splits_time_of_day)
{
	int y, mo, d, h, mi, s, us;

	time_to_civil(JAN31_2025 + (13 * 3600 + 14 * 60 + 15) * USEC_PER_SEC +
	    500, &y, &mo, &d, &h, &mi, &s, &us);
	ck_assert(y == 2025 && mo == 1 && d == 31);
	ck_assert(h == 13 && mi == 14 && s == 15 && us == 500);
}
END_TEST

START_TEST(test_civil_before_epoch_floors)
{
	int y, mo, d, h, mi, s, us;

	time_to_civil(-1, &y, &mo, &d, &h, &mi, &s, &us);
	ck_assert(y == 1969 && mo == 12 && d == 31);
	ck_assert(h == 23 && mi == 59 && s == 59 && us == 999999);
	ck_assert_int_eq(at(1969, 12, 31, 23, 59, 59), -USEC_PER_SEC);
	ck_assert_int_eq(at(1600, 3, 1, 0, 0, 0),
	    INT64_C(-11670912000) * USEC_PER_SEC);
}
END_TEST

START_TEST(test_civil_normalises_month)
{
	ck_assert_int_eq(at(2024, 13, 1, 0, 0, 0), at(2025, 1, 1, 0, 0, 0));
	ck_assert_int_eq(at(2025, 0, 1, 0, 0, 0), at(2024, 12, 1, 0, 0, 0));
	ck_assert_int_eq(at(2025, -11, 1, 0, 0, 0), at(2024, 1, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_civil_handles_int64_extremes)
{
	int y, us;

	time_to_civil(INT64_MIN, &y, NULL, NULL, NULL, NULL, NULL, &us);
	ck_assert_int_eq(y, -290308);
	ck_assert_int_eq(us, 224192);
	time_to_civil(INT64_MAX, &y, NULL, NULL, NULL, NULL, NULL, &us);
	ck_assert_int_eq(y, 294247);
	ck_assert_int_eq(us, 775807);
	ck_assert_int_eq(at(300000, 1, 1, 0, 0, 0), INT64_MAX);
	ck_assert_int_eq(at(-300000, 1, 1, 0, 0, 0), INT64_MIN);
}
END_TEST

/* ---- time_parse_rfc3339 ---- */

START_TEST(test_parse_utc_z)
{
	assert_parses("2025-01-31T00:00:00Z", JAN31_2025);
}
END_TEST

START_TEST(test_parse_lowercase_t_and_z)
{
	assert_parses("2025-01-31t00:00:00z", JAN31_2025);
}
END_TEST

START_TEST(test_parse_space_separator)
{
	assert_parses("2025-01-31 00:00:00Z", JAN31_2025);
}
END_TEST

START_TEST(test_parse_positive_offset_converts_to_utc)
{
	/* The header's example: 10:00:00.5 at +02:00 is 08:00:00.5Z. */
	assert_parses("2025-01-31T10:00:00.5+02:00",
	    JAN31_2025 + 8 * 3600 * USEC_PER_SEC + 500000);
}
END_TEST

START_TEST(test_parse_negative_offset_crosses_day)
{
	assert_parses("2024-12-31T22:30:00-05:30", at(2025, 1, 1, 4, 0, 0));
	assert_parses("2025-01-01T01:00:00+02:00", at(2024, 12, 31, 23, 0, 0));
}
END_TEST

START_TEST(test_parse_zero_offsets_equal_z)
{
	assert_parses("2025-01-31T00:00:00+00:00", JAN31_2025);
	assert_parses("2025-01-31T00:00:00-00:00", JAN31_2025);
}
END_TEST

START_TEST(test_parse_fraction_scales_to_micros)
{
	assert_parses("2025-01-31T00:00:00.5Z", JAN31_2025 + 500000);
	assert_parses("2025-01-31T00:00:00.000500Z", JAN31_2025 + 500);
	assert_parses("2025-01-31T00:00:00.123456Z", JAN31_2025 + 123456);
	assert_parses("2025-01-31T00:00:00.000000Z", JAN31_2025);
}
END_TEST

START_TEST(test_parse_rejects_seven_digit_fraction)
{
	assert_rejected("2025-01-31T00:00:00.1234567Z");
	assert_rejected("2025-01-31T00:00:00.0000000Z");
}
END_TEST

START_TEST(test_parse_rejects_empty_fraction)
{
	assert_rejected("2025-01-31T00:00:00.Z");
}
END_TEST

START_TEST(test_parse_accepts_feb_29_in_leap_year)
{
	assert_parses("2024-02-29T00:00:00Z", at(2024, 2, 29, 0, 0, 0));
	assert_parses("2000-02-29T00:00:00Z", at(2000, 2, 29, 0, 0, 0));
}
END_TEST

START_TEST(test_parse_rejects_feb_29_in_common_year)
{
	assert_rejected("2025-02-29T00:00:00Z");
	assert_rejected("2100-02-29T00:00:00Z");
	assert_rejected("2025-02-29");
}
END_TEST

START_TEST(test_parse_rejects_out_of_range_date)
{
	assert_rejected("2025-00-10T00:00:00Z");
	assert_rejected("2025-13-10T00:00:00Z");
	assert_rejected("2025-01-00T00:00:00Z");
	assert_rejected("2025-01-32T00:00:00Z");
	assert_rejected("2025-04-31T00:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_out_of_range_time)
{
	assert_rejected("2025-01-31T24:00:00Z");
	assert_rejected("2025-01-31T23:60:00Z");
	assert_rejected("2025-01-31T23:59:61Z");
}
END_TEST

START_TEST(test_parse_folds_leap_second_to_59)
{
	assert_parses("2016-12-31T23:59:60Z", at(2016, 12, 31, 23, 59, 59));
	assert_parses("2016-12-31T23:59:60.5Z",
	    at(2016, 12, 31, 23, 59, 59) + 500000);
}
END_TEST

/* Well-formed text naming an instant outside 1970..9999 (UTC): the range
 * answer, and *usec untouched. */
static void
assert_out_of_range(const char *text, enum time_date_form form)
{
	int64_t v;

	ck_assert_msg(parse(text, form, &v, NULL) == TIME_OUT_OF_RANGE,
	    "\"%s\" should be out of range", text);
	ck_assert_int_eq(v, SENTINEL);
}

START_TEST(test_parse_rejects_years_outside_1970_9999)
{
	assert_out_of_range("1969-12-31T23:59:59Z", TIME_NO_DATE);
	assert_out_of_range("0000-01-01T00:00:00Z", TIME_NO_DATE);
	assert_out_of_range("1969-12-31", TIME_DATE_START);
	assert_rejected("10000-01-01T00:00:00Z");
	assert_parses("1970-01-01T00:00:00Z", 0);
	assert_parses("9999-12-31T23:59:59Z", at(9999, 12, 31, 23, 59, 59));
	assert_parses("9999-12-31T23:59:59.999999Z", TIME_INPUT_MAX);
}
END_TEST

START_TEST(test_parse_checks_the_range_after_the_offset)
{
	/* the text's date is in range, the UTC instant is not */
	assert_out_of_range("9999-12-31T23:30:00-01:00", TIME_NO_DATE);
	assert_out_of_range("1970-01-01T00:30:00+01:00", TIME_NO_DATE);
	assert_parses("9999-12-31T23:30:00+01:00", at(9999, 12, 31, 22, 30, 0));
	assert_parses("1970-01-01T00:30:00-01:00", at(1970, 1, 1, 1, 30, 0));
}
END_TEST

START_TEST(test_date_only_end_is_the_next_midnight)
{
	int64_t v;
	int date_only = -1;

	ck_assert_int_eq(parse("2025-01-30", TIME_DATE_END, &v, &date_only), 0);
	ck_assert_int_eq(v, JAN31_2025);
	ck_assert_int_eq(date_only, 1);
	ck_assert_int_eq(parse("2024-02-29", TIME_DATE_END, &v, NULL), 0);
	ck_assert_int_eq(v, at(2024, 3, 1, 0, 0, 0));
	ck_assert_int_eq(parse("2025-01-30T00:00:00Z", TIME_DATE_END, &v,
	    &date_only), 0);
	ck_assert_int_eq(v, at(2025, 1, 30, 0, 0, 0));
	ck_assert_int_eq(date_only, 0);
}
END_TEST

START_TEST(test_date_only_end_of_9999_is_out_of_range)
{
	int64_t v;

	/* its end, 10000-01-01T00:00:00Z, fits no DATETIME(6) */
	assert_out_of_range("9999-12-31", TIME_DATE_END);
	ck_assert_int_eq(parse("9999-12-31", TIME_DATE_START, &v, NULL), 0);
	ck_assert_int_eq(parse("9999-12-30", TIME_DATE_END, &v, NULL), 0);
	ck_assert_int_eq(v, at(9999, 12, 31, 0, 0, 0));
}
END_TEST

START_TEST(test_db_parse_rejects_years_outside_1970_9999)
{
	int64_t v = SENTINEL;

	ck_assert_int_eq(time_parse_db("1969-12-31 23:59:59", 19, &v), -1);
	ck_assert_int_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_parse_requires_zone)
{
	assert_rejected("2025-01-31T00:00:00");
	assert_rejected("2025-01-31T00:00:00.5");
}
END_TEST

START_TEST(test_parse_rejects_malformed_offset)
{
	assert_rejected("2025-01-31T00:00:00+24:00");
	assert_rejected("2025-01-31T00:00:00+02:60");
	assert_rejected("2025-01-31T00:00:00+0200");
	assert_rejected("2025-01-31T00:00:00+02");
	assert_rejected("2025-01-31T00:00:00+02:00:00");
	assert_rejected("2025-01-31T00:00:00 +02:00");
	assert_rejected("2025-01-31T00:00:00UTC");
}
END_TEST

START_TEST(test_parse_rejects_trailing_garbage)
{
	assert_rejected("2025-01-31T00:00:00Zx");
	assert_rejected("2025-01-31T00:00:00Z ");
	assert_rejected("2025-01-31x");
}
END_TEST

START_TEST(test_parse_rejects_short_fields)
{
	assert_rejected("2025-1-31T00:00:00Z");
	assert_rejected("2025-01-31T0:00:00Z");
	assert_rejected("2025-01-31T00:00Z");
	assert_rejected("25-01-31T00:00:00Z");
	assert_rejected("+025-01-31T00:00:00Z");
	assert_rejected("2025-01-31T-1:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_other_separators)
{
	assert_rejected("2025-01-31_00:00:00Z");
	assert_rejected("2025/01/31T00:00:00Z");
	assert_rejected("2025-01-31T00.00.00Z");
}
END_TEST

START_TEST(test_parse_rejects_empty_and_null)
{
	int64_t v;

	assert_rejected("");
	ck_assert_int_eq(time_parse_rfc3339(NULL, 0, 1, &v, NULL), -1);
	ck_assert_int_eq(time_parse_rfc3339("2025-01-31", 10, 1, NULL, NULL),
	    -1);
}
END_TEST

START_TEST(test_parse_date_only_when_allowed)
{
	int64_t v;
	int date_only = -1;

	ck_assert_int_eq(parse("2025-01-31", 1, &v, &date_only), 0);
	ck_assert_int_eq(v, JAN31_2025);
	ck_assert_int_eq(date_only, 1);
}
END_TEST

START_TEST(test_parse_full_form_clears_date_only_flag)
{
	int64_t v;
	int date_only = -1;

	ck_assert_int_eq(parse("2025-01-31T00:00:00Z", 1, &v, &date_only), 0);
	ck_assert_int_eq(date_only, 0);
}
END_TEST

START_TEST(test_parse_rejects_date_only_when_not_allowed)
{
	int64_t v;

	ck_assert_int_eq(parse("2025-01-31", 0, &v, NULL), -1);
	ck_assert_int_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_parse_reads_only_len_bytes)
{
	int64_t v;

	ck_assert_int_eq(time_parse_rfc3339("2025-01-31T00:00:00Zjunk", 20,
	    0, &v, NULL), 0);
	ck_assert_int_eq(v, JAN31_2025);
	ck_assert_int_eq(time_parse_rfc3339("2025-01-31T00:00:00Z", 10,
	    1, &v, NULL), 0);
	ck_assert_int_eq(v, JAN31_2025);
}
END_TEST

START_TEST(test_parse_rejects_embedded_nul)
{
	int64_t v = SENTINEL;

	ck_assert_int_eq(time_parse_rfc3339("2025-01-31T00:00:00Z\0", 21, 0,
	    &v, NULL), -1);
	ck_assert_int_eq(time_parse_rfc3339("2025-01-31\0", 11, 1, &v, NULL),
	    -1);
	ck_assert_int_eq(time_parse_rfc3339("2025-01-3\0", 10, 1, &v, NULL),
	    -1);
	ck_assert_int_eq(v, SENTINEL);
}
END_TEST

/* ---- time_format_rfc3339 ---- */

START_TEST(test_format_whole_seconds_has_no_fraction)
{
	assert_formats(JAN31_2025, "2025-01-31T00:00:00Z");
	assert_formats(0, "1970-01-01T00:00:00Z");
}
END_TEST

START_TEST(test_format_sub_second_uses_six_digits)
{
	assert_formats(JAN31_2025 + 500, "2025-01-31T00:00:00.000500Z");
	assert_formats(JAN31_2025 + 500000, "2025-01-31T00:00:00.500000Z");
}
END_TEST

START_TEST(test_format_before_epoch)
{
	assert_formats(-1, "1969-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(test_format_end_of_range)
{
	assert_formats(at(9999, 12, 31, 23, 59, 59) + 999999,
	    "9999-12-31T23:59:59.999999Z");
}
END_TEST

START_TEST(test_format_fits_exact_buffer)
{
	char buf[21];

	ck_assert_int_eq(time_format_rfc3339(JAN31_2025, buf, sizeof(buf)),
	    20);
	ck_assert_str_eq(buf, "2025-01-31T00:00:00Z");
}
END_TEST

START_TEST(test_format_rejects_small_buffer)
{
	char buf[20] = "x";

	ck_assert_int_eq(time_format_rfc3339(JAN31_2025, buf, sizeof(buf)),
	    -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(time_format_rfc3339(JAN31_2025, buf, 0), -1);
	ck_assert_int_eq(time_format_rfc3339(JAN31_2025, NULL, 0), -1);
}
END_TEST

START_TEST(test_format_fits_time_text_max_at_extremes)
{
	char buf[TIME_TEXT_MAX];

	ck_assert_int_gt(time_format_rfc3339(INT64_MIN, buf, sizeof(buf)), 0);
	ck_assert_int_gt(time_format_rfc3339(INT64_MAX, buf, sizeof(buf)), 0);
	ck_assert_int_gt(time_format_db(INT64_MIN, buf, sizeof(buf)), 0);
	ck_assert_int_gt(time_format_db(INT64_MAX, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_format_round_trips_through_parse)
{
	static const int64_t samples[] = {
		0, 1, 999999, JAN31_2025, JAN31_2025 + 500,
		INT64_C(253402300799999999),	/* 9999-12-31, last usec */
		INT64_C(1709164800123456),	/* 2024-02-29 */
	};
	char buf[TIME_TEXT_MAX];
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		ck_assert_int_gt(time_format_rfc3339(samples[i], buf,
		    sizeof(buf)), 0);
		ck_assert_int_eq(parse(buf, 0, &v, NULL), 0);
		ck_assert_int_eq(v, samples[i]);
	}
}
END_TEST

/* ---- DATETIME(6) text ---- */

START_TEST(test_db_format_always_has_six_digits)
{
	char buf[TIME_TEXT_MAX];

	ck_assert_int_eq(time_format_db(JAN31_2025, buf, sizeof(buf)), 26);
	ck_assert_str_eq(buf, "2025-01-31 00:00:00.000000");
	ck_assert_int_eq(time_format_db(JAN31_2025 + 123456, buf,
	    sizeof(buf)), 26);
	ck_assert_str_eq(buf, "2025-01-31 00:00:00.123456");
}
END_TEST

START_TEST(test_db_format_rejects_small_buffer)
{
	char buf[26];

	ck_assert_int_eq(time_format_db(JAN31_2025, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_db_parse_with_and_without_fraction)
{
	const char *a = "2025-01-31 00:00:00.000500";
	const char *b = "2025-01-31 13:14:15";
	int64_t v;

	ck_assert_int_eq(time_parse_db(a, strlen(a), &v), 0);
	ck_assert_int_eq(v, JAN31_2025 + 500);
	ck_assert_int_eq(time_parse_db(b, strlen(b), &v), 0);
	ck_assert_int_eq(v, at(2025, 1, 31, 13, 14, 15));
}
END_TEST

START_TEST(test_db_parse_rejects_rfc3339_forms)
{
	static const char *const bad[] = {
		"2025-01-31T00:00:00.000000",
		"2025-01-31 00:00:00Z",
		"2025-01-31 00:00:00+00:00",
		"2025-01-31",
		"2025-01-31 00:00:00.",
		"2025-01-31 00:00:00.0000000",
		"2025-02-29 00:00:00",
		"",
	};
	int64_t v = SENTINEL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(time_parse_db(bad[i], strlen(bad[i]), &v) == -1,
		    "\"%s\" should be rejected", bad[i]);
	ck_assert_int_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_db_round_trip)
{
	char buf[TIME_TEXT_MAX];
	int64_t in = at(2024, 2, 29, 23, 59, 59) + 999999, out;
	int n;

	n = time_format_db(in, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(time_parse_db(buf, (size_t)n, &out), 0);
	ck_assert_int_eq(out, in);
}
END_TEST

/* ---- time_month_start ---- */

START_TEST(test_month_start_of_same_month)
{
	ck_assert_int_eq(time_month_start(JAN31_2025 + 12345, 0),
	    at(2025, 1, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_month_start_on_boundary_is_itself)
{
	int64_t feb = at(2025, 2, 1, 0, 0, 0);

	ck_assert_int_eq(time_month_start(feb, 0), feb);
	ck_assert_int_eq(time_month_start(feb - 1, 0), at(2025, 1, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_month_start_next_month)
{
	/* From the 31st: no day-of-month clamping is involved. */
	ck_assert_int_eq(time_month_start(JAN31_2025, 1),
	    at(2025, 2, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_month_start_forward_rolls_year)
{
	ck_assert_int_eq(time_month_start(at(2024, 12, 15, 8, 0, 0), 1),
	    at(2025, 1, 1, 0, 0, 0));
	ck_assert_int_eq(time_month_start(at(2024, 12, 15, 8, 0, 0), 25),
	    at(2027, 1, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_month_start_backward_rolls_year)
{
	ck_assert_int_eq(time_month_start(JAN31_2025, -1),
	    at(2024, 12, 1, 0, 0, 0));
	ck_assert_int_eq(time_month_start(JAN31_2025, -12),
	    at(2024, 1, 1, 0, 0, 0));
	ck_assert_int_eq(time_month_start(JAN31_2025, -13),
	    at(2023, 12, 1, 0, 0, 0));
}
END_TEST

START_TEST(test_month_start_before_epoch)
{
	ck_assert_int_eq(time_month_start(0, -1), at(1969, 12, 1, 0, 0, 0));
	ck_assert_int_eq(time_month_start(-1, 0), at(1969, 12, 1, 0, 0, 0));
}
END_TEST

/* ---- clocks ---- */

START_TEST(test_now_tracks_realtime_clock)
{
	int64_t before, now, after;

	unsetenv("BILLING_TEST_NOW");
	unsetenv("BILLING_TEST_OFFSET");
	before = (int64_t)time(NULL) * USEC_PER_SEC;
	now = time_now_usec();
	/* time() reads a coarse clock that may lag clock_gettime's by a tick */
	after = ((int64_t)time(NULL) + 2) * USEC_PER_SEC;
	ck_assert_int_ge(now, before);
	ck_assert_int_le(now, after);
}
END_TEST

#ifdef BILLING_TEST_CLOCK
START_TEST(test_now_honours_test_clock)
{
	setenv("BILLING_TEST_NOW", "2025-01-31T10:00:00.5+02:00", 1);
	ck_assert_int_eq(time_now_usec(),
	    JAN31_2025 + 8 * 3600 * USEC_PER_SEC + 500000);
	unsetenv("BILLING_TEST_NOW");
}
END_TEST

START_TEST(test_now_shifts_by_test_offset)
{
	int64_t before, now, after;

	unsetenv("BILLING_TEST_NOW");
	setenv("BILLING_TEST_OFFSET", "-86400", 1);
	before = ((int64_t)time(NULL) - 86400) * USEC_PER_SEC;
	now = time_now_usec();
	after = ((int64_t)time(NULL) - 86400 + 2) * USEC_PER_SEC;
	unsetenv("BILLING_TEST_OFFSET");
	ck_assert_int_ge(now, before);
	ck_assert_int_le(now, after);
}
END_TEST

START_TEST(test_now_fixed_clock_wins_over_offset)
{
	setenv("BILLING_TEST_OFFSET", "3600", 1);
	setenv("BILLING_TEST_NOW", "2025-01-31T00:00:00Z", 1);
	ck_assert_int_eq(time_now_usec(), JAN31_2025);
	unsetenv("BILLING_TEST_NOW");
	unsetenv("BILLING_TEST_OFFSET");
}
END_TEST

START_TEST(test_now_ignores_bad_offsets)
{
	static const char *const bad[] = {"1x", "", "99999999999999999999",
	    "20000000000", "-20000000000"};
	size_t i;
	int64_t now;

	unsetenv("BILLING_TEST_NOW");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("BILLING_TEST_OFFSET", bad[i], 1);
		now = time_now_usec();
		ck_assert_int_ge(now, (int64_t)(time(NULL) - 1) * USEC_PER_SEC);
		ck_assert_int_le(now, (int64_t)(time(NULL) + 2) * USEC_PER_SEC);
	}
	unsetenv("BILLING_TEST_OFFSET");
}
END_TEST

START_TEST(test_now_ignores_unparsable_test_clock)
{
	int64_t now;

	setenv("BILLING_TEST_NOW", "yesterday", 1);
	now = time_now_usec();
	unsetenv("BILLING_TEST_NOW");
	ck_assert_int_ge(now, (int64_t)(time(NULL) - 1) * USEC_PER_SEC);
}
END_TEST
#else
START_TEST(test_now_ignores_test_clock_in_production)
{
	int64_t now;

	setenv("BILLING_TEST_NOW", "2025-01-31T00:00:00Z", 1);
	now = time_now_usec();
	unsetenv("BILLING_TEST_NOW");
	ck_assert_int_ne(now, JAN31_2025);
	ck_assert_int_ge(now, (int64_t)(time(NULL) - 1) * USEC_PER_SEC);
}
END_TEST
#endif

START_TEST(test_mono_never_goes_backwards)
{
	int64_t a, b;
	int i;

	a = time_mono_usec();
	ck_assert_int_gt(a, 0);
	for (i = 0; i < 1000; i++) {
		b = time_mono_usec();
		ck_assert_int_ge(b, a);
		a = b;
	}
}
END_TEST

static Suite *
timeutil_suite(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc;

	tc = tcase_create("civil");
	/* The exhaustive day loops take a while under valgrind. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_civil_epoch_is_zero);
	tcase_add_test(tc, test_civil_known_instant);
	tcase_add_test(tc, test_civil_matches_timegm);
	tcase_add_test(tc, test_civil_round_trips_every_day_to_9999);
	tcase_add_test(tc, test_civil_leap_years);
	tcase_add_test(tc, test_civil_splits_time_of_day);
	tcase_add_test(tc, test_civil_before_epoch_floors);
	tcase_add_test(tc, test_civil_normalises_month);
	tcase_add_test(tc, test_civil_handles_int64_extremes);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_rfc3339");
	tcase_add_test(tc, test_parse_utc_z);
	tcase_add_test(tc, test_parse_lowercase_t_and_z);
	tcase_add_test(tc, test_parse_space_separator);
	tcase_add_test(tc, test_parse_positive_offset_converts_to_utc);
	tcase_add_test(tc, test_parse_negative_offset_crosses_day);
	tcase_add_test(tc, test_parse_zero_offsets_equal_z);
	tcase_add_test(tc, test_parse_fraction_scales_to_micros);
	tcase_add_test(tc, test_parse_rejects_seven_digit_fraction);
	tcase_add_test(tc, test_parse_rejects_empty_fraction);
	tcase_add_test(tc, test_parse_accepts_feb_29_in_leap_year);
	tcase_add_test(tc, test_parse_rejects_feb_29_in_common_year);
	tcase_add_test(tc, test_parse_rejects_out_of_range_date);
	tcase_add_test(tc, test_parse_rejects_out_of_range_time);
	tcase_add_test(tc, test_parse_folds_leap_second_to_59);
	tcase_add_test(tc, test_parse_rejects_years_outside_1970_9999);
	tcase_add_test(tc, test_parse_checks_the_range_after_the_offset);
	tcase_add_test(tc, test_date_only_end_is_the_next_midnight);
	tcase_add_test(tc, test_date_only_end_of_9999_is_out_of_range);
	tcase_add_test(tc, test_db_parse_rejects_years_outside_1970_9999);
	tcase_add_test(tc, test_parse_requires_zone);
	tcase_add_test(tc, test_parse_rejects_malformed_offset);
	tcase_add_test(tc, test_parse_rejects_trailing_garbage);
	tcase_add_test(tc, test_parse_rejects_short_fields);
	tcase_add_test(tc, test_parse_rejects_other_separators);
	tcase_add_test(tc, test_parse_rejects_empty_and_null);
	tcase_add_test(tc, test_parse_date_only_when_allowed);
	tcase_add_test(tc, test_parse_full_form_clears_date_only_flag);
	tcase_add_test(tc, test_parse_rejects_date_only_when_not_allowed);
	tcase_add_test(tc, test_parse_reads_only_len_bytes);
	tcase_add_test(tc, test_parse_rejects_embedded_nul);
	suite_add_tcase(s, tc);

	tc = tcase_create("format_rfc3339");
	tcase_add_test(tc, test_format_whole_seconds_has_no_fraction);
	tcase_add_test(tc, test_format_sub_second_uses_six_digits);
	tcase_add_test(tc, test_format_before_epoch);
	tcase_add_test(tc, test_format_end_of_range);
	tcase_add_test(tc, test_format_fits_exact_buffer);
	tcase_add_test(tc, test_format_rejects_small_buffer);
	tcase_add_test(tc, test_format_fits_time_text_max_at_extremes);
	tcase_add_test(tc, test_format_round_trips_through_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("db_text");
	tcase_add_test(tc, test_db_format_always_has_six_digits);
	tcase_add_test(tc, test_db_format_rejects_small_buffer);
	tcase_add_test(tc, test_db_parse_with_and_without_fraction);
	tcase_add_test(tc, test_db_parse_rejects_rfc3339_forms);
	tcase_add_test(tc, test_db_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("month_start");
	tcase_add_test(tc, test_month_start_of_same_month);
	tcase_add_test(tc, test_month_start_on_boundary_is_itself);
	tcase_add_test(tc, test_month_start_next_month);
	tcase_add_test(tc, test_month_start_forward_rolls_year);
	tcase_add_test(tc, test_month_start_backward_rolls_year);
	tcase_add_test(tc, test_month_start_before_epoch);
	suite_add_tcase(s, tc);

	tc = tcase_create("clocks");
	tcase_add_test(tc, test_now_tracks_realtime_clock);
#ifdef BILLING_TEST_CLOCK
	tcase_add_test(tc, test_now_honours_test_clock);
	tcase_add_test(tc, test_now_ignores_unparsable_test_clock);
	tcase_add_test(tc, test_now_shifts_by_test_offset);
	tcase_add_test(tc, test_now_fixed_clock_wins_over_offset);
	tcase_add_test(tc, test_now_ignores_bad_offsets);
#else
	tcase_add_test(tc, test_now_ignores_test_clock_in_production);
#endif
	tcase_add_test(tc, test_mono_never_goes_backwards);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(timeutil_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
