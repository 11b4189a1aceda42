/*
 * version.c - checkpoints: sealing the working version, listing, reading a
 * checkpoint, diffing two versions, restoring the live heap to one, and
 * deleting one.
 *
 * Every operation here touches only the lines that changed between the
 * versions involved, found by a range scan of the changes column family:
 *
 *     changes  (id, v, line)   for each existing version v: the lines v
 *                              changed against the version before it
 *
 * so a seal walks changes(W), a restore to N and a diff of N..M walk the
 * changes of the versions between, and a delete walks changes(v).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

/* Resolve HS_VERSION_LIVE and check a checkpoint exists.  Lock held. */
/* Resolve @version; the heap's or the state's size in it into @size. */
static int version_resolve(hs_heap *h, uint64_t *version, bool state,
			   uint64_t *size)
{
	hs_version_info vi;
	int rc;

	if (*version == HS_VERSION_LIVE || *version == h->rec.head) {
		*version = h->rec.head;
		if (size)
			*size = *space_size(&h->rec, state);
		return 0;
	}
	if ((rc = hs_version__exists(h, *version, &vi)) < 0)
		return rc;
	if (size)
		*size = state ? vi.state_size : vi.size_bytes;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The distinct lines changed by versions in (@lo, @hi], sorted: one range
 * scan of changes.  Optionally sums the count and stored bytes.
 */
static int changed_lines(hs_heap *h, uint64_t lo, uint64_t hi, uint64_t **out,
			 size_t *n_out, uint64_t *bytes_out)
{
	uint8_t start[HS_CHANGE_KEY_LEN], end[HS_CHANGE_KEY_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	uint64_t *arr = NULL, bytes = 0;
	size_t n = 0, cap = 0, u = 0;
	int rc = 0;

	hs_key__change(start, h->id, lo + 1, 0);
	hs_key__change(end, h->id, hi + 1, 0);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, sizeof(end));
	it = rocksdb_create_iterator_cf(h->store->db, ro, h->store->cf[HS_CF_CHANGES]);
	for (rocksdb_iter_seek(it, (const char *)start, sizeof(start));
	     rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);

		if (kl != HS_CHANGE_KEY_LEN || vl != 4) {
			rc = hs_errno_set(-EUCLEAN, "heap '%s': change record of %zu/%zu bytes",
					  h->rec.name, kl, vl);
			break;
		}
		if ((rc = hs_grow((void **)&arr, &cap, n, sizeof(*arr))) < 0)
			break;
		arr[n++] = hs_be64_get(k + 16);
		bytes += hs_le32_get(v);
	}
	rc = hs_iter__finish(it, ro, rc, "scanning changes");
	if (rc < 0) {
		free(arr);
		return rc;
	}
	if (n)
		qsort(arr, n, sizeof(*arr), u64_cmp);
	for (size_t i = 0; i < n; i++) {
		if (u == 0 || arr[u - 1] != arr[i])
			arr[u++] = arr[i];
	}
	*out = arr;
	*n_out = u;
	if (bytes_out)
		*bytes_out = bytes;
	return 0;
}

/* Its lease expired in a migration to @moved_to, whose outcome it may not
 * know yet: a re-run asks there about its newest checkpoint. */
static bool bound_elsewhere(const hs_heap *h)
{
	return h->rec.lease == HS_LEASE_EXPIRED && h->rec.moved_to[0];
}

/* Seal a checkpoint; with @suspend, suspend the heap in the same batch;
 * with @handover, a migration's (the only kind a heap bound elsewhere
 * takes: its newest must stay the one it handed over). */
static int seal(hs_heap *h, const char *label, bool suspend, bool handover,
		uint64_t *version_out)
{
	uint8_t key[HS_META_KEY_MAX], val[HS_REC_MAX], vbuf[8];
	struct hs_heap_rec copy;
	hs_version_info vi;
	struct hs_batch b;
	uint64_t *lines = NULL, found;
	size_t n_lines = 0, kl, vl;
	int rc;

	if (label && *label && (rc = hs_vrec__label_check(label)) < 0)
		return rc;
	/* Every completed write is in: the dirty lines go first, most of them
	 * while writers may still run and the flushers can help. */
	if ((rc = hs_cache__preflush(h)) < 0)
		return rc;
	hs_batch__init(&b);
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) < 0 || (rc = hs_cache__flush_heap(h)) < 0)
		goto out;
	if (h->rec.lease == HS_LEASE_MIGRATED) {   /* its next versions are another node's */
		rc = hs_errno_set(-EROFS, "heap '%s' migrated to %s", h->rec.name,
				  h->rec.moved_to);
		goto out;
	}
	if (!handover && bound_elsewhere(h)) {
		rc = hs_errno_set(-EROFS, "heap '%s' is being handed to %s (its lease expired): "
				  "only the migration takes its checkpoints", h->rec.name,
				  h->rec.moved_to);
		goto out;
	}
	if (suspend && h->rec.suspended) {
		rc = hs_errno_set(-EALREADY, "heap '%s' is suspended already", h->rec.name);
		goto out;
	}
	/* Over a limit (stores through a mapping taken as an overdraft): a
	 * checkpoint would keep those bytes; the heap must shrink first. */
	if (!suspend && (rc = hs_limit__over(h)) < 0)
		goto out;
	if (label && *label) {
		rc = hs_version_find_label(h, label, &found);
		if (rc == 0) {
			rc = hs_errno_set(-EEXIST, "heap '%s' has a checkpoint labelled '%s' (%llu)",
					  h->rec.name, label, (unsigned long long)found);
			goto out;
		}
		if (rc != -ENOENT)
			goto out;
	}
	memset(&vi, 0, sizeof(vi));
	vi.version = h->rec.head;
	vi.parent = h->latest;
	vi.created_ns = hs_now_ns();
	vi.size_bytes = h->rec.size;
	vi.state_size = h->rec.state_size;
	vi.lines_used = (uint64_t)atomic_load(&h->lines_used);
	if ((rc = hs_random(vi.ident, sizeof(vi.ident))) < 0)
		goto out;
	if ((rc = changed_lines(h, vi.version - 1, vi.version, &lines, &n_lines,
				&vi.bytes_changed)) < 0)
		goto out;
	/* Heap lines only; state lines sort last and count in bytes_changed. */
	while (vi.lines_changed < n_lines && !(lines[vi.lines_changed] & HS_STATE_LINE))
		vi.lines_changed++;
	if (label)
		strcpy(vi.label, label);

	kl = hs_key__meta_version(key, h->id, vi.version);
	vl = hs_version_rec__encode(val, sizeof(val), &vi);
	rocksdb_writebatch_put_cf(b.wb, h->store->cf[HS_CF_META], (const char *)key, kl,
				  (const char *)val, vl);
	if (label && *label) {
		kl = hs_key__meta(key, 'L', h->id, label);
		hs_be64_put(vbuf, vi.version);
		rocksdb_writebatch_put_cf(b.wb, h->store->cf[HS_CF_META], (const char *)key,
					  kl, (const char *)vbuf, 8);
	}
	copy = h->rec;
	copy.head = vi.version + 1;
	copy.suspended = copy.suspended || suspend;
	if ((rc = hs_heap__put_rec(h, b.wb, &copy)) < 0 ||
	    (rc = hs_batch__commit(h, &b, true)) < 0)
		goto out;
	h->rec.head = copy.head;
	h->rec.suspended = copy.suspended;
	h->latest = vi.version;
	h->n_checkpoints++;
	if (suspend)   /* its memory goes back to the pool */
		hs_cache__drop(h, true, false, 0);
	if (version_out)
		*version_out = vi.version;
out:
	pthread_rwlock_unlock(&h->lock);
	hs_batch__dispose(&b);
	free(lines);
	return rc;
}

int hs_version_seal(hs_heap *h, const char *label, uint64_t *version_out)
{
	return seal(h, label, false, false, version_out);
}

int hs_version_seal_handover(hs_heap *h, uint64_t *version_out)
{
	return seal(h, NULL, false, true, version_out);
}

int hs_heap_suspend(hs_heap *h, uint64_t *version_out)
{
	return seal(h, NULL, true, false, version_out);
}

int hs_heap_resume(hs_heap *h)
{
	struct hs_heap_rec copy;
	struct hs_batch b;
	int rc;

	hs_batch__init(&b);
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0 && !h->rec.suspended)
		rc = hs_errno_set(-EALREADY, "heap '%s' is not suspended", h->rec.name);
	copy = h->rec;
	copy.suspended = false;
	if (rc == 0 && (rc = hs_heap__put_rec(h, b.wb, &copy)) == 0 &&
	    (rc = hs_batch__commit(h, &b, true)) == 0)
		h->rec.suspended = false;
	pthread_rwlock_unlock(&h->lock);
	hs_batch__dispose(&b);
	return rc;
}

int hs_version_info_get(hs_heap *h, uint64_t version, hs_version_info *out)
{
	int rc;

	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0)
		rc = hs_version__exists(h, version, out);
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

int hs_version_find_label(hs_heap *h, const char *label, uint64_t *version_out)
{
	uint8_t key[HS_META_KEY_MAX];
	size_t kl;
	char *val = NULL;
	size_t vl = 0;
	int rc;

	if (hs_name_check(label) < 0)
		return hs_errno_set(-ENOENT, "no checkpoint labelled '%s'", label);
	kl = hs_key__meta(key, 'L', h->id, label);
	rc = hs_store__get(h->store, HS_CF_META, NULL, key, kl, &val, &vl);
	if (rc == -ENOENT)
		return hs_errno_set(-ENOENT, "heap '%s' has no checkpoint labelled '%s'",
				    h->rec.name, label);
	if (rc < 0)
		return rc;
	if (vl != 8)
		rc = hs_errno_set(-EUCLEAN, "label record '%s' is damaged", label);
	else
		*version_out = hs_be64_get((const uint8_t *)val);
	rocksdb_free(val);
	return rc;
}

/* Read the heap or the state as of @version. */
int hs_version_list(hs_heap *h, hs_version_info **out, size_t *n_out)
{
	int rc;

	*out = NULL;
	*n_out = 0;
	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0)
		rc = hs_version__list_all(h, out, n_out);
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

static ssize_t space_read(hs_heap *h, bool state, uint64_t version, void *buf,
			  size_t len, uint64_t off)
{
	uint64_t size;
	ssize_t n;

	if (off > INT64_MAX || len > INT64_MAX - off)
		return hs_errno_set(-EINVAL, "offset %llu + length %zu overflows",
				    (unsigned long long)off, len);
	pthread_rwlock_rdlock(&h->lock);
	n = hs_heap__check_live(h);
	if (n == 0)
		n = version_resolve(h, &version, state, &size);
	if (n == 0)
		n = hs_io__read_range(h, NULL, state, version, size, buf, len, off);
	pthread_rwlock_unlock(&h->lock);
	return n;
}

ssize_t hs_version_read(hs_heap *h, uint64_t version, void *buf, size_t len,
			uint64_t off)
{
	return space_read(h, false, version, buf, len, off);
}

ssize_t hs_heap_read(hs_heap *h, void *buf, size_t len, uint64_t off)
{
	return hs_version_read(h, HS_VERSION_LIVE, buf, len, off);
}

ssize_t hs_state_read(hs_heap *h, uint64_t version, void *buf, size_t len,
		      uint64_t off)
{
	return space_read(h, true, version, buf, len, off);
}

int hs_heap_restore(hs_heap *h, uint64_t version)
{
	hs_version_info vi;
	struct hs_heap_rec copy;
	struct hs_batch b;
	struct hs_cursor c = { 0 };
	uint64_t *lines = NULL;
	size_t n = 0;
	int rc;

	hs_batch__init(&b);
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_writable(h)) < 0 ||
	    (rc = hs_version__exists(h, version, &vi)) < 0 ||
	    (rc = hs_cache__flush_heap(h)) < 0 ||
	    (rc = changed_lines(h, version, h->rec.head, &lines, &n, NULL)) < 0)
		goto out;
	if ((rc = hs_cursor__open(&c, h, NULL)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct hs_lineval old;

		if ((rc = hs_line__lookup(h, &c, lines[i], version, &old, NULL)) < 0 ||
		    (rc = hs_line__stage(h, &b, &c, lines[i], &old, NULL)) < 0)
			goto out;
	}
	copy = h->rec;
	copy.size = vi.size_bytes;
	copy.state_size = vi.state_size;
	if ((rc = hs_heap__put_rec(h, b.wb, &copy)) == 0 &&
	    (rc = hs_batch__commit(h, &b, true)) == 0) {
		h->rec.size = copy.size;
		h->rec.state_size = copy.state_size;
		hs_cache__drop_lines(h, lines, n);   /* they changed behind it */
	}
out:
	pthread_rwlock_unlock(&h->lock);
	hs_cursor__close(&c);
	hs_batch__dispose(&b);
	free(lines);
	/* Posted by the restore itself, so every caller's restore tells the
	 * runtime; after the lock, so a reader woken by it finds the heap
	 * free.  An event lost for memory is the readers' "lost 1". */
	if (rc == 0)
		(void)hs_event_post(h, "restored %llu", (unsigned long long)version);
	return rc;
}

int hs_version_diff(hs_heap *h, uint64_t v1, uint64_t v2, hs_diff_cb cb,
		    void *payload)
{
	struct hs_cursor c = { 0 };
	uint64_t *lines = NULL, lo, hi;
	size_t n = 0, n_diff = 0;
	int rc;

	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) < 0 ||
	    (rc = version_resolve(h, &v1, false, NULL)) < 0 ||
	    (rc = version_resolve(h, &v2, false, NULL)) < 0)
		goto unlock;
	lo = v1 < v2 ? v1 : v2;
	hi = v1 < v2 ? v2 : v1;
	if (hi == h->rec.head && (rc = hs_cache__flush_heap(h)) < 0)
		goto unlock;
	if (lo == hi || (rc = changed_lines(h, lo, hi, &lines, &n, NULL)) < 0)
		goto unlock;
	if ((rc = hs_cursor__open(&c, h, NULL)) < 0)
		goto unlock;
	for (size_t i = 0; i < n; i++) {
		struct hs_lineval a, z;

		if ((rc = hs_line__lookup(h, &c, lines[i], lo, &a, NULL)) < 0 ||
		    (rc = hs_line__lookup(h, &c, lines[i], hi, &z, NULL)) < 0)
			goto unlock;
		if (a.zero != z.zero || (!a.zero && memcmp(a.hash, z.hash, HS_HASH_LEN)))
			lines[n_diff++] = lines[i];
	}
	rc = 0;
unlock:
	pthread_rwlock_unlock(&h->lock);
	hs_cursor__close(&c);
	/* Callbacks run unlocked, so they may read the heap. */
	for (size_t i = 0; i < n_diff && rc == 0; i++)
		rc = cb(lines[i], payload);
	free(lines);
	return rc;
}

/*
 * Delete checkpoint @version.  For each line it changed: if the next
 * existing version has its own entry, or the entry repeats the value before
 * it, the entry is dropped with its reference; otherwise the entry moves up
 * to the next version (the reference moves with it), since the next version
 * reads through it.
 */
int hs_version_delete(hs_heap *h, uint64_t version)
{
	hs_store *s = h->store;
	hs_version_info vi, nvi;
	struct hs_batch b;
	struct hs_cursor c = { 0 };
	uint64_t *lines = NULL, next, prev_v = 0, moved = 0, moved_bytes = 0;
	uint8_t key[HS_META_KEY_MAX], val[HS_REC_MAX];
	size_t n = 0;
	int rc;

	hs_batch__init(&b);
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0 && version == h->latest && bound_elsewhere(h))
		rc = hs_errno_set(-EROFS, "checkpoint %llu of heap '%s' is the one handed to %s "
				  "(its lease expired): it stays while the outcome is not known",
				  (unsigned long long)version, h->rec.name, h->rec.moved_to);
	if (rc < 0 ||
	    (rc = hs_version__exists(h, version, &vi)) < 0 ||
	    (rc = hs_version__next(h, version, &next)) < 0 ||
	    (rc = changed_lines(h, version - 1, version, &lines, &n, NULL)) < 0)
		goto out;
	if ((rc = hs_cursor__open(&c, h, NULL)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint8_t lkey[HS_LINE_KEY_LEN], ckey[HS_CHANGE_KEY_LEN], sz[4];
		struct hs_lineval mine, above, below;
		uint64_t fv;
		char *cv = NULL;
		size_t cvl = 0;

		if ((rc = hs_line__lookup(h, &c, lines[i], version, &mine, &fv)) < 0)
			goto out;
		hs_key__change(ckey, h->id, version, lines[i]);
		rocksdb_writebatch_delete_cf(b.wb, s->cf[HS_CF_CHANGES], (const char *)ckey,
					     sizeof(ckey));
		if (rc == 0 || fv != version)
			continue;   /* a change record without its entry: nothing to move */
		if ((rc = hs_line__lookup(h, &c, lines[i], next, &above, &fv)) < 0)
			goto out;
		bool next_has_own = rc == 1 && fv == next;
		if ((rc = hs_line__lookup(h, &c, lines[i], version - 1, &below, NULL)) < 0)
			goto out;
		hs_key__line(lkey, h->id, lines[i], version);
		rocksdb_writebatch_delete_cf(b.wb, s->cf[HS_CF_LINES], (const char *)lkey,
					     sizeof(lkey));
		bool redundant = (mine.zero && below.zero) ||
				 (!mine.zero && !below.zero &&
				  memcmp(mine.hash, below.hash, HS_HASH_LEN) == 0);
		if (next_has_own || redundant) {
			if (!mine.zero && (rc = hs_ref__drop(s, &b, mine.hash)) < 0)
				goto out;
			continue;
		}
		hs_key__line(lkey, h->id, lines[i], next);
		rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_LINES], (const char *)lkey,
					  sizeof(lkey), (const char *)mine.hash,
					  mine.zero ? 0 : HS_HASH_LEN);
		if ((rc = hs_store__get(s, HS_CF_CHANGES, NULL, ckey, sizeof(ckey), &cv, &cvl)) < 0 &&
		    rc != -ENOENT)
			goto out;
		hs_le32_put(sz, cv && cvl == 4 ? hs_le32_get((const uint8_t *)cv) : 0);
		rocksdb_free(cv);
		hs_key__change(ckey, h->id, next, lines[i]);
		rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_CHANGES], (const char *)ckey,
					  sizeof(ckey), (const char *)sz, 4);
		moved += !(lines[i] & HS_STATE_LINE);   /* heap lines, as seal counts */
		moved_bytes += hs_le32_get(sz);
	}
	rc = 0;
	/* The next checkpoint now records its changes against our parent. */
	if (next != h->rec.head && (rc = hs_version__exists(h, next, &nvi)) == 0) {
		nvi.parent = vi.parent;
		nvi.lines_changed += moved;
		nvi.bytes_changed += moved_bytes;
		rocksdb_writebatch_put_cf(b.wb, s->cf[HS_CF_META], (const char *)key,
					  hs_key__meta_version(key, h->id, next),
					  (const char *)val,
					  hs_version_rec__encode(val, sizeof(val), &nvi));
	}
	if (rc < 0)
		goto out;
	rocksdb_writebatch_delete_cf(b.wb, s->cf[HS_CF_META], (const char *)key,
				     hs_key__meta_version(key, h->id, version));
	if (vi.label[0])
		rocksdb_writebatch_delete_cf(b.wb, s->cf[HS_CF_META], (const char *)key,
					     hs_key__meta(key, 'L', h->id, vi.label));
	if (version == h->latest && (rc = hs_version__prev(h, version, &prev_v)) < 0)
		goto out;
	if ((rc = hs_batch__commit(h, &b, true)) < 0)
		goto out;
	/* Even with nothing freed, lines the checkpoint pinned are the live
	 * version's alone now: a writer waiting for space may pass. */
	hs_limit__freed(s);
	h->n_checkpoints--;
	if (version == h->latest)
		h->latest = prev_v;
out:
	pthread_rwlock_unlock(&h->lock);
	hs_cursor__close(&c);
	hs_batch__dispose(&b);
	free(lines);
	return rc;
}

/* ---- a checkpoint's space ------------------------------------------------ */

struct held_blob {
	uint8_t hash[HS_HASH_LEN];
	uint64_t dropped;             /* of its entries, those a delete drops */
};

static int held_cmp(const void *a, const void *b)
{
	return memcmp(((const struct held_blob *)a)->hash, ((const struct held_blob *)b)->hash,
		      HS_HASH_LEN);
}

/*
 * Counts the references hs_version_delete() would drop (the entries the
 * next version overwrites), and reads the heap's and the store's counts of each blob: a blob
 * whose count equals what the delete drops is then gone from the heap
 * (unique) or from every heap (freed).  All reads go through one snapshot.
 */
int hs_version_space_get(hs_heap *h, uint64_t version, hs_version_space *out)
{
	hs_store *s = h->store;
	const rocksdb_snapshot_t *snap = NULL;
	rocksdb_readoptions_t *ro = NULL;
	struct hs_cursor c = { 0 };
	struct held_blob *held = NULL;
	uint64_t *lines = NULL, next;
	hs_version_info vi;
	size_t n = 0, nh = 0, cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->version = version;
	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) < 0 || (rc = hs_version__exists(h, version, &vi)) < 0 ||
	    (rc = hs_version__next(h, version, &next)) < 0 ||
	    (rc = changed_lines(h, version - 1, version, &lines, &n, NULL)) < 0)
		goto out;
	snap = rocksdb_create_snapshot(s->db);
	ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, snap);
	if ((rc = hs_cursor__open(&c, h, snap)) < 0)
		goto out;
	out->lines_changed = n;
	for (size_t i = 0; i < n; i++) {
		struct hs_lineval mine, above;
		uint64_t fv;
		bool next_has_own;

		if ((rc = hs_line__lookup(h, &c, lines[i], version, &mine, &fv)) < 0)
			goto out;
		if (rc == 0 || fv != version || mine.zero)
			continue;
		if ((rc = hs_line__lookup(h, &c, lines[i], next, &above, &fv)) < 0)
			goto out;
		next_has_own = rc == 1 && fv == next;
		if ((rc = hs_grow((void **)&held, &cap, nh, sizeof(*held))) < 0)
			goto out;
		memcpy(held[nh].hash, mine.hash, HS_HASH_LEN);
		/* The delete also drops an entry repeating the one before it, but
		 * that one names the blob still: it changes neither figure. */
		held[nh++].dropped = next_has_own;
	}
	rc = 0;
	if (nh)
		qsort(held, nh, sizeof(*held), held_cmp);
	for (size_t i = 0, j; i < nh && rc == 0; i = j) {
		uint8_t hk[HS_HREF_KEY_LEN];
		char *gv = NULL, *cv = NULL;
		size_t gvl = 0, cvl = 0;
		uint64_t dropped = 0, g = 0, cnt = 0;
		uint32_t sg = 0, sc = 0;

		for (j = i; j < nh && !memcmp(held[j].hash, held[i].hash, HS_HASH_LEN); j++)
			dropped += held[j].dropped;
		hs_key__href(hk, held[i].hash, h->id);
		if ((rc = hs_store__get(s, HS_CF_REFS, ro, held[i].hash, HS_HASH_LEN, &gv,
					&gvl)) < 0 && rc != -ENOENT)
			break;
		if ((rc = hs_store__get(s, HS_CF_HREFS, ro, hk, sizeof(hk), &cv, &cvl)) < 0 &&
		    rc != -ENOENT) {
			rocksdb_free(gv);
			break;
		}
		rc = 0;
		if (gv && gvl == HS_REF_VALUE_LEN) {
			g = hs_le64_get((const uint8_t *)gv);
			sg = hs_le32_get((const uint8_t *)gv + 8);
		}
		if (cv && cvl == HS_HREF_VALUE_LEN) {
			cnt = hs_le64_get((const uint8_t *)cv);
			sc = hs_le32_get((const uint8_t *)cv + 8);
		}
		rocksdb_free(gv);
		rocksdb_free(cv);
		out->bytes_held += sc;
		if (dropped && cnt == dropped)
			out->bytes_unique += sc;
		if (dropped && g == dropped)
			out->bytes_freed += sg;
	}
	out->bytes_shared = out->bytes_held - out->bytes_unique;
out:
	pthread_rwlock_unlock(&h->lock);
	hs_cursor__close(&c);
	if (ro)
		rocksdb_readoptions_destroy(ro);
	if (snap)
		rocksdb_release_snapshot(s->db, snap);
	free(held);
	free(lines);
	return rc;
}
