/*
 * test_util.h - helpers shared by the unit suites: a fresh store directory
 * per test (mkdtemp, removed afterwards), opening a store and making a
 * heap, deterministic line content, and running a Check suite with its
 * exit status.
 */
#ifndef HEAPFS_TEST_UTIL_H
#define HEAPFS_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "heapstore.h"

/* A new empty directory under $TMPDIR (or /tmp); the caller frees the path. */
char *tu_tmpdir(const char *tag);

/* rm -rf @path (nftw); a NULL path is a no-op. */
void tu_rmtree(const char *path);

/*
 * Fill @buf with content that is a function of (@a, @b): heap-like (some
 * pointers, some text, some zeros) and different for every pair.
 */
void tu_fill(void *buf, size_t len, uint64_t a, uint64_t b);

/* Open (or create) the store in @dir with a line cache of @cache bytes
 * (0: none) whose idle period and release period are both @idle_ms (0:
 * the defaults); ck_asserts. */
hs_store *tu_store_open(const char *dir, uint64_t cache, unsigned idle_ms);

/* Create heap @name (line size @line, 0: the default) and open it; ck_asserts. */
hs_heap *tu_heap_new(hs_store *s, const char *name, uint32_t line);

/* Read options for a scan of any column family: total order (the refs
 * family has a prefix filter, under which a scan may stop early).  The
 * caller destroys them. */
rocksdb_readoptions_t *tu_scan_ro(void);

/* Run @s with CK_NORMAL output; returns the process exit status. */
int tu_run(Suite *s);

#endif
