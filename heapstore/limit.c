/*
 * limit.c - the space limits: a heap's quota on its referenced bytes, the
 * store's pool on the bytes stored, the charges dirty cached lines hold
 * until written back, the reservations (kept for every heap that has one,
 * open or not), and the writers waiting for space.  Layer 3: it reads the
 * figures blob.c keeps (atomics) and calls nothing above the RocksDB layer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "heapstore_int.h"

/* ---- limits ---------------------------------------------------------------- */

/*
 * A heap may grow while its referenced bytes, plus the charges for its
 * dirty cached lines, stay within its quota; the store while its stored
 * bytes, plus every charge, plus what other heaps reserved and have not
 * used yet, stay within the pool.  Figures are read without a lock: they
 * only move by committed batches and charges, and a charge is released
 * only after the write-back that replaces it has added its real bytes, so
 * a stale read errs on the safe side.
 */

void hs_limit__init(hs_store *s, const hs_store_opts *o)
{
	pthread_mutex_init(&s->limit_lock, NULL);
	pthread_cond_init(&s->space_cond, NULL);
	s->pool_bytes = o->pool_bytes;
	s->wait_ms = o->wait_ms;
}

void hs_limit__free(hs_store *s)
{
	free(s->res);
	s->res = NULL;
	pthread_cond_destroy(&s->space_cond);
	pthread_mutex_destroy(&s->limit_lock);
}

/* With limit_lock held. */
static struct hs_reserve *reserve_find(hs_store *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_res; i++)
		if (s->res[i].id == id)
			return &s->res[i];
	return NULL;
}

/* With limit_lock held: the unused part of every reservation but @id's. */
static int64_t reserved_unused(hs_store *s, uint64_t id)
{
	int64_t sum = 0;

	for (size_t i = 0; i < s->n_res; i++) {
		int64_t left = (int64_t)s->res[i].reserve - s->res[i].referenced;

		if (s->res[i].id != id && left > 0)
			sum += left;
	}
	return sum;
}

static int64_t meta_i64(hs_store *s, char tag, uint64_t id)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl = hs_key__meta(key, tag, id, NULL), vl = 0;
	char *val = NULL;
	int64_t v = 0;

	if (hs_store__get(s, HS_CF_META, NULL, key, kl, &val, &vl) == 0 && vl == 8)
		v = (int64_t)hs_le64_get((const uint8_t *)val);
	rocksdb_free(val);
	return v;
}

int hs_limit__load(hs_store *s)
{
	uint8_t start = 'H', end = 'I';
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	int rc = 0;

	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
	for (rocksdb_iter_seek(it, (const char *)&start, 1); rocksdb_iter_valid(it) && rc == 0;
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		struct hs_heap_rec rec;
		uint64_t id = kl == 9 ? hs_be64_get(k + 1) : 0;

		if (kl == 9 && hs_heap_rec__decode(&rec, v, vl) == 0 &&
		    rec.state == HS_HEAP_LIVE && rec.reserve)
			rc = hs_limit__reserve_set(s, id, rec.reserve, meta_i64(s, 'R', id));
	}
	return hs_iter__finish(it, ro, rc, "reading the heaps' reservations");
}

/* With limit_lock held. */
static int reserve_put(hs_store *s, uint64_t id, uint64_t reserve, int64_t referenced)
{
	struct hs_reserve *r = reserve_find(s, id);
	int rc = 0;

	if (!reserve) {
		if (r)
			*r = s->res[--s->n_res];
	} else if (r || (rc = hs_grow((void **)&s->res, &s->cap_res, s->n_res,
				      sizeof(*s->res))) == 0) {
		if (!r) {
			r = &s->res[s->n_res++];
			r->id = id;
		}
		r->reserve = reserve;
		r->referenced = referenced;
	}
	s->space_gen++;
	pthread_cond_broadcast(&s->space_cond);
	return rc;
}

int hs_limit__reserve_set(hs_store *s, uint64_t id, uint64_t reserve, int64_t referenced)
{
	int rc;

	pthread_mutex_lock(&s->limit_lock);
	rc = reserve_put(s, id, reserve, referenced);
	pthread_mutex_unlock(&s->limit_lock);
	return rc;
}

/*
 * A reservation is a promise: the pool (or, with none, the disk) must have
 * room now for every reservation's unused part, this one's included.
 */
int hs_limit__reserve_admit(hs_store *s, uint64_t id, const char *name, uint64_t reserve,
			    int64_t referenced)
{
	int64_t want, room;
	struct statvfs v;
	int rc = 0;

	pthread_mutex_lock(&s->limit_lock);
	want = reserved_unused(s, id) + ((int64_t)reserve > referenced ?
					 (int64_t)reserve - referenced : 0);
	if (s->pool_bytes)
		room = (int64_t)s->pool_bytes - atomic_load(&s->totals[HS_TOTAL_STORED]) -
		       atomic_load(&s->charged);
	else
		room = statvfs(s->dir, &v) == 0 ? (int64_t)((uint64_t)v.f_bavail * v.f_frsize) :
						  INT64_MAX;
	if (reserve && want > room)
		rc = hs_errno_set(-ENOSPC, "heap '%s': a reservation of %llu bytes: the %s has "
				  "room for %lld unreserved bytes, reservations need %lld", name,
				  (unsigned long long)reserve, s->pool_bytes ? "pool" : "disk",
				  (long long)room, (long long)want);
	else
		rc = reserve_put(s, id, reserve, referenced);
	pthread_mutex_unlock(&s->limit_lock);
	return rc;
}

/* After a commit of heap @id: its use of its reservation. */
void hs_limit__reserve_used(hs_store *s, uint64_t id, int64_t referenced)
{
	struct hs_reserve *r;

	pthread_mutex_lock(&s->limit_lock);
	if ((r = reserve_find(s, id)))
		r->referenced = referenced;
	pthread_mutex_unlock(&s->limit_lock);
}

/* With limit_lock held. */
static int check_locked(hs_heap *h, int64_t ref, int64_t stored)
{
	hs_store *s = h->store;
	int64_t r = atomic_load(&h->referenced), c = atomic_load(&h->charged), others;

	if (ref > 0 && h->rec.quota && r + c + ref > (int64_t)h->rec.quota)
		return hs_errno_set(-EDQUOT, "heap '%s': over its quota of %llu bytes "
				    "(%lld referenced, %lld held for dirty lines, %lld more asked)",
				    h->rec.name, (unsigned long long)h->rec.quota, (long long)r,
				    (long long)c, (long long)ref);
	if (stored <= 0 || !s->pool_bytes)
		return 0;
	others = reserved_unused(s, h->id);
	r = atomic_load(&s->totals[HS_TOTAL_STORED]);
	c = atomic_load(&s->charged);
	if (r + c + others + stored > (int64_t)s->pool_bytes)
		return hs_errno_set(-ENOSPC, "heap '%s': the pool of %llu bytes is full "
				    "(%lld stored, %lld held for dirty lines, %lld reserved by "
				    "other heaps, %lld more asked)", h->rec.name,
				    (unsigned long long)s->pool_bytes, (long long)r, (long long)c,
				    (long long)others, (long long)stored);
	return 0;
}

int hs_limit__over(hs_heap *h)
{
	hs_store *s = h->store;
	int64_t r = atomic_load(&h->referenced), c = atomic_load(&h->charged), others;
	int rc = 0;

	if (h->rec.quota && r + c > (int64_t)h->rec.quota)
		return hs_errno_set(-EDQUOT, "heap '%s' is over its quota of %llu bytes "
				    "(%lld referenced)", h->rec.name,
				    (unsigned long long)h->rec.quota, (long long)(r + c));
	if (!s->pool_bytes)
		return 0;
	pthread_mutex_lock(&s->limit_lock);
	others = reserved_unused(s, h->id);
	pthread_mutex_unlock(&s->limit_lock);
	r = atomic_load(&s->totals[HS_TOTAL_STORED]) + atomic_load(&s->charged) + others;
	if (r > (int64_t)s->pool_bytes)
		rc = hs_errno_set(-ENOSPC, "the pool of %llu bytes is over full (%lld stored, "
				  "charged and reserved)", (unsigned long long)s->pool_bytes,
				  (long long)r);
	return rc;
}

int hs_limit__check(hs_heap *h, int64_t ref, int64_t stored)
{
	int rc;

	pthread_mutex_lock(&h->store->limit_lock);
	rc = check_locked(h, ref, stored);
	pthread_mutex_unlock(&h->store->limit_lock);
	return rc;
}

int hs_limit__charge(hs_heap *h, int64_t bytes, bool mapped)
{
	hs_store *s = h->store;
	int rc;

	pthread_mutex_lock(&s->limit_lock);
	rc = check_locked(h, bytes, bytes);
	if (rc < 0 && mapped) {
		hs_limit__overdraft(h, rc, (uint64_t)bytes);
		rc = 0;
	}
	if (rc == 0) {
		atomic_fetch_add(&h->charged, bytes);
		atomic_fetch_add(&s->charged, bytes);
	}
	pthread_mutex_unlock(&s->limit_lock);
	return rc;
}

void hs_limit__uncharge(hs_heap *h, int64_t bytes)
{
	atomic_fetch_sub(&h->charged, bytes);
	atomic_fetch_sub(&h->store->charged, bytes);
}

void hs_store_space_hook(hs_store *s, void (*fn)(void *), void *arg)
{
	s->space_hook = fn;
	s->space_hook_arg = arg;
}

void hs_limit__freed(hs_store *s)
{
	pthread_mutex_lock(&s->limit_lock);
	s->space_gen++;
	pthread_cond_broadcast(&s->space_cond);
	pthread_mutex_unlock(&s->limit_lock);
}

uint64_t hs_limit__gen(hs_store *s)
{
	uint64_t g;

	pthread_mutex_lock(&s->limit_lock);
	g = s->space_gen;
	pthread_mutex_unlock(&s->limit_lock);
	return g;
}

void hs_limit__wait(hs_store *s, uint64_t gen, uint64_t deadline_ns)
{
	struct timespec ts;
	uint64_t now_real;

	/* The deadline is on hs_now_ns()'s clock; the wait on CLOCK_REALTIME. */
	clock_gettime(CLOCK_REALTIME, &ts);
	now_real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	now_real += deadline_ns > hs_now_ns() ? deadline_ns - hs_now_ns() : 0;
	ts.tv_sec = (time_t)(now_real / 1000000000u);
	ts.tv_nsec = (long)(now_real % 1000000000u);
	pthread_mutex_lock(&s->limit_lock);
	while (s->space_gen == gen && pthread_cond_timedwait(&s->space_cond, &s->limit_lock,
							      &ts) == 0)
		;
	pthread_mutex_unlock(&s->limit_lock);
}

void hs_limit__overdraft(hs_heap *h, int rc, uint64_t bytes)
{
	int none = 0;

	atomic_fetch_add(&h->overdraft, (int64_t)bytes);
	atomic_compare_exchange_strong(&h->limit_error, &none, rc);
}
