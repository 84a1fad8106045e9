/*
 * jwt: verification of the bearer tokens the platform sends us.
 *
 * Only two algorithms exist here: HS256 keyed with jwtSecret and RS256
 * checked against jwtPublicKeyFile.  The algorithm is chosen by which key the
 * operator configured, never by the token: a token whose header names any
 * other "alg" (none, HS384, RS512, ES256, ...) or an algorithm whose key is not
 * configured is refused.  MACs are compared in constant time.
 */
#ifndef BILLING_JWT_H
#define BILLING_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_TOKEN 8192  /* longer tokens are refused unparsed */
#define JWT_LEEWAY_SEC 60   /* clock skew allowed for exp, nbf and iat */
#define JWT_SUB_MAX 255
#define JWT_USER_CLAIMS_MAX 8  /* claims that may name the user */
#define JWT_CLAIM_NAME_MAX 64  /* bytes of one claim's name */

/* operator: reads what an admin reads, writes nothing (src/http/router.c) */
enum jwt_role {
	JWT_ROLE_USER = 0, JWT_ROLE_ADMIN, JWT_ROLE_SERVICE, JWT_ROLE_OPERATOR
};

struct jwt_keys;  /* opaque: the configured keys, user claims and issuer */

struct jwt_claims {
	/* the user id, non-empty: the first present claim of the user claims
	 * (jwt_keys_set_claims; "sub" unless configured) */
	char sub[JWT_SUB_MAX + 1];
	enum jwt_role role;        /* "user" when the claim is absent */
	int64_t exp;               /* seconds since the epoch */
};

/*
 * Builds the key set.  secret may be NULL or empty (no HS256); pem_path may be
 * NULL or empty (no RS256).  At least one must be given.  On failure returns
 * NULL and writes a one-line reason into err.  Caller frees with jwt_keys_free.
 */
struct jwt_keys *jwt_keys_new(const char *secret, const char *pem_path,
    char *err, size_t errlen);
void jwt_keys_free(struct jwt_keys *keys);

/*
 * Sets which claims name the user and who must have issued the token.
 * names (n of them, borrowed, copied): claim names in order; the first one
 * the payload has names the user and must be a valid user id (a present
 * but bad one refuses the token: it never falls through to the next).  n 0
 * (or the list "sub" alone) restores the default.  issuer: when not NULL, "iss" must be
 * a string equal to it.  Each name is 1..JWT_CLAIM_NAME_MAX bytes without
 * control characters, at most JWT_USER_CLAIMS_MAX of them, no repeats.
 * Returns 0, or -1 with a one-line reason in err and keys unchanged.
 */
int jwt_keys_set_claims(struct jwt_keys *keys, const char *const *names,
    size_t n, const char *issuer, char *err, size_t errlen);

/*
 * Verifies a compact JWS token (len bytes, need not be NUL-terminated) at
 * time now (seconds).  Checks: three base64url parts (no padding accepted),
 * header a JSON object with "alg" allowed by keys ("typ" if present must be
 * "JWT"), signature, payload a JSON object whose user claim (the first
 * present of the user claims, "sub" by default) is a non-empty string of at
 * most JWT_SUB_MAX bytes and no control characters, "iss" equal to the
 * issuer when one is set, "exp" a number required and > now - leeway, "nbf"
 * if present <= now + leeway, "iat" if present <= now + leeway, "role" if
 * present one of user/admin/operator/service.
 * Returns 0 and fills *out, or -1 with *why set to a static short reason
 * ("expired", "bad signature", ...) safe to log (it never contains the token).
 */
int jwt_verify(const struct jwt_keys *keys, const char *token, size_t len,
    int64_t now, struct jwt_claims *out, const char **why);

const char *jwt_role_name(enum jwt_role role);

/*
 * base64url without padding, exposed for the Stripe/event signers and tests.
 * jwt_b64url_decode returns the decoded length or -1 (bad character, '=' padding,
 * impossible length, or out too small).
 */
long jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsize);
long jwt_b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsize);

#endif
