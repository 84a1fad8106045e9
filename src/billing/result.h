/*
 * result: how a billing function says what went wrong, for any caller.
 *
 * Billing code never builds an HTTP answer: it returns an enum result_code
 * (and fills a struct result with the parameter at fault and a message a
 * person can read).  The HTTP layer maps each code to a status and an error
 * code in one place (api_send_result, src/http/api_result.c); the cron
 * helpers print the message.
 */
#ifndef BILLING_RESULT_H
#define BILLING_RESULT_H

enum result_code {
	RESULT_OK = 0,
	RESULT_INVALID,         /* the input is wrong: 400 invalid_argument */
	RESULT_NOT_FOUND,       /* no such thing (or not the caller's): 404 */
	RESULT_CONFLICT,        /* not in this state, or already done: 409 */
	RESULT_SUSPENDED,       /* the account is suspended: 403 */
	RESULT_UNAVAILABLE,     /* database or Stripe unreachable, retry: 503 */
	RESULT_STRIPE_REFUSED,  /* Stripe answered an error of its own: 502 */
	RESULT_ERROR            /* a bug or an unexpected failure: 500 */
};

#define RESULT_MESSAGE_MAX 768  /* room for Stripe's own message (512) */

struct result {
	enum result_code code;
	const char *param;      /* the field at fault (a literal), or NULL */
	char message[RESULT_MESSAGE_MAX];
};

/* Sets r (which may be NULL) and returns code: `return result_set(r,
 * RESULT_CONFLICT, NULL, "invoice %llu is paid", id);`. */
enum result_code result_set(struct result *r, enum result_code code,
    const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The code for an enum db_rc failure (DB_UNAVAILABLE and DB_RETRY:
 * RESULT_UNAVAILABLE; DB_NOT_FOUND: RESULT_NOT_FOUND; DB_DUPLICATE:
 * RESULT_CONFLICT; else RESULT_ERROR), with a message that names no
 * server detail. */
enum result_code result_db(struct result *r, int db_rc);

/*
 * The code for a failed Stripe call (stripe.h): not configured and
 * unreachable are RESULT_UNAVAILABLE; Stripe's refusal RESULT_STRIPE_REFUSED
 * with its message (never one about our credentials); an answer we cannot
 * use RESULT_STRIPE_REFUSED; our database's failure as result_db.
 */
struct stripe_error;
enum result_code result_stripe(struct result *r,
    const struct stripe_error *err);

#endif
