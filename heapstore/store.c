/*
 * store.c - opening and closing a store: the RocksDB database, its column
 * families and their options, the format record, the add merge operator
 * that keeps reference counts and counters, and finishing interrupted heap
 * deletions.  The top layer: it calls every other (heapstore_int.h).
 *
 * RocksDB options, per column family (figures in README.md):
 *   blobs    integrated blob files (values of any size go to blob files, so
 *            compactions move 32-byte keys, not 64 KiB values); no RocksDB
 *            compression, the values are zstd frames already; bloom filter
 *            for the point lookups that read a line.
 *   refs     merge operator "add"; bloom filter: probed on every new line.
 *   meta     merge operator "add" (per-heap counters); bloom filter.
 *   hrefs    bloom filter on the whole key: read for every blob a batch
 *            takes or drops a reference on (blob.c, accounting).
 *   lines, changes  default block-based tables: they are read by seeks and
 *            range scans, which a whole-key bloom filter does not help.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heapstore_int.h"

static const char *const cf_names[HS_CF_COUNT] = {
	"default", "meta", "lines", "changes", "blobs", "refs", "hrefs",
};

/* ---- the add merge operator ------------------------------------------- */

/*
 * Operands and values are either 8 bytes (an i64 counter, little-endian) or
 * 16 bytes (a reference record: i64 count, u32 stored bytes, u32 raw bytes;
 * counts add, sizes keep the largest non-zero).  Anything else is
 * corruption: RocksDB then fails the read rather than guess.
 */
static bool merge_one(uint8_t acc[HS_REF_VALUE_LEN], size_t *acc_len,
		      const char *v, size_t n)
{
	const uint8_t *p = (const uint8_t *)v;

	if ((n != 8 && n != HS_REF_VALUE_LEN) || (*acc_len && *acc_len != n))
		return false;
	if (!*acc_len) {
		memset(acc, 0, HS_REF_VALUE_LEN);
		*acc_len = n;
	}
	hs_le64_put(acc, hs_le64_get(acc) + hs_le64_get(p));
	if (n == HS_REF_VALUE_LEN) {
		for (int off = 8; off <= 12; off += 4) {
			if (hs_le32_get(p + off) > hs_le32_get(acc + off))
				hs_le32_put(acc + off, hs_le32_get(p + off));
		}
	}
	return true;
}

static char *merge_result(const uint8_t *acc, size_t len, unsigned char *success,
			  size_t *new_len)
{
	char *out = malloc(len ? len : 1);

	if (!out) {
		*success = 0;
		return NULL;
	}
	memcpy(out, acc, len);
	*new_len = len;
	*success = 1;
	return out;
}

static char *merge_full(void *state, const char *key, size_t key_len,
			const char *existing, size_t existing_len,
			const char *const *ops, const size_t *ops_len, int n_ops,
			unsigned char *success, size_t *new_len)
{
	uint8_t acc[HS_REF_VALUE_LEN];
	size_t acc_len = 0;

	(void)state, (void)key, (void)key_len;
	*success = 0;
	if (existing && !merge_one(acc, &acc_len, existing, existing_len))
		return NULL;
	for (int i = 0; i < n_ops; i++) {
		if (!merge_one(acc, &acc_len, ops[i], ops_len[i]))
			return NULL;
	}
	return merge_result(acc, acc_len, success, new_len);
}

static char *merge_partial(void *state, const char *key, size_t key_len,
			   const char *const *ops, const size_t *ops_len,
			   int n_ops, unsigned char *success, size_t *new_len)
{
	return merge_full(state, key, key_len, NULL, 0, ops, ops_len, n_ops,
			  success, new_len);
}

static void merge_delete_value(void *state, const char *value, size_t len)
{
	(void)state, (void)len;
	free((void *)(uintptr_t)value);
}

/* RocksDB's C wrapper calls the destructor unconditionally. */
static void merge_state_free(void *state)
{
	(void)state;
}

static const char *merge_name(void *state)
{
	(void)state;
	return "heapfs.add.v1";
}

static rocksdb_mergeoperator_t *merge_op_new(void)
{
	return rocksdb_mergeoperator_create(NULL, merge_state_free, merge_full, merge_partial,
					    merge_delete_value, merge_name);
}

/* ---- options ---------------------------------------------------------- */

static void cf_options_build(hs_store *s, enum hs_cf cf, const hs_store_opts *o)
{
	rocksdb_options_t *opt = rocksdb_options_create();
	rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
	bool blob_files = o->blob_files != 0;

	rocksdb_block_based_options_set_block_cache(t, s->block_cache);
	switch (cf) {
	case HS_CF_BLOBS:
		rocksdb_block_based_options_set_filter_policy(
			t, rocksdb_filterpolicy_create_bloom_full(10));
		rocksdb_options_set_compression(opt, rocksdb_no_compression);
		/* Frames pass through here on their way to blob files: keep the
		 * memtables that hold them small (the daemon's RSS bound).  With
		 * 4 MiB, a 16 GiB heap written through cache=256M peaked at 310
		 * MiB against 320-323 with 8 MiB.  8 MiB also spared most 1%
		 * migrations (3.4 MB) a flush during the receiver's checks, but
		 * blob files twice as large mixed dead and live generations that
		 * GC's trim cannot drop (test_gc_mount: 11 MB on disk for 4 MiB
		 * live), and the peak of a 2 GiB heap through cache=32M rose
		 * from 74 to 85 MiB. */
		rocksdb_options_set_write_buffer_size(opt, HS_BLOBS_MEMTABLE);
		rocksdb_options_set_max_write_buffer_number(opt, 2);
		if (blob_files) {
			rocksdb_options_set_enable_blob_files(opt, 1);
			rocksdb_options_set_min_blob_size(opt, 0);
			rocksdb_options_set_blob_compression_type(opt, rocksdb_no_compression);
			/*
			 * No blob GC: blobs are deleted only by heapfs's own GC (a
			 * later issue), and RocksDB's relocates every live blob of the
			 * oldest quarter of blob files at each compaction.  With it on,
			 * writing a 16 GiB heap wrote 357 GB to disk (21x) and slowed
			 * to 9 MiB/s; 1 GiB: 5537 MiB written on, 2065 MiB off.
			 */
			rocksdb_options_set_enable_blob_gc(opt, 0);
		}
		break;
	case HS_CF_HREFS:
		rocksdb_block_based_options_set_filter_policy(
			t, rocksdb_filterpolicy_create_bloom_full(10));
		/* Keys led by SHA-256 do not compress: a block read from the OS
		 * is used as it is (GC's and the accounting's point reads). */
		rocksdb_options_set_compression(opt, rocksdb_no_compression);
		break;
	case HS_CF_REFS:
		rocksdb_options_set_compression(opt, rocksdb_no_compression);
		/* Whole keys stay in the filters too (point reads).  A 1%
		 * migration's answer to 164 short ids, seeking each, took 10 ms
		 * of block reads where the refs had left the page cache. */
		rocksdb_options_set_prefix_extractor(
			opt, rocksdb_slicetransform_create_fixed_prefix(HS_REF_PREFIX));
		/* fall through */
	case HS_CF_META:
		rocksdb_block_based_options_set_filter_policy(
			t, rocksdb_filterpolicy_create_bloom_full(10));
		rocksdb_options_set_merge_operator(opt, merge_op_new());
		break;
	default:
		break;
	}
	rocksdb_options_set_block_based_table_factory(opt, t);
	s->cf_opts[cf] = opt;
	s->table_opts[cf] = t;
}

/* ---- opening ---------------------------------------------------------- */

/*
 * Store creation must survive a crash at any instant.  RocksDB creates its
 * files and column families before heapstore can write the format record,
 * so creation first writes and syncs a marker file: a directory holding the
 * marker is a heapfs store, complete or interrupted while being created;
 * one without it (and not empty) is refused untouched.  An interrupted
 * creation is finished when every column family is still empty.
 */
#define MARKER_NAME "HEAPFS_STORE"
#define MARKER_TEXT "heapfs store: do not remove; the data is in this directory's RocksDB database\n"

enum probe { PROBE_NEW, PROBE_OURS };

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap)
		return hs_errno_set(-ENAMETOOLONG, "store path too long");
	return 0;
}

/* PROBE_NEW: absent or empty; PROBE_OURS: has the marker; <0: not ours. */
static int dir_probe(const char *dir)
{
	char path[4096];
	struct stat st;
	DIR *d;
	struct dirent *e;
	int entries = 0, rc;

	if ((rc = path_join(path, sizeof(path), dir, MARKER_NAME)) < 0)
		return rc;
	if (stat(path, &st) == 0)
		return PROBE_OURS;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return PROBE_NEW;
		return hs_errno_set(-errno, "%s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			entries++;
	}
	closedir(d);
	if (entries)
		return hs_errno_set(-EINVAL, "%s: not a heapfs store (directory not empty)", dir);
	return PROBE_NEW;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return hs_errno_set(-errno, "%s: %s", path, strerror(errno));
	if (fsync(fd) < 0)
		rc = hs_errno_set(-errno, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Make @dir (if needed) and put the marker in it, durably. */
static int marker_create(const char *dir)
{
	char path[4096];
	ssize_t n;
	int fd, rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hs_errno_set(-errno, "%s: %s", dir, strerror(errno));
	if ((rc = path_join(path, sizeof(path), dir, MARKER_NAME)) < 0)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return hs_errno_set(-errno, "%s: %s", path, strerror(errno));
	n = write(fd, MARKER_TEXT, strlen(MARKER_TEXT));
	if (n != (ssize_t)strlen(MARKER_TEXT) || fsync(fd) < 0) {
		/* A short write without errno is a full disk, as write(2) says. */
		int e = n >= 0 && n != (ssize_t)strlen(MARKER_TEXT) ? ENOSPC : errno;

		rc = hs_errno_set(-e, "%s: cannot write the store marker: %s", path, strerror(e));
		close(fd);
		return rc;
	}
	close(fd);
	return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

/* Every column family the database has must be one of ours; *@old: the
 * database predates hrefs (format 1). */
static int check_column_families(const char *dir, bool *old)
{
	char path[4096], *err = NULL;
	size_t n = 0;
	char **names;
	rocksdb_options_t *opt;
	struct stat st;
	int rc = 0;

	if ((rc = path_join(path, sizeof(path), dir, "CURRENT")) < 0)
		return rc;
	*old = false;
	if (stat(path, &st) < 0)
		return 0;   /* creation stopped before RocksDB made its database */
	opt = rocksdb_options_create();
	names = rocksdb_list_column_families(opt, dir, &n, &err);
	rocksdb_options_destroy(opt);
	if (err)
		return hs_rdb_error(err, dir);
	*old = true;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int known = 0;

		if (strcmp(names[i], cf_names[HS_CF_HREFS]) == 0)
			*old = false;
		for (int cf = 0; cf < HS_CF_COUNT; cf++)
			known += strcmp(names[i], cf_names[cf]) == 0;
		if (!known)
			rc = hs_errno_set(-EINVAL, "%s: not a heapfs store (column family '%s')",
					  dir, names[i]);
	}
	rocksdb_list_column_families_destroy(names, n);
	return rc;
}

static bool store_empty(hs_store *s)
{
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[cf]);
		bool any;

		rocksdb_iter_seek_to_first(it);
		any = rocksdb_iter_valid(it);
		rocksdb_iter_destroy(it);
		if (any)
			return false;
	}
	return true;
}

static void format_value(uint8_t out[sizeof(HS_FORMAT_MAGIC) + 4], uint32_t format)
{
	memcpy(out, HS_FORMAT_MAGIC, sizeof(HS_FORMAT_MAGIC));
	hs_le32_put(out + sizeof(HS_FORMAT_MAGIC), format);
}

/*
 * Give every heap record that has none an identity (format 2 had none),
 * in one batch.  O(heaps).
 */
static int idents_assign(hs_store *s)
{
	uint8_t start = 'H', end = 'I';
	static const uint8_t none[HS_IDENT_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_iterator_t *it;
	int rc = 0;

	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
	for (rocksdb_iter_seek(it, (const char *)&start, 1); rocksdb_iter_valid(it) && rc == 0;
	     rocksdb_iter_next(it)) {
		size_t kl, vl, nl;
		const char *k = rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint8_t val[HS_REC_MAX];
		struct hs_heap_rec rec;

		if (kl != 9 || hs_heap_rec__decode(&rec, v, vl) < 0 ||
		    memcmp(rec.ident, none, HS_IDENT_LEN) != 0)
			continue;   /* fsck reports a damaged record */
		if ((rc = hs_random(rec.ident, HS_IDENT_LEN)) < 0)
			break;
		if (!rec.owned) {   /* heap.c's rule for unowned records, made lasting */
			rec.owned = true;
			rec.uid = s->owner_uid;
			rec.gid = s->owner_gid;
			rec.mode = HS_MODE_DEFAULT;
		}
		nl = hs_heap_rec__encode(val, sizeof(val), &rec);
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], k, kl, (const char *)val, nl);
	}
	rc = hs_iter__finish(it, ro, rc, "giving heaps identities");
	if (rc == 0)
		rc = hs_store__write(s, wb, true);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/*
 * Format 1 had no space figures: recount them (hs_fsck__space); formats 1
 * and 2 had no identities: give each heap one; then say format 3.  A crash
 * in between does the rest again at the next open.  A read-only open reads
 * format 2 as it is (heaps without identities cannot be sent).
 */
static int format_upgrade(hs_store *s, uint32_t have)
{
	uint8_t want[sizeof(HS_FORMAT_MAGIC) + 4], key = 'F';
	rocksdb_writebatch_t *wb;
	int rc;

	if (s->read_only && have == 2)
		return 0;
	if (s->read_only)
		return hs_errno_set(-EPROTONOSUPPORT, "%s: store format 1; open it read-write "
				    "once (heapfs, or heapctl --store) to upgrade it to format %u",
				    s->dir, HS_FORMAT_VERSION);
	if ((have == 1 && (rc = hs_fsck__space(s)) < 0) || (rc = idents_assign(s)) < 0)
		return hs_errno_set(rc, "%s: upgrading the store to format %u: %s", s->dir,
				    HS_FORMAT_VERSION, hs_error_last());
	format_value(want, HS_FORMAT_VERSION);
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)&key, 1,
				  (const char *)want, sizeof(want));
	rc = hs_store__write(s, wb, true);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

static int format_check(hs_store *s)
{
	uint8_t want[sizeof(HS_FORMAT_MAGIC) + 4];
	uint8_t key = 'F';
	char *val = NULL;
	size_t vlen = 0;
	uint32_t have;
	int rc;

	format_value(want, HS_FORMAT_VERSION);
	rc = hs_store__get(s, HS_CF_META, s->ro, &key, 1, &val, &vlen);
	if (rc == -ENOENT && store_empty(s)) {
		/* New, or a creation a crash interrupted: (re)write the records. */
		rocksdb_writebatch_t *wb;
		uint8_t idkey = 'I', id[8];

		if (s->read_only)
			return hs_errno_set(-EUCLEAN, "%s: store creation was interrupted; "
					    "open it read-write once to finish it", s->dir);
		wb = rocksdb_writebatch_create();
		hs_le64_put(id, 1);
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)&key, 1,
					  (const char *)want, sizeof(want));
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)&idkey, 1,
					  (const char *)id, 8);
		rc = hs_store__write(s, wb, true);
		rocksdb_writebatch_destroy(wb);
		return rc;
	}
	if (rc == -ENOENT)
		return hs_errno_set(-EUCLEAN, "%s: store has data but no format record", s->dir);
	if (rc < 0)
		return rc;
	have = vlen == sizeof(want) ? hs_le32_get((const uint8_t *)val + sizeof(HS_FORMAT_MAGIC)) : 0;
	if (vlen != sizeof(want) || memcmp(val, HS_FORMAT_MAGIC, sizeof(HS_FORMAT_MAGIC)))
		rc = hs_errno_set(-EUCLEAN, "%s: store format record is damaged", s->dir);
	else if (have == 1 || have == 2)
		rc = 1;
	else if (have != HS_FORMAT_VERSION)
		rc = hs_errno_set(-EPROTONOSUPPORT,
				  "%s: store format %u, this heapfs reads formats 1 to %u",
				  s->dir, have, HS_FORMAT_VERSION);
	rocksdb_free(val);
	return rc == 1 ? format_upgrade(s, have) : rc;
}

/* The store-wide space figures ('T'), as committed. */
static int totals_load(hs_store *s)
{
	for (int k = 0; k < HS_TOTAL_COUNT; k++) {
		int64_t v;
		int rc = hs_store__get_counter(s, 'T', (uint64_t)k, &v);

		if (rc < 0)
			return rc;
		atomic_store(&s->totals[k], v);
	}
	return 0;
}

static int next_id_load(hs_store *s)
{
	uint8_t key = 'I';
	char *val = NULL;
	size_t vlen = 0;
	int rc = hs_store__get(s, HS_CF_META, s->ro, &key, 1, &val, &vlen);

	if (rc < 0)
		return rc == -ENOENT ? hs_errno_set(-EUCLEAN, "store has no heap id counter") : rc;
	if (vlen != 8)
		rc = hs_errno_set(-EUCLEAN, "heap id counter is damaged");
	else
		s->next_heap_id = hs_le64_get((const uint8_t *)val);
	rocksdb_free(val);
	return rc;
}

/*
 * Finish deletions a crash interrupted: heaps whose record says DELETING.
 * In rounds of up to 64 ids (each purge writes, so no iterator is kept
 * across one), until a scan finds none: every one is finished, or the
 * open fails saying why.
 */
static int resume_deletions(hs_store *s)
{
	for (;;) {
		uint8_t start = 'H', end = 'I';
		rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
		rocksdb_iterator_t *it;
		uint64_t ids[64];
		size_t n = 0;
		char *err = NULL;
		int rc = 0;

		rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
		it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
		for (rocksdb_iter_seek(it, (const char *)&start, 1);
		     rocksdb_iter_valid(it) && n < 64; rocksdb_iter_next(it)) {
			size_t kl, vl;
			const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
			const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
			struct hs_heap_rec rec;

			if (kl == 9 && hs_heap_rec__decode(&rec, v, vl) == 0 &&
			    rec.state == HS_HEAP_DELETING)
				ids[n++] = hs_be64_get(k + 1);
		}
		rocksdb_iter_get_error(it, &err);
		rocksdb_iter_destroy(it);
		rocksdb_readoptions_destroy(ro);
		if (err)
			return hs_rdb_error(err, "finding unfinished heap deletions");
		if (n == 0)
			return 0;
		/* A purge removes the record last, so each round finds fewer. */
		for (size_t i = 0; i < n; i++) {
			if ((rc = hs_heap__purge(s, ids[i])) < 0)
				return hs_errno_set(rc, "finishing the deletion of heap id %llu: %s",
						    (unsigned long long)ids[i], hs_error_last());
		}
	}
}

int hs_store_open(hs_store **out, const char *dir, const hs_store_opts *opts)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	const char *names[HS_CF_COUNT];
	const rocksdb_options_t *cfo[HS_CF_COUNT];
	hs_store *s = NULL;
	char *err = NULL;
	bool old_format;
	int rc, probe;

	*out = NULL;
	if (opts)
		o = *opts;
	if (o.zstd_level == 0)
		o.zstd_level = 1;
	if (o.zstd_level < ZSTD_minCLevel() || o.zstd_level > ZSTD_maxCLevel())
		return hs_errno_set(-EINVAL, "zstd level %d out of range [%d, %d]",
				    o.zstd_level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	if (!o.block_cache_bytes)
		o.block_cache_bytes = 4u << 20;   /* blobs bypass it: index and filter blocks */
	if (o.cache_bytes && o.cache_bytes < HS_CACHE_MIN)
		return hs_errno_set(-EINVAL, "a line cache of %llu bytes: at least %u MiB",
				    (unsigned long long)o.cache_bytes, HS_CACHE_MIN >> 20);

	probe = dir_probe(dir);
	if (probe < 0)
		return probe;
	if (probe == PROBE_NEW && (o.read_only || o.no_create))
		return hs_errno_set(-ENOENT, "%s: no store there", dir);
	if (probe == PROBE_NEW && (rc = marker_create(dir)) < 0)
		return rc;
	if ((rc = check_column_families(dir, &old_format)) < 0)
		return rc;
	if (old_format && o.read_only)   /* the read-only open cannot add hrefs */
		return hs_errno_set(-EPROTONOSUPPORT, "%s: store format 1; open it read-write "
				    "once (heapfs, or heapctl --store) to upgrade it to format %u",
				    dir, HS_FORMAT_VERSION);

	s = calloc(1, sizeof(*s));
	if (!s)
		return hs_errno_set(-ENOMEM, "out of memory");
	{
		struct stat dst;

		/* Heaps from before owners, and those created without one,
		 * belong to whoever owns the store (the mount's owner). */
		if (stat(dir, &dst) == 0) {
			s->owner_uid = dst.st_uid;
			s->owner_gid = dst.st_gid;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	if ((rc = hs_pending__init(s)) < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->acct_lock, NULL);
	hs_heap__purge_init(s);
	hs_events__store_init(s);
	hs_limit__init(s, &o);
	s->dir = strdup(dir);
	s->zstd_level = o.zstd_level;
	s->read_only = o.read_only;
	s->block_cache = rocksdb_cache_create_lru(o.block_cache_bytes);
	s->db_opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->db_opts, 1);
	rocksdb_options_set_create_missing_column_families(s->db_opts, 1);
	rocksdb_options_increase_parallelism(s->db_opts, 2);
	rocksdb_options_set_max_background_jobs(s->db_opts, 2);
	rocksdb_options_set_keep_log_file_num(s->db_opts, 4);
	/*
	 * RocksDB's error handler writes its info log in the store's directory;
	 * on a full disk that write trips an assertion in Debian's build
	 * (assertions on) and aborts the process.  Log only fatal errors, so a
	 * full disk is ENOSPC to the caller.
	 */
	rocksdb_options_set_info_log_level(s->db_opts, 4 /* FATAL_LEVEL */);
	/*
	 * Bound the WAL: a rarely written family (meta) would otherwise keep
	 * every WAL file, a second copy of every blob, alive until it flushes.
	 */
	rocksdb_options_set_max_total_wal_size(s->db_opts, 64u << 20);
	/* Memtables of all families together: part of the daemon's RSS bound
	 * (cache= plus 64 MiB). */
	rocksdb_options_set_db_write_buffer_size(s->db_opts, 16u << 20);
	/*
	 * Every memtable switch starts a WAL file, and every flush a blob file
	 * and a table, each with a write buffer that grows to this size in
	 * fresh pages (malloc's fixed mmap threshold, fs/main.c).  1 MiB
	 * (RocksDB's default) put page faults in the flush path; 256 KiB wrote
	 * a 3 GiB heap at 95 MiB/s against 78-84.
	 */
	rocksdb_options_set_writable_file_max_buffer_size(s->db_opts, 256u << 10);
	/*
	 * Start the WAL's write-back every 512 KiB (sync_file_range, not
	 * waited for), so a synced commit after megabytes of unsynced writes
	 * (a migration's staged blobs) waits for the tail only.
	 */
	rocksdb_options_set_wal_bytes_per_sync(s->db_opts, 512u << 10);
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		cf_options_build(s, cf, &o);
		names[cf] = cf_names[cf];
		cfo[cf] = s->cf_opts[cf];
	}
	s->wo = rocksdb_writeoptions_create();
	s->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_sync, 1);
	s->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_total_order_seek(s->ro, 1);
	s->ro_prefix = rocksdb_readoptions_create();
	if (!s->dir) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto fail;
	}

	if (o.read_only)
		s->db = rocksdb_open_for_read_only_column_families(
			s->db_opts, dir, HS_CF_COUNT, names, cfo, s->cf, 0, &err);
	else
		s->db = rocksdb_open_column_families(s->db_opts, dir, HS_CF_COUNT,
						     names, cfo, s->cf, &err);
	if (err) {
		rc = hs_rdb_error(err, dir);
		if (rc == -EBUSY)   /* RocksDB's lock file: say what it means */
			hs_errno_set(rc, "%s: the store is in use (mounted by heapfs, or open in another program)",
				     dir);
		s->db = NULL;
		goto fail;
	}
	if ((rc = format_check(s)) < 0 || (rc = next_id_load(s)) < 0 ||
	    (rc = totals_load(s)) < 0 || (rc = hs_limit__load(s)) < 0 ||
	    (rc = hs_limit__holds_load(s)) < 0)
		goto fail;
	if (!s->read_only && (rc = resume_deletions(s)) < 0)
		goto fail;
	if (!s->read_only && o.cache_bytes &&
	    (rc = hs_cache__open(s, o.cache_bytes, o.flush_threads, o.cache_idle_ms,
					 o.cache_release_ms)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	(void)hs_store_close(s);   /* nothing was written through it */
	return rc;
}

int hs_store_close(hs_store *s)
{
	char lost[512] = "";
	int rc, sync_rc = 0;

	if (!s)
		return 0;
	/* What the purger was handed is finished first: a one-shot --store
	 * recv would otherwise leave its staging heap, and the blobs it pins,
	 * to the next read-write open. */
	hs_store__purge_drain(s);
	hs_heap__purge_stop(s);
	rc = hs_cache__close(s);   /* writes back, and drops the cache's heap references */
	if (rc < 0)   /* the sync below would overwrite what was lost */
		snprintf(lost, sizeof(lost), "%s", hs_error_last());
	assert(!s->heaps); /* every heap handle must be closed first */
	if (s->db && !s->read_only)
		sync_rc = hs_store__sync(s);
	if (rc < 0)
		hs_errno_set(rc, "%s", lost);
	else
		rc = sync_rc;
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		if (s->cf[cf])
			rocksdb_column_family_handle_destroy(s->cf[cf]);
	}
	if (s->db)
		rocksdb_close(s->db);
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		if (s->cf_opts[cf])
			rocksdb_options_destroy(s->cf_opts[cf]);
		if (s->table_opts[cf])
			rocksdb_block_based_options_destroy(s->table_opts[cf]);
	}
	if (s->db_opts)
		rocksdb_options_destroy(s->db_opts);
	if (s->block_cache)
		rocksdb_cache_destroy(s->block_cache);
	if (s->wo)
		rocksdb_writeoptions_destroy(s->wo);
	if (s->wo_sync)
		rocksdb_writeoptions_destroy(s->wo_sync);
	if (s->ro)
		rocksdb_readoptions_destroy(s->ro);
	if (s->ro_prefix)
		rocksdb_readoptions_destroy(s->ro_prefix);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->acct_lock);
	hs_events__store_dispose(s);
	hs_limit__free(s);
	hs_pending__free(s);
	free(s->dir);
	free(s);
	return rc;
}

