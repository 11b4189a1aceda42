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
	free(b->acct);
	b->acct = NULL;
	b->n_acct = b->cap_acct = 0;
	free(b->held);
	b->held = NULL;
	b->n_held = b->cap_held = 0;
	if (b->wb)
		rocksdb_writebatch_destroy(b->wb);
	b->wb = NULL;
}

/* Empty @b for its next use, keeping its write batch's memory: a batch of
 * megabytes regrown in fresh pages (malloc maps anything past 128 KiB,
 * fs/main.c) cost more than writing it (an import's staged blobs). */
void hs_batch__reset(struct hs_batch *b)
{
	rocksdb_writebatch_t *wb = b->wb;

	b->wb = NULL;
	hs_batch__dispose(b);
	if (wb)
		rocksdb_writebatch_clear(wb);
	hs_batch__init_wb(b, wb);
}

/* ---- accounting ---------------------------------------------------------- */

/*
 * What a batch does to the space figures is worked out when it commits,
 * from the references it takes and drops (struct hs_acct, netted per
 * blob) and the counts stored now: holding acct_lock from reading those
 * counts until its write returns, no other batch changes them in between,
 * so each 0 <-> 1 transition of a heap's count (hrefs) and of the store's
 * (refs) is seen exactly once, and the figures ('R', 'U', 'T') change in
 * the very batch that changes the references.  Cost: one MultiGet of two
 * keys per distinct blob the batch names, and a short seek per blob that
 * another heap shares when this heap gains or loses it.
 */

static int acct_note(struct hs_batch *b, const uint8_t *hash, int64_t delta,
		     uint32_t stored)
{
	struct hs_acct *a;

	if (hs_grow((void **)&b->acct, &b->cap_acct, b->n_acct, sizeof(*b->acct)) < 0)
		return -ENOMEM;
	a = &b->acct[b->n_acct++];
	memcpy(a->hash, hash, HS_HASH_LEN);
	a->delta = delta;
	a->stored = stored;
	return 0;
}

static int acct_cmp(const void *x, const void *y)
{
	return memcmp(((const struct hs_acct *)x)->hash, ((const struct hs_acct *)y)->hash,
		      HS_HASH_LEN);
}

static void counter_merge(hs_store *s, rocksdb_writebatch_t *wb, char tag, uint64_t id,
			  int64_t delta)
{
	uint8_t key[HS_META_KEY_MAX], op[8];
	size_t kl = hs_key__meta(key, tag, id, NULL);

	if (!delta)
		return;
	hs_le64_put(op, (uint64_t)delta);
	rocksdb_writebatch_merge_cf(wb, s->cf[HS_CF_META], (const char *)key, kl,
				    (const char *)op, 8);
}

static void href_put(hs_store *s, rocksdb_writebatch_t *wb, const uint8_t *key,
		     int64_t count, uint32_t stored)
{
	uint8_t v[HS_HREF_VALUE_LEN];

	hs_le64_put(v, (uint64_t)count);
	hs_le32_put(v + 8, stored);
	rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_HREFS], (const char *)key, HS_HREF_KEY_LEN,
				  (const char *)v, sizeof(v));
}

struct holders {
	size_t n;                         /* heaps other than the batch's, up to 2 */
	uint64_t id;                      /* the first of them */
	uint32_t stored;                  /* its record's stored bytes */
};

/*
 * The hrefs column read in hash order by one iterator for a whole batch (its
 * blobs are sorted): one iterator per blob was most of the accounting of a
 * migration's commit, whose 164 new blobs each have another holder.
 */
struct href_scan {
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
};

static void href_scan_end(struct href_scan *sc)
{
	if (sc->it)
		rocksdb_iter_destroy(sc->it);
	if (sc->ro)
		rocksdb_readoptions_destroy(sc->ro);
}

/*
 * The heaps other than @self holding blob @hash (up to two: enough to know
 * whether one alone holds it).  With @heal_stored, also marks every holder
 * of a blob fsck found lost (stored 0) as holding @heal_stored bytes again.
 */
static int acct_holders(hs_store *s, struct href_scan *sc, rocksdb_writebatch_t *wb,
			const uint8_t *hash, uint64_t self, uint32_t heal_stored,
			int64_t *self_ref, struct holders *out)
{
	rocksdb_iterator_t *it;
	size_t all = 0;
	uint64_t first = 0;

	memset(out, 0, sizeof(*out));
	if (!sc->it) {
		if (!(sc->ro = rocksdb_readoptions_create()))
			return hs_errno_set(-ENOMEM, "out of memory");
		if (!(sc->it = rocksdb_create_iterator_cf(s->db, sc->ro, s->cf[HS_CF_HREFS])))
			return hs_errno_set(-ENOMEM, "out of memory");
	}
	it = sc->it;
	for (rocksdb_iter_seek(it, (const char *)hash, HS_HASH_LEN); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint64_t id;

		if (kl < HS_HASH_LEN || memcmp(k, hash, HS_HASH_LEN) != 0)
			break;   /* past this blob's holders */
		if (kl != HS_HREF_KEY_LEN || vl != HS_HREF_VALUE_LEN)
			continue;
		id = hs_be64_get(k + HS_HASH_LEN);
		if (heal_stored) {
			href_put(s, wb, k, (int64_t)hs_le64_get(v), heal_stored);
			if (id == self)
				*self_ref += heal_stored;   /* merged with the batch's own */
			else
				counter_merge(s, wb, 'R', id, heal_stored);
			if (all++ == 0)
				first = id;
		}
		if (id == self)
			continue;
		if (out->n++ == 0) {
			out->id = id;
			out->stored = heal_stored ? heal_stored : hs_le32_get(v + 8);
		}
		if (out->n == 2 && !heal_stored)
			break;
	}
	if (heal_stored && all == 1)
		counter_merge(s, wb, 'U', first, heal_stored);
	if (out->n > 2)
		out->n = 2;
	return hs_iter__error(it, "reading the heaps holding a blob");
}

/* Put (@on) or delete blob @hash's garbage record: 'G' hash -> le64 stored. */
static void garbage_mark(hs_store *s, rocksdb_writebatch_t *wb, const uint8_t *hash, bool on,
			 uint32_t stored)
{
	uint8_t key[1 + HS_HASH_LEN] = { 'G' }, v[8];

	memcpy(key + 1, hash, HS_HASH_LEN);
	hs_le64_put(v, stored);
	if (on)
		rocksdb_writebatch_put_cf(wb, s->cf[HS_CF_META], (const char *)key, sizeof(key),
					  (const char *)v, sizeof(v));
	else
		rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)key,
					     sizeof(key));
}

/* Parse a refs record or an hrefs one; absent is a count of 0. */
static int acct_parse(const char *v, size_t vl, size_t want, int64_t *count,
		      uint32_t *stored)
{
	*count = 0;
	*stored = 0;
	if (!v)
		return 0;
	if (vl != want)
		return hs_errno_set(-EUCLEAN, "%s record of %zu bytes",
				    want == HS_REF_VALUE_LEN ? "reference" : "heap reference", vl);
	*count = (int64_t)hs_le64_get((const uint8_t *)v);
	*stored = hs_le32_get((const uint8_t *)v + 8);
	return 0;
}

/* One blob's net change @a for heap @id, from its counts now. */
static int acct_one(hs_store *s, struct href_scan *hrefs, uint64_t id, struct hs_batch *b,
		    const struct hs_acct *a, const char *gv, size_t gvl, const char *cv, size_t cvl,
		    int64_t *ref, int64_t *uniq, int64_t tot[HS_TOTAL_COUNT])
{
	uint8_t hk[HS_HREF_KEY_LEN];
	struct holders others;
	int64_t g, c, g2, c2;
	uint32_t sg, sc, st;
	bool healed = false;
	int rc;

	if ((rc = acct_parse(gv, gvl, HS_REF_VALUE_LEN, &g, &sg)) < 0 ||
	    (rc = acct_parse(cv, cvl, HS_HREF_VALUE_LEN, &c, &sc)) < 0)
		return rc;
	hs_key__href(hk, a->hash, id);
	/* A blob fsck marked lost (stored 0) stored again: every holder's
	 * bytes come back (hs_blob__heal). */
	if (g > 0 && sg == 0 && a->stored) {
		if ((rc = acct_holders(s, hrefs, b->wb, a->hash, id, a->stored, ref, &others)) < 0)
			return rc;
		tot[HS_TOTAL_STORED] += a->stored;
		sg = a->stored;
		if (c > 0)
			sc = a->stored;
		healed = true;   /* the holders' new records are in the batch only */
	}
	if (!a->delta)
		return 0;
	st = a->stored > sg ? a->stored : sg;   /* the record's, once merged */
	c2 = c + a->delta;
	g2 = g + a->delta;
	if (c2 < 0)
		c2 = 0;   /* counts were wrong already: fsck says so */
	if (c2 > 0)
		href_put(s, b->wb, hk, c2, c > 0 ? sc : st);
	else if (cv)
		rocksdb_writebatch_delete_cf(b->wb, s->cf[HS_CF_HREFS], (const char *)hk,
					     sizeof(hk));
	if ((c > 0) != (c2 > 0)) {
		int64_t sign = c2 > 0 ? 1 : -1, bytes = c2 > 0 ? st : sc;

		*ref += sign * bytes;
		if (g - c <= 0) {
			*uniq += sign * bytes;   /* no other heap holds it */
		} else {
			if ((rc = acct_holders(s, hrefs, b->wb, a->hash, id, 0, NULL, &others)) < 0)
				return rc;
			if (others.n == 1)   /* it was, or becomes, that heap's alone */
				counter_merge(s, b->wb, 'U', others.id,
					      -sign * (healed ? a->stored : others.stored));
		}
	}
	/* The store's figures, and its garbage records: 'G' hash exists
	 * exactly while the blob is stored and no entry names it, so GC finds
	 * garbage without a scan and needs no reference count to trust it. */
	if (g <= 0 && g2 > 0) {
		tot[HS_TOTAL_STORED] += st;
		tot[HS_TOTAL_BLOBS]++;
		if (gv) {   /* garbage GC had not reclaimed yet: referenced again */
			tot[HS_TOTAL_GARBAGE] -= sg;
			tot[HS_TOTAL_GARBAGE_BLOBS]--;
			garbage_mark(s, b->wb, a->hash, false, 0);
		}
	} else if (g > 0 && g2 <= 0) {
		tot[HS_TOTAL_STORED] -= sg;
		tot[HS_TOTAL_BLOBS]--;
		tot[HS_TOTAL_GARBAGE] += sg;
		tot[HS_TOTAL_GARBAGE_BLOBS]++;
		garbage_mark(s, b->wb, a->hash, true, sg);
	}
	return 0;
}

/* With acct_lock held: add to @b what it does to the figures. */
static int acct_stage(hs_store *s, uint64_t id, struct hs_batch *b, int64_t *ref,
		      int64_t tot[HS_TOTAL_COUNT])
{
	struct hs_multiget mg;
	struct href_scan sc = { 0 };
	uint8_t (*hk)[HS_HREF_KEY_LEN] = NULL;
	size_t n = 0;
	int64_t uniq = 0;
	int rc;

	qsort(b->acct, b->n_acct, sizeof(*b->acct), acct_cmp);
	for (size_t i = 0; i < b->n_acct; i++) {
		if (n && memcmp(b->acct[n - 1].hash, b->acct[i].hash, HS_HASH_LEN) == 0) {
			b->acct[n - 1].delta += b->acct[i].delta;
			if (b->acct[i].stored > b->acct[n - 1].stored)
				b->acct[n - 1].stored = b->acct[i].stored;
		} else {
			b->acct[n++] = b->acct[i];
		}
	}
	b->n_acct = n;
	if ((rc = hs_multiget__init(&mg, 2 * n)) < 0)
		return rc;
	if (!(hk = calloc(n ? n : 1, sizeof(*hk)))) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		hs_key__href(hk[i], b->acct[i].hash, id);
		hs_multiget__set(&mg, 2 * i, s, HS_CF_REFS, b->acct[i].hash, HS_HASH_LEN);
		hs_multiget__set(&mg, 2 * i + 1, s, HS_CF_HREFS, hk[i], HS_HREF_KEY_LEN);
	}
	rc = hs_multiget__run(&mg, s, "reading reference counts");
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = acct_one(s, &sc, id, b, &b->acct[i], mg.vals[2 * i], mg.vlen[2 * i],
			      mg.vals[2 * i + 1], mg.vlen[2 * i + 1], ref, &uniq, tot);
	if (rc == 0) {
		counter_merge(s, b->wb, 'R', id, *ref);
		counter_merge(s, b->wb, 'U', id, uniq);
		for (int k = 0; k < HS_TOTAL_COUNT; k++)
			counter_merge(s, b->wb, 'T', (uint64_t)k, tot[k]);
	}
out:
	href_scan_end(&sc);
	hs_multiget__free(&mg);
	free(hk);
	return rc;
}

int hs_batch__commit_id(hs_store *s, uint64_t id, hs_heap *h, struct hs_batch *b,
			bool sync)
{
	int64_t ref = 0, tot[HS_TOTAL_COUNT] = { 0 };
	int rc, lim;

	if (b->lines_used_delta)
		counter_merge(s, b->wb, 'C', id, b->lines_used_delta);
	if (!b->n_acct) {
		if (!sync && rocksdb_writebatch_count(b->wb) == 0)
			return 0;
		rc = hs_store__write(s, b->wb, sync);
	} else {
		pthread_mutex_lock(&s->acct_lock);
		rc = acct_stage(s, id, b, &ref, tot);
		/* Limits: the batch's exact cost, known only now. */
		if (rc == 0 && h && (b->enforce || b->mapped) &&
		    (lim = hs_limit__check(h, ref, tot[HS_TOTAL_STORED])) < 0) {
			if (b->enforce)
				rc = lim;
			else
				hs_limit__overdraft(h, lim, (uint64_t)(ref > tot[HS_TOTAL_STORED] ?
								       ref : tot[HS_TOTAL_STORED]));
		}
		if (rc == 0 && (rc = hs_store__write(s, b->wb, false)) == 0) {
			if (h)
				atomic_fetch_add(&h->referenced, ref);
			for (int k = 0; k < HS_TOTAL_COUNT; k++)
				atomic_fetch_add(&s->totals[k], tot[k]);
			if (h && ref)
				hs_limit__reserve_used(s, id, atomic_load(&h->referenced));
			/* Not a recv's staging heap's (DELETING from birth):
			 * its lines reach the live heap through a commit of
			 * their own. */
			if (!h || h->rec.state == HS_HEAP_LIVE)
				hs_limit__use(s, id, ref, b->pause);
		}
		pthread_mutex_unlock(&s->acct_lock);
		b->n_acct = 0;   /* staged: a retry must not count it twice */
		if (rc == 0 && (ref < 0 || tot[HS_TOTAL_STORED] < 0))
			hs_limit__freed(s);
		if (rc == 0 && sync)
			rc = hs_store__sync(s);
	}
	if (rc == 0 && h)
		atomic_fetch_add(&h->lines_used, b->lines_used_delta);
	/* Not written: the fallocate holds its lines took are theirs again. */
	for (size_t i = 0; rc < 0 && h && i < b->n_held; i++)
		hs_limit__hold_put(h, b->held[i]);
	if (rc < 0)
		b->n_held = 0;
	return rc;
}

int hs_batch__commit(hs_heap *h, struct hs_batch *b, bool sync)
{
	return hs_batch__commit_id(h->store, h->id, h, b, sync);
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

int hs_ref__take(hs_store *s, struct hs_batch *b, const uint8_t *hash,
		 uint32_t stored, uint32_t raw)
{
	ref_merge(s, b->wb, hash, 1, stored, raw);
	return acct_note(b, hash, 1, stored);
}

int hs_ref__drop(hs_store *s, struct hs_batch *b, const uint8_t *hash)
{
	int rc;

	if ((rc = blob_pend(s, b, hash)) < 0 || (rc = acct_note(b, hash, -1, 0)) < 0)
		return rc;
	ref_merge(s, b->wb, hash, -1, 0, 0);
	return 0;   /* the accounting writes its garbage record if it was the last */
}

/* ---- blobs -------------------------------------------------------------- */

/* Stored (and raw) size of blob @hash if some reference keeps it; 0 if
 * none does. */
static int blob_probe_raw(hs_store *s, const uint8_t *hash, uint32_t *stored, uint32_t *raw)
{
	char *val = NULL;
	size_t vl = 0;
	int rc = hs_store__get(s, HS_CF_REFS, NULL, hash, HS_HASH_LEN, &val, &vl);

	*stored = 0;
	if (raw)
		*raw = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (vl != HS_REF_VALUE_LEN) {
		rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes", vl);
	} else if ((int64_t)hs_le64_get((const uint8_t *)val) > 0) {
		*stored = hs_le32_get((const uint8_t *)val + 8);
		if (raw)
			*raw = hs_le32_get((const uint8_t *)val + 12);
	}
	rocksdb_free(val);
	return rc;
}

static int blob_probe(hs_store *s, const uint8_t *hash, uint32_t *stored)
{
	return blob_probe_raw(s, hash, stored, NULL);
}

int hs_blob__pin(hs_store *s, struct hs_batch *b, const uint8_t *hash, uint32_t *stored,
		 uint32_t *raw)
{
	char *val = NULL;
	size_t vl = 0;
	int rc = blob_pend(s, b, hash);   /* before the probe, as in ensure */

	*stored = *raw = 0;
	if (rc < 0 || (rc = hs_store__get(s, HS_CF_REFS, NULL, hash, HS_HASH_LEN, &val, &vl)) < 0)
		return rc == -ENOENT ? 0 : rc;
	/* A blob nothing references still counts until GC takes it (a
	 * transfer cut short left it): the fence now keeps GC off it, and
	 * the reference the caller takes makes it live again. */
	if (vl != HS_REF_VALUE_LEN)
		rc = hs_errno_set(-EUCLEAN, "reference record of %zu bytes", vl);
	else if ((int64_t)hs_le64_get((const uint8_t *)val) >= 0) {
		*stored = hs_le32_get((const uint8_t *)val + 8);
		*raw = *stored ? hs_le32_get((const uint8_t *)val + 12) : 0;
	}
	rocksdb_free(val);
	return rc;
}

int hs_blob__ensure_frame(hs_store *s, struct hs_batch *b, const uint8_t *hash,
			  const void *frame, size_t flen, uint32_t *stored)
{
	uint32_t raw;
	int rc;

	for (size_t i = 0; i < b->n_new && i < HS_BATCH_NEW_BLOBS; i++) {
		if (memcmp(b->new_blobs[i], hash, HS_HASH_LEN) == 0) {
			*stored = b->new_stored[i];
			return 0;
		}
	}
	if ((rc = hs_blob__pin(s, b, hash, stored, &raw)) < 0 || *stored)
		return rc;
	rocksdb_writebatch_put_cf(b->wb, s->cf[HS_CF_BLOBS], (const char *)hash, HS_HASH_LEN,
				  (const char *)frame, flen);
	*stored = (uint32_t)flen;
	if (b->n_new < HS_BATCH_NEW_BLOBS) {
		memcpy(b->new_blobs[b->n_new], hash, HS_HASH_LEN);
		b->new_stored[b->n_new] = *stored;
	}
	b->n_new++;
	return 0;
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
	if (b->n_new == before)
		return 0;
	ref_merge(h->store, b->wb, nv->hash, 0, stored, 0);   /* sizes keep the largest: unmarked */
	return acct_note(b, nv->hash, 0, stored);
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

/* A garbage record's key: 'G' and the blob's hash. */
typedef uint8_t gc_key[1 + HS_HASH_LEN];

/*
 * Up to @max garbage records' keys into @cand, from @from (@from_len
 * bytes, 0: the first) up to @to (0 bytes: the last).  Returns how many,
 * or -errno.
 */
static ssize_t gc_candidates(hs_store *s, const uint8_t *from, size_t from_len,
			     const uint8_t *to, size_t to_len, gc_key *cand, size_t max)
{
	uint8_t start = 'G', end = 'H';
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	size_t n = 0;
	char *err = NULL;

	if (to_len)
		rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)to, to_len);
	else
		rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(s->db, ro, s->cf[HS_CF_META]);
	if (from_len)
		rocksdb_iter_seek(it, (const char *)from, from_len);
	else
		rocksdb_iter_seek(it, (const char *)&start, 1);
	for (; rocksdb_iter_valid(it) && n < max; rocksdb_iter_next(it)) {
		size_t kl;
		const char *k = rocksdb_iter_key(it, &kl);

		if (kl == sizeof(gc_key) && k[0] == 'G')
			memcpy(cand[n++], k, sizeof(gc_key));
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (err)
		return hs_rdb_error(err, "reading garbage candidates");
	return (ssize_t)n;
}

int hs_store_gc(hs_store *s, size_t max, hs_gc_stats *out)
{
	rocksdb_writebatch_t *wb;
	gc_key *cand, from;
	struct hs_multiget mg;
	size_t from_len, n;
	int64_t garbage = 0, garbage_blobs = 0;
	ssize_t got;
	int rc;

	memset(out, 0, sizeof(*out));
	if (s->read_only)
		return hs_errno_set(-EROFS, "store is open read-only");
	hs_store__purge_drain(s);   /* what they pinned may be garbage now */
	if (max == 0)
		max = 1024;
	if (!(cand = malloc(max * sizeof(*cand))))
		return hs_errno_set(-ENOMEM, "out of memory");
	/* From where the last round stopped to the end, then from the first
	 * candidate up to there: each candidate once per cycle. */
	pthread_mutex_lock(&s->gc_lock);
	from_len = s->gc_cursor_len;
	memcpy(from, s->gc_cursor, from_len);
	pthread_mutex_unlock(&s->gc_lock);
	got = gc_candidates(s, from, from_len, NULL, 0, cand, max);
	if (got >= 0 && (size_t)got < max && from_len) {
		ssize_t more = gc_candidates(s, NULL, 0, from, from_len, cand + got,
					     max - (size_t)got);

		got = more < 0 ? more : got + more;
	}
	if (got < 0) {
		free(cand);
		return (int)got;
	}
	n = (size_t)got;
	out->more = n == max;
	pthread_mutex_lock(&s->gc_lock);
	/* Next time: from the last one read (a busy one is read again: fine). */
	s->gc_cursor_len = n == max ? sizeof(gc_key) : 0;
	if (n == max)
		memcpy(s->gc_cursor, cand[n - 1], sizeof(gc_key));
	pthread_mutex_unlock(&s->gc_lock);

	if ((rc = hs_multiget__init(&mg, n)) < 0) {
		free(cand);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		hs_multiget__set(&mg, i, s, HS_CF_META, cand[i], sizeof(gc_key));
	wb = rocksdb_writebatch_create();
	pthread_mutex_lock(&s->gc_lock);   /* the fence: see blob_pend */
	/*
	 * Their garbage records, read again in one MultiGet under the fence:
	 * the accounting keeps 'G' hash exactly while no entry names the blob,
	 * and a batch that would name it again registers its hash before it
	 * probes (the pending ones are skipped below), so a record read here
	 * still holds when the deletions are written.  A small family, read
	 * the same on a store of any size: no reference count is read.
	 */
	rc = hs_multiget__run(&mg, s, "reading garbage records");
	for (size_t i = 0; i < n && rc == 0; i++) {
		const uint8_t *hash = cand[i] + 1;
		uint64_t stored;

		out->candidates++;
		if (*pending_find(s, hash)) {
			out->busy++;   /* a batch in flight: next time */
			continue;
		}
		if (!mg.vals[i])
			continue;   /* named again since the scan: not garbage */
		if (mg.vlen[i] != 8) {
			rc = hs_errno_set(-EUCLEAN, "garbage record of %zu bytes (fsck --repair "
					  "rewrites it)", mg.vlen[i]);
			break;
		}
		stored = hs_le64_get((const uint8_t *)mg.vals[i]);
		out->bytes_freed += stored;
		out->blobs_freed++;
		garbage -= (int64_t)stored;
		garbage_blobs--;
		rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_BLOBS], (const char *)hash,
					     HS_HASH_LEN);
		rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_REFS], (const char *)hash,
					     HS_HASH_LEN);
		rocksdb_writebatch_delete_cf(wb, s->cf[HS_CF_META], (const char *)cand[i],
					     sizeof(gc_key));
	}
	counter_merge(s, wb, 'T', HS_TOTAL_GARBAGE, garbage);
	counter_merge(s, wb, 'T', HS_TOTAL_GARBAGE_BLOBS, garbage_blobs);
	if (rc == 0 && rocksdb_writebatch_count(wb) &&
	    (rc = hs_store__write(s, wb, false)) == 0) {
		atomic_fetch_add(&s->totals[HS_TOTAL_GARBAGE], garbage);
		atomic_fetch_add(&s->totals[HS_TOTAL_GARBAGE_BLOBS], garbage_blobs);
	}
	pthread_mutex_unlock(&s->gc_lock);
	rocksdb_writebatch_destroy(wb);
	hs_multiget__free(&mg);
	free(cand);
	return rc;
}
