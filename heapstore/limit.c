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
	for (size_t i = 0; i < s->n_holds; i++)
		free(s->holds[i].spans);
	free(s->holds);
	s->holds = NULL;
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
		int64_t ref;

		if (kl == 9 && hs_heap_rec__decode(&rec, v, vl) == 0 &&
		    rec.state == HS_HEAP_LIVE && rec.reserve &&
		    (rc = hs_store__get_counter(s, 'R', id, &ref)) == 0)
			rc = hs_limit__reserve_set(s, id, rec.reserve, ref);
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

static struct hs_hold *hold_find(hs_store *s, uint64_t id);

/* With limit_lock held: what @id's fallocated holes hold. */
static int64_t held_locked(hs_store *s, uint64_t id)
{
	struct hs_hold *hd = atomic_load(&s->holds_any) ? hold_find(s, id) : NULL;

	return hd ? (int64_t)hd->lines * HS_CHARGE(hd->line_size) : 0;
}

/* With limit_lock held. */
static int check_locked(hs_heap *h, int64_t ref, int64_t stored)
{
	hs_store *s = h->store;
	int64_t r = atomic_load(&h->referenced), c = atomic_load(&h->charged) +
		held_locked(h->store, h->id), others;

	if (ref > 0 && h->rec.quota && r + c + ref > (int64_t)h->rec.quota)
		return hs_errno_set(-EDQUOT, "heap '%s': over its quota of %llu bytes "
				    "(%lld referenced, %lld held for dirty and fallocated lines, "
				    "%lld more asked)",
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

bool hs_limit__any(hs_heap *h)
{
	return h->rec.quota || h->store->pool_bytes || atomic_load(&h->store->holds_any);
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
		hs_limit__use(s, h->id, bytes, false);
	}
	pthread_mutex_unlock(&s->limit_lock);
	return rc;
}

void hs_limit__uncharge(hs_heap *h, int64_t bytes)
{
	atomic_fetch_sub(&h->charged, bytes);
	atomic_fetch_sub(&h->store->charged, bytes);
	hs_limit__use(h->store, h->id, -bytes, false);
}

void hs_store_space_use_hook(hs_store *s, void (*fn)(void *, uint64_t, int64_t, bool),
			     void *arg)
{
	s->use_hook = fn;
	s->use_hook_arg = arg;
}

void hs_limit__use(hs_store *s, uint64_t id, int64_t delta, bool pause)
{
	if (delta && s->use_hook)
		s->use_hook(s->use_hook_arg, id, delta, pause);
}

void hs_store_space_hook(hs_store *s, void (*fn)(void *, uint64_t, int, uint64_t),
			 void *arg)
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

/* ---- holds: lines fallocate set aside ------------------------------------ */

/*
 * fallocate(2) mode 0 on a heap sets its holes aside, as a disk allocates
 * blocks: each hole line of the range is charged the most a line can take
 * (against the heap's quota and the pool, for every heap, open or not)
 * until a write fills it, so later writes there cannot fail for space.
 * The held lines are kept as sorted, disjoint spans per heap; the ranges
 * are kept in meta ('A' id first -> last) and, at open, what of them is
 * still a hole is held again.  A write that fills a held line takes its
 * hold: through the cache the charge becomes the dirty line's; written
 * through, it is given back when the batch commits (and put back if the
 * batch fails).  Punching or truncating lines lets their holds go.
 */

static struct hs_hold *hold_find(hs_store *s, uint64_t id)
{
	for (size_t i = 0; i < s->n_holds; i++)
		if (s->holds[i].id == id)
			return &s->holds[i];
	return NULL;
}

static struct hs_hold *hold_get(hs_store *s, uint64_t id, uint32_t line_size)
{
	struct hs_hold *hd = hold_find(s, id);

	if (hd)
		return hd;
	if (hs_grow((void **)&s->holds, &s->cap_holds, s->n_holds, sizeof(*s->holds)) < 0)
		return NULL;
	hd = &s->holds[s->n_holds++];
	memset(hd, 0, sizeof(*hd));
	hd->id = id;
	hd->line_size = line_size;
	atomic_store(&s->holds_any, true);
	return hd;
}

/* Lines of [first, last] in @hd's spans. */
static uint64_t span_overlap(const struct hs_hold *hd, uint64_t first, uint64_t last)
{
	uint64_t n = 0;

	for (size_t i = 0; i < hd->n; i++) {
		uint64_t a = hd->spans[i].first > first ? hd->spans[i].first : first;
		uint64_t b = hd->spans[i].last < last ? hd->spans[i].last : last;

		if (a <= b)
			n += b - a + 1;
	}
	return n;
}

/* Take [first, last] out of @hd's spans; returns how many lines it held. */
static uint64_t span_remove(struct hs_hold *hd, uint64_t first, uint64_t last)
{
	uint64_t gone = 0;

	for (size_t i = 0; i < hd->n; i++) {
		struct hs_span *sp = &hd->spans[i];
		uint64_t a = sp->first > first ? sp->first : first;
		uint64_t b = sp->last < last ? sp->last : last;

		if (a > b)
			continue;
		gone += b - a + 1;
		if (a > sp->first && b < sp->last) {   /* split in two */
			struct hs_span tail = { b + 1, sp->last };

			if (hs_grow((void **)&hd->spans, &hd->cap, hd->n, sizeof(*hd->spans)) < 0) {
				gone -= b - a + 1;   /* keep it whole: it stays held */
				continue;
			}
			sp = &hd->spans[i];
			sp->last = a - 1;
			memmove(&hd->spans[i + 2], &hd->spans[i + 1],
				(hd->n - i - 1) * sizeof(*hd->spans));
			hd->spans[i + 1] = tail;
			hd->n++;
			i++;
		} else if (a > sp->first) {
			sp->last = a - 1;
		} else if (b < sp->last) {
			sp->first = b + 1;
		} else {   /* all of it */
			memmove(sp, sp + 1, (hd->n - i - 1) * sizeof(*hd->spans));
			hd->n--;
			i--;
		}
	}
	hd->lines -= gone;
	return gone;
}

/* Add [first, last] (disjoint from @hd's spans) in order, merging neighbours. */
static int span_insert(struct hs_hold *hd, uint64_t first, uint64_t last)
{
	size_t i = 0;

	while (i < hd->n && hd->spans[i].last < first)
		i++;
	if (i > 0 && hd->spans[i - 1].last + 1 == first) {
		hd->spans[i - 1].last = last;
		if (i < hd->n && hd->spans[i].first == last + 1) {
			hd->spans[i - 1].last = hd->spans[i].last;
			memmove(&hd->spans[i], &hd->spans[i + 1], (hd->n - i - 1) * sizeof(*hd->spans));
			hd->n--;
		}
	} else if (i < hd->n && hd->spans[i].first == last + 1) {
		hd->spans[i].first = first;
	} else {
		if (hs_grow((void **)&hd->spans, &hd->cap, hd->n, sizeof(*hd->spans)) < 0)
			return -ENOMEM;
		memmove(&hd->spans[i + 1], &hd->spans[i], (hd->n - i) * sizeof(*hd->spans));
		hd->spans[i].first = first;
		hd->spans[i].last = last;
		hd->n++;
	}
	hd->lines += last - first + 1;
	return 0;
}

/*
 * The holes of lines [first, last] of heap @id in the store: @fn(@arg, a,
 * b) for each run of them.  One seek per line that holds data (the first
 * key of a line is its newest entry).
 */
static int holes_each(hs_store *s, uint64_t id, uint64_t first, uint64_t last,
		      int (*fn)(void *, uint64_t, uint64_t), void *arg)
{
	uint8_t key[HS_LINE_KEY_LEN], upper[HS_LINE_KEY_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	uint64_t next = first;   /* the first line not yet known */
	int rc = 0;

	if (last == UINT64_MAX)
		hs_key__line(upper, id + 1, 0, UINT64_MAX);   /* the heap's last key, and on */
	else
		hs_key__line(upper, id, last + 1, UINT64_MAX);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, sizeof(upper));
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_LINES]);
	hs_key__line(key, id, first, UINT64_MAX);
	rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	while (rc == 0 && rocksdb_iter_valid(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		uint64_t kh, line, ver;

		(void)rocksdb_iter_value(it, &vl);
		if (kl != HS_LINE_KEY_LEN)
			break;
		hs_key__line_parse((const uint8_t *)k, &kh, &line, &ver);
		if (kh != id || line > last)
			break;
		if (vl) {   /* data: the holes before it are a run */
			if (line > next)
				rc = fn(arg, next, line - 1);
			next = line + 1;
		}
		if (line == UINT64_MAX)
			break;
		hs_key__line(key, id, line + 1, UINT64_MAX);
		rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	}
	if (rc == 0 && next <= last && next >= first)
		rc = fn(arg, next, last);
	return hs_iter__finish(it, ro, rc, "finding a heap's holes");
}

struct holes {
	struct hs_span *v;
	size_t n, cap;
	uint64_t lines;
};

static int holes_collect(void *arg, uint64_t a, uint64_t b)
{
	struct holes *h = arg;

	if (hs_grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)) < 0)
		return -ENOMEM;
	h->v[h->n].first = a;
	h->v[h->n++].last = b;
	h->lines += b - a + 1;
	return 0;
}

/* Write @id's spans as its 'A' records (all of them replaced), synced. */
static int holds_save(hs_store *s, uint64_t id, const struct hs_span *v, size_t n)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	uint8_t lo[HS_META_KEY_MAX], hi[HS_META_KEY_MAX], val[8];
	int rc;

	rocksdb_writebatch_delete_range_cf(wb, s->cf[HS_CF_META], (const char *)lo,
					   hs_key__meta(lo, 'A', id, NULL), (const char *)hi,
					   hs_key__meta(hi, 'A', id + 1, NULL));
	for (size_t i = 0; i < n; i++) {
		uint8_t key[17] = { 'A' };

		hs_be64_put(key + 1, id);
		hs_be64_put(key + 9, v[i].first);
		hs_be64_put(val, v[i].last);
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, sizeof(key),
					  (const char *)val, 8);
	}
	rc = hs_store__write(s, wb, true);
	rocksdb_writebatch_destroy(wb);
	return rc;
}

/* A copy of @id's spans (to save outside limit_lock); with limit_lock held. */
static int holds_copy(hs_store *s, uint64_t id, struct holes *out)
{
	struct hs_hold *hd = hold_find(s, id);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; hd && i < hd->n; i++)
		if (holes_collect(out, hd->spans[i].first, hd->spans[i].last) < 0)
			return -ENOMEM;
	return 0;
}

int hs_limit__hold_add(hs_heap *h, uint64_t first, uint64_t last)
{
	hs_store *s = h->store;
	const int64_t c = HS_CHARGE(h->rec.line_size);
	struct holes holes = { 0 }, saved;
	struct hs_hold *hd;
	uint64_t added = 0;
	int rc;

	if ((rc = holes_each(s, h->id, first, last, holes_collect, &holes)) < 0)
		goto out;
	pthread_mutex_lock(&s->limit_lock);
	hd = hold_find(s, h->id);
	for (size_t i = 0; i < holes.n; i++)
		added += holes.v[i].last - holes.v[i].first + 1 -
			 (hd ? span_overlap(hd, holes.v[i].first, holes.v[i].last) : 0);
	if (added && (rc = check_locked(h, (int64_t)added * c, (int64_t)added * c)) == 0) {
		if (!(hd = hold_get(s, h->id, h->rec.line_size)))
			rc = -ENOMEM;
		for (size_t i = 0; i < holes.n && rc == 0; i++) {
			/* what is held already comes out first: spans stay disjoint */
			uint64_t had = span_remove(hd, holes.v[i].first, holes.v[i].last);
			int64_t d = -(int64_t)had * c;

			if ((rc = span_insert(hd, holes.v[i].first, holes.v[i].last)) == 0)
				d += (int64_t)(holes.v[i].last - holes.v[i].first + 1) * c;
			atomic_fetch_add(&s->charged, d);
			hs_limit__use(s, h->id, d, false);
		}
	}
	if (rc == 0)
		rc = holds_copy(s, h->id, &saved);
	pthread_mutex_unlock(&s->limit_lock);
	if (rc == 0) {
		rc = holds_save(s, h->id, saved.v, saved.n);
		free(saved.v);
		if (rc < 0)   /* not kept: nothing held */
			hs_limit__hold_drop(s, h->id, first, last, false);
	}
out:
	free(holes.v);
	return rc;
}

bool hs_limit__hold_take(hs_heap *h, uint64_t line, bool transfer)
{
	hs_store *s = h->store;
	const int64_t c = HS_CHARGE(h->rec.line_size);
	struct hs_hold *hd;
	bool took = false;

	if (!atomic_load(&s->holds_any))
		return false;
	pthread_mutex_lock(&s->limit_lock);
	if ((hd = hold_find(s, h->id)) && span_remove(hd, line, line) == 1) {
		took = true;
		if (transfer) {   /* the dirty line's charge now */
			atomic_fetch_add(&h->charged, c);
		} else {
			atomic_fetch_sub(&s->charged, c);
			hs_limit__use(s, h->id, -c, false);
		}
	}
	pthread_mutex_unlock(&s->limit_lock);
	return took;
}

void hs_limit__hold_put(hs_heap *h, uint64_t line)
{
	hs_store *s = h->store;
	struct hs_hold *hd;

	pthread_mutex_lock(&s->limit_lock);
	if ((hd = hold_get(s, h->id, h->rec.line_size)) && span_insert(hd, line, line) == 0) {
		atomic_fetch_add(&s->charged, HS_CHARGE(h->rec.line_size));
		hs_limit__use(s, h->id, HS_CHARGE(h->rec.line_size), false);
	}
	pthread_mutex_unlock(&s->limit_lock);
}

void hs_limit__hold_drop(hs_store *s, uint64_t id, uint64_t first, uint64_t last,
			 bool save)
{
	struct holes saved = { 0 };
	struct hs_hold *hd;
	uint64_t gone = 0;

	if (!atomic_load(&s->holds_any) || first > last)
		return;
	pthread_mutex_lock(&s->limit_lock);
	if ((hd = hold_find(s, id))) {
		gone = span_remove(hd, first, last);
		atomic_fetch_sub(&s->charged, (int64_t)gone * HS_CHARGE(hd->line_size));
		hs_limit__use(s, id, -(int64_t)gone * HS_CHARGE(hd->line_size), false);
		if (gone && save)
			(void)holds_copy(s, id, &saved);
	}
	pthread_mutex_unlock(&s->limit_lock);
	if (gone && save)   /* best effort: a range kept too long is held again
			       only where it is still a hole, at the next open */
		(void)holds_save(s, id, saved.v, saved.n);
	free(saved.v);
	if (gone)
		hs_limit__freed(s);
}

uint64_t hs_limit__held(hs_heap *h)
{
	hs_store *s = h->store;
	struct hs_hold *hd;
	uint64_t n = 0;

	pthread_mutex_lock(&s->limit_lock);
	if ((hd = hold_find(s, h->id)))
		n = hd->lines * (uint64_t)HS_CHARGE(hd->line_size);
	pthread_mutex_unlock(&s->limit_lock);
	return n;
}

/* At open: every heap's 'A' ranges, held where they are holes still. */
struct load_arg {
	hs_store *s;
	struct hs_hold *hd;
};

static int hold_load_span(void *arg, uint64_t a, uint64_t b)
{
	struct load_arg *l = arg;
	uint64_t had = span_overlap(l->hd, a, b);

	if (had)
		span_remove(l->hd, a, b);
	if (span_insert(l->hd, a, b) < 0)
		return -ENOMEM;
	atomic_fetch_add(&l->s->charged, (int64_t)(b - a + 1 - had) * HS_CHARGE(l->hd->line_size));
	return 0;
}

int hs_limit__holds_load(hs_store *s)
{
	uint8_t start = 'A', end = 'B';
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
		uint8_t hkey[HS_META_KEY_MAX];
		char *hv = NULL;
		size_t hvl = 0;
		uint64_t id;
		struct load_arg l = { s, NULL };

		if (kl != 17 || vl != 8)
			continue;
		id = hs_be64_get(k + 1);
		rc = hs_store__get(s, HS_CF_META, NULL, hkey, hs_key__meta(hkey, 'H', id, NULL),
				   &hv, &hvl);
		if (rc == -ENOENT) {   /* a heap gone: its ranges go with the purge */
			rc = 0;
			continue;
		}
		if (rc == 0 && hs_heap_rec__decode(&rec, (const uint8_t *)hv, hvl) == 0 &&
		    rec.state == HS_HEAP_LIVE) {
			pthread_mutex_lock(&s->limit_lock);
			l.hd = hold_get(s, id, rec.line_size);
			rc = l.hd ? holes_each(s, id, hs_be64_get(k + 9), hs_be64_get(v),
					       hold_load_span, &l) : -ENOMEM;
			pthread_mutex_unlock(&s->limit_lock);
		}
		rocksdb_free(hv);
	}
	return hs_iter__finish(it, ro, rc, "reading the heaps' fallocated ranges");
}
