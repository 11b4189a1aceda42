/*
 * test_gc.c - garbage collection (gc/, hs_store_gc) on a real store on
 * disk, with and without the line cache: what no version references is
 * reclaimed (overwritten lines, deleted checkpoints, removed heaps) and
 * nothing else; a round costs its candidates, not the store; and writers
 * that keep re-using the very contents GC deletes lose nothing (the fence).
 * Every test ends with fsck --verify-data clean and every byte re-read.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "heapstore_int.h"
#include "test_util.h"

#define LS 65536u
#define MiB (1024u * 1024u)

static char *dir;
static hs_store *st;

static void open_store(uint64_t cache)
{
	st = tu_store_open(dir, cache, 0);
}

static void setup(void)
{
	dir = tu_tmpdir("gc");
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

static hs_heap *mkheap(const char *name)
{
	return tu_heap_new(st, name, 0);
}

static void put(hs_heap *h, uint64_t line, uint64_t tag)
{
	static __thread uint8_t buf[LS];

	tu_fill(buf, LS, line, tag);
	ck_assert_msg(hs_heap_write(h, buf, LS, line * LS) == LS, "%s", hs_error_last());
}

static void expect(hs_heap *h, uint64_t version, uint64_t line, uint64_t tag)
{
	static __thread uint8_t got[LS], want[LS];

	tu_fill(want, LS, line, tag);
	ck_assert_msg(hs_version_read(h, version, got, LS, line * LS) == LS,
		      "line %llu: %s", (unsigned long long)line, hs_error_last());
	ck_assert_msg(memcmp(got, want, LS) == 0, "line %llu differs", (unsigned long long)line);
}

static hs_store_usage usage(void)
{
	hs_store_usage u;

	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	return u;
}

static void fsck_clean(void)
{
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_int_eq(hs_store_fsck(st, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
}

static gc_report gc_now(void)
{
	gc_report r = { 0 };

	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_msg(gc_run(st, true, &r) == 0, "%s", hs_error_last());
	return r;
}

/* Blobs in the blobs family, whatever references say. */
static uint64_t blobs_stored(void)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(hs_store__db(st), ro,
							    hs_store__cf(st, HS_CF_BLOBS));
	uint64_t n = 0;

	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
		n++;
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return n;
}

START_TEST(gc_reclaims_what_no_version_references_and_nothing_else)
{
	hs_heap *h, *other;
	hs_store_usage u;
	gc_report r;
	uint64_t v, stored;

	open_store(_i ? 16 * MiB : 0);
	h = mkheap("app");
	other = mkheap("other");
	for (uint64_t l = 0; l < 16; l++)
		put(h, l, 1);
	put(other, 0, 77);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);   /* checkpoint 1 holds tag 1 */
	for (uint64_t round = 2; round <= 5; round++)
		for (uint64_t l = 0; l < 16; l++)
			put(h, l, round);
	/* Live: tag 5 (16); checkpoint 1: tag 1 (16); other: 1.  Tags 2-4: garbage. */
	u = usage();
	ck_assert_uint_eq(u.blobs, 33);
	/* Write-through stored every tag; the cache may have kept some in
	 * memory only, overwritten before write-back. */
	stored = blobs_stored();
	ck_assert_uint_ge(stored, _i ? 33 : 33 + 48);
	r = gc_now();
	ck_assert_uint_eq(r.blobs_freed, stored - 33);
	ck_assert_uint_eq(r.busy, 0);
	ck_assert_uint_eq(blobs_stored(), 33);
	ck_assert_uint_eq(usage().blobs_garbage, 0);
	for (uint64_t l = 0; l < 16; l++) {
		expect(h, HS_VERSION_LIVE, l, 5);
		expect(h, v, l, 1);
	}
	fsck_clean();

	/* A second round finds nothing: candidates were consumed. */
	r = gc_now();
	ck_assert_uint_eq(r.candidates, 0);

	/* Deleting the checkpoint makes its lines garbage. */
	ck_assert_int_eq(hs_version_delete(h, v), 0);
	r = gc_now();
	ck_assert_uint_eq(r.blobs_freed, 16);
	ck_assert_uint_eq(blobs_stored(), 17);

	/* Removing a heap makes its lines garbage; the other's stay. */
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_delete(st, "app"), 0);
	r = gc_now();
	ck_assert_uint_eq(r.blobs_freed, 16);
	ck_assert_uint_eq(blobs_stored(), 1);
	expect(other, HS_VERSION_LIVE, 0, 77);
	hs_heap_close(other);
	fsck_clean();
}
END_TEST

/* A content dropped by one line and still held by another is not garbage. */
START_TEST(gc_keeps_a_blob_another_line_still_holds)
{
	hs_heap *h;
	gc_report r;

	open_store(0);
	h = mkheap("app");
	put(h, 0, 9);
	{
		static uint8_t buf[LS];

		tu_fill(buf, LS, 0, 9);
		ck_assert_int_eq(hs_heap_write(h, buf, LS, 5 * LS), LS);   /* line 5 = line 0's */
	}
	put(h, 0, 10);   /* drops one reference of the shared blob */
	r = gc_now();
	/* Not garbage, so not even a candidate: the accounting records
	 * garbage only when the last reference goes. */
	ck_assert_uint_eq(r.candidates, 0);
	ck_assert_uint_eq(r.blobs_freed, 0);
	{
		static uint8_t got[LS], want[LS];

		tu_fill(want, LS, 0, 9);
		ck_assert_int_eq(hs_heap_read(h, got, LS, 5 * LS), LS);
		ck_assert(memcmp(got, want, LS) == 0);
	}
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

/* ---- the fence -------------------------------------------------------- */

/*
 * Two contents, A and B, that every writer flips its lines between: each
 * flip drops a reference on one and takes one on the other, so their
 * counts keep touching zero while GC runs flat out and deletes whatever it
 * finds at zero.  A writer that found A stored (another line held it) and
 * committed after GC deleted A would leave a line naming a missing blob.
 */
#define RACE_WRITERS 3
#define RACE_LINES 2

struct racer {
	hs_heap *h;
	int id;
	atomic_int *stop;
	int flips;
	atomic_int *freed;        /* blobs GC deleted so far */
};

/* Flip at least this often, and on until GC deleted this many (bounded). */
#define RACE_FLIPS_MIN 2000
#define RACE_FLIPS_MAX 20000
#define RACE_FREED_MIN 10

static uint8_t content[2][LS];

static void *flipper(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < RACE_FLIPS_MAX && !atomic_load(r->stop) &&
	     (i < RACE_FLIPS_MIN || atomic_load(r->freed) < RACE_FREED_MIN); i++) {
		for (int l = 0; l < RACE_LINES; l++) {
			uint64_t line = (uint64_t)(r->id * RACE_LINES + l);

			ck_assert_msg(hs_heap_write(r->h, content[i & 1], LS, line * LS) == LS,
				      "%s", hs_error_last());
		}
		/* With the cache: write back now, so every flip reaches the store. */
		ck_assert_msg(hs_heap_flush(r->h) == 0, "%s", hs_error_last());
		r->flips++;
	}
	return NULL;
}

static void *collector(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(r->stop)) {
		hs_gc_stats s;

		ck_assert_msg(hs_store_gc(st, 64, &s) == 0, "%s", hs_error_last());
		atomic_fetch_add(r->freed, (int)s.blobs_freed);
	}
	return NULL;
}

START_TEST(gc_racing_writers_that_reuse_its_contents_loses_nothing)
{
	struct racer w[RACE_WRITERS], g = { 0 };
	pthread_t tw[RACE_WRITERS], tg;
	atomic_int stop = 0, freed = 0;
	int last;

	open_store(_i ? 16 * MiB : 0);
	tu_fill(content[0], LS, 1, 1);
	tu_fill(content[1], LS, 2, 2);
	g.h = mkheap("app");
	g.stop = &stop;
	g.freed = &freed;
	ck_assert_int_eq(pthread_create(&tg, NULL, collector, &g), 0);
	for (int i = 0; i < RACE_WRITERS; i++) {
		w[i] = (struct racer){ g.h, i, &stop, 0, &freed };
		ck_assert_int_eq(pthread_create(&tw[i], NULL, flipper, &w[i]), 0);
	}
	for (int i = 0; i < RACE_WRITERS; i++)
		pthread_join(tw[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(tg, NULL);
	ck_assert_msg(atomic_load(&freed) >= RACE_FREED_MIN,   /* GC did delete, many times */
		      "GC deleted only %d blobs in %d flips", atomic_load(&freed), w[0].flips);
	/* Every line reads its last content: its blob is there. */
	for (int i = 0; i < RACE_WRITERS; i++) {
		last = w[i].flips - 1;
		for (int l = 0; l < RACE_LINES; l++) {
			static uint8_t got[LS];
			uint64_t line = (uint64_t)(i * RACE_LINES + l);

			ck_assert_msg(hs_heap_read(g.h, got, LS, line * LS) == LS,
				      "line %llu: %s", (unsigned long long)line, hs_error_last());
			ck_assert_msg(memcmp(got, content[last & 1], LS) == 0,
				      "line %llu differs", (unsigned long long)line);
		}
	}
	hs_heap_close(g.h);
	fsck_clean();
	/* And after a cold reopen, from the store alone. */
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	open_store(0);
	ck_assert_int_eq(hs_heap_open(&g.h, st, "app"), 0);
	for (int i = 0; i < RACE_WRITERS * RACE_LINES; i++) {
		static uint8_t got[LS];

		ck_assert_msg(hs_heap_read(g.h, got, LS, (uint64_t)i * LS) == LS,
			      "line %d after reopen: %s", i, hs_error_last());
	}
	hs_heap_close(g.h);
	fsck_clean();
}
END_TEST

/*
 * The window itself, on demand: a writer referencing content A probes A's
 * count (1: line 0 holds it) and so stores no copy; before it commits,
 * line 0 is rewritten (A's count falls to 0, a candidate) and a GC round
 * runs.  Unfenced, GC deletes A and line 1 names a blob that is gone.
 */
static hs_heap *window_heap;
static int window_hits;

static void *drop_and_collect(void *arg)
{
	hs_gc_stats gs;

	(void)arg;
	put(window_heap, 0, 2);   /* line 0: A -> B, A's last other reference */
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_msg(hs_store_gc(st, 0, &gs) == 0, "%s", hs_error_last());
	return NULL;
}

static void in_the_window(hs_store *s, const uint8_t *hash)
{
	pthread_t t;

	(void)s;
	(void)hash;
	if (window_hits++)
		return;   /* once: the drop's own probes pass through here too */
	ck_assert_int_eq(pthread_create(&t, NULL, drop_and_collect, NULL), 0);
	pthread_join(t, NULL);
}

START_TEST(gc_in_a_writers_probe_window_deletes_nothing_it_uses)
{
	static uint8_t a[LS], got[LS];
	hs_heap *h;

	/* Write-through: with the cache the drop would wait for the very
	 * write-back the hook stops (the fence is the same code either way). */
	open_store(0);
	h = window_heap = mkheap("app");
	ck_assert_int_eq(hs_heap_truncate(h, 8 * LS), 0);   /* writes take the lock shared */
	tu_fill(a, LS, 0, 1);
	ck_assert_int_eq(hs_heap_write(h, a, LS, 0), LS);   /* line 0 = A */
	ck_assert_int_eq(hs_heap_flush(h), 0);
	window_hits = 0;
	hs__test_probed = in_the_window;
	ck_assert_int_eq(hs_heap_write(h, a, LS, LS), LS);   /* line 1 = A */
	ck_assert_int_eq(hs_heap_flush(h), 0);
	hs__test_probed = NULL;
	ck_assert_int_ge(window_hits, 1);
	ck_assert_msg(hs_heap_read(h, got, LS, LS) == LS, "line 1: %s", hs_error_last());
	ck_assert(memcmp(got, a, LS) == 0);
	expect(h, HS_VERSION_LIVE, 0, 2);
	hs_heap_close(h);
	fsck_clean();
	/* Cold, from the store alone. */
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	open_store(0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_msg(hs_heap_read(h, got, LS, LS) == LS, "line 1 after reopen: %s",
		      hs_error_last());
	hs_heap_close(h);
}
END_TEST

/* ---- space back on the disk --------------------------------------------- */

static uint64_t du_total;

static int du_add(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)path;
	(void)type;
	(void)f;
	du_total += (uint64_t)sb->st_blocks * 512;
	return 0;
}

/* What `du` says of the store directory, in bytes. */
static uint64_t du(void)
{
	du_total = 0;
	ck_assert_int_eq(nftw(dir, du_add, 16, FTW_PHYS), 0);
	return du_total;
}

/* Incompressible content of line @line in generation @gen (xorshift). */
static void random_line(uint64_t buf[LS / 8], uint64_t line, uint64_t gen)
{
	uint64_t x = (line + 1) * 0x9e3779b97f4a7c15ULL ^ gen * 0xbf58476d1ce4e5b9ULL;

	for (size_t i = 0; i < LS / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
}

static void put_random(hs_heap *h, uint64_t line, uint64_t gen)
{
	static __thread uint64_t buf[LS / 8];

	random_line(buf, line, gen);
	ck_assert_int_eq(hs_heap_write(h, buf, LS, line * LS), LS);
}

/*
 * Deleted keys free nothing while their blob files live on: gc --full
 * compacts with RocksDB's blob GC on for that once, and du falls.
 */
START_TEST(gc_full_gives_the_disk_back)
{
	enum { LINES = 128, GENS = 4 };   /* 8 MiB live, 32 MiB written */
	const uint64_t live = (uint64_t)LINES * LS;
	uint64_t before, after;
	hs_heap *h;
	gc_report r = { 0 };

	open_store(0);
	h = mkheap("app");
	for (uint64_t g = 0; g < GENS; g++)
		for (uint64_t l = 0; l < LINES; l++)
			put_random(h, l, g);
	ck_assert_int_eq(hs_heap_sync(h), 0);
	before = du();
	ck_assert_msg(gc_run(st, true, &r) == 0, "%s", hs_error_last());
	ck_assert_uint_eq(r.blobs_freed, (uint64_t)LINES * (GENS - 1));
	after = du();
	fprintf(stderr, "gc --full: du %.1f MiB -> %.1f MiB, live %.1f MiB\n",
		before / 1048576.0, after / 1048576.0, live / 1048576.0);

	ck_assert_msg(before > 2 * live, "du before %llu: the overwrites were not on disk",
		      (unsigned long long)before);
	ck_assert_msg(after <= live * 3 / 2 + (4u << 20),
		      "du after gc --full %llu, live %llu: over 1.5x + 4 MiB",
		      (unsigned long long)after, (unsigned long long)live);
	for (uint64_t l = 0; l < LINES; l += 37) {
		static uint64_t want[LS / 8];
		static uint8_t got[LS];

		random_line(want, l, GENS - 1);
		ck_assert_int_eq(hs_heap_read(h, got, LS, l * LS), LS);
		ck_assert(memcmp(got, want, LS) == 0);
	}
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

/* A round costs its candidates: a big store with few drops looks at few. */
START_TEST(gc_round_costs_its_candidates_not_the_store)
{
	hs_heap *h;
	gc_report r;

	open_store(0);
	h = mkheap("app");
	for (uint64_t l = 0; l < 2000; l++)
		put(h, l, 1);
	r = gc_now();
	ck_assert_uint_eq(r.candidates, 0);   /* nothing was dropped */
	for (uint64_t l = 0; l < 3; l++)
		put(h, l, 2);
	r = gc_now();
	ck_assert_uint_eq(r.candidates, 3);
	ck_assert_uint_eq(r.blobs_freed, 3);
	ck_assert_uint_eq(r.rounds, 1);
	hs_heap_close(h);
}
END_TEST

static Suite *gc_suite(void)
{
	Suite *s = suite_create("gc");
	TCase *tc = tcase_create("gc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, gc_reclaims_what_no_version_references_and_nothing_else, 0, 2);
	tcase_add_test(tc, gc_keeps_a_blob_another_line_still_holds);
	tcase_add_loop_test(tc, gc_racing_writers_that_reuse_its_contents_loses_nothing, 0, 2);
	tcase_add_test(tc, gc_in_a_writers_probe_window_deletes_nothing_it_uses);
	tcase_add_test(tc, gc_round_costs_its_candidates_not_the_store);
	tcase_add_test(tc, gc_full_gives_the_disk_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(gc_suite());
}
