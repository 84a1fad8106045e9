/*
 * grow: the library's growable arrays.  An array is a pointer, a count and
 * a capacity, all zero to start; grow_array doubles the capacity when it is
 * full.  It refuses, and never truncates, when memory runs out or the size
 * in bytes would overflow: the caller then fails its whole operation.
 */
#ifndef BILLING_GROW_H
#define BILLING_GROW_H

#include <stddef.h>

#define GROW_FIRST 16   /* elements of the first allocation */

/*
 * Reallocates arr (*cap elements of elem bytes; NULL when *cap is 0) to
 * twice as many (GROW_FIRST the first time).  Returns the array and sets
 * *cap, or returns NULL with arr still valid and *cap unchanged.  Consumes
 * arr only on success; the caller frees what it holds.
 */
void *grow_array(void *arr, size_t *cap, size_t elem);

#endif
