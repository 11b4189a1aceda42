/*
 * blob.c - blobs and their references: write batches (one WriteBatch with
 * what it does to counters and the blobs it already puts), the reference
 * records (every entry naming a blob holds one; hs_ref__drop() is the one
 * way a reference goes, so whatever must follow a drop is done there, in
 * the same batch), blobs put once when no live reference keeps a copy,
 * read back and verified against their hash, and the store's usage
 * figures from the reference table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

/* ---- GC's fence: hashes pending in uncommitted batches ------------------ */

/*
 * A writer that finds blob X stored (its reference count > 0) adds a
 * reference without storing X again; GC deletes X once its count is <= 0.
 * Unfenced, the two race: the writer probes while another reference still
 * holds X, that one drops, GC sees 0 and deletes X, and the writer commits
 * an entry naming a blob that is gone.  So every batch registers each hash
 * it takes or drops a reference on before it probes (blob_pend), and
 * releases them once it is written or abandoned (hs_batch__dispose).  GC
 * reads counts and writes its deletions holding gc_lock, and skips a hash
 * any batch has pending: a batch that registered before GC looked is
 * skipped; one that registers after waits for gc_lock and then probes what
 * GC left (no count: it stores the blob itself).  gc_lock is a leaf, held
 * by writers only to count, so nothing waits on it while holding anything.
 */
#define PENDING_BUCKETS 4096

struct hs_pending {
	uint8_t hash[HS_HASH_LEN];
	uint32_t count;
	struct hs_pending *next;
};

static size_t pending_bucket(const uint8_t *hash)
{
	return ((size_t)hash[0] | (size_t)hash[1] << 8) % PENDING_BUCKETS;
}

int hs_pending__init(hs_store *s)
{
	pthread_mutex_init(&s->gc_lock, NULL);
	if (!(s->pending = calloc(PENDING_BUCKETS, sizeof(*s->pending))))
		return hs_errno_set(-ENOMEM, "out of memory");
	return 0;
}

void hs_pending__free(hs_store *s)
{
	if (!s->pending)
		return;
	for (size_t i = 0; i < PENDING_BUCKETS; i++) {
		while (s->pending[i]) {   /* none once every batch is disposed */
			struct hs_pending *p = s->pending[i];

			s->pending[i] = p->next;
			free(p);
		}
	}
	free(s->pending);
	s->pending = NULL;
	pthread_mutex_destroy(&s->gc_lock);
}

/* With gc_lock held. */
static struct hs_pending **pending_find(hs_store *s, const uint8_t *hash)
{
	struct hs_pending **pp = &s->pending[pending_bucket(hash)];

	while (*pp && memcmp((*pp)->hash, hash, HS_HASH_LEN) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Register @hash as pending in @b (released by hs_batch__dispose). */
static int blob_pend(hs_store *s, struct hs_batch *b, const uint8_t *hash)
{
	struct hs_pending **pp, *fresh = NULL;

	if (hs_grow((void **)&b->pend, &b->cap_pend, b->n_pend, sizeof(*b->pend)) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&s->gc_lock);
	pp = pending_find(s, hash);
	if (!*pp) {
		pthread_mutex_unlock(&s->gc_lock);
		if (!(fresh = calloc(1, sizeof(*fresh))))
			return hs_errno_set(-ENOMEM, "out of memory");
		memcpy(fresh->hash, hash, HS_HASH_LEN);
		pthread_mutex_lock(&s->gc_lock);
		pp = pending_find(s, hash);   /* another batch may have added it */
		if (!*pp) {
			*pp = fresh;
			fresh = NULL;
		}
	}
	(*pp)->count++;
	pthread_mutex_unlock(&s->gc_lock);
	free(fresh);
	b->pend_store = s;
	memcpy(b->pend[b->n_pend++], hash, HS_HASH_LEN);
	return 0;
}

static void batch_unpend(struct hs_batch *b)
{
	hs_store *s = b->pend_store;

	if (!b->n_pend)
		goto out;
	pthread_mutex_lock(&s->gc_lock);
	for (size_t i = 0; i < b->n_pend; i++) {
		struct hs_pending **pp = pending_find(s, b->pend[i]), *p = *pp;

		if (p && --p->count == 0) {
			*pp = p->next;
			free(p);
		}
	}
	pthread_mutex_unlock(&s->gc_lock);
out:
	free(b->pend);
	b->pend = NULL;
	b->n_pend = b->cap_pend = 0;
}

void (*hs__test_probed)(hs_store *s, const uint8_t *hash);

/* ---- batches ---------------------------------------------------------- */

void hs_batch__init(struct hs_batch *b)
{
	hs_batch__init_wb(b, NULL);
}

void hs_batch__init_wb(struct hs_batch *b, rocksdb_writebatch_t *wb)
{
	memset(b, 0, sizeof(*b));
	b->wb = wb ? wb : rocksdb_writebatch_create();
}

void hs_batch__dispose(struct hs_batch *b)
{
	batch_unpend(b);   /* written or abandoned: GC may look at them again */
	if (b->wb)
		rocksdb_writebatch_destroy(b->wb);
	b->wb = NULL;
}

int hs_batch__commit(hs_heap *h, struct hs_batch *b, bool sync)
{
	int rc;

	if (b->lines_used_delta) {
		uint8_t key[HS_META_KEY_MAX], op[8];
		size_t kl = hs_key__meta(key, 'C', h->id, NULL);

		hs_le64_put(op, (uint64_t)b->lines_used_delta);
		rocksdb_writebatch_merge_cf(b->wb, h->store->cf[HS_CF_META],
					    (const char *)key, kl, (const char *)op, 8);
	}
	if (!sync && rocksdb_writebatch_count(b->wb) == 0)
		return 0;
	rc = hs_store__write(h->store, b->wb, sync);
	if (rc == 0)
		atomic_fetch_add(&h->lines_used, b->lines_used_delta);
	return rc;
}

/* ---- references --------------------------------------------------------- */

/* One merge operand on @hash's reference record. */
static void ref_merge(hs_store *s, rocksdb_writebatch_t *wb, const uint8_t *hash,
		      int64_t delta, uint32_t stored, uint32_t raw)
{
	uint8_t op[HS_REF_VALUE_LEN];

	hs_le64_put(op, (uint64_t)delta);
	hs_le32_put(op + 8, stored);
	hs_le32_put(op + 12, raw);
	rocksdb_writebatch_merge_cf(wb, s->cf[HS_CF_REFS], (const char *)hash, HS_HASH_LEN,
				    (const char *)op, sizeof(op));
}

void hs_ref__take(hs_store *s, rocksdb_writebatch_t *wb, const uint8_t *hash,
		  uint32_t stored, uint32_t raw)
{
	ref_merge(s, wb, hash, 1, stored, raw);
}

int hs_ref__drop(hs_store *s, struct hs_batch *b, const uint8_t *hash)
{
	uint8_t key[1 + HS_HASH_LEN] = { 'G' };
	int rc;

	if ((rc = blob_pend(s, b, hash)) < 0)
		return rc;
	ref_merge(s, b->wb, hash, -1, 0, 0);
	/* A garbage candidate, in the same batch: GC never scans to find one. */
	memcpy(key + 1, hash, HS_HASH_LEN);
	rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_META], (const char *)key, sizeof(key), "", 0);
	return 0;
}

/* ---- blobs -------------------------------------------------------------- */

/* Stored size of blob @hash if some reference keeps it; 0 if none does. */
static int blob_probe(hs_store *s, const uint8_t *hash, uint32_t *stored)
{
	char *val = NULL;
	size_t vl = 0;
	int rc = hs_store__get(s, HS_CF_REFS, NULL, hash, HS_HASH_LEN, &val, &vl);

	*stored = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (vl != HS_REF_VALUE_LEN)
		rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes", vl);
	else if ((int64_t)hs_le64_get((const uint8_t *)val) > 0)
		*stored = hs_le32_get((const uint8_t *)val + 8);
	rocksdb_free(val);
	return rc;
}

/*
 * Make sure blob @nv->hash will exist once @b commits, and return its stored
 * size: known to the batch, kept by a live reference, or compressed now from
 * @content (which may be NULL only when the blob must already exist).
 */
int hs_blob__ensure(hs_heap *h, struct hs_batch *b, const struct hs_lineval *nv,
		       const void *content, uint64_t line, uint32_t *stored)
{
	struct hs_scratch *sc;
	const uint8_t *frame;
	size_t flen;
	char hex[20];
	int rc;

	for (size_t i = 0; i < b->n_new && i < HS_BATCH_NEW_BLOBS; i++) {
		if (memcmp(b->new_blobs[i], nv->hash, HS_HASH_LEN) == 0) {
			*stored = b->new_stored[i];  /* put earlier in this batch */
			return 0;
		}
	}
	if ((rc = blob_pend(h->store, b, nv->hash)) < 0 ||   /* before the probe */
	    (rc = blob_probe(h->store, nv->hash, stored)) < 0)
		return rc;
	if (hs__test_probed)
		hs__test_probed(h->store, nv->hash);
	if (*stored)
		return 0;
	if (!content) {
		hs_hash_hex(hex, sizeof(hex), nv->hash);
		return hs_errno_set(-EUCLEAN, "heap '%s' line %llu: blob %s is missing",
				    h->rec.name, (unsigned long long)line, hex);
	}
	if (!(sc = hs_scratch__get()))
		return -ENOMEM;
	rc = hs_codec__compress(sc, h->store->zstd_level, content, h->rec.line_size,
				&frame, &flen);
	if (rc < 0)
		return rc;
	rocksdb_writebatch_put_cf(b->wb, h->store->cf[HS_CF_BLOBS],
				  (const char *)nv->hash, HS_HASH_LEN,
				  (const char *)frame, flen);
	*stored = (uint32_t)flen;
	if (b->n_new < HS_BATCH_NEW_BLOBS) {
		memcpy(b->new_blobs[b->n_new], nv->hash, HS_HASH_LEN);
		b->new_stored[b->n_new] = *stored;
	}
	b->n_new++;
	return 0;
}

/*
 * @nv equals what an entry of @line already names, so nothing changes -
 * unless fsck --repair marked its blob lost (stored 0): then @content, the
 * very bytes that were lost, stores it again, and every entry naming it
 * reads again.  Costs a reference probe per unchanged line written back.
 */
int hs_blob__heal(hs_heap *h, struct hs_batch *b, const struct hs_lineval *nv,
		     const void *content, uint64_t line)
{
	size_t before = b->n_new;
	uint32_t stored;
	int rc;

	if (nv->zero || !content)
		return 0;
	if ((rc = hs_blob__ensure(h, b, nv, content, line, &stored)) < 0)
		return rc;
	if (b->n_new != before)
		ref_merge(h->store, b->wb, nv->hash, 0, stored, 0);   /* sizes keep the largest: unmarked */
	return 0;
}

/* Read and verify blob @val->hash into @dst (line_size bytes). */
int hs_blob__read(hs_heap *h, const rocksdb_readoptions_t *ro,
		     const struct hs_lineval *val, uint64_t line,
		     uint64_t version, void *dst)
{
	hs_store *s = h->store;
	struct hs_scratch *sc = hs_scratch__get();
	rocksdb_pinnableslice_t *ps;
	uint8_t check[HS_HASH_LEN];
	char *err = NULL, hex[20];
	const char *frame;
	size_t flen;
	int rc;

	if (!sc)
		return -ENOMEM;
	hs_hash_hex(hex, sizeof(hex), val->hash);
	ps = rocksdb_get_pinned_cf(s->db, ro ? ro : s->ro, s->cf[HS_CF_BLOBS],
				   (const char *)val->hash, HS_HASH_LEN, &err);
	if (err)
		return hs_rdb_error(err, "reading a blob");
	if (!ps)
		return hs_errno_set(-EUCLEAN,
				    "heap '%s' line %llu version %llu: blob %s is missing",
				    h->rec.name, (unsigned long long)line,
				    (unsigned long long)version, hex);
	frame = rocksdb_pinnableslice_value(ps, &flen);
	rc = hs_codec__decompress(sc, frame, flen, dst, h->rec.line_size);
	rocksdb_pinnableslice_destroy(ps);
	if (rc < 0)
		return hs_errno_set(rc, "heap '%s' line %llu version %llu: blob %s: %s",
				    h->rec.name, (unsigned long long)line,
				    (unsigned long long)version, hex, hs_error_last());
	hs_codec__hash(sc, dst, h->rec.line_size, check);
	if (memcmp(check, val->hash, HS_HASH_LEN) != 0)
		return hs_errno_set(-EBADMSG,
				    "heap '%s' line %llu version %llu: blob %s content does not match its hash",
				    h->rec.name, (unsigned long long)line,
				    (unsigned long long)version, hex);
	return 0;
}

/* ---- usage -------------------------------------------------------------- */

int hs_store_usage_get(hs_store *s, hs_store_usage *out)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[HS_CF_REFS]);
	char *err = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t vl;
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		int64_t count;

		if (vl != HS_REF_VALUE_LEN) {
			rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes", vl);
			break;
		}
		count = (int64_t)hs_le64_get(v);
		if (count <= 0) {
			out->blobs_garbage++;
			continue;
		}
		out->blobs++;
		out->references += (uint64_t)count;
		out->bytes_stored += hs_le32_get(v + 8);
		out->bytes_unique += hs_le32_get(v + 12);
		out->bytes_referenced += (uint64_t)count * hs_le32_get(v + 12);
	}
	rocksdb_iter_get_error(it, &err);
	if (err && rc == 0)
		rc = hs_rdb_error(err, "reading reference counts");
	else if (err)
		rocksdb_free(err);
	rocksdb_iter_destroy(it);
	return rc;
}

/* ---- reclaiming garbage ---------------------------------------------------- */

int hs_store_gc(hs_store *s, size_t max, hs_gc_stats *out)
{
	uint8_t start = 'G', end = 'H';
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	rocksdb_writebatch_t *wb;
	uint8_t (*cand)[HS_HASH_LEN];
	size_t n = 0;
	char *err = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (s->read_only)
		return hs_errno_set(-EROFS, "store is open read-only");
	if (max == 0)
		max = 1024;
	if (!(cand = malloc(max * sizeof(*cand))))
		return hs_errno_set(-ENOMEM, "out of memory");
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
	for (rocksdb_iter_seek(it, (const char *)&start, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);

		if (n == max) {
			out->more = 1;
			break;
		}
		if (kl == 1 + HS_HASH_LEN)
			memcpy(cand[n++], k + 1, HS_HASH_LEN);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (err) {
		free(cand);
		return hs_rdb_error(err, "reading garbage candidates");
	}

	wb = rocksdb_writebatch_create();
	pthread_mutex_lock(&s->gc_lock);   /* the fence: see blob_pend */
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t key[1 + HS_HASH_LEN] = { 'G' };
		char *val = NULL;
		size_t vl = 0;

		out->candidates++;
		if (*pending_find(s, cand[i])) {
			out->busy++;   /* a batch in flight: next time */
			continue;
		}
		memcpy(key + 1, cand[i], HS_HASH_LEN);
		rc = hs_store__get(s, HS_CF_REFS, NULL, cand[i], HS_HASH_LEN, &val, &vl);
		if (rc == -ENOENT || (rc == 0 && vl == HS_REF_VALUE_LEN &&
				      (int64_t)hs_le64_get((const uint8_t *)val) <= 0)) {
			if (rc == 0)
				out->bytes_freed += hs_le32_get((const uint8_t *)val + 8);
			out->blobs_freed += rc == 0;
			rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_BLOBS],
						     (const char *)cand[i], HS_HASH_LEN);
			rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_REFS],
						     (const char *)cand[i], HS_HASH_LEN);
			rc = 0;
		} else if (rc == 0 && vl != HS_REF_VALUE_LEN) {
			rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes", vl);
		}
		rocksdb_free(val);
		if (rc == 0)   /* looked at: referenced again, or reclaimed */
			rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)key,
						     sizeof(key));
	}
	if (rc == 0 && rocksdb_writebatch_count(wb))
		rc = hs_store__write(s, wb, false);
	pthread_mutex_unlock(&s->gc_lock);
	rocksdb_writebatch_destroy(wb);
	free(cand);
	return rc;
}
