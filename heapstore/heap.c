/*
 * heap.c - heaps as objects: name rules, the persistent heap record, the
 * store's table of open heaps (every handle to one heap shares one object,
 * and with it one set of locks), properties, and the purge of a deleted heap.
 *
 * Deletion is two-phase so that a crash cannot leave half a heap reachable:
 * one synced batch removes the name and marks the record DELETING
 * (hs_heap_delete, admin.c); then hs_heap__purge() drops the heap's entries
 * in chunks (each chunk drops the references its entries held) and finally
 * the record.  hs_store_open() resumes any purge a crash interrupted.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

#define PURGE_CHUNK 4096

static int line_size_check(uint32_t ls)
{
	if (ls < HS_LINE_SIZE_MIN || ls > HS_LINE_SIZE_MAX || (ls & (ls - 1)))
		return hs_errno_set(-EINVAL,
				    "line size %u is not a power of two from 4K to 1M", ls);
	return 0;
}

/*
 * A record written: all of it but line_size, which never changes and which
 * the cache reads without the heap's lock (cache.c, io.c).  A struct
 * assignment would store over it too: a data race (ThreadSanitizer).
 */
void hs_heap__rec_set(hs_heap *h, const struct hs_heap_rec *rec)
{
	const size_t from = offsetof(struct hs_heap_rec, size);

	h->rec.state = rec->state;
	memcpy((char *)&h->rec + from, (const char *)rec + from, sizeof(*rec) - from);
}

int hs_heap__put_rec(hs_heap *h, rocksdb_writebatch_t *wb,
		     const struct hs_heap_rec *rec)
{
	uint8_t key[HS_META_KEY_MAX], val[HS_REC_MAX];
	size_t kl = hs_key__meta(key, 'H', h->id, NULL);
	size_t vl = hs_heap_rec__encode(val, sizeof(val), rec);

	if (!vl)
		return hs_errno_set(-EINVAL, "heap record too large");
	rocksdb_writebatch_put_cf(wb, h->store->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)val, vl);
	return 0;
}

int hs_heap__check_live(hs_heap *h)
{
	if (h->deleted)
		return hs_errno_set(-ENOENT, "heap '%s' was deleted", h->rec.name);
	return 0;
}

/* Live, not suspended and with its lease: the live heap and its state may
 * change. */
int hs_heap__check_writable(hs_heap *h)
{
	int rc = hs_heap__check_live(h);

	if (rc == 0 && h->rec.suspended)
		rc = hs_errno_set(-EROFS, "heap '%s' is suspended (heapctl resume %s)",
				  h->rec.name, h->rec.name);
	else if (rc == 0 && h->rec.lease == HS_LEASE_EXPIRED)
		rc = hs_errno_set(-EROFS, "heap '%s' is being migrated: its writer lease expired",
				  h->rec.name);
	else if (rc == 0 && h->rec.lease == HS_LEASE_MIGRATED)
		rc = hs_errno_set(-EROFS, "heap '%s' migrated to %s", h->rec.name,
				  h->rec.moved_to);
	return rc;
}

/*
 * Lock the stripes of @lines in ascending stripe order (no two threads can
 * then wait on each other).  A bitmap makes the order without sorting.
 */
void hs_heap__stripes_lock(hs_heap *h, const uint64_t *lines, size_t n)
{
	uint64_t map[HS_STRIPES / 64] = { 0 };

	for (size_t i = 0; i < n; i++)
		map[(lines[i] % HS_STRIPES) / 64] |= 1ULL << (lines[i] % 64);
	for (unsigned w = 0; w < HS_STRIPES / 64; w++) {
		for (uint64_t m = map[w]; m; m &= m - 1)
			pthread_mutex_lock(&h->stripes[w * 64 + (unsigned)__builtin_ctzll(m)]);
	}
}

void hs_heap__stripes_unlock(hs_heap *h, const uint64_t *lines, size_t n)
{
	uint64_t map[HS_STRIPES / 64] = { 0 };

	for (size_t i = 0; i < n; i++)
		map[(lines[i] % HS_STRIPES) / 64] |= 1ULL << (lines[i] % 64);
	for (unsigned w = 0; w < HS_STRIPES / 64; w++) {
		for (uint64_t m = map[w]; m; m &= m - 1)
			pthread_mutex_unlock(&h->stripes[w * 64 + (unsigned)__builtin_ctzll(m)]);
	}
}

/* The id stored under 'N' name, or -ENOENT. */
int hs_heap__name_lookup(hs_store *s, const char *name, uint64_t *id)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl = hs_key__meta(key, 'N', 0, name);
	char *val = NULL;
	size_t vl = 0;
	int rc = hs_store__get(s, HS_CF_META, NULL, key, kl, &val, &vl);

	if (rc == -ENOENT)
		return hs_errno_set(-ENOENT, "no heap named '%s'", name);
	if (rc < 0)
		return rc;
	if (vl != 8)
		rc = hs_errno_set(-EUCLEAN, "name record of heap '%s' is damaged", name);
	else
		*id = hs_be64_get((const uint8_t *)val);
	rocksdb_free(val);
	return rc;
}

/* Load heap @id's record; @name is the name it was found under (or NULL). */
int hs_heap__rec_load(hs_store *s, uint64_t id, const char *name,
		    struct hs_heap_rec *rec)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl = hs_key__meta(key, 'H', id, NULL);
	char *val = NULL;
	size_t vl = 0;
	int rc = hs_store__get(s, HS_CF_META, NULL, key, kl, &val, &vl);

	if (rc == -ENOENT)
		return hs_errno_set(-EUCLEAN, "heap '%s' (id %llu) has a name but no record",
				    name ? name : "?", (unsigned long long)id);
	if (rc < 0)
		return rc;
	rc = hs_heap_rec__decode(rec, (const uint8_t *)val, vl);
	rocksdb_free(val);
	if (rc < 0)
		return hs_errno_set(rc, "heap '%s' (id %llu): %s", name ? name : "?",
				    (unsigned long long)id, hs_error_last());
	if (name && strcmp(rec->name, name) != 0)
		return hs_errno_set(-EUCLEAN, "heap '%s' (id %llu): its record names '%s'",
				    name, (unsigned long long)id, rec->name);
	if (!rec->owned) {   /* from before owners: the store's, and private */
		rec->owned = true;
		rec->uid = s->owner_uid;
		rec->gid = s->owner_gid;
		rec->mode = HS_MODE_DEFAULT;
	}
	return 0;
}

int hs_heap_create(hs_store *s, const char *name, const hs_heap_params *params)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	struct hs_heap_rec rec;
	uint8_t key[HS_META_KEY_MAX], val[HS_REC_MAX], idv[8], zero[8] = { 0 };
	rocksdb_writebatch_t *wb = NULL;
	hs_heap tmp;
	uint64_t id;
	size_t kl;
	int rc;

	if (params)
		p = *params;
	if (!p.line_size)
		p.line_size = HS_LINE_SIZE_DEFAULT;
	if ((rc = hs_name_check(name)) < 0 || (rc = line_size_check(p.line_size)) < 0)
		return rc;
	if (p.size_bytes > HS_HEAP_SIZE_MAX)
		return hs_errno_set(-EFBIG, "size %llu beyond the largest heap (%llu)",
				    (unsigned long long)p.size_bytes,
				    (unsigned long long)HS_HEAP_SIZE_MAX);
	if (p.owned && (p.mode & ~HS_MODE_BITS))
		return hs_errno_set(-EINVAL, "mode %#o: permission bits only (%#o)",
				    p.mode, HS_MODE_BITS);

	memset(&rec, 0, sizeof(rec));
	rec.state = HS_HEAP_LIVE;
	rec.line_size = p.line_size;
	rec.size = p.size_bytes;
	rec.quota = p.quota_bytes;
	rec.reserve = p.reserve_bytes;
	rec.head = 1;
	rec.created_ns = hs_now_ns();
	rec.owned = true;
	rec.uid = p.owned ? p.uid : s->owner_uid;
	rec.gid = p.owned ? p.gid : s->owner_gid;
	rec.mode = p.owned ? p.mode : HS_MODE_DEFAULT;
	strcpy(rec.name, name);
	if ((rc = hs_random(rec.ident, sizeof(rec.ident))) < 0)
		return rc;

	pthread_mutex_lock(&s->lock);
	rc = hs_heap__name_lookup(s, name, &id);
	if (rc == 0) {
		rc = hs_errno_set(-EEXIST, "heap '%s' exists", name);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	id = s->next_heap_id;
	wb = rocksdb_writebatch_create();
	hs_be64_put(idv, id);
	kl = hs_key__meta(key, 'N', 0, name);
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)idv, 8);
	memset(&tmp, 0, sizeof(tmp));
	tmp.store = s;
	tmp.id = id;
	if ((rc = hs_heap__put_rec(&tmp, wb, &rec)) < 0)
		goto out;
	kl = hs_key__meta(key, 'C', id, NULL);
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)zero, 8);
	if (rec.reserve && (rc = hs_limit__reserve_admit(s, id, name, rec.reserve, 0)) < 0)
		goto out;
	hs_le64_put(val, id + 1);
	key[0] = 'I';
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, 1,
				  (const char *)val, 8);
	if ((rc = hs_store__write(s, wb, true)) == 0)
		s->next_heap_id = id + 1;
	else if (rec.reserve)
		(void)hs_limit__reserve_set(s, id, 0, 0);
out:
	pthread_mutex_unlock(&s->lock);
	if (wb)
		rocksdb_writebatch_destroy(wb);
	return rc;
}

static void heap_free(hs_heap *h)
{
	if (!h)
		return;
	pthread_rwlock_destroy(&h->lock);
	for (int i = 0; i < HS_STRIPES; i++)
		pthread_mutex_destroy(&h->stripes[i]);
	hs_events__dispose(&h->events);
	free(h);
}

/* Counter @tag of heap @h ('C' lines used, 'R' referenced bytes). */
static int counter_load(hs_heap *h, char tag, atomic_int_fast64_t *out)
{
	int64_t v;
	int rc = hs_store__get_counter(h->store, tag, h->id, &v);

	if (rc == 0)
		atomic_store(out, v);
	return rc;
}

/* Caller holds s->lock. */
static int heap_load(hs_store *s, uint64_t id, const char *name, hs_heap **out)
{
	pthread_rwlockattr_t attr;
	hs_heap *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return hs_errno_set(-ENOMEM, "out of memory");
	/* Writer preference: a checkpoint must not starve behind line I/O. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&h->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	for (int i = 0; i < HS_STRIPES; i++)
		pthread_mutex_init(&h->stripes[i], NULL);
	hs_events__init(&h->events);
	h->store = s;
	h->id = id;
	h->refs = 1;
	if ((rc = hs_heap__rec_load(s, id, name, &h->rec)) < 0)
		goto fail;
	if (h->rec.state != HS_HEAP_LIVE) {
		rc = hs_errno_set(-ENOENT, "heap '%s' is being deleted", h->rec.name);
		goto fail;
	}
	h->line_shift = (unsigned)__builtin_ctz(h->rec.line_size);
	if ((rc = hs_version__load_all(h)) < 0 || (rc = counter_load(h, 'C', &h->lines_used)) < 0 ||
	    (rc = counter_load(h, 'R', &h->referenced)) < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	heap_free(h);
	return rc;
}

hs_heap *hs_heap__find_open(hs_store *s, uint64_t id)
{
	for (hs_heap *h = s->heaps; h; h = h->next) {
		if (h->id == id) {
			h->refs++;
			return h;
		}
	}
	return NULL;
}

int hs_heap_open(hs_heap **out, hs_store *s, const char *name)
{
	hs_heap *h = NULL;
	uint64_t id;
	int rc;

	*out = NULL;
	if ((rc = hs_name_check(name)) < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	if ((rc = hs_heap__name_lookup(s, name, &id)) < 0)
		goto out;
	if ((*out = hs_heap__find_open(s, id)))
		goto out;
	if ((rc = heap_load(s, id, name, &h)) < 0)
		goto out;
	h->next = s->heaps;
	s->heaps = h;
	*out = h;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

hs_heap *hs_heap_dup(hs_heap *h)
{
	pthread_mutex_lock(&h->store->lock);
	h->refs++;
	pthread_mutex_unlock(&h->store->lock);
	return h;
}

void hs_heap_close(hs_heap *h)
{
	hs_store *s;
	hs_heap **pp;

	if (!h)
		return;
	s = h->store;
	pthread_mutex_lock(&s->lock);
	if (--h->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	for (pp = &s->heaps; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	heap_free(h);
}

/* Delete every key of @cf in [lo, hi) and, for lines, drop references. */
static int purge_range(hs_store *s, uint64_t id, enum hs_cf cf, const uint8_t *lo,
		       const uint8_t *hi, size_t klen)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	struct hs_batch b;
	char *err = NULL;
	int rc = 0, n = 0;

	hs_batch__init(&b);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, klen);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[cf]);
	for (rocksdb_iter_seek(it, (const char *)lo, klen); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);

		rocksdb_writebatch_delete_cf(b.wb, s->cf[cf], k, kl);
		if (cf == HS_CF_LINES && vl == HS_HASH_LEN &&
		    (rc = hs_ref__drop(s, &b, (const uint8_t *)v)) < 0)
			goto out;
		if (++n == PURGE_CHUNK) {
			if ((rc = hs_batch__commit_id(s, id, NULL, &b, false)) < 0)
				goto out;
			hs_batch__dispose(&b);   /* written: its drops are GC's now */
			hs_batch__init(&b);
			n = 0;
		}
	}
	rocksdb_iter_get_error(it, &err);
	if (err)
		rc = hs_rdb_error(err, "purging a deleted heap");
	else if (n)
		rc = hs_batch__commit_id(s, id, NULL, &b, false);
out:
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	hs_batch__dispose(&b);
	return rc;
}

/* Drop everything of heap @id, whose record says DELETING. */
int hs_heap__purge(hs_store *s, uint64_t id)
{
	uint8_t lo[HS_LINE_KEY_LEN] = { 0 }, hi[HS_LINE_KEY_LEN] = { 0 };
	uint8_t mlo[9], mhi[9];
	rocksdb_writebatch_t *wb;
	int rc;

	hs_be64_put(lo, id);
	hs_be64_put(hi, id + 1);
	if ((rc = purge_range(s, id, HS_CF_LINES, lo, hi, sizeof(lo))) < 0 ||
	    (rc = purge_range(s, id, HS_CF_CHANGES, lo, hi, sizeof(lo))) < 0)
		return rc;
	wb = rocksdb_writebatch_create();
	for (const char *t = "VLPA"; *t; t++) {
		hs_key__meta(mlo, *t, id, NULL);
		hs_key__meta(mhi, *t, id + 1, NULL);
		rocksdb_writebatch_delete_range_cf(wb, s->cf[HS_CF_META], (const char *)mlo, 9,
						   (const char *)mhi, 9);
	}
	for (const char *t = "CRU"; *t; t++) {   /* counters: 0 by now */
		hs_key__meta(mlo, *t, id, NULL);
		rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)mlo, 9);
	}
	hs_key__meta(mlo, 'H', id, NULL);
	rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)mlo, 9);
	rc = hs_store__write(s, wb, true);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/*
 * The purger: a thread of the store's that drops DELETING heaps handed to
 * it, so the caller need not wait (a migration's staging heap, 0.4 s for
 * 1 GiB received).  A failure leaves the heap DELETING: the next open
 * finishes it, as after a crash.
 */
static void *purger(void *arg)
{
	hs_store *s = arg;

	pthread_mutex_lock(&s->purge_lock);
	while (!s->purge_stop) {
		uint64_t id;

		if (!s->purge_n) {
			pthread_cond_wait(&s->purge_cond, &s->purge_lock);
			continue;
		}
		id = s->purge_ids[0];
		memmove(s->purge_ids, s->purge_ids + 1, --s->purge_n * sizeof(*s->purge_ids));
		s->purge_busy = true;
		pthread_mutex_unlock(&s->purge_lock);
		(void)hs_heap__purge(s, id);
		pthread_mutex_lock(&s->purge_lock);
		s->purge_busy = false;
		pthread_cond_broadcast(&s->purge_cond);
	}
	pthread_mutex_unlock(&s->purge_lock);
	return NULL;
}

void hs_heap__purge_init(hs_store *s)
{
	pthread_mutex_init(&s->purge_lock, NULL);
	pthread_cond_init(&s->purge_cond, NULL);
}

void hs_heap__purge_later(hs_store *s, uint64_t id)
{
	bool queued = false;

	pthread_mutex_lock(&s->purge_lock);
	if (!s->purge_started && !s->purge_stop)
		s->purge_started = pthread_create(&s->purge_thread, NULL, purger, s) == 0;
	if (s->purge_started && !s->purge_stop) {
		if (s->purge_n == s->purge_cap) {
			size_t cap = s->purge_cap ? 2 * s->purge_cap : 8;
			uint64_t *ids = realloc(s->purge_ids, cap * sizeof(*ids));

			if (ids) {
				s->purge_ids = ids;
				s->purge_cap = cap;
			}
		}
		if (s->purge_n < s->purge_cap) {
			s->purge_ids[s->purge_n++] = id;
			pthread_cond_broadcast(&s->purge_cond);
			queued = true;
		}
	}
	pthread_mutex_unlock(&s->purge_lock);
	if (!queued)
		(void)hs_heap__purge(s, id);
}

void hs_heap__purge_stop(hs_store *s)
{
	bool started;

	pthread_mutex_lock(&s->purge_lock);
	s->purge_stop = true;
	started = s->purge_started;
	pthread_cond_broadcast(&s->purge_cond);
	pthread_mutex_unlock(&s->purge_lock);
	if (started)
		pthread_join(s->purge_thread, NULL);
	s->purge_started = false;
	free(s->purge_ids);
	s->purge_ids = NULL;
	s->purge_n = s->purge_cap = 0;
	pthread_mutex_destroy(&s->purge_lock);
	pthread_cond_destroy(&s->purge_cond);
}

enum heap_prop { PROP_QUOTA, PROP_RESERVE, PROP_OWNER };

static int prop_set(hs_heap *h, enum heap_prop which, uint64_t value,
		    uint32_t uid, uint32_t gid)
{
	struct hs_heap_rec copy;
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	int rc;

	pthread_rwlock_wrlock(&h->lock);
	copy = h->rec;
	if (which == PROP_QUOTA) {
		copy.quota = value;
	} else if (which == PROP_RESERVE) {
		copy.reserve = value;
	} else {
		copy.uid = uid;
		copy.gid = gid;
		copy.mode = (uint32_t)value;
	}
	rc = hs_heap__check_live(h);
	if (rc == 0 && which == PROP_RESERVE)
		rc = hs_limit__reserve_admit(h->store, h->id, h->rec.name, value,
					     atomic_load(&h->referenced));
	if (rc == 0 && (rc = hs_heap__put_rec(h, wb, &copy)) == 0 &&
	    (rc = hs_store__write(h->store, wb, true)) == 0)
		hs_heap__rec_set(h, &copy);
	else if (which == PROP_RESERVE && h->rec.reserve != value)   /* put the old one back */
		(void)hs_limit__reserve_set(h->store, h->id, h->rec.reserve,
					    atomic_load(&h->referenced));
	if (rc == 0 && which == PROP_QUOTA)
		hs_limit__freed(h->store);   /* a raised quota: waiting writers retry */
	pthread_rwlock_unlock(&h->lock);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

int hs_heap_quota_set(hs_heap *h, uint64_t quota_bytes)
{
	return prop_set(h, PROP_QUOTA, quota_bytes, 0, 0);
}

int hs_heap_reserve_set(hs_heap *h, uint64_t reserve_bytes)
{
	return prop_set(h, PROP_RESERVE, reserve_bytes, 0, 0);
}

int hs_heap_owner_set(hs_heap *h, uint32_t uid, uint32_t gid, uint32_t mode)
{
	if (mode & ~HS_MODE_BITS)
		return hs_errno_set(-EINVAL, "mode %#o: permission bits only (%#o)",
				    mode, HS_MODE_BITS);
	return prop_set(h, PROP_OWNER, mode, uid, gid);
}

static int prop_name_check(const char *name)
{
	size_t n = strnlen(name, HS_PROP_NAME_MAX + 1);

	if (n == 0 || n > HS_PROP_NAME_MAX)
		return hs_errno_set(-EINVAL, "property name must be 1-%d bytes", HS_PROP_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return hs_errno_set(-EINVAL, "property name '%s': a-z 0-9 _ only", name);
	}
	return 0;
}

int hs_heap_prop_set(hs_heap *h, const char *name, const char *value)
{
	uint8_t key[HS_META_KEY_MAX];
	rocksdb_writebatch_t *wb;
	size_t kl, vl = strnlen(value, HS_PROP_VALUE_MAX + 1);
	int rc;

	if ((rc = prop_name_check(name)) < 0)
		return rc;
	if (vl > HS_PROP_VALUE_MAX)
		return hs_errno_set(-EINVAL, "property value longer than %d bytes",
				    HS_PROP_VALUE_MAX);
	kl = hs_key__meta(key, 'P', h->id, name);
	wb = rocksdb_writebatch_create();
	if (vl)
		rocksdb_writebatch_put_cf(wb, h->store->cf[HS_CF_META], (const char *)key, kl,
					  value, vl);
	else
		rocksdb_writebatch_delete_cf(wb, h->store->cf[HS_CF_META], (const char *)key, kl);
	/* Exclusive, like every other record change of the heap. */
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0)
		rc = hs_store__write(h->store, wb, true);
	pthread_rwlock_unlock(&h->lock);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

ssize_t hs_heap_prop_get(hs_heap *h, const char *name, char *buf, size_t cap)
{
	uint8_t key[HS_META_KEY_MAX];
	char *val = NULL;
	size_t kl, vl = 0;
	int rc;

	if ((rc = prop_name_check(name)) < 0)
		return rc;
	kl = hs_key__meta(key, 'P', h->id, name);
	pthread_rwlock_rdlock(&h->lock);
	rc = hs_heap__check_live(h);
	if (rc == 0)
		rc = hs_store__get(h->store, HS_CF_META, NULL, key, kl, &val, &vl);
	pthread_rwlock_unlock(&h->lock);
	if (rc == -ENOENT)
		return hs_errno_set(-ENODATA, "heap '%s' has no property '%s'", h->rec.name, name);
	if (rc < 0)
		return rc;
	if (vl + 1 > cap) {
		rocksdb_free(val);
		return hs_errno_set(-ERANGE, "property '%s' needs %zu bytes", name, vl + 1);
	}
	memcpy(buf, val, vl);
	buf[vl] = '\0';
	rocksdb_free(val);
	return (ssize_t)vl;
}

/* With h->lock held: the working version's change records, at most @max
 * (0: all); one bounded range scan. */
int hs_heap__changes_count(hs_heap *h, uint64_t max, uint64_t *lines_out)
{
	uint8_t start[HS_CHANGE_KEY_LEN], end[HS_CHANGE_KEY_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	uint64_t n = 0;
	int rc;

	hs_key__change(start, h->id, h->rec.head, 0);
	hs_key__change(end, h->id, h->rec.head + 1, 0);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, sizeof(end));
	it = rocksdb_create_iterator_cf(h->store->db, ro, h->store->cf[HS_CF_CHANGES]);
	for (rocksdb_iter_seek(it, (const char *)start, sizeof(start));
	     rocksdb_iter_valid(it) && (!max || n < max); rocksdb_iter_next(it))
		n++;
	rc = hs_iter__finish(it, ro, 0, "counting changes");
	*lines_out = rc == 0 ? n : 0;
	return rc;
}

/*
 * The lines the working version changed in the store, under the heap lock
 * (shared), so W cannot be sealed meanwhile.  Dirty cached lines are not
 * written yet, so not here.
 */
int hs_heap_changed_lines(hs_heap *h, uint64_t max, uint64_t *lines_out)
{
	int rc;

	*lines_out = 0;
	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0)
		rc = hs_heap__changes_count(h, max, lines_out);
	pthread_rwlock_unlock(&h->lock);
	return rc;
}
