/*
 * xfer.c - moving versions between stores: reading checkpoints for a
 * sender (hs_export) and committing what a receiver was sent (hs_import).
 *
 * An import keeps what arrives before its commit in a hidden staging heap:
 * a heap record in the DELETING state, with no name, whose entries (line i
 * of version 1 for the i-th blob) each hold a reference.  The blobs the
 * sender carried are stored at once, in batches charged to the pool, and
 * the blobs the store already held are pinned by the same references, so
 * GC leaves both alone.  The commit writes the versions, the live heap and
 * its record in one synced batch, whose references on those blobs are the
 * heap's own; then the staging heap is purged.  A failure before the commit
 * (or a crash: opening the store finishes DELETING heaps) purges it, and
 * the store is as it was but for garbage GC reclaims.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

#define STAGE_BATCH_BYTES (8u << 20)
#define STAGE_BATCH_BLOBS 256
#define IMPORT_WORKERS 2          /* threads checking frames */
#define IMPORT_LINES_MAX (1u << 24)   /* one stream's line entries: 768 MiB here */

static const uint8_t no_ident[HS_IDENT_LEN];

/* ==== export ============================================================= */

struct hs_export {
	hs_heap *h;
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
};

int hs_export_begin(hs_export **out, hs_heap *h)
{
	hs_export *x;
	int rc;

	*out = NULL;
	pthread_rwlock_rdlock(&h->lock);
	rc = hs_heap__check_live(h);
	pthread_rwlock_unlock(&h->lock);
	if (rc < 0)
		return rc;
	if (!(x = calloc(1, sizeof(*x))))
		return hs_errno_set(-ENOMEM, "out of memory");
	x->h = hs_heap_dup(h);
	x->snap = rocksdb_create_snapshot(h->store->db);
	x->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(x->ro, x->snap);
	/*
	 * Frames leave unchecked by RocksDB: every receiver decompresses them
	 * (zstd's own checksum) and re-hashes each line, so a damaged one is
	 * refused there.  Debian's RocksDB computes crc32c in software (its
	 * portable build has no SSE4.2 code): a pass over every byte sent.
	 */
	rocksdb_readoptions_set_verify_checksums(x->ro, 0);
	*out = x;
	return 0;
}

void hs_export_end(hs_export *x)
{
	if (!x)
		return;
	rocksdb_readoptions_destroy(x->ro);
	rocksdb_release_snapshot(x->h->store->db, x->snap);
	hs_heap_close(x->h);
	free(x);
}

int hs_export_versions(hs_export *x, hs_version_info **out, size_t *n_out)
{
	hs_heap *h = x->h;
	uint8_t lo[17], hi[9];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	hs_version_info *arr = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	rocksdb_readoptions_set_snapshot(ro, x->snap);
	hs_key__meta(hi, 'V', h->id + 1, NULL);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, sizeof(hi));
	it = rocksdb_create_iterator_cf(h->store->db, ro, h->store->cf[HS_CF_META]);
	hs_key__meta_version(lo, h->id, 0);
	for (rocksdb_iter_seek(it, (const char *)lo, sizeof(lo)); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);

		if (kl != 17) {
			rc = hs_errno_set(-EUCLEAN, "heap '%s': checkpoint key of %zu bytes",
					  h->rec.name, kl);
			break;
		}
		if ((rc = hs_grow((void **)&arr, &cap, n, sizeof(*arr))) < 0 ||
		    (rc = hs_version__decode(h, hs_be64_get(k + 9), v, vl, &arr[n])) < 0)
			break;
		n++;
	}
	rc = hs_iter__finish(it, ro, rc, "listing checkpoints to send");
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

int hs_export_changes(hs_export *x, uint64_t version, hs_xline **out, size_t *n_out)
{
	hs_heap *h = x->h;
	hs_store *s = h->store;
	uint8_t lo[HS_CHANGE_KEY_LEN], hi[HS_CHANGE_KEY_LEN], vkey[17];
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	hs_xline *arr = NULL;
	size_t n = 0, cap = 0, vl;
	char *val = NULL;
	int rc;

	*out = NULL;
	*n_out = 0;
	hs_key__meta_version(vkey, h->id, version);
	rc = hs_store__get(s, HS_CF_META, x->ro, vkey, sizeof(vkey), &val, &vl);
	rocksdb_free(val);
	if (rc == -ENOENT)
		return hs_errno_set(-ENOENT, "heap '%s' has no checkpoint %llu", h->rec.name,
				    (unsigned long long)version);
	if (rc < 0)
		return rc;
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, x->snap);
	hs_key__change(lo, h->id, version, 0);
	hs_key__change(hi, h->id, version + 1, 0);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, sizeof(hi));
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_CHANGES]);
	for (rocksdb_iter_seek(it, (const char *)lo, sizeof(lo)); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, cvl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *cv = (const uint8_t *)rocksdb_iter_value(it, &cvl);

		if (kl != HS_CHANGE_KEY_LEN || cvl != 4) {
			rc = hs_errno_set(-EUCLEAN, "heap '%s' checkpoint %llu: change record of "
					  "%zu/%zu bytes", h->rec.name,
					  (unsigned long long)version, kl, cvl);
			break;
		}
		if ((rc = hs_grow((void **)&arr, &cap, n, sizeof(*arr))) < 0)
			break;
		memset(&arr[n], 0, sizeof(arr[n]));
		arr[n].line = hs_be64_get(k + 16);
		arr[n].stored = hs_le32_get(cv);
		n++;
	}
	rc = hs_iter__finish(it, ro, rc, "reading a checkpoint's changes");
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t key[HS_LINE_KEY_LEN];

		hs_key__line(key, h->id, arr[i].line, version);
		rc = hs_store__get(s, HS_CF_LINES, x->ro, key, sizeof(key), &val, &vl);
		if (rc == -ENOENT)
			rc = hs_errno_set(-EUCLEAN, "heap '%s' checkpoint %llu line %llu: a change "
					  "without its entry", h->rec.name,
					  (unsigned long long)version,
					  (unsigned long long)arr[i].line);
		if (rc < 0)
			break;
		if (vl == HS_HASH_LEN)
			memcpy(arr[i].hash, val, HS_HASH_LEN);
		else if (vl == 0)
			arr[i].zero = 1;
		else
			rc = hs_errno_set(-EUCLEAN, "heap '%s' line %llu: entry of %zu bytes",
					  h->rec.name, (unsigned long long)arr[i].line, vl);
		rocksdb_free(val);
	}
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

int hs_export_blob(hs_export *x, const uint8_t hash[HS_HASH_LEN], void **frame, size_t *len)
{
	char *val = NULL, hex[20];
	size_t vl = 0;
	int rc = hs_store__get(x->h->store, HS_CF_BLOBS, x->ro, hash, HS_HASH_LEN, &val, &vl);

	*frame = NULL;
	*len = 0;
	if (rc == -ENOENT) {
		hs_hash_hex(hex, sizeof(hex), hash);
		return hs_errno_set(-ENOENT, "heap '%s': blob %s is missing", x->h->rec.name, hex);
	}
	if (rc < 0)
		return rc;
	if (!(*frame = malloc(vl ? vl : 1))) {
		rocksdb_free(val);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	memcpy(*frame, val, vl);
	*len = vl;
	rocksdb_free(val);
	return 0;
}

int hs_blobs_held(hs_store *s, const uint8_t (*hashes)[HS_HASH_LEN], size_t n,
		  uint32_t *raw_out)
{
	for (size_t at = 0; at < n;) {
		size_t m = n - at < 1024 ? n - at : 1024;
		struct hs_multiget mg;
		int rc;

		if ((rc = hs_multiget__init(&mg, m)) < 0)
			return rc;
		for (size_t i = 0; i < m; i++)
			hs_multiget__set(&mg, i, s, HS_CF_REFS, hashes[at + i], HS_HASH_LEN);
		rc = hs_multiget__run(&mg, s, "looking blobs up");
		for (size_t i = 0; i < m && rc == 0; i++) {
			const uint8_t *v = (const uint8_t *)mg.vals[i];

			raw_out[at + i] = 0;
			if (!v)
				continue;
			if (mg.vlen[i] != HS_REF_VALUE_LEN)
				rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes",
						  mg.vlen[i]);
			else if ((int64_t)hs_le64_get(v) >= 0 && hs_le32_get(v + 8) > 0)
				raw_out[at + i] = hs_le32_get(v + 12);   /* garbage too */
		}
		hs_multiget__free(&mg);
		if (rc < 0)
			return rc;
		at += m;
	}
	return 0;
}

int hs_blob_find_prefixes(hs_store *s, const uint8_t *prefixes, size_t n, size_t count,
			  uint8_t (*hashes)[HS_HASH_LEN], uint8_t *found)
{
	uint8_t key[HS_HASH_LEN] = { 0 };
	rocksdb_iterator_t *it;
	int rc = 0;

	if (n == 0 || n > HS_HASH_LEN)
		return hs_errno_set(-EINVAL, "a prefix of %zu bytes", n);
	/* One iterator for them all: making one costs more than a seek.  Its
	 * seeks skip the files whose filters lack the prefix, unless it is too
	 * short for them. */
	it = rocksdb_create_iterator_cf(s->db, n >= HS_REF_PREFIX ? s->ro_prefix : s->ro,
					s->cf[HS_CF_REFS]);
	for (size_t i = 0; i < count && rc == 0; i++) {
		const uint8_t *prefix = prefixes + i * n;

		found[i] = 0;
		memcpy(key, prefix, n);
		rocksdb_iter_seek(it, (const char *)key, HS_HASH_LEN);
		if (rocksdb_iter_valid(it)) {
			size_t kl;
			const char *k = rocksdb_iter_key(it, &kl);

			if (kl == HS_HASH_LEN && memcmp(k, prefix, n) == 0) {
				memcpy(hashes[i], k, HS_HASH_LEN);
				found[i] = 1;
			}
		} else {
			rc = hs_iter__error(it, "looking a blob up");
		}
	}
	rocksdb_iter_destroy(it);
	return rc;
}

/* ==== import ============================================================ */

struct hset_slot {
	uint8_t hash[HS_HASH_LEN];
	uint32_t stored;
	bool used;
};

struct iver {
	hs_version_info vi;
	size_t first, n;          /* its lines in imp->lines */
};

struct check_found {                   /* what one checking thread found */
	size_t first_bad;                 /* n if none */
	int rc;
	char msg[256];
};

struct check_job {
	size_t n;
	const uint8_t (*hashes)[HS_HASH_LEN];
	const void *const *frames;
	const size_t *lens;
	uint32_t line_size;
	struct check_found found[IMPORT_WORKERS + 1];   /* the last: the caller's */
};

struct check_worker {
	struct hs_import *imp;
	unsigned k;
	uint64_t seen;                    /* the last batch posted before it started */
};

struct hs_import {
	hs_store *s;
	hs_import_params p;
	char name[HS_NAME_MAX + 1];
	unsigned shift;
	uint64_t sid, tid;        /* staging heap; the heap received (0: not yet) */
	hs_heap *stage;           /* an object for the staging heap's limits */
	hs_heap *target;          /* incremental: the heap added to */
	uint64_t base_version;
	struct hs_batch b;
	size_t b_bytes, b_blobs;
	uint64_t next_line;       /* the staging heap's next entry */
	uint64_t bytes;           /* of blobs carried */
	struct hset_slot *set;    /* every hash staged or pinned */
	size_t set_cap, set_n;
	struct iver *vers;
	size_t n_vers, cap_vers;
	hs_xline *lines;
	size_t n_lines, cap_lines;
	bool done, committed;
	bool unknown;                     /* the commit's write failed: it may be in */
	/* hs_import_blobs()'s workers: w_lock guards w_seq, w_left and
	 * w_stop; w_job is theirs while w_busy, until w_left is 0. */
	unsigned w_started;
	bool w_init, w_stop, w_busy;
	int w_failed;                     /* a batch failed: later ones are not kept */
	pthread_t w_thread[IMPORT_WORKERS];
	struct check_worker w_arg[IMPORT_WORKERS];
	pthread_mutex_t w_lock;
	pthread_cond_t w_cond;
	uint64_t w_seq;
	unsigned w_left;
	struct check_job w_job;
	atomic_size_t w_next;             /* w_job's next blob to check */
	atomic_size_t w_stop_at;          /* its first failure so far (n: none) */
};

static size_t hset_pos(const struct hs_import *imp, const uint8_t *hash)
{
	uint64_t k;

	memcpy(&k, hash, sizeof(k));   /* SHA-256 is uniform enough */
	return (size_t)k & (imp->set_cap - 1);
}

static struct hset_slot *hset_find(const struct hs_import *imp, const uint8_t *hash)
{
	if (!imp->set_cap)
		return NULL;
	for (size_t i = hset_pos(imp, hash);; i = (i + 1) & (imp->set_cap - 1)) {
		struct hset_slot *sl = &imp->set[i];

		if (!sl->used)
			return NULL;
		if (memcmp(sl->hash, hash, HS_HASH_LEN) == 0)
			return sl;
	}
}

static int hset_add(struct hs_import *imp, const uint8_t *hash, uint32_t stored)
{
	struct hset_slot *sl;

	if (2 * (imp->set_n + 1) > imp->set_cap) {
		size_t cap = imp->set_cap ? 2 * imp->set_cap : 1024;
		struct hset_slot *old = imp->set, *grown = calloc(cap, sizeof(*grown));
		size_t old_cap = imp->set_cap;

		if (!grown)
			return hs_errno_set(-ENOMEM, "out of memory");
		imp->set = grown;
		imp->set_cap = cap;
		for (size_t i = 0; i < old_cap; i++) {
			if (!old[i].used)
				continue;
			size_t j = hset_pos(imp, old[i].hash);

			while (grown[j].used)
				j = (j + 1) & (cap - 1);
			grown[j] = old[i];
		}
		free(old);
	}
	size_t i = hset_pos(imp, hash);

	while (imp->set[i].used)
		i = (i + 1) & (imp->set_cap - 1);
	sl = &imp->set[i];
	memcpy(sl->hash, hash, HS_HASH_LEN);
	sl->stored = stored;
	sl->used = true;
	imp->set_n++;
	return 0;
}

static int stage_create(struct hs_import *imp);

/* One reference of the staging heap on @hash, in the current batch. */
static int stage_ref(struct hs_import *imp, const uint8_t *hash, uint32_t stored)
{
	uint8_t key[HS_LINE_KEY_LEN], ckey[HS_CHANGE_KEY_LEN], sz[4];
	int rc;

	if (!imp->sid && (rc = stage_create(imp)) < 0)
		return rc;
	hs_key__line(key, imp->sid, imp->next_line, 1);
	hs_key__change(ckey, imp->sid, 1, imp->next_line);
	hs_le32_put(sz, stored);
	rocksdb_writebatch_put_cf(imp->b.wb, imp->s->cf[HS_CF_LINES], (const char *)key,
				  sizeof(key), (const char *)hash, HS_HASH_LEN);
	rocksdb_writebatch_put_cf(imp->b.wb, imp->s->cf[HS_CF_CHANGES], (const char *)ckey,
				  sizeof(ckey), (const char *)sz, 4);
	if ((rc = hs_ref__take(imp->s, &imp->b, hash, stored, imp->p.line_size)) < 0 ||
	    (rc = hset_add(imp, hash, stored)) < 0)
		return rc;
	imp->next_line++;
	imp->b_blobs++;
	return 0;
}

/* Write the staged batch: the disk must have room and the pool allow it. */
static int stage_flush(struct hs_import *imp)
{
	int rc = 0;

	if (!imp->b_blobs)
		return 0;
	imp->b.enforce = true;
	if ((rc = hs_store__disk_room(imp->s, imp->b_bytes)) == 0)
		rc = hs_batch__commit_id(imp->s, imp->sid, imp->stage, &imp->b, false);
	hs_batch__reset(&imp->b);
	imp->b_bytes = imp->b_blobs = 0;
	return rc;
}

/*
 * The staging heap (and the new heap's id, if it has none yet), with the
 * staging heap's record: made at the first blob or pin, so a round that
 * carries nothing (a lease handed over) costs no write for it.
 */
static int stage_create(struct hs_import *imp)
{
	hs_store *s = imp->s;
	struct hs_heap_rec rec;
	uint8_t key[HS_META_KEY_MAX], val[8];
	rocksdb_writebatch_t *wb;
	hs_heap *st;
	int rc;

	if (!(st = calloc(1, sizeof(*st))))
		return hs_errno_set(-ENOMEM, "out of memory");
	memset(&rec, 0, sizeof(rec));
	rec.state = HS_HEAP_DELETING;   /* whatever happens, it goes */
	rec.line_size = imp->p.line_size;
	rec.head = 2;
	rec.created_ns = hs_now_ns();
	rec.owned = true;
	rec.mode = HS_MODE_DEFAULT;
	strcpy(rec.name, imp->name);
	wb = rocksdb_writebatch_create();
	pthread_mutex_lock(&s->lock);
	st->store = s;
	st->id = s->next_heap_id;
	st->rec = rec;
	st->line_shift = imp->shift;
	if ((rc = hs_heap__put_rec(st, wb, &rec)) == 0) {
		uint64_t next = st->id + (imp->tid ? 1 : 2);

		hs_le64_put(val, next);
		key[0] = 'I';
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, 1,
					  (const char *)val, 8);
		if ((rc = hs_store__write(s, wb, true)) == 0) {
			s->next_heap_id = next;
			imp->sid = st->id;
			if (!imp->tid)
				imp->tid = st->id + 1;
		}
	}
	pthread_mutex_unlock(&s->lock);
	rocksdb_writebatch_destroy(wb);
	if (rc < 0) {
		free(st);
		return rc;
	}
	imp->stage = st;
	return 0;
}

int hs_import_begin(hs_import **out, hs_store *s, const hs_import_params *p)
{
	struct hs_import *imp;
	hs_version_info vi;
	uint64_t id;
	int rc;

	*out = NULL;
	if (s->read_only)
		return hs_errno_set(-EROFS, "the store is open read-only");
	if ((rc = hs_name_check(p->name)) < 0)
		return rc;
	if (p->line_size < HS_LINE_SIZE_MIN || p->line_size > HS_LINE_SIZE_MAX ||
	    (p->line_size & (p->line_size - 1)))
		return hs_errno_set(-EINVAL, "line size %u is not a power of two from 4K to 1M",
				    p->line_size);
	if (memcmp(p->ident, no_ident, HS_IDENT_LEN) == 0)
		return hs_errno_set(-EINVAL, "heap '%s' has no identity", p->name);
	if (!(imp = calloc(1, sizeof(*imp))))
		return hs_errno_set(-ENOMEM, "out of memory");
	imp->s = s;
	imp->p = *p;
	strcpy(imp->name, p->name);
	imp->p.name = imp->name;
	imp->shift = (unsigned)__builtin_ctz(p->line_size);
	hs_batch__init(&imp->b);
	if (p->incremental) {
		hs_heap *h;

		if ((rc = hs_heap_open(&imp->target, s, p->name)) < 0)
			goto fail;
		h = imp->target;
		pthread_rwlock_rdlock(&h->lock);
		if ((rc = hs_heap__check_live(h)) == 0 &&
		    memcmp(h->rec.ident, p->ident, HS_IDENT_LEN) != 0)
			rc = hs_errno_set(-ESTALE, "heap '%s' here is another heap (another "
					  "identity): receive it under another name (--as)",
					  p->name);
		else if (rc == 0 && h->rec.line_size != p->line_size)
			rc = hs_errno_set(-ESTALE, "heap '%s' here has lines of %u bytes, the "
					  "stream %u", p->name, h->rec.line_size, p->line_size);
		else if (rc == 0 && !h->latest)
			rc = hs_errno_set(-ESTALE, "heap '%s' here has no checkpoint to add to",
					  p->name);
		else if (rc == 0 && (rc = hs_version__exists(h, h->latest, &vi)) == 0 &&
			 memcmp(vi.ident, p->base, HS_IDENT_LEN) != 0)
			rc = hs_errno_set(-ESTALE, "heap '%s' here ends at checkpoint %llu, which "
					  "is not the stream's base", p->name,
					  (unsigned long long)h->latest);
		imp->base_version = h->latest;
		pthread_rwlock_unlock(&h->lock);
		if (rc < 0)
			goto fail;
	} else {
		rc = hs_heap__name_lookup(s, p->name, &id);
		if (rc == 0)
			rc = hs_errno_set(-EEXIST, "heap '%s' exists (receive it with --as NAME)",
					  p->name);
		if (rc != -ENOENT)
			goto fail;
	}
	if (p->incremental)
		imp->tid = imp->target->id;
	*out = imp;
	return 0;
fail:
	hs_import_free(imp);
	return rc;
}

static int job_finish(hs_import *imp);

/* After a batch failed: what every later call says. */
static int import_failed(const hs_import *imp)
{
	return hs_errno_set(imp->w_failed, "an earlier batch of this import failed");
}

int hs_import_have(hs_import *imp, const uint8_t hash[HS_HASH_LEN])
{
	uint32_t stored, raw;
	int rc;

	if (imp->done)
		return hs_errno_set(-EINVAL, "the import is finished");
	if ((rc = job_finish(imp)) < 0)   /* in stream order */
		return rc;
	if (hset_find(imp, hash))
		return 1;
	if (imp->p.carried_only)
		return 0;
	if ((rc = hs_blob__pin(imp->s, &imp->b, hash, &stored, &raw)) < 0)
		return rc;
	if (!stored || raw != imp->p.line_size)
		return 0;
	if ((rc = stage_ref(imp, hash, stored)) < 0)
		return rc;
	if (imp->b_blobs >= STAGE_BATCH_BLOBS && (rc = stage_flush(imp)) < 0)
		return rc;
	return 1;
}

int hs_frame_check(uint32_t line_size, const uint8_t hash[HS_HASH_LEN], const void *frame,
		   size_t len)
{
	struct hs_scratch *sc;
	uint8_t got[HS_HASH_LEN];
	char hex[20], hex2[20];
	int rc;

	hs_hash_hex(hex, sizeof(hex), hash);
	if (line_size < HS_LINE_SIZE_MIN || line_size > HS_LINE_SIZE_MAX ||
	    (line_size & (line_size - 1)))
		return hs_errno_set(-EINVAL, "line size %u", line_size);
	if (len == 0 || len > ZSTD_COMPRESSBOUND(line_size))
		return hs_errno_set(-EBADMSG, "blob %s: a frame of %zu bytes for a line of %u",
				    hex, len, line_size);
	/* Exactly one frame: zstd would also take frames after it, skippable
	 * ones included, bytes no hash covers that would be kept as they came. */
	if (ZSTD_findFrameCompressedSize(frame, len) != len)
		return hs_errno_set(-EBADMSG, "blob %s: %zu bytes that are not exactly one "
				    "zstd frame", hex, len);
	if (!(sc = hs_scratch__get()))
		return -ENOMEM;
	if ((rc = hs_codec__decompress(sc, frame, len, sc->line, line_size)) < 0)
		return hs_errno_set(rc, "blob %s: %s", hex, hs_error_last());
	if (hs_codec__is_zero(sc->line, line_size))
		return hs_errno_set(-EBADMSG, "blob %s is a zero line, which is never stored",
				    hex);
	hs_codec__hash(sc, sc->line, line_size, got);
	if (memcmp(got, hash, HS_HASH_LEN) != 0) {
		hs_hash_hex(hex2, sizeof(hex2), got);
		return hs_errno_set(-EBADMSG, "blob %s: its content hashes to %s", hex, hex2);
	}
	return 0;
}

/* A blob already checked (hs_frame_check): kept, as it came. */
static int blob_stage(hs_import *imp, const uint8_t hash[HS_HASH_LEN], const void *frame,
		      size_t len)
{
	char hex[20];
	uint32_t stored;
	int rc;

	if (hset_find(imp, hash)) {
		hs_hash_hex(hex, sizeof(hex), hash);
		return hs_errno_set(-EINVAL, "blob %s arrived twice", hex);
	}
	if (imp->p.max_bytes && imp->bytes + len > imp->p.max_bytes)
		return hs_errno_set(-EFBIG, "more than %llu bytes of blobs",
				    (unsigned long long)imp->p.max_bytes);
	if ((rc = hs_blob__ensure_frame(imp->s, &imp->b, hash, frame, len, &stored)) < 0 ||
	    (rc = stage_ref(imp, hash, stored)) < 0)
		return rc;
	imp->bytes += len;
	imp->b_bytes += len;
	if (imp->b_bytes >= STAGE_BATCH_BYTES || imp->b_blobs >= STAGE_BATCH_BLOBS)
		return stage_flush(imp);
	return 0;
}

int hs_import_blob(hs_import *imp, const uint8_t hash[HS_HASH_LEN], const void *frame,
		   size_t len)
{
	int rc;

	if (imp->done)
		return hs_errno_set(-EINVAL, "the import is finished");
	if ((rc = job_finish(imp)) < 0)
		return rc;
	if (imp->w_failed)
		return import_failed(imp);
	if ((rc = hs_frame_check(imp->p.line_size, hash, frame, len)) < 0)
		return rc;
	return blob_stage(imp, hash, frame, len);
}

/*
 * The pipelined check: a batch is decompressed and hashed by two worker
 * threads while the caller writes the batch before it into the store and
 * gathers the one after; then the caller, rather than wait, checks what
 * is left of it too.  Decompressing and hashing are most of a receiver's
 * work, so the store's writes and the stream's reading hide behind them.
 * Blobs are taken one at a time, in order, so every blob before the first
 * failure found is checked; a thread stops at its own failure and every
 * thread at blobs past the first failure seen.  (With every other blob
 * each and the caller only waiting, a cold 1 GiB migrate's caller waited
 * 0.51 s of its 2.6 for the checks; helping, 0.14 s.)
 */
static void check_part(hs_import *imp, struct check_found *out)
{
	const struct check_job *j = &imp->w_job;
	size_t i;

	while ((i = atomic_fetch_add(&imp->w_next, 1)) < atomic_load(&imp->w_stop_at)) {
		int r = hs_frame_check(j->line_size, j->hashes[i], j->frames[i], j->lens[i]);

		if (r < 0) {
			size_t at = atomic_load(&imp->w_stop_at);

			out->first_bad = i;
			out->rc = r;
			snprintf(out->msg, sizeof(out->msg), "%s", hs_error_last());
			while (i < at && !atomic_compare_exchange_weak(&imp->w_stop_at, &at, i))
				;
			return;
		}
	}
}

static void *check_worker(void *arg)
{
	struct check_worker *w = arg;
	hs_import *imp = w->imp;
	uint64_t seen = w->seen;   /* batches posted after its start */

	pthread_mutex_lock(&imp->w_lock);
	for (;;) {
		while (imp->w_seq == seen && !imp->w_stop)
			pthread_cond_wait(&imp->w_cond, &imp->w_lock);
		if (imp->w_stop)
			break;
		seen = imp->w_seq;
		pthread_mutex_unlock(&imp->w_lock);
		check_part(imp, &imp->w_job.found[w->k]);
		pthread_mutex_lock(&imp->w_lock);
		if (--imp->w_left == 0)
			pthread_cond_broadcast(&imp->w_cond);
	}
	pthread_mutex_unlock(&imp->w_lock);
	return NULL;
}

static void workers_stop(hs_import *imp)
{
	pthread_mutex_lock(&imp->w_lock);
	imp->w_stop = true;
	pthread_cond_broadcast(&imp->w_cond);
	pthread_mutex_unlock(&imp->w_lock);
	for (unsigned k = 0; k < imp->w_started; k++)
		pthread_join(imp->w_thread[k], NULL);
	imp->w_started = 0;
}

static bool workers_start(hs_import *imp)
{
	if (imp->w_started)
		return true;
	if (imp->w_stop)   /* a start failed: this import checks on its caller's thread */
		return false;
	if (!imp->w_init) {
		pthread_mutex_init(&imp->w_lock, NULL);
		pthread_cond_init(&imp->w_cond, NULL);
		imp->w_init = true;
	}
	for (unsigned k = 0; k < IMPORT_WORKERS; k++) {
		imp->w_arg[k].imp = imp;
		imp->w_arg[k].k = k;
		imp->w_arg[k].seen = imp->w_seq;   /* read here: this thread posts them */
		if (pthread_create(&imp->w_thread[k], NULL, check_worker, &imp->w_arg[k]) != 0) {
			workers_stop(imp);
			return false;
		}
		imp->w_started++;
	}
	return true;
}

/* Help with the batch in flight, then wait for it; its checks are in *@j. */
static bool job_wait(hs_import *imp, struct check_job *j)
{
	if (!imp->w_busy)
		return false;
	check_part(imp, &imp->w_job.found[IMPORT_WORKERS]);
	pthread_mutex_lock(&imp->w_lock);
	while (imp->w_left)
		pthread_cond_wait(&imp->w_cond, &imp->w_lock);
	pthread_mutex_unlock(&imp->w_lock);
	imp->w_busy = false;
	*j = imp->w_job;
	return true;
}

/* Keep a checked batch, in order, up to its first failure. */
static int job_keep(hs_import *imp, const struct check_job *j)
{
	const struct check_found *bad = NULL;
	int rc;

	for (unsigned k = 0; k <= IMPORT_WORKERS; k++) {
		if (j->found[k].first_bad < j->n && (!bad || j->found[k].first_bad < bad->first_bad))
			bad = &j->found[k];   /* the first failure in stream order */
	}
	for (size_t i = 0; i < (bad ? bad->first_bad : j->n); i++) {
		if ((rc = blob_stage(imp, j->hashes[i], j->frames[i], j->lens[i])) < 0)
			goto failed;
	}
	/* Written now, while the workers check the next batch: what is left
	 * for the commit's synced write is the last batch. */
	if ((rc = stage_flush(imp)) < 0)
		goto failed;
	if (!bad)
		return 0;
	rc = hs_errno_set(bad->rc, "%s", bad->msg);
failed:
	imp->w_failed = rc;   /* nothing after it is kept */
	return rc;
}

static int job_finish(hs_import *imp)
{
	struct check_job j;

	if (!job_wait(imp, &j))
		return 0;
	return imp->w_failed ? 0 : job_keep(imp, &j);
}

int hs_import_blobs(hs_import *imp, size_t n, const uint8_t (*hashes)[HS_HASH_LEN],
		    const void *const *frames, const size_t *lens)
{
	struct check_job *j = &imp->w_job, done;
	bool was = false;
	int rc;

	if (imp->done)
		return hs_errno_set(-EINVAL, "the import is finished");
	if (imp->w_failed) {   /* the batch in flight is dropped, once checked */
		(void)job_wait(imp, &done);
		return import_failed(imp);
	}
	if (n && workers_start(imp)) {
		/* The workers take this batch as soon as they are through the
		 * one before, which this thread keeps meanwhile. */
		was = job_wait(imp, &done);
		memset(j, 0, sizeof(*j));
		j->n = n;
		j->hashes = hashes;
		j->frames = frames;
		j->lens = lens;
		j->line_size = imp->p.line_size;
		for (unsigned k = 0; k <= IMPORT_WORKERS; k++)
			j->found[k].first_bad = n;
		atomic_store(&imp->w_next, 0);
		atomic_store(&imp->w_stop_at, n);
		pthread_mutex_lock(&imp->w_lock);
		imp->w_busy = true;
		imp->w_left = IMPORT_WORKERS;
		imp->w_seq++;
		pthread_cond_broadcast(&imp->w_cond);
		pthread_mutex_unlock(&imp->w_lock);
		return was ? job_keep(imp, &done) : 0;
	}
	if ((rc = job_finish(imp)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {   /* no threads to be had: check here */
		if ((rc = hs_import_blob(imp, hashes[i], frames[i], lens[i])) < 0)
			return rc;
	}
	return 0;
}

int hs_import_blobs_wait(hs_import *imp)
{
	return job_finish(imp);
}

int hs_import_version(hs_import *imp, const hs_version_info *vi,
		      const uint8_t parent[HS_IDENT_LEN])
{
	const struct iver *prev = imp->n_vers ? &imp->vers[imp->n_vers - 1] : NULL;
	const uint8_t *want = prev ? prev->vi.ident : imp->p.incremental ? imp->p.base :
			      no_ident;
	uint64_t after = prev ? prev->vi.version : imp->base_version;
	struct iver *v;
	int rc;

	if (imp->done)
		return hs_errno_set(-EINVAL, "the import is finished");
	if (memcmp(parent, want, HS_IDENT_LEN) != 0)
		return hs_errno_set(-EINVAL, "version %llu does not follow %s",
				    (unsigned long long)vi->version,
				    prev ? "the version before it" :
				    imp->p.incremental ? "the base" : "nothing (a full stream)");
	if (vi->version <= after || vi->version >= HS_VERSION_LIVE - 1)
		return hs_errno_set(-EINVAL, "version %llu after version %llu",
				    (unsigned long long)vi->version, (unsigned long long)after);
	if (memcmp(vi->ident, no_ident, HS_IDENT_LEN) == 0)
		return hs_errno_set(-EINVAL, "version %llu has no identity",
				    (unsigned long long)vi->version);
	if (vi->size_bytes > HS_HEAP_SIZE_MAX || vi->state_size > HS_STATE_SIZE_MAX)
		return hs_errno_set(-EINVAL, "version %llu: size %llu, state %llu",
				    (unsigned long long)vi->version,
				    (unsigned long long)vi->size_bytes,
				    (unsigned long long)vi->state_size);
	if (memchr(vi->label, '\0', sizeof(vi->label)) == NULL)
		return hs_errno_set(-EINVAL, "version %llu: label too long",
				    (unsigned long long)vi->version);
	for (size_t i = 0; i < imp->n_vers; i++) {
		if (memcmp(imp->vers[i].vi.ident, vi->ident, HS_IDENT_LEN) == 0)
			return hs_errno_set(-EINVAL, "version %llu repeats version %llu's identity",
					    (unsigned long long)vi->version,
					    (unsigned long long)imp->vers[i].vi.version);
		if (*vi->label && strcmp(imp->vers[i].vi.label, vi->label) == 0)
			return hs_errno_set(-EINVAL, "label '%s' twice", vi->label);
	}
	if (*vi->label) {
		if ((rc = hs_vrec__label_check(vi->label)) < 0)
			return hs_errno_set(rc, "version %llu: %s", (unsigned long long)vi->version,
					    hs_error_last());
		if (imp->target) {
			uint8_t key[HS_META_KEY_MAX];
			size_t kl = hs_key__meta(key, 'L', imp->tid, vi->label), vl;
			char *val = NULL;

			rc = hs_store__get(imp->s, HS_CF_META, NULL, key, kl, &val, &vl);
			rocksdb_free(val);
			if (rc == 0)
				return hs_errno_set(-EEXIST, "heap '%s' here has a checkpoint "
						    "labelled '%s' already", imp->name, vi->label);
			if (rc != -ENOENT)
				return rc;
		}
	}
	if ((rc = hs_grow((void **)&imp->vers, &imp->cap_vers, imp->n_vers,
			  sizeof(*imp->vers))) < 0)
		return rc;
	v = &imp->vers[imp->n_vers++];
	memset(v, 0, sizeof(*v));
	v->vi.version = vi->version;
	v->vi.created_ns = vi->created_ns;
	v->vi.size_bytes = vi->size_bytes;
	v->vi.state_size = vi->state_size;
	strcpy(v->vi.label, vi->label);
	memcpy(v->vi.ident, vi->ident, HS_IDENT_LEN);
	v->first = imp->n_lines;
	return 0;
}

/* Lines a space of @bytes holds. */
static uint64_t lines_of(const struct hs_import *imp, uint64_t bytes)
{
	return (bytes >> imp->shift) + ((bytes & (imp->p.line_size - 1)) != 0);
}

int hs_import_lines(hs_import *imp, const hs_xline *lines, size_t n)
{
	struct iver *v = imp->n_vers ? &imp->vers[imp->n_vers - 1] : NULL;
	int rc;

	if (imp->done || !v)
		return hs_errno_set(-EINVAL, "lines before any version");
	if (imp->n_lines + n > IMPORT_LINES_MAX || imp->n_lines + n < n)
		return hs_errno_set(-EFBIG, "more than %u line entries in one stream",
				    IMPORT_LINES_MAX);
	for (size_t i = 0; i < n; i++) {
		const hs_xline *l = &lines[i];
		bool state = (l->line & HS_STATE_LINE) != 0;
		uint64_t idx = l->line & ~HS_STATE_LINE;
		/* A zero entry may lie past the size: a truncate's. */
		uint64_t bound = l->zero ? lines_of(imp, state ? HS_STATE_SIZE_MAX :
						   HS_HEAP_SIZE_MAX) :
				 lines_of(imp, state ? v->vi.state_size : v->vi.size_bytes);

		if (idx >= bound)
			return hs_errno_set(-EINVAL, "version %llu: %s line %llu is past its %s",
					    (unsigned long long)v->vi.version,
					    state ? "state" : "heap", (unsigned long long)idx,
					    l->zero ? "largest size" : "size");
		if (v->n && imp->lines[imp->n_lines - 1].line >= l->line)
			return hs_errno_set(-EINVAL, "version %llu: line %llu out of order",
					    (unsigned long long)v->vi.version,
					    (unsigned long long)l->line);
		if ((rc = hs_grow((void **)&imp->lines, &imp->cap_lines, imp->n_lines,
				  sizeof(*imp->lines))) < 0)
			return rc;
		imp->lines[imp->n_lines] = *l;
		imp->lines[imp->n_lines].zero = l->zero != 0;
		imp->n_lines++;
		v->n++;
	}
	return 0;
}

/* ---- commit ------------------------------------------------------------- */

/* Which lines are non-zero as the versions go by: line + 1 -> 1 or 2. */
struct lmap {
	uint64_t *keys;
	uint8_t *vals;
	size_t cap, n;
};

static uint8_t *lmap_slot(struct lmap *m, uint64_t key, bool *fresh)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 1024;
		uint64_t *k = calloc(cap, sizeof(*k));
		uint8_t *v = calloc(cap, 1);

		if (!k || !v) {
			free(k);
			free(v);
			return NULL;
		}
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->keys[j])
				continue;
			i = (size_t)(m->keys[j] * 0x9e3779b97f4a7c15ULL) & (cap - 1);
			while (k[i])
				i = (i + 1) & (cap - 1);
			k[i] = m->keys[j];
			v[i] = m->vals[j];
		}
		free(m->keys);
		free(m->vals);
		m->keys = k;
		m->vals = v;
		m->cap = cap;
	}
	i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (m->cap - 1);
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	*fresh = !m->keys[i];
	if (*fresh) {
		m->keys[i] = key;
		m->n++;
	}
	return &m->vals[i];
}

/* Stage every version's entries, records and labels into @b; the live
 * heap's non-zero lines after the newest into *@used. */
static int commit_stage(struct hs_import *imp, struct hs_batch *b, struct hs_cursor *cur,
			int64_t *used)
{
	hs_store *s = imp->s;
	struct lmap m = { 0 };
	uint64_t parent = imp->base_version;
	int rc = 0;

	for (size_t vi = 0; vi < imp->n_vers && rc == 0; vi++) {
		struct iver *v = &imp->vers[vi];
		uint8_t key[HS_META_KEY_MAX], val[HS_REC_MAX], vb[8];
		size_t kl, vl;

		v->vi.parent = parent;
		v->vi.lines_changed = v->vi.bytes_changed = 0;
		for (size_t i = v->first; i < v->first + v->n && rc == 0; i++) {
			const hs_xline *l = &imp->lines[i];
			uint8_t lk[HS_LINE_KEY_LEN], ck[HS_CHANGE_KEY_LEN], sz[4];
			struct hset_slot *sl = NULL;
			char hex[20];
			uint8_t *was;
			bool fresh;

			if (!l->zero && !(sl = hset_find(imp, l->hash))) {
				hs_hash_hex(hex, sizeof(hex), l->hash);
				rc = hs_errno_set(-ENOENT, "version %llu line %llu: content %s is "
						  "neither in the stream nor in this store",
						  (unsigned long long)v->vi.version,
						  (unsigned long long)l->line, hex);
				break;
			}
			hs_key__line(lk, imp->tid, l->line, v->vi.version);
			hs_key__change(ck, imp->tid, v->vi.version, l->line);
			hs_le32_put(sz, sl ? sl->stored : 0);
			rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_LINES], (const char *)lk,
						  sizeof(lk), (const char *)l->hash,
						  l->zero ? 0 : HS_HASH_LEN);
			rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_CHANGES], (const char *)ck,
						  sizeof(ck), (const char *)sz, 4);
			if (sl && (rc = hs_ref__take(s, b, l->hash, sl->stored,
						     imp->p.line_size)) < 0)
				break;
			v->vi.bytes_changed += sl ? sl->stored : 0;
			if (l->line & HS_STATE_LINE)
				continue;
			v->vi.lines_changed++;
			if (!(was = lmap_slot(&m, l->line + 1, &fresh))) {
				rc = hs_errno_set(-ENOMEM, "out of memory");
				break;
			}
			if (fresh) {   /* what it was before the stream: the base's */
				struct hs_lineval old = { .zero = true };

				if (imp->target && (rc = hs_line__lookup(imp->target, cur, l->line,
									 imp->base_version,
									 &old, NULL)) < 0)
					break;
				rc = 0;
				*was = old.zero ? 1 : 2;
			}
			*used += (int64_t)!l->zero - (int64_t)(*was == 2);
			*was = l->zero ? 1 : 2;
		}
		if (rc < 0)
			break;
		v->vi.lines_used = (uint64_t)*used;
		kl = hs_key__meta_version(key, imp->tid, v->vi.version);
		vl = hs_version_rec__encode(val, sizeof(val), &v->vi);
		rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_META], (const char *)key, kl,
					  (const char *)val, vl);
		if (*v->vi.label) {
			kl = hs_key__meta(key, 'L', imp->tid, v->vi.label);
			hs_be64_put(vb, v->vi.version);
			rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_META], (const char *)key, kl,
						  (const char *)vb, 8);
		}
		parent = v->vi.version;
	}
	free(m.keys);
	free(m.vals);
	return rc;
}

/*
 * The commit's one synced batch; a migration's final round (the heap live
 * here) records in it the hand-over taken.  Should the store's writes fail
 * in it (a write refused, or a sync after an unsynced write went in), the
 * batch may be in the store nonetheless, at the next open: say so.  A
 * refusal before anything was written (a limit, a store stopped already)
 * is not that.
 */
static int commit_write(struct hs_import *imp, hs_heap *h, struct hs_batch *b)
{
	const struct iver *last = &imp->vers[imp->n_vers - 1];
	int was = atomic_load(&imp->s->write_error), rc;

	if (imp->p.migration && imp->p.lease == HS_LEASE_HELD)
		hs_handover__put(imp->s, b->wb, imp->p.ident, last->vi.version, last->vi.ident);
	rc = hs_batch__commit_id(imp->s, h ? h->id : imp->tid, h, b, true);

	if (rc < 0 && !was && atomic_load(&imp->s->write_error))
		imp->unknown = true;
	return rc;
}

/* The heap the stream carries, new: its name, record and counters too. */
static int commit_new(struct hs_import *imp, uint64_t *version_out)
{
	hs_store *s = imp->s;
	const struct iver *last = &imp->vers[imp->n_vers - 1];
	struct hs_heap_rec rec;
	struct hs_batch b;
	uint8_t key[HS_META_KEY_MAX], val[8], nextv[8], zero[8] = { 0 };
	hs_heap tmp;
	int64_t used = 0;
	uint64_t id;
	size_t kl;
	int rc;

	memset(&rec, 0, sizeof(rec));
	rec.state = HS_HEAP_LIVE;
	rec.line_size = imp->p.line_size;
	rec.size = last->vi.size_bytes;
	rec.state_size = last->vi.state_size;
	rec.head = last->vi.version + 1;
	rec.created_ns = imp->p.created_ns ? imp->p.created_ns : hs_now_ns();
	rec.owned = true;
	rec.uid = imp->p.owned ? imp->p.uid : s->owner_uid;
	rec.gid = imp->p.owned ? imp->p.gid : s->owner_gid;
	rec.mode = imp->p.owned ? imp->p.mode & HS_MODE_BITS : HS_MODE_DEFAULT;
	memcpy(rec.ident, imp->p.ident, HS_IDENT_LEN);
	rec.lease = imp->p.lease;
	strcpy(rec.name, imp->name);

	if (!imp->tid) {   /* nothing was staged: the id is taken now */
		pthread_mutex_lock(&s->lock);
		imp->tid = s->next_heap_id++;
		pthread_mutex_unlock(&s->lock);
	}
	hs_batch__init(&b);
	if ((rc = commit_stage(imp, &b, NULL, &used)) < 0)
		goto out;
	memset(&tmp, 0, sizeof(tmp));
	tmp.store = s;
	tmp.id = imp->tid;
	if ((rc = hs_heap__put_rec(&tmp, b.wb, &rec)) < 0)
		goto out;
	kl = hs_key__meta(key, 'C', imp->tid, NULL);
	rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)zero, 8);
	b.lines_used_delta = used;
	/*
	 * The name is taken in the same batch, under the store lock so no
	 * create slips in between (like hs_heap_create, this holds it across
	 * a synced write; the accounting's lock is taken under it here).
	 */
	kl = hs_key__meta(key, 'N', 0, imp->name);
	hs_be64_put(val, imp->tid);
	rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)val, 8);
	pthread_mutex_lock(&s->lock);
	hs_le64_put(nextv, s->next_heap_id);   /* never behind an id handed out */
	rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_META], "I", 1, (const char *)nextv, 8);
	rc = hs_heap__name_lookup(s, imp->name, &id);
	if (rc == 0)
		rc = hs_errno_set(-EEXIST, "heap '%s' was created meanwhile", imp->name);
	if (rc == -ENOENT)
		rc = commit_write(imp, NULL, &b);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		*version_out = last->vi.version;
out:
	hs_batch__dispose(&b);
	return rc;
}

/*
 * The cache's entries for the lines the versions changed go (a truncation
 * is among them: it records the lines past the new end as zero lines).
 * Not the rest: a cache full of the heap's other lines cost 60-70 ms to
 * drop, on every first migration back after the heap was read through.
 */
static void drop_changed(struct hs_import *imp, hs_heap *h)
{
	uint64_t *lines = malloc((imp->n_lines + 1) * sizeof(*lines));

	if (!lines) {   /* then all of them */
		hs_cache__drop(h, true, false, 0);
		return;
	}
	for (size_t i = 0; i < imp->n_lines; i++)
		lines[i] = imp->lines[i].line;
	hs_cache__drop_lines(h, lines, imp->n_lines);
	free(lines);
}

/* Versions added to the heap here, whose newest checkpoint is the base. */
static int commit_incremental(struct hs_import *imp, uint64_t *version_out)
{
	hs_heap *h = imp->target;
	const struct iver *last = &imp->vers[imp->n_vers - 1];
	struct hs_heap_rec copy;
	struct hs_cursor cur = { 0 };
	hs_version_info base;
	struct hs_batch b;
	uint64_t changed = 0;
	int64_t used;
	int rc;

	hs_batch__init(&b);
	if ((rc = hs_cache__preflush(h)) < 0)
		goto out_unlocked;
	pthread_rwlock_wrlock(&h->lock);
	used = atomic_load(&h->lines_used);
	if ((rc = hs_heap__check_live(h)) < 0 || (rc = hs_cache__flush_heap(h)) < 0)
		goto out;
	if (h->latest != imp->base_version) {
		rc = hs_errno_set(-ESTALE, "heap '%s' here took checkpoint %llu meanwhile",
				  h->rec.name, (unsigned long long)h->latest);
		goto out;
	}
	/* Its live heap must still be the base: no line, size or state since. */
	if ((rc = hs_version__exists(h, h->latest, &base)) < 0 ||
	    (rc = hs_heap__changes_count(h, 1, &changed)) < 0)
		goto out;
	if (changed || h->rec.size != base.size_bytes || h->rec.state_size != base.state_size) {
		rc = hs_errno_set(-EBUSY, "heap '%s' here changed since its checkpoint %llu: "
				  "checkpoint or restore it first", h->rec.name,
				  (unsigned long long)h->latest);
		goto out;
	}
	if ((rc = hs_cursor__open(&cur, h, NULL)) < 0 ||
	    (rc = commit_stage(imp, &b, &cur, &used)) < 0)
		goto out;
	copy = h->rec;
	copy.size = last->vi.size_bytes;
	copy.state_size = last->vi.state_size;
	copy.head = last->vi.version + 1;
	copy.lease = imp->p.lease;
	copy.moved_to[0] = '\0';
	b.lines_used_delta = used - atomic_load(&h->lines_used);
	if ((rc = hs_heap__put_rec(h, b.wb, &copy)) < 0 || (rc = commit_write(imp, h, &b)) < 0)
		goto out;
	hs_heap__rec_set(h, &copy);
	h->latest = last->vi.version;
	h->n_checkpoints += imp->n_vers;
	drop_changed(imp, h);   /* the live heap changed behind the cache */
	*version_out = last->vi.version;
out:
	pthread_rwlock_unlock(&h->lock);
out_unlocked:
	hs_cursor__close(&cur);
	hs_batch__dispose(&b);
	return rc;
}

/* Content the lines name that was not carried must be here: pin it. */
static int pin_the_rest(struct hs_import *imp)
{
	for (size_t i = 0; i < imp->n_lines; i++) {
		const hs_xline *l = &imp->lines[i];
		char hex[20];
		int rc;

		if (l->zero || hset_find(imp, l->hash))
			continue;
		if ((rc = hs_import_have(imp, l->hash)) < 0)
			return rc;
		if (rc == 0) {
			hs_hash_hex(hex, sizeof(hex), l->hash);
			return hs_errno_set(-ENOENT, "line %llu: content %s is neither in the "
					    "stream nor in this store",
					    (unsigned long long)l->line, hex);
		}
	}
	return 0;
}

int hs_import_commit(hs_import *imp, uint64_t *version_out)
{
	uint64_t v = 0;
	int rc;

	if (imp->done)
		return hs_errno_set(-EINVAL, "the import is finished");
	if ((rc = job_finish(imp)) < 0)
		;
	else if (imp->w_failed)
		rc = import_failed(imp);
	else if (!imp->n_vers)
		rc = hs_errno_set(-EINVAL, "the stream carries no version");
	else if ((rc = pin_the_rest(imp)) == 0 && (rc = stage_flush(imp)) == 0)
		rc = imp->p.incremental ? commit_incremental(imp, &v) : commit_new(imp, &v);
	imp->done = true;   /* its staging heap goes at hs_import_free() */
	imp->committed = rc == 0;
	if (rc == 0 && version_out)
		*version_out = v;
	return rc;
}

bool hs_import_outcome_unknown(const hs_import *imp)
{
	return imp->done && !imp->committed && imp->unknown;
}

void hs_import_lease_set(hs_import *imp, hs_lease lease)
{
	imp->p.lease = lease;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void hs_import_changed(const hs_import *imp, void (*fn)(void *arg, uint64_t off, uint64_t len),
		       void *arg)
{
	uint64_t *lines;
	size_t n = 0;

	if (!imp->committed || !imp->p.incremental || !imp->n_lines)
		return;
	if (!(lines = malloc(imp->n_lines * sizeof(*lines)))) {
		fn(arg, 0, 0);   /* all of it */
		return;
	}
	for (size_t i = 0; i < imp->n_lines; i++) {
		if (!(imp->lines[i].line & HS_STATE_LINE))
			lines[n++] = imp->lines[i].line;
	}
	qsort(lines, n, sizeof(*lines), u64_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;

		while (j < n && lines[j] <= lines[j - 1] + 1)
			j++;
		fn(arg, lines[i] << imp->shift, (lines[j - 1] - lines[i] + 1) << imp->shift);
		i = j;
	}
	free(lines);
}

void hs_import_free(hs_import *imp)
{
	if (!imp)
		return;
	if (!imp->done)   /* what was verified is kept, as below */
		(void)job_finish(imp);
	if (imp->w_started)
		workers_stop(imp);
	if (imp->w_init) {
		pthread_mutex_destroy(&imp->w_lock);
		pthread_cond_destroy(&imp->w_cond);
	}
	/* Aborted: what was verified stays as garbage until GC takes it, so a
	 * transfer tried again does not carry it twice; the staging heap goes
	 * (or at the next open). */
	if (imp->sid && !imp->done)
		(void)stage_flush(imp);
	hs_batch__dispose(&imp->b);
	if (imp->sid)   /* its record says DELETING: the rest is the purger's */
		hs_heap__purge_later(imp->s, imp->sid);
	if (imp->target)
		hs_heap_close(imp->target);
	free(imp->stage);
	free(imp->set);
	free(imp->vers);
	free(imp->lines);
	free(imp);
}
