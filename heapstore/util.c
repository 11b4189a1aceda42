/*
 * util.c - small helpers every layer may call: the clock, random
 * identities and growing arrays.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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

/* @n random bytes from the kernel (identities must not collide between
 * nodes, so no fallback to anything weaker). */
int hs_random(void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom((uint8_t *)buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return hs_errno_set(-errno, "getrandom: %s", strerror(errno));
		got += (size_t)r;
	}
	return 0;
}
