/*
 * signature: Stripe-style request signatures (see signature.h).
 *
 * The MAC is HMAC-SHA256 keyed with the whole secret string over
 * "<t>.<raw body>", streamed through EVP_MAC so the body is never copied.
 * The header is parsed strictly: comma-separated "key=value" items without
 * blanks; exactly one t of 1 to 20 decimal digits that fits int64_t; one or
 * more v1 of exactly 64 lowercase hex digits; any other scheme (v0, ...) is
 * skipped whatever its value.  Anything else refuses the whole header.
 *
 * Nothing here logs: the caller logs *why, which never holds a secret or a
 * signature.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "signature.h"

#define MAC_LEN 32                  /* SHA-256 */
#define HEX_LEN (2 * MAC_LEN)
#define T_DIGITS_MAX 20
#define SCHEME_MAX 16
/* every v1 item takes at least 68 bytes ("v1=" + 64 + ","), so a header
 * within SIGNATURE_HEADER_MAX holds fewer than this */
#define MAX_V1 (SIGNATURE_HEADER_MAX / (3 + HEX_LEN) + 1)

struct sig_header {
	int64_t t;
	int has_t;
	unsigned char v1[MAX_V1][MAC_LEN];
	size_t nv1;
};

/*
 * mac = HMAC-SHA256(secret, "<prefix><body>"), the prefix of plen bytes
 * (none when 0).  The secret, prefix and body are borrowed.  0 or -1.
 * The one HMAC of this file: Stripe's "<t>." prefix and StreamSpace's bare
 * body go through it.
 */
static int
hmac_sha256(const char *secret, const char *prefix, size_t plen,
    const char *body, size_t len, unsigned char mac[MAC_LEN])
{
	EVP_MAC *alg = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outlen = 0;
	int rc = -1;

	if ((alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(alg)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret),
	    params) != 1 ||
	    (plen > 0 && EVP_MAC_update(ctx, (const unsigned char *)prefix,
	    plen) != 1) ||
	    (len > 0 && EVP_MAC_update(ctx, (const unsigned char *)body,
	    len) != 1) ||
	    EVP_MAC_final(ctx, mac, &outlen, MAC_LEN) != 1 ||
	    outlen != MAC_LEN)
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(alg);
	return rc;
}

/* mac = HMAC-SHA256(secret, "<t>.<body>").  0 or -1. */
static int
compute_mac(const char *secret, int64_t t, const char *body, size_t len,
    unsigned char mac[MAC_LEN])
{
	char prefix[T_DIGITS_MAX + 2];
	int n;

	n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", t);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return -1;
	return hmac_sha256(secret, prefix, (size_t)n, body, len, mac);
}

/*
 * Whether any of the candidate MACs (cands, ncands) is the HMAC of
 * prefix + body under any of the secrets.  Every candidate against every
 * secret, with no early exit: how long this takes depends on how many there
 * are, never on which one matched.  0 on a match, else -1 with *why.
 */
static int
match_secrets(const char *const *secrets, size_t nsecrets,
    const char *prefix, size_t plen, const char *body, size_t len,
    const unsigned char (*cands)[MAC_LEN], size_t ncands, const char **why)
{
	unsigned char mac[MAC_LEN];
	size_t i, j, usable = 0;
	int match = 0;

	for (i = 0; i < nsecrets; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		if (hmac_sha256(secrets[i], prefix, plen, body, len, mac) != 0) {
			*why = "cannot compute the signature";
			OPENSSL_cleanse(mac, sizeof(mac));
			return -1;
		}
		usable++;
		for (j = 0; j < ncands; j++)
			match |= CRYPTO_memcmp(mac, cands[j], MAC_LEN) == 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	if (usable == 0) {
		*why = "no webhook secret configured";
		return -1;
	}
	if (!match) {
		*why = "no signature matches";
		return -1;
	}
	return 0;
}

static int
lower_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 64 lowercase hex digits into 32 bytes.  0 or -1. */
static int
decode_v1(const char *s, size_t len, unsigned char out[MAC_LEN])
{
	size_t i;
	int hi, lo;

	if (len != HEX_LEN)
		return -1;
	for (i = 0; i < MAC_LEN; i++) {
		if ((hi = lower_hex_value(s[2 * i])) < 0 ||
		    (lo = lower_hex_value(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* 1 to 20 decimal digits that fit int64_t.  0 or -1. */
static int
parse_t(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > T_DIGITS_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
scheme_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Parses header into *h.  Returns 0, or -1 with *why set. */
static int
parse_header(const char *header, struct sig_header *h, const char **why)
{
	const char *item, *end, *stop, *eq;
	size_t hlen, klen, vlen, i;

	memset(h, 0, sizeof(*h));
	if (header == NULL || header[0] == '\0') {
		*why = "missing Stripe-Signature header";
		return -1;
	}
	if ((hlen = strnlen(header, SIGNATURE_HEADER_MAX + 1)) >
	    SIGNATURE_HEADER_MAX) {
		*why = "signature header too long";
		return -1;
	}
	end = header + hlen;
	for (item = header;; item = stop + 1) {
		if ((stop = memchr(item, ',', (size_t)(end - item))) == NULL)
			stop = end;
		eq = memchr(item, '=', (size_t)(stop - item));
		klen = eq != NULL ? (size_t)(eq - item) : 0;
		if (eq == NULL || klen == 0 || klen > SCHEME_MAX) {
			*why = "malformed signature header";
			return -1;
		}
		for (i = 0; i < klen; i++)
			if (!scheme_char_ok(item[i])) {
				*why = "malformed signature header";
				return -1;
			}
		vlen = (size_t)(stop - eq - 1);
		if (klen == 1 && item[0] == 't') {
			if (h->has_t) {
				*why = "more than one timestamp in signature header";
				return -1;
			}
			if (parse_t(eq + 1, vlen, &h->t) != 0) {
				*why = "malformed timestamp in signature header";
				return -1;
			}
			h->has_t = 1;
		} else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
			if (h->nv1 == MAX_V1) {
				*why = "too many signatures in header";
				return -1;
			}
			if (decode_v1(eq + 1, vlen, h->v1[h->nv1]) != 0) {
				*why = "malformed v1 signature (64 lowercase hex "
				    "digits expected)";
				return -1;
			}
			h->nv1++;
		}
		/* any other scheme (v0, ...) is ignored */
		if (stop == end)
			break;
	}
	if (!h->has_t) {
		*why = "no timestamp in signature header";
		return -1;
	}
	if (h->nv1 == 0) {
		*why = "no v1 signature in header";
		return -1;
	}
	return 0;
}

int
signature_header(const char *secret, int64_t t, const char *body,
    size_t len, char *out, size_t outlen)
{
	unsigned char mac[MAC_LEN];
	char hex[HEX_LEN + 1];
	size_t i;
	int n;

	if (secret == NULL || t < 0 || (body == NULL && len > 0) ||
	    out == NULL || outlen == 0)
		return -1;
	if (compute_mac(secret, t, body, len, mac) != 0)
		return -1;
	for (i = 0; i < MAC_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
	n = snprintf(out, outlen, "t=%" PRId64 ",v1=%s", t, hex);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
signature_verify(const char *header, const char *const *secrets,
    size_t nsecrets, const char *body, size_t len, int64_t now,
    int64_t tolerance, const char **why)
{
	struct sig_header h;
	char prefix[T_DIGITS_MAX + 2];
	const char *dummy;
	uint64_t skew;
	int n;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (parse_header(header, &h, why) != 0)
		return -1;
	if (body == NULL && len > 0) {
		*why = "no body";
		return -1;
	}
	n = snprintf(prefix, sizeof(prefix), "%" PRId64 ".", h.t);
	if (n < 0 || (size_t)n >= sizeof(prefix)) {
		*why = "cannot compute the signature";
		return -1;
	}
	if (match_secrets(secrets, nsecrets, prefix, (size_t)n, body, len,
	    (const unsigned char (*)[MAC_LEN])h.v1, h.nv1, why) != 0)
		return -1;
	/* |now - t| without overflow, both ways: a future t is refused too */
	skew = h.t > now ? (uint64_t)h.t - (uint64_t)now :
	    (uint64_t)now - (uint64_t)h.t;
	if (tolerance < 0 || skew > (uint64_t)tolerance) {
		*why = "timestamp outside the tolerance";
		return -1;
	}
	return 0;
}

int
signature_verify_hex(const char *hex, const char *const *secrets,
    size_t nsecrets, const char *body, size_t len, const char **why)
{
	unsigned char want[MAC_LEN];
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (hex == NULL || hex[0] == '\0') {
		*why = "missing signature header";
		return -1;
	}
	if (decode_v1(hex, strnlen(hex, HEX_LEN + 1), want) != 0) {
		*why = "malformed signature (64 lowercase hex digits expected)";
		return -1;
	}
	if (body == NULL && len > 0) {
		*why = "no body";
		return -1;
	}
	return match_secrets(secrets, nsecrets, NULL, 0, body, len,
	    (const unsigned char (*)[MAC_LEN])&want, 1, why);
}

int
signature_sha256_hex(const char *body, size_t len,
    char out[SIGNATURE_SHA256_HEX])
{
	unsigned char md[MAC_LEN];
	unsigned int mdlen = 0;
	size_t i;

	if ((body == NULL && len > 0) ||
	    EVP_Digest(len > 0 ? body : "", len, md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != MAC_LEN)
		return -1;
	for (i = 0; i < MAC_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}
