/*
 * resource: see resource.h.
 */
#include <string.h>

#include "config.h"
#include "resource.h"

static const char *const names[RES_COUNT] = { "cpu", "memory", "storage" };
static const char *const units[RES_COUNT] = { "core-hours", "gb-hours",
    "gb-months" };

const char *
resource_name(enum resource r)
{
	return (unsigned)r < RES_COUNT ? names[r] : "?";
}

const char *
resource_unit(enum resource r)
{
	return (unsigned)r < RES_COUNT ? units[r] : "?";
}

int
resource_parse(const char *s, enum resource *out)
{
	int r;

	for (r = 0; r < RES_COUNT; r++)
		if (s != NULL && strcmp(s, names[r]) == 0) {
			*out = r;
			return 0;
		}
	return -1;
}

int64_t
resource_rate(const struct billing_config *cfg, enum resource r)
{
	switch (r) {
	case RES_CPU: return cfg->cpu_per_core_hour;
	case RES_MEMORY: return cfg->memory_per_gb_hour;
	default: return cfg->storage_per_gb_month;
	}
}
