/*
 * country: ISO 3166-1 alpha-2 country codes.
 */
#ifndef BILLING_COUNTRY_H
#define BILLING_COUNTRY_H

#include <stddef.h>

/* 1 when code is an assigned ISO 3166-1 alpha-2 code, in capitals ("GB",
 * "DE"); 0 otherwise (lowercase, "UK", "EU", "XK" are not). */
int country_valid(const char *code);

/* How many codes are assigned (249). */
size_t country_count(void);

#endif
