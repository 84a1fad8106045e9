/*
 * jwt: verification of compact JWS bearer tokens, HS256 and RS256 only.
 *
 * The order of checks matters: the header is parsed only far enough to pick
 * the key, the signature is checked next, and the payload is parsed only
 * once we know who wrote it.  Nothing here logs; callers log the static
 * reason, never the token.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "errbuf.h"
#include "jwt.h"

#define JWT_JSON_DEPTH 8
#define JWT_RSA_MIN_BITS 2048
#define HS256_LEN 32

struct jwt_keys {
	unsigned char *secret;  /* HS256 key: the bytes of jwtSecret, or NULL */
	size_t secretlen;
	EVP_PKEY *pub;          /* RS256 key, or NULL */
	/* the claims that may name the user, in order; none: "sub" alone */
	char *user_claims[JWT_USER_CLAIMS_MAX];
	size_t n_user_claims;
	char *issuer;           /* what "iss" must be, or NULL: not checked */
};

enum jwt_alg { ALG_HS256, ALG_RS256 };

/*
 * Loads an RSA public key of at least JWT_RSA_MIN_BITS from a PEM file.
 * Returns a new key the caller frees with EVP_PKEY_free, or NULL with err set.
 */
static EVP_PKEY *
load_rsa_pubkey(const char *path, char *err, size_t errlen)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		errbuf_set(err, errlen, "jwtPublicKeyFile %s: cannot open: %s",
		    path, strerror(errno));
		goto fail;
	}
	if ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		errbuf_set(err, errlen, "jwtPublicKeyFile %s: no PEM public "
		    "key (expected -----BEGIN PUBLIC KEY-----)", path);
		goto fail;
	}
	/* RSA-PSS keys are refused too: RS256 is PKCS#1 v1.5. */
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		errbuf_set(err, errlen, "jwtPublicKeyFile %s: not an RSA key "
		    "(RS256 needs RSA)", path);
		goto fail;
	}
	if ((bits = EVP_PKEY_get_bits(pkey)) < JWT_RSA_MIN_BITS) {
		errbuf_set(err, errlen, "jwtPublicKeyFile %s: RSA key has %d "
		    "bits, at least %d required", path, bits, JWT_RSA_MIN_BITS);
		goto fail;
	}
	BIO_free(bio);
	return pkey;
fail:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	/* Leave no stale entries for the next, unrelated, OpenSSL user. */
	ERR_clear_error();
	return NULL;
}

/* Returns a new key set the caller frees with jwt_keys_free, or NULL. */
struct jwt_keys *
jwt_keys_new(const char *secret, const char *pem_path, char *err, size_t errlen)
{
	struct jwt_keys *keys;
	int have_secret, have_pem;

	errbuf_set(err, errlen, "%s", "");
	have_secret = secret != NULL && secret[0] != '\0';
	have_pem = pem_path != NULL && pem_path[0] != '\0';
	if (!have_secret && !have_pem) {
		errbuf_set(err, errlen, "neither jwtSecret nor "
		    "jwtPublicKeyFile is configured");
		return NULL;
	}
	if ((keys = calloc(1, sizeof(*keys))) == NULL) {
		errbuf_set(err, errlen, "out of memory");
		return NULL;
	}
	if (have_secret) {
		keys->secretlen = strlen(secret);
		if ((keys->secret = malloc(keys->secretlen)) == NULL) {
			errbuf_set(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(keys->secret, secret, keys->secretlen);
	}
	if (have_pem &&
	    (keys->pub = load_rsa_pubkey(pem_path, err, errlen)) == NULL)
		goto fail;
	return keys;
fail:
	jwt_keys_free(keys);
	return NULL;
}

/* Frees the user claims and the issuer (the defaults remain). */
static void
clear_claims(struct jwt_keys *keys)
{
	size_t i;

	for (i = 0; i < keys->n_user_claims; i++)
		free(keys->user_claims[i]);
	keys->n_user_claims = 0;
	free(keys->issuer);
	keys->issuer = NULL;
}

void
jwt_keys_free(struct jwt_keys *keys)
{
	if (keys == NULL)
		return;
	if (keys->secret != NULL) {
		OPENSSL_cleanse(keys->secret, keys->secretlen);
		free(keys->secret);
	}
	EVP_PKEY_free(keys->pub);
	clear_claims(keys);
	free(keys);
}

/* A claim name: 1..JWT_CLAIM_NAME_MAX bytes, no C0 control or DEL. */
static int
valid_claim_name(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0, i;

	if (len == 0 || len > JWT_CLAIM_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
jwt_keys_set_claims(struct jwt_keys *keys, const char *const *names,
    size_t n, const char *issuer, char *err, size_t errlen)
{
	struct jwt_keys tmp;
	size_t i, j;

	errbuf_set(err, errlen, "%s", "");
	if (keys == NULL || (n > 0 && names == NULL)) {
		errbuf_set(err, errlen, "bad arguments");
		return -1;
	}
	if (n > JWT_USER_CLAIMS_MAX) {
		errbuf_set(err, errlen, "at most %d user claims",
		    JWT_USER_CLAIMS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!valid_claim_name(names[i])) {
			errbuf_set(err, errlen, "user claim %zu: a claim name "
			    "is 1 to %d bytes without control characters",
			    i + 1, JWT_CLAIM_NAME_MAX);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0) {
				errbuf_set(err, errlen, "user claim %zu: "
				    "\"%s\" is listed twice", i + 1, names[i]);
				return -1;
			}
	}
	if (issuer != NULL && (issuer[0] == '\0' ||
	    strlen(issuer) > JWT_SUB_MAX)) {
		errbuf_set(err, errlen, "the issuer is 1 to %d bytes",
		    JWT_SUB_MAX);
		return -1;
	}
	/* ["sub"] is the default itself, with its own refusal reasons */
	if (n == 1 && strcmp(names[0], "sub") == 0)
		n = 0;
	/* copy everything first: on failure keys keeps its old values */
	memset(&tmp, 0, sizeof(tmp));
	for (i = 0; i < n; i++) {
		if ((tmp.user_claims[i] = strdup(names[i])) == NULL)
			goto nomem;
		tmp.n_user_claims = i + 1;
	}
	if (issuer != NULL && (tmp.issuer = strdup(issuer)) == NULL)
		goto nomem;
	clear_claims(keys);
	memcpy(keys->user_claims, tmp.user_claims, sizeof(keys->user_claims));
	keys->n_user_claims = tmp.n_user_claims;
	keys->issuer = tmp.issuer;
	return 0;
nomem:
	clear_claims(&tmp);
	errbuf_set(err, errlen, "out of memory");
	return -1;
}

const char *
jwt_role_name(enum jwt_role role)
{
	switch (role) {
	case JWT_ROLE_USER:
		return "user";
	case JWT_ROLE_ADMIN:
		return "admin";
	case JWT_ROLE_SERVICE:
		return "service";
	case JWT_ROLE_OPERATOR:
		return "operator";
	}
	return "unknown";
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

long
jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsize)
{
	size_t need, i, o;
	unsigned long acc = 0;
	int bits = 0, v;

	/* One leftover character carries only 6 bits: never a whole byte. */
	if (len % 4 == 1)
		return -1;
	need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	if (need > outsize || need > LONG_MAX)
		return -1;
	for (i = 0, o = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* Only one spelling per byte string: the unused low bits must be 0. */
	if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

long
jwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsize)
{
	size_t need, i, o;
	unsigned long acc;

	if (len > (LONG_MAX - 4) / 4 * 3)
		return -1;
	need = len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
	/* Room for the terminating NUL too: callers get a C string. */
	if (need >= outsize)
		return -1;
	for (i = 0, o = 0; i + 3 <= len; i += 3) {
		acc = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64url_alphabet[acc >> 18 & 0x3f];
		out[o++] = b64url_alphabet[acc >> 12 & 0x3f];
		out[o++] = b64url_alphabet[acc >> 6 & 0x3f];
		out[o++] = b64url_alphabet[acc & 0x3f];
	}
	if (len - i == 1) {
		acc = (unsigned long)in[i] << 16;
		out[o++] = b64url_alphabet[acc >> 18 & 0x3f];
		out[o++] = b64url_alphabet[acc >> 12 & 0x3f];
	} else if (len - i == 2) {
		acc = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
		out[o++] = b64url_alphabet[acc >> 18 & 0x3f];
		out[o++] = b64url_alphabet[acc >> 12 & 0x3f];
		out[o++] = b64url_alphabet[acc >> 6 & 0x3f];
	}
	out[o] = '\0';
	return (long)o;
}

/*
 * Parses len bytes as exactly one JSON object (white space may follow it).
 * Returns a new reference the caller puts, or NULL when the text is not
 * valid JSON (*notobj = 0) or is valid JSON but not an object (*notobj = 1).
 */
static struct json_object *
parse_object(struct json_tokener *tok, const unsigned char *text, size_t len,
    int *notobj)
{
	struct json_object *obj;
	size_t end;

	*notobj = 0;
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, (const char *)text, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto bad;
	/* An embedded NUL stops json-c early; what it left unread must be blank. */
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (text[end] != ' ' && text[end] != '\t' &&
		    text[end] != '\r' && text[end] != '\n')
			goto bad;
	if (!json_object_is_type(obj, json_type_object)) {
		*notobj = 1;
		goto bad;
	}
	return obj;
bad:
	json_object_put(obj);
	return NULL;
}

/* True when the JSON string s is exactly the C string lit, NULs included. */
static int
json_str_is(struct json_object *s, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)json_object_get_string_len(s) == n &&
	    memcmp(json_object_get_string(s), lit, n) == 0;
}

/*
 * Reads a NumericDate: a JSON integer, or a number with a fraction which is
 * truncated.  Strings, booleans, null and values outside int64 are refused.
 */
static int
get_numeric_date(struct json_object *v, int64_t *out)
{
	double d;

	if (json_object_is_type(v, json_type_int)) {
		/* json-c clamps integers that overflow to these two values. */
		*out = json_object_get_int64(v);
		return *out == INT64_MAX || *out == INT64_MIN ? -1 : 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		/* 2^63 is exact as a double; anything from it up does not fit. */
		if (!isfinite(d) || d >= 9223372036854775808.0 ||
		    d <= -9223372036854775808.0)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	return -1;
}

/* A user id: non-empty, at most JWT_SUB_MAX bytes, no C0/C1 control or DEL. */
static int
valid_sub(struct json_object *v)
{
	const unsigned char *s;
	size_t len, i;

	if (!json_object_is_type(v, json_type_string))
		return 0;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > JWT_SUB_MAX)
		return 0;
	s = (const unsigned char *)json_object_get_string(v);
	for (i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
		/* U+0080..U+009F in UTF-8 */
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 &&
		    s[i + 1] <= 0x9f)
			return 0;
	}
	return 1;
}

/* Returns 1 when sig is a valid HS256 MAC of msg under the secret. */
static int
verify_hs256(const struct jwt_keys *keys, const unsigned char *msg,
    size_t msglen, const unsigned char *sig, size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int ok;

	if (HMAC(EVP_sha256(), keys->secret, (int)keys->secretlen, msg, msglen,
	    mac, &maclen) == NULL) {
		ERR_clear_error();
		return 0;
	}
	/* The length is public; only the contents need a constant-time compare. */
	ok = maclen == HS256_LEN && siglen == HS256_LEN &&
	    CRYPTO_memcmp(mac, sig, HS256_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/* Returns 1 when sig is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of msg. */
static int
verify_rs256(const struct jwt_keys *keys, const unsigned char *msg,
    size_t msglen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	if (siglen != (size_t)EVP_PKEY_get_size(keys->pub))
		return 0;
	if ((md = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, keys->pub) != 1)
		goto out;
	/* Pin the padding: RS256 is PKCS#1 v1.5, PSS is a different alg. */
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		goto out;
	ok = EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

static int64_t
sub_leeway(int64_t t)
{
	return t < INT64_MIN + JWT_LEEWAY_SEC ? INT64_MIN : t - JWT_LEEWAY_SEC;
}

static int64_t
add_leeway(int64_t t)
{
	return t > INT64_MAX - JWT_LEEWAY_SEC ? INT64_MAX : t + JWT_LEEWAY_SEC;
}

/* Checks the header and picks the algorithm the configured keys allow. */
static const char *
check_header(const struct jwt_keys *keys, struct json_object *hdr,
    enum jwt_alg *alg)
{
	struct json_object *v;

	if (!json_object_object_get_ex(hdr, "alg", &v))
		return "missing alg";
	if (!json_object_is_type(v, json_type_string))
		return "bad alg";
	/* Exact and case-sensitive: "hs256" or "HS256\0x" are other names. */
	if (keys->secret != NULL && json_str_is(v, "HS256"))
		*alg = ALG_HS256;
	else if (keys->pub != NULL && json_str_is(v, "RS256"))
		*alg = ALG_RS256;
	else
		return "alg not allowed";
	if (json_object_object_get_ex(hdr, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) || !json_str_is(v, "JWT")))
		return "bad typ";
	/* We understand no extension, so any crit list must be refused. */
	if (json_object_object_get_ex(hdr, "crit", NULL))
		return "crit not supported";
	return NULL;
}

/*
 * Finds the user: the first of the user claims the payload has (JSON null
 * counts as present: a bad value refuses the token rather than letting a
 * later claim name someone else).  Fills out->sub.
 */
static const char *
check_user(const struct jwt_keys *keys, struct json_object *pl,
    struct jwt_claims *out)
{
	struct json_object *v;
	size_t i, len;

	if (keys->n_user_claims == 0) {
		/* the default: "sub" alone, with its own reasons */
		if (!json_object_object_get_ex(pl, "sub", &v))
			return "missing sub";
		if (!valid_sub(v))
			return "bad sub";
	} else {
		for (i = 0; i < keys->n_user_claims; i++)
			if (json_object_object_get_ex(pl, keys->user_claims[i],
			    &v))
				break;
		if (i == keys->n_user_claims)
			return "missing user claim";
		if (!valid_sub(v))
			return "bad user claim";
	}
	len = (size_t)json_object_get_string_len(v);
	memcpy(out->sub, json_object_get_string(v), len);
	out->sub[len] = '\0';
	return NULL;
}

/* Checks the claims at time now and fills out. */
static const char *
check_claims(const struct jwt_keys *keys, struct json_object *pl, int64_t now,
    struct jwt_claims *out)
{
	struct json_object *v;
	const char *why;
	int64_t t;

	if ((why = check_user(keys, pl, out)) != NULL)
		return why;
	if (keys->issuer != NULL) {
		if (!json_object_object_get_ex(pl, "iss", &v))
			return "missing iss";
		if (!json_object_is_type(v, json_type_string) ||
		    !json_str_is(v, keys->issuer))
			return "wrong issuer";
	}

	if (!json_object_object_get_ex(pl, "exp", &v))
		return "missing exp";
	if (get_numeric_date(v, &t) == -1)
		return "bad exp";
	if (t <= sub_leeway(now))
		return "expired";
	out->exp = t;

	if (json_object_object_get_ex(pl, "nbf", &v)) {
		if (get_numeric_date(v, &t) == -1)
			return "bad nbf";
		if (t > add_leeway(now))
			return "not yet valid";
	}
	if (json_object_object_get_ex(pl, "iat", &v)) {
		if (get_numeric_date(v, &t) == -1)
			return "bad iat";
		if (t > add_leeway(now))
			return "issued in the future";
	}

	out->role = JWT_ROLE_USER;
	if (json_object_object_get_ex(pl, "role", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return "bad role";
		if (json_str_is(v, "user"))
			out->role = JWT_ROLE_USER;
		else if (json_str_is(v, "admin"))
			out->role = JWT_ROLE_ADMIN;
		else if (json_str_is(v, "service"))
			out->role = JWT_ROLE_SERVICE;
		else if (json_str_is(v, "operator"))
			out->role = JWT_ROLE_OPERATOR;
		else
			return "bad role";
	}
	return NULL;
}

int
jwt_verify(const struct jwt_keys *keys, const char *token, size_t len,
    int64_t now, struct jwt_claims *out, const char **why)
{
	const char *reason, *dot1, *dot2, *p, *s;
	struct json_tokener *tok = NULL;
	struct json_object *hdr = NULL, *pl = NULL;
	struct jwt_claims claims;
	unsigned char *buf = NULL, *hdrb, *plb, *sig;
	size_t hlen, plen, slen, hdrn, pln, sign;
	enum jwt_alg alg = ALG_HS256;
	long n;
	int notobj, ok;

	if (why == NULL)
		why = &reason;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&claims, 0, sizeof(claims));
	if (keys == NULL || token == NULL || out == NULL) {
		*why = "bad arguments";
		return -1;
	}
	if (len == 0) {
		*why = "empty token";
		return -1;
	}
	if (len > JWT_MAX_TOKEN) {
		*why = "token too long";
		return -1;
	}

	reason = "malformed token";
	if ((dot1 = memchr(token, '.', len)) == NULL)
		goto out;
	p = dot1 + 1;
	if ((dot2 = memchr(p, '.', len - (size_t)(p - token))) == NULL)
		goto out;
	s = dot2 + 1;
	if (memchr(s, '.', len - (size_t)(s - token)) != NULL)
		goto out;
	hlen = (size_t)(dot1 - token);
	plen = (size_t)(dot2 - p);
	slen = len - (size_t)(s - token);

	/* Decoding never grows: len bytes hold all three parts decoded. */
	reason = "out of memory";
	if ((buf = malloc(len)) == NULL)
		goto out;
	if ((tok = json_tokener_new_ex(JWT_JSON_DEPTH)) == NULL)
		goto out;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT
#ifdef JSON_TOKENER_VALIDATE_UTF8
	    | JSON_TOKENER_VALIDATE_UTF8
#endif
	    );

	/* All three parts must be clean base64url before anything else. */
	reason = "bad base64";
	hdrb = buf;
	if ((n = jwt_b64url_decode(token, hlen, hdrb, len)) < 0)
		goto out;
	hdrn = (size_t)n;
	plb = hdrb + hdrn;
	if ((n = jwt_b64url_decode(p, plen, plb, len - hdrn)) < 0)
		goto out;
	pln = (size_t)n;
	sig = plb + pln;
	if ((n = jwt_b64url_decode(s, slen, sig, len - hdrn - pln)) < 0)
		goto out;
	sign = (size_t)n;

	if ((hdr = parse_object(tok, hdrb, hdrn, &notobj)) == NULL) {
		reason = notobj ? "header not an object" : "bad header";
		goto out;
	}
	if ((reason = check_header(keys, hdr, &alg)) != NULL)
		goto out;

	/* The signing input is the header and payload as sent, dot included. */
	if (alg == ALG_HS256)
		ok = verify_hs256(keys, (const unsigned char *)token,
		    (size_t)(dot2 - token), sig, sign);
	else
		ok = verify_rs256(keys, (const unsigned char *)token,
		    (size_t)(dot2 - token), sig, sign);
	reason = "bad signature";
	if (!ok)
		goto out;

	/* Only now is the payload worth parsing: its author is known. */
	if ((pl = parse_object(tok, plb, pln, &notobj)) == NULL) {
		reason = notobj ? "payload not an object" : "bad payload";
		goto out;
	}
	if ((reason = check_claims(keys, pl, now, &claims)) != NULL)
		goto out;
	*out = claims;
	reason = NULL;
out:
	json_object_put(pl);
	json_object_put(hdr);
	if (tok != NULL)
		json_tokener_free(tok);
	free(buf);
	*why = reason;
	return reason == NULL ? 0 : -1;
}
