/*
 * corrupt_util.h - what test_heapstore_hostile.c and test_heapstore_corrupt.c
 * share: the fixture state and its teardown, the expected content of the
 * heaps under test, the checks that re-read a heap or an error message, and
 * a main() that runs a suite in a per-run directory.
 *
 * Only the public API is used here; the corrupt suite's raw RocksDB access
 * stays in that suite.
 */
#ifndef HEAPFS_CORRUPT_UTIL_H
#define HEAPFS_CORRUPT_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapstore.h"

#define LS HS_LINE_SIZE_DEFAULT           /* line size of the heaps under test */
#define NLINES 8                          /* lines of g_v1 and g_live */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What each fixture sets up; cu_teardown() releases whatever is set. */
extern char *g_dir;                       /* the store's directory */
extern char *g_aux;                       /* a second directory, if a test needs one */
extern hs_store *g_store;
extern hs_heap *g_heap;                   /* the heap under test */
extern hs_heap *g_other;                  /* a second heap */
extern hs_txn *g_txn;

/* Expected content of the heap under test: checkpoint 1 and the live heap,
 * line by line.  Each fixture fills what its tests compare against. */
extern uint8_t g_v1[NLINES][LS];
extern uint8_t g_live[NLINES][LS];

/* Scratch buffers.  Static, not malloc'd: a failed check leaves a test
 * half-way (CK_FORK=no longjmps out), and must not leave a leak behind. */
extern uint8_t g_rbuf[HS_LINE_SIZE_MAX];  /* what cu_expect_bytes() reads */
extern uint8_t g_wbuf[HS_LINE_SIZE_MAX];  /* what a test writes or reads */

/* Out-parameters start as this, so a call that fails must clear them. */
extern char g_sentinel;
#define SENTINEL ((void *)&g_sentinel)

/* Fixture: an empty store in a new directory, in g_dir and g_store. */
void cu_setup_store(void);

/* Fixture step: cu_setup_store(), then a new heap @name, open in g_heap. */
void cu_setup_heap(const char *name);

/* Fixture: free the transaction, close the heaps and the store, remove
 * g_dir and g_aux; every one of them may be unset. */
void cu_teardown(void);

/* Does @msg hold @phrase not followed by a digit ("line 3", not "line 30")? */
bool cu_has_phrase(const char *msg, const char *phrase);

/* The last error message mentions @phrase (as cu_has_phrase() means it). */
#define cu_expect_msg_has(phrase) do { \
	const char *m_ = hs_error_last(); \
	ck_assert_msg(cu_has_phrase(m_, (phrase)), \
		      "message \"%s\" does not mention \"%s\"", m_, (phrase)); \
} while (0)

/* Offset of the first difference, or -1. */
long cu_first_diff(const uint8_t *a, const uint8_t *b, size_t n);

/* Read [off, off + len) of @version (HS_VERSION_LIVE: hs_heap_read) and
 * compare it with @want. */
void cu_expect_bytes(hs_heap *h, uint64_t version, uint64_t off, size_t len,
		     const uint8_t *want);

/* An hs_version_diff() callback that counts the lines in *(int *)payload. */
int cu_diff_count(uint64_t line_idx, void *payload);

/*
 * main() of a suite: run the suite @make returns inside a new directory set
 * as $TMPDIR, so the store of a failed test (Check's forked child leaves
 * without teardown) does not outlive the run; remove it afterwards.
 * @prog names the executable in messages and in the directory's name.
 */
int cu_main(const char *prog, Suite *(*make)(void));

#endif
