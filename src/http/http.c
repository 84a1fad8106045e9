/*
 * http: CGI-style request parsing and response writing for one FastCGI
 * exchange, through the sink/source callbacks the caller provides.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "http.h"
#include "json_util.h"
#include "timeutil.h"

void
http_request_reset(struct http_request *req)
{
	free(req->body);
	memset(req, 0, sizeof(*req));
}

static const char *
env_get(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* An id we echo back must be harmless in a header and a log line. */
static int
request_id_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++, n++) {
		if (n >= HTTP_REQUEST_ID_MAX)
			return 0;
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return 0;
	}
	return 1;
}

static void
generate_request_id(char *buf, size_t size)
{
	static unsigned long counter;

	snprintf(buf, size, "%lx-%lx-%lx", (unsigned long)getpid(),
	    (unsigned long)(time_now_usec() & 0xffffffffUL), ++counter);
}

const char *const http_api_prefixes[] = {
	"/api/plugins/billing/",
	"/api/plugins/streamspace-billing/",
	NULL
};

int
http_request_from_env(struct http_request *req, char **envp,
    const char *const *prefixes)
{
	const char *path, *v;
	size_t i, plen;

	req->method = env_get(envp, "REQUEST_METHOD");
	if (req->method == NULL)
		req->method = "GET";
	req->query = env_get(envp, "QUERY_STRING");
	if (req->query == NULL)
		req->query = "";
	req->content_type = env_get(envp, "CONTENT_TYPE");
	if (req->content_type != NULL && *req->content_type == '\0')
		req->content_type = NULL;
	req->authorization = env_get(envp, "HTTP_AUTHORIZATION");
	req->stripe_signature = env_get(envp, "HTTP_STRIPE_SIGNATURE");
	req->streamspace_signature = env_get(envp,
	    "HTTP_X_STREAMSPACE_SIGNATURE");
	req->content_length = -1;
	if ((v = env_get(envp, "CONTENT_LENGTH")) != NULL && *v != '\0') {
		char *end;
		long n = strtol(v, &end, 10);

		req->content_length = (*end == '\0' && n >= 0) ? n : -2;
	}

	v = env_get(envp, "HTTP_X_REQUEST_ID");
	if (!request_id_ok(v))
		v = env_get(envp, "REQUEST_ID");
	if (request_id_ok(v))
		snprintf(req->request_id, sizeof(req->request_id), "%s", v);
	else
		generate_request_id(req->request_id, sizeof(req->request_id));

	/* nginx's normalized, decoded path; never split into PATH_INFO */
	path = env_get(envp, "DOCUMENT_URI");
	if (path == NULL)
		path = env_get(envp, "SCRIPT_NAME");
	if (path == NULL || strlen(path) > HTTP_MAX_PATH)
		return -1;
	for (i = 0; prefixes[i] != NULL; i++) {
		plen = strlen(prefixes[i]);
		if (strncmp(path, prefixes[i], plen) == 0) {
			req->path = path + plen;
			return 0;
		}
	}
	return -1;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static int
sink_write(struct http_request *req, const char *buf, size_t len)
{
	if (req->sink.write == NULL)
		return -1;
	if (req->sink.write(req->sink.ctx, buf, len) != 0)
		return -1;
	req->bytes_out += len;
	return 0;
}

int
http_begin(struct http_request *req, int status, const char *content_type,
    const char *extra_headers)
{
	char head[2048];	/* web/frame-ancestors' header is up to 1.5 KiB */
	int n;

	if (req->headers_sent)
		return -1;
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "X-Request-Id: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "%s%s"
	    "\r\n",
	    status, http_status_text(status), content_type, req->request_id,
	    extra_headers ? extra_headers : "", extra_headers ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	req->status = status;
	req->headers_sent = 1;
	req->bytes_out = 0;
	if (sink_write(req, head, (size_t)n) != 0)
		return -1;
	req->bytes_out = 0; /* count the body only */
	return 0;
}

int
http_write(struct http_request *req, const char *buf, size_t len)
{
	if (!req->headers_sent)
		return -1;
	return sink_write(req, buf, len);
}

int
http_send_json(struct http_request *req, int status, struct json_object *obj)
{
	const char *text;
	size_t len;

	text = json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (text == NULL)
		return -1;
	if (http_begin(req, status, "application/json", NULL) != 0)
		return -1;
	if (http_write(req, text, len) != 0 || http_write(req, "\n", 1) != 0)
		return -1;
	return 0;
}

int
http_send_error(struct http_request *req, int status, const char *code,
    const char *message, const char *param, const char *extra_header)
{
	struct json_object *root, *err;
	const char *text;
	size_t len;
	int rc = -1;

	req->error_code = code;
	if (req->headers_sent)
		return -1; /* too late: the stream is cut short instead */
	root = json_object_new_object();
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (param != NULL)
		json_object_object_add(err, "param", json_object_new_string(param));
	json_object_object_add(root, "error", err);
	text = json_object_to_json_string_length(root,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (text != NULL &&
	    http_begin(req, status, "application/json", extra_header) == 0 &&
	    http_write(req, text, len) == 0 && http_write(req, "\n", 1) == 0)
		rc = 0;
	json_object_put(root);
	return rc;
}

int
http_read_body_max(struct http_request *req, size_t max)
{
	size_t cap, len = 0;
	char too_large[64];
	long n;
	char *buf;

	if (req->body != NULL)
		return 0;
	snprintf(too_large, sizeof(too_large), "request body exceeds %zu bytes",
	    max);
	if (req->content_length > 0 && (size_t)req->content_length > max) {
		http_send_error(req, 413, "payload_too_large", too_large, NULL,
		    NULL);
		return -1;
	}
	if (req->content_length == -2) {
		http_send_error(req, 400, "invalid_argument",
		    "invalid Content-Length", NULL, NULL);
		return -1;
	}
	/* one byte more than allowed tells an oversized chunked body apart */
	cap = req->content_length >= 0 ? (size_t)req->content_length + 1 :
	    max + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		http_send_error(req, 500, "internal", "out of memory", NULL, NULL);
		return -1;
	}
	while (len < cap && req->source.read != NULL &&
	    (n = req->source.read(req->source.ctx, buf + len, cap - len)) > 0)
		len += (size_t)n;
	if (len > max) {
		free(buf);
		http_send_error(req, 413, "payload_too_large", too_large, NULL,
		    NULL);
		return -1;
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	return 0;
}

int
http_read_body(struct http_request *req)
{
	return http_read_body_max(req, HTTP_MAX_BODY);
}

int
http_content_type_is_json(const char *ct)
{
	static const char *const types[] = { "application/json",
	    "application/x-www-form-urlencoded", NULL };
	const char *rest;
	size_t n, i;

	if (ct == NULL)
		return 1;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	/* the type may be followed by white space and parameters only */
	rest = ct + n + strspn(ct + n, " \t");
	if (*rest != '\0' && *rest != ';')
		return 0;
	for (i = 0; types[i] != NULL; i++)
		if (strlen(types[i]) == n && strncasecmp(ct, types[i], n) == 0)
			return 1;
	return 0;
}

int
http_read_json(struct http_request *req, struct json_object **out)
{
	struct json_object *obj;
	const char *why;

	*out = NULL;
	if (!http_content_type_is_json(req->content_type)) {
		http_send_error(req, 415, "unsupported_media_type",
		    "the body must be JSON: Content-Type application/json",
		    NULL, NULL);
		return -1;
	}
	if (http_read_body(req) != 0)
		return -1;
	obj = json_parse_limited(req->body, req->body_len, HTTP_MAX_JSON_DEPTH,
	    &why);
	if (obj == NULL) {
		http_send_error(req, 400, "invalid_json", why, NULL, NULL);
		return -1;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		http_send_error(req, 400, "invalid_json",
		    "request body must be a JSON object", NULL, NULL);
		return -1;
	}
	*out = obj;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes len bytes of a query component into buf.  -1 on bad escapes,
 * NUL bytes, or when it does not fit. */
static int
query_decode(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	if (size == 0)
		return -1;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= size)
			return -1;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return 0;
}

int
http_query_get(const char *query, const char *name, char *buf, size_t size)
{
	const char *p = query, *amp, *eq;
	size_t nlen = strlen(name);

	while (p != NULL && *p != '\0') {
		size_t plen;

		amp = strchr(p, '&');
		plen = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', plen);
		if ((eq ? (size_t)(eq - p) : plen) == nlen &&
		    strncmp(p, name, nlen) == 0) {
			if (eq == NULL) {
				if (size == 0)
					return -1;
				buf[0] = '\0';
				return 1;
			}
			if (query_decode(eq + 1, plen - nlen - 1, buf, size) != 0)
				return -1;
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}
