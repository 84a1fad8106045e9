/*
 * fuzz_signature: signature_verify on arbitrary Stripe-Signature headers
 * and bodies.
 *
 * Input: byte 0 picks the secret list (its low 2 bits: none, A, A+B, or
 * "" + NULL + B + A) and bit 2 a clock 301 s later; then the header up to
 * the first '\n' (a C string: a NUL in it ends it early), then the raw
 * body (may hold NULs).  Headers are checked at FS_NOW with the 300 s
 * tolerance the webhook uses.
 * Properties:
 *   - no crash, no leak; 0 with no reason, -1 always with one;
 *   - the decision equals the independent verifier's
 *     (fuzz_signature_common.h): nothing the contract refuses is accepted,
 *     nothing it accepts is refused.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_signature_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_clean_env();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const only_a[] = { FS_SECRET_A };
	static const char *const a_b[] = { FS_SECRET_A, FS_SECRET_B };
	static const char *const odd[] = { "", NULL, FS_SECRET_B, FS_SECRET_A };
	static const char *const *const lists[] = { NULL, only_a, a_b, odd };
	static const size_t counts[] = { 0, 1, 2, 4 };
	struct fuzz_in in = { data, size };
	const char *const *secrets;
	const char *why = (const char *)1;
	const uint8_t *nl;
	char *header, *body;
	size_t hlen, blen, n;
	int64_t now;
	uint8_t sel;
	int rc, ref;

	sel = fuzz_u8(&in);
	secrets = lists[sel & 3];
	n = counts[sel & 3];
	now = FS_NOW + ((sel & 4) ? FS_TOL + 1 : 0);

	nl = memchr(in.p, '\n', in.n);
	hlen = nl ? (size_t)(nl - in.p) : in.n;
	header = fuzz_strndup(in.p, hlen);
	blen = nl ? in.n - hlen - 1 : 0;
	/* exact size: the body is not a C string */
	body = malloc(blen ? blen : 1);
	if (body == NULL)
		abort();
	if (blen)
		memcpy(body, nl + 1, blen);

	rc = signature_verify(header, secrets, n, body, blen, now, FS_TOL, &why);
	ref = fs_ref_verify(header, secrets, n, body, blen, now, FS_TOL);

	FUZZ_CHECK(rc == 0 || rc == -1, "signature_verify returned %d", rc);
	if (rc == 0)
		FUZZ_CHECK(why == NULL, "accepted with reason \"%s\"", why);
	else
		FUZZ_CHECK(why != NULL && why != (const char *)1 && why[0] != '\0',
		    "refused without a reason");
	FUZZ_CHECK(rc == ref, "signature_verify = %d (%s), reference %d, "
	    "header \"%s\"", rc, why ? why : "ok", ref, header);

	/* NULL out-parameter for the reason is allowed */
	FUZZ_CHECK(signature_verify(header, secrets, n, body, blen, now, FS_TOL,
	    NULL) == rc, "result depends on why being NULL");

	free(body);
	free(header);
	return 0;
}
