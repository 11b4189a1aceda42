/*
 * vrec.c - checkpoint records ('V' id version in meta): decoding them,
 * loading a heap's latest checkpoint and count, looking one up, the next
 * and previous existing versions, and the list.  The operations on
 * versions (seal, read, diff, restore, delete) are version.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

/* Labels follow heap-name rules and cannot pass for a version number. */
int hs_vrec__label_check(const char *label)
{
	int rc = hs_name_check(label);
	const char *p = label;

	if (rc < 0)
		return hs_errno_set(rc, "label: %s", hs_error_last());   /* error_vset copies first */
	while (*p >= '0' && *p <= '9')
		p++;
	if (!*p)
		return hs_errno_set(-EINVAL, "label '%s' is all digits, like a version number",
				    label);
	if (strcmp(label, "latest") == 0 || strcmp(label, "live") == 0)
		return hs_errno_set(-EINVAL, "label '%s' is reserved", label);
	return 0;
}

int hs_label_check(const char *label)
{
	return hs_vrec__label_check(label);
}

/* Decode checkpoint @version's record; it must agree with its key. */
int hs_version__decode(hs_heap *h, uint64_t version, const uint8_t *v,
			  size_t vl, hs_version_info *out)
{
	static const uint8_t none[HS_IDENT_LEN];
	int rc = hs_version_rec__decode(out, v, vl);

	if (rc == 0 && memcmp(out->ident, none, HS_IDENT_LEN) == 0) {
		/* A record from before identities: one derived from the heap's,
		 * the same on every node (such a checkpoint never moved). */
		struct hs_scratch *sc = hs_scratch__get();
		uint8_t in[8 + HS_IDENT_LEN + 8], hash[HS_HASH_LEN];

		if (!sc)
			return -ENOMEM;
		memcpy(in, "heapfs-v", 8);
		memcpy(in + 8, h->rec.ident, HS_IDENT_LEN);
		hs_be64_put(in + 8 + HS_IDENT_LEN, version);
		hs_codec__hash(sc, in, sizeof(in), hash);
		memcpy(out->ident, hash, HS_IDENT_LEN);
	}
	if (rc == 0 && out->version != version)
		rc = hs_errno_set(-EUCLEAN, "record says version %llu",
				  (unsigned long long)out->version);
	if (rc < 0)
		return hs_errno_set(rc, "heap '%s' checkpoint %llu: %s", h->rec.name,
				    (unsigned long long)version, hs_error_last());
	return 0;
}

static int version_decode_at(hs_heap *h, rocksdb_iterator_t *it,
			     hs_version_info *out)
{
	size_t kl, vl;
	const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
	const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);

	if (kl != 17)
		return hs_errno_set(-EUCLEAN, "heap '%s': checkpoint key of %zu bytes",
				    h->rec.name, kl);
	return hs_version__decode(h, hs_be64_get(k + 9), v, vl, out);
}

/* Iterate the version records of @h from @from on; the caller destroys. */
static rocksdb_iterator_t *version_iter(hs_heap *h, uint64_t from,
					rocksdb_readoptions_t **ro_out,
					uint8_t *upper)
{
	uint8_t key[17];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;

	hs_key__meta(upper, 'V', h->id + 1, NULL);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, 9);
	it = rocksdb_create_iterator_cf(h->store->db, ro, h->store->cf[HS_CF_META]);
	hs_key__meta_version(key, h->id, from);
	rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	*ro_out = ro;
	return it;
}

int hs_version__load_all(hs_heap *h)
{
	rocksdb_readoptions_t *ro;
	uint8_t upper[9];
	rocksdb_iterator_t *it = version_iter(h, 0, &ro, upper);
	int rc = 0;

	h->latest = 0;
	h->n_checkpoints = 0;
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		hs_version_info vi;

		if ((rc = version_decode_at(h, it, &vi)) < 0)
			break;
		h->latest = vi.version;
		h->n_checkpoints++;
	}
	if (rc == 0 && h->latest >= h->rec.head)
		rc = hs_errno_set(-EUCLEAN, "heap '%s': checkpoint %llu is not below working version %llu",
				  h->rec.name, (unsigned long long)h->latest,
				  (unsigned long long)h->rec.head);
	return hs_iter__finish(it, ro, rc, "loading checkpoints");
}

int hs_version__exists(hs_heap *h, uint64_t version, hs_version_info *out)
{
	uint8_t key[17];
	char *val = NULL;
	size_t vl = 0;
	int rc;

	hs_key__meta_version(key, h->id, version);
	rc = hs_store__get(h->store, HS_CF_META, NULL, key, sizeof(key), &val, &vl);
	if (rc == -ENOENT)
		return hs_errno_set(-ENOENT, "heap '%s' has no checkpoint %llu",
				    h->rec.name, (unsigned long long)version);
	if (rc < 0)
		return rc;
	rc = hs_version__decode(h, version, (const uint8_t *)val, vl, out);
	rocksdb_free(val);
	return rc;
}

/* The next existing version after @version: a checkpoint or the working one. */
int hs_version__next(hs_heap *h, uint64_t version, uint64_t *next_out)
{
	rocksdb_readoptions_t *ro;
	uint8_t upper[9];
	rocksdb_iterator_t *it = version_iter(h, version + 1, &ro, upper);
	hs_version_info vi;
	int rc = 0;

	*next_out = h->rec.head;
	if (rocksdb_iter_valid(it) && (rc = version_decode_at(h, it, &vi)) == 0)
		*next_out = vi.version;
	return hs_iter__finish(it, ro, rc, "finding the next version");
}

/* The newest existing checkpoint below @version, 0 if none. */
int hs_version__prev(hs_heap *h, uint64_t version, uint64_t *prev_out)
{
	uint8_t key[17], lower[9];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	hs_version_info vi;
	int rc = 0;

	hs_key__meta(lower, 'V', h->id, NULL);
	rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lower, 9);
	it = rocksdb_create_iterator_cf(h->store->db, ro, h->store->cf[HS_CF_META]);
	hs_key__meta_version(key, h->id, version - 1);
	rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof(key));
	*prev_out = 0;
	if (rocksdb_iter_valid(it)) {
		size_t kl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);

		if (kl == 17 && k[0] == 'V' && hs_be64_get(k + 1) == h->id &&
		    (rc = version_decode_at(h, it, &vi)) == 0)
			*prev_out = vi.version;
	}
	return hs_iter__finish(it, ro, rc, "finding the previous version");
}

/* Every checkpoint record of @h, oldest first (the caller holds h->lock). */
int hs_version__list_all(hs_heap *h, hs_version_info **out, size_t *n_out)
{
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	uint8_t upper[9];
	hs_version_info *arr = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	it = version_iter(h, 0, &ro, upper);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		if ((rc = hs_grow((void **)&arr, &cap, n, sizeof(*arr))) < 0)
			break;
		if ((rc = version_decode_at(h, it, &arr[n])) < 0)
			break;
		n++;
	}
	rc = hs_iter__finish(it, ro, rc, "listing checkpoints");
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

/* ---- hand-overs taken here ('D': keys.c encodes them) ------------------ */

void hs_handover__put(hs_store *s, rocksdb_writebatch_t *wb,
		      const uint8_t heap_ident[HS_IDENT_LEN], uint64_t version,
		      const uint8_t ident[HS_IDENT_LEN])
{
	uint8_t key[HS_HANDOVER_KEY_LEN], val[HS_HANDOVER_LEN];
	hs_handover r = { .version = version, .at_ns = hs_now_ns() };

	hs_key__handover(key, heap_ident, ident);
	hs_handover__encode(val, &r);
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, sizeof(key),
				  (const char *)val, sizeof(val));
}

int hs_handover_get(hs_store *s, const uint8_t heap_ident[HS_IDENT_LEN],
		    const uint8_t ident[HS_IDENT_LEN], hs_handover *out)
{
	uint8_t key[HS_HANDOVER_KEY_LEN];
	char *val = NULL;
	size_t vl = 0;
	int rc;

	hs_key__handover(key, heap_ident, ident);
	if ((rc = hs_store__get(s, HS_CF_META, NULL, key, sizeof(key), &val, &vl)) < 0)
		return rc;
	rc = hs_handover__decode(out, (const uint8_t *)val, vl);
	rocksdb_free(val);
	return rc;
}
