/*
 * id: the one parser of our numeric ids (and counts) given as text: in a
 * path (invoices/{id}), a query (?cursor=, ?limit=), or a value we stored
 * elsewhere (Stripe metadata).
 */
#ifndef BILLING_ID_H
#define BILLING_ID_H

#include <stdint.h>

/* s is a decimal integer of 1 to 19 digits, nothing else, at most
 * INT64_MAX: 0 with the value in *out; else -1 (*out untouched). */
int id_parse(const char *s, int64_t *out);

#endif
