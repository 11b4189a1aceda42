/*
 * admin.c - what is done to a heap as a whole with its cached lines in
 * view: deleting it (open handles stop and their lines go, only once the
 * delete is durable), its figures (the cache's among them), and the list
 * of heaps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

int hs_heap_delete(hs_store *s, const char *name)
{
	struct hs_heap_rec rec;
	uint8_t key[HS_META_KEY_MAX];
	rocksdb_writebatch_t *wb = NULL;
	hs_heap tmp, *open_h = NULL;
	uint64_t id, again = 0;
	int rc;

	if ((rc = hs_name_check(name)) < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	if ((rc = hs_heap__name_lookup(s, name, &id)) < 0)
		goto out;
	if ((open_h = hs_heap__find_open(s, id))) {
		/*
		 * Open handles must stop before the purge removes what they
		 * read, and keep their dirty lines if the delete fails: the
		 * heap's lock is held exclusively across the synced write (the
		 * structural exception of the lock order, heapstore_int.h).  A
		 * heap lock comes before the store lock, so let that go first
		 * and look the name up again once both are held.
		 */
		pthread_mutex_unlock(&s->lock);
		pthread_rwlock_wrlock(&open_h->lock);
		pthread_mutex_lock(&s->lock);
		if (!open_h->deleted && (rc = hs_heap__name_lookup(s, name, &again)) < 0)
			goto out;
		if (open_h->deleted || again != id) {   /* deleted meanwhile */
			rc = hs_errno_set(-ENOENT, "no heap named '%s'", name);
			goto out;
		}
	}
	rc = hs_heap__rec_load(s, id, name, &rec);
	if (rc == -EUCLEAN) {
		/* A damaged record must not pin the heap: the purge needs only the id. */
		memset(&rec, 0, sizeof(rec));
		rec.line_size = HS_LINE_SIZE_DEFAULT;
		rec.head = 1;
		strcpy(rec.name, name);
	} else if (rc < 0) {
		goto out;
	}
	rec.state = HS_HEAP_DELETING;
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)key,
				     hs_key__meta(key, 'N', 0, name));
	memset(&tmp, 0, sizeof(tmp));
	tmp.store = s;
	tmp.id = id;
	if ((rc = hs_heap__put_rec(&tmp, wb, &rec)) < 0)
		goto out;
	if ((rc = hs_store__write(s, wb, true)) == 0 && open_h) {
		open_h->deleted = true;
		open_h->rec.state = HS_HEAP_DELETING;
	}
	if (rc == 0) {   /* its reservation and fallocated holds go with it */
		(void)hs_limit__reserve_set(s, id, 0, 0);
		hs_limit__hold_drop(s, id, 0, UINT64_MAX, false);
	}
out:
	pthread_mutex_unlock(&s->lock);
	if (wb)
		rocksdb_writebatch_destroy(wb);
	if (open_h) {
		/* Deleted: its cached lines die with it, before the purge.
		 * Failed: nothing changed, and its dirty lines stay. */
		if (rc == 0)
			hs_cache__drop(open_h, true, false, 0);
		pthread_rwlock_unlock(&open_h->lock);
		hs_heap_close(open_h);
	}
	return rc < 0 ? rc : hs_heap__purge(s, id);
}

void hs_store_totals_get(hs_store *s, hs_store_totals *out)
{
	int64_t v[HS_TOTAL_COUNT];

	for (int k = 0; k < HS_TOTAL_COUNT; k++) {
		v[k] = atomic_load(&s->totals[k]);
		if (v[k] < 0)
			v[k] = 0;
	}
	out->bytes_stored = (uint64_t)v[HS_TOTAL_STORED];
	out->blobs = (uint64_t)v[HS_TOTAL_BLOBS];
	out->bytes_garbage = (uint64_t)v[HS_TOTAL_GARBAGE];
	out->blobs_garbage = (uint64_t)v[HS_TOTAL_GARBAGE_BLOBS];
	out->bytes_charged = (uint64_t)atomic_load(&s->charged);
	out->pool_bytes = s->pool_bytes;
	out->bytes_reserved_unused = 0;
	pthread_mutex_lock(&s->limit_lock);
	for (size_t i = 0; i < s->n_res; i++) {
		int64_t left = (int64_t)s->res[i].reserve - s->res[i].referenced;

		if (left > 0)
			out->bytes_reserved_unused += (uint64_t)left;
	}
	pthread_mutex_unlock(&s->limit_lock);
}

int hs_heap_info_get(hs_heap *h, hs_heap_info *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0) {
		strcpy(out->name, h->rec.name);
		out->id = h->id;
		out->size_bytes = h->rec.size;
		out->line_size = h->rec.line_size;
		out->state = h->rec.state;
		out->quota_bytes = h->rec.quota;
		out->reserve_bytes = h->rec.reserve;
		out->version = h->rec.head;
		out->latest = h->latest;
		out->checkpoints = h->n_checkpoints;
		out->lines_used = (uint64_t)atomic_load(&h->lines_used);
		out->created_ns = h->rec.created_ns;
		out->state_size = h->rec.state_size;
		out->suspended = h->rec.suspended;
		out->uid = h->rec.uid;
		out->gid = h->rec.gid;
		out->mode = h->rec.mode;
		memcpy(out->ident, h->rec.ident, HS_IDENT_LEN);
		out->lease = h->rec.lease;
		strcpy(out->moved_to, h->rec.moved_to);
		out->bytes_referenced = (uint64_t)atomic_load(&h->referenced);
		out->bytes_charged = (uint64_t)atomic_load(&h->charged);
		out->bytes_overdraft = (uint64_t)atomic_load(&h->overdraft);
		out->bytes_held = hs_limit__held(h);
		/* 'U' moves in batches of any heap (a blob another heap lets go
		 * can become this one's alone): read, not kept in the object. */
		{
			int64_t u;

			if ((rc = hs_store__get_counter(h->store, 'U', h->id, &u)) == 0)
				out->bytes_unique = (uint64_t)u;
		}
		hs_cache__heap_info(h, out);
	}
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

int hs_heap_list(hs_store *s, hs_heap_info **out, size_t *n_out)
{
	uint8_t start = 'N', end = 'N' + 1;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	hs_heap_info *arr = NULL;
	size_t n = 0, cap = 0;
	char *err = NULL;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
	for (rocksdb_iter_seek(it, (const char *)&start, 1); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);
		char name[HS_NAME_MAX + 1];
		hs_heap *h;

		if (kl < 2 || kl - 1 > HS_NAME_MAX)
			continue;
		memcpy(name, k + 1, kl - 1);
		name[kl - 1] = '\0';
		if ((rc = hs_grow((void **)&arr, &cap, n, sizeof(*arr))) < 0)
			break;
		rc = hs_heap_open(&h, s, name);
		if (rc == -ENOENT) {  /* deleted since the iterator began */
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = hs_heap_info_get(h, &arr[n]);
		hs_heap_close(h);
		if (rc < 0)
			break;
		n++;
	}
	rocksdb_iter_get_error(it, &err);
	if (err && rc == 0)
		rc = hs_rdb_error(err, "listing heaps");
	else if (err)
		rocksdb_free(err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

/* hs_heap_lease_set(); @ho: the newest checkpoint's identity, whose
 * hand-over is taken with the lease (hs_heap_lease_take_over, at @hv). */
static int lease_set(hs_heap *h, hs_lease lease, const char *moved_to, uint64_t hv,
		     const uint8_t *ho)
{
	struct hs_heap_rec copy;
	rocksdb_writebatch_t *wb;
	hs_version_info vi;
	int rc;

	if ((unsigned)lease > HS_LEASE_MIGRATED)
		return hs_errno_set(-EINVAL, "lease state %d", (int)lease);
	if (!moved_to || lease == HS_LEASE_HELD)
		moved_to = "";
	if (strlen(moved_to) > HS_MOVED_MAX)
		return hs_errno_set(-ENAMETOOLONG, "'%s': longer than %d bytes", moved_to,
				    HS_MOVED_MAX);
	/* Everything written before the lease goes must be in the store: the
	 * dirty lines first with the flushers' help, the rest under the lock. */
	if (lease != HS_LEASE_HELD && (rc = hs_cache__preflush(h)) < 0)
		return rc;
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) < 0 ||
	    (lease != HS_LEASE_HELD && (rc = hs_cache__flush_heap(h)) < 0))
		goto out;
	if (ho && (h->latest != hv || (rc = hs_version__exists(h, hv, &vi)) < 0 ||
		   memcmp(vi.ident, ho, HS_IDENT_LEN) != 0)) {
		rc = hs_errno_set(-ESTALE, "heap '%s': checkpoint %llu is not its newest here "
				  "any more", h->rec.name, (unsigned long long)hv);
		goto out;
	}
	copy = h->rec;
	copy.lease = lease;
	strcpy(copy.moved_to, moved_to);
	wb = rocksdb_writebatch_create();
	if (ho)
		hs_handover__put(h->store, wb, h->rec.ident, hv, ho);
	if ((rc = hs_heap__put_rec(h, wb, &copy)) == 0 &&
	    (rc = hs_store__write(h->store, wb, true)) == 0)
		hs_heap__rec_set(h, &copy);
	rocksdb_writebatch_destroy(wb);
out:
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

int hs_heap_lease_set(hs_heap *h, hs_lease lease, const char *moved_to)
{
	return lease_set(h, lease, moved_to, 0, NULL);
}

int hs_heap_lease_take_over(hs_heap *h, uint64_t version, const uint8_t ident[HS_IDENT_LEN])
{
	return lease_set(h, HS_LEASE_HELD, NULL, version, ident);
}
