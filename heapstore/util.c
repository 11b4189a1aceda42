/*
 * util.c - small helpers every layer may call: the clock and growing
 * arrays.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "heapstore_int.h"

uint64_t hs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Make room for element @n of a growing array (doubling). */
int hs_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t want;
	void *grown;

	if (n < *cap)
		return 0;
	want = *cap ? 2 * *cap : 16;
	if (want > SIZE_MAX / elem || !(grown = realloc(*arr, want * elem)))
		return hs_errno_set(-ENOMEM, "out of memory");
	*arr = grown;
	*cap = want;
	return 0;
}
