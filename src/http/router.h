/*
 * router: the contract's table of endpoints, their roles and handlers, and
 * the dispatch that applies auth, 404/405 and role checks before a handler
 * runs.
 */
#ifndef BILLING_ROUTER_H
#define BILLING_ROUTER_H

#include <stddef.h>

struct app;
struct http_request;

/* Who may call a route. */
enum route_access {
	ACCESS_PUBLIC = 0,  /* no token (health) */
	ACCESS_USER,        /* any valid token: user, admin, operator or
	                     * service */
	ACCESS_ADMIN,       /* role admin; role operator too on a GET route
	                     * (it reads what an admin reads, writes nothing) */
	ACCESS_SERVICE,     /* role service only (the platform's hooks): an
	                     * admin is refused too (docs/hooks.md) */
	ACCESS_STRIPE,      /* no token; the handler checks Stripe-Signature */
	ACCESS_STREAMSPACE  /* no token; the handler checks
	                     * X-StreamSpace-Signature (hooks/streamspace) */
};

typedef int (*route_handler)(struct app *app, struct http_request *req);

struct route {
	const char *method;
	const char *pattern;  /* "invoices/{id}/pdf": {id} matches one segment */
	enum route_access access;
	route_handler handler;
};

/*
 * Finds the route for req->method and req->path.  Returns it (borrowed) and
 * fills req->params; or NULL with *allow set to the comma-separated methods
 * that the path does accept ("" when the path itself is unknown).
 */
const struct route *router_match(struct http_request *req, char *allow,
    size_t allowlen);

/* Authenticates, authorizes and runs the handler; always answers. */
void router_dispatch(struct app *app, struct http_request *req);

#endif
