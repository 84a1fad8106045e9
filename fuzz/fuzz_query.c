/*
 * fuzz_query: the query-string parser, http_query_get(query, name, buf, size).
 *
 * Input: byte 0 = length of the name (mod 32), byte 1 = buffer size
 * (1..256, or 0..255 with FUZZ_KNOWN_FINDINGS), then the name, then the
 * query.
 * Both are passed as C strings (an embedded NUL just ends them early), the
 * output buffer is malloc'd with exactly `size` bytes so ASan sees any write
 * past it.
 * Properties:
 *   - the result is -1, 0 or 1; on 1 buf holds a NUL within size, and the
 *     bytes after that NUL were not written;
 *   - the result and the decoded value equal those of a straightforward
 *     reference implementation below (first matching parameter, '+' is a
 *     space, %XX with either case of hex, a decoded NUL, a bad escape or a
 *     value that does not fit is -1, "name" without '=' is "").
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "http.h"

/*
 * Known finding: with size 0, http_query_get writes one byte into the
 * 0-byte buffer when the parameter is present with an empty value ("a=" or
 * "a=&b").  No caller passes 0, so the default run keeps size >= 1.
 */
#define CANARY 0xA5

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
ref_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into out (at least len + 1 bytes); -1 on a bad escape
 * or a NUL, else the decoded length. */
static long
ref_decode(const char *s, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3 || ref_hex((unsigned char)s[i + 1]) < 0 ||
			    ref_hex((unsigned char)s[i + 2]) < 0)
				return -1;
			c = ref_hex((unsigned char)s[i + 1]) * 16 +
			    ref_hex((unsigned char)s[i + 2]);
			i += 2;
		}
		if (c == 0)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

/*
 * The parameters are the '&'-separated segments, except that the empty
 * segment after a final '&' (or of an empty query) is not one.  A segment's
 * key is the text before its first '=' (compared raw, not decoded).
 */
static int
ref_query_get(const char *q, const char *name, char *out, size_t size,
    size_t *outlen)
{
	size_t qlen = strlen(q), nlen = strlen(name), start = 0, end, klen;
	const char *eq;
	long n;

	while (start < qlen) {
		const char *amp = memchr(q + start, '&', qlen - start);

		end = amp ? (size_t)(amp - q) : qlen;
		eq = memchr(q + start, '=', end - start);
		klen = eq ? (size_t)(eq - (q + start)) : end - start;
		if (klen == nlen && memcmp(q + start, name, nlen) == 0) {
			if (eq == NULL) {
				out[0] = '\0';
				*outlen = 0;
				return size == 0 ? -1 : 1;
			}
			n = ref_decode(eq + 1, end - (size_t)(eq + 1 - q), out);
			if (n < 0 || (size_t)n + 1 > size)
				return -1;
			*outlen = (size_t)n;
			return 1;
		}
		if (amp == NULL)
			break;
		start = end + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t nlen, bufsize, i, reflen = 0, got;
	char *name, *query, *buf, *ref;
	int rc, want;

	nlen = fuzz_u8(&in) % 32;
	bufsize = fuzz_u8(&in);
	if (!FUZZ_KNOWN_FINDINGS)
		bufsize += 1;
	if (nlen > in.n)
		nlen = in.n;
	name = fuzz_strndup(in.p, nlen);
	query = fuzz_strndup(in.p + nlen, in.n - nlen);

	/* one extra byte past size, never handed out: must stay the canary */
	buf = malloc(bufsize + 1);
	ref = malloc(strlen(query) + 2);
	if (buf == NULL || ref == NULL)
		abort();
	memset(buf, CANARY, bufsize + 1);

	rc = http_query_get(query, name, buf, bufsize);
	want = ref_query_get(query, name, ref, bufsize, &reflen);

	FUZZ_CHECK(rc >= -1 && rc <= 1, "result %d", rc);
	FUZZ_CHECK(buf[bufsize] == (char)CANARY,
	    "wrote past size %zu (name \"%s\", query \"%s\")", bufsize, name,
	    query);
	FUZZ_CHECK(rc == want,
	    "http_query_get(\"%s\", \"%s\", size %zu) = %d, reference %d",
	    query, name, bufsize, rc, want);
	if (rc == 1) {
		got = strnlen(buf, bufsize);
		FUZZ_CHECK(got < bufsize, "no NUL within size %zu", bufsize);
		FUZZ_CHECK(got == reflen && memcmp(buf, ref, got) == 0,
		    "value \"%s\" (%zu bytes), reference \"%s\" (%zu bytes)",
		    buf, got, ref, reflen);
		for (i = got + 1; i < bufsize; i++)
			FUZZ_CHECK(buf[i] == (char)CANARY,
			    "byte %zu after the NUL was written", i);
	}
	free(ref);
	free(buf);
	free(query);
	free(name);
	return 0;
}
