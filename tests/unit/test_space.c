/*
 * test_space.c - the space figures (heapstore/blob.c, "accounting") on a
 * real store on disk, with and without the line cache: each heap's
 * referenced and unique bytes and the store's stored and garbage bytes
 * must equal a recount this file makes its own way, straight from the
 * lines and refs families, after every step of random writes, punches,
 * truncates, checkpoints, checkpoint deletes, restores, heap deletes and
 * GC, also with writers of two heaps sharing contents at once; a
 * checkpoint's "unique" and "freed" must equal what deleting it then
 * takes away; fsck recounts and repairs them; a format 1 store is
 * upgraded with exact figures.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "heapstore_int.h"
#include "test_util.h"

#define LS 4096u
#define POOL 24              /* distinct contents: lines share them */
#define MAXH 4

static char *dir;
static hs_store *st;

static void setup(void)
{
	dir = tu_tmpdir("space");
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

/* Content @c of the pool (0: a zero line). */
static void content(uint8_t *buf, unsigned c)
{
	if (c == 0)
		memset(buf, 0, LS);
	else
		tu_fill(buf, LS, 7777, c);
}

static void put(hs_heap *h, uint64_t line, unsigned c)
{
	uint8_t buf[LS];

	content(buf, c);
	ck_assert_msg(hs_heap_write(h, buf, LS, line * LS) == LS, "%s", hs_error_last());
}

/* ---- the recount: every entry of the lines family, by heap id ---------- */

struct blobref {
	uint8_t hash[HS_HASH_LEN];
	uint64_t heap;
};

struct recount {
	uint64_t ids[64];
	int64_t referenced[64], unique[64];
	size_t n_ids;
	int64_t stored, blobs, garbage, garbage_blobs;
};

static int blobref_cmp(const void *a, const void *b)
{
	const struct blobref *x = a, *y = b;
	int d = memcmp(x->hash, y->hash, HS_HASH_LEN);

	return d ? d : (x->heap > y->heap) - (x->heap < y->heap);
}

/* A refs record: count and stored bytes; false if there is none. */
static bool ref_get(const uint8_t *hash, int64_t *count, uint32_t *stored)
{
	char *err = NULL, *v;
	size_t vl;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();

	v = rocksdb_get_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_REFS),
			   (const char *)hash, HS_HASH_LEN, &vl, &err);
	rocksdb_readoptions_destroy(ro);
	ck_assert_ptr_null(err);
	if (!v)
		return false;
	ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
	*count = (int64_t)hs_le64_get((uint8_t *)v);
	*stored = hs_le32_get((uint8_t *)v + 8);
	free(v);
	return true;
}

static size_t id_slot(struct recount *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_ids; i++)
		if (r->ids[i] == id)
			return i;
	ck_assert_uint_lt(r->n_ids, 64);
	r->ids[r->n_ids] = id;
	return r->n_ids++;
}

static void recount(struct recount *r)
{
	rocksdb_readoptions_t *ro = tu_scan_ro();
	rocksdb_iterator_t *it;
	struct blobref *refs = NULL;
	size_t n = 0, cap = 0;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(hs_store_flush(st), 0);
	it = rocksdb_create_iterator_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_LINES));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);

		if (vl != HS_HASH_LEN)
			continue;   /* a zero line */
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			refs = realloc(refs, cap * sizeof(*refs));
			ck_assert_ptr_nonnull(refs);
		}
		memcpy(refs[n].hash, v, HS_HASH_LEN);
		refs[n++].heap = hs_be64_get(k);
	}
	rocksdb_iter_destroy(it);
	if (n)
		qsort(refs, n, sizeof(*refs), blobref_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		size_t heaps = 0, first = i;
		int64_t count;
		uint32_t stored;

		for (j = i; j < n && !memcmp(refs[j].hash, refs[i].hash, HS_HASH_LEN); j++)
			heaps += j == i || refs[j].heap != refs[j - 1].heap;
		ck_assert_msg(ref_get(refs[i].hash, &count, &stored), "a named blob has no refs record");
		ck_assert_int_eq(count, (int64_t)(j - i));
		r->stored += stored;
		r->blobs++;
		for (size_t k = first; k < j; k++) {
			size_t slot;

			if (k > first && refs[k].heap == refs[k - 1].heap)
				continue;
			slot = id_slot(r, refs[k].heap);
			r->referenced[slot] += stored;
			if (heaps == 1)
				r->unique[slot] += stored;
		}
	}
	free(refs);
	/* Garbage: refs records with no entry left. */
	it = rocksdb_create_iterator_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_REFS));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t vl;
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);

		ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
		if ((int64_t)hs_le64_get(v) <= 0) {
			r->garbage += hs_le32_get(v + 8);
			r->garbage_blobs++;
		}
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
}

static int64_t of(const struct recount *r, uint64_t id, bool unique)
{
	for (size_t i = 0; i < r->n_ids; i++)
		if (r->ids[i] == id)
			return unique ? r->unique[i] : r->referenced[i];
	return 0;
}

static int64_t meta_get_i64(char tag, uint64_t id)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl = hs_key__meta(key, tag, id, NULL), vl;
	char *err = NULL, *v;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	int64_t out = -1;

	v = rocksdb_get_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_META), (const char *)key,
			   kl, &vl, &err);
	rocksdb_readoptions_destroy(ro);
	if (v && vl == 8)
		out = (int64_t)hs_le64_get((uint8_t *)v);
	free(v);
	return out;
}

/* Every open heap's figures and the store's against the recount. */
static void expect_exact(hs_heap **heaps, size_t n, const char *when)
{
	struct recount r;
	hs_store_totals t;

	recount(&r);
	for (size_t i = 0; i < n; i++) {
		hs_heap_info info;

		if (!heaps[i])
			continue;
		ck_assert_int_eq(hs_heap_info_get(heaps[i], &info), 0);
		ck_assert_msg(info.bytes_referenced == (uint64_t)of(&r, info.id, false),
			      "%s: heap '%s' (id %llu) referenced %llu, recount %lld, DB %lld", when, info.name,
			      (unsigned long long)info.id,
			      (unsigned long long)info.bytes_referenced,
			      (long long)of(&r, info.id, false), (long long)meta_get_i64('R', info.id));
		ck_assert_msg(info.bytes_unique == (uint64_t)of(&r, info.id, true),
			      "%s: heap '%s' unique %llu, recount %lld", when, info.name,
			      (unsigned long long)info.bytes_unique, (long long)of(&r, info.id, true));
	}
	hs_store_totals_get(st, &t);
	ck_assert_msg(t.bytes_stored == (uint64_t)r.stored && t.blobs == (uint64_t)r.blobs,
		      "%s: store %llu bytes in %llu blobs, recount %lld in %lld", when,
		      (unsigned long long)t.bytes_stored, (unsigned long long)t.blobs,
		      (long long)r.stored, (long long)r.blobs);
	ck_assert_msg(t.bytes_garbage == (uint64_t)r.garbage &&
		      t.blobs_garbage == (uint64_t)r.garbage_blobs,
		      "%s: garbage %llu bytes in %llu blobs, recount %lld in %lld", when,
		      (unsigned long long)t.bytes_garbage, (unsigned long long)t.blobs_garbage,
		      (long long)r.garbage, (long long)r.garbage_blobs);
}

static void fsck_clean(void)
{
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_msg(hs_store_fsck(st, 0, NULL, NULL) == 0, "fsck found problems");
}

/* ---- random steps against the recount ---------------------------------- */

static const char *const names[MAXH] = { "a", "b", "c", "d" };

static void random_steps(bool cache, unsigned seed, int steps)
{
	hs_heap *h[MAXH] = { 0 };
	char when[96];

	st = tu_store_open(dir, cache ? 16u << 20 : 0, 0);
	srand(seed);
	for (int i = 0; i < 2; i++)
		h[i] = tu_heap_new(st, names[i], LS);
	for (int step = 0; step < steps; step++) {
		int which = rand() % 2, op = rand() % 100;
		hs_heap *x = h[which];
		hs_heap_info info;
		uint64_t v;

		ck_assert_int_eq(hs_heap_info_get(x, &info), 0);
		if (op < 55) {
			put(x, (uint64_t)(rand() % 32), (unsigned)(rand() % POOL));
		} else if (op < 62) {
			ck_assert_int_eq(hs_heap_punch(x, (uint64_t)(rand() % 32) * LS, LS), 0);
		} else if (op < 66) {
			ck_assert_int_eq(hs_heap_truncate(x, (uint64_t)(rand() % 33) * LS), 0);
		} else if (op < 80) {
			ck_assert_msg(hs_version_seal(x, NULL, &v) == 0, "%s", hs_error_last());
		} else if (op < 88 && info.checkpoints) {
			hs_version_info *vs = NULL;
			size_t nv = 0;

			ck_assert_int_eq(hs_version_list(x, &vs, &nv), 0);
			ck_assert_int_eq(hs_version_delete(x, vs[(size_t)rand() % nv].version), 0);
			free(vs);
		} else if (op < 93 && info.checkpoints) {
			ck_assert_msg(hs_heap_restore(x, info.latest) == 0, "%s", hs_error_last());
		} else if (op < 96) {
			hs_heap_close(x);
			ck_assert_int_eq(hs_heap_delete(st, names[which]), 0);
			h[which] = tu_heap_new(st, names[which], LS);
		} else {
			gc_report r = { 0 };

			ck_assert_int_eq(hs_store_flush(st), 0);
			ck_assert_int_eq(gc_run(st, false, &r), 0);
		}
		snprintf(when, sizeof(when), "seed %u step %d (op %d on '%s')", seed, step, op,
			 names[which]);
		if (step % 7 == 0 || step == steps - 1)
			expect_exact(h, 2, when);
	}
	for (int i = 0; i < 2; i++)
		hs_heap_close(h[i]);
	fsck_clean();
	/* Reopened, the figures are the committed ones. */
	hs_store_close(st);
	st = tu_store_open(dir, cache ? 16u << 20 : 0, 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(hs_heap_open(&h[i], st, names[i]), 0);
	expect_exact(h, 2, "after reopening");
	for (int i = 0; i < 2; i++)
		hs_heap_close(h[i]);
}

START_TEST(figures_follow_every_operation)
{
	random_steps(_i & 1, 20261206u + (unsigned)_i, 400);
}
END_TEST

/* ---- writers of two heaps sharing contents at once ------------------------ */

struct writer {
	hs_heap *h;
	unsigned seed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned seed = w->seed;
	uint8_t buf[LS];

	for (int i = 0; i < 600; i++) {
		unsigned r = (unsigned)rand_r(&seed);

		content(buf, r % 6);   /* few contents: they pass between heaps */
		if (hs_heap_write(w->h, buf, LS, (uint64_t)((r >> 8) % 16) * LS) != LS)
			return (void *)1;
		if (r % 97 == 0 && hs_version_seal(w->h, NULL, NULL) < 0)
			return (void *)1;
	}
	return NULL;
}

static void *gc_main(void *arg)
{
	atomic_int *stop = arg;

	while (!atomic_load(stop)) {
		gc_report r = { 0 };

		if (gc_run(st, false, &r) < 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(concurrent_writers_sharing_contents_keep_figures_exact)
{
	hs_heap *h[MAXH] = { 0 };
	struct writer w[4];
	pthread_t t[4], g;
	atomic_int stop = 0;
	void *ret;

	st = tu_store_open(dir, _i ? 16u << 20 : 0, 0);
	for (int i = 0; i < 3; i++)
		h[i] = tu_heap_new(st, names[i], LS);
	for (int i = 0; i < 4; i++) {
		w[i].h = h[i % 3];
		w[i].seed = 99u + (unsigned)i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&g, NULL, gc_main, &stop), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_msg(ret == NULL, "a writer failed: %s", hs_error_last());
	}
	atomic_store(&stop, 1);
	ck_assert_int_eq(pthread_join(g, &ret), 0);
	ck_assert_ptr_null(ret);
	expect_exact(h, 3, "after the writers");
	for (int i = 0; i < 3; i++)
		hs_heap_close(h[i]);
	fsck_clean();
}
END_TEST

/* ---- a checkpoint's space against deleting it ---------------------------- */

START_TEST(checkpoint_space_is_what_deleting_it_takes)
{
	hs_heap *a, *b;
	uint64_t v;

	st = tu_store_open(dir, _i ? 16u << 20 : 0, 0);
	a = tu_heap_new(st, "a", LS);
	b = tu_heap_new(st, "b", LS);
	/* 12 checkpoints of a: lines rewritten with new, repeated and shared
	 * contents; b shares some of them. */
	srand(4242);
	for (int c = 0; c < 12; c++) {
		for (int k = 0; k < 6; k++)
			put(a, (uint64_t)(rand() % 10), 1 + (unsigned)(rand() % 30));
		if (c % 3 == 0)
			put(b, (uint64_t)c, 1 + (unsigned)(rand() % 30));
		ck_assert_int_eq(hs_version_seal(a, NULL, &v), 0);
	}
	put(a, 0, 200);   /* the live version overwrites a line */
	/* Delete them in a scrambled order, each checked against its drop. */
	for (int round = 0; round < 12; round++) {
		hs_version_info *vs = NULL;
		hs_version_space sp;
		hs_heap_info before, after;
		hs_store_totals tb, ta;
		size_t nv = 0;
		uint64_t ver;

		ck_assert_int_eq(hs_store_flush(st), 0);
		ck_assert_int_eq(hs_version_list(a, &vs, &nv), 0);
		ck_assert_uint_eq(nv, 12 - (size_t)round);
		ver = vs[(size_t)(round * 5) % nv].version;
		free(vs);
		ck_assert_int_eq(hs_version_space_get(a, ver, &sp), 0);
		ck_assert_int_eq(hs_heap_info_get(a, &before), 0);
		hs_store_totals_get(st, &tb);
		ck_assert_uint_eq(sp.bytes_held, sp.bytes_unique + sp.bytes_shared);
		ck_assert_uint_le(sp.bytes_freed, sp.bytes_unique);
		ck_assert_int_eq(hs_version_delete(a, ver), 0);
		ck_assert_int_eq(hs_heap_info_get(a, &after), 0);
		hs_store_totals_get(st, &ta);
		ck_assert_msg(before.bytes_referenced - after.bytes_referenced == sp.bytes_unique,
			      "checkpoint %llu: unique %llu, deleting it took %llu",
			      (unsigned long long)ver, (unsigned long long)sp.bytes_unique,
			      (unsigned long long)(before.bytes_referenced - after.bytes_referenced));
		ck_assert_msg(tb.bytes_stored - ta.bytes_stored == sp.bytes_freed,
			      "checkpoint %llu: freed %llu, deleting it freed %llu",
			      (unsigned long long)ver, (unsigned long long)sp.bytes_freed,
			      (unsigned long long)(tb.bytes_stored - ta.bytes_stored));
		ck_assert_uint_eq(ta.bytes_garbage - tb.bytes_garbage, sp.bytes_freed);
	}
	ck_assert_int_eq(hs_version_space_get(a, 1, &(hs_version_space){ 0 }), -ENOENT);
	hs_heap_close(a);
	hs_heap_close(b);
	fsck_clean();
}
END_TEST

/* Its figures are exact on a heap built to know them: held, shared. */
START_TEST(checkpoint_space_counts_shared_and_unique_lines)
{
	hs_heap *a, *b;
	hs_version_space sp;
	uint32_t s1, s2, s3, s4;
	int64_t cnt;
	uint8_t buf[LS], hash[HS_HASH_LEN];
	struct hs_scratch *sc;

	st = tu_store_open(dir, 0, 0);
	a = tu_heap_new(st, "a", LS);
	b = tu_heap_new(st, "b", LS);
	put(a, 0, 1);       /* v1: content 1 (unique), content 2 (also in b) */
	put(a, 1, 2);
	put(b, 0, 2);
	ck_assert_int_eq(hs_version_seal(a, NULL, NULL), 0);
	put(a, 0, 3);       /* v2: line 0 -> 3; live: line 0 -> 4, line 1 -> 4 */
	ck_assert_int_eq(hs_version_seal(a, NULL, NULL), 0);
	put(a, 0, 4);
	put(a, 1, 4);
	sc = hs_scratch__get();
	content(buf, 1);
	hs_codec__hash(sc, buf, LS, hash);
	ck_assert(ref_get(hash, &cnt, &s1));
	content(buf, 2);
	hs_codec__hash(sc, buf, LS, hash);
	ck_assert(ref_get(hash, &cnt, &s2));
	content(buf, 3);
	hs_codec__hash(sc, buf, LS, hash);
	ck_assert(ref_get(hash, &cnt, &s3));
	content(buf, 4);
	hs_codec__hash(sc, buf, LS, hash);
	ck_assert(ref_get(hash, &cnt, &s4));

	/* v1 holds 1 and 2.  Deleting it drops line 0 (v2 rewrote it): 1 goes
	 * from the heap and the store; line 1 moves up (v2 reads it). */
	ck_assert_int_eq(hs_version_space_get(a, 1, &sp), 0);
	ck_assert_uint_eq(sp.bytes_held, s1 + s2);
	ck_assert_uint_eq(sp.bytes_unique, s1);
	ck_assert_uint_eq(sp.bytes_shared, s2);
	ck_assert_uint_eq(sp.bytes_freed, s1);
	ck_assert_uint_eq(sp.lines_changed, 2);
	/* v2 holds 3, which the live version overwrote: unique and freed. */
	ck_assert_int_eq(hs_version_space_get(a, 2, &sp), 0);
	ck_assert_uint_eq(sp.bytes_held, s3);
	ck_assert_uint_eq(sp.bytes_unique, s3);
	ck_assert_uint_eq(sp.bytes_freed, s3);
	/* Heap figures: a holds 1, 2, 3, 4; b holds 2. */
	{
		hs_heap_info ia, ib;

		ck_assert_int_eq(hs_heap_info_get(a, &ia), 0);
		ck_assert_int_eq(hs_heap_info_get(b, &ib), 0);
		ck_assert_uint_eq(ia.bytes_referenced, s1 + s2 + s3 + s4);
		ck_assert_uint_eq(ia.bytes_unique, s1 + s3 + s4);
		ck_assert_uint_eq(ib.bytes_referenced, s2);
		ck_assert_uint_eq(ib.bytes_unique, 0);
		/* b drops 2: it becomes a's alone. */
		ck_assert_int_eq(hs_heap_punch(b, 0, LS), 0);
		ck_assert_int_eq(hs_heap_info_get(a, &ia), 0);
		ck_assert_uint_eq(ia.bytes_unique, s1 + s2 + s3 + s4);
	}
	hs_heap_close(a);
	hs_heap_close(b);
	fsck_clean();
}
END_TEST

/* ---- fsck and the upgrade ---------------------------------------------- */

static void meta_put_i64(char tag, uint64_t id, int64_t v)
{
	uint8_t key[HS_META_KEY_MAX], val[8];
	size_t kl = hs_key__meta(key, tag, id, NULL);
	char *err = NULL;
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();

	hs_le64_put(val, (uint64_t)v);
	rocksdb_put_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_META), (const char *)key, kl,
		       (const char *)val, 8, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_ptr_null(err);
}

struct reports {
	int n;
	char text[4096];
};

static void on_report(const char *problem, void *payload)
{
	struct reports *r = payload;
	size_t len = strlen(r->text);

	r->n++;
	snprintf(r->text + len, sizeof(r->text) - len, "%s\n", problem);
}

START_TEST(fsck_recounts_and_repairs_the_figures)
{
	hs_heap *h[2];
	hs_heap_info info;
	struct reports r = { 0 };
	uint64_t id;

	st = tu_store_open(dir, 0, 0);
	h[0] = tu_heap_new(st, "a", LS);
	h[1] = tu_heap_new(st, "b", LS);
	for (unsigned i = 0; i < 8; i++)
		put(h[i % 2], i, 1 + i % 5);
	ck_assert_int_eq(hs_heap_info_get(h[0], &info), 0);
	id = info.id;
	hs_heap_close(h[0]);
	hs_heap_close(h[1]);
	meta_put_i64('R', id, 12345);
	meta_put_i64('U', id, 1);
	meta_put_i64('T', HS_TOTAL_STORED, 7);
	{
		/* A garbage record for a live blob: GC would delete it. */
		uint8_t buf[LS], gkey[1 + HS_HASH_LEN] = { 'G' }, v[8] = { 0 };
		rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
		char *err = NULL;

		content(buf, 1);
		hs_codec__hash(hs_scratch__get(), buf, LS, gkey + 1);
		rocksdb_put_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_META), (const char *)gkey,
			       sizeof(gkey), (const char *)v, sizeof(v), &err);
		ck_assert_ptr_null(err);
		rocksdb_writeoptions_destroy(wo);
	}
	ck_assert_int_eq(hs_store_fsck(st, 0, on_report, &r), 4);
	ck_assert_msg(strstr(r.text, "a garbage record, but the blob is referenced"), "%s", r.text);
	ck_assert_msg(strstr(r.text, "heap 'a': referenced bytes says 12345"), "%s", r.text);
	ck_assert_msg(strstr(r.text, "heap 'a': unique bytes says 1"), "%s", r.text);
	ck_assert_msg(strstr(r.text, "the store's stored bytes says 7"), "%s", r.text);
	ck_assert_int_eq(hs_store_fsck(st, HS_FSCK_REPAIR, NULL, NULL), 0);
	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h[0], st, "a"), 0);
	ck_assert_int_eq(hs_heap_open(&h[1], st, "b"), 0);
	expect_exact(h, 2, "after the repair");
	hs_heap_close(h[0]);
	hs_heap_close(h[1]);
	fsck_clean();
}
END_TEST

/* Make the store format 1: no hrefs family, no 'R', 'U', 'T'. */
static void downgrade(void)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_readoptions_t *ro = tu_scan_ro();
	rocksdb_iterator_t *it;
	uint8_t fkey = 'F', fval[sizeof(HS_FORMAT_MAGIC) + 4];
	char *err = NULL;

	it = rocksdb_create_iterator_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_META));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);

		if (k[0] == 'R' || k[0] == 'U' || k[0] == 'T')
			rocksdb_writebatch_delete_cf(wb, hs_store__cf(st, HS_CF_META), k, kl);
	}
	rocksdb_iter_destroy(it);
	/* Format 1 wrote a candidate ('G' hash, empty) at every dropped
	 * reference, live blobs' included: the upgrade must not let GC trust
	 * those. */
	it = rocksdb_create_iterator_cf(hs_store__db(st), ro, hs_store__cf(st, HS_CF_REFS));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);
		uint8_t gkey[1 + HS_HASH_LEN] = { 'G' };

		memcpy(gkey + 1, k, HS_HASH_LEN);
		rocksdb_writebatch_put_cf(wb, hs_store__cf(st, HS_CF_META), (const char *)gkey,
					  sizeof(gkey), "", 0);
	}
	rocksdb_iter_destroy(it);
	memcpy(fval, HS_FORMAT_MAGIC, sizeof(HS_FORMAT_MAGIC));
	hs_le32_put(fval + sizeof(HS_FORMAT_MAGIC), 1);
	rocksdb_writebatch_put_cf(wb, hs_store__cf(st, HS_CF_META), (const char *)&fkey, 1,
				  (const char *)fval, sizeof(fval));
	rocksdb_write(hs_store__db(st), wo, wb, &err);
	ck_assert_ptr_null(err);
	rocksdb_drop_column_family(hs_store__db(st), hs_store__cf(st, HS_CF_HREFS), &err);
	ck_assert_ptr_null(err);
	rocksdb_writebatch_destroy(wb);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_readoptions_destroy(ro);
}

START_TEST(format_1_store_is_upgraded_with_exact_figures)
{
	hs_store_opts ro = HS_STORE_OPTS_INIT;
	hs_heap *h[2];
	hs_store *s = NULL;

	st = tu_store_open(dir, 0, 0);
	h[0] = tu_heap_new(st, "a", LS);
	h[1] = tu_heap_new(st, "b", LS);
	for (unsigned i = 0; i < 12; i++)
		put(h[i % 2], i, 1 + i % 7);
	ck_assert_int_eq(hs_version_seal(h[0], NULL, NULL), 0);
	put(h[0], 0, 9);
	hs_heap_close(h[0]);
	hs_heap_close(h[1]);
	ck_assert_int_eq(hs_store_flush(st), 0);
	downgrade();
	hs_store_close(st);
	st = NULL;

	ro.read_only = 1;
	ck_assert_int_eq(hs_store_open(&s, dir, &ro), -EPROTONOSUPPORT);
	ck_assert_msg(strstr(hs_error_last(), "format 1") &&
		      strstr(hs_error_last(), "read-write"), "%s", hs_error_last());
	st = tu_store_open(dir, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h[0], st, "a"), 0);
	ck_assert_int_eq(hs_heap_open(&h[1], st, "b"), 0);
	expect_exact(h, 2, "after the upgrade");
	{
		gc_report r = { 0 };
		uint8_t buf[LS], want[LS];

		ck_assert_int_eq(gc_run(st, false, &r), 0);
		ck_assert_uint_eq(r.blobs_freed, 0);   /* every blob is named still */
		content(want, 9);
		ck_assert_int_eq(hs_heap_read(h[0], buf, LS, 0), LS);
		ck_assert(memcmp(buf, want, LS) == 0);
		for (unsigned i = 1; i < 12; i++) {
			content(want, 1 + i % 7);
			ck_assert_int_eq(hs_heap_read(h[i % 2], buf, LS, i * LS), LS);
			ck_assert_msg(memcmp(buf, want, LS) == 0, "line %u", i);
		}
	}
	expect_exact(h, 2, "after the upgrade and GC");
	hs_heap_close(h[0]);
	hs_heap_close(h[1]);
	fsck_clean();
	hs_store_close(st);
	ck_assert_int_eq(hs_store_open(&st, dir, &ro), 0);   /* format 2 now */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("space");
	TCase *tc = tcase_create("space");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, figures_follow_every_operation, 0, 4);
	tcase_add_loop_test(tc, concurrent_writers_sharing_contents_keep_figures_exact, 0, 2);
	tcase_add_loop_test(tc, checkpoint_space_is_what_deleting_it_takes, 0, 2);
	tcase_add_test(tc, checkpoint_space_counts_shared_and_unique_lines);
	tcase_add_test(tc, fsck_recounts_and_repairs_the_figures);
	tcase_add_test(tc, format_1_store_is_upgraded_with_exact_figures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
