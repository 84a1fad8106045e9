/*
 * grow: growable arrays (see grow.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "grow.h"

void *
grow_array(void *arr, size_t *cap, size_t elem)
{
	size_t n;
	void *na;

	if (elem == 0)
		return NULL;
	if (*cap == 0)
		n = GROW_FIRST;
	else if (*cap > SIZE_MAX / 2 / elem)
		return NULL;   /* twice as many bytes would not fit a size_t */
	else
		n = *cap * 2;
	if (n > SIZE_MAX / elem || (na = realloc(arr, n * elem)) == NULL)
		return NULL;
	*cap = n;
	return na;
}
