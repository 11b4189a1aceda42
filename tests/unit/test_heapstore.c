/*
 * test_heapstore.c - the heapstore suite: stores, heaps, byte I/O,
 * checkpoints (seal, read, diff, restore, delete), transactions, dedup and
 * concurrency.  Each test gets a fresh store in its own directory.
 *
 * After every structural change the tests recount references from the
 * lines column family and compare them with the refs table exactly
 * (check_refs), so a batch that forgets a reference cannot pass.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "heapstore_int.h"
#include "test_util.h"

#define LS 65536u
#define KIB 1024u

static char *dir;
static hs_store *st;
static uint64_t cache_bytes;   /* the store's line cache; 0: write-through */

static void store_open(void)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;

	o.cache_bytes = cache_bytes;
	ck_assert_msg(hs_store_open(&st, dir, &o) == 0, "%s", hs_error_last());
}

static void setup(void)
{
	dir = tu_tmpdir("unit");
	ck_assert_ptr_nonnull(dir);
	cache_bytes = 0;
	store_open();
}

/* The same tests again with the daemon's default: a line cache. */
static void setup_cached(void)
{
	dir = tu_tmpdir("unit");
	ck_assert_ptr_nonnull(dir);
	cache_bytes = 256u << 20;
	store_open();
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

static void reopen(void)
{
	hs_store_close(st);
	store_open();
}

static hs_heap *mkheap(const char *name, uint64_t size, uint32_t line)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = NULL;

	p.size_bytes = size;
	p.line_size = line;
	ck_assert_msg(hs_heap_create(st, name, &p) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_open(&h, st, name), 0);
	return h;
}

static void put_line(hs_heap *h, uint64_t line, uint64_t tag)
{
	uint32_t ls;
	uint8_t *buf;
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ls = hi.line_size;
	buf = malloc(ls);
	tu_fill(buf, ls, line, tag);
	ck_assert_int_eq(hs_heap_write(h, buf, ls, line * ls), (ssize_t)ls);
	free(buf);
}

/* expect_line()'s tag for a line at or past its version's end. */
#define PAST_END UINT64_MAX

/*
 * Line @line of @version holds tu_fill(line, tag), or zeros with tag 0,
 * and lies inside that version's size, so the read returns all of it.
 * With PAST_END it starts at or past the version's end: the read returns
 * nothing.  A version sealed with a size too small fails either way.
 */
static void expect_line(hs_heap *h, uint64_t version, uint64_t line, uint64_t tag)
{
	hs_heap_info hi;
	uint8_t *got, *want;
	ssize_t n;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	got = malloc(hi.line_size);
	want = calloc(1, hi.line_size);
	if (tag && tag != PAST_END)
		tu_fill(want, hi.line_size, line, tag);
	n = hs_version_read(h, version, got, hi.line_size, line * hi.line_size);
	ck_assert_msg(n == (tag == PAST_END ? 0 : (ssize_t)hi.line_size),
		      "line %llu of version %llu: read %zd bytes (%s)",
		      (unsigned long long)line, (unsigned long long)version, n,
		      tag == PAST_END ? "want none, past the end" : "want the whole line");
	ck_assert_msg(memcmp(got, want, (size_t)n) == 0,
		      "line %llu of version %llu differs (want tag %llu)",
		      (unsigned long long)line, (unsigned long long)version,
		      (unsigned long long)tag);
	free(got);
	free(want);
}

/*
 * Recount: for every line entry holding a hash, one reference; the refs
 * table must say exactly that for every blob, and every referenced blob
 * must exist.  Returns the number of references.
 */
struct refcount {
	uint8_t hash[HS_HASH_LEN];
	int64_t n;
};

static int refcount_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HS_HASH_LEN);
}

static uint64_t check_refs(void)
{
	rocksdb_t *db = hs_store__db(st);
	rocksdb_readoptions_t *ro = tu_scan_ro();
	rocksdb_iterator_t *it;
	struct refcount *arr = NULL;
	size_t n = 0, cap = 0, u = 0;
	uint64_t total = 0;

	it = rocksdb_create_iterator_cf(db, ro, hs_store__cf(st, HS_CF_LINES));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t vl;
		const char *v = rocksdb_iter_value(it, &vl);

		ck_assert(vl == 0 || vl == HS_HASH_LEN);
		if (!vl)
			continue;
		if (n == cap)
			arr = realloc(arr, (cap = cap ? cap * 2 : 64) * sizeof(*arr));
		memcpy(arr[n].hash, v, HS_HASH_LEN);
		arr[n++].n = 1;
	}
	rocksdb_iter_destroy(it);
	if (n)
		qsort(arr, n, sizeof(*arr), refcount_cmp);
	for (size_t i = 0; i < n; i++) {
		if (u && memcmp(arr[u - 1].hash, arr[i].hash, HS_HASH_LEN) == 0)
			arr[u - 1].n++;
		else
			arr[u++] = arr[i];
	}
	/* Every refs record agrees with the recount (absent means 0). */
	it = rocksdb_create_iterator_cf(db, ro, hs_store__cf(st, HS_CF_REFS));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		struct refcount *f = NULL;
		int64_t want = 0;

		ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
		if (u)
			f = bsearch(k, arr, u, sizeof(*arr), refcount_cmp);
		if (f) {
			want = f->n;
			f->n = -f->n;   /* seen */
		}
		ck_assert_msg((int64_t)hs_le64_get(v) == want,
			      "refcount %lld, recount %lld", (long long)hs_le64_get(v),
			      (long long)want);
	}
	rocksdb_iter_destroy(it);
	for (size_t i = 0; i < u; i++) {
		char *err = NULL, *val;
		size_t vl;

		ck_assert_msg(arr[i].n < 0, "a referenced blob has no refs record");
		total += (uint64_t)-arr[i].n;
		val = rocksdb_get_cf(db, ro, hs_store__cf(st, HS_CF_BLOBS),
				     (const char *)arr[i].hash, HS_HASH_LEN, &vl, &err);
		ck_assert_ptr_null(err);
		ck_assert_msg(val != NULL, "a referenced blob is missing");
		rocksdb_free(val);
	}
	rocksdb_readoptions_destroy(ro);
	free(arr);
	return total;
}

/* ---- store ------------------------------------------------------------ */

START_TEST(store_open_creates_directory_and_reopens)
{
	char *sub;
	hs_store *s2;
	hs_heap *h;
	hs_heap_info hi;
	struct stat sb;

	ck_assert_int_ne(asprintf(&sub, "%s/nested", dir), -1);
	ck_assert_int_eq(hs_store_open(&s2, sub, NULL), 0);
	ck_assert_int_eq(stat(sub, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(hs_heap_create(s2, "app", NULL), 0);
	hs_store_close(s2);
	ck_assert_int_eq(hs_store_open(&s2, sub, NULL), 0);
	ck_assert_int_eq(hs_heap_open(&h, s2, "app"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_str_eq(hi.name, "app");
	ck_assert_uint_eq(hi.line_size, HS_LINE_SIZE_DEFAULT);
	hs_heap_close(h);
	hs_store_close(s2);
	free(sub);
}
END_TEST

START_TEST(store_read_only_refuses_writes)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	hs_heap *h = mkheap("app", 0, 0);
	hs_store *ro;
	uint8_t buf[16] = "0123456789abcde";

	put_line(h, 0, 1);
	hs_heap_close(h);
	hs_store_close(st);
	o.read_only = 1;
	ck_assert_int_eq(hs_store_open(&ro, dir, &o), 0);
	ck_assert_int_eq(hs_heap_open(&h, ro, "app"), 0);
	ck_assert_int_eq(hs_heap_write(h, buf, sizeof(buf), 0), -EROFS);
	ck_assert_int_eq(hs_heap_create(ro, "other", NULL), -EROFS);
	hs_heap_close(h);
	hs_store_close(ro);
	ck_assert_int_eq(hs_store_open(&st, dir, NULL), 0);
	h = NULL;
	ck_assert_int_eq(hs_heap_open(&h, st, "other"), -ENOENT);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	hs_heap_close(h);
}
END_TEST

/* ---- heaps ------------------------------------------------------------ */

START_TEST(heap_create_exists_returns_eexist)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h;
	hs_heap_info hi;

	p.size_bytes = 1 << 20;
	p.line_size = 4096;
	ck_assert_int_eq(hs_heap_create(st, "app", &p), 0);
	p.size_bytes = 5;
	p.line_size = 8192;
	ck_assert_int_eq(hs_heap_create(st, "app", &p), -EEXIST);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "app"));
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 1 << 20);
	ck_assert_uint_eq(hi.line_size, 4096);
	hs_heap_close(h);
}
END_TEST

START_TEST(heap_open_missing_returns_enoent)
{
	hs_heap *h = (hs_heap *)1;

	ck_assert_int_eq(hs_heap_open(&h, st, "nope"), -ENOENT);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(hs_heap_delete(st, "nope"), -ENOENT);
}
END_TEST

START_TEST(heap_properties_persist)
{
	hs_heap_params p = { 8ull << 30, 16384, 1ull << 30, 256ull << 20, 1, 1234, 5678, 0750 };
	hs_heap *h;
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_create(st, "db", &p), 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "db"), 0);
	ck_assert_int_eq(hs_heap_quota_set(h, 2u << 30), 0);
	ck_assert_int_eq(hs_heap_reserve_set(h, 128u << 20), 0);
	hs_heap_close(h);
	reopen();
	ck_assert_int_eq(hs_heap_open(&h, st, "db"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 8ull << 30);
	ck_assert_uint_eq(hi.line_size, 16384);
	ck_assert_uint_eq(hi.quota_bytes, 2ull << 30);
	ck_assert_uint_eq(hi.reserve_bytes, 128u << 20);
	ck_assert_uint_eq(hi.version, 1);
	ck_assert_uint_eq(hi.latest, 0);
	ck_assert_uint_eq(hi.checkpoints, 0);
	ck_assert_uint_eq(hi.lines_used, 0);
	ck_assert_uint_eq(hi.uid, 1234);
	ck_assert_uint_eq(hi.gid, 5678);
	ck_assert_uint_eq(hi.mode, 0750);
	hs_heap_close(h);
}
END_TEST

START_TEST(heap_list_in_name_order)
{
	const char *names[] = { "zeta", "Alpha", "mid.1", "a-b_c" };
	hs_heap_info *arr;
	size_t n;

	ck_assert_int_eq(hs_heap_list(st, &arr, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(arr);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(hs_heap_create(st, names[i], NULL), 0);
	ck_assert_int_eq(hs_heap_list(st, &arr, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(arr[0].name, "Alpha");
	ck_assert_str_eq(arr[1].name, "a-b_c");
	ck_assert_str_eq(arr[2].name, "mid.1");
	ck_assert_str_eq(arr[3].name, "zeta");
	free(arr);
}
END_TEST

START_TEST(heap_delete_drops_everything_and_frees_the_name)
{
	hs_heap *h = mkheap("app", 0, 4096), *h2;
	hs_store_usage u;
	uint8_t buf[4096];

	for (int i = 0; i < 20; i++)
		put_line(h, (uint64_t)i, 7);
	ck_assert_int_eq(hs_version_seal(h, "first", NULL), 0);
	for (int i = 0; i < 10; i++)
		put_line(h, (uint64_t)i, 8);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_uint_eq(check_refs(), 30);
	ck_assert_int_eq(hs_heap_delete(st, "app"), 0);
	/* An open handle stops working rather than reading freed entries. */
	ck_assert_int_eq(hs_heap_read(h, buf, sizeof(buf), 0), -ENOENT);
	ck_assert_int_eq(hs_heap_write(h, buf, sizeof(buf), 0), -ENOENT);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), -ENOENT);
	hs_heap_close(h);
	ck_assert_uint_eq(check_refs(), 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.blobs, 0);
	ck_assert_uint_eq(u.references, 0);
	ck_assert_uint_eq(u.blobs_garbage, 30);
	/* The name is free, and the new heap shares nothing with the old. */
	h2 = mkheap("app", 0, 4096);
	ck_assert_int_eq(hs_heap_read(h2, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(hs_version_find_label(h2, "first", &(uint64_t){ 0 }), -ENOENT);
	hs_heap_close(h2);
	reopen();
	ck_assert_int_eq(hs_heap_open(&h2, st, "app"), 0);
	ck_assert_int_eq(hs_version_list(h2, &(hs_version_info *){ NULL }, &(size_t){ 9 }), 0);
	hs_heap_close(h2);
}
END_TEST

START_TEST(heap_handles_share_state)
{
	hs_heap *a = mkheap("app", 0, 4096), *b;
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_open(&b, st, "app"), 0);
	ck_assert_ptr_eq(a, b);
	put_line(a, 3, 1);
	ck_assert_int_eq(hs_heap_info_get(b, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 4 * 4096);
	ck_assert_uint_eq(hi.lines_used, 1);
	expect_line(b, HS_VERSION_LIVE, 3, 1);
	hs_heap_close(a);
	hs_heap_close(b);
}
END_TEST

/* ---- live I/O --------------------------------------------------------- */

START_TEST(io_unwritten_reads_zero)
{
	hs_heap *h = mkheap("app", 8ull << 30, 0);
	uint8_t *buf = malloc(3 * LS), *zero = calloc(1, 3 * LS);

	memset(buf, 0xaa, 3 * LS);
	ck_assert_int_eq(hs_heap_read(h, buf, 3 * LS, (4ull << 30) - LS / 2), 3 * LS);
	ck_assert_int_eq(memcmp(buf, zero, 3 * LS), 0);
	ck_assert_uint_eq(check_refs(), 0);
	free(buf);
	free(zero);
	hs_heap_close(h);
}
END_TEST

START_TEST(io_unaligned_write_spans_lines)
{
	const size_t len = 3 * 4096 + 123;
	const uint64_t off = 4096 - 7;
	hs_heap *h = mkheap("app", 0, 4096);
	uint8_t *src = malloc(len), *got = malloc(len + 4096 * 2), *want = calloc(1, len + 8192);
	hs_heap_info hi;

	tu_fill(src, len, 1, 2);
	ck_assert_int_eq(hs_heap_write(h, src, len, off), (ssize_t)len);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, off + len);
	ck_assert_uint_eq(hi.lines_used, 5);   /* lines 0..4 are touched */
	memcpy(want + off, src, len);
	/* Reading past the end is short, like pread. */
	ck_assert_int_eq(hs_heap_read(h, got, len + 8192, 0), (ssize_t)(off + len));
	ck_assert_int_eq(memcmp(got, want, off + len), 0);
	ck_assert_int_eq(hs_heap_read(h, got, 10, off + len), 0);
	ck_assert_int_eq(hs_heap_read(h, got, 10, off + len + 100000), 0);
	/* Overwrite a middle slice and read it all back again. */
	tu_fill(src, 5000, 9, 9);
	ck_assert_int_eq(hs_heap_write(h, src, 5000, 6000), 5000);
	memcpy(want + 6000, src, 5000);
	hs_heap_close(h);
	reopen();
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_read(h, got, off + len, 0), (ssize_t)(off + len));
	ck_assert_int_eq(memcmp(got, want, off + len), 0);
	ck_assert_uint_eq(check_refs(), 5);
	hs_heap_close(h);
	free(src);
	free(got);
	free(want);
}
END_TEST

START_TEST(io_zero_lines_are_not_stored)
{
	hs_heap *h = mkheap("app", 0, 0);
	uint8_t *zero = calloc(1, 4 * LS);
	hs_store_usage u;
	hs_heap_info hi;
	uint64_t line;

	ck_assert_int_eq(hs_heap_write(h, zero, 4 * LS, 0), 4 * LS);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 4 * LS);
	ck_assert_uint_eq(hi.lines_used, 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.blobs, 0);
	ck_assert_int_eq(hs_heap_line_next(h, HS_VERSION_LIVE, 0, &line), -ENXIO);
	/* Writing a line, then zeroing it, leaves it zero and unreferenced. */
	put_line(h, 2, 5);
	ck_assert_int_eq(hs_heap_line_next(h, HS_VERSION_LIVE, 0, &line), 0);
	ck_assert_uint_eq(line, 2);
	ck_assert_int_eq(hs_heap_write(h, zero, LS, 2 * LS), LS);
	ck_assert_int_eq(hs_heap_line_next(h, HS_VERSION_LIVE, 0, &line), -ENXIO);
	ck_assert_uint_eq(check_refs(), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.lines_used, 0);
	free(zero);
	hs_heap_close(h);
}
END_TEST

START_TEST(io_punch_zeroes_whole_and_partial_lines)
{
	hs_heap *h = mkheap("app", 0, 4096);
	uint8_t *want = malloc(8 * 4096), *got = malloc(8 * 4096);
	hs_heap_info hi;
	uint64_t line;

	for (int i = 0; i < 8; i++)
		put_line(h, (uint64_t)i, 3);
	for (int i = 0; i < 8; i++)
		tu_fill(want + i * 4096, 4096, (uint64_t)i, 3);
	/* From the middle of line 1 to the middle of line 4. */
	ck_assert_int_eq(hs_heap_punch(h, 4096 + 100, 3 * 4096), 0);
	memset(want + 4096 + 100, 0, 3 * 4096);
	ck_assert_int_eq(hs_heap_read(h, got, 8 * 4096, 0), 8 * 4096);
	ck_assert_int_eq(memcmp(got, want, 8 * 4096), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 8 * 4096);
	ck_assert_uint_eq(hi.lines_used, 6);   /* lines 2 and 3 became empty */
	ck_assert_int_eq(hs_heap_line_next(h, HS_VERSION_LIVE, 2, &line), 0);
	ck_assert_uint_eq(line, 4);
	/* Punching past the end neither grows nor fails. */
	ck_assert_int_eq(hs_heap_punch(h, 7 * 4096, 1 << 20), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 8 * 4096);
	ck_assert_uint_eq(hi.lines_used, 5);
	ck_assert_uint_eq(check_refs(), 5);
	free(want);
	free(got);
	hs_heap_close(h);
}
END_TEST

START_TEST(io_truncate_shrinks_then_grows_with_zeros)
{
	hs_heap *h = mkheap("app", 0, 4096);
	uint8_t *got = malloc(10 * 4096), *want = calloc(1, 10 * 4096);
	hs_heap_info hi;

	for (int i = 0; i < 10; i++)
		put_line(h, (uint64_t)i, 4);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 3 * 4096 + 10), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 3 * 4096 + 10);
	ck_assert_uint_eq(hi.lines_used, 4);
	ck_assert_int_eq(hs_heap_truncate(h, 10 * 4096), 0);
	for (int i = 0; i < 3; i++)
		tu_fill(want + i * 4096, 4096, (uint64_t)i, 4);
	tu_fill(want + 3 * 4096, 10, 3, 4);   /* first 10 bytes of line 3 */
	{
		uint8_t l3[4096];

		tu_fill(l3, 4096, 3, 4);
		memcpy(want + 3 * 4096, l3, 10);
	}
	ck_assert_int_eq(hs_heap_read(h, got, 10 * 4096, 0), 10 * 4096);
	ck_assert_int_eq(memcmp(got, want, 10 * 4096), 0);
	/* The checkpoint still holds the old tail. */
	expect_line(h, 1, 9, 4);
	ck_assert_uint_eq(check_refs(), 10 + 1);   /* v1's ten, and line 3's new head */
	free(got);
	free(want);
	hs_heap_close(h);
}
END_TEST

START_TEST(io_rewrite_same_content_changes_nothing)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_version_info vi;

	put_line(h, 0, 1);
	put_line(h, 1, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	put_line(h, 0, 1);          /* same content: no change */
	put_line(h, 1, 2);          /* changed ... */
	put_line(h, 1, 1);          /* ... and back: no change */
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_version_info_get(h, 2, &vi), 0);
	ck_assert_uint_eq(vi.lines_changed, 0);
	ck_assert_uint_eq(vi.bytes_changed, 0);
	ck_assert_uint_eq(check_refs(), 2);
	hs_heap_close(h);
}
END_TEST

/* ---- versions --------------------------------------------------------- */

START_TEST(version_seal_numbers_and_reads_old_content)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_version_info *arr;
	size_t n;
	uint64_t v;

	for (uint64_t ver = 1; ver <= 3; ver++) {
		for (uint64_t l = 0; l < ver * 2; l++)
			put_line(h, l, ver);
		ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
		ck_assert_uint_eq(v, ver);
	}
	put_line(h, 0, 99);
	for (uint64_t ver = 1; ver <= 3; ver++) {
		for (uint64_t l = 0; l < 6; l++)
			expect_line(h, ver, l, l < ver * 2 ? ver : PAST_END);
	}
	expect_line(h, HS_VERSION_LIVE, 0, 99);
	ck_assert_int_eq(hs_version_list(h, &arr, &n), 0);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(arr[i].version, i + 1);
		ck_assert_uint_eq(arr[i].parent, i);
		ck_assert_uint_eq(arr[i].lines_changed, (i + 1) * 2);
		ck_assert_uint_eq(arr[i].lines_used, (i + 1) * 2);
		ck_assert_uint_eq(arr[i].size_bytes, (i + 1) * 2 * 4096);
		ck_assert_uint_gt(arr[i].bytes_changed, 0);
		ck_assert_uint_lt(arr[i].bytes_changed, (i + 1) * 2 * 4096);
		ck_assert_uint_gt(arr[i].created_ns, 0);
	}
	free(arr);
	/* A read beyond a checkpoint's own size is short. */
	ck_assert_int_eq(hs_version_read(h, 1, (uint8_t[8]){ 0 }, 8, 2 * 4096), 0);
	hs_heap_close(h);
	reopen();
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	expect_line(h, 2, 3, 2);
	expect_line(h, HS_VERSION_LIVE, 0, 99);
	ck_assert_uint_eq(check_refs(), 2 + 4 + 6 + 1);
	hs_heap_close(h);
}
END_TEST

START_TEST(version_labels)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_version_info vi;
	uint64_t v;

	put_line(h, 0, 1);
	ck_assert_int_eq(hs_version_seal(h, "before-upgrade", &v), 0);
	ck_assert_int_eq(hs_version_seal(h, "before-upgrade", NULL), -EEXIST);
	ck_assert_int_eq(hs_version_seal(h, "42", NULL), -EINVAL);
	ck_assert_int_eq(hs_version_seal(h, "latest", NULL), -EINVAL);
	ck_assert_int_eq(hs_version_find_label(h, "before-upgrade", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(hs_version_info_get(h, 1, &vi), 0);
	ck_assert_str_eq(vi.label, "before-upgrade");
	ck_assert_int_eq(hs_version_seal(h, "", &v), 0);   /* unlabelled */
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(hs_version_delete(h, 1), 0);
	ck_assert_int_eq(hs_version_find_label(h, "before-upgrade", &v), -ENOENT);
	ck_assert_int_eq(hs_version_seal(h, "before-upgrade", &v), 0);
	ck_assert_uint_eq(v, 3);
	hs_heap_close(h);
}
END_TEST

struct diffs {
	uint64_t lines[64];
	size_t n;
};

static int collect_diff(uint64_t line, void *payload)
{
	struct diffs *d = payload;

	d->lines[d->n++] = line;
	return 0;
}

static int stop_diff(uint64_t line, void *payload)
{
	(void)line, (void)payload;
	return 7;
}

START_TEST(version_diff_lists_changed_lines)
{
	hs_heap *h = mkheap("app", 0, 4096);
	struct diffs d = { .n = 0 };

	for (uint64_t l = 0; l < 8; l++)
		put_line(h, l, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 1 */
	put_line(h, 5, 2);
	put_line(h, 2, 2);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 2 */
	put_line(h, 2, 1);                                     /* back to v1's */
	put_line(h, 7, 3);
	ck_assert_int_eq(hs_heap_punch(h, 0, 4096), 0);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 3 */
	ck_assert_int_eq(hs_version_diff(h, 1, 3, collect_diff, &d), 0);
	ck_assert_uint_eq(d.n, 3);
	ck_assert_uint_eq(d.lines[0], 0);
	ck_assert_uint_eq(d.lines[1], 5);
	ck_assert_uint_eq(d.lines[2], 7);
	d.n = 0;   /* symmetric */
	ck_assert_int_eq(hs_version_diff(h, 3, 1, collect_diff, &d), 0);
	ck_assert_uint_eq(d.n, 3);
	d.n = 0;
	ck_assert_int_eq(hs_version_diff(h, 1, 2, collect_diff, &d), 0);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_uint_eq(d.lines[0], 2);
	ck_assert_uint_eq(d.lines[1], 5);
	d.n = 0;
	put_line(h, 6, 4);
	ck_assert_int_eq(hs_version_diff(h, 3, HS_VERSION_LIVE, collect_diff, &d), 0);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(d.lines[0], 6);
	ck_assert_int_eq(hs_version_diff(h, 1, 3, stop_diff, NULL), 7);
	ck_assert_int_eq(hs_version_diff(h, 1, 9, collect_diff, &d), -ENOENT);
	hs_heap_close(h);
}
END_TEST

START_TEST(version_restore_makes_live_equal_and_keeps_later)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_heap_info hi;
	uint64_t v;

	for (uint64_t l = 0; l < 4; l++)
		put_line(h, l, 1);
	ck_assert_int_eq(hs_version_seal(h, "good", NULL), 0);      /* 1: 4 lines */
	for (uint64_t l = 2; l < 8; l++)
		put_line(h, l, 2);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);        /* 2: 8 lines */
	put_line(h, 0, 3);                                          /* live damage */
	ck_assert_int_eq(hs_heap_punch(h, 4096, 4096), 0);
	ck_assert_int_eq(hs_heap_restore(h, 1), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 4 * 4096);
	ck_assert_uint_eq(hi.lines_used, 4);
	ck_assert_uint_eq(hi.checkpoints, 2);
	for (uint64_t l = 0; l < 4; l++)
		expect_line(h, HS_VERSION_LIVE, l, 1);
	for (uint64_t l = 0; l < 8; l++)
		expect_line(h, 2, l, l < 2 ? 1 : 2);
	/* Growing again shows zeros, not the later checkpoint's lines. */
	ck_assert_int_eq(hs_heap_truncate(h, 8 * 4096), 0);
	expect_line(h, HS_VERSION_LIVE, 6, 0);
	/* A checkpoint after the restore holds the restored content. */
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
	ck_assert_uint_eq(v, 3);
	expect_line(h, 3, 3, 1);
	expect_line(h, 3, 5, 0);
	ck_assert_int_eq(hs_heap_restore(h, 2), 0);
	expect_line(h, HS_VERSION_LIVE, 5, 2);
	ck_assert_int_eq(hs_heap_restore(h, 77), -ENOENT);
	expect_line(h, HS_VERSION_LIVE, 5, 2);
	check_refs();
	hs_heap_close(h);
}
END_TEST

START_TEST(version_delete_middle_keeps_neighbours_exact)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_version_info *arr;
	hs_version_info vi;
	size_t n;

	put_line(h, 0, 1);
	put_line(h, 1, 1);
	put_line(h, 2, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 1 */
	put_line(h, 0, 2);                                     /* superseded in 3 */
	put_line(h, 1, 2);                                     /* must move up to 3 */
	ck_assert_int_eq(hs_heap_punch(h, 2 * 4096, 4096), 0); /* zero must move too */
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 2 */
	put_line(h, 0, 3);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 3 */
	ck_assert_int_eq(hs_version_delete(h, 2), 0);
	ck_assert_int_eq(hs_version_info_get(h, 2, &vi), -ENOENT);
	ck_assert_int_eq(hs_version_read(h, 2, (uint8_t[8]){ 0 }, 8, 0), -ENOENT);
	expect_line(h, 1, 0, 1);
	expect_line(h, 1, 1, 1);
	expect_line(h, 1, 2, 1);
	expect_line(h, 3, 0, 3);
	expect_line(h, 3, 1, 2);
	expect_line(h, 3, 2, 0);
	expect_line(h, HS_VERSION_LIVE, 1, 2);
	ck_assert_int_eq(hs_version_info_get(h, 3, &vi), 0);
	ck_assert_uint_eq(vi.parent, 1);
	ck_assert_uint_eq(vi.lines_changed, 3);
	ck_assert_int_eq(hs_version_list(h, &arr, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(arr);
	/* line 0 (v1), line 1 (v1, v3), line 2 (v1), line 0 (v3) */
	ck_assert_uint_eq(check_refs(), 5);
	hs_heap_close(h);
}
END_TEST

START_TEST(version_delete_latest_and_oldest)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_heap_info hi;
	uint64_t v;

	put_line(h, 0, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 1 */
	put_line(h, 1, 2);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);   /* 2 */
	ck_assert_int_eq(hs_version_delete(h, 2), 0);          /* merges into live */
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.latest, 1);
	ck_assert_uint_eq(hi.checkpoints, 1);
	expect_line(h, HS_VERSION_LIVE, 1, 2);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
	ck_assert_uint_eq(v, 3);                               /* numbers never reused */
	expect_line(h, 3, 1, 2);
	ck_assert_int_eq(hs_version_delete(h, 1), 0);
	expect_line(h, 3, 0, 1);
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	ck_assert_int_eq(hs_version_delete(h, 3), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.latest, 0);
	ck_assert_uint_eq(hi.checkpoints, 0);
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	expect_line(h, HS_VERSION_LIVE, 1, 2);
	ck_assert_uint_eq(check_refs(), 2);
	hs_heap_close(h);
}
END_TEST

/*
 * Seal @h and return the key comparisons RocksDB made for it in this
 * thread: every Get, Seek and Next makes at least one, so a walk over N
 * entries costs N or more, wherever the entries are (memtable or tables).
 */
static uint64_t seal_comparisons(hs_heap *h)
{
	rocksdb_perfcontext_t *pc = rocksdb_perfcontext_create();
	uint64_t n;

	ck_assert_ptr_nonnull(pc);
	rocksdb_set_perf_level(rocksdb_enable_count);
	rocksdb_perfcontext_reset(pc);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	n = rocksdb_perfcontext_metric(pc, rocksdb_user_key_comparison_count);
	rocksdb_set_perf_level(rocksdb_disable);
	rocksdb_perfcontext_destroy(pc);
	return n;
}

/*
 * 4000 lines of an 8 GiB heap, then 2 dirty ones: sealing them costs a
 * few hundred key comparisons at most, not one per line the heap holds
 * (an O(heap) seal makes 8000 here); sealing 200 dirty lines costs at
 * least one each, so the count does see the seal's walk.
 */
START_TEST(version_seal_costs_dirty_lines_only)
{
	const uint64_t n_lines = 4000, stride = 509;
	hs_heap *h = mkheap("big", 8ull << 30, 4096);
	hs_version_info vi;
	uint64_t cost_2, cost_200;

	for (uint64_t l = 0; l < n_lines; l++)
		put_line(h, l * stride, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	put_line(h, stride, 2);
	put_line(h, 5, 2);
	cost_2 = seal_comparisons(h);
	ck_assert_int_eq(hs_version_info_get(h, 2, &vi), 0);
	ck_assert_uint_eq(vi.lines_changed, 2);
	ck_assert_uint_eq(vi.lines_used, n_lines + 1);
	ck_assert_uint_eq(vi.size_bytes, 8ull << 30);
	ck_assert_msg(cost_2 > 0 && cost_2 < n_lines / 4,
		      "sealing 2 dirty lines of %llu made %llu key comparisons",
		      (unsigned long long)n_lines, (unsigned long long)cost_2);
	for (uint64_t l = 0; l < 200; l++)
		put_line(h, l * stride, 3);
	cost_200 = seal_comparisons(h);
	ck_assert_int_eq(hs_version_info_get(h, 3, &vi), 0);
	ck_assert_uint_eq(vi.lines_changed, 200);
	ck_assert_msg(cost_200 >= 200, "sealing 200 dirty lines made %llu key comparisons",
		      (unsigned long long)cost_200);
	hs_heap_close(h);
}
END_TEST

START_TEST(line_next_walks_sparse_lines_per_version)
{
	hs_heap *h = mkheap("app", 1ull << 40, 0);
	uint64_t line, found[8];
	size_t n = 0;

	put_line(h, 3, 1);
	put_line(h, 1000000, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	put_line(h, 77, 2);
	ck_assert_int_eq(hs_heap_punch(h, 3 * (uint64_t)LS, LS), 0);
	for (uint64_t from = 0; hs_heap_line_next(h, HS_VERSION_LIVE, from, &line) == 0;
	     from = line + 1)
		found[n++] = line;
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(found[0], 77);
	ck_assert_uint_eq(found[1], 1000000);
	n = 0;
	for (uint64_t from = 0; hs_heap_line_next(h, 1, from, &line) == 0; from = line + 1)
		found[n++] = line;
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(found[0], 3);
	ck_assert_uint_eq(found[1], 1000000);
	ck_assert_int_eq(hs_heap_line_next(h, 5, 0, &line), -ENOENT);
	hs_heap_close(h);
}
END_TEST

/* ---- the state file ---------------------------------------------------- */

/* The first @len bytes of the state of @version hold tu_fill(a, b). */
static void expect_state(hs_heap *h, uint64_t version, size_t len, uint64_t a,
			 uint64_t b)
{
	uint8_t *got = malloc(len), *want = malloc(len);

	tu_fill(want, len, a, b);
	ck_assert_int_eq(hs_state_read(h, version, got, len, 0), (ssize_t)len);
	ck_assert_msg(memcmp(got, want, len) == 0, "state of version %llu differs",
		      (unsigned long long)version);
	free(got);
	free(want);
}

START_TEST(state_is_a_second_byte_space)
{
	hs_heap *h = mkheap("app", 0, 4096);
	const size_t n = 3 * 4096 + 100;   /* spans four lines */
	uint8_t *buf = malloc(n), one = 0;
	hs_heap_info hi;

	tu_fill(buf, n, 7, 1);
	ck_assert_int_eq(hs_state_write(h, buf, n, 0), (ssize_t)n);
	put_line(h, 0, 9);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.state_size, n);
	ck_assert_uint_eq(hi.size_bytes, 4096);
	ck_assert_uint_eq(hi.lines_used, 1);   /* heap lines only */
	expect_state(h, HS_VERSION_LIVE, n, 7, 1);
	expect_line(h, HS_VERSION_LIVE, 0, 9);
	/* Neither space's truncate touches the other. */
	ck_assert_int_eq(hs_heap_truncate(h, 0), 0);
	expect_state(h, HS_VERSION_LIVE, n, 7, 1);
	put_line(h, 1, 9);
	ck_assert_int_eq(hs_state_truncate(h, 5000), 0);
	expect_line(h, HS_VERSION_LIVE, 1, 9);
	expect_state(h, HS_VERSION_LIVE, 5000, 7, 1);
	/* Growing again reads zeros past the old end. */
	ck_assert_int_eq(hs_state_truncate(h, 9000), 0);
	ck_assert_int_eq(hs_state_read(h, HS_VERSION_LIVE, buf, 9000, 0), 9000);
	for (size_t i = 5000; i < 9000; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_int_eq(hs_state_read(h, HS_VERSION_LIVE, buf, 10, 9000), 0);
	/* The 16 MiB limit: a write across it is cut short, one at it fails. */
	ck_assert_int_eq(hs_state_write(h, &one, 1, HS_STATE_SIZE_MAX), -EFBIG);
	ck_assert_int_eq(hs_state_write(h, buf, 10, HS_STATE_SIZE_MAX - 4), 4);
	ck_assert_int_eq(hs_state_truncate(h, HS_STATE_SIZE_MAX + 1), -EFBIG);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.state_size, HS_STATE_SIZE_MAX);
	ck_assert_uint_eq(hi.lines_used, 1);
	ck_assert_int_eq(hs_state_read(h, HS_VERSION_LIVE, buf, 10, HS_STATE_SIZE_MAX - 4), 4);
	/* Sizes survive a reopen. */
	hs_heap_close(h);
	reopen();
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.state_size, HS_STATE_SIZE_MAX);
	ck_assert_uint_eq(hi.size_bytes, 2 * 4096);
	expect_state(h, HS_VERSION_LIVE, 5000, 7, 1);
	check_refs();
	ck_assert_int_eq(hs_store_fsck(st, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
	hs_heap_close(h);
	free(buf);
}
END_TEST

START_TEST(state_is_checkpointed_restored_and_diffed)
{
	hs_heap *h = mkheap("app", 0, 4096);
	uint8_t buf[6000];
	struct diffs d = { .n = 0 };
	hs_version_info vi;
	hs_heap_info hi;

	tu_fill(buf, sizeof(buf), 1, 1);
	ck_assert_int_eq(hs_state_write(h, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	put_line(h, 3, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);          /* 1 */
	ck_assert_int_eq(hs_version_info_get(h, 1, &vi), 0);
	ck_assert_uint_eq(vi.state_size, sizeof(buf));
	ck_assert_uint_eq(vi.lines_changed, 1);                       /* heap lines */
	tu_fill(buf, 100, 2, 2);
	ck_assert_int_eq(hs_state_write(h, buf, 100, 4096), 100);     /* state line 1 */
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);          /* 2 */
	ck_assert_int_eq(hs_version_info_get(h, 2, &vi), 0);
	ck_assert_uint_eq(vi.lines_changed, 0);
	ck_assert_uint_gt(vi.bytes_changed, 0);
	ck_assert_int_eq(hs_state_truncate(h, 10), 0);                /* live damage */
	put_line(h, 3, 3);
	/* The diff names state lines after heap lines, with the state bit. */
	ck_assert_int_eq(hs_version_diff(h, 1, HS_VERSION_LIVE, collect_diff, &d), 0);
	ck_assert_uint_eq(d.n, 3);
	ck_assert_uint_eq(d.lines[0], 3);
	ck_assert_uint_eq(d.lines[1], HS_STATE_LINE | 0);
	ck_assert_uint_eq(d.lines[2], HS_STATE_LINE | 1);
	/* Each checkpoint reads its own state. */
	expect_state(h, 1, 6000, 1, 1);
	ck_assert_int_eq(hs_state_read(h, 2, buf, sizeof(buf), 4096), 6000 - 4096);
	{
		uint8_t want[100];

		tu_fill(want, 100, 2, 2);
		ck_assert_int_eq(memcmp(buf, want, 100), 0);
	}
	ck_assert_int_eq(hs_state_read(h, HS_VERSION_LIVE, buf, sizeof(buf), 0), 10);
	/* Restore brings back heap and state, sizes included. */
	ck_assert_int_eq(hs_heap_restore(h, 1), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.state_size, 6000);
	expect_state(h, HS_VERSION_LIVE, 6000, 1, 1);
	expect_line(h, HS_VERSION_LIVE, 3, 1);
	/* Deleting checkpoint 1 keeps checkpoint 2's state whole; 2 takes
	 * over heap line 3 and state line 0, and counts the heap line only. */
	ck_assert_int_eq(hs_version_delete(h, 1), 0);
	ck_assert_int_eq(hs_version_info_get(h, 2, &vi), 0);
	ck_assert_uint_eq(vi.lines_changed, 1);
	ck_assert_int_eq(hs_state_read(h, 2, buf, 4096, 0), 4096);
	{
		uint8_t want[6000];

		tu_fill(want, sizeof(want), 1, 1);
		ck_assert_int_eq(memcmp(buf, want, 4096), 0);
	}
	check_refs();
	ck_assert_int_eq(hs_store_fsck(st, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
	hs_heap_close(h);
}
END_TEST

/* ---- transactions ----------------------------------------------------- */

START_TEST(txn_reads_snapshot_and_commits_atomically)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_txn *t;
	uint8_t a[4096], b[4096], got[4096];

	put_line(h, 0, 1);
	put_line(h, 1, 1);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	put_line(h, 2, 9);                    /* after the snapshot */
	ck_assert_int_eq(hs_txn_read(t, got, 4096, 2 * 4096), 0);   /* beyond snapshot size */
	tu_fill(a, 4096, 0, 5);
	tu_fill(b, 4096, 1, 5);
	ck_assert_int_eq(hs_txn_write(t, a, 4096, 0), 4096);
	ck_assert_int_eq(hs_txn_write(t, b + 10, 100, 4096 + 10), 100);   /* partial */
	/* Staged writes are visible to the transaction only. */
	ck_assert_int_eq(hs_txn_read(t, got, 4096, 0), 4096);
	ck_assert_int_eq(memcmp(got, a, 4096), 0);
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	ck_assert_int_eq(hs_txn_commit(t), 0);
	expect_line(h, HS_VERSION_LIVE, 0, 5);
	ck_assert_int_eq(hs_heap_read(h, got, 4096, 4096), 4096);
	tu_fill(a, 4096, 1, 1);
	memcpy(a + 10, b + 10, 100);
	ck_assert_int_eq(memcmp(got, a, 4096), 0);
	expect_line(h, HS_VERSION_LIVE, 2, 9);   /* the other writer's line stays */
	ck_assert_int_eq(hs_txn_commit(t), 0);   /* idempotent */
	ck_assert_int_eq(hs_txn_write(t, a, 1, 0), -EINVAL);
	hs_txn_free(t);
	ck_assert_uint_eq(check_refs(), 3);
	hs_heap_close(h);
}
END_TEST

START_TEST(txn_commit_conflict_returns_ebusy)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_txn *t1, *t2;
	uint8_t buf[4096];

	put_line(h, 0, 1);
	put_line(h, 1, 1);
	ck_assert_int_eq(hs_txn_begin(&t1, h), 0);
	ck_assert_int_eq(hs_txn_begin(&t2, h), 0);
	tu_fill(buf, 4096, 0, 2);
	ck_assert_int_eq(hs_txn_write(t1, buf, 4096, 0), 4096);
	tu_fill(buf, 4096, 1, 2);
	ck_assert_int_eq(hs_txn_write(t1, buf, 4096, 4096), 4096);
	tu_fill(buf, 4096, 1, 3);
	ck_assert_int_eq(hs_txn_write(t2, buf, 4096, 4096), 4096);
	ck_assert_int_eq(hs_txn_commit(t2), 0);
	ck_assert_int_eq(hs_txn_commit(t1), -EBUSY);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "line 1"));
	/* Nothing of t1 was written: line 0 keeps its old content too. */
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	expect_line(h, HS_VERSION_LIVE, 1, 3);
	ck_assert_int_eq(hs_txn_commit(t1), -EINVAL);
	hs_txn_free(t1);
	hs_txn_free(t2);
	/* A plain write also conflicts with a transaction that staged the line. */
	ck_assert_int_eq(hs_txn_begin(&t1, h), 0);
	ck_assert_int_eq(hs_txn_punch(t1, 0, 4096), 0);
	put_line(h, 0, 4);
	ck_assert_int_eq(hs_txn_commit(t1), -EBUSY);
	hs_txn_free(t1);
	expect_line(h, HS_VERSION_LIVE, 0, 4);
	ck_assert_uint_eq(check_refs(), 2);
	hs_heap_close(h);
}
END_TEST

START_TEST(txn_free_without_commit_aborts)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_txn *t;
	hs_heap_info hi;
	uint8_t buf[4096];

	put_line(h, 0, 1);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	tu_fill(buf, 4096, 0, 2);
	ck_assert_int_eq(hs_txn_write(t, buf, 4096, 0), 4096);
	ck_assert_int_eq(hs_txn_write(t, buf, 4096, 10 * 4096), 4096);
	hs_txn_free(t);
	expect_line(h, HS_VERSION_LIVE, 0, 1);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 4096);
	ck_assert_uint_eq(check_refs(), 1);
	hs_heap_close(h);
}
END_TEST

START_TEST(txn_grows_heap_and_punches)
{
	hs_heap *h = mkheap("app", 0, 4096);
	hs_txn *t;
	hs_heap_info hi;
	uint8_t buf[4096];

	put_line(h, 0, 1);
	put_line(h, 1, 1);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_txn_punch(t, 0, 4096), 0);
	tu_fill(buf, 4096, 5, 1);
	ck_assert_int_eq(hs_txn_write(t, buf, 4096, 5 * 4096), 4096);
	ck_assert_int_eq(hs_txn_commit(t), 0);
	hs_txn_free(t);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, 6 * 4096);
	ck_assert_uint_eq(hi.lines_used, 2);
	expect_line(h, HS_VERSION_LIVE, 0, 0);
	expect_line(h, HS_VERSION_LIVE, 1, 1);
	expect_line(h, HS_VERSION_LIVE, 5, 1);
	hs_heap_close(h);
}
END_TEST

/* ---- dedup ------------------------------------------------------------ */

START_TEST(dedup_two_heaps_share_one_blob)
{
	hs_heap *a = mkheap("a", 0, 4096), *b = mkheap("b", 0, 4096);
	uint8_t line[4096];
	hs_store_usage u;
	char *val, *err = NULL;
	size_t vl;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	uint8_t hash[HS_HASH_LEN];
	unsigned int hl;

	tu_fill(line, 4096, 42, 42);
	ck_assert_int_eq(hs_heap_write(a, line, 4096, 0), 4096);
	ck_assert_int_eq(hs_heap_write(b, line, 4096, 7 * 4096), 4096);
	ck_assert_int_eq(hs_store_flush(st), 0);   /* the line cache's, if any */
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.blobs, 1);
	ck_assert_uint_eq(u.references, 2);
	ck_assert_uint_eq(u.bytes_unique, 4096);
	ck_assert_uint_eq(u.bytes_referenced, 2 * 4096);
	/* The refs record under SHA-256(line) says 2. */
	ck_assert_int_eq(EVP_Digest(line, 4096, hash, &hl, EVP_sha256(), NULL), 1);
	val = rocksdb_get_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_REFS),
			     (const char *)hash, HS_HASH_LEN, &vl, &err);
	ck_assert_ptr_null(err);
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
	ck_assert_int_eq((int64_t)hs_le64_get((const uint8_t *)val), 2);
	ck_assert_uint_eq(hs_le32_get((const uint8_t *)val + 8), u.bytes_stored);
	rocksdb_free(val);
	rocksdb_readoptions_destroy(ro);
	/* Checkpoints that keep the line add references, not blobs. */
	ck_assert_int_eq(hs_version_seal(a, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_write(a, line, 4096, 4096), 4096);
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.blobs, 1);
	ck_assert_uint_eq(u.references, 3);
	hs_heap_close(b);
	ck_assert_int_eq(hs_heap_delete(st, "b"), 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.references, 2);
	{
		uint8_t got[4096];

		ck_assert_int_eq(hs_heap_read(a, got, 4096, 4096), 4096);
		ck_assert_int_eq(memcmp(got, line, 4096), 0);
	}
	ck_assert_uint_eq(check_refs(), 2);
	hs_heap_close(a);
}
END_TEST

/* ---- concurrency ------------------------------------------------------ */

struct worker {
	hs_heap *h;
	int id;
	int n;
	int failures;
};

/* Each worker owns every 4th line; all write at once. */
static void *write_own_lines(void *p)
{
	struct worker *w = p;
	uint8_t buf[4096];

	for (int i = 0; i < w->n; i++) {
		uint64_t line = (uint64_t)(i * 4 + w->id);

		tu_fill(buf, sizeof(buf), line, 100 + (uint64_t)i % 3);
		if (hs_heap_write(w->h, buf, sizeof(buf), line * 4096) != 4096)
			w->failures++;
	}
	return NULL;
}

START_TEST(concurrent_writers_to_different_lines)
{
	hs_heap *h = mkheap("app", 0, 4096);
	pthread_t th[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .h = h, .id = i, .n = 200 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, write_own_lines, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	for (uint64_t line = 0; line < 800; line++)
		expect_line(h, HS_VERSION_LIVE, line, 100 + (line / 4) % 3);
	ck_assert_uint_eq(check_refs(), 800);
	hs_heap_close(h);
}
END_TEST

/* Each worker owns a 16-byte slot of the same line: no update may be lost. */
static void *write_slots(void *p)
{
	struct worker *w = p;
	uint8_t slot[16];

	for (int i = 0; i < w->n; i++) {
		memset(slot, (uint8_t)(i + 1), sizeof(slot));
		if (hs_heap_write(w->h, slot, sizeof(slot), (uint64_t)w->id * 16) != 16)
			w->failures++;
	}
	return NULL;
}

START_TEST(concurrent_partial_writes_to_one_line_lose_nothing)
{
	hs_heap *h = mkheap("app", 4096, 4096);
	pthread_t th[4];
	struct worker w[4];
	uint8_t got[64];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .h = h, .id = i, .n = 300 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, write_slots, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	ck_assert_int_eq(hs_heap_read(h, got, sizeof(got), 0), 64);
	for (int i = 0; i < 64; i++)
		ck_assert_uint_eq(got[i], 300 % 256);
	ck_assert_uint_eq(check_refs(), 1);
	hs_heap_close(h);
}
END_TEST

static void *seal_loop(void *p)
{
	struct worker *w = p;

	for (int i = 0; i < w->n; i++) {
		if (hs_version_seal(w->h, NULL, NULL) != 0)
			w->failures++;
	}
	return NULL;
}

START_TEST(concurrent_seal_and_writes_keep_every_checkpoint_whole)
{
	hs_heap *h = mkheap("app", 0, 4096);
	pthread_t tw, ts;
	struct worker ww = { .h = h, .id = 0, .n = 300 };
	struct worker ws = { .h = h, .id = 0, .n = 40 };
	hs_version_info *arr;
	size_t n;

	ck_assert_int_eq(pthread_create(&tw, NULL, write_own_lines, &ww), 0);
	ck_assert_int_eq(pthread_create(&ts, NULL, seal_loop, &ws), 0);
	pthread_join(tw, NULL);
	pthread_join(ts, NULL);
	ck_assert_int_eq(ww.failures, 0);
	ck_assert_int_eq(ws.failures, 0);
	ck_assert_int_eq(hs_version_list(h, &arr, &n), 0);
	ck_assert_uint_eq(n, 40);
	/*
	 * Writes are in line order, so checkpoint k holds a prefix of them,
	 * its size with its bytes: with the line cache too, where an extending
	 * write once grew the size before it copied the line in, and a seal
	 * between the two held the next line as zeros.
	 */
	for (size_t i = 0; i < n; i++) {
		uint64_t lines = arr[i].lines_used;

		for (uint64_t j = 0; j < 300; j++)
			expect_line(h, arr[i].version, j * 4, j < lines ? 100 + j % 3 : PAST_END);
	}
	free(arr);
	check_refs();
	hs_heap_close(h);
}
END_TEST

/* ---- a full disk ------------------------------------------------------ */

/*
 * A private mount namespace holds a small tmpfs that vanishes with this
 * (forked) test process.  Needs CAP_SYS_ADMIN, which CI and the developers'
 * machines have (root).
 */
static void small_fs(const char *path, const char *size)
{
	char opts[32];

	snprintf(opts, sizeof(opts), "size=%s", size);
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s (run as root)",
		      strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_msg(mount("tmpfs", path, "tmpfs", 0, opts) == 0, "mount tmpfs: %s",
		      strerror(errno));
}

START_TEST(disk_full_returns_enospc_and_loses_nothing)
{
	char *fs, *sdir;
	hs_store *s;
	hs_heap *h;
	uint8_t *line = malloc(LS);
	uint64_t written = 0;
	ssize_t n = 0;
	hs_heap_info hi;

	hs_store_close(st);   /* this test makes its own store */
	st = NULL;
	ck_assert_int_ne(asprintf(&fs, "%s/fs", dir), -1);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	small_fs(fs, "24m");
	ck_assert_int_ne(asprintf(&sdir, "%s/store", fs), -1);
	ck_assert_int_eq(hs_store_open(&s, sdir, NULL), 0);
	ck_assert_int_eq(hs_heap_create(s, "app", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&h, s, "app"), 0);
	/* Incompressible lines until the disk is full. */
	for (uint64_t i = 0; i < 4096; i++) {
		for (size_t j = 0; j < LS; j += 8) {
			uint64_t x = (i * LS + j) * 0x9e3779b97f4a7c15ULL;

			x ^= x >> 29;
			memcpy(line + j, &x, 8);
		}
		n = hs_heap_write(h, line, LS, i * LS);
		if (n < 0)
			break;
		written++;
	}
	ck_assert_msg(n == -ENOSPC, "write %llu: %zd (%s)", (unsigned long long)written, n,
		      hs_error_last());
	ck_assert_uint_gt(written, 10);
	/* Stopped, not torn: every later write and sync says why. */
	ck_assert_int_eq(hs_heap_write(h, line, 100, 0), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "reopen"));
	ck_assert_int_eq(hs_heap_sync(h), -ENOSPC);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), -ENOSPC);
	hs_heap_close(h);
	hs_store_close(s);
	/* With room again, everything that returned is there. */
	ck_assert_int_eq(mount(NULL, fs, NULL, MS_REMOUNT, "size=96m"), 0);
	ck_assert_msg(hs_store_open(&st, sdir, NULL) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_ge(hi.lines_used, written);
	for (uint64_t i = 0; i < written; i++) {
		uint8_t *got = malloc(LS);

		for (size_t j = 0; j < LS; j += 8) {
			uint64_t x = (i * LS + j) * 0x9e3779b97f4a7c15ULL;

			x ^= x >> 29;
			memcpy(line + j, &x, 8);
		}
		ck_assert_int_eq(hs_heap_read(h, got, LS, i * LS), LS);
		ck_assert_msg(memcmp(got, line, LS) == 0, "line %llu lost", (unsigned long long)i);
		free(got);
	}
	ck_assert_uint_eq(check_refs(), hi.lines_used);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	hs_store_close(st);
	st = NULL;
	ck_assert_int_eq(umount(fs), 0);
	free(line);
	free(fs);
	free(sdir);
}
END_TEST

static Suite *hs_suite(void)
{
	Suite *s = suite_create("heapstore");
	struct {
		const char *name;
		const TTest *tests[16];
	} cases[] = {
		{ "store", { store_open_creates_directory_and_reopens,
			     store_read_only_refuses_writes } },
		{ "heaps", { heap_create_exists_returns_eexist, heap_open_missing_returns_enoent,
			     heap_properties_persist, heap_list_in_name_order,
			     heap_delete_drops_everything_and_frees_the_name,
			     heap_handles_share_state } },
		{ "io", { io_unwritten_reads_zero, io_unaligned_write_spans_lines,
			  io_zero_lines_are_not_stored, io_punch_zeroes_whole_and_partial_lines,
			  io_truncate_shrinks_then_grows_with_zeros,
			  io_rewrite_same_content_changes_nothing } },
		{ "versions", { version_seal_numbers_and_reads_old_content, version_labels,
				version_diff_lists_changed_lines,
				version_restore_makes_live_equal_and_keeps_later,
				version_delete_middle_keeps_neighbours_exact,
				version_delete_latest_and_oldest,
				version_seal_costs_dirty_lines_only,
				line_next_walks_sparse_lines_per_version } },
		{ "state", { state_is_a_second_byte_space,
			     state_is_checkpointed_restored_and_diffed } },
		{ "txn", { txn_reads_snapshot_and_commits_atomically,
			   txn_commit_conflict_returns_ebusy, txn_free_without_commit_aborts,
			   txn_grows_heap_and_punches } },
		{ "dedup", { dedup_two_heaps_share_one_blob } },
		{ "concurrency", { concurrent_writers_to_different_lines,
				   concurrent_partial_writes_to_one_line_lose_nothing,
				   concurrent_seal_and_writes_keep_every_checkpoint_whole } },
		{ "disk-full", { disk_full_returns_enospc_and_loses_nothing } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, 60);
		for (int j = 0; cases[i].tests[j]; j++)
			tcase_add_test(tc, cases[i].tests[j]);
		suite_add_tcase(s, tc);
	}
	/* What the line cache changes under: restore, delete, dedup, the
	 * transaction conflict, seals racing writes. */
	{
		TCase *tc = tcase_create("cached");

		tcase_add_checked_fixture(tc, setup_cached, teardown);
		tcase_set_timeout(tc, 60);
		tcase_add_test(tc, version_restore_makes_live_equal_and_keeps_later);
		tcase_add_test(tc, version_delete_middle_keeps_neighbours_exact);
		tcase_add_test(tc, version_delete_latest_and_oldest);
		tcase_add_test(tc, state_is_checkpointed_restored_and_diffed);
		tcase_add_test(tc, dedup_two_heaps_share_one_blob);
		tcase_add_test(tc, txn_commit_conflict_returns_ebusy);
		tcase_add_test(tc, concurrent_seal_and_writes_keep_every_checkpoint_whole);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	return tu_run(hs_suite());
}
