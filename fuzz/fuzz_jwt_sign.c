/*
 * fuzz_jwt_sign: verify(sign(x)) holds, and any one-byte change breaks it.
 *
 * Input: byte 0 = mode, bytes 1-2 = index of the byte to change, byte 3 =
 * the XOR applied to it (0 counts as 1), then P, the payload material.
 *
 * mode bits 0-2, the header:
 *   0 {"alg":A,"typ":"JWT"}   1 {"alg":A}   2 {"typ":"JWT","alg":A,"kid":"k1"}
 *   3 the same with blanks around it        (A is HS256, or RS256 with bit 3)
 *   4 {"alg":"none"}, 5 {"alg":"HS256","crit":["exp"]},
 *   6 {"alg":"HS256","typ":"jwt"}, all HMAC-signed with the right secret;
 *   7 {"alg":"RS256"} HMAC-signed with the RSA public key's PEM as secret
 *     (algorithm confusion): 4-7 must all be refused.
 * bit 4: the payload is P itself (else a claims object built from P: sub
 *   from its first bytes as valid UTF-8 without controls, the rest as an
 *   extra "ctx" claim, exp an hour ahead, nbf/iat when P's length is odd);
 * bits 5-6: role claim (none, user, admin, service) for the built payload;
 * bit 7: besides the chosen byte, change every 8th byte from it (HS256
 *   only; a full sweep costs too many executions per second).
 *
 * Tokens are built with jwt_b64url_encode (checked against an independent
 * encoder) and an HMAC/RSA signature computed here with OpenSSL, and
 * verified with both keys configured, as a daemon with jwtSecret and
 * jwtPublicKeyFile would.
 * Properties:
 *   - a built payload is accepted with exactly its sub, role and exp;
 *   - a raw payload P is accepted only if P is a JSON object whose "sub"
 *     matches, and when refused, the reason is never about the signature,
 *     encoding or header (those are right by construction);
 *   - a token with any one byte changed is refused;
 *   - headers 4-7 are refused.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_jwt_common.h"

static struct jwt_keys *keys;
static EVP_PKEY *rs_priv;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	keys = fj_keys(FJ_SECRET, 1);
	rs_priv = fj_pem_key(FUZZ_RSA_PRIV_PEM, 1);
	return 0;
}

/* jwt_b64url_encode, checked against the independent encoder and decoder. */
static size_t
enc(const unsigned char *in, size_t len, char *out, size_t outsize)
{
	char *ref = malloc(len / 3 * 4 + 5);
	unsigned char *back = malloc(len + 1);
	long n, m;
	size_t rn;

	if (ref == NULL || back == NULL)
		abort();
	n = jwt_b64url_encode(in, len, out, outsize);
	rn = fj_b64_encode(in, len, ref);
	FUZZ_CHECK(n >= 0 && (size_t)n == rn && strcmp(out, ref) == 0,
	    "jwt_b64url_encode of %zu bytes: %ld \"%s\", expected \"%s\"", len, n,
	    n >= 0 ? out : "", ref);
	m = jwt_b64url_decode(out, (size_t)n, back, len + 1);
	FUZZ_CHECK(m == (long)len && (len == 0 || memcmp(back, in, len) == 0),
	    "jwt_b64url_decode(jwt_b64url_encode(x)) != x for %zu bytes", len);
	/* too small an output buffer is refused, not overrun */
	FUZZ_CHECK(jwt_b64url_encode(in, len, out, rn) == -1,
	    "jwt_b64url_encode accepted a buffer without room for the NUL");
	n = jwt_b64url_encode(in, len, out, outsize);
	free(back);
	free(ref);
	return (size_t)n;
}

/* "header.payload.signature" in a malloc'd buffer of exactly *len bytes
 * (no NUL, so an over-read is caught). */
static char *
build_token(const char *hdr, size_t hlen, const char *pl, size_t plen,
    int rs, const char *hmac_key, size_t *len)
{
	size_t cap = (hlen + plen) / 3 * 4 + 1024, n, siglen;
	unsigned char sig[512];
	char *text = malloc(cap), *tok;

	if (text == NULL)
		abort();
	n = enc((const unsigned char *)hdr, hlen, text, cap);
	text[n++] = '.';
	n += enc((const unsigned char *)pl, plen, text + n, cap - n);
	if (rs)
		siglen = fj_rs256_sign(rs_priv, text, n, sig);
	else {
		fj_hs256(hmac_key, strlen(hmac_key), text, n, sig);
		siglen = 32;
	}
	text[n++] = '.';
	n += enc(sig, siglen, text + n, cap - n);
	if ((tok = malloc(n)) == NULL)
		abort();
	memcpy(tok, text, n);
	free(text);
	*len = n;
	return tok;
}

static int
verify(const char *tok, size_t len, struct jwt_claims *c, const char **why)
{
	int rc = jwt_verify(keys, tok, len, FJ_NOW, c, why);

	FUZZ_CHECK(rc == 0 || rc == -1, "jwt_verify returned %d", rc);
	FUZZ_CHECK((rc == 0) == (*why == NULL), "rc %d with reason %s", rc,
	    *why ? *why : "(none)");
	return rc;
}

/* Every one-byte change of an accepted token must be refused. */
static void
flip_one(const char *tok, size_t len, size_t idx, uint8_t x)
{
	struct jwt_claims c;
	const char *why;
	char *t2 = malloc(len);

	if (t2 == NULL)
		abort();
	memcpy(t2, tok, len);
	t2[idx] ^= (char)x;
	if (verify(t2, len, &c, &why) == 0)
		FUZZ_FAIL("token still accepted after byte %zu (of %zu) changed "
		    "from 0x%02x to 0x%02x: %.*s", idx, len,
		    (unsigned char)tok[idx], (unsigned char)t2[idx], (int)len, t2);
	free(t2);
}

static const char *const roles[] = { NULL, "user", "admin", "service" };

/*
 * Valid UTF-8 from arbitrary bytes: ASCII as is, 0x80-0xff as the code
 * point of that value (two bytes).  With for_sub, what sub may not hold
 * (C0 and C1 controls, DEL) becomes a letter.  Writes at most max bytes.
 */
static size_t
to_utf8(const uint8_t *p, size_t n, char *out, size_t max, int for_sub,
    size_t *used)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned b = p[i];

		if (for_sub && (b < 0x20 || (b >= 0x7f && b < 0xa0)))
			b = 'a' + b % 26;
		if (b < 0x80) {
			if (o + 1 > max)
				break;
			out[o++] = (char)b;
		} else {
			if (o + 2 > max)
				break;
			out[o++] = (char)(0xc0 | b >> 6);
			out[o++] = (char)(0x80 | (b & 0x3f));
		}
	}
	*used = i;
	return o;
}

/* The claims object built from P; returns its text (malloc'd). */
static char *
build_claims(const uint8_t *p, size_t n, int role, char *sub, size_t *len)
{
	struct json_object *o = json_object_new_object();
	size_t sl, used, cl;
	const char *text;
	char *copy, *ctx;

	/* sub: quotes and backslashes included (they get escaped) */
	sl = to_utf8(p, n, sub, JWT_SUB_MAX, 1, &used);
	if (sl == 0)
		sub[sl++] = 'x';
	sub[sl] = '\0';
	json_object_object_add(o, "sub", json_object_new_string(sub));
	json_object_object_add(o, "exp", json_object_new_int64(FJ_NOW + 3600));
	if (n & 1) {
		json_object_object_add(o, "nbf", json_object_new_int64(FJ_NOW - 5));
		json_object_object_add(o, "iat", json_object_new_double(FJ_NOW - 5.5));
	}
	if (roles[role] != NULL)
		json_object_object_add(o, "role", json_object_new_string(roles[role]));
	if (n > used) {	/* the rest rides along as an unknown claim */
		if ((ctx = malloc(2 * (n - used))) == NULL)
			abort();
		cl = to_utf8(p + used, n - used, ctx, 2 * (n - used), 0, &used);
		json_object_object_add(o, "ctx", json_object_new_string_len(ctx,
		    (int)cl));
		free(ctx);
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	*len = strlen(text);
	copy = fuzz_strndup((const uint8_t *)text, *len);
	json_object_put(o);
	return copy;
}

/* Reasons that a correctly built and signed token can never deserve. */
static const char *const never[] = {
	"malformed token", "bad base64", "bad header", "header not an object",
	"missing alg", "bad alg", "alg not allowed", "bad typ",
	"crit not supported", "bad signature",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hdr_fmt[] = {
		"{\"alg\":\"%s\",\"typ\":\"JWT\"}",
		"{\"alg\":\"%s\"}",
		"{\"typ\":\"JWT\",\"alg\":\"%s\",\"kid\":\"k1\"}",
		" {\r\n \"alg\" : \"%s\"\t}\n",
	};
	static const char *const bad_hdr[] = {
		"{\"alg\":\"none\"}",
		"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
		"{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
		"{\"alg\":\"RS256\"}",
	};
	struct fuzz_in in = { data, size };
	struct jwt_claims c;
	const char *why;
	char hdr[128], sub[JWT_SUB_MAX + 2], *pl, *tok;
	size_t plen, toklen, idx, i;
	uint8_t mode, x;
	int variant, rs, raw, role, rc;

	mode = fuzz_u8(&in);
	idx = fuzz_u16(&in);
	x = fuzz_u8(&in);
	if (x == 0)
		x = 1;
	variant = mode & 7;
	rs = (mode >> 3) & 1;
	raw = (mode >> 4) & 1;
	role = (mode >> 5) & 3;

	if (raw) {
		plen = in.n;
		pl = fuzz_strndup(in.p, in.n);
	} else
		pl = build_claims(in.p, in.n, role, sub, &plen);

	if (variant >= 4) {
		tok = build_token(bad_hdr[variant - 4], strlen(bad_hdr[variant - 4]),
		    pl, plen, 0, variant == 7 ? FUZZ_RSA_PUB_PEM : FJ_SECRET,
		    &toklen);
		if (verify(tok, toklen, &c, &why) == 0)
			FUZZ_FAIL("header %s accepted", bad_hdr[variant - 4]);
		goto out;
	}

	snprintf(hdr, sizeof(hdr), hdr_fmt[variant], rs ? "RS256" : "HS256");
	tok = build_token(hdr, strlen(hdr), pl, plen, rs, FJ_SECRET, &toklen);
	rc = verify(tok, toklen, &c, &why);

	if (toklen > JWT_MAX_TOKEN) {
		FUZZ_CHECK(rc == -1, "token of %zu bytes accepted", toklen);
		goto out;
	}
	FUZZ_CHECK(fj_signature_ok(tok, toklen, 1, rs_priv),
	    "the independent check refuses a token built here");
	if (!raw) {
		FUZZ_CHECK(rc == 0, "valid token refused: %s (payload %s)", why, pl);
		FUZZ_CHECK(strcmp(c.sub, sub) == 0, "sub \"%s\", expected \"%s\"",
		    c.sub, sub);
		FUZZ_CHECK(c.exp == FJ_NOW + 3600, "exp %lld", (long long)c.exp);
		FUZZ_CHECK(c.role == (role == 0 ? JWT_ROLE_USER :
		    (enum jwt_role)(role - 1)), "role %d for claim %s", (int)c.role,
		    roles[role] ? roles[role] : "(none)");
	} else if (rc == 0) {
		struct json_tokener *jt = json_tokener_new();
		struct json_object *o, *s;

		json_tokener_set_flags(jt, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(jt, pl, (int)plen);
		json_tokener_free(jt);

		FUZZ_CHECK(o != NULL && json_object_is_type(o, json_type_object) &&
		    json_object_object_get_ex(o, "sub", &s) &&
		    json_object_is_type(s, json_type_string) &&
		    strcmp(json_object_get_string(s), c.sub) == 0,
		    "payload accepted that is not an object with this sub: %s", pl);
		json_object_put(o);
	} else {
		for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
			FUZZ_CHECK(strcmp(why, never[i]) != 0,
			    "correctly signed token refused with \"%s\"", why);
	}

	if (rc == 0) {
		flip_one(tok, toklen, idx % toklen, x);
		if ((mode & 0x80) && !rs)	/* every 8th byte, from idx */
			for (i = idx % 8; i < toklen; i += 8)
				flip_one(tok, toklen, i, x);
	}
out:
	free(tok);
	free(pl);
	return 0;
}
