/*
 * api_result: the one place where a billing result becomes an HTTP answer.
 */
#include "api.h"
#include "http.h"
#include "log.h"
#include "result.h"

static const struct {
	int status;
	const char *code;
} answers[] = {
	[RESULT_OK] = { 200, "ok" },
	[RESULT_INVALID] = { 400, "invalid_argument" },
	[RESULT_NOT_FOUND] = { 404, "not_found" },
	[RESULT_CONFLICT] = { 409, "conflict" },
	[RESULT_SUSPENDED] = { 403, "account_suspended" },
	[RESULT_UNAVAILABLE] = { 503, "unavailable" },
	[RESULT_STRIPE_REFUSED] = { 502, "stripe_error" },
	[RESULT_ERROR] = { 500, "internal" },
};

int
api_send_result(struct http_request *req, const struct result *r)
{
	enum result_code c = r->code;

	if ((unsigned)c >= sizeof(answers) / sizeof(answers[0]) || c == RESULT_OK)
		c = RESULT_ERROR;
	/* a 500's detail is for the log, never for the client */
	if (c == RESULT_ERROR) {
		log_warnx("req=%s internal error: %s", req->request_id,
		    r->message);
		return http_send_error(req, 500, "internal", "internal error",
		    NULL, NULL);
	}
	if (c == RESULT_UNAVAILABLE)
		log_warnx("req=%s unavailable: %s", req->request_id,
		    r->message);
	return http_send_error(req, answers[c].status, answers[c].code,
	    r->message, r->param, NULL);
}
