/*
 * Helpers shared by the fuzz targets (fuzz/fuzz_*.c).  Header-only: each
 * target is one translation unit plus the src/ modules it exercises.
 *
 * A broken property is reported with FUZZ_FAIL: it prints what went wrong
 * and aborts, which libFuzzer records as a crash with the input saved under
 * fuzz/out/crashes/.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Checks for findings that are reported but not fixed in src/ yet are off
 * by default so that a run stays green; build with
 * FUZZ_CFLAGS=-DFUZZ_KNOWN_FINDINGS=1 fuzz/build to turn them on (see
 * docs/fuzzing.md, "Findings").
 */
#ifndef FUZZ_KNOWN_FINDINGS
#define FUZZ_KNOWN_FINDINGS 1
#endif

#define FUZZ_FAIL(...)                                                      \
	do {                                                                \
		fprintf(stderr, "\nFUZZ PROPERTY FAILED (%s:%d): ", __FILE__, \
		    __LINE__);                                              \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		abort();                                                    \
	} while (0)

#define FUZZ_CHECK(cond, ...)                                               \
	do {                                                                \
		if (!(cond))                                                \
			FUZZ_FAIL("%s: " "%s", #cond, fuzz_fmt(__VA_ARGS__)); \
	} while (0)

static inline const char *fuzz_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#include <stdarg.h>
static inline const char *
fuzz_fmt(const char *fmt, ...)
{
	static char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/*
 * Consumes the input from the front: the small integers that steer a target
 * come first, the free-form bytes after them.  Reading past the end gives 0.
 */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n > 0) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t
fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint64_t
fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

/* A malloc'd copy of n bytes plus a NUL (so ASan sees the exact size). */
static inline char *
fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
static inline void
fuzz_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The environment variables src/ reads: unset so that runs are reproducible. */
static inline void
fuzz_clean_env(void)
{
	static const char *const vars[] = {
		"BILLING_CONFIG", "BILLING_JWT_SECRET", "STRIPE_SECRET_KEY",
		"STRIPE_WEBHOOK_SECRET", "BILLING_DB_PASSWORD",
		"BILLING_EVENTS_WEBHOOK_URL", "BILLING_EVENTS_WEBHOOK_SECRET",
		"BILLING_PLATFORM_SUSPEND_URL", "STRIPE_API_BASE",
		"BILLING_TEST_NOW", "TZ",
	};
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

#endif
