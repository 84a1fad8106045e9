/*
 * quantity: Kubernetes resource quantities ("1500m", "4Gi", "4G") read
 * exactly into billing's micro-units (1 unit = 1,000,000).
 *
 * Cores: a plain decimal ("2", "0.5") or millicores ("1500m" = 1.5).
 * Bytes: the billing GB is the GiB (2^30 bytes).  Binary suffixes Ki, Mi,
 * Gi, Ti, Pi (2^10 .. 2^50) and decimal suffixes k, M, G, T, P (10^3 ..
 * 10^15) give bytes, converted to GiB; a plain decimal with no suffix is
 * already GB (GiB), as hooks' JSON numbers always were: "4" is 4 GB, and
 * "4000000000" is four billion GB (out of range), not bytes.
 *
 * Grammar: digits, optional '.' and at least one digit, optional suffix; at
 * most QUANTITY_MAX_DIGITS digits in all.  No sign, exponent, spaces, or
 * leading '.'.  A plain number (no suffix) may have at most 6 decimals (it
 * is taken as written, never rounded); a suffixed one is converted exactly
 * and rounded once, half-up, at the 6th decimal: "4G" = 3.725290 GiB.
 * Everything is integer arithmetic (128-bit intermediates), no floating
 * point.
 */
#ifndef BILLING_QUANTITY_H
#define BILLING_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

#define QUANTITY_MAX_DIGITS 18

enum quantity_kind {
	QUANTITY_CORES, /* no suffix or "m" */
	QUANTITY_GIB    /* no suffix (GiB), Ki..Pi, k..P (bytes) */
};

/*
 * Parses len bytes of text (not necessarily NUL-terminated) as a quantity of
 * kind, into micro-units of cores or GiB, which must not exceed max_micros.
 * Returns 0 and sets *out, or -1 (malformed, unknown suffix, too many
 * decimals, above max_micros) with *out untouched.
 */
int quantity_parse(const char *text, size_t len, enum quantity_kind kind,
    int64_t max_micros, int64_t *out);

#endif
