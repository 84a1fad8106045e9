/*
 * money: exact decimal amounts held as integer micro-units (1 unit = 1,000,000).
 *
 * Every amount, quantity and rate in billing travels as int64_t micro-units;
 * it is parsed from decimal text and formatted back to decimal text, never
 * through a binary floating point type.  Rounding is always explicit:
 * half away from zero ("half-up" for positive amounts).
 */
#ifndef BILLING_MONEY_H
#define BILLING_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define MONEY_SCALE 1000000LL /* micro-units per unit */
#define MONEY_DECIMALS 6

/* Largest magnitude accepted by money_parse: 10^12 units (1e18 micro-units). */
#define MONEY_MAX_MICROS 1000000000000000000LL

/*
 * Parses decimal text such as "12", "-0.5", "29.99", "1e2" is NOT accepted.
 * Grammar: optional '-', digits, optional '.' followed by at least one digit.
 * No leading '+', no exponent, no spaces, leading zeros allowed ("007.5").
 * More than max_decimals fraction digits (max_decimals <= 6) is an error,
 * not a silent rounding; so is a magnitude above MONEY_MAX_MICROS.
 * len is the text length (the text need not be NUL-terminated).
 * Returns 0 and stores micro-units in *out, or -1 on any error (*out untouched).
 */
int money_parse(const char *text, size_t len, int max_decimals, int64_t *out);

/*
 * Writes micros as decimal text with exactly `decimals` fraction digits
 * (0..6), rounding half away from zero when decimals < 6: 1405000 with 2
 * decimals is "1.41", -1405000 is "-1.41".  "-0.00" is never written: a value
 * that rounds to zero prints "0.00".  Returns the length written, or -1 if
 * buf (size bytes, NUL included) is too small.
 */
int money_format(int64_t micros, int decimals, char *buf, size_t size);

/*
 * Like money_format but trims trailing zeros of the fraction down to
 * min_decimals (e.g. 0.050000 -> "0.05" with min 2, 20.000000 -> "20" with 0).
 */
int money_format_trim(int64_t micros, int min_decimals, char *buf, size_t size);

/* Rounds micros to `decimals` fraction digits, half away from zero. */
int64_t money_round(int64_t micros, int decimals);

/*
 * The decimals of currency's minor unit as Stripe counts them: 0 for the
 * zero-decimal currencies (jpy, krw, ...), 3 for bhd, jod, kwd, omr, tnd,
 * else 2.  Case-insensitive; the one table of them.
 */
int money_currency_decimals(const char *currency);

/* The decimals amounts of currency are kept in (invoice lines, credits):
 * its minor unit's, at most 2 (our columns hold cents). */
int money_amount_decimals(const char *currency);

/*
 * Product of two micro-unit values, rounded half away from zero to
 * micro-units: money_mul(2000000 (2 units), 50000 (0.05)) = 100000 (0.10).
 * Uses 128-bit intermediates.  Returns 0, or -1 if the result overflows
 * MONEY_MAX_MICROS in magnitude.
 */
int money_mul(int64_t a_micros, int64_t b_micros, int64_t *out);

/*
 * a * num / den rounded half away from zero (den > 0), 128-bit intermediate:
 * used to prorate (e.g. seconds / 3600).  Returns 0, or -1 on overflow or den <= 0.
 */
int money_muldiv(int64_t a_micros, int64_t num, int64_t den, int64_t *out);

/*
 * a * b * num / den, all micro-units except num/den, rounded half away from
 * zero once, to micro-units: the cost of `a` (e.g. 2 cores) at rate `b` (per
 * hour) for num/den of the rate's unit (e.g. seconds/3600).  Returns 0, or -1
 * on overflow or den <= 0.
 */
int money_prorate(int64_t a_micros, int64_t b_micros, int64_t num, int64_t den,
    int64_t *out);

/* Overflow-checked addition; returns 0 or -1. */
int money_add(int64_t a, int64_t b, int64_t *out);

#endif
