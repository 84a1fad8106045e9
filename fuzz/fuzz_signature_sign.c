/*
 * fuzz_signature_sign: signature_verify(signature_header(secret, t, body))
 * holds, and any one-byte change to the header or the body breaks it.
 *
 * Input: bytes 0-1 = index of the byte to change, byte 2 = the XOR applied
 * (0 counts as 1), byte 3 = flags (bits 0-5: secret length 0..63; bit 6: a
 * negative t, which signature_header must refuse; bit 7: a t taken from the
 * next 8 bytes instead of FS_NOW), bytes 4-5 = clock skew (-400..400 s),
 * byte 6 = size of a deliberately short output buffer, [8 bytes of t],
 * then the secret, then the body.
 * Properties:
 *   - the header is exactly "t=<t>,v1=<hex>" with the hex of an HMAC
 *     computed independently here, and a buffer too short for it gives -1
 *     and an empty string, never a write past its size;
 *   - it verifies under the secret (alone or after another one, as in a
 *     rotation) exactly when the secret is non-empty and |skew| <= 300, and
 *     never under another secret;
 *   - once valid, changing any one byte of the header, any one hex digit of
 *     v1, any one byte of the body, or the body's length makes it invalid.
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

static int
verify1(const char *header, const char *secret, const char *body, size_t len,
    int64_t now)
{
	const char *secrets[] = { secret };
	const char *why = NULL;
	int rc = signature_verify(header, secrets, 1, body, len, now, FS_TOL, &why);

	FUZZ_CHECK((rc == 0) == (why == NULL), "rc %d, reason %s", rc,
	    why ? why : "(none)");
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	char header[SIGNATURE_HEADER_MAX], expect[128], hex[65], *secret, *body,
	    *small, *h2, *b2;
	const char *rot[2];
	size_t idx, slen, blen, smallsize, hlen, i;
	int64_t t = FS_NOW, now, skew;
	uint8_t x, flags;
	int rc, valid;

	idx = fuzz_u16(&in);
	x = fuzz_u8(&in);
	if (x == 0)
		x = 1;
	flags = fuzz_u8(&in);
	skew = (int64_t)(fuzz_u16(&in) % 801) - 400;
	smallsize = fuzz_u8(&in) % 80;
	if (flags & 0x80)
		t = (int64_t)(fuzz_u64(&in) & INT64_MAX);
	if (flags & 0x40)
		t = -1 - (t & 0xffff);
	slen = flags & 63;
	if (slen > in.n)
		slen = in.n;
	secret = fuzz_strndup(in.p, slen);
	for (i = 0; i < slen; i++)	/* a C string: no NUL inside */
		if (secret[i] == '\0')
			secret[i] = '0';
	blen = in.n - slen;
	body = malloc(blen + 1);
	if (body == NULL)
		abort();
	if (blen)
		memcpy(body, in.p + slen, blen);

	/* a short buffer: -1, emptied, nothing past its end */
	small = malloc(smallsize ? smallsize : 1);
	if (small == NULL)
		abort();
	rc = signature_header(secret, t, body, blen, small, smallsize);
	if (t < 0) {
		FUZZ_CHECK(rc == -1, "signature_header accepted t = %lld",
		    (long long)t);
		goto out;
	}
	fs_mac_hex(secret, t, body, blen, hex);
	snprintf(expect, sizeof(expect), "t=%lld,v1=%s", (long long)t, hex);
	if (smallsize > strlen(expect))
		FUZZ_CHECK(rc == 0 && strcmp(small, expect) == 0,
		    "header \"%s\", expected \"%s\"", rc == 0 ? small : "", expect);
	else {
		FUZZ_CHECK(rc == -1, "header longer than its buffer of %zu",
		    smallsize);
		if (smallsize > 0)
			FUZZ_CHECK(small[0] == '\0', "not emptied");
	}

	FUZZ_CHECK(signature_header(secret, t, body, blen, header,
	    sizeof(header)) == 0, "signature_header failed");
	FUZZ_CHECK(strcmp(header, expect) == 0, "header \"%s\", expected \"%s\"",
	    header, expect);

	/* now = t + skew, or t - |skew| where that would overflow */
	now = t <= INT64_MAX - 400 ? t + skew : t - (skew < 0 ? -skew : skew);
	valid = slen > 0 && skew >= -FS_TOL && skew <= FS_TOL;
	rc = verify1(header, secret, body, blen, now);
	FUZZ_CHECK((rc == 0) == valid, "verify = %d for a fresh header (secret "
	    "of %zu bytes, skew %lld)", rc, slen, (long long)skew);
	rot[0] = FS_SECRET_B;
	rot[1] = secret;
	FUZZ_CHECK((signature_verify(header, rot, 2, body, blen, now, FS_TOL,
	    NULL) == 0) == valid, "rotation list disagrees");
	if (strcmp(secret, FS_SECRET_B) != 0)
		FUZZ_CHECK(verify1(header, FS_SECRET_B, body, blen, now) == -1,
		    "verified under another secret");
	if (!valid)
		goto out;

	/* any one byte of the header */
	hlen = strlen(header);
	if ((h2 = malloc(hlen + 1)) == NULL)
		abort();
	memcpy(h2, header, hlen + 1);
	h2[idx % hlen] ^= (char)x;
	if (verify1(h2, secret, body, blen, now) == 0)
		FUZZ_FAIL("header still valid with byte %zu changed from '%c' to "
		    "0x%02x: %s", idx % hlen, header[idx % hlen],
		    (unsigned char)h2[idx % hlen], h2);
	/* any one hex digit of v1, to any other hex digit */
	memcpy(h2, header, hlen + 1);
	i = hlen - 64 + idx % 64;
	h2[i] = "0123456789abcdef"[(strchr("0123456789abcdef", h2[i]) -
	    "0123456789abcdef" + 1 + x % 15) % 16];
	if (verify1(h2, secret, body, blen, now) == 0)
		FUZZ_FAIL("header still valid with v1 digit %zu changed: %s", i, h2);
	free(h2);

	/* any one byte of the body, and its length */
	if (blen > 0) {
		if ((b2 = malloc(blen)) == NULL)
			abort();
		memcpy(b2, body, blen);
		b2[idx % blen] ^= (char)x;
		if (verify1(header, secret, b2, blen, now) == 0)
			FUZZ_FAIL("still valid with body byte %zu changed",
			    idx % blen);
		free(b2);
		if (verify1(header, secret, body, blen - 1, now) == 0)
			FUZZ_FAIL("still valid with the body's last byte cut");
	}
	body[blen] = (char)x;
	if (verify1(header, secret, body, blen + 1, now) == 0)
		FUZZ_FAIL("still valid with a byte added to the body");
out:
	free(small);
	free(body);
	free(secret);
	return 0;
}
