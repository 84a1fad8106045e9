/*
 * http: the request and response of one FastCGI exchange, independent of
 * libfcgi so that the router and handlers can be driven by unit tests.
 *
 * The response is CGI-style: a "Status:" line and headers, a blank line, the
 * body.  Every answer carries X-Request-Id.  Errors are always the contract's
 * JSON: {"error": {"code": ..., "message": ..., "param"?: ...}}.
 */
#ifndef BILLING_HTTP_H
#define BILLING_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

struct json_object;

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_JSON_DEPTH 16
#define HTTP_MAX_PATH 1024
#define HTTP_MAX_PARAMS 2
#define HTTP_REQUEST_ID_MAX 64

/* Where the response bytes go (FCGX_PutStr in the daemon, a buffer in tests). */
struct http_sink {
	int (*write)(void *ctx, const char *buf, size_t len);
	void *ctx;
};

/* Reads the raw body (FCGX_GetStr in the daemon).  Returns bytes read, 0 at end, -1 on error. */
struct http_source {
	long (*read)(void *ctx, char *buf, size_t len);
	void *ctx;
};

struct http_request {
	/* from the FastCGI params (borrowed, valid for the request) */
	const char *method;
	const char *path;           /* below the API prefix, e.g. "invoices/42" */
	const char *query;          /* raw query string, "" when none */
	const char *content_type;   /* NULL when absent */
	const char *authorization;  /* NULL when absent */
	const char *stripe_signature;
	const char *streamspace_signature;  /* X-StreamSpace-Signature */
	long content_length;        /* -1 when absent */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	int64_t start_mono_usec;

	/* path parameters captured by the router ({id}), NUL-terminated copies */
	char params[HTTP_MAX_PARAMS][128];
	size_t nparams;

	/* body, read on demand by http_read_body (owned, freed by http_request_reset) */
	char *body;
	size_t body_len;
	struct http_source source;

	/* identity once authenticated */
	int authenticated;
	struct jwt_claims claims;

	/* response state */
	struct http_sink sink;
	int status;                 /* 0 until headers are sent */
	int headers_sent;
	size_t bytes_out;
	const char *error_code;     /* for the access log */
};

/* Releases what the request owns and zeroes it. */
void http_request_reset(struct http_request *req);

/*
 * Where the API is mounted (docs/api.md), NULL-terminated:
 * /api/plugins/billing/ and, as StreamSpace's plugin registry names the
 * plugin, /api/plugins/streamspace-billing/.  Both serve the same API.
 */
extern const char *const http_api_prefixes[];

/*
 * Fills method, path (relative to the first of prefixes, a NULL-terminated
 * list, that the path starts with; none: -1),
 * query, and headers from a CGI environment array (NULL-terminated
 * "NAME=value" strings, borrowed).  Takes X-Request-Id from REQUEST_ID or
 * HTTP_X_REQUEST_ID when it is safe ([A-Za-z0-9._-], at most 64), else
 * generates one.
 */
int http_request_from_env(struct http_request *req, char **envp,
    const char *const *prefixes);

/* Reads the whole body (up to HTTP_MAX_BODY) into req->body.  Returns 0, or
 * -1 after answering 413 payload_too_large (or 400 on a read error). */
int http_read_body(struct http_request *req);
/* The same with another limit (the Stripe webhook's, whose events can be
 * larger). */
int http_read_body_max(struct http_request *req, size_t max);

/*
 * 1 when a body of Content-Type ct (NULL: none) is read as JSON: bodies are
 * JSON read from their text, and application/json (any parameters), no
 * Content-Type, and curl -d's default application/x-www-form-urlencoded
 * (so that `curl -d '{...}'` works as written) all say so.  Else 0 (415).
 */
int http_content_type_is_json(const char *ct);

/*
 * Reads and parses a JSON object body: checks the Content-Type
 * (http_content_type_is_json, else 415), size (413), syntax (400 invalid_json), depth
 * (400 invalid_json), and that the top level is an object (400).  On success
 * returns 0 and *out is a new reference the caller puts.  On failure the
 * error response has been sent and -1 is returned.
 */
int http_read_json(struct http_request *req, struct json_object **out);

/* Sends status + JSON body (a new serialization of obj; obj stays the caller's). */
int http_send_json(struct http_request *req, int status, struct json_object *obj);

/*
 * Sends the contract's error.  param may be NULL.  extra_header (e.g.
 * "Allow: GET, POST" or "WWW-Authenticate: Bearer") may be NULL.
 */
int http_send_error(struct http_request *req, int status, const char *code,
    const char *message, const char *param, const char *extra_header);

/* Streaming: headers once, then body chunks. */
int http_begin(struct http_request *req, int status, const char *content_type,
    const char *extra_headers);
int http_write(struct http_request *req, const char *buf, size_t len);

/* Query string: copies the percent-decoded value of name into buf.
 * Returns 1 found, 0 absent, -1 malformed or too long. */
int http_query_get(const char *query, const char *name, char *buf, size_t size);

const char *http_status_text(int status);

#endif
