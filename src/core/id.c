/*
 * id: see id.h.
 */
#include <stddef.h>
#include <stdint.h>

#include "id.h"

int
id_parse(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t n;

	if (s == NULL || s[0] == '\0')
		return -1;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= 19 || s[n] < '0' || s[n] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[n] - '0');
	}
	if (v > INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}
