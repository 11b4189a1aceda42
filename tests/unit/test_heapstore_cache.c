/*
 * test_heapstore_cache.c - the line cache (hs_store_opts.cache_bytes) on a
 * real store on disk: writes are seen at once and reach the store when
 * written back (flush, sync, checkpoint, close); memory stays within the
 * limit while a heap 16 times larger is written and read; eviction under
 * concurrent writers loses nothing; every operation that works on the
 * store (truncate, punch, restore, transactions, diff, delete) sees what
 * the cache holds; idle memory is given back; suspend checkpoints, frees
 * and refuses changes; fsck stays clean.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rocksdb/c.h>

#include "heapstore_int.h"
#include "test_util.h"

#define LS 65536u
#define MiB (1024u * 1024u)

static char *dir;
static hs_store *st;

static void open_store(uint64_t cache, unsigned idle_ms)
{
	st = tu_store_open(dir, cache, idle_ms);
}

static void setup(void)
{
	dir = tu_tmpdir("cache");
	ck_assert_ptr_nonnull(dir);
	open_store(16 * MiB, 0);
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static hs_heap *mkheap(const char *name, uint32_t line)
{
	return tu_heap_new(st, name, line);
}

static void put(hs_heap *h, uint64_t line, uint64_t tag)
{
	static __thread uint8_t buf[LS];

	tu_fill(buf, LS, line, tag);
	ck_assert_int_eq(hs_heap_write(h, buf, LS, line * LS), LS);
}

/* Line @line of @version holds tu_fill(line, tag), or zeros for tag 0. */
static void expect(hs_heap *h, uint64_t version, uint64_t line, uint64_t tag)
{
	static __thread uint8_t got[LS], want[LS];

	memset(want, 0, LS);
	if (tag)
		tu_fill(want, LS, line, tag);
	ck_assert_int_eq(hs_version_read(h, version, got, LS, line * LS), LS);
	ck_assert_msg(memcmp(got, want, LS) == 0, "line %llu of version %llu: want tag %llu",
		      (unsigned long long)line, (unsigned long long)version,
		      (unsigned long long)tag);
}

static hs_heap_info info(hs_heap *h)
{
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	return hi;
}

static void fsck_clean(void)
{
	ck_assert_int_eq(hs_store_fsck(st, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
}

START_TEST(writes_are_seen_at_once_and_stored_when_written_back)
{
	hs_heap *h = mkheap("app", LS), *h2;
	hs_cache_stats cs;

	for (uint64_t l = 0; l < 8; l++)
		put(h, l, 1);
	/* In memory only: seen by every reader, not counted by the store yet. */
	ck_assert_uint_eq(info(h).lines_dirty, 8);
	ck_assert_uint_eq(info(h).lines_used, 0);
	ck_assert_int_eq(hs_heap_open(&h2, st, "app"), 0);
	expect(h2, HS_VERSION_LIVE, 5, 1);
	hs_heap_close(h2);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.lines_dirty, 8);
	ck_assert_uint_eq(cs.dirty_bytes, 8 * LS);
	ck_assert_uint_eq(cs.limit_bytes, 16 * MiB);
	ck_assert_uint_ge(cs.allocated_bytes, cs.used_bytes);

	ck_assert_int_eq(hs_heap_sync(h), 0);
	ck_assert_uint_eq(info(h).lines_dirty, 0);
	ck_assert_uint_eq(info(h).lines_used, 8);
	ck_assert_uint_eq(info(h).lines_resident, 8);   /* still cached, clean */
	fsck_clean();

	/* A partial write of a line not cached loads it first. */
	put(h, 20, 2);
	ck_assert_int_eq(hs_heap_flush(h), 0);
	hs_heap_close(h);
	hs_store_close(st);
	open_store(16 * MiB, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_uint_eq(info(h).lines_resident, 0);
	{
		uint8_t b[3] = { 7, 7, 7 }, got[LS], want[LS];

		ck_assert_int_eq(hs_heap_write(h, b, 3, 20 * LS + 100), 3);
		tu_fill(want, LS, 20, 2);
		memset(want + 100, 7, 3);
		ck_assert_int_eq(hs_heap_read(h, got, LS, 20 * LS), LS);
		ck_assert_int_eq(memcmp(got, want, LS), 0);
	}
	/* Closing the store writes back what is dirty. */
	hs_heap_close(h);
	hs_store_close(st);
	open_store(0, 0);   /* and without a cache, the store has it */
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	{
		uint8_t got[4];

		ck_assert_int_eq(hs_heap_read(h, got, 4, 20 * LS + 99), 4);
		ck_assert_uint_eq(got[1], 7);
		ck_assert_uint_eq(got[3], 7);
	}
	expect(h, HS_VERSION_LIVE, 3, 1);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

START_TEST(checkpoint_holds_every_completed_write)
{
	hs_heap *h = mkheap("app", LS);
	uint64_t v;

	for (uint64_t l = 0; l < 16; l++)
		put(h, l, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);   /* no flush before */
	ck_assert_uint_eq(info(h).lines_dirty, 0);
	for (uint64_t l = 0; l < 16; l += 2)
		put(h, l, 2);
	for (uint64_t l = 0; l < 16; l++) {
		expect(h, v, l, 1);
		expect(h, HS_VERSION_LIVE, l, l % 2 ? 1 : 2);
	}
	{
		hs_version_info vi;

		ck_assert_int_eq(hs_version_info_get(h, v, &vi), 0);
		ck_assert_uint_eq(vi.lines_changed, 16);
		ck_assert_uint_eq(vi.lines_used, 16);
	}
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

START_TEST(a_heap_16_times_the_cache_stays_within_it)
{
	const uint64_t lines = 16 * 16 * MiB / LS;   /* 256 MiB of 64K lines */
	hs_heap *h = mkheap("big", LS);
	hs_cache_stats cs;

	for (uint64_t l = 0; l < lines; l++) {
		put(h, l, 3);
		if (l % 256 == 0) {
			ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
			ck_assert_uint_le(cs.allocated_bytes, 16 * MiB);
			ck_assert_uint_le(cs.used_bytes, cs.allocated_bytes);
		}
	}
	for (uint64_t l = 0; l < lines; l += 7)
		expect(h, HS_VERSION_LIVE, l, 3);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_le(cs.allocated_bytes, 16 * MiB);
	ck_assert_uint_gt(cs.evictions, lines / 2);
	ck_assert_uint_gt(cs.lines_flushed, lines / 2);
	ck_assert_int_eq(hs_heap_sync(h), 0);
	ck_assert_uint_eq(info(h).lines_used, lines);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

/* ---- eviction under concurrent writers -------------------------------- */

struct writer {
	hs_heap *h;
	uint64_t first, n, rounds;
	uint64_t from;   /* the first round */
};

static void *write_lines(void *p)
{
	struct writer *w = p;
	uint8_t *buf = malloc(LS);

	for (uint64_t r = w->from; r <= w->rounds; r++) {
		for (uint64_t l = w->first; l < w->first + w->n; l++) {
			tu_fill(buf, LS, l, r);
			if (hs_heap_write(w->h, buf, LS, l * LS) != LS)
				abort();
		}
	}
	free(buf);
	return NULL;
}

static void *seal_some(void *p)
{
	for (int i = 0; i < 5; i++) {
		if (hs_version_seal(p, NULL, NULL) != 0)
			abort();
		usleep(20000);
	}
	return NULL;
}

START_TEST(eviction_under_concurrent_writers_loses_nothing)
{
	hs_heap *a = mkheap("a", LS), *b = mkheap("b", LS);
	struct writer w[4] = {
		{ a, 0, 200, 3, 1 }, { a, 200, 200, 3, 1 }, { b, 0, 200, 3, 1 }, { b, 300, 100, 6, 1 },
	};
	pthread_t t[5];

	/* 700 lines of 64K (44 MiB) through a 16 MiB cache, with checkpoints. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, write_lines, &w[i]), 0);
	ck_assert_int_eq(pthread_create(&t[4], NULL, seal_some, a), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++)
		for (uint64_t l = w[i].first; l < w[i].first + w[i].n; l++)
			expect(w[i].h, HS_VERSION_LIVE, l, w[i].rounds);
	ck_assert_int_eq(hs_heap_sync(a), 0);
	ck_assert_int_eq(hs_heap_sync(b), 0);
	ck_assert_uint_eq(info(a).lines_used, 400);
	ck_assert_uint_eq(info(b).lines_used, 300);
	hs_heap_close(a);
	hs_heap_close(b);
	fsck_clean();
}
END_TEST

/* ---- writes racing write-back ------------------------------------------ */

static void *flush_until(void *p)
{
	hs_heap *h = p;
	hs_cache_stats cs;

	do {
		if (hs_heap_flush(h) != 0)
			abort();
		hs_store_cache_stats(st, &cs);
	} while (cs.flush_batches < 400);
	return NULL;
}

/*
 * Write-back holds each line only while it reads it: a write that lands
 * between that and the end of its batch must leave the line dirty, or the
 * store keeps the older content and a cold reopen reads it.
 */
START_TEST(a_write_racing_write_back_reaches_the_store)
{
	hs_heap *h = mkheap("race", LS);
	struct writer w[2] = { { h, 0, 32, 0, 0 }, { h, 32, 32, 0, 0 } };
	pthread_t t[3];
	hs_cache_stats cs;
	uint64_t rounds = 0;

	ck_assert_int_eq(pthread_create(&t[2], NULL, flush_until, h), 0);
	/* Rounds of 4 MiB until write-back has run 400 batches meanwhile. */
	do {
		w[0].from = w[1].from = rounds + 1;
		w[0].rounds = w[1].rounds = rounds + 20;
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL, write_lines, &w[i]), 0);
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		rounds += 20;
		hs_store_cache_stats(st, &cs);
	} while (cs.flush_batches < 400);
	ck_assert_int_eq(pthread_join(t[2], NULL), 0);
	/* The last round, rewritten once more with nothing racing it, would
	 * hide a lost write: sync and read it back from the store alone. */
	ck_assert_int_eq(hs_heap_sync(h), 0);
	hs_heap_close(h);
	hs_store_close(st);
	open_store(16 * MiB, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "race"), 0);
	for (uint64_t l = 0; l < 64; l++)
		expect(h, HS_VERSION_LIVE, l, rounds);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

/* ---- operations on the store see the cache ----------------------------- */

START_TEST(truncate_punch_and_restore_see_dirty_lines)
{
	hs_heap *h = mkheap("app", LS);
	uint8_t got[LS];

	for (uint64_t l = 0; l < 8; l++)
		put(h, l, 1);
	ck_assert_int_eq(hs_version_seal(h, "one", NULL), 0);   /* 1 */
	for (uint64_t l = 0; l < 8; l++)
		put(h, l, 2);                                     /* dirty */
	/* Punch a whole dirty line and half of another. */
	ck_assert_int_eq(hs_heap_punch(h, 2 * LS, LS + LS / 2), 0);
	expect(h, HS_VERSION_LIVE, 2, 0);
	ck_assert_int_eq(hs_heap_read(h, got, LS, 3 * LS), LS);
	for (size_t i = 0; i < LS / 2; i++)
		ck_assert_uint_eq(got[i], 0);
	/* Shrink through a dirty line, grow again: zeros past the cut. */
	ck_assert_int_eq(hs_heap_truncate(h, 5 * LS + 10), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 8 * LS), 0);
	ck_assert_int_eq(hs_heap_read(h, got, LS, 5 * LS), LS);
	for (size_t i = 10; i < LS; i++)
		ck_assert_uint_eq(got[i], 0);
	expect(h, HS_VERSION_LIVE, 6, 0);
	expect(h, HS_VERSION_LIVE, 4, 2);
	/* Restore drops what changed behind the cache. */
	put(h, 0, 3);
	ck_assert_int_eq(hs_heap_restore(h, 1), 0);
	for (uint64_t l = 0; l < 8; l++)
		expect(h, HS_VERSION_LIVE, l, 1);
	ck_assert_uint_eq(info(h).lines_dirty, 0);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

static int count_diff(uint64_t line, void *payload)
{
	(void)line;
	(*(int *)payload)++;
	return 0;
}

START_TEST(transactions_and_diff_see_dirty_lines)
{
	hs_heap *h = mkheap("app", LS);
	uint8_t buf[LS];
	hs_txn *t;
	int n = 0;

	put(h, 0, 1);
	put(h, 1, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	put(h, 1, 2);                                   /* dirty */
	ck_assert_int_eq(hs_version_diff(h, 1, HS_VERSION_LIVE, count_diff, &n), 0);
	ck_assert_int_eq(n, 1);
	/* A transaction's snapshot includes the dirty line... */
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_txn_read(t, buf, LS, LS), LS);
	{
		uint8_t want[LS];

		tu_fill(want, LS, 1, 2);
		ck_assert_int_eq(memcmp(buf, want, LS), 0);
	}
	/* ...and a line written in the cache after it conflicts. */
	tu_fill(buf, LS, 0, 9);
	ck_assert_int_eq(hs_txn_write(t, buf, LS, 0), LS);
	put(h, 0, 4);                                   /* dirty, after begin */
	ck_assert_int_eq(hs_txn_commit(t), -EBUSY);
	hs_txn_free(t);
	expect(h, HS_VERSION_LIVE, 0, 4);
	/* A clean commit replaces what the cache held. */
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_txn_write(t, buf, LS, 0), LS);
	ck_assert_int_eq(hs_txn_commit(t), 0);
	hs_txn_free(t);
	expect(h, HS_VERSION_LIVE, 0, 9);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

START_TEST(deleting_a_heap_drops_its_dirty_lines)
{
	hs_heap *h = mkheap("gone", LS), *k = mkheap("kept", LS);
	hs_cache_stats cs;

	for (uint64_t l = 0; l < 32; l++) {
		put(h, l, 1);
		put(k, l, 1);
	}
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_delete(st, "gone"), 0);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.lines, 32);   /* only kept's */
	ck_assert_int_eq(hs_heap_create(st, "gone", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "gone"), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 32 * LS), 0);
	for (uint64_t l = 0; l < 32; l++)
		expect(h, HS_VERSION_LIVE, l, 0);   /* nothing of the old heap came back */
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_sync(k), 0);
	hs_heap_close(k);
	fsck_clean();
}
END_TEST

/*
 * A write that grows the heap and stops short (here at a line whose blob
 * is gone) leaves the size where its data ends, not where it meant to end.
 */
START_TEST(a_short_growing_write_keeps_only_the_size_it_wrote)
{
	hs_heap *h = mkheap("app", LS);
	static uint8_t line3[LS], buf[2 * LS];
	uint8_t hash[HS_HASH_LEN];
	unsigned int hn = 0;
	rocksdb_writeoptions_t *wo;
	char *err = NULL;

	for (uint64_t l = 0; l < 4; l++)
		put(h, l, 1);
	ck_assert_int_eq(hs_heap_truncate(h, 3 * LS + LS / 2), 0);
	hs_heap_close(h);
	hs_store_close(st);   /* nothing of line 3 stays in memory */
	open_store(16 * MiB, 0);
	tu_fill(line3, LS, 3, 1);
	memset(line3 + LS / 2, 0, LS / 2);
	ck_assert_int_eq(EVP_Digest(line3, LS, hash, &hn, EVP_sha256(), NULL), 1);
	wo = rocksdb_writeoptions_create();
	rocksdb_delete_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_BLOBS), (const char *)hash,
			  HS_HASH_LEN, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_msg(!err, "%s", err);

	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	tu_fill(buf, sizeof(buf), 9, 9);
	/* Half of line 2, then part of line 3, which cannot be loaded. */
	ck_assert_int_eq(hs_heap_write(h, buf, LS + LS / 4, 2 * LS + LS / 2), LS / 2);
	ck_assert_uint_eq(info(h).size_bytes, 3 * LS + LS / 2);
	/* From the start: nothing written, the size stays. */
	ck_assert_int_eq(hs_heap_write(h, buf, LS, 3 * LS + LS / 4), -EUCLEAN);
	ck_assert_uint_eq(info(h).size_bytes, 3 * LS + LS / 2);
	ck_assert_int_eq(hs_heap_read(h, line3, LS / 2, 2 * LS + LS / 2), LS / 2);
	ck_assert_mem_eq(line3, buf, LS / 2);
	hs_heap_close(h);
}
END_TEST

START_TEST(idle_memory_is_given_back_keeping_one_block)
{
	hs_heap *h;
	hs_cache_stats cs;
	uint64_t mapped;

	hs_store_close(st);
	open_store(16 * MiB, 200);
	h = mkheap("app", LS);
	for (uint64_t l = 0; l < 192; l++)   /* 12 MiB: three blocks */
		put(h, l, 1);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_ge(cs.blocks_grown, 3);
	ck_assert_uint_ge(cs.allocated_bytes, 12 * MiB);
	ck_assert_int_eq(hs_heap_flush(h), 0);
	for (int i = 0; i < 100; i++) {   /* idle: 200 ms, then a tick */
		usleep(50000);
		ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
		if (cs.lines == 0 && cs.blocks == 1)
			break;
	}
	ck_assert_uint_eq(cs.lines, 0);
	ck_assert_uint_eq(cs.blocks, 1);   /* the headroom */
	ck_assert_uint_eq(cs.allocated_bytes, cs.block_bytes);
	ck_assert_uint_ge(cs.blocks_returned, 2);
	ck_assert_uint_gt(cs.idle_evictions, 0);
	/* Given back lazily: kept mapped as spares, never past the limit. */
	ck_assert_uint_eq(cs.spare_bytes, cs.blocks_returned * cs.block_bytes);
	mapped = cs.spare_bytes + cs.allocated_bytes;
	ck_assert_uint_le(mapped, 16 * MiB);
	/* And it grows again on demand, into the spares: nothing mapped anew. */
	for (uint64_t l = 0; l < 192; l++)
		expect(h, HS_VERSION_LIVE, l, 1);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_ge(cs.allocated_bytes, 12 * MiB);
	ck_assert_uint_eq(cs.spare_bytes + cs.allocated_bytes, mapped);
	hs_heap_close(h);
}
END_TEST

/*
 * DESIGN's units: a base block at open, blocks of cache=/16 (4 MiB at
 * least), filled earliest first, and idle empty blocks given back one a
 * release period, the latest first, one kept as headroom.
 */
START_TEST(blocks_are_a_sixteenth_and_go_one_a_period)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	hs_cache_stats cs;
	hs_heap *h;
	uint64_t returned;

	hs_store_close(st);
	o.cache_bytes = 256 * MiB;
	o.cache_idle_ms = 200;
	o.cache_release_ms = 3000;
	ck_assert_msg(hs_store_open(&st, dir, &o) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.block_bytes, 16 * MiB);
	ck_assert_uint_eq(cs.blocks, 1);   /* the base block */
	ck_assert_uint_eq(cs.blocks_grown, 1);
	h = mkheap("app", LS);
	for (uint64_t l = 0; l < 48 * MiB / LS; l++)   /* three blocks' worth */
		put(h, l, 1);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.blocks, 3);   /* the earliest filled first: no gaps */
	ck_assert_int_eq(hs_heap_flush(h), 0);
	/* Idle: the lines go at once, the blocks one each 3 s. */
	for (int i = 0; i < 200; i++) {
		usleep(50000);
		ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
		if (cs.blocks_returned)
			break;
	}
	ck_assert_uint_eq(cs.blocks_returned, 1);
	returned = cs.blocks_returned;
	usleep(1000000);   /* a third of the period */
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.lines, 0);
	ck_assert_uint_eq(cs.blocks_returned, returned);
	ck_assert_uint_eq(cs.blocks, 2);
	hs_heap_close(h);
}
END_TEST

/*
 * Blocks hold one line size each: a heap of another size, in a cache full
 * of a heap's clean and dirty lines, waits only for a whole block to empty
 * (its lines evicted, the dirty ones written back), and reads back right.
 */
START_TEST(another_line_size_finds_room_in_a_full_cache)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	uint8_t *buf = malloc(MiB);
	hs_cache_stats cs;
	hs_heap *big, *small;
	double t0;

	ck_assert_ptr_nonnull(buf);
	hs_store_close(st);
	o.cache_bytes = 128 * MiB;   /* blocks of 8 MiB */
	ck_assert_msg(hs_store_open(&st, dir, &o) == 0, "%s", hs_error_last());
	big = mkheap("big", LS);
	small = mkheap("small", 4096);
	for (uint64_t l = 0; l < 128 * MiB / LS; l++)   /* every block, half dirty */
		put(big, l, 1);
	ck_assert_int_eq(hs_store_cache_stats(st, &cs), 0);
	ck_assert_uint_eq(cs.blocks, 16);
	t0 = now_s();
	for (uint64_t off = 0; off < 16 * MiB; off += MiB) {
		tu_fill(buf, MiB, off, 2);
		ck_assert_int_eq(hs_heap_write(small, buf, MiB, off), MiB);
	}
	fprintf(stderr, "test_heapstore_cache: 16 MiB of 4 KiB lines into a full cache of "
		"64 KiB lines in %.2f s\n", now_s() - t0);
	for (uint64_t off = 0; off < 16 * MiB; off += MiB) {
		uint8_t *want = malloc(MiB);

		ck_assert_ptr_nonnull(want);
		tu_fill(want, MiB, off, 2);
		ck_assert_int_eq(hs_heap_read(small, buf, MiB, off), MiB);
		ck_assert(memcmp(buf, want, MiB) == 0);
		free(want);
	}
	for (uint64_t l = 0; l < 128 * MiB / LS; l += 97)
		expect(big, HS_VERSION_LIVE, l, 1);
	hs_heap_close(small);
	hs_heap_close(big);
	free(buf);
}
END_TEST

START_TEST(suspend_checkpoints_frees_and_refuses_changes)
{
	hs_heap *h = mkheap("app", LS);
	uint8_t buf[LS];
	uint64_t v;
	hs_txn *t;

	for (uint64_t l = 0; l < 16; l++)
		put(h, l, 1);                                  /* dirty in the cache */
	ck_assert_int_eq(hs_state_write(h, "regs", 4, 0), 4);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_heap_suspend(h, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_uint_eq(info(h).lines_resident, 0);    /* its memory is back */
	ck_assert_uint_eq(info(h).lines_used, 16);
	ck_assert_int_eq(info(h).suspended, 1);
	for (uint64_t l = 0; l < 16; l++) {
		expect(h, v, l, 1);                           /* the checkpoint has it all */
		expect(h, HS_VERSION_LIVE, l, 1);
	}
	ck_assert_uint_eq(info(h).lines_resident, 0);    /* reads do not refill it */
	/* Every change to the live heap is refused, and changes nothing. */
	tu_fill(buf, LS, 0, 2);
	ck_assert_int_eq(hs_heap_write(h, buf, LS, 0), -EROFS);
	ck_assert_int_eq(hs_heap_write(h, buf, 10, 100 * LS), -EROFS);
	ck_assert_int_eq(hs_heap_punch(h, 0, LS), -EROFS);
	ck_assert_int_eq(hs_heap_truncate(h, 0), -EROFS);
	ck_assert_int_eq(hs_state_write(h, "x", 1, 0), -EROFS);
	ck_assert_int_eq(hs_state_truncate(h, 0), -EROFS);
	ck_assert_int_eq(hs_heap_restore(h, v), -EROFS);
	ck_assert_int_eq(hs_txn_write(t, buf, LS, 0), LS);
	ck_assert_int_eq(hs_txn_commit(t), -EROFS);
	hs_txn_free(t);
	ck_assert_int_eq(hs_heap_suspend(h, NULL), -EALREADY);
	expect(h, HS_VERSION_LIVE, 0, 1);
	ck_assert_uint_eq(info(h).size_bytes, 16 * LS);
	ck_assert_uint_eq(info(h).checkpoints, 1);
	/* It stays suspended across a reopen, until resumed. */
	hs_heap_close(h);
	hs_store_close(st);
	open_store(16 * MiB, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(info(h).suspended, 1);
	ck_assert_int_eq(hs_heap_write(h, buf, LS, 0), -EROFS);
	ck_assert_int_eq(hs_heap_resume(h), 0);
	ck_assert_int_eq(hs_heap_resume(h), -EALREADY);
	ck_assert_int_eq(info(h).suspended, 0);
	put(h, 0, 2);
	expect(h, HS_VERSION_LIVE, 0, 2);
	expect(h, v, 0, 1);
	hs_heap_close(h);
	fsck_clean();
}
END_TEST

START_TEST(too_small_a_cache_is_refused)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	hs_store *s2 = NULL;
	char *d2 = tu_tmpdir("small");

	o.cache_bytes = HS_CACHE_BYTES_MIN - 1;
	ck_assert_int_eq(hs_store_open(&s2, d2, &o), -EINVAL);
	ck_assert_ptr_null(s2);
	{   /* refused before anything was created */
		char marker[4200];

		snprintf(marker, sizeof(marker), "%s/HEAPFS_STORE", d2);
		ck_assert_int_ne(access(marker, F_OK), 0);
	}
	tu_rmtree(d2);
	free(d2);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("heapstore_cache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, writes_are_seen_at_once_and_stored_when_written_back);
	tcase_add_test(tc, checkpoint_holds_every_completed_write);
	tcase_add_test(tc, a_heap_16_times_the_cache_stays_within_it);
	tcase_add_test(tc, eviction_under_concurrent_writers_loses_nothing);
	tcase_add_test(tc, a_write_racing_write_back_reaches_the_store);
	tcase_add_test(tc, truncate_punch_and_restore_see_dirty_lines);
	tcase_add_test(tc, transactions_and_diff_see_dirty_lines);
	tcase_add_test(tc, deleting_a_heap_drops_its_dirty_lines);
	tcase_add_test(tc, a_short_growing_write_keeps_only_the_size_it_wrote);
	tcase_add_test(tc, idle_memory_is_given_back_keeping_one_block);
	tcase_add_test(tc, blocks_are_a_sixteenth_and_go_one_a_period);
	tcase_add_test(tc, another_line_size_finds_room_in_a_full_cache);
	tcase_add_test(tc, suspend_checkpoints_frees_and_refuses_changes);
	tcase_add_test(tc, too_small_a_cache_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(cache_suite());
}
