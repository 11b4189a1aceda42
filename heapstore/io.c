/*
 * io.c - the live heap's byte I/O: reads and writes of the heap and of its
 * state file through the line cache (or straight to the store without
 * one), punch, truncate, flush and sync, and finding the next non-empty
 * line.  Reads of checkpoints and transactions come here too
 * (hs_io__read_range), with a snapshot or a version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

/* Live reads through the line cache: hits copy, misses load the line. */
static ssize_t read_cached(hs_heap *h, bool state, uint8_t *dst, size_t len,
			   uint64_t off)
{
	const uint64_t ls = h->rec.line_size, base = state ? HS_STATE_LINE : 0;
	struct hs_cursor cur = { 0 };
	size_t done = 0;
	int rc = 0;

	while (done < len) {
		uint64_t pos = off + done;
		uint64_t line = base | (pos >> h->line_shift);
		size_t in = (size_t)(pos & (ls - 1));
		size_t n = (size_t)(ls - in) < len - done ? (size_t)(ls - in) : len - done;
		struct hs_cline *cl;
		bool zero = false;

		if ((rc = hs_cache__get(h, line, true, &cl)) < 0)
			break;
		hs_heap__stripes_lock(h, &line, 1);
		rc = hs_cache__fill(h, cl, &cur, &zero);
		if (rc == 0)
			memcpy(dst + done, hs_cache__data(cl) + in, n);
		hs_heap__stripes_unlock(h, &line, 1);
		hs_cache__put(h, cl, zero);
		if (rc < 0)
			break;
		done += n;
	}
	hs_cursor__close(&cur);
	return done ? (ssize_t)done : rc;
}

ssize_t hs_io__read_range(hs_heap *h, const rocksdb_snapshot_t *snap,
			    bool state, uint64_t version, uint64_t size,
			    void *buf, size_t len, uint64_t off)
{
	const uint64_t ls = h->rec.line_size, base = state ? HS_STATE_LINE : 0;
	struct hs_scratch *sc;
	struct hs_cursor c;
	uint8_t *dst = buf;
	size_t done = 0;
	int rc = 0;

	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (h->store->cache && !snap && version == h->rec.head && !h->rec.suspended)
		return read_cached(h, state, buf, len, off);
	if (!(sc = hs_scratch__get()))
		return -ENOMEM;
	if ((rc = hs_cursor__open(&c, h, snap)) < 0)
		return rc;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t line = base | (pos >> h->line_shift);
		size_t in = (size_t)(pos & (ls - 1));
		size_t n = (size_t)(ls - in) < len - done ? (size_t)(ls - in) : len - done;

		if (n == ls) {
			rc = hs_line__load(h, &c, line, version, dst + done);
		} else {
			rc = hs_line__load(h, &c, line, version, sc->line);
			if (rc == 0)
				memcpy(dst + done, sc->line + in, n);
		}
		if (rc < 0)
			break;
		done += n;
	}
	hs_cursor__close(&c);
	/* Like a media error: a short read up to the bad line, then the error. */
	return done ? (ssize_t)done : rc;
}

/* Set the heap's or the state's size in the record (caller holds h->lock exclusively). */
static int size_put(hs_heap *h, bool state, uint64_t size)
{
	struct hs_heap_rec copy = h->rec;
	struct hs_batch b;
	int rc;

	*space_size(&copy, state) = size;
	hs_batch__init(&b);
	if ((rc = hs_heap__put_rec(h, b.wb, &copy)) == 0 &&
	    (rc = hs_batch__commit(h, &b, false)) == 0)
		*space_size(&h->rec, state) = size;
	hs_batch__dispose(&b);
	return rc;
}

/*
 * Zero whole line @line in the store, not through the cache, with the
 * line's stripe held: the caller holds h->lock and found no entry for it
 * (or forgot the one it had), so the store has its content.
 */
static int punch_stored_locked(hs_heap *h, uint64_t line)
{
	struct hs_lineval zero = { .zero = true };
	struct hs_cursor cur;
	struct hs_batch b;
	int rc;

	hs_batch__init(&b);
	if ((rc = hs_cursor__open(&cur, h, NULL)) == 0) {
		if ((rc = hs_line__stage(h, &b, &cur, line, &zero, NULL)) == 0)
			rc = hs_batch__commit(h, &b, false);
		hs_cursor__close(&cur);
	}
	hs_batch__dispose(&b);
	return rc;
}

/* punch_stored_locked(), taking the line's stripe. */
static int punch_stored(hs_heap *h, uint64_t line)
{
	int rc;

	hs_heap__stripes_lock(h, &line, 1);
	rc = punch_stored_locked(h, line);
	hs_heap__stripes_unlock(h, &line, 1);
	return rc;
}

/*
 * modify_range() through the line cache: each line is changed in memory
 * under its stripe (loaded first unless it is written whole), so a write
 * costs a copy; the flushers write it back.  An extending write sets the
 * new size first, and cuts it back to what it wrote if it stops short.
 */
/*
 * Write [@in, @in + @n) of @line (@src, or zeros) straight to the store at
 * its exact cost (the limits checked on what the batch really adds), and
 * into @cl, which is clean and holds the line's content (filled unless the
 * write covers it), so the two stay the same.  Under the heap lock and
 * the line's stripe.
 */
static int write_exact(hs_heap *h, struct hs_cline *cl, uint64_t line, size_t in,
		       const uint8_t *src, size_t n)
{
	struct hs_scratch *sc = hs_scratch__get();
	struct hs_cursor c = { 0 };
	struct hs_lineval nv;
	struct hs_batch b;
	int rc;

	if (!sc)
		return -ENOMEM;
	memcpy(sc->line, hs_cache__data(cl), h->rec.line_size);
	if (src)
		memcpy(sc->line + in, src, n);
	else
		memset(sc->line + in, 0, n);
	hs_batch__init(&b);
	b.enforce = true;
	if ((rc = hs_cursor__open(&c, h, NULL)) == 0 &&
	    (rc = hs_line__value_of(h, sc->line, &nv)) == 0 &&
	    (rc = hs_line__stage(h, &b, &c, line, &nv, sc->line)) == 0 &&
	    (rc = hs_batch__commit(h, &b, false)) == 0)
		memcpy(hs_cache__data(cl) + in, sc->line + in, n);
	hs_cursor__close(&c);
	hs_batch__dispose(&b);
	return rc;
}

static ssize_t modify_cached(hs_heap *h, bool state, const uint8_t *src,
			     size_t len, uint64_t off, bool may_extend, bool mapped)
{
	const uint64_t ls = h->rec.line_size, base = state ? HS_STATE_LINE : 0;
	uint64_t end = off + len, old_size = 0;
	struct hs_cursor cur = { 0 };
	bool extended = false;
	size_t done = 0;
	int rc;

	pthread_rwlock_rdlock(&h->lock);
	rc = hs_heap__check_writable(h);
	/*
	 * An extending write holds the heap lock exclusively from growing the
	 * size to its last byte.  Nobody sees the new size before the bytes (a
	 * seal in between checkpointed the new line as zeros), and no truncate
	 * comes between (it left dirty lines past the end, written back later
	 * to reappear when the heap grew).  Extending writes are appends, which
	 * wait for one another on the record write anyway.
	 */
	if (rc == 0 && may_extend && end > *space_size(&h->rec, state)) {
		pthread_rwlock_unlock(&h->lock);
		pthread_rwlock_wrlock(&h->lock);
		if ((rc = hs_heap__check_writable(h)) == 0 &&
		    end > *space_size(&h->rec, state)) {
			old_size = *space_size(&h->rec, state);
			if ((rc = size_put(h, state, end)) == 0)
				extended = true;
		}
	}
	if (rc < 0) {
		pthread_rwlock_unlock(&h->lock);
		return rc;
	}
	if (!may_extend && end > *space_size(&h->rec, state))
		end = *space_size(&h->rec, state) > off ? *space_size(&h->rec, state) : off;
	while (off + done < end) {
		uint64_t pos = off + done, line = base | (pos >> h->line_shift);
		size_t in = (size_t)(pos & (ls - 1));
		size_t n = (size_t)(ls - in) < end - pos ? (size_t)(ls - in) : (size_t)(end - pos);
		struct hs_cline *cl;
		bool zero, charged, exact;

		if ((rc = hs_cache__get(h, line, src || n < ls, &cl)) < 0)
			break;
		if (!cl) {   /* punching a whole line the cache does not hold */
			if ((rc = punch_stored(h, line)) < 0)
				break;
			done += n;
			continue;
		}
		hs_heap__stripes_lock(h, &line, 1);
		/* Punching a whole line the cache holds (and nobody else uses):
		 * the entry goes and the store says zero at once, so its space
		 * returns now, not at write-back (a balloon's answer).  Under
		 * the stripe: a reader that loads the line again waits for it. */
		if (!src && n == ls && hs_cache__forget(h, cl)) {
			rc = punch_stored_locked(h, line);
			hs_heap__stripes_unlock(h, &line, 1);
			if (rc < 0)
				break;
			done += n;
			continue;
		}
		if (n < ls)
			rc = hs_cache__fill(h, cl, &cur, &zero);
		/* A line becoming dirty is charged first (blob.c, limits); one
		 * the charges refuse is written through at its exact cost. */
		charged = exact = false;
		if (rc == 0 && hs_limit__any(h) && !hs_cache__is_dirty(h, cl)) {
			if (src && hs_limit__hold_take(h, line, true)) {
				charged = true;   /* fallocated: its hold is the charge */
			} else {
				rc = hs_limit__charge(h, HS_CHARGE(ls), mapped);
				charged = rc == 0;
				if (rc == -EDQUOT || rc == -ENOSPC) {
					rc = write_exact(h, cl, line, in,
							 src ? src + done : NULL, n);
					exact = true;
				}
			}
		}   /* with no limit at all, hs_cache__dirty() charges it */
		if (rc == 0 && !exact) {
			if (src)
				memcpy(hs_cache__data(cl) + in, src + done, n);
			else
				memset(hs_cache__data(cl) + in, 0, n);
			hs_cache__dirty(h, cl, charged);
		}
		hs_heap__stripes_unlock(h, &line, 1);
		hs_cache__put(h, cl, false);
		if (rc < 0)
			break;
		done += n;
	}
	hs_cursor__close(&cur);
	if (extended && off + done < end) {
		/* A short write earns the size only up to what it wrote, as on
		 * a local file system; one that wrote nothing, none (a write
		 * refused past the end left the size at its offset). */
		uint64_t earned = done && off + done > old_size ? off + done : old_size;

		(void)size_put(h, state, earned);
	}
	pthread_rwlock_unlock(&h->lock);
	return done ? (ssize_t)done : rc;
}

/*
 * Change [off, off + len) of the working version: copy from @src, or zero
 * it when @src is NULL.  Lines are done HS_WRITE_CHUNK_LINES per batch;
 * each batch holds the stripe locks of its lines across read-modify-write
 * and commit.  Growing the heap takes the heap lock exclusively, since it
 * rewrites the heap record.  Returns bytes done (short if a later chunk
 * failed) or -errno.
 */
static ssize_t modify_range(hs_heap *h, bool state, const uint8_t *src,
			    size_t len, uint64_t off, bool may_extend, bool mapped)
{
	const uint64_t base = state ? HS_STATE_LINE : 0;
	const uint64_t end = off + len;
	uint64_t lines[HS_WRITE_CHUNK_LINES];
	size_t done = 0;
	int rc = 0;

	if (h->store->cache)
		return modify_cached(h, state, src, len, off, may_extend, mapped);
	while (done < len) {
		uint64_t pos = off + done, ls, first, chunk_end, n_lines;
		struct hs_scratch *sc = hs_scratch__get();
		struct hs_batch b;
		struct hs_cursor c;
		bool excl = false;

		if (!sc) {
			rc = -ENOMEM;
			break;
		}
		pthread_rwlock_rdlock(&h->lock);
		ls = h->rec.line_size;
		first = pos >> h->line_shift;
		chunk_end = (first + HS_WRITE_CHUNK_LINES) << h->line_shift;
		if (chunk_end > end)
			chunk_end = end;
		if (may_extend && chunk_end > *space_size(&h->rec, state)) {
			pthread_rwlock_unlock(&h->lock);
			pthread_rwlock_wrlock(&h->lock);
			excl = true;
		}
		if ((rc = hs_heap__check_writable(h)) < 0) {
			pthread_rwlock_unlock(&h->lock);
			break;
		}
		if (!may_extend && chunk_end > *space_size(&h->rec, state)) {
			uint64_t size = *space_size(&h->rec, state);

			chunk_end = size > pos ? size : pos;
		}
		if (chunk_end == pos) {
			pthread_rwlock_unlock(&h->lock);
			break;
		}
		n_lines = ((chunk_end - 1) >> h->line_shift) - first + 1;
		for (uint64_t i = 0; i < n_lines; i++)
			lines[i] = base | (first + i);
		hs_heap__stripes_lock(h, lines, n_lines);
		if ((rc = hs_cursor__open(&c, h, NULL)) < 0) {
			hs_heap__stripes_unlock(h, lines, n_lines);
			pthread_rwlock_unlock(&h->lock);
			break;
		}
		hs_batch__init(&b);
		b.enforce = !mapped;   /* written through: its exact cost */
		b.mapped = mapped;
		for (uint64_t i = 0; i < n_lines && rc == 0; i++) {
			uint64_t lstart = (first + i) << h->line_shift;
			uint64_t a = pos > lstart ? pos : lstart;
			uint64_t z = chunk_end < lstart + ls ? chunk_end : lstart + ls;
			const uint8_t *content;
			struct hs_lineval nv;

			if (a == lstart && z == lstart + ls && src) {
				content = src + (a - off);
			} else {
				rc = hs_line__load(h, &c, lines[i], h->rec.head, sc->line);
				if (rc < 0)
					break;
				if (src)
					memcpy(sc->line + (a - lstart), src + (a - off), z - a);
				else
					memset(sc->line + (a - lstart), 0, z - a);
				content = sc->line;
			}
			if ((rc = hs_line__value_of(h, content, &nv)) == 0)
				rc = hs_line__stage(h, &b, &c, lines[i], &nv, content);
		}
		if (rc == 0 && excl && chunk_end > *space_size(&h->rec, state)) {
			struct hs_heap_rec copy = h->rec;

			*space_size(&copy, state) = chunk_end;
			if ((rc = hs_heap__put_rec(h, b.wb, &copy)) == 0 &&
			    (rc = hs_batch__commit(h, &b, false)) == 0)
				*space_size(&h->rec, state) = chunk_end;
		} else if (rc == 0) {
			rc = hs_batch__commit(h, &b, false);
		}
		hs_batch__dispose(&b);
		hs_cursor__close(&c);
		hs_heap__stripes_unlock(h, lines, n_lines);
		pthread_rwlock_unlock(&h->lock);
		if (rc < 0)
			break;
		done += (size_t)(chunk_end - pos);
	}
	return done ? (ssize_t)done : rc;
}

static int range_check(uint64_t off, uint64_t len, uint64_t limit, int rc)
{
	if (off > limit || len > limit - off)
		return hs_errno_set(rc, "range [%llu, +%llu) passes the largest heap (%llu bytes)",
				    (unsigned long long)off, (unsigned long long)len,
				    (unsigned long long)limit);
	return 0;
}

/*
 * After a refusal (@rc, -EDQUOT or -ENOSPC) of @bytes by a limit whose
 * generation was @gen: write the heap's dirty lines back once (*@settled;
 * their pessimistic charges become real sizes), then tell the space hook
 * and wait until *@deadline (set at the first wait, wait_ms on) for space
 * to be freed.  Returns true to try again, false to give up.
 */
static bool space_wait(hs_heap *h, int rc, uint64_t bytes, uint64_t gen, bool *settled,
		       uint64_t *deadline, int *why)
{
	if (!*settled) {
		*settled = true;
		if (hs_cache__preflush(h) == 0)
			return true;
	}
	if (!*deadline) {
		*deadline = hs_now_ns() + (uint64_t)h->store->wait_ms * 1000000u;
		if (h->store->space_hook && h->store->wait_ms) {
			h->store->space_hook(h->store->space_hook_arg, h->id, rc, bytes);
			*why = rc;
		}
	}
	if (hs_now_ns() >= *deadline)
		return false;
	hs_limit__wait(h->store, gen, *deadline);
	return true;
}

/* The wait space_wait() told the hook of (@why, its -errno; 0: none)
 * ended, served or not: its @bytes are no longer wanted. */
static void space_done(hs_heap *h, int why, uint64_t bytes)
{
	if (why && h->store->space_hook)
		h->store->space_hook(h->store->space_hook_arg, h->id, -why, bytes);
}

/*
 * A write refused by a limit first writes back the heap's dirty lines
 * (their pessimistic charges become real sizes) and tries again, then
 * waits up to wait_ms for space to be freed (a commit that drops bytes, a
 * write-back, a quota raised, a checkpoint removed), trying again at each.
 * Without the cache a batch of lines is refused whole, so a refused write
 * of several lines goes on a line at a time: the lines that fit are
 * written and the write is short, as with the cache (and as write(2) on
 * a full disk).
 */
static ssize_t write_waiting(hs_heap *h, bool state, const uint8_t *buf, size_t len,
			     uint64_t off, bool mapped)
{
	const uint64_t ls = (uint64_t)1 << h->line_shift;
	uint64_t deadline = 0, waited = 0;
	bool settled = false, by_line = false;
	size_t done = 0;
	int why = 0;
	ssize_t r;

	for (;;) {
		uint64_t gen = hs_limit__gen(h->store);
		size_t n = len - done, edge = (size_t)(ls - ((off + done) & (ls - 1)));

		if (by_line && n > edge)
			n = edge;
		r = modify_range(h, state, buf + done, n, off + done, true, mapped);
		if (r > 0)
			done += (size_t)r;
		if (done == len || r == 0)
			break;
		if (r > 0)
			continue;   /* short: the rest says why */
		if (r != -EDQUOT && r != -ENOSPC)
			break;
		if (!by_line && n > edge) {
			by_line = true;
			continue;
		}
		if (!deadline)
			waited = len - done;   /* what the hook was told it waits for */
		if (!space_wait(h, (int)r, waited, gen, &settled, &deadline, &why))
			break;
	}
	space_done(h, why, waited);
	return done ? (ssize_t)done : r;
}

ssize_t hs_heap_pwrite(hs_heap *h, const void *buf, size_t len, uint64_t off,
		       unsigned flags)
{
	int rc = range_check(off, len, HS_HEAP_SIZE_MAX, -EFBIG);

	if (rc < 0)
		return rc;
	if (flags & ~(unsigned)HS_WRITE_MAPPED)
		return hs_errno_set(-EINVAL, "unknown write flags %#x", flags);
	if (len == 0)
		return 0;
	return write_waiting(h, false, buf, len, off, flags & HS_WRITE_MAPPED);
}

/* Refused by a limit, it waits for space as a write does (space_wait). */
int hs_heap_allocate(hs_heap *h, uint64_t off, uint64_t len)
{
	uint64_t deadline = 0;
	bool settled = true;   /* its own lines are written back below */
	int rc, why = 0;

	if (len == 0)
		return 0;
	if ((rc = range_check(off, len, HS_HEAP_SIZE_MAX, -EFBIG)) < 0 ||
	    (rc = hs_cache__preflush(h)) < 0)
		return rc;
	for (;;) {
		uint64_t gen = hs_limit__gen(h->store);

		/* Exclusively, with the dirty lines written back: the store says
		 * which lines are holes, and no write fills one meanwhile. */
		pthread_rwlock_wrlock(&h->lock);
		if ((rc = hs_heap__check_writable(h)) == 0 && (rc = hs_cache__flush_heap(h)) == 0)
			rc = hs_limit__hold_add(h, off >> h->line_shift,
						(off + len - 1) >> h->line_shift);
		pthread_rwlock_unlock(&h->lock);
		if ((rc != -EDQUOT && rc != -ENOSPC) ||
		    !space_wait(h, rc, len, gen, &settled, &deadline, &why))
			break;
	}
	space_done(h, why, len);
	return rc;
}

ssize_t hs_heap_write(hs_heap *h, const void *buf, size_t len, uint64_t off)
{
	return hs_heap_pwrite(h, buf, len, off, 0);
}

int hs_heap_punch(hs_heap *h, uint64_t off, uint64_t len)
{
	ssize_t n;

	if (off > INT64_MAX || len > INT64_MAX - off)
		return hs_errno_set(-EINVAL, "offset %llu + length %llu overflows",
				    (unsigned long long)off, (unsigned long long)len);
	if (len == 0)
		return 0;
	n = modify_range(h, false, NULL, (size_t)len, off, false, false);
	if (n < 0)
		return (int)n;
	/* Whole lines punched are deallocated, as on a disk: their holds go. */
	{
		uint64_t ls = h->rec.line_size, first = (off + ls - 1) / ls, end = (off + len) / ls;

		if (end > first)
			hs_limit__hold_drop(h->store, h->id, first, end - 1, true);
	}
	return 0;
}

/* Set the size of the heap or of its state, zeroing what falls outside. */
static int truncate_space(hs_heap *h, bool state, uint64_t size)
{
	const uint64_t base = state ? HS_STATE_LINE : 0;
	struct hs_scratch *sc = hs_scratch__get();
	rocksdb_iterator_t *scan = NULL;
	struct hs_cursor c = { 0 };
	struct hs_batch b;
	struct hs_heap_rec copy;
	int rc;

	if (!sc)
		return -ENOMEM;
	hs_batch__init(&b);
	pthread_rwlock_wrlock(&h->lock);
	if ((rc = hs_heap__check_writable(h)) < 0)
		goto out;
	/* The store decides below: written back first, and no entry stays
	 * for a line the truncate changes. */
	if (h->store->cache && size < *space_size(&h->rec, state)) {
		if ((rc = hs_cache__flush_heap(h)) < 0)
			goto out;
		hs_cache__drop(h, false, state, size >> h->line_shift);
	}
	if (size < *space_size(&h->rec, state)) {
		uint64_t line_sz = h->rec.line_size;
		uint64_t keep = (size + line_sz - 1) >> h->line_shift;
		uint8_t key[HS_LINE_KEY_LEN];

		/* The partial last line keeps its head and loses its tail. */
		if ((rc = hs_cursor__open(&c, h, NULL)) < 0)
			goto out;
		if (size & (line_sz - 1)) {
			struct hs_lineval nv;
			size_t in = (size_t)(size & (line_sz - 1));

			if ((rc = hs_line__load(h, &c, base | (keep - 1), h->rec.head, sc->line)) < 0)
				goto out;
			memset(sc->line + in, 0, line_sz - in);
			if ((rc = hs_line__value_of(h, sc->line, &nv)) < 0 ||
			    (rc = hs_line__stage(h, &b, &c, base | (keep - 1), &nv, sc->line)) < 0)
				goto out;
		}
		/* Every line with entries past the end becomes zero. */
		scan = hs_line__iter(h);
		for (uint64_t line = base | keep;;) {
			struct hs_lineval cur = { .zero = true }, zero = { .zero = true };
			uint64_t kh, kv;
			size_t kl;
			const char *k;

			hs_key__line(key, h->id, line, UINT64_MAX);
			rocksdb_iter_seek(scan, (const char *)key, sizeof(key));
			if (!rocksdb_iter_valid(scan)) {
				rc = hs_iter__error(scan, "truncating");
				break;
			}
			k = rocksdb_iter_key(scan, &kl);
			if (kl != HS_LINE_KEY_LEN)
				break;
			hs_key__line_parse((const uint8_t *)k, &kh, &line, &kv);
			if (kh != h->id || (line & HS_STATE_LINE) != base)
				break;
			if ((rc = hs_line__lookup(h, &c, line, h->rec.head, &cur, NULL)) < 0)
				goto out;
			if (!cur.zero && (rc = hs_line__stage(h, &b, &c, line, &zero, NULL)) < 0)
				goto out;
			line++;
		}
		if (rc < 0)
			goto out;
	}
	copy = h->rec;
	*space_size(&copy, state) = size;
	if ((rc = hs_heap__put_rec(h, b.wb, &copy)) == 0 &&
	    (rc = hs_batch__commit(h, &b, true)) == 0)
		*space_size(&h->rec, state) = size;
out:
	pthread_rwlock_unlock(&h->lock);
	if (scan)
		rocksdb_iter_destroy(scan);
	hs_cursor__close(&c);
	hs_batch__dispose(&b);
	return rc;
}

int hs_heap_truncate(hs_heap *h, uint64_t size)
{
	int rc;

	if (size > HS_HEAP_SIZE_MAX)
		return hs_errno_set(-EFBIG, "size %llu beyond the largest heap (%llu)",
				    (unsigned long long)size,
				    (unsigned long long)HS_HEAP_SIZE_MAX);
	if ((rc = truncate_space(h, false, size)) == 0) {
		/* Lines cut off are deallocated, as on a disk: their holds go. */
		uint64_t ls = h->rec.line_size;

		hs_limit__hold_drop(h->store, h->id, (size + ls - 1) / ls, UINT64_MAX, true);
	}
	return rc;
}

/* ---- the state file: the heap's second byte space ---------------------- */

ssize_t hs_state_write(hs_heap *h, const void *buf, size_t len, uint64_t off)
{
	if (len == 0)
		return 0;
	if (off >= HS_STATE_SIZE_MAX)
		return hs_errno_set(-EFBIG, "state offset %llu is at or past the state's limit (%llu bytes)",
				    (unsigned long long)off,
				    (unsigned long long)HS_STATE_SIZE_MAX);
	if (len > HS_STATE_SIZE_MAX - off)
		len = (size_t)(HS_STATE_SIZE_MAX - off);
	return write_waiting(h, true, buf, len, off, false);
}

int hs_state_truncate(hs_heap *h, uint64_t size)
{
	if (size > HS_STATE_SIZE_MAX)
		return hs_errno_set(-EFBIG, "state size %llu beyond its limit (%llu bytes)",
				    (unsigned long long)size,
				    (unsigned long long)HS_STATE_SIZE_MAX);
	return truncate_space(h, true, size);
}

/* ---- write-back and the next line ----------------------------------------- */

int hs_heap_flush(hs_heap *h)
{
	int rc;

	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) == 0)
		rc = hs_cache__flush_heap(h);
	pthread_rwlock_unlock(&h->lock);
	if (rc == 0)
		rc = hs_cache__take_error(h);
	return rc;
}

int64_t hs_heap_cache_trim(hs_heap *h, uint64_t keep)
{
	int rc = hs_heap_flush(h);

	return rc < 0 ? rc : (int64_t)hs_cache__trim(h, keep);
}

int hs_heap_sync(hs_heap *h)
{
	int rc = hs_heap_flush(h);

	if (rc == 0)
		rc = hs_store__sync(h->store);
	/* Mapped stores taken over a limit: kept and durable, and said once,
	 * here, as fsync(2) and msync(2) report a failed write-back. */
	if (rc == 0 && (rc = atomic_exchange(&h->limit_error, 0)) < 0)
		hs_errno_set(rc, "heap '%s': stores through a mapping went over its %s; "
			     "they are kept, but writes fail until space is freed", h->rec.name,
			     rc == -EDQUOT ? "quota" : "pool");
	return rc;
}

int hs_heap_line_next(hs_heap *h, uint64_t version, uint64_t from_line,
		      uint64_t *line_out)
{
	hs_version_info vi;
	rocksdb_iterator_t *it;
	uint64_t size, lines_end, line = from_line;
	int rc;

	pthread_rwlock_rdlock(&h->lock);
	if ((rc = hs_heap__check_live(h)) < 0)
		goto unlock;
	if (version == HS_VERSION_LIVE || version == h->rec.head) {
		version = h->rec.head;
		size = h->rec.size;
		if ((rc = hs_cache__flush_heap(h)) < 0)   /* the store decides */
			goto unlock;
	} else if ((rc = hs_version__exists(h, version, &vi)) < 0) {
		goto unlock;
	} else {
		size = vi.size_bytes;
	}
	lines_end = (size + h->rec.line_size - 1) >> h->line_shift;
	it = hs_line__iter(h);
	rc = -ENXIO;
	while (line < lines_end) {
		uint8_t key[HS_LINE_KEY_LEN];
		uint64_t kh, kline, kv;
		size_t kl;
		const char *k;

		hs_key__line(key, h->id, line, version);
		rocksdb_iter_seek(it, (const char *)key, sizeof(key));
		if (!rocksdb_iter_valid(it)) {
			int e = hs_iter__error(it, "listing lines");

			rc = e < 0 ? e : -ENXIO;
			break;
		}
		k = rocksdb_iter_key(it, &kl);
		if (kl != HS_LINE_KEY_LEN)
			break;
		hs_key__line_parse((const uint8_t *)k, &kh, &kline, &kv);
		if (kh != h->id || kline >= lines_end)
			break;
		if (kline > line) {   /* no entry at or below version: next line */
			line = kline;
			continue;
		}
		if (rocksdb_iter_value(it, &kl), kl != 0) {
			*line_out = line;
			rc = 0;
			break;
		}
		line++;
	}
	rocksdb_iter_destroy(it);
unlock:
	pthread_rwlock_unlock(&h->lock);
	return rc;
}
