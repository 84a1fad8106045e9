/*
 * resource: what a session holds and metering bills: cpu, memory and
 * storage, with their names, units and configured rates.
 */
#ifndef BILLING_RESOURCE_H
#define BILLING_RESOURCE_H

#include <stdint.h>

struct billing_config;

enum resource { RES_CPU = 0, RES_MEMORY, RES_STORAGE, RES_COUNT };

/* "cpu", "memory", "storage" and their units ("?" when out of range). */
const char *resource_name(enum resource r);
const char *resource_unit(enum resource r);

/* The resource named s (as stored in resource_type): 0, or -1 when s is
 * NULL or names none. */
int resource_parse(const char *s, enum resource *out);

/* The configured unit price of a resource (micro-units). */
int64_t resource_rate(const struct billing_config *cfg, enum resource r);

#endif
