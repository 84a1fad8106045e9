/*
 * money: exact decimal amounts in int64_t micro-units.
 *
 * No binary floating point is used anywhere in this file: text is read
 * digit by digit, products and quotients go through 128-bit integers, and
 * every rounding is an explicit half-away-from-zero step on an integer
 * remainder.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "money.h"

/* Longest text written: "-9223372036854.775808" plus NUL, with room. */
#define MONEY_TEXT_MAX 32

/* __extension__ keeps -pedantic builds quiet about the GCC/Clang type. */
__extension__ typedef __int128 money_wide;

/* 10^n for the 0..6 fraction digits we ever deal with. */
static const int64_t pow10_tab[MONEY_DECIMALS + 1] = {
	1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL
};

/*
 * n / d rounded half away from zero, d > 0.  C division truncates toward
 * zero and the remainder takes the sign of n, so comparing twice the
 * remainder's magnitude with d decides whether to step away from zero.
 */
static money_wide
div_round(money_wide n, money_wide d)
{
	money_wide q, r;

	q = n / d;
	r = n % d;
	if (r < 0)
		r = -r;
	if (2 * r >= d)
		q += n < 0 ? -1 : 1;
	return q;
}

/* Stores v if it is a representable amount; the one overflow rule for all. */
static int
store_checked(money_wide v, int64_t *out)
{
	if (out == NULL || v > MONEY_MAX_MICROS || v < -MONEY_MAX_MICROS)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* Copies text (n bytes) into buf, or empties buf and fails if too small. */
static int
copy_out(const char *text, size_t n, char *buf, size_t size)
{
	if (buf == NULL || size == 0)
		return -1;
	if (n >= size) {
		buf[0] = '\0';
		return -1;
	}
	memcpy(buf, text, n + 1);
	return (int)n;
}

int
money_parse(const char *text, size_t len, int max_decimals, int64_t *out)
{
	const int64_t max_units = MONEY_MAX_MICROS / MONEY_SCALE;
	int64_t units = 0, frac = 0;
	size_t i = 0, start;
	int neg = 0, ndec = 0;
	money_wide total;

	if (text == NULL || out == NULL || max_decimals < 0 ||
	    max_decimals > MONEY_DECIMALS)
		return -1;
	if (i < len && text[i] == '-') {
		neg = 1;
		i++;
	}

	/* Integer part: at least one digit.  Leading zeros may be many, so
	 * overflow is checked on the value, never on the digit count. */
	start = i;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		units = units * 10 + (text[i] - '0');
		if (units > max_units)
			return -1;
	}
	if (i == start)
		return -1;

	/* Optional fraction: '.' then at least one digit, never silently
	 * rounded: more than max_decimals digits is an error. */
	if (i < len && text[i] == '.') {
		i++;
		start = i;
		for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
			if (++ndec > max_decimals)
				return -1;
			frac = frac * 10 + (text[i] - '0');
		}
		if (i == start)
			return -1;
	}

	/* Anything left (sign, exponent, space, NUL, 'x', ...) is an error. */
	if (i != len)
		return -1;

	total = (money_wide)units * MONEY_SCALE +
	    (money_wide)frac * pow10_tab[MONEY_DECIMALS - ndec];
	if (neg)
		total = -total;
	return store_checked(total, out);
}

int
money_format(int64_t micros, int decimals, char *buf, size_t size)
{
	char tmp[MONEY_TEXT_MAX];
	uint64_t mag, step, rounded, units, frac;
	int n, neg;

	if (decimals < 0 || decimals > MONEY_DECIMALS)
		return -1;

	/* Work on the magnitude: |INT64_MIN| fits in uint64_t, and adding
	 * half a step (< 10^6) cannot wrap it. */
	mag = micros < 0 ? -(uint64_t)micros : (uint64_t)micros;
	step = (uint64_t)pow10_tab[MONEY_DECIMALS - decimals];
	rounded = (mag + step / 2) / step;
	units = rounded / (uint64_t)pow10_tab[decimals];
	frac = rounded % (uint64_t)pow10_tab[decimals];
	/* A value that rounds to zero has no sign: no "-0.00". */
	neg = micros < 0 && rounded != 0;

	/* digits by hand, right to left: snprintf's format parsing was a
	 * tenth of GET usage's instructions (bench/README.md) */
	{
		char *p = tmp + sizeof(tmp);
		int k;

		for (k = 0; k < decimals; k++) {
			*--p = (char)('0' + frac % 10);
			frac /= 10;
		}
		if (decimals > 0)
			*--p = '.';
		do {
			*--p = (char)('0' + units % 10);
			units /= 10;
		} while (units != 0);
		if (neg)
			*--p = '-';
		n = (int)(tmp + sizeof(tmp) - p);
		if ((size_t)n >= sizeof(tmp))
			return -1;
		memmove(tmp, p, (size_t)n);
		tmp[n] = '\0';
	}
	return copy_out(tmp, (size_t)n, buf, size);
}

int
money_format_trim(int64_t micros, int min_decimals, char *buf, size_t size)
{
	char tmp[MONEY_TEXT_MAX];
	char *dot;
	size_t n, ndec;
	int len;

	if (min_decimals < 0 || min_decimals > MONEY_DECIMALS)
		return -1;
	/* Six decimals is exact, so trimming zeros never changes the value. */
	if ((len = money_format(micros, MONEY_DECIMALS, tmp, sizeof(tmp))) < 0)
		return -1;
	n = (size_t)len;
	dot = strchr(tmp, '.');
	ndec = n - (size_t)(dot - tmp) - 1;
	while (ndec > (size_t)min_decimals && tmp[n - 1] == '0') {
		n--;
		ndec--;
	}
	if (ndec == 0)
		n--;		/* drop the bare '.' */
	tmp[n] = '\0';
	return copy_out(tmp, n, buf, size);
}

int64_t
money_round(int64_t micros, int decimals)
{
	money_wide step, r;

	if (decimals >= MONEY_DECIMALS)
		return micros;
	if (decimals < 0)
		decimals = 0;
	step = pow10_tab[MONEY_DECIMALS - decimals];
	r = div_round(micros, step) * step;
	/* Only reachable for inputs far beyond MONEY_MAX_MICROS: saturate
	 * rather than wrap, as the signature has no way to report it. */
	if (r > INT64_MAX)
		r = INT64_MAX;
	else if (r < INT64_MIN)
		r = INT64_MIN;
	return (int64_t)r;
}

int
money_mul(int64_t a_micros, int64_t b_micros, int64_t *out)
{
	/* |a * b| <= 2^126, which fits a signed 128-bit integer. */
	return store_checked(div_round((money_wide)a_micros * b_micros,
	    MONEY_SCALE), out);
}

int
money_muldiv(int64_t a_micros, int64_t num, int64_t den, int64_t *out)
{
	if (den <= 0)
		return -1;
	return store_checked(div_round((money_wide)a_micros * num, den), out);
}

int
money_prorate(int64_t a_micros, int64_t b_micros, int64_t num, int64_t den,
    int64_t *out)
{
	money_wide n, d;

	if (den <= 0)
		return -1;
	if (__builtin_mul_overflow((money_wide)a_micros, (money_wide)b_micros, &n) ||
	    __builtin_mul_overflow(n, (money_wide)num, &n) ||
	    __builtin_mul_overflow((money_wide)den, (money_wide)MONEY_SCALE, &d))
		return -1;
	return store_checked(div_round(n, d), out);
}

int
money_add(int64_t a, int64_t b, int64_t *out)
{
	return store_checked((money_wide)a + b, out);
}

int
money_currency_decimals(const char *currency)
{
	/* Stripe's zero-decimal and three-decimal currencies */
	static const char *const zero[] = { "bif", "clp", "djf", "gnf",
	    "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
	    "xaf", "xof", "xpf", NULL };
	static const char *const three[] = { "bhd", "jod", "kwd", "omr", "tnd",
	    NULL };
	size_t i;

	for (i = 0; zero[i] != NULL; i++)
		if (strcasecmp(currency, zero[i]) == 0)
			return 0;
	for (i = 0; three[i] != NULL; i++)
		if (strcasecmp(currency, three[i]) == 0)
			return 3;
	return 2;
}

int
money_amount_decimals(const char *currency)
{
	int d = money_currency_decimals(currency);

	return d < 2 ? d : 2;
}
