/*
 * fuzz_jwt: jwt_verify on arbitrary tokens.
 *
 * Input: the token, as the Authorization header carries it after "Bearer ".
 * It is verified at a fixed clock against three key sets: HS256 only (the
 * secret of tests/unit/check_jwt.c), RS256 only (its RSA key), and both.
 * Properties:
 *   - no crash, no leak; -1 always with a reason, 0 never with one;
 *   - an accepted token passes an independent check of its structure and
 *     signature (fuzz_jwt_common.h), so no forgery is ever accepted;
 *   - the claims handed back are sane (sub 1..255 bytes, NUL-terminated,
 *     no control character; a known role; exp not expired);
 *   - the key sets agree: accepted with both keys exactly when accepted
 *     with the HS-only or the RS-only set, with the same claims.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_jwt_common.h"

static struct jwt_keys *keys_hs, *keys_rs, *keys_both;
static EVP_PKEY *rs_pub;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	keys_hs = fj_keys(FJ_SECRET, 0);
	keys_rs = fj_keys(NULL, 1);
	keys_both = fj_keys(FJ_SECRET, 1);
	rs_pub = fj_pem_key(FUZZ_RSA_PUB_PEM, 0);
	return 0;
}

static int
verify(const struct jwt_keys *keys, const char *token, size_t len,
    struct jwt_claims *c)
{
	const char *why = (const char *)1;
	int rc = jwt_verify(keys, token, len, FJ_NOW, c, &why);

	FUZZ_CHECK(rc == 0 || rc == -1, "jwt_verify returned %d", rc);
	if (rc == 0)
		FUZZ_CHECK(why == NULL, "accepted with reason \"%s\"", why);
	else
		FUZZ_CHECK(why != NULL && why != (const char *)1 && why[0] != '\0',
		    "refused without a reason");
	return rc;
}

static int
same_claims(const struct jwt_claims *a, const struct jwt_claims *b)
{
	return strcmp(a->sub, b->sub) == 0 && a->role == b->role &&
	    a->exp == b->exp;
}

static void
check_claims(const struct jwt_claims *c)
{
	size_t n = strnlen(c->sub, sizeof(c->sub)), i;

	FUZZ_CHECK(n >= 1 && n <= JWT_SUB_MAX, "sub of %zu bytes", n);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)c->sub[i] >= 0x20 && c->sub[i] != 0x7f,
		    "control character in sub");
	FUZZ_CHECK(c->role == JWT_ROLE_USER || c->role == JWT_ROLE_ADMIN ||
	    c->role == JWT_ROLE_SERVICE || c->role == JWT_ROLE_OPERATOR,
	    "role %d", (int)c->role);
	FUZZ_CHECK(c->exp > FJ_NOW - JWT_LEEWAY_SEC, "expired exp %lld accepted",
	    (long long)c->exp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_claims chs, crs, cboth;
	const char *token = (const char *)data;
	int hs, rs, both;

	hs = verify(keys_hs, token, size, &chs);
	rs = verify(keys_rs, token, size, &crs);
	both = verify(keys_both, token, size, &cboth);

	FUZZ_CHECK(!(hs == 0 && rs == 0), "accepted as both HS256 and RS256");
	FUZZ_CHECK((both == 0) == (hs == 0 || rs == 0),
	    "both keys: %d, HS only: %d, RS only: %d", both, hs, rs);
	if (hs == 0) {
		check_claims(&chs);
		FUZZ_CHECK(fj_signature_ok(token, size, 1, NULL),
		    "HS256 token accepted that the independent check refuses");
		FUZZ_CHECK(same_claims(&chs, &cboth),
		    "claims differ between key sets");
	}
	if (rs == 0) {
		check_claims(&crs);
		FUZZ_CHECK(fj_signature_ok(token, size, 0, rs_pub),
		    "RS256 token accepted that the independent check refuses");
		FUZZ_CHECK(same_claims(&crs, &cboth),
		    "claims differ between key sets");
	}
	return 0;
}
