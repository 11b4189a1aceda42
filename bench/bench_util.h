/*
 * bench_util.h - what the benchmark programs share (bench_store.c,
 * gc_tool.c, migrate_tool.c): the clock, dying with a message, whole
 * pwrites, a mixing function, heap-like line content, and picking
 * distinct lines.  Static functions: each program takes what
 * it uses.
 */
#ifndef HEAPFS_BENCH_UTIL_H
#define HEAPFS_BENCH_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* `PROGRAM: WHAT: why` and exit 1. */
static inline void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
	exit(1);
}

static inline void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("pwrite");
		}
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
		off += n;
	}
}

/* splitmix64: a fast, well-mixed function of its input. */
static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* ---- heap-like content ------------------------------------------------ */

static const char *const gen_words[] = {
	"the", "heap", "object", "frame", "version", "checkpoint", "line",
	"pointer", "alloc", "free", "list", "node", "value", "key", "string",
	"buffer", "error", "return", "struct", "count", "size", "name", "data",
	"type", "next", "prev", "hash", "table", "user", "session", "request",
	"response", "http://", "json", "true", "false", "null", "index",
	"cache", "store",
};
#define GEN_WORDS (sizeof(gen_words) / sizeof(gen_words[0]))

/*
 * Fill @len bytes with heap-like content, a function of @seed, in 64-byte
 * cells: 37% pointer-like words (one 0x7f.. prefix per line, 16-byte
 * aligned, a quarter NULL), 25% text from a small vocabulary, 18% zeros and
 * 20% counters rising by small steps.  That mix gives zstd -1 about 3.1:1 on
 * 64 KiB lines, FUSE-NOTES.md's figure for heap-like lines.  The seed in the
 * first 8 bytes makes every seed's line distinct.
 */
static inline void line_fill(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t s = mix64(seed);
	uint64_t base = 0x00007f3a00000000ULL | ((s & 0xff) << 24);
	uint64_t ctr = mix64(s) & 0xffff;

	for (size_t i = 0; i + 64 <= len; i += 64) {
		uint64_t r = mix64(s + i);
		unsigned kind = (unsigned)(r % 100);
		uint8_t *c = p + i;

		if (kind < 37) {
			for (int j = 0; j < 8; j++) {
				uint64_t rr = mix64(r + (uint64_t)j);
				uint64_t v = (rr & 7) < 2 ? 0 : base | (rr & 0xffffff0ULL);

				memcpy(c + 8 * j, &v, 8);
			}
		} else if (kind < 62) {
			size_t o = 0;
			uint64_t rr = r;

			while (o < 64) {
				const char *w = gen_words[rr % GEN_WORDS];
				size_t n = strlen(w);

				rr = mix64(rr);
				if (n > 64 - o)
					n = 64 - o;
				memcpy(c + o, w, n);
				o += n;
				if (o < 64)
					c[o++] = ' ';
			}
		} else if (kind < 80) {
			memset(c, 0, 64);
		} else {
			for (int j = 0; j < 8; j++) {
				memcpy(c + 8 * j, &ctr, 8);
				ctr += 1 + (mix64(r + (uint64_t)j) & 3);
			}
		}
	}
	if (len >= 8)
		memcpy(p, &seed, 8);
}

/* Pick @k distinct indexes out of @n (partial Fisher-Yates), seeded. */
static inline uint64_t *choose(uint64_t n, uint64_t k, uint64_t seed)
{
	uint64_t *a = malloc(n * sizeof(*a)), r = mix64(seed ^ 0x5eed);

	if (!a)
		abort();   /* a benchmark without memory has nothing to say */
	for (uint64_t i = 0; i < n; i++)
		a[i] = i;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t j = i + (r = mix64(r)) % (n - i), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
	return a;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
