/*
 * result: see result.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "result.h"
#include "stripe.h"

enum result_code
result_set(struct result *r, enum result_code code, const char *param,
    const char *fmt, ...)
{
	va_list ap;

	if (r == NULL)
		return code;
	r->code = code;
	r->param = param;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return code;
}

enum result_code
result_db(struct result *r, int db_rc)
{
	switch (db_rc) {
	case DB_OK:
		return result_set(r, RESULT_OK, NULL, "ok");
	case DB_UNAVAILABLE:
	case DB_RETRY:
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "the database is unavailable, try again");
	case DB_NOT_FOUND:
		return result_set(r, RESULT_NOT_FOUND, NULL, "not found");
	case DB_DUPLICATE:
		return result_set(r, RESULT_CONFLICT, NULL, "already exists");
	default:
		return result_set(r, RESULT_ERROR, NULL, "internal error");
	}
}

enum result_code
result_stripe(struct result *r, const struct stripe_error *err)
{
	switch (err->rc) {
	case STRIPE_DISABLED:
		return result_set(r, RESULT_UNAVAILABLE, NULL,
		    "Stripe is not configured");
	case STRIPE_DB:
		return result_db(r, err->db_rc);
	case STRIPE_UNAVAILABLE:
		return result_set(r, RESULT_UNAVAILABLE, NULL, "Stripe is "
		    "unavailable, try again later");
	case STRIPE_REJECTED:
		/* our credentials are no business of the caller's */
		if (err->status == 401 || err->status == 403 ||
		    strcmp(err->type, "authentication_error") == 0)
			return result_set(r, RESULT_STRIPE_REFUSED, NULL,
			    "Stripe refused the service's credentials");
		return result_set(r, RESULT_STRIPE_REFUSED, NULL, "Stripe "
		    "refused the request: %s", err->message);
	default:
		return result_set(r, RESULT_STRIPE_REFUSED, NULL, "Stripe's "
		    "answer could not be used");
	}
}
