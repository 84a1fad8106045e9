/*
 * router: matching a path against the route table, then the checks every
 * endpoint shares (authentication, role), then the handler.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "app.h"
#include "config.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "router.h"
#include "routes.h"
#include "timeutil.h"

#define WWW_AUTH_MISSING "WWW-Authenticate: Bearer realm=\"billing\""
#define WWW_AUTH_INVALID \
	"WWW-Authenticate: Bearer realm=\"billing\", error=\"invalid_token\""

/* Matches path against pattern; captures {x} segments into req->params. */
static int
pattern_match(const char *pattern, const char *path, struct http_request *req)
{
	const char *p = pattern, *s = path;
	size_t np = 0;

	while (*p != '\0') {
		if (*p == '{') {
			const char *pend = strchr(p, '}');
			size_t seglen = strcspn(s, "/");

			if (pend == NULL || seglen == 0 ||
			    seglen >= sizeof(req->params[0]) ||
			    np >= HTTP_MAX_PARAMS)
				return 0;
			if (req != NULL) {
				memcpy(req->params[np], s, seglen);
				req->params[np][seglen] = '\0';
			}
			np++;
			p = pend + 1;
			s += seglen;
			continue;
		}
		if (*p != *s)
			return 0;
		p++;
		s++;
	}
	if (*s != '\0')
		return 0;
	if (req != NULL)
		req->nparams = np;
	return 1;
}

const struct route *
router_match(struct http_request *req, char *allow, size_t allowlen)
{
	const struct route *found = NULL;
	size_t i, used = 0;

	if (allowlen > 0)
		allow[0] = '\0';
	for (i = 0; i < routes_count; i++) {
		if (!pattern_match(routes[i].pattern, req->path, NULL))
			continue;
		if (strcmp(routes[i].method, req->method) == 0) {
			if (found == NULL) {
				found = &routes[i];
				pattern_match(found->pattern, req->path, req);
			}
			continue;
		}
		if (allow != NULL && strstr(allow, routes[i].method) == NULL) {
			int n = snprintf(allow + used, allowlen - used, "%s%s",
			    used ? ", " : "", routes[i].method);
			if (n > 0 && (size_t)n < allowlen - used)
				used += (size_t)n;
		}
	}
	return found;
}

/* Verifies the bearer token.  Returns 0, or -1 after answering 401. */
static int
authenticate(struct app *app, struct http_request *req)
{
	const char *h = req->authorization, *why = "no token";
	const char *token;
	size_t len;

	if (h == NULL || *h == '\0') {
		http_send_error(req, 401, "unauthenticated",
		    "a bearer token is required", NULL, WWW_AUTH_MISSING);
		return -1;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		http_send_error(req, 401, "unauthenticated",
		    "the Authorization scheme must be Bearer", NULL,
		    WWW_AUTH_INVALID);
		return -1;
	}
	token = h + 7;
	while (*token == ' ')
		token++;
	len = strlen(token);
	while (len > 0 && token[len - 1] == ' ')
		len--;
	if (app->keys == NULL || jwt_verify(app->keys, token, len,
	    time_now_usec() / USEC_PER_SEC, &req->claims, &why) != 0) {
		log_debug("req=%s token refused: %s", req->request_id, why);
		http_send_error(req, 401, "unauthenticated",
		    "invalid or expired token", NULL, WWW_AUTH_INVALID);
		return -1;
	}
	req->authenticated = 1;
	return 0;
}

/*
 * An admin may call every admin route; an operator only those that read
 * (GET): every write (POST, PATCH, DELETE, jobs) is the admin's alone, so a
 * route added later is covered by the method it has.
 */
static int
authorize(const struct route *r, const struct http_request *req)
{
	switch (r->access) {
	case ACCESS_ADMIN:
		if (req->claims.role == JWT_ROLE_OPERATOR)
			return strcmp(r->method, "GET") == 0;
		return req->claims.role == JWT_ROLE_ADMIN;
	case ACCESS_SERVICE:
		/* only the platform reports usage: an admin's token is not
		 * the platform's, and usage must never be typed in by hand */
		return req->claims.role == JWT_ROLE_SERVICE;
	default:
		return 1;
	}
}

void
router_dispatch(struct app *app, struct http_request *req)
{
	const struct route *r;
	char allow[128], header[160];

	if ((r = router_match(req, allow, sizeof(allow))) == NULL) {
		if (allow[0] != '\0') {
			snprintf(header, sizeof(header), "Allow: %s", allow);
			http_send_error(req, 405, "method_not_allowed",
			    "method not allowed for this path", NULL, header);
		} else
			http_send_error(req, 404, "not_found",
			    "no such endpoint", NULL, NULL);
		return;
	}
	if (r->access != ACCESS_PUBLIC && r->access != ACCESS_STRIPE &&
	    r->access != ACCESS_STREAMSPACE) {
		if (authenticate(app, req) != 0)
			return;
		if (!authorize(r, req)) {
			http_send_error(req, 403, "forbidden",
			    "this endpoint needs another role", NULL, NULL);
			return;
		}
	}
	/* enabled: false: the platform's reports are answered, not recorded
	 * (docs/configuration.md); reads and admin corrections still work */
	if (r->access == ACCESS_SERVICE && app->cfg != NULL &&
	    !app->cfg->enabled)
		api_hooks_disabled(req);
	else
		r->handler(app, req);
	if (!req->headers_sent) {
		log_warnx("req=%s handler for %s %s sent no answer",
		    req->request_id, req->method, r->pattern);
		http_send_error(req, 500, "internal", "internal error", NULL,
		    NULL);
	}
}
