/*
 * What fuzz_signature and fuzz_signature_sign share: the secrets, the clock
 * and an independent verifier of Stripe-Signature headers written from the
 * contract in src/core/signature.h and src/core/signature.c's header comment:
 *
 *   comma-separated key=value items without blanks, at most 1024 bytes;
 *   keys of 1 to 16 characters of [A-Za-z0-9_-]; exactly one t of 1 to 20
 *   decimal digits that fits int64_t; one or more v1 of exactly 64
 *   lowercase hex digits; any other key is skipped whatever its value;
 *   anything else refuses the whole header.  Valid when one v1 equals
 *   HMAC-SHA256(secret, "<t>.<body>") for one non-empty secret and
 *   |now - t| <= tolerance.
 *
 * The MAC here is OpenSSL's one-shot HMAC(), not the EVP_MAC stream of
 * src/core/signature.c.
 */
#ifndef FUZZ_SIGNATURE_COMMON_H
#define FUZZ_SIGNATURE_COMMON_H

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_common.h"
#include "signature.h"

#define FS_NOW INT64_C(1700000000)
#define FS_TOL 300
#define FS_SECRET_A "whsec_test_secret_a_0123456789abcdef"
#define FS_SECRET_B "whsec_test_secret_b_fedcba9876543210"

/* hex of HMAC-SHA256(secret, "<t>.<body>") into hex (65 bytes) */
static inline void
fs_mac_hex(const char *secret, int64_t t, const char *body, size_t len,
    char hex[65])
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
	unsigned char *msg = malloc((size_t)n + len + 1);

	if (msg == NULL)
		abort();
	memcpy(msg, prefix, (size_t)n);
	if (len > 0)
		memcpy(msg + n, body, len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, (size_t)n + len,
	    mac, &maclen) == NULL || maclen != 32)
		abort();
	free(msg);
	fuzz_hex(mac, 32, hex);
}

static inline int
fs_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* 0 when valid, -1 otherwise (the reference decision). */
static inline int
fs_ref_verify(const char *header, const char *const *secrets, size_t nsecrets,
    const char *body, size_t len, int64_t now, int64_t tol)
{
	char v1[32][65], want[65];
	size_t hlen, nv1 = 0, i, j, k, usable = 0;
	int64_t t = 0;
	int has_t = 0, match = 0;
	const char *item, *end;

	if (header == NULL || (hlen = strlen(header)) == 0 ||
	    hlen > SIGNATURE_HEADER_MAX)
		return -1;
	end = header + hlen;
	for (item = header; item <= end;) {
		const char *comma = memchr(item, ',', (size_t)(end - item));
		const char *stop = comma ? comma : end, *eq;
		size_t klen, vlen;

		eq = memchr(item, '=', (size_t)(stop - item));
		if (eq == NULL)
			return -1;
		klen = (size_t)(eq - item);
		vlen = (size_t)(stop - eq - 1);
		if (klen < 1 || klen > 16)
			return -1;
		for (k = 0; k < klen; k++)
			if (!fs_key_char(item[k]))
				return -1;
		if (klen == 1 && item[0] == 't') {
			if (has_t || vlen < 1 || vlen > 20)
				return -1;
			for (k = 0; k < vlen; k++) {
				int d = eq[1 + k] - '0';

				if (d < 0 || d > 9 || t > (INT64_MAX - d) / 10)
					return -1;
				t = t * 10 + d;
			}
			has_t = 1;
		} else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
			if (vlen != 64 || nv1 == 32)
				return -1;
			for (k = 0; k < 64; k++)
				if (!((eq[1 + k] >= '0' && eq[1 + k] <= '9') ||
				    (eq[1 + k] >= 'a' && eq[1 + k] <= 'f')))
					return -1;
			memcpy(v1[nv1], eq + 1, 64);
			v1[nv1++][64] = '\0';
		}
		if (comma == NULL)
			break;
		item = comma + 1;
	}
	if (!has_t || nv1 == 0)
		return -1;
	for (i = 0; i < nsecrets; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		usable++;
		fs_mac_hex(secrets[i], t, body, len, want);
		for (j = 0; j < nv1; j++)
			match |= strcmp(want, v1[j]) == 0;
	}
	if (usable == 0 || !match || tol < 0)
		return -1;
	if ((t > now ? (uint64_t)t - (uint64_t)now : (uint64_t)now - (uint64_t)t) >
	    (uint64_t)tol)
		return -1;
	return 0;
}

#endif
