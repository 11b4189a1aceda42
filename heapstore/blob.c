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

void hs_ref__drop(hs_store *s, rocksdb_writebatch_t *wb, const uint8_t *hash)
{
	ref_merge(s, wb, hash, -1, 0, 0);
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
	if ((rc = blob_probe(h->store, nv->hash, stored)) < 0)
		return rc;
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
