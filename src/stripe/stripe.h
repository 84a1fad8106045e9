/*
 * stripe: the client of Stripe's API (docs/stripe.md) and what is
 * built on it: customers, Checkout Sessions, and pushing our invoices.
 *
 * Wire: application/x-www-form-urlencoded bodies with bracketed nested keys
 * (line_items[0][price]=...), "Authorization: Bearer <secret key>", a pinned
 * Stripe-Version, an Idempotency-Key derived from our own ids on every POST
 * (the same on every retry), JSON answers.  Retries with capped exponential
 * backoff and jitter on network errors, 409, 429, 5xx and
 * "Stripe-Should-Retry: true"; never on another 4xx, and never when Stripe
 * says "Stripe-Should-Retry: false".  Every attempt is bounded by a timeout
 * and all attempts of one call by a budget.
 *
 * One curl easy handle per process, made on first use (after fork) and
 * reused, so connections are kept alive between calls.  The secret key is
 * never logged: a call logs its method, path, status, Stripe's Request-Id
 * and the number of attempts.
 *
 * Files: stripe.c and stripe_form.c (form encoding, HTTP, retries, lists,
 * the Stripe id rule); in billing, checkout.c (customers, Checkout
 * Sessions, payment methods) and stripe_push.c (invoices).
 */
#ifndef BILLING_STRIPE_H
#define BILLING_STRIPE_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct billing_config;
struct json_object;

/* The API version every request pins (docs/stripe.md). */
#define STRIPE_API_VERSION "2025-03-31.basil"

#define STRIPE_ID_MAX 255          /* as our columns */
#define STRIPE_URL_MAX 2048        /* success_url, cancel_url */
#define STRIPE_MAX_RETRIES 3
#define STRIPE_ANSWER_DEPTH 64     /* JSON nesting of an answer */

/* -- form bodies ---------------------------------------------------------- */

/* An encoded body being built ("a=1&b%5B..."); append-only. */
struct stripe_form {
	char *buf;   /* owned; NULL while empty */
	size_t len;
	size_t cap;
	int failed;  /* an allocation failed: the form is unusable */
};

void stripe_form_init(struct stripe_form *f);
/* Releases the buffer and re-initializes f.  NULL and empty forms are fine. */
void stripe_form_free(struct stripe_form *f);

/*
 * Appends key=value, both percent-encoded: every byte but A-Z a-z 0-9 - . _ ~
 * becomes %XX (a space is %20), except that '[' and ']' stay literal in
 * keys, as Stripe's own libraries send them.  A NULL value adds nothing.
 * Both strings are borrowed.  Returns 0, or -1 when memory ran out (the
 * form is then marked failed and every request with it fails).
 */
int stripe_form_add(struct stripe_form *f, const char *key, const char *value);
int stripe_form_add_i64(struct stripe_form *f, const char *key, int64_t v);

/* The encoded text (borrowed from f; "" when empty). */
const char *stripe_form_text(const struct stripe_form *f);
/* Appends src's fields to dst (both borrowed).  Returns 0 or -1. */
int stripe_form_append(struct stripe_form *dst, const struct stripe_form *src);

/* -- the client ----------------------------------------------------------- */

enum stripe_rc {
	STRIPE_OK = 0,
	STRIPE_UNAVAILABLE = -1,  /* network, timeouts, 409, 429, 5xx: 503 */
	STRIPE_REJECTED = -2,     /* Stripe refused the request (4xx): 502 */
	STRIPE_BAD_ANSWER = -3,   /* an answer we cannot read; local failures */
	STRIPE_DB = -4,           /* our database failed (err->db_rc: how) */
	STRIPE_DISABLED = -5      /* Stripe is not configured */
};

/* What went wrong, for logs and for the answer to our client. */
struct stripe_error {
	int rc;                   /* an enum stripe_rc */
	int db_rc;                /* an enum db_rc when rc is STRIPE_DB */
	long status;              /* HTTP status of the last attempt; 0: none */
	int attempts;
	char type[64];            /* Stripe's error.type, "" when none */
	char code[64];            /* Stripe's error.code */
	char param[128];          /* Stripe's error.param */
	char message[512];        /* Stripe's error.message, or ours */
	char request_id[128];     /* Stripe's Request-Id header */
};

struct stripe {
	const char *api_base;     /* borrowed: https://api.stripe.com */
	const char *secret_key;   /* borrowed; never logged */
	long connect_timeout_ms;
	long attempt_timeout_ms;  /* one attempt, connect included */
	long budget_ms;           /* all attempts and pauses of one call */
	int max_retries;          /* retries after the first attempt */
};

/* 1 when stripeEnabled and a secret key is set, else 0. */
int stripe_configured(const struct billing_config *cfg);

/*
 * Fills *s from the config with the defaults for request handlers: T = 10 s
 * per attempt (connect: 5 s), 2T + 5 s for the whole call, 3 retries.
 * STRIPE_TIMEOUT_SECONDS (1-120) sets T until the config has a key for it.
 * Returns 0, or STRIPE_DISABLED when Stripe is not configured.  s borrows
 * from cfg.
 */
int stripe_init(struct stripe *s, const struct billing_config *cfg);

/*
 * One API call: method "GET", "POST" or "DELETE", path such as
 * "/v1/customers"; form is the body of a POST or the query string of a
 * GET/DELETE (may be NULL); idempotency_key (may be NULL) is sent as
 * Idempotency-Key.  Retries as described above.  On STRIPE_OK, *out is the
 * parsed answer (a new reference, caller puts).  Otherwise *out is NULL and
 * err says why; err is filled in either case (attempts, request id).
 */
int stripe_request(struct stripe *s, const char *method, const char *path,
    const struct stripe_form *form, const char *idempotency_key,
    struct json_object **out, struct stripe_error *err);

/*
 * Every object of a list endpoint, following has_more/starting_after: GET
 * path with params (may be NULL; put limit there), page after page, up to
 * max_items objects (more is STRIPE_BAD_ANSWER).  On STRIPE_OK, *items is a
 * new JSON array the caller puts.
 */
int stripe_list(struct stripe *s, const char *path,
    const struct stripe_form *params, size_t max_items,
    struct json_object **items, struct stripe_error *err);

/* Releases this process's curl handle (at exit; the next call makes one). */
void stripe_close(void);

/* -- pure helpers, exposed for the unit tests ----------------------------- */

/*
 * Whether an attempt is worth retrying: transport_failed (no HTTP answer:
 * connect error, timeout, dropped connection), else the status and the
 * Stripe-Should-Retry header (-1 absent, 0 "false", 1 "true").  1 or 0.
 */
int stripe_should_retry(int transport_failed, long status, int should_retry);

/* The pause before retry n (1, 2, 3...): min(500 * 2^(n-1), 5000) ms plus
 * a jitter of up to a quarter of that drawn from rnd.  */
long stripe_backoff_ms(int n, unsigned rnd);

/*
 * Stripe's error object {"error": {"type", "code", "message", "param"}} in
 * body into err (fields left "" when absent).  0, or -1 when body is not one.
 */
int stripe_parse_error(const char *body, size_t len, struct stripe_error *err);

/* A string field of a Stripe object o (NULL: none), or "" when it has no
 * string there.  Borrowed from o. */
const char *stripe_str(struct json_object *o, const char *key);

/*
 * The Stripe id rule, the one copy: 1 when s looks like a Stripe object id,
 * [A-Za-z0-9_], 1..STRIPE_ID_MAX bytes (so it is safe in a URL path and
 * fits our columns).  Every id we send, store or take from an event is
 * checked with it.
 */
int stripe_id_valid(const char *s);

/* -- pushing invoices (stripe_push.c) ------------------------------------- */

/*
 * Pushes one finalized invoice (sent or overdue) of a usage or hybrid
 * account that has a Stripe customer, so that Stripe collects it: a draft
 * invoice, one invoice item per line, a negative item for the credits
 * applied, finalize; then stores the Stripe id on the invoice.  Pushing an
 * invoice twice creates nothing new.  Returns 0 (also when it was already
 * pushed), or -1 with a one-line reason in err.
 */
int stripe_push_invoice(struct app *app, uint64_t invoice_id, char *err,
    size_t errlen);

/*
 * Stripe's invoice sid (ours is invoice_id) made void ("void": POST
 * /v1/invoices/{sid}/void) or paid out of band ("paid": POST .../pay with
 * paid_out_of_band=true), so that Stripe stops collecting it.  An invoice
 * already so in Stripe is success.  STRIPE_OK, or an enum stripe_rc with
 * err filled (STRIPE_REJECTED with status 400: Stripe refused because of
 * the invoice's state, e.g. it is paid).  Call it before the local change.
 */
int stripe_settle_invoice(const struct billing_config *cfg,
    uint64_t invoice_id, const char *sid, const char *to,
    struct stripe_error *err);

/*
 * micros (micro-units of currency) as Stripe's minor units of that currency:
 * cents for most, whole units for zero-decimal currencies (jpy, krw, ...),
 * thousandths for three-decimal ones (bhd, jod, kwd, omr, tnd).  0, or -1
 * when the amount is not exact in minor units.
 */
int stripe_minor_units(const char *currency, int64_t micros, int64_t *out);

/*
 * The job step: pushes every sent invoice of the usage and hybrid modes,
 * finalized at or before now (usec), whose account has a Stripe customer
 * and that has no Stripe id yet.  *pushed (may be NULL) counts the invoices
 * pushed.  Does nothing and returns 0 when Stripe is not configured.
 * Returns 0, or -1 when any push failed (the others are still pushed;
 * err names the first failure).
 */
int stripe_push_pending(struct app *app, int64_t now, unsigned *pushed,
    char *err, size_t errlen);

#endif
