/*
 * check_signature: Stripe-Signature headers, made and checked, against MACs
 * computed outside src/core/signature.c so the tests cannot share a bug with it.
 *
 * Every MAC below was computed with the openssl command line and checked
 * again with Python's hmac module, e.g.:
 *
 *   printf '%s.%s' 1700000000 "$BODY" |
 *       openssl dgst -sha256 -hmac whsec_test_secret_a_0123456789abcdef -r
 *   printf '%s.%s' 1700000000 "$BODY" | python3 -c 'import hmac, hashlib, sys;
 *       print(hmac.new(b"whsec_test_secret_a_0123456789abcdef",
 *       sys.stdin.buffer.read(), hashlib.sha256).hexdigest())'
 *
 * (for the body with a NUL byte: printf '1700000000.a\0b' | ...).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "signature.h"

#define T0 INT64_C(1700000000)
#define T0S "1700000000"
#define TOL SIGNATURE_TOLERANCE_SEC

static const char SECRET_A[] = "whsec_test_secret_a_0123456789abcdef";
static const char SECRET_B[] = "whsec_test_secret_b_fedcba9876543210";
static const char SECRET_C[] = "whsec_unrelated_secret";

static const char BODY[] =
    "{\"id\":\"evt_test_1\",\"object\":\"event\",\"type\":\"invoice.paid\","
    "\"created\":1700000000,\"data\":{\"object\":{\"id\":\"in_1\","
    "\"amount_paid\":1999}}}";

/* HMAC-SHA256(SECRET_A, "1700000000." BODY) */
#define MAC_A "d42ad39b4002f8416e04b6e53a6588393fdf3964121db7daef2414f83c267b17"
/* HMAC-SHA256(SECRET_B, "1700000000." BODY) */
#define MAC_B "44ab11832da9d816c370506d177a95ac7a36bb2262c0473714629fd66fa85268"
/* HMAC-SHA256(SECRET_A, "1700000000.") : the empty body */
#define MAC_A_EMPTY \
	"1865d6e5f41639abcc3106dacb06b584da13bbabe7b83fca1e4275447c54e186"
/* HMAC-SHA256(SECRET_A, "1700000000.a\0b") : 3 bytes with a NUL */
#define MAC_A_NUL \
	"d074062bdc30434ade3f9997770c4a84420142c6c7df5374c5141e0e6103e1c8"
#define MAC_A_UPPER \
	"D42AD39B4002F8416E04B6E53A6588393FDF3964121DB7DAEF2414F83C267B17"
#define ZEROS \
	"0000000000000000000000000000000000000000000000000000000000000000"

static const char *const ONLY_A[] = { SECRET_A };
static const char *const A_AND_B[] = { SECRET_A, SECRET_B };
static const char *const B_AND_A[] = { SECRET_B, SECRET_A };

/* Verifies header against BODY with secrets at now; returns the result and
 * checks that a refusal always says why. */
static int
verify_body(const char *header, const char *const *secrets, size_t n,
    const char *body, size_t len, int64_t now)
{
	const char *why = NULL;
	int rc;

	rc = signature_verify(header, secrets, n, body, len, now, TOL, &why);
	if (rc == 0)
		ck_assert_ptr_null(why);
	else {
		ck_assert_int_eq(rc, -1);
		ck_assert_ptr_nonnull(why);
		ck_assert_int_gt((int)strlen(why), 0);
	}
	return rc;
}

static int
verify(const char *header, const char *const *secrets, size_t n, int64_t now)
{
	return verify_body(header, secrets, n, BODY, strlen(BODY), now);
}

/* -- valid ---------------------------------------------------------------- */

START_TEST(test_accepts_valid_signature)
{
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1, T0), 0);
}
END_TEST

START_TEST(test_accepts_at_both_edges_of_tolerance)
{
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1, T0 + TOL), 0);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1, T0 - TOL), 0);
}
END_TEST

START_TEST(test_accepts_empty_body)
{
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A_EMPTY, ONLY_A, 1,
	    "", 0, T0), 0);
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A_EMPTY, ONLY_A, 1,
	    NULL, 0, T0), 0);
}
END_TEST

START_TEST(test_accepts_body_with_nul_byte)
{
	static const char body[] = { 'a', '\0', 'b' };

	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A_NUL, ONLY_A, 1,
	    body, sizeof(body), T0), 0);
	/* the NUL is part of the body: stopping at it must not match */
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A_NUL, ONLY_A, 1,
	    body, 1, T0), -1);
}
END_TEST

START_TEST(test_ignores_v0_and_unknown_schemes)
{
	ck_assert_int_eq(verify("t=" T0S ",v0=" ZEROS ",v1=" MAC_A
	    ",v9=anything,x_y=", ONLY_A, 1, T0), 0);
	/* v0 holding the right MAC does not count */
	ck_assert_int_eq(verify("t=" T0S ",v0=" MAC_A, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_accepts_items_in_any_order)
{
	ck_assert_int_eq(verify("v1=" MAC_A ",t=" T0S, ONLY_A, 1, T0), 0);
}
END_TEST

/* -- rotation ------------------------------------------------------------- */

START_TEST(test_accepts_second_secret)
{
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_B, A_AND_B, 2, T0), 0);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, A_AND_B, 2, T0), 0);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, B_AND_A, 2, T0), 0);
	/* not configured: refused */
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_B, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_accepts_second_v1)
{
	ck_assert_int_eq(verify("t=" T0S ",v1=" ZEROS ",v1=" MAC_A, ONLY_A, 1,
	    T0), 0);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A ",v1=" ZEROS, ONLY_A, 1,
	    T0), 0);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A ",v1=" MAC_B, B_AND_A, 2,
	    T0), 0);
}
END_TEST

START_TEST(test_skips_empty_secret_in_list)
{
	static const char *const secrets[] = { NULL, "", SECRET_A };

	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, secrets, 3, T0), 0);
}
END_TEST

START_TEST(test_refuses_without_secrets)
{
	static const char *const none[] = { NULL, "" };

	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 0, T0), -1);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, none, 2, T0), -1);
}
END_TEST

/* -- time ----------------------------------------------------------------- */

START_TEST(test_refuses_stale_timestamp)
{
	/* t = now - 301 */
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    T0 + TOL + 1), -1);
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    T0 + 86400), -1);
}
END_TEST

START_TEST(test_refuses_future_timestamp)
{
	/* t = now + 301 */
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    T0 - TOL - 1), -1);
}
END_TEST

START_TEST(test_tolerance_is_a_parameter)
{
	const char *why;

	ck_assert_int_eq(signature_verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    BODY, strlen(BODY), T0 + 10, 10, &why), 0);
	ck_assert_int_eq(signature_verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    BODY, strlen(BODY), T0 + 11, 10, &why), -1);
	ck_assert_int_eq(signature_verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    BODY, strlen(BODY), T0, -1, &why), -1);
}
END_TEST

START_TEST(test_refuses_other_timestamp_than_signed)
{
	/* the MAC covers t: moving t (and the clock) breaks it */
	ck_assert_int_eq(verify("t=1700000001,v1=" MAC_A, ONLY_A, 1,
	    T0 + 1), -1);
}
END_TEST

START_TEST(test_huge_timestamp_does_not_overflow)
{
	ck_assert_int_eq(verify("t=9223372036854775807,v1=" MAC_A, ONLY_A, 1,
	    T0), -1);
	ck_assert_int_eq(verify("t=0,v1=" MAC_A, ONLY_A, 1, INT64_MAX), -1);
}
END_TEST

/* -- tampering and forgery ------------------------------------------------ */

START_TEST(test_refuses_every_single_byte_change)
{
	char body[sizeof(BODY)];
	size_t len = strlen(BODY), i;
	int v;

	memcpy(body, BODY, sizeof(BODY));
	for (i = 0; i < len; i++) {
		for (v = 0; v < 256; v++) {
			if (v == (unsigned char)BODY[i])
				continue;
			body[i] = (char)v;
			ck_assert_msg(signature_verify("t=" T0S ",v1=" MAC_A,
			    ONLY_A, 1, body, len, T0, TOL, NULL) == -1,
			    "byte %zu changed to 0x%02x was accepted", i, v);
		}
		body[i] = BODY[i];
	}
	/* untouched again: still valid */
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A, ONLY_A, 1, body,
	    len, T0), 0);
}
END_TEST

START_TEST(test_refuses_truncated_or_extended_body)
{
	char body[sizeof(BODY) + 1];

	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A, ONLY_A, 1, BODY,
	    strlen(BODY) - 1, T0), -1);
	memcpy(body, BODY, sizeof(BODY));
	body[sizeof(BODY) - 1] = ' ';
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A, ONLY_A, 1, body,
	    sizeof(BODY), T0), -1);
	ck_assert_int_eq(verify_body("t=" T0S ",v1=" MAC_A, ONLY_A, 1, BODY,
	    0, T0), -1);
}
END_TEST

START_TEST(test_refuses_forged_signature)
{
	static const char *const other[] = { SECRET_C };

	ck_assert_int_eq(verify("t=" T0S ",v1=" ZEROS, ONLY_A, 1, T0), -1);
	/* a genuine MAC of another body */
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A_EMPTY, ONLY_A, 1, T0),
	    -1);
	/* the right MAC, but we do not hold its secret */
	ck_assert_int_eq(verify("t=" T0S ",v1=" MAC_A, other, 1, T0), -1);
}
END_TEST

START_TEST(test_refuses_every_single_hex_digit_change)
{
	char header[] = "t=" T0S ",v1=" MAC_A;
	size_t off = strlen("t=" T0S ",v1="), i;
	const char *digits = "0123456789abcdef";
	char orig;
	int d;

	for (i = off; header[i] != '\0'; i++) {
		orig = header[i];
		for (d = 0; d < 16; d++) {
			if (digits[d] == orig)
				continue;
			header[i] = digits[d];
			ck_assert_msg(verify(header, ONLY_A, 1, T0) == -1,
			    "digit %zu changed was accepted", i - off);
		}
		header[i] = orig;
	}
	ck_assert_int_eq(verify(header, ONLY_A, 1, T0), 0);
}
END_TEST

/* -- malformed headers ---------------------------------------------------- */

START_TEST(test_refuses_missing_header)
{
	ck_assert_int_eq(verify(NULL, ONLY_A, 1, T0), -1);
	ck_assert_int_eq(verify("", ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_refuses_missing_timestamp)
{
	ck_assert_int_eq(verify("v1=" MAC_A, ONLY_A, 1, T0), -1);
	ck_assert_int_eq(verify("t=,v1=" MAC_A, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_refuses_missing_v1)
{
	ck_assert_int_eq(verify("t=" T0S, ONLY_A, 1, T0), -1);
	ck_assert_int_eq(verify("t=" T0S ",v1=", ONLY_A, 1, T0), -1);
	ck_assert_int_eq(verify("t=" T0S ",v2=" MAC_A, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_refuses_malformed_timestamp)
{
	static const char *const bad[] = {
		"t=abc,v1=" MAC_A,
		"t=-1700000000,v1=" MAC_A,
		"t=+1700000000,v1=" MAC_A,
		"t=1700000000.0,v1=" MAC_A,
		"t= 1700000000,v1=" MAC_A,
		"t=1700000000 ,v1=" MAC_A,
		"t=0x6553f100,v1=" MAC_A,
		"t=1e9,v1=" MAC_A,
		/* 21 digits, and 20 digits beyond int64_t */
		"t=000000000001700000000,v1=" MAC_A,
		"t=99999999999999999999,v1=" MAC_A,
		"t=9223372036854775808,v1=" MAC_A,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(verify(bad[i], ONLY_A, 1, T0) == -1,
		    "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_accepts_twenty_digit_timestamp)
{
	/* leading zeros keep the value (Stripe's libraries sign the number) */
	ck_assert_int_eq(verify("t=00000000001700000000,v1=" MAC_A, ONLY_A, 1,
	    T0), 0);
}
END_TEST

START_TEST(test_refuses_duplicate_timestamp)
{
	ck_assert_int_eq(verify("t=" T0S ",t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    T0), -1);
	ck_assert_int_eq(verify("t=1,v1=" MAC_A ",t=" T0S, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_refuses_malformed_hex)
{
	static const char *const bad[] = {
		/* Stripe writes lowercase: uppercase is refused */
		"t=" T0S ",v1=" MAC_A_UPPER,
		/* 63 and 65 digits */
		"t=" T0S ",v1="
		"d42ad39b4002f8416e04b6e53a6588393fdf3964121db7daef2414f83c267b1",
		"t=" T0S ",v1=" MAC_A "7",
		"t=" T0S ",v1="
		"g42ad39b4002f8416e04b6e53a6588393fdf3964121db7daef2414f83c267b17",
		"t=" T0S ",v1= " MAC_A,
		/* a malformed v1 spoils the header even beside a good one */
		"t=" T0S ",v1=xyz,v1=" MAC_A,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(verify(bad[i], ONLY_A, 1, T0) == -1,
		    "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_refuses_malformed_items)
{
	static const char *const bad[] = {
		"t=" T0S ",,v1=" MAC_A,
		"t=" T0S ",v1=" MAC_A ",",
		",t=" T0S ",v1=" MAC_A,
		"t=" T0S ", v1=" MAC_A,
		"t=" T0S ";v1=" MAC_A,
		"t=" T0S ",v1" MAC_A,
		"t=" T0S ",=" MAC_A ",v1=" MAC_A,
		"t=" T0S ",v1=" MAC_A ",garbage",
		"t=" T0S ",v1=" MAC_A ",averyveryverylongscheme=1",
		"T=" T0S ",v1=" MAC_A,
		"t=" T0S ",V1=" MAC_A,
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(verify(bad[i], ONLY_A, 1, T0) == -1,
		    "accepted: %s", bad[i]);
}
END_TEST

START_TEST(test_header_length_limit)
{
	char header[SIGNATURE_HEADER_MAX + 2];
	size_t n;

	/* a valid header padded with an ignored scheme to exactly the limit */
	n = (size_t)snprintf(header, sizeof(header), "t=%s,v1=%s,v0=", T0S,
	    MAC_A);
	memset(header + n, 'a', SIGNATURE_HEADER_MAX - n);
	header[SIGNATURE_HEADER_MAX] = '\0';
	ck_assert_int_eq(verify(header, ONLY_A, 1, T0), 0);
	/* one byte more */
	header[SIGNATURE_HEADER_MAX] = 'a';
	header[SIGNATURE_HEADER_MAX + 1] = '\0';
	ck_assert_int_eq(verify(header, ONLY_A, 1, T0), -1);
}
END_TEST

START_TEST(test_many_v1_within_limit)
{
	char header[SIGNATURE_HEADER_MAX + 1];
	size_t n;
	int i;

	/* 13 wrong signatures, then the right one: 964 bytes (with 14
	 * wrong ones the header would be over the limit) */
	n = (size_t)snprintf(header, sizeof(header), "t=%s", T0S);
	for (i = 0; i < 13; i++)
		n += (size_t)snprintf(header + n, sizeof(header) - n, ",v1=%s",
		    ZEROS);
	n += (size_t)snprintf(header + n, sizeof(header) - n, ",v1=%s", MAC_A);
	ck_assert_uint_le(n, SIGNATURE_HEADER_MAX);
	ck_assert_int_eq(verify(header, ONLY_A, 1, T0), 0);
}
END_TEST

START_TEST(test_why_may_be_null)
{
	ck_assert_int_eq(signature_verify("t=" T0S ",v1=" ZEROS, ONLY_A, 1,
	    BODY, strlen(BODY), T0, TOL, NULL), -1);
	ck_assert_int_eq(signature_verify("t=" T0S ",v1=" MAC_A, ONLY_A, 1,
	    BODY, strlen(BODY), T0, TOL, NULL), 0);
}
END_TEST

/* -- signing -------------------------------------------------------------- */

START_TEST(test_header_matches_independent_vector)
{
	char out[SIGNATURE_HEADER_MAX];

	ck_assert_int_eq(signature_header(SECRET_A, T0, BODY, strlen(BODY),
	    out, sizeof(out)), 0);
	ck_assert_str_eq(out, "t=" T0S ",v1=" MAC_A);
	ck_assert_int_eq(signature_header(SECRET_B, T0, BODY, strlen(BODY),
	    out, sizeof(out)), 0);
	ck_assert_str_eq(out, "t=" T0S ",v1=" MAC_B);
	ck_assert_int_eq(signature_header(SECRET_A, T0, "", 0, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "t=" T0S ",v1=" MAC_A_EMPTY);
}
END_TEST

START_TEST(test_header_round_trip)
{
	char out[SIGNATURE_HEADER_MAX];
	static const char body[] = "{\"hello\":\"world\"}";
	int64_t t;

	for (t = 0; t <= INT64_C(4102444800); t += INT64_C(410244480)) {
		ck_assert_int_eq(signature_header(SECRET_B, t, body,
		    strlen(body), out, sizeof(out)), 0);
		ck_assert_int_eq(verify_body(out, A_AND_B, 2, body,
		    strlen(body), t), 0);
		ck_assert_int_eq(verify_body(out, ONLY_A, 1, body,
		    strlen(body), t), -1);
		ck_assert_int_eq(verify_body(out, A_AND_B, 2, body,
		    strlen(body), t + TOL + 1), -1);
	}
}
END_TEST

START_TEST(test_header_does_not_fit)
{
	char out[sizeof("t=" T0S ",v1=" MAC_A)];

	ck_assert_int_eq(signature_header(SECRET_A, T0, BODY, strlen(BODY),
	    out, sizeof(out)), 0);
	ck_assert_str_eq(out, "t=" T0S ",v1=" MAC_A);
	ck_assert_int_eq(signature_header(SECRET_A, T0, BODY, strlen(BODY),
	    out, sizeof(out) - 1), -1);
	ck_assert_int_eq(signature_header(SECRET_A, -1, BODY, strlen(BODY),
	    out, sizeof(out)), -1);
}
END_TEST

/* --- StreamSpace: the hex HMAC of the bare body ------------------------ */

#define FOX "The quick brown fox jumps over the lazy dog"
/* RFC 4231-style vector, independently known: HMAC-SHA256("key", FOX) */
#define FOX_MAC \
	"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"

START_TEST(test_hex_accepts_known_vector_and_rotation)
{
	const char *one[] = { "key" };
	const char *two[] = { "old", "key" };
	const char *why = "x";

	ck_assert_int_eq(signature_verify_hex(FOX_MAC, one, 1, FOX,
	    strlen(FOX), &why), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(signature_verify_hex(FOX_MAC, two, 2, FOX,
	    strlen(FOX), NULL), 0);
}
END_TEST

START_TEST(test_hex_refuses_forgeries)
{
	const char *one[] = { "key" };
	const char *other[] = { "not-key" };
	char mac[] = FOX_MAC;
	const char *why = NULL;
	size_t i;

	ck_assert_int_eq(signature_verify_hex(FOX_MAC, other, 1, FOX,
	    strlen(FOX), &why), -1);
	ck_assert_str_eq(why, "no signature matches");
	ck_assert_int_eq(signature_verify_hex(FOX_MAC, one, 1, FOX,
	    strlen(FOX) - 1, NULL), -1);
	for (i = 0; i < strlen(mac); i++) {
		char c = mac[i];

		mac[i] = c == '0' ? '1' : '0';
		ck_assert_int_eq(signature_verify_hex(mac, one, 1, FOX,
		    strlen(FOX), NULL), -1);
		mac[i] = c;
	}
	/* uppercase, short, long, prefixed, missing */
	ck_assert_int_eq(signature_verify_hex(
	    "F7BC83F430538424B13298E6AA6FB143EF4D59A14946175997479DBC2D1A3CD8",
	    one, 1, FOX, strlen(FOX), NULL), -1);
	ck_assert_int_eq(signature_verify_hex(FOX_MAC "0", one, 1, FOX,
	    strlen(FOX), NULL), -1);
	ck_assert_int_eq(signature_verify_hex("f7bc", one, 1, FOX,
	    strlen(FOX), NULL), -1);
	ck_assert_int_eq(signature_verify_hex("sha256=" FOX_MAC, one, 1, FOX,
	    strlen(FOX), NULL), -1);
	ck_assert_int_eq(signature_verify_hex(NULL, one, 1, FOX, strlen(FOX),
	    &why), -1);
	ck_assert_str_eq(why, "missing signature header");
	ck_assert_int_eq(signature_verify_hex(FOX_MAC, NULL, 0, FOX,
	    strlen(FOX), &why), -1);
	ck_assert_str_eq(why, "no webhook secret configured");
}
END_TEST

START_TEST(test_sha256_hex)
{
	char out[SIGNATURE_SHA256_HEX];

	ck_assert_int_eq(signature_sha256_hex("", 0, out), 0);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(signature_sha256_hex("abc", 3, out), 0);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

static Suite *
signature_suite(void)
{
	Suite *s = suite_create("signature");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_test(tc, test_accepts_valid_signature);
	tcase_add_test(tc, test_accepts_at_both_edges_of_tolerance);
	tcase_add_test(tc, test_accepts_empty_body);
	tcase_add_test(tc, test_accepts_body_with_nul_byte);
	tcase_add_test(tc, test_ignores_v0_and_unknown_schemes);
	tcase_add_test(tc, test_accepts_items_in_any_order);
	tcase_add_test(tc, test_accepts_twenty_digit_timestamp);
	tcase_add_test(tc, test_why_may_be_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("rotation");
	tcase_add_test(tc, test_accepts_second_secret);
	tcase_add_test(tc, test_accepts_second_v1);
	tcase_add_test(tc, test_skips_empty_secret_in_list);
	tcase_add_test(tc, test_refuses_without_secrets);
	tcase_add_test(tc, test_many_v1_within_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("time");
	tcase_add_test(tc, test_refuses_stale_timestamp);
	tcase_add_test(tc, test_refuses_future_timestamp);
	tcase_add_test(tc, test_tolerance_is_a_parameter);
	tcase_add_test(tc, test_refuses_other_timestamp_than_signed);
	tcase_add_test(tc, test_huge_timestamp_does_not_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("tampering");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_refuses_every_single_byte_change);
	tcase_add_test(tc, test_refuses_truncated_or_extended_body);
	tcase_add_test(tc, test_refuses_forged_signature);
	tcase_add_test(tc, test_refuses_every_single_hex_digit_change);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_test(tc, test_refuses_missing_header);
	tcase_add_test(tc, test_refuses_missing_timestamp);
	tcase_add_test(tc, test_refuses_missing_v1);
	tcase_add_test(tc, test_refuses_malformed_timestamp);
	tcase_add_test(tc, test_refuses_duplicate_timestamp);
	tcase_add_test(tc, test_refuses_malformed_hex);
	tcase_add_test(tc, test_refuses_malformed_items);
	tcase_add_test(tc, test_header_length_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("streamspace");
	tcase_add_test(tc, test_hex_accepts_known_vector_and_rotation);
	tcase_add_test(tc, test_hex_refuses_forgeries);
	tcase_add_test(tc, test_sha256_hex);
	suite_add_tcase(s, tc);

	tc = tcase_create("signing");
	tcase_add_test(tc, test_header_matches_independent_vector);
	tcase_add_test(tc, test_header_round_trip);
	tcase_add_test(tc, test_header_does_not_fit);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr;
	int failures;

	sr = srunner_create(signature_suite());
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
