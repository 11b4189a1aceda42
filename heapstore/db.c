/*
 * db.c - the RocksDB layer: point reads, writes and syncs of the store's
 * database, with the sticky write error that stops writes after a failed
 * one, a full disk told as ENOSPC, and the store's space figures.  Every
 * write of heapstore goes through hs_store__write().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "heapstore_int.h"

/* 0 with *val (free with rocksdb_free) or -ENOENT, or an error. */
int hs_store__get(hs_store *s, enum hs_cf cf, const rocksdb_readoptions_t *ro,
		  const void *key, size_t klen, char **val, size_t *vlen)
{
	char *err = NULL;

	*val = rocksdb_get_cf(s->db, ro ? ro : s->ro, s->cf[cf], key, klen, vlen, &err);
	if (err)
		return hs_rdb_error(err, "store read");
	return *val ? 0 : -ENOENT;
}

int hs_store__get_counter(hs_store *s, char tag, uint64_t id, int64_t *out)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl = hs_key__meta(key, tag, id, NULL), vl = 0;
	char *val = NULL;
	int rc = hs_store__get(s, HS_CF_META, NULL, key, kl, &val, &vl);

	*out = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (vl == 8)
		*out = (int64_t)hs_le64_get((const uint8_t *)val);
	else
		rc = hs_errno_set(-EUCLEAN, "%s: counter '%c' %llu is %zu bytes, not 8", s->dir,
				  tag, (unsigned long long)id, vl);
	rocksdb_free(val);
	return rc;
}

int hs_multiget__init(struct hs_multiget *m, size_t n)
{
	size_t c = n ? n : 1;

	memset(m, 0, sizeof(*m));
	m->n = n;
	m->keys = calloc(c, sizeof(*m->keys));
	m->klen = calloc(c, sizeof(*m->klen));
	m->cfs = calloc(c, sizeof(*m->cfs));
	m->vals = calloc(c, sizeof(*m->vals));
	m->vlen = calloc(c, sizeof(*m->vlen));
	m->errs = calloc(c, sizeof(*m->errs));
	if (!m->keys || !m->klen || !m->cfs || !m->vals || !m->vlen || !m->errs) {
		hs_multiget__free(m);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	return 0;
}

void hs_multiget__set(struct hs_multiget *m, size_t i, hs_store *s, enum hs_cf cf,
		      const void *key, size_t klen)
{
	m->keys[i] = key;
	m->klen[i] = klen;
	m->cfs[i] = s->cf[cf];
}

int hs_multiget__run(struct hs_multiget *m, hs_store *s, const char *what)
{
	int rc = 0;

	if (m->n)
		rocksdb_multi_get_cf(s->db, s->ro, m->cfs, m->n, m->keys, m->klen, m->vals,
				     m->vlen, m->errs);
	for (size_t i = 0; i < m->n; i++) {
		if (m->errs[i] && rc == 0)
			rc = hs_rdb_error(m->errs[i], what);
		else if (m->errs[i])
			rocksdb_free(m->errs[i]);
		m->errs[i] = NULL;
	}
	return rc;
}

void hs_multiget__free(struct hs_multiget *m)
{
	for (size_t i = 0; m->vals && i < m->n; i++)
		rocksdb_free(m->vals[i]);
	free(m->keys);
	free(m->klen);
	free(m->cfs);
	free(m->vals);
	free(m->vlen);
	free(m->errs);
	memset(m, 0, sizeof(*m));
}

/* The purger's queue (heap.c) is here, below GC's and fsck's callers. */
void hs_store__purge_drain(hs_store *s)
{
	pthread_mutex_lock(&s->purge_lock);
	while (s->purge_started && !s->purge_stop && (s->purge_n || s->purge_busy))
		pthread_cond_wait(&s->purge_cond, &s->purge_lock);
	pthread_mutex_unlock(&s->purge_lock);
}

static int write_stopped(hs_store *s)
{
	int rc = atomic_load(&s->write_error);

	if (rc)
		return hs_errno_set(rc, "%s: store stopped writing after an earlier "
				    "write failed (%s); reopen it", s->dir, strerror(-rc));
	return 0;
}

/*
 * An I/O error while the store's disk is full is ENOSPC, whatever RocksDB
 * says: a background flush that ran out of space surfaces in the next
 * write as its own error (seen: "No such file or directory: While open a
 * file for appending" of the SST it had to remove).
 */
static int full_disk(hs_store *s, int rc)
{
	struct statvfs v;

	if (rc != -EIO || statvfs(s->dir, &v) != 0 ||
	    (uint64_t)v.f_bavail * v.f_frsize >= (4u << 20))
		return rc;
	return hs_errno_set(-ENOSPC, "%s: the disk is full (%s)", s->dir, hs_error_last());
}

int hs_store__write(hs_store *s, rocksdb_writebatch_t *wb, bool sync)
{
	char *err = NULL;
	int rc, none = 0;

	if (s->read_only)
		return hs_errno_set(-EROFS, "store is open read-only");
	if ((rc = write_stopped(s)) < 0)
		return rc;
	rocksdb_write(s->db, sync ? s->wo_sync : s->wo, wb, &err);
	if (!err)
		return 0;
	rc = hs_rdb_error(err, "store write");
	rc = full_disk(s, rc);
	atomic_compare_exchange_strong(&s->write_error, &none, rc);
	return rc;
}

int hs_store_write_error(hs_store *s)
{
	return atomic_load(&s->write_error);
}

int (*hs__test_sync)(hs_store *s);

/* Make every write that returned durable: one synced WAL flush. */
int hs_store__sync(hs_store *s)
{
	char *err = NULL;
	int rc, none = 0;

	if (s->read_only)
		return 0;
	if ((rc = write_stopped(s)) < 0)
		return rc;
	if (hs__test_sync && (rc = hs__test_sync(s)) < 0) {
		atomic_compare_exchange_strong(&s->write_error, &none, rc);
		return hs_errno_set(rc, "syncing the store: %s (a test's fault)", strerror(-rc));
	}
	rocksdb_flush_wal(s->db, 1, &err);
	if (!err)
		return 0;
	rc = full_disk(s, hs_rdb_error(err, "syncing the store"));
	atomic_compare_exchange_strong(&s->write_error, &none, rc);
	return rc;
}

rocksdb_t *hs_store__db(hs_store *s)
{
	return s->db;
}

rocksdb_column_family_handle_t *hs_store__cf(hs_store *s, enum hs_cf cf)
{
	return s->cf[cf];
}

int hs_store_space_get(hs_store *s, uint64_t *used_bytes)
{
	/* Memtables too: written data is not in files until a flush. */
	static const char *const props[] = {
		"rocksdb.live-sst-files-size", "rocksdb.live-blob-file-size",
		"rocksdb.cur-size-all-mem-tables",
	};

	*used_bytes = 0;
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
			uint64_t v = 0;

			if (rocksdb_property_int_cf(s->db, s->cf[cf], props[i], &v) == 0)
				*used_bytes += v;
		}
	}
	return 0;
}

/* The error an iterator stopped on (0: it ran out of keys), as -errno. */
int hs_iter__error(rocksdb_iterator_t *it, const char *what)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	return err ? hs_rdb_error(err, what) : 0;
}

/* Destroy @it and @ro; @rc, or the error @it stopped on. */
int hs_iter__finish(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro,
		       int rc, const char *what)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	if (err && rc == 0)
		rc = hs_rdb_error(err, what);
	else if (err)
		rocksdb_free(err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* Blob GC for the blobs family: on (every blob file, nothing forced) or off. */
static int blob_gc_set(hs_store *s, bool on)
{
	static const char *keys[] = { "enable_blob_garbage_collection",
				      "blob_garbage_collection_age_cutoff",
				      "blob_garbage_collection_force_threshold" };
	static const char *on_vals[] = { "true", "1.0", "1.0" };
	static const char *off_vals[] = { "false", "0.25", "1.0" };
	char *err = NULL;

	rocksdb_set_options_cf(s->db, s->cf[HS_CF_BLOBS], 3, keys, on ? on_vals : off_vals,
			       &err);
	return err ? hs_rdb_error(err, on ? "enabling blob GC" : "disabling blob GC") : 0;
}

static int flush_all(hs_store *s)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *err = NULL;
	int rc = 0;

	rocksdb_flushoptions_set_wait(fo, 1);
	for (int cf = 0; cf < HS_CF_COUNT && rc == 0; cf++) {
		rocksdb_flush_cf(s->db, fo, s->cf[cf], &err);
		if (err)
			rc = hs_rdb_error(err, "flushing the store");
	}
	rocksdb_flushoptions_destroy(fo);
	return rc;
}

/* Every level of @cf into one, bottommost included (the C API reports no
 * error: a failed compaction leaves the store as it was, only larger). */
static void compact_cf(hs_store *s, enum hs_cf cf)
{
	rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();

	rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
	rocksdb_compact_range_cf_opt(s->db, s->cf[cf], co, NULL, 0, NULL, 0);
	rocksdb_compactoptions_destroy(co);
}

/*
 * Compactions the manual ones set off run on in the background, still
 * holding the old files (seen: du 18 MiB for 8 MiB live, 12 MiB a second
 * later): wait for them (at most a minute), then purge, so a du right
 * after sees the space back.
 */
static int settle(hs_store *s)
{
	char *err = NULL;
	int rc = 0;

	for (int i = 0; i < 6000; i++) {
		uint64_t running = 0, pending = 0, flushing = 0;

		rocksdb_property_int(s->db, "rocksdb.num-running-compactions", &running);
		rocksdb_property_int(s->db, "rocksdb.num-running-flushes", &flushing);
		for (int cf = 0; cf < HS_CF_COUNT; cf++) {
			uint64_t p = 0;

			rocksdb_property_int_cf(s->db, s->cf[cf], "rocksdb.compaction-pending", &p);
			pending += p;
		}
		if (!running && !pending && !flushing)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	rocksdb_disable_file_deletions(s->db, &err);
	if (!err)
		rocksdb_enable_file_deletions(s->db, 1, &err);
	if (err)
		rc = hs_rdb_error(err, "purging obsolete files");
	return rc;
}

/*
 * Drop the keys GC deleted from the families that hold keys only, and from
 * the blobs family without touching blob values: compacting its tables
 * tells RocksDB which blobs are gone, and a blob file whose every blob is
 * gone is deleted whole.  Costs a flush and O(keys), never a rewrite of
 * blob data: what GC runs after it freed enough (gc/), so an overwritten
 * heap's old blob files leave the disk without gc --full.
 */
int hs_store_trim(hs_store *s)
{
	int rc;

	if (s->read_only)
		return hs_errno_set(-EROFS, "store is open read-only");
	/* Memtables first: a family written rarely (meta, refs) otherwise
	 * keeps every WAL file since its last flush, each a second copy of
	 * the blobs written meanwhile (seen: 55 MB of WAL for a 32 MiB heap). */
	if ((rc = flush_all(s)) < 0)
		return rc;
	compact_cf(s, HS_CF_META);
	compact_cf(s, HS_CF_REFS);
	compact_cf(s, HS_CF_HREFS);
	compact_cf(s, HS_CF_BLOBS);
	return 0;
}

/*
 * Give the disk back what deleted keys hold: flush and compact every family
 * with blob GC off (the blobs family's keys all reach one level without a
 * blob moving), then the blobs family once more with blob GC on for that
 * one compaction (age cutoff 1.0: every blob file; nothing forced), so each
 * live blob moves once to a new file and the old files go.  Compacting with
 * blob GC on from the start moved blobs at every level, and a force
 * threshold of 0 set off compaction after compaction: bench/gc.sh saw 3-5x
 * (up to 40x on small stores) the live bytes written.  Blob GC stays off
 * otherwise: on at every compaction it relocated every blob each time (21x
 * write amplification on a 16 GiB heap).  Costs O(store): rewrites what is
 * live, once.
 */
int hs_store_compact(hs_store *s)
{
	int rc;

	if (s->read_only)
		return hs_errno_set(-EROFS, "store is open read-only");
	if ((rc = flush_all(s)) < 0)
		return rc;
	for (int cf = 0; cf < HS_CF_COUNT; cf++)
		compact_cf(s, cf);
	if ((rc = blob_gc_set(s, true)) < 0)
		return rc;
	compact_cf(s, HS_CF_BLOBS);
	rc = blob_gc_set(s, false);
	return settle(s) ?: rc;
}

int hs_store__disk_room(hs_store *s, uint64_t bytes)
{
	struct statvfs v;
	/* Its WAL, then its blob file; and the memtables' flush, which may
	 * come with it.  A flush that finds no room stops the store until it
	 * is reopened, so that is refused here first. */
	uint64_t room, want = 2 * bytes + 2 * HS_BLOBS_MEMTABLE + (4u << 20);

	if (statvfs(s->dir, &v) != 0)
		return 0;   /* cannot tell: let the write say */
	room = (uint64_t)v.f_bavail * v.f_frsize;
	if (room < want)
		return hs_errno_set(-ENOSPC, "%s: the disk has %llu bytes free, %llu needed",
				    s->dir, (unsigned long long)room, (unsigned long long)want);
	return 0;
}
