/*
 * xfer_util.h - helpers of the suites that move heaps between stores
 * (test_xfer, test_migrate): see xfer_util.c.
 */
#ifndef HEAPFS_XFER_UTIL_H
#define HEAPFS_XFER_UTIL_H

#include "heapstore.h"
#include "test_util.h"

#define LS 4096u

/* The two stores a suite moves heaps between, in fresh directories for
 * every test: the checked fixture xu_setup/xu_teardown. */
extern char *dir_a, *dir_b;
extern hs_store *sa, *sb;
void xu_setup(void);
void xu_teardown(void);
/* An unlinked temporary file holding @len bytes, at offset 0: a stream to
 * receive from. */
int xu_file_of(const void *buf, size_t len);

/* Lines [first, first + n) of @h get content (seed, line). */
void xu_write_lines(hs_heap *h, uint64_t first, uint64_t n, uint64_t seed);
/* Heap @name of line size LS with history: labels "one" and "three", a
 * state, a punch, a shrink, checkpoints 1, 3, 4 (2 deleted). */
void xu_make_history(hs_store *s, const char *name);
/* Every checkpoint (number, identity, label, sizes, content, state) and the
 * live heap of @na in @a read the same as @nb's in @b. */
void xu_expect_same(hs_store *a, const char *na, hs_store *b, const char *nb);
hs_store_totals xu_totals_after_gc(hs_store *s);

/* Heaps, bytes stored after GC and fsck: what a failed transfer keeps. */
struct xu_view {
	hs_store_totals t;
	size_t heaps;
	char names[8][HS_NAME_MAX + 1];
};
void xu_view_take(hs_store *s, struct xu_view *v);
void xu_view_expect(hs_store *s, const struct xu_view *before);

#endif
