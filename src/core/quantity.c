/*
 * quantity: Kubernetes quantities to micro-units, exactly (quantity.h).
 *
 * value = mantissa / 10^decimals * num / den, where num/den is the suffix's
 * factor in the kind's unit (1/1000 for "m", 2^30/2^30 for "Gi",
 * 10^9/2^30 for "G"); micro-units = mantissa * 10^6 * num /
 * (10^decimals * den), rounded half-up.  The mantissa has at most 18 digits
 * (< 2^60), 10^6 < 2^20 and num <= 10^15 < 2^50, so the numerator could pass
 * 2^128: each multiplication is checked before it is made, and a value that
 * large is out of every range anyway.
 */
#include <string.h>

#include "quantity.h"

__extension__ typedef unsigned __int128 quantity_wide;

#define GIB (UINT64_C(1) << 30)
#define MICROS UINT64_C(1000000)

struct suffix {
	const char *text;
	enum quantity_kind kind;
	uint64_t num;
	uint64_t den;
};

static const struct suffix suffixes[] = {
	{ "m", QUANTITY_CORES, 1, 1000 },
	{ "Ki", QUANTITY_GIB, UINT64_C(1) << 10, GIB },
	{ "Mi", QUANTITY_GIB, UINT64_C(1) << 20, GIB },
	{ "Gi", QUANTITY_GIB, UINT64_C(1) << 30, GIB },
	{ "Ti", QUANTITY_GIB, UINT64_C(1) << 40, GIB },
	{ "Pi", QUANTITY_GIB, UINT64_C(1) << 50, GIB },
	{ "k", QUANTITY_GIB, UINT64_C(1000), GIB },
	{ "M", QUANTITY_GIB, UINT64_C(1000000), GIB },
	{ "G", QUANTITY_GIB, UINT64_C(1000000000), GIB },
	{ "T", QUANTITY_GIB, UINT64_C(1000000000000), GIB },
	{ "P", QUANTITY_GIB, UINT64_C(1000000000000000), GIB },
};

/* The suffix s (len bytes, len > 0) for kind, or NULL. */
static const struct suffix *
find_suffix(const char *s, size_t len, enum quantity_kind kind)
{
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (suffixes[i].kind == kind &&
		    strlen(suffixes[i].text) == len &&
		    memcmp(suffixes[i].text, s, len) == 0)
			return &suffixes[i];
	return NULL;
}

/* *a *= b unless that leaves the 128-bit range.  0 or -1. */
static int
wide_mul(quantity_wide *a, uint64_t b)
{
	quantity_wide max = ~(quantity_wide)0;

	if (b != 0 && *a > max / b)
		return -1;
	*a *= b;
	return 0;
}

int
quantity_parse(const char *text, size_t len, enum quantity_kind kind,
    int64_t max_micros, int64_t *out)
{
	const struct suffix *sfx = NULL;
	quantity_wide num, den, q, r;
	uint64_t mantissa = 0;
	size_t i = 0, digits = 0, decimals = 0;
	int in_fraction = 0;

	if (text == NULL || max_micros < 0)
		return -1;
	for (; i < len; i++) {
		if (text[i] >= '0' && text[i] <= '9') {
			if (++digits > QUANTITY_MAX_DIGITS)
				return -1;
			mantissa = mantissa * 10 + (uint64_t)(text[i] - '0');
			decimals += in_fraction;
		} else if (text[i] == '.' && !in_fraction && digits > 0) {
			in_fraction = 1;
		} else {
			break;
		}
	}
	/* digits before any '.', and at least one after it */
	if (digits == 0 || (in_fraction && decimals == 0))
		return -1;
	if (i < len) {
		sfx = find_suffix(text + i, len - i, kind);
		if (sfx == NULL)
			return -1;
	} else if (decimals > 6) {
		return -1; /* a plain number is taken as written, not rounded */
	}
	num = mantissa;
	den = 1;
	if (wide_mul(&num, MICROS) != 0 ||
	    (sfx != NULL && wide_mul(&num, sfx->num) != 0))
		return -1;
	while (decimals-- > 0)
		den *= 10; /* <= 10^18 */
	if (sfx != NULL)
		den *= sfx->den; /* <= 10^18 * 2^30 < 2^90 */
	q = num / den;
	r = num % den;
	if (r >= den - r)
		q++; /* half-up: r >= den / 2, exactly */
	if (q > (quantity_wide)max_micros)
		return -1;
	*out = (int64_t)q;
	return 0;
}
