/*
 * outbound: our signed JSON POSTs to the operator's URLs (the events
 * webhook, the platform's suspension notices).  One setup for all of them:
 * http and https only, redirects not followed, short timeouts, our
 * User-Agent, the answer's body discarded, and a Billing-Signature header
 * made like Stripe's (signature.h) when a secret is given.  Stripe's own
 * requests are src/stripe (form bodies, its auth, retries, answers read).
 */
#ifndef BILLING_OUTBOUND_H
#define BILLING_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

/* A handle for a run of POSTs: its connections are reused. */
struct outbound;

/* agent names the sender in the User-Agent ("events": "StreamSpace-
 * Billing/<version> (events)").  NULL when out of memory. */
struct outbound *outbound_new(const char *agent);
void outbound_free(struct outbound *o);

struct outbound_header {
	const char *name;
	const char *value;      /* kept to printable ASCII */
};

/*
 * POSTs the JSON body (len bytes) to url, signed with secret at now_sec
 * (secret NULL: unsigned), with the extra headers.  Returns 0 on a 2xx
 * answer; -1 otherwise, with the reason in err (the HTTP status or the
 * transfer's error; never anything of the secret).  *status (may be NULL)
 * is the HTTP status, 0 when none came.
 */
int outbound_post(struct outbound *o, const char *url, const char *secret,
    int64_t now_sec, const char *body, size_t len,
    const struct outbound_header *extra, size_t nextra, long *status,
    char *err, size_t errlen);

#endif
