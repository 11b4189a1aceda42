/*
 * test_heapstore_review.c - the defects an outside review of heapstore
 * found (issue 12), each shown on a real store on disk, with and without
 * the line cache where both paths exist:
 *
 *   txn        a commit keeps a truncate made after its transaction began
 *   extend     an extending write that races a truncate or a seal is seen
 *              whole or not at all (no dirty lines past the end, no
 *              checkpoint of its new size without its bytes)
 *   locks      the cache's idle pass drops heap references outside its
 *              lock, so a thread holding the store lock cannot stall it
 *   close      a write-back that fails at close, or in the background, is
 *              reported, not dropped silently
 *   delete     a delete whose synced write fails leaves the heap open, live
 *              and holding its unflushed lines
 *   purge      an open finishes every interrupted deletion, not 64
 *   marker     a store created on a full disk fails with ENOSPC, not EIO
 *   dup        a duplicated handle names its heap, not a later one of the
 *              same name
 *   races      partial writes racing heap and store flushes keep every
 *              byte (and, in the ThreadSanitizer build, race on nothing)
 *
 * Faults are injected through the internal header: the store's sticky
 * write error (what a failed RocksDB write sets).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* _i == 0: write-through; 1: with a 16 MiB line cache. */
static void open_store_for(int i)
{
	open_store(i ? 16 * MiB : 0, 0);
}

static void setup(void)
{
	dir = tu_tmpdir("review");
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

static uint64_t heap_size(hs_heap *h)
{
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	return hi.size_bytes;
}

static void put(hs_heap *h, uint64_t line, uint64_t tag)
{
	static __thread uint8_t buf[LS];

	tu_fill(buf, LS, line, tag);
	ck_assert_msg(hs_heap_write(h, buf, LS, line * LS) == LS, "%s", hs_error_last());
}

/* Line @line of the live heap holds tu_fill(line, tag), or zeros for tag 0. */
static void expect(hs_heap *h, uint64_t line, uint64_t tag)
{
	static __thread uint8_t got[LS], want[LS];

	memset(want, 0, LS);
	if (tag)
		tu_fill(want, LS, line, tag);
	ck_assert_msg(hs_heap_read(h, got, LS, line * LS) == LS, "line %llu: %s",
		      (unsigned long long)line, hs_error_last());
	ck_assert_msg(memcmp(got, want, LS) == 0, "line %llu differs", (unsigned long long)line);
}

/* Make every write of the store fail with @err (0: succeed again). */
static void writes_fail(int err)
{
	atomic_store(&st->write_error, err);
}

/* ---- txn: a commit keeps a later truncate ------------------------------- */

START_TEST(txn_commit_keeps_a_truncate_made_after_begin)
{
	hs_heap *h;
	hs_txn *t;
	uint8_t got[LS];

	open_store_for(_i);
	h = mkheap("app");
	for (uint64_t l = 0; l < 16; l++)
		put(h, l, 1);
	ck_assert_int_eq(hs_heap_sync(h), 0);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_heap_truncate(h, LS), 0);
	ck_assert_int_eq(hs_txn_write(t, "y", 1, 0), 1);
	ck_assert_msg(hs_txn_commit(t) == 0, "%s", hs_error_last());
	hs_txn_free(t);
	/* max(size now, end of what it wrote): the truncate stays. */
	ck_assert_uint_eq(heap_size(h), LS);
	ck_assert_int_eq(hs_heap_read(h, got, 1, 0), 1);
	ck_assert_int_eq(got[0], 'y');

	/* A commit that writes past the size grows it to its end, no further. */
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_heap_truncate(h, LS / 2), 0);
	ck_assert_int_eq(hs_txn_write(t, "zz", 2, 3 * LS), 2);
	ck_assert_msg(hs_txn_commit(t) == 0, "%s", hs_error_last());
	hs_txn_free(t);
	ck_assert_uint_eq(heap_size(h), 3 * LS + 2);

	/* A staged line the truncate changed is a conflict: nothing written. */
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 10), 0);
	ck_assert_int_eq(hs_txn_write(t, "w", 1, 100), 1);
	ck_assert_int_eq(hs_txn_commit(t), -EBUSY);
	hs_txn_free(t);
	ck_assert_uint_eq(heap_size(h), 10);
	hs_heap_close(h);
}
END_TEST

/* ---- extend: an extending write racing a truncate and a seal ----------- */

struct racer {
	hs_heap *h;
	atomic_int stop;
	atomic_int rounds;
};

static void *truncate_and_seal(void *arg)
{
	struct racer *r = arg;

	while (!atomic_load(&r->stop)) {
		uint64_t v;
		hs_version_info vi;
		uint8_t *buf = malloc(LS);

		ck_assert_int_eq(hs_heap_truncate(r->h, 0), 0);
		/*
		 * Only a whole-line append grows the size here, so a
		 * checkpoint's last line holds the bytes of the write that set
		 * its size.
		 */
		ck_assert_msg(hs_version_seal(r->h, NULL, &v) == 0, "%s", hs_error_last());
		ck_assert_int_eq(hs_version_info_get(r->h, v, &vi), 0);
		if (vi.size_bytes) {
			uint64_t last = vi.size_bytes - LS;

			ck_assert_int_eq(hs_version_read(r->h, v, buf, LS, last), LS);
			ck_assert_msg(!hs_codec__is_zero(buf, LS),
				      "checkpoint %llu of size %llu: its last line is zeros",
				      (unsigned long long)v, (unsigned long long)vi.size_bytes);
		}
		ck_assert_int_eq(hs_version_delete(r->h, v), 0);
		free(buf);
		atomic_fetch_add(&r->rounds, 1);
	}
	return NULL;
}

/*
 * An extending write through the cache used to grow the size under the
 * heap lock held exclusively and write its lines under it shared: a
 * truncate in between left dirty lines past the end (back when the heap
 * grew), a seal in between checkpointed the new line as zeros.  Two threads
 * race whole-line appends against truncate-and-seal.
 */
START_TEST(extending_write_racing_a_truncate_keeps_nothing_past_the_end)
{
	struct racer r = { 0 };
	pthread_t t;
	uint64_t size;

	open_store(16 * MiB, 0);   /* the window exists only with the cache */
	r.h = mkheap("app");
	ck_assert_int_eq(pthread_create(&t, NULL, truncate_and_seal, &r), 0);
	/* Appends for 40 rounds of the other thread (a few seconds at most). */
	for (int i = 0; atomic_load(&r.rounds) < 40 && i < 1000000; i++) {
		hs_heap_info hi;

		ck_assert_int_eq(hs_heap_info_get(r.h, &hi), 0);
		put(r.h, (hi.size_bytes + LS - 1) / LS % 64, (uint64_t)i + 1);
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	ck_assert_int_ge(atomic_load(&r.rounds), 40);
	/* What lies past the end reads as zeros when the heap grows again. */
	size = heap_size(r.h);
	ck_assert_int_eq(hs_heap_truncate(r.h, 64 * LS), 0);
	for (uint64_t l = (size + LS - 1) / LS; l < 64; l++)
		expect(r.h, l, 0);
	hs_heap_close(r.h);
}
END_TEST

/* ---- locks: the idle pass and the store lock ---------------------------- */

struct stats_probe {
	hs_store *s;
	uint64_t base, evicted;
};

/* Reads the cache's figures (cache->lock) until 17 idle lines went. */
static void *probe_stats(void *arg)
{
	struct stats_probe *p = arg;
	hs_cache_stats cs;

	for (int i = 0; i < 800; i++) {
		hs_store_cache_stats(p->s, &cs);
		p->evicted = cs.idle_evictions - p->base;
		if (p->evicted >= 17)
			break;
		usleep(10000);
	}
	return NULL;
}

/*
 * More than 16 heaps with no open handle lose their last line in one idle
 * pass: their references drop then, and closing a heap takes the store
 * lock.  Taken under cache->lock, that was a lock-order inversion: with the
 * store lock held elsewhere (hs_heap_delete) the cache stopped for everyone.
 * Here the test holds the store lock through the idle pass and reads the
 * cache's figures meanwhile.
 */
START_TEST(idle_pass_drops_heap_references_outside_the_cache_lock)
{
	enum { HEAPS = 24 };
	struct stats_probe p = { 0 };
	hs_heap *hs[HEAPS];
	hs_cache_stats cs;
	struct timespec until;
	uint8_t byte;
	pthread_t t;
	int rc;

	/* Idle long enough that the lock below is taken before any line goes,
	 * even on a loaded machine. */
	open_store(16 * MiB, 1500);
	for (int i = 0; i < HEAPS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "h%02d", i);
		hs[i] = mkheap(name);
		put(hs[i], 0, (uint64_t)i + 1);
		ck_assert_int_eq(hs_heap_sync(hs[i]), 0);
	}
	/* Touch every line within a moment, so one idle pass takes them all. */
	for (int i = 0; i < HEAPS; i++)
		ck_assert_int_eq(hs_heap_read(hs[i], &byte, 1, 0), 1);
	for (int i = 0; i < HEAPS; i++)
		hs_heap_close(hs[i]);   /* the cache's reference is the last */
	hs_store_cache_stats(st, &cs);
	p.base = cs.idle_evictions;
	pthread_mutex_lock(&st->lock);
	p.s = st;
	ck_assert_int_eq(pthread_create(&t, NULL, probe_stats, &p), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 12;
	rc = pthread_timedjoin_np(t, NULL, &until);
	pthread_mutex_unlock(&st->lock);
	if (rc != 0)
		pthread_join(t, NULL);   /* free now: the store lock is back */
	ck_assert_msg(rc == 0, "the cache's figures could not be read for 12 s while the "
		      "store lock was held: the idle pass waits for it under cache->lock");
	ck_assert_msg(p.evicted >= 17, "only %llu idle lines went in 8 s",
		      (unsigned long long)p.evicted);
	/* Every heap is whole afterwards. */
	for (int i = 0; i < HEAPS; i++) {
		char name[16];
		hs_heap *h;

		snprintf(name, sizeof(name), "h%02d", i);
		ck_assert_int_eq(hs_heap_open(&h, st, name), 0);
		expect(h, 0, (uint64_t)i + 1);
		hs_heap_close(h);
	}
}
END_TEST

/* ---- races: partial writes against flushes ------------------------------ */

struct flusher_arg {
	hs_heap *h;
	atomic_int writers;       /* still writing: the flushers go on */
};

static void *heap_flusher(void *p)
{
	struct flusher_arg *a = p;

	while (atomic_load(&a->writers))
		ck_assert_msg(hs_heap_flush(a->h) == 0, "%s", hs_error_last());
	return NULL;
}

static void *store_flusher(void *p)
{
	struct flusher_arg *a = p;

	while (atomic_load(&a->writers))
		ck_assert_msg(hs_store_flush(a->h->store) == 0, "%s", hs_error_last());
	return NULL;
}

struct pwriter {
	struct flusher_arg *a;
	uint64_t first;
};

/* 4 KiB writes into 16 lines of its own, round after round: partial
 * writes load their line (hs_cache__fill) while write-back cleans it. */
static void *partial_writer(void *p)
{
	struct pwriter *w = p;
	uint8_t buf[4096];

	for (uint64_t r = 0; r < 400; r++) {
		for (uint64_t l = w->first; l < w->first + 16; l++) {
			memset(buf, (int)(r + l) & 0xff, sizeof(buf));
			ck_assert_int_eq(hs_heap_write(w->a->h, buf, sizeof(buf),
						       l * LS + (r % 16) * 4096),
					 sizeof(buf));
		}
	}
	atomic_fetch_sub(&w->a->writers, 1);
	return NULL;
}

/*
 * A line's state was read without cache->lock while write-back changed it,
 * and the store-wide flush read the dirty count without the lock: races
 * ThreadSanitizer reports (HEAPFS_TSAN build).  Every build checks the bytes.
 */
START_TEST(partial_writes_racing_flushes_keep_every_byte)
{
	struct flusher_arg a = { 0 };
	struct pwriter w[2] = { { &a, 0 }, { &a, 16 } };
	pthread_t t[4];
	uint8_t got[4096];

	open_store(16 * MiB, 0);
	a.h = mkheap("app");
	ck_assert_int_eq(hs_heap_truncate(a.h, 32 * LS), 0);
	atomic_store(&a.writers, 2);
	ck_assert_int_eq(pthread_create(&t[0], NULL, partial_writer, &w[0]), 0);
	ck_assert_int_eq(pthread_create(&t[1], NULL, partial_writer, &w[1]), 0);
	ck_assert_int_eq(pthread_create(&t[2], NULL, heap_flusher, &a), 0);
	ck_assert_int_eq(pthread_create(&t[3], NULL, store_flusher, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* Round r wrote piece r % 16 of each line: the last 16 rounds hold. */
	for (uint64_t l = 0; l < 32; l++) {
		for (uint64_t piece = 0; piece < 16; piece++) {
			uint64_t r = 384 + piece;

			ck_assert_int_eq(hs_heap_read(a.h, got, sizeof(got), l * LS + piece * 4096),
					 sizeof(got));
			ck_assert_msg(got[0] == ((r + l) & 0xff) && got[4095] == got[0],
				      "line %llu piece %llu", (unsigned long long)l,
				      (unsigned long long)piece);
		}
	}
	hs_heap_close(a.h);
}
END_TEST

/* ---- close: write-back failures are reported ---------------------------- */

START_TEST(close_reports_dirty_lines_it_could_not_write_back)
{
	hs_heap *h;
	int rc;

	open_store(16 * MiB, 0);
	h = mkheap("app");
	for (uint64_t l = 0; l < 3; l++)
		put(h, l, 7);
	hs_heap_close(h);
	writes_fail(-EIO);
	rc = hs_store_close(st);
	st = NULL;
	ck_assert_int_eq(rc, -EIO);
	ck_assert_msg(strstr(hs_error_last(), "3 dirty lines") &&
		      strstr(hs_error_last(), "'app'") && strstr(hs_error_last(), "lost"),
		      "close said: %s", hs_error_last());
}
END_TEST

START_TEST(sync_reports_a_failed_background_write_back_once)
{
	hs_cache_stats cs;
	hs_heap *h;
	int i;

	open_store(8 * MiB, 0);
	h = mkheap("app");
	/* Sized first: writes within the size touch only the cache. */
	ck_assert_int_eq(hs_heap_truncate(h, 80 * LS), 0);
	writes_fail(-EIO);
	/* Past half the cache dirty: the flushers write back, and fail. */
	for (uint64_t l = 0; l < 80; l++)
		put(h, l, 3);
	for (i = 0; i < 1000; i++) {
		hs_store_cache_stats(st, &cs);
		if (cs.flush_failures)
			break;
		usleep(10000);
	}
	ck_assert_msg(cs.flush_failures > 0, "no background write-back ran in 10 s");
	writes_fail(0);   /* the disk is back: the retry succeeds ... */
	ck_assert_int_eq(hs_heap_sync(h), -EIO);   /* ... and the failure is told */
	ck_assert_msg(strstr(hs_error_last(), "background write-back failed"), "%s",
		      hs_error_last());
	ck_assert_int_eq(hs_heap_sync(h), 0);      /* once */
	ck_assert_int_eq(hs_store_flush(st), -EIO);
	ck_assert_int_eq(hs_store_flush(st), 0);
	for (uint64_t l = 0; l < 80; l++)
		expect(h, l, 3);
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	open_store(0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	for (uint64_t l = 0; l < 80; l++)
		expect(h, l, 3);
	hs_heap_close(h);
}
END_TEST

/* ---- delete: a failed delete changes nothing ---------------------------- */

START_TEST(failed_delete_keeps_the_heap_and_its_dirty_lines)
{
	hs_heap *h, *again;

	open_store_for(_i);
	h = mkheap("app");
	put(h, 0, 1);
	ck_assert_int_eq(hs_heap_sync(h), 0);
	put(h, 1, 2);   /* dirty in the cache, not yet written back */
	writes_fail(-EIO);
	ck_assert_int_eq(hs_heap_delete(st, "app"), -EIO);
	writes_fail(0);
	/* The open handle still reads the heap, unflushed line included. */
	expect(h, 0, 1);
	expect(h, 1, 2);
	ck_assert_int_eq(hs_heap_sync(h), 0);
	ck_assert_int_eq(hs_heap_open(&again, st, "app"), 0);
	hs_heap_close(again);
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	open_store(0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	expect(h, 0, 1);
	expect(h, 1, 2);
	hs_heap_close(h);
	/* And a delete that succeeds still stops open handles. */
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_delete(st, "app"), 0);
	ck_assert_int_eq(hs_heap_write(h, "x", 1, 0), -ENOENT);
	hs_heap_close(h);
}
END_TEST

/* ---- purge: every interrupted deletion is finished ---------------------- */

/* What a crash right after hs_heap_delete()'s synced write leaves. */
static void delete_interrupted(const char *name)
{
	hs_heap *h;
	struct hs_heap_rec rec;
	uint8_t key[HS_META_KEY_MAX];
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

	ck_assert_int_eq(hs_heap_open(&h, st, name), 0);
	rec = h->rec;
	rec.state = HS_HEAP_DELETING;
	rocksdb_writebatch_delete_cf(wb, st->cf[HS_CF_META], (const char *)key,
				     hs_key__meta(key, 'N', 0, name));
	ck_assert_int_eq(hs_heap__put_rec(h, wb, &rec), 0);
	ck_assert_int_eq(hs_store__write(st, wb, true), 0);
	rocksdb_writebatch_destroy(wb);
	hs_heap_close(h);
}

START_TEST(open_finishes_every_interrupted_deletion)
{
	enum { HEAPS = 150 };
	hs_store_usage u;
	size_t n;
	hs_heap_info *list;
	hs_heap *keep;

	open_store(0, 0);
	for (int i = 0; i < HEAPS; i++) {
		char name[16];
		hs_heap *h;

		snprintf(name, sizeof(name), "d%03d", i);
		h = mkheap(name);
		put(h, 0, (uint64_t)i + 100);   /* a blob of its own */
		hs_heap_close(h);
		delete_interrupted(name);
	}
	keep = mkheap("keep");
	put(keep, 0, 1);
	hs_heap_close(keep);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_uint_eq(u.blobs, HEAPS + 1);
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;

	open_store(0, 0);
	ck_assert_int_eq(hs_store_usage_get(st, &u), 0);
	ck_assert_msg(u.blobs == 1, "%llu blobs still referenced after the open",
		      (unsigned long long)u.blobs);
	ck_assert_int_eq(hs_heap_list(st, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0].name, "keep");
	free(list);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

/* ---- marker: a full disk at creation says so ---------------------------- */

/*
 * A new store's first write is its marker file.  On a full disk that write
 * fails, and the open said EIO ("cannot write the store marker"); it is
 * ENOSPC, as write(2) said.  A private mount namespace holds a tmpfs that
 * vanishes with this (forked) test; needs root, as the full-disk test of
 * test_heapstore does.
 */
START_TEST(store_created_on_a_full_disk_says_enospc)
{
	char *fs, *fill, *sdir;
	char block[4096];
	int fd;

	ck_assert_int_ne(asprintf(&fs, "%s/fs", dir), -1);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s (run as root)",
		      strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_msg(mount("tmpfs", fs, "tmpfs", 0, "size=256k") == 0, "mount tmpfs: %s",
		      strerror(errno));
	ck_assert_int_ne(asprintf(&fill, "%s/fill", fs), -1);
	fd = open(fill, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	memset(block, 'x', sizeof(block));
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	ck_assert_int_ne(asprintf(&sdir, "%s/store", fs), -1);
	ck_assert_int_eq(hs_store_open(&st, sdir, NULL), -ENOSPC);
	ck_assert_msg(strstr(hs_error_last(), "marker"), "%s", hs_error_last());
	st = NULL;
	umount2(fs, MNT_DETACH);
	free(sdir);
	free(fill);
	free(fs);
}
END_TEST

/* ---- dup: a handle names its heap --------------------------------------- */

START_TEST(dup_handle_stays_with_its_heap_after_a_re_create)
{
	hs_heap *h, *d, *fresh;

	open_store_for(_i);
	h = mkheap("app");
	put(h, 0, 1);
	d = hs_heap_dup(h);
	ck_assert_ptr_eq(d, h);
	ck_assert_int_eq(hs_heap_delete(st, "app"), 0);
	fresh = mkheap("app");
	put(fresh, 0, 2);
	/* The old handles see their heap deleted, never the new one. */
	ck_assert_int_eq(hs_heap_write(d, "x", 1, 0), -ENOENT);
	ck_assert_int_eq(hs_heap_read(d, (uint8_t[1]){ 0 }, 1, 0), -ENOENT);
	hs_heap_close(d);
	hs_heap_close(h);
	expect(fresh, 0, 2);
	hs_heap_close(fresh);
}
END_TEST

static Suite *review_suite(void)
{
	Suite *s = suite_create("heapstore_review");
	TCase *tc = tcase_create("review");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, txn_commit_keeps_a_truncate_made_after_begin, 0, 2);
	tcase_add_test(tc, extending_write_racing_a_truncate_keeps_nothing_past_the_end);
	tcase_add_test(tc, idle_pass_drops_heap_references_outside_the_cache_lock);
	tcase_add_test(tc, partial_writes_racing_flushes_keep_every_byte);
	tcase_add_test(tc, close_reports_dirty_lines_it_could_not_write_back);
	tcase_add_test(tc, sync_reports_a_failed_background_write_back_once);
	tcase_add_loop_test(tc, failed_delete_keeps_the_heap_and_its_dirty_lines, 0, 2);
	tcase_add_test(tc, open_finishes_every_interrupted_deletion);
	tcase_add_test(tc, store_created_on_a_full_disk_says_enospc);
	tcase_add_loop_test(tc, dup_handle_stays_with_its_heap_after_a_re_create, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(review_suite());
}
