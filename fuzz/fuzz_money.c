/*
 * fuzz_money: decimal money parsing and the arithmetic on micro-units.
 *
 * Input: byte 0 = max_decimals ((b % 9) - 1: -1..7, so the invalid values
 * are tried too), byte 1 = output buffer size for money_format, then the
 * text for money_parse.  The same bytes, read as int64 values, drive the
 * arithmetic (so every input also tries money_mul/muldiv/prorate/add/round
 * on values far outside what money_parse can produce).
 * Properties:
 *   - money_parse accepts only the documented grammar (checked against a
 *     reference parser) and never yields more than MONEY_MAX_MICROS;
 *   - canonical round trip: money_format(v, max_decimals) parses back to v,
 *     and so does money_format_trim(v, k) with 6 decimals;
 *   - money_format writes exactly what it returns plus a NUL, never past
 *     it, never past size, and empties buf when it does not fit;
 *   - money_mul/muldiv/prorate/add/round never crash (UBSan aborts on
 *     overflow), respect MONEY_MAX_MICROS, and agree with exact 128-bit
 *     arithmetic where it is cheap to compute here.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "money.h"

#define CANARY 0x5A

__extension__ typedef __int128 wide;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	return 0;
}

/* The documented grammar, written independently: -?[0-9]+(\.[0-9]{1,d})? */
static int
ref_parse(const char *s, size_t len, int maxdec, int64_t *out)
{
	static const int64_t p10[] = { 1, 10, 100, 1000, 10000, 100000,
	    1000000 };
	size_t i = 0, digits = 0, fd = 0;
	wide units = 0, frac = 0, v;
	int neg = 0;

	if (maxdec < 0 || maxdec > 6)
		return -1;
	if (i < len && s[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		units = units * 10 + (s[i] - '0');
		if (units > MONEY_MAX_MICROS) /* keeps it in range; checked below */
			units = MONEY_MAX_MICROS + 1;
	}
	if (digits == 0)
		return -1;
	if (i < len && s[i] == '.') {
		i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, fd++)
			if (fd < 6)
				frac = frac * 10 + (s[i] - '0');
		if (fd == 0 || fd > (size_t)maxdec)
			return -1;
	}
	if (i != len)
		return -1;
	v = units * 1000000 + frac * p10[6 - fd];
	if (v > MONEY_MAX_MICROS)
		return -1;
	*out = (int64_t)(neg ? -v : v);
	return 0;
}

/* n / d rounded half away from zero (d > 0), the rule money.h states. */
static wide
ref_div_round(wide n, wide d)
{
	wide q = n / d, r = n % d;

	if (r < 0)
		r = -r;
	if (2 * r >= d)
		q += n < 0 ? -1 : 1;
	return q;
}

static void
check_format(int64_t v, int dec, size_t size)
{
	char *buf = malloc(size + 1);
	size_t i;
	int n;

	if (buf == NULL)
		abort();
	memset(buf, CANARY, size + 1);
	n = money_format(v, dec, buf, size);
	if (dec < 0 || dec > 6)
		FUZZ_CHECK(n == -1, "money_format accepted decimals %d", dec);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n < size, "returned %d with size %zu", n, size);
		FUZZ_CHECK(buf[n] == '\0' && strlen(buf) == (size_t)n,
		    "returned %d but wrote \"%.*s\"", n, (int)size, buf);
		for (i = (size_t)n + 1; i <= size; i++)
			FUZZ_CHECK(buf[i] == (char)CANARY,
			    "money_format(%lld, %d, size %zu) = %d wrote byte %zu",
			    (long long)v, dec, size, n, i);
	} else {
		FUZZ_CHECK(n == -1, "returned %d", n);
		if (size > 0 && dec >= 0 && dec <= 6)
			FUZZ_CHECK(buf[0] == '\0', "not emptied on failure");
		for (i = 1; i <= size; i++)
			FUZZ_CHECK(buf[i] == (char)CANARY,
			    "failed money_format wrote byte %zu", i);
	}
	free(buf);
}

static void
check_roundtrip(int64_t v, int dec)
{
	char buf[64];
	int64_t back = 0;
	int n, k;

	n = money_format(v, dec, buf, sizeof(buf));
	FUZZ_CHECK(n > 0, "money_format(%lld, %d) failed", (long long)v, dec);
	FUZZ_CHECK(money_parse(buf, (size_t)n, dec, &back) == 0 && back == v,
	    "%lld formatted with %d decimals is \"%s\", parsed back as %lld",
	    (long long)v, dec, buf, (long long)back);
	for (k = 0; k <= 6; k++) {
		n = money_format_trim(v, k, buf, sizeof(buf));
		FUZZ_CHECK(n > 0, "money_format_trim(%lld, %d) failed",
		    (long long)v, k);
		FUZZ_CHECK(money_parse(buf, (size_t)n, 6, &back) == 0 && back == v,
		    "money_format_trim(%lld, %d) = \"%s\", parsed back as %lld",
		    (long long)v, k, buf, (long long)back);
	}
}

static void
check_in_range(int rc, int64_t out, const char *what)
{
	FUZZ_CHECK(rc == 0 || rc == -1, "%s returned %d", what, rc);
	if (rc == 0)
		FUZZ_CHECK(out >= -MONEY_MAX_MICROS && out <= MONEY_MAX_MICROS,
		    "%s gave %lld, beyond MONEY_MAX_MICROS", what, (long long)out);
}

static void
check_arith(int64_t a, int64_t b, int64_t num, int64_t den, int dec)
{
	int64_t out = 0, out2 = 0, r;
	wide exact;
	int rc, rc2;

	/* add: exact, and refused exactly when out of range */
	rc = money_add(a, b, &out);
	check_in_range(rc, out, "money_add");
	exact = (wide)a + b;
	FUZZ_CHECK((rc == 0) == (exact >= -MONEY_MAX_MICROS &&
	    exact <= MONEY_MAX_MICROS), "money_add(%lld, %lld) rc %d",
	    (long long)a, (long long)b, rc);
	if (rc == 0)
		FUZZ_CHECK(out == (int64_t)exact, "money_add wrong");

	/* mul: commutative, rounded half away from zero */
	rc = money_mul(a, b, &out);
	check_in_range(rc, out, "money_mul");
	rc2 = money_mul(b, a, &out2);
	FUZZ_CHECK(rc == rc2 && (rc != 0 || out == out2), "money_mul not "
	    "commutative for %lld, %lld", (long long)a, (long long)b);
	exact = ref_div_round((wide)a * b, 1000000);
	FUZZ_CHECK((rc == 0) == (exact >= -MONEY_MAX_MICROS &&
	    exact <= MONEY_MAX_MICROS) && (rc != 0 || out == (int64_t)exact),
	    "money_mul(%lld, %lld) = %d/%lld", (long long)a, (long long)b, rc,
	    (long long)out);

	/* muldiv */
	rc = money_muldiv(a, num, den, &out);
	check_in_range(rc, out, "money_muldiv");
	if (den <= 0)
		FUZZ_CHECK(rc == -1, "money_muldiv accepted den %lld",
		    (long long)den);
	else {
		exact = ref_div_round((wide)a * num, den);
		FUZZ_CHECK((rc == 0) == (exact >= -MONEY_MAX_MICROS &&
		    exact <= MONEY_MAX_MICROS) && (rc != 0 || out == (int64_t)exact),
		    "money_muldiv(%lld, %lld, %lld) = %d/%lld", (long long)a,
		    (long long)num, (long long)den, rc, (long long)out);
	}

	/* prorate: never crashes; with num == den it is money_mul */
	rc = money_prorate(a, b, num, den, &out);
	check_in_range(rc, out, "money_prorate");
	if (den <= 0)
		FUZZ_CHECK(rc == -1, "money_prorate accepted den %lld",
		    (long long)den);
	if (den > 0) {
		rc = money_prorate(a, b, den, den, &out);
		check_in_range(rc, out, "money_prorate");
		rc2 = money_mul(a, b, &out2);
		if (rc == 0)
			FUZZ_CHECK(rc2 == 0 && out == out2,
			    "money_prorate(%lld, %lld, d, d) = %lld, money_mul %d/%lld",
			    (long long)a, (long long)b, (long long)out, rc2,
			    (long long)out2);
	}

	/* round: within half a step of the input, unless saturated */
	r = money_round(a, dec);
	if (dec >= 0 && dec < 6 && a > -MONEY_MAX_MICROS && a < MONEY_MAX_MICROS) {
		static const int64_t step[] = { 1000000, 100000, 10000, 1000,
		    100, 10 };
		wide d = (wide)r - a;

		FUZZ_CHECK(r % step[dec] == 0 && 2 * (d < 0 ? -d : d) <= step[dec],
		    "money_round(%lld, %d) = %lld", (long long)a, dec,
		    (long long)r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size }, nums;
	int64_t v = 0, want = 0, a, b, num, den;
	int maxdec, rc, ref;
	size_t fmtsize;
	char *text;

	maxdec = (int)(fuzz_u8(&in) % 9) - 1;
	fmtsize = fuzz_u8(&in) % 40;
	nums = in;

	text = fuzz_strndup(in.p, in.n); /* exact size, NUL not counted */
	rc = money_parse(text, in.n, maxdec, &v);
	ref = ref_parse(text, in.n, maxdec, &want);
	FUZZ_CHECK(rc == ref, "money_parse(\"%s\", %d) = %d, reference %d",
	    text, maxdec, rc, ref);
	if (rc == 0) {
		FUZZ_CHECK(v == want, "money_parse(\"%s\", %d) = %lld, reference "
		    "%lld", text, maxdec, (long long)v, (long long)want);
		check_roundtrip(v, maxdec);
	}
	free(text);

	a = (int64_t)fuzz_u64(&nums);
	b = (int64_t)fuzz_u64(&nums);
	num = (int64_t)fuzz_u64(&nums);
	den = (int64_t)fuzz_u64(&nums);
	if (rc == 0)
		a = v;	/* parsed values are the common case: use one */
	check_format(a, maxdec, fmtsize);
	check_format(b, (int)(fmtsize % 8), sizeof(int64_t) * 3);
	if (b >= -MONEY_MAX_MICROS && b <= MONEY_MAX_MICROS)
		check_roundtrip(b, 6);
	check_arith(a, b, num, den, maxdec);
	return 0;
}
