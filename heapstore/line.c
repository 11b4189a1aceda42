/*
 * line.c - line entries: reading a line as of a version (one seek of a
 * cursor), its content through the blob layer, and the one function that
 * changes a line in the working version (hs_line__stage).  The byte I/O of
 * the live heap built on them, through the line cache, is io.c.
 *
 * Changing line L of the working version W, given its entries:
 *
 *     key (id, L, ~W)   "own"   the entry W already has, if any
 *     key (id, L, ~v<W) "prev"  the value L had before W (newest older entry)
 *
 *   new == prev  -> drop own (and its change record): W no longer differs
 *   new == own   -> nothing to do
 *   otherwise    -> own = new, change record (id, W, L), +1 ref on new,
 *                   -1 ref on the old own
 *
 * so rewriting a line with what it held costs nothing and leaves no garbage,
 * and every entry holds exactly one reference.  The blob itself is put only
 * when the reference table says no live copy exists, so an identical line
 * anywhere in the store is neither compressed nor stored again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

static bool lineval_eq(const struct hs_lineval *a, const struct hs_lineval *b)
{
	if (a->zero || b->zero)
		return a->zero == b->zero;
	return memcmp(a->hash, b->hash, HS_HASH_LEN) == 0;
}

/* An unbounded iterator over the lines CF, for scans across lines. */
rocksdb_iterator_t *hs_line__iter(hs_heap *h)
{
	return rocksdb_create_iterator_cf(h->store->db, h->store->ro,
					  h->store->cf[HS_CF_LINES]);
}

int hs_cursor__open(struct hs_cursor *c, hs_heap *h,
		    const rocksdb_snapshot_t *snap)
{
	/* Closable whatever happens below: callers close after a failed open. */
	c->it = NULL;
	memset(c->upper, 0xff, sizeof(c->upper));
	if (!(c->ro = rocksdb_readoptions_create()))
		return hs_errno_set(-ENOMEM, "out of memory");
	if (snap)
		rocksdb_readoptions_set_snapshot(c->ro, snap);
	/* RocksDB keeps a pointer to c->upper: seek_entry rewrites it. */
	rocksdb_readoptions_set_iterate_upper_bound(c->ro, (const char *)c->upper,
						    sizeof(c->upper));
	c->it = rocksdb_create_iterator_cf(h->store->db, c->ro,
					   h->store->cf[HS_CF_LINES]);
	if (!c->it) {
		rocksdb_readoptions_destroy(c->ro);
		c->ro = NULL;   /* hs_cursor__close() may follow */
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	return 0;
}

void hs_cursor__close(struct hs_cursor *c)
{
	if (c->it)
		rocksdb_iter_destroy(c->it);
	if (c->ro)
		rocksdb_readoptions_destroy(c->ro);
	c->it = NULL;
	c->ro = NULL;
}

/* Decode the entry under the iterator; -EUCLEAN if it is neither "" nor a hash. */
static int entry_decode(hs_heap *h, rocksdb_iterator_t *it, uint64_t line,
			uint64_t version, struct hs_lineval *out)
{
	size_t vl;
	const char *v = rocksdb_iter_value(it, &vl);

	if (vl == 0) {
		out->zero = true;
		return 0;
	}
	if (vl != HS_HASH_LEN)
		return hs_errno_set(-EUCLEAN,
				    "heap '%s' line %llu version %llu: line entry of %zu bytes",
				    h->rec.name, (unsigned long long)line,
				    (unsigned long long)version, vl);
	out->zero = false;
	memcpy(out->hash, v, HS_HASH_LEN);
	return 0;
}

/*
 * Position @it on the newest entry of @line at or below @version.
 * Returns 1 (found; *found_version set), 0 (none: the line is zero), <0.
 */
static int seek_entry(hs_heap *h, struct hs_cursor *c, uint64_t line,
		      uint64_t version, uint64_t *found_version)
{
	rocksdb_iterator_t *it = c->it;
	uint8_t key[HS_LINE_KEY_LEN];
	uint64_t kh, kline, kver;
	size_t kl;
	const char *k;

	/* Line indexes stay far below UINT64_MAX, so line + 1 cannot wrap. */
	hs_key__line(c->upper, h->id, line + 1, UINT64_MAX);
	hs_key__line(key, h->id, line, version);
	rocksdb_iter_seek(it, (const char *)key, sizeof(key));
	if (!rocksdb_iter_valid(it))
		return hs_iter__error(it, "reading a line");
	k = rocksdb_iter_key(it, &kl);
	if (kl != HS_LINE_KEY_LEN)
		return hs_errno_set(-EUCLEAN, "line key of %zu bytes in the store", kl);
	hs_key__line_parse((const uint8_t *)k, &kh, &kline, &kver);
	if (kh != h->id || kline != line)
		return 0;
	*found_version = kver;
	return 1;
}

int hs_line__lookup(hs_heap *h, struct hs_cursor *c, uint64_t line,
		    uint64_t version, struct hs_lineval *out,
		    uint64_t *found_version)
{
	uint64_t fv = 0;
	int rc = seek_entry(h, c, line, version, &fv);

	if (found_version)
		*found_version = fv;
	if (rc <= 0) {
		out->zero = true;
		return rc;
	}
	rc = entry_decode(h, c->it, line, fv, out);
	return rc < 0 ? rc : 1;
}

int hs_line__load(hs_heap *h, struct hs_cursor *c, uint64_t line,
		  uint64_t version, void *dst)
{
	struct hs_lineval val;
	uint64_t fv;
	int rc = hs_line__lookup(h, c, line, version, &val, &fv);

	if (rc < 0)
		return rc;
	if (val.zero) {
		memset(dst, 0, h->rec.line_size);
		return 0;
	}
	return hs_blob__read(h, c->ro, &val, line, fv, dst);
}

int hs_line__value_of(hs_heap *h, const void *content, struct hs_lineval *out)
{
	struct hs_scratch *sc;

	out->zero = hs_codec__is_zero(content, h->rec.line_size);
	if (out->zero)
		return 0;
	if (!(sc = hs_scratch__get()))
		return -ENOMEM;
	hs_codec__hash(sc, content, h->rec.line_size, out->hash);
	return 0;
}

int hs_line__stage(hs_heap *h, struct hs_batch *b, struct hs_cursor *c,
		   uint64_t line, const struct hs_lineval *nv, const void *content)
{
	rocksdb_iterator_t *it = c->it;
	const uint64_t w = h->rec.head;
	struct hs_lineval own = { .zero = true }, prev = { .zero = true };
	const struct hs_lineval *cur;
	uint8_t key[HS_LINE_KEY_LEN], ckey[HS_CHANGE_KEY_LEN], sz[4];
	uint64_t fv = 0;
	bool has_own = false;
	uint32_t stored = 0;
	int rc;

	rc = seek_entry(h, c, line, w, &fv);
	if (rc > 0 && fv == w) {
		has_own = true;
		if ((rc = entry_decode(h, it, line, w, &own)) < 0)
			return rc;
		rocksdb_iter_next(it);
		if (rocksdb_iter_valid(it)) {
			size_t kl;
			const char *k = rocksdb_iter_key(it, &kl);
			uint64_t kh, kline;

			if (kl != HS_LINE_KEY_LEN)
				return hs_errno_set(-EUCLEAN, "line key of %zu bytes", kl);
			hs_key__line_parse((const uint8_t *)k, &kh, &kline, &fv);
			if (kh == h->id && kline == line &&
			    (rc = entry_decode(h, it, line, fv, &prev)) < 0)
				return rc;
		} else if ((rc = hs_iter__error(it, "reading a line")) < 0) {
			return rc;
		}
	} else if (rc > 0) {
		if ((rc = entry_decode(h, it, line, fv, &prev)) < 0)
			return rc;
	} else if (rc < 0) {
		return rc;
	}
	cur = has_own ? &own : &prev;

	hs_key__line(key, h->id, line, w);
	hs_key__change(ckey, h->id, w, line);
	if (lineval_eq(nv, &prev)) {
		if ((rc = hs_blob__heal(h, b, nv, content, line)) < 0)
			return rc;
		if (!has_own)
			return 0;
		rocksdb_writebatch_delete_cf(b->wb, h->store->cf[HS_CF_LINES],
					     (const char *)key, sizeof(key));
		rocksdb_writebatch_delete_cf(b->wb, h->store->cf[HS_CF_CHANGES],
					     (const char *)ckey, sizeof(ckey));
		if (!own.zero && (rc = hs_ref__drop(h->store, b, own.hash)) < 0)
			return rc;
		if (!(line & HS_STATE_LINE))
			b->lines_used_delta += (int)!prev.zero - (int)!own.zero;
		return 0;
	}
	if (has_own && lineval_eq(nv, &own))
		return hs_blob__heal(h, b, nv, content, line);
	if (!nv->zero) {
		/* A fallocated hole filled: its hold goes (given back at commit,
		 * put back if the batch fails), and the batch pays what it costs. */
		if (hs_limit__hold_take(h, line, false)) {
			if (hs_grow((void **)&b->held, &b->cap_held, b->n_held,
				    sizeof(*b->held)) < 0) {
				hs_limit__hold_put(h, line);
				return -ENOMEM;
			}
			b->held[b->n_held++] = line;
		}
		if ((rc = hs_blob__ensure(h, b, nv, content, line, &stored)) < 0 ||
		    (rc = hs_ref__take(h->store, b, nv->hash, stored, h->rec.line_size)) < 0)
			return rc;
	}
	rocksdb_writebatch_put_cf(b->wb, h->store->cf[HS_CF_LINES],
				  (const char *)key, sizeof(key),
				  (const char *)nv->hash, nv->zero ? 0 : HS_HASH_LEN);
	hs_le32_put(sz, stored);
	rocksdb_writebatch_put_cf(b->wb, h->store->cf[HS_CF_CHANGES],
				  (const char *)ckey, sizeof(ckey), (const char *)sz, 4);
	if (has_own && !own.zero && (rc = hs_ref__drop(h->store, b, own.hash)) < 0)
		return rc;
	if (!(line & HS_STATE_LINE))   /* lines_used counts heap lines */
		b->lines_used_delta += (int)!nv->zero - (int)!cur->zero;
	return 0;
}

