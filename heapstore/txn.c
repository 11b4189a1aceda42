/*
 * txn.c - transactions over sets of lines.
 *
 * A transaction reads through a RocksDB snapshot taken together with the
 * working version number, so its reads are one consistent state of the
 * heap whatever commits meanwhile.  Writes are staged as whole lines in a
 * tree keyed by line index (partial writes start from the snapshot's
 * content).  Commit locks the staged lines' stripes, checks that each
 * staged line still holds the content it had in the snapshot (first
 * committer wins; a line changed and changed back counts as unchanged),
 * and writes everything in one synced WriteBatch through hs_line__stage(),
 * the same path plain writes take.
 */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

enum txn_state { TXN_OPEN, TXN_COMMITTED, TXN_ABORTED };

struct staged {
	uint64_t line;
	uint8_t *data;                /* line_size bytes; NULL: all zero */
};

struct hs_txn {
	hs_heap *heap;                /* a reference of our own */
	const rocksdb_snapshot_t *snap;
	uint64_t version;             /* working version at begin */
	uint64_t size;                /* heap size at begin, grown by writes */
	uint64_t write_end;           /* end of the furthest staged write */
	void *tree;                   /* struct staged, by line */
	size_t n_staged;
	uint64_t staged_bytes;
	enum txn_state state;
};

static int staged_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct staged *)a)->line, y = ((const struct staged *)b)->line;

	return x < y ? -1 : x > y;
}

static void staged_free(void *p)
{
	struct staged *st = p;

	free(st->data);
	free(st);
}

static void staged_clear(hs_txn *t)
{
	tdestroy(t->tree, staged_free);
	t->tree = NULL;
	t->n_staged = 0;
	t->staged_bytes = 0;
}

int hs_txn_begin(hs_txn **out, hs_heap *h)
{
	hs_store *s = h->store;
	hs_txn *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return hs_errno_set(-ENOMEM, "out of memory");
	t->heap = hs_heap_dup(h);
	pthread_rwlock_rdlock(&h->lock);
	/* The snapshot is the store's: the cache's dirty lines go first. */
	if ((rc = hs_heap__check_live(h)) == 0 && (rc = hs_cache__flush_heap(h)) == 0) {
		t->snap = rocksdb_create_snapshot(s->db);
		t->version = h->rec.head;
		t->size = h->rec.size;
	}
	pthread_rwlock_unlock(&h->lock);
	if (rc < 0) {
		hs_txn_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void hs_txn_free(hs_txn *t)
{
	if (!t)
		return;
	staged_clear(t);
	if (t->snap)
		rocksdb_release_snapshot(t->heap->store->db, t->snap);
	hs_heap_close(t->heap);
	free(t);
}

static struct staged *staged_find(hs_txn *t, uint64_t line)
{
	struct staged key = { .line = line };
	void *found = tfind(&key, &t->tree, staged_cmp);

	return found ? *(struct staged **)found : NULL;
}

static int txn_usable(hs_txn *t)
{
	if (t->state == TXN_COMMITTED)
		return hs_errno_set(-EINVAL, "transaction already committed");
	if (t->state == TXN_ABORTED)
		return hs_errno_set(-EINVAL, "transaction was aborted");
	return 0;
}

/* The snapshot's content of @line into @dst. */
static int snap_load(hs_txn *t, uint64_t line, void *dst)
{
	struct hs_cursor c;
	int rc = hs_cursor__open(&c, t->heap, t->snap);

	if (rc == 0)
		rc = hs_line__load(t->heap, &c, line, t->version, dst);
	hs_cursor__close(&c);
	return rc;
}

/*
 * The staged copy of @line, created from the snapshot unless @whole says
 * the caller overwrites all of it.
 */
static int staged_get(hs_txn *t, uint64_t line, bool whole, struct staged **out)
{
	const uint32_t ls = t->heap->rec.line_size;
	struct staged *st = staged_find(t, line);
	int rc;

	if (st) {
		if (!st->data) {
			if (!(st->data = calloc(1, ls)))
				return hs_errno_set(-ENOMEM, "out of memory");
		}
		*out = st;
		return 0;
	}
	if (t->staged_bytes + ls > HS_TXN_STAGED_MAX)
		return hs_errno_set(-EFBIG, "transaction would stage more than %llu bytes",
				    (unsigned long long)HS_TXN_STAGED_MAX);
	st = calloc(1, sizeof(*st));
	if (!st || !(st->data = malloc(ls))) {
		free(st);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	st->line = line;
	if (!whole && (rc = snap_load(t, line, st->data)) < 0) {
		staged_free(st);
		return rc;
	}
	if (!tsearch(st, &t->tree, staged_cmp)) {
		staged_free(st);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	t->n_staged++;
	t->staged_bytes += ls;
	*out = st;
	return 0;
}

ssize_t hs_txn_read(hs_txn *t, void *buf, size_t len, uint64_t off)
{
	hs_heap *h = t->heap;
	const uint64_t ls = h->rec.line_size;
	uint8_t *dst = buf;
	size_t done = 0;
	int rc;

	if ((rc = txn_usable(t)) < 0)
		return rc;
	if (off > INT64_MAX || len > INT64_MAX - off)
		return hs_errno_set(-EINVAL, "offset %llu + length %zu overflows",
				    (unsigned long long)off, len);
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = (size_t)(t->size - off);
	while (done < len) {
		uint64_t pos = off + done, line = pos >> h->line_shift;
		size_t in = (size_t)(pos & (ls - 1));
		size_t n = (size_t)(ls - in) < len - done ? (size_t)(ls - in) : len - done;
		struct staged *st = staged_find(t, line);

		if (st && st->data) {
			memcpy(dst + done, st->data + in, n);
		} else if (st) {
			memset(dst + done, 0, n);
		} else {
			ssize_t r = hs_io__read_range(h, t->snap, false, t->version, t->size,
							dst + done, n, pos);
			if (r < 0)
				return done ? (ssize_t)done : r;
		}
		done += n;
	}
	return (ssize_t)done;
}

/*
 * Would staging [off, off + len) pass HS_TXN_STAGED_MAX?  Counts the lines
 * not yet staged, stopping as soon as the answer is yes, so a huge range
 * costs at most HS_TXN_STAGED_MAX / line_size lookups.
 */
static int txn_budget_check(hs_txn *t, uint64_t off, size_t len)
{
	hs_heap *h = t->heap;
	uint64_t first = off >> h->line_shift, last = (off + len - 1) >> h->line_shift;
	uint64_t bytes = t->staged_bytes;

	for (uint64_t line = first; line <= last; line++) {
		if (staged_find(t, line))
			continue;
		bytes += h->rec.line_size;
		if (bytes > HS_TXN_STAGED_MAX)
			return hs_errno_set(-EFBIG, "transaction would stage more than %llu bytes",
					    (unsigned long long)HS_TXN_STAGED_MAX);
	}
	return 0;
}

/* Stage [off, off + len) from @src, or zeros when @src is NULL: all or nothing. */
static ssize_t txn_modify(hs_txn *t, const uint8_t *src, size_t len, uint64_t off)
{
	hs_heap *h = t->heap;
	const uint64_t ls = h->rec.line_size;
	size_t done = 0;
	int rc;

	if (len == 0)
		return 0;
	if ((rc = txn_budget_check(t, off, len)) < 0)
		return rc;

	while (done < len) {
		uint64_t pos = off + done, line = pos >> h->line_shift;
		size_t in = (size_t)(pos & (ls - 1));
		size_t n = (size_t)(ls - in) < len - done ? (size_t)(ls - in) : len - done;
		struct staged *st;

		if (!src && n == ls) {
			/* A whole zero line needs no buffer. */
			if (!(st = staged_find(t, line)) &&
			    (rc = staged_get(t, line, true, &st)) < 0)
				return rc;
			free(st->data);
			st->data = NULL;
		} else {
			if ((rc = staged_get(t, line, n == ls, &st)) < 0)
				return rc;
			if (src)
				memcpy(st->data + in, src + done, n);
			else
				memset(st->data + in, 0, n);
		}
		done += n;
	}
	return (ssize_t)done;
}

ssize_t hs_txn_write(hs_txn *t, const void *buf, size_t len, uint64_t off)
{
	ssize_t n;
	int rc;

	if ((rc = txn_usable(t)) < 0)
		return rc;
	if (off > HS_HEAP_SIZE_MAX || len > HS_HEAP_SIZE_MAX - off)
		return hs_errno_set(-EFBIG, "range [%llu, +%zu) passes the largest heap",
				    (unsigned long long)off, len);
	n = txn_modify(t, buf, len, off);
	if (n > 0 && off + (uint64_t)n > t->size)
		t->size = off + (uint64_t)n;
	if (n > 0 && off + (uint64_t)n > t->write_end)
		t->write_end = off + (uint64_t)n;
	return n;
}

int hs_txn_punch(hs_txn *t, uint64_t off, uint64_t len)
{
	ssize_t n;
	int rc;

	if ((rc = txn_usable(t)) < 0)
		return rc;
	if (off > INT64_MAX || len > INT64_MAX - off)
		return hs_errno_set(-EINVAL, "offset %llu + length %llu overflows",
				    (unsigned long long)off, (unsigned long long)len);
	if (off >= t->size)
		return 0;
	if (len > t->size - off)
		len = t->size - off;
	n = txn_modify(t, NULL, (size_t)len, off);
	return n < 0 ? (int)n : 0;
}

struct collect {
	struct staged **arr;
	uint64_t *lines;
	size_t n;
};

static void collect_walk(const void *node, VISIT which, void *payload)
{
	struct collect *c = payload;
	struct staged *st = *(struct staged *const *)node;

	if (which == postorder || which == leaf) {
		c->arr[c->n] = st;
		c->lines[c->n++] = st->line;
	}
}

/* Under the stripe locks: does any staged line differ from its snapshot? */
static int conflicts(hs_txn *t, struct collect *c, struct hs_cursor *cur)
{
	hs_heap *h = t->heap;
	struct hs_cursor then;
	int rc = hs_cursor__open(&then, h, t->snap);

	for (size_t i = 0; i < c->n && rc == 0; i++) {
		struct hs_lineval a, b;

		if ((rc = hs_line__lookup(h, &then, c->lines[i], t->version, &a, NULL)) < 0 ||
		    (rc = hs_line__lookup(h, cur, c->lines[i], h->rec.head, &b, NULL)) < 0)
			break;
		rc = 0;
		if (a.zero != b.zero || (!a.zero && memcmp(a.hash, b.hash, HS_HASH_LEN)))
			rc = hs_errno_set(-EBUSY,
					  "heap '%s' line %llu changed since the transaction began",
					  h->rec.name, (unsigned long long)c->lines[i]);
	}
	hs_cursor__close(&then);
	return rc;
}

int hs_txn_commit(hs_txn *t)
{
	hs_heap *h = t->heap;
	struct collect c = { 0 };
	struct hs_cursor cur = { 0 };
	struct hs_batch b;
	bool grow;
	int rc;

	if (t->state == TXN_COMMITTED)
		return 0;
	if ((rc = txn_usable(t)) < 0)
		return rc;
	c.arr = malloc((t->n_staged + 1) * sizeof(*c.arr));
	c.lines = malloc((t->n_staged + 1) * sizeof(*c.lines));
	if (!c.arr || !c.lines) {
		free(c.arr);
		free(c.lines);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	twalk_r(t->tree, collect_walk, &c);
	hs_batch__init(&b);
	b.enforce = true;   /* its exact cost, against the quota and the pool */
	b.pause = true;     /* a durability point's, for the pool's ledger */

	/*
	 * With a line cache the commit works on the store, so the heap's dirty
	 * lines are written back first and its entries for the committed lines
	 * dropped after: with every other user of the heap excluded.
	 */
	if (h->store->cache)
		pthread_rwlock_wrlock(&h->lock);
	else
		pthread_rwlock_rdlock(&h->lock);
	/*
	 * The size the commit leaves is max(the size now, the end of what it
	 * wrote): a truncate or growth made since begin stays.  A staged line
	 * that a truncate changed since the snapshot is a conflict (EBUSY)
	 * below, like any other change of a staged line.
	 */
	grow = t->write_end > h->rec.size;
	if (grow && !h->store->cache) {   /* the record changes: exclude other writers */
		pthread_rwlock_unlock(&h->lock);
		pthread_rwlock_wrlock(&h->lock);
		grow = t->write_end > h->rec.size;
	}
	if ((rc = hs_heap__check_writable(h)) < 0 || (rc = hs_cache__flush_heap(h)) < 0)
		goto unlock;
	hs_heap__stripes_lock(h, c.lines, c.n);
	if ((rc = hs_cursor__open(&cur, h, NULL)) < 0 ||
	    (rc = conflicts(t, &c, &cur)) < 0)
		goto unstripe;
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		struct hs_lineval nv = { .zero = true };

		if (c.arr[i]->data)
			rc = hs_line__value_of(h, c.arr[i]->data, &nv);
		if (rc == 0)
			rc = hs_line__stage(h, &b, &cur, c.lines[i], &nv, c.arr[i]->data);
	}
	if (rc == 0 && grow) {
		struct hs_heap_rec copy = h->rec;

		copy.size = t->write_end;
		rc = hs_heap__put_rec(h, b.wb, &copy);
	}
	if (rc == 0 && (rc = hs_batch__commit(h, &b, true)) == 0) {
		if (grow)
			h->rec.size = t->write_end;
		hs_cache__drop_lines(h, c.lines, c.n);
	}
unstripe:
	hs_cursor__close(&cur);
	hs_heap__stripes_unlock(h, c.lines, c.n);
unlock:
	pthread_rwlock_unlock(&h->lock);
	hs_batch__dispose(&b);
	free(c.arr);
	free(c.lines);
	/* A conflict or a failed write finishes the transaction; nothing was written. */
	t->state = rc == 0 ? TXN_COMMITTED : TXN_ABORTED;
	staged_clear(t);
	return rc;
}
