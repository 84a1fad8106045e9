/*
 * signature: Stripe-style request signatures, both ways, and StreamSpace's
 * bare-body HMAC (signature_verify_hex).
 *
 * Header: "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" where each v1 is the
 * lowercase hex HMAC-SHA256 of "<t>.<raw body>" keyed with the whole secret
 * string (e.g. "whsec_...").  Stripe signs the webhooks it sends us this
 * way; we sign the events we deliver to eventsWebhookUrl the same way, so
 * receivers can use any Stripe-compatible verifier.
 */
#ifndef BILLING_SIGNATURE_H
#define BILLING_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#define SIGNATURE_TOLERANCE_SEC 300
#define SIGNATURE_HEADER_MAX 1024

/* Writes "t=<t>,v1=<hex>" for body into out.  Returns 0, or -1 if it does
 * not fit. */
int signature_header(const char *secret, int64_t t, const char *body,
    size_t len, char *out, size_t outlen);

/*
 * Checks a received header against every secret (rotation): at least one
 * v1 must match one secret, compared in constant time, and |now - t| must be
 * at most tolerance seconds.  Unknown schemes (v0, ...) are ignored.
 * Returns 0 when valid, -1 otherwise with *why a short static reason.
 */
int signature_verify(const char *header, const char *const *secrets,
    size_t nsecrets, const char *body, size_t len, int64_t now,
    int64_t tolerance, const char **why);

/*
 * StreamSpace's scheme (X-StreamSpace-Signature): hex is the lowercase hex
 * HMAC-SHA256 of the raw body alone, keyed with one of the secrets
 * (rotation), compared in constant time; no timestamp in the header (the
 * body carries its own).  Returns 0 when valid, -1 otherwise with *why a
 * short static reason.
 */
int signature_verify_hex(const char *hex, const char *const *secrets,
    size_t nsecrets, const char *body, size_t len, const char **why);

/* out = the lowercase hex SHA-256 of body, NUL-terminated.  0 or -1. */
#define SIGNATURE_SHA256_HEX 65
int signature_sha256_hex(const char *body, size_t len,
    char out[SIGNATURE_SHA256_HEX]);

#endif
