/*
 * routes: the endpoint table (routes.c): every method and path of
 * docs/api.md, who may call it and its handler.  The router matches a
 * request against it.
 */
#ifndef BILLING_ROUTES_H
#define BILLING_ROUTES_H

#include <stddef.h>

#include "router.h"

extern const struct route routes[];
extern const size_t routes_count;

#endif
