/*
 * cache.c - the line cache: live lines of every heap of a store, decoded,
 * in memory bounded by hs_store_opts.cache_bytes, written back to the
 * store in batches by flusher threads (DESIGN.md part 2, "The line cache").
 *
 * A line is Empty (an entry whose content is not loaded yet), Clean (equal
 * to the store), Dirty (newer than the store) or Flushing (being written
 * back); a line with no entry is Persistent: the store holds it.  Reads and
 * writes of the live heap go through entries; everything else (checkpoints,
 * restore, truncate, transactions, diff, SEEK_DATA) first writes the heap's
 * dirty lines back and then works on the store as before, under the heap
 * lock held exclusively where it changes live lines behind the cache.
 *
 * Memory comes in blocks of cache=/16 (4 MiB at least, so a block holds
 * lines of any size), one mapped at open and the rest when misses need
 * room and the limit allows, each cut into slots of one line size and
 * filled earliest first, so the latest empty first.  Every release_ns
 * (60 s unless the store's options say otherwise) the latest empty block
 * idle for idle_ns (5 min) is given back if another empty one has been
 * idle as long: one empty block always stays as headroom.  Given back
 * lazily (MADV_FREE): the kernel takes the pages when it needs memory, and
 * the mapping stays as a spare that the next growth takes before mapping
 * anew, so a cache that shrinks and grows again while memory is plentiful
 * faults nothing in.  Fresh memory is dear: on a VM here a fresh 256 MiB
 * took 0.4-1.1 s of page faults and compaction, while writing it takes
 * 0.15 s.  Blocks and spares together never map more than the limit.
 * Clean lines idle as long are evicted by the same tick.
 *
 * Locks (the whole order: heapstore_int.h): heap->lock -> heap->stripes[]
 * -> cache->lock, a leaf.  An entry's content is read and written under its
 * line's stripe lock; the entry itself (state, lists, pins) under
 * cache->lock.  A pinned entry
 * (pins > 0) is in use by a thread that will take its stripe and is never
 * evicted.  Write-back holds a line's stripe while it hashes, compresses and
 * stages that line, so a write to a line being flushed waits for that one
 * line (a lock, not a shadow copy: no second copy of the line is needed).
 * A write that lands after, while the batch is still being committed, marks
 * the line to stay dirty when the batch ends.  Whole batches under their
 * stripes made a writer that caught up with write-back wait for 64 lines at
 * a time: sequential rewrites of a heap fell from ~2 GB/s to ~500 MB/s
 * whenever its lines expired.  Nothing waits for
 * room while holding a stripe, and write-back only try-locks the heaps it
 * does not already hold, so a full cache cannot deadlock: some holder of
 * each heap can always write its own lines back.
 *
 * The cache holds a reference on every heap that has entries, so a heap
 * object outlives its cached lines; references are dropped outside
 * cache->lock (hs_heap_close takes the store lock).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "heapstore_int.h"

#define HS_CACHE_BLOCK_MIN (HS_CACHE_MIN / 2)
#define HS_CACHE_BLOCKS 16                         /* a full cache: cache= in blocks */
#define HS_CACHE_EXPIRE_NS (5ULL * 1000000000ULL)  /* dirty lines get written back */
#define HS_CACHE_TICK_MS 100
#define HS_FLUSH_BATCH 64                          /* lines per write-back batch */
#define HS_FLUSH_BATCH_BYTES (1u << 20)   /* each is copied into a WriteBatch */
#define WB_POOL 4                          /* WriteBatches kept for reuse */

enum cl_state { CL_EMPTY, CL_CLEAN, CL_DIRTY };

struct hs_cblock {
	uint8_t *mem;
	uint32_t slot_size, n_slots, n_used;
	uint64_t *used;                   /* a bit per slot of the smallest line size */
	uint64_t empty_since;             /* when n_used became 0 */
	struct hs_cblock *prev, *next;
};

struct hs_cline {
	uint64_t heap_id, line;
	hs_heap *heap;
	uint8_t *data;
	struct hs_cblock *block;
	uint32_t slot;
	/* Changed under cache->lock; read there, or without it (atomically)
	 * under the line's stripe, where only Empty -> not Empty matters. */
	_Atomic uint8_t state;
	bool flushing;
	bool redirtied;                   /* written while flushing: stays dirty */
	int pins;
	uint64_t touched;                 /* last use, for idle eviction */
	uint64_t dirtied;                 /* when it became dirty */
	struct hs_cline *hnext;           /* hash chain */
	struct hs_cline *prev, *next;     /* global LRU, or the heap's dirty list */
	struct hs_cline *hprev, *hnext2;  /* the heap's resident list */
};

struct hs_cache {
	hs_store *s;
	pthread_mutex_t lock;
	pthread_cond_t room;              /* lines became clean, or were evicted */
	pthread_cond_t flushed;           /* a write-back batch finished */
	pthread_cond_t work;              /* wakes the flushers */
	uint64_t limit, blocks_max;
	uint64_t block_bytes;
	uint64_t idle_ns, release_ns;
	uint64_t released;                /* when a block last went */
	struct hs_cblock *blocks, *blocks_tail;   /* every block, earliest first */
	uint64_t n_blocks;
	struct hs_cblock *spares;         /* given back, still mapped (next only) */
	uint64_t n_spares;
	struct hs_cline **buckets;
	size_t mask;
	struct hs_cline *lru_head, *lru_tail;  /* Empty and Clean, MRU first */
	hs_heap *dirty_head, *dirty_tail;      /* heaps with dirty lines */
	uint64_t bytes_used, bytes_dirty, lines, lines_dirty;
	hs_cache_stats st;
	int error;                        /* a write-back failure not yet reported
					     by hs_store_flush() */
	rocksdb_writebatch_t *wb_pool[WB_POOL];   /* emptied, their buffers grown */
	int n_wb;
	hs_mem_policy pol;                /* how heaps share it (pol.take: set) */
	bool stop;
	pthread_t *threads;
	int n_threads;
};

static uint64_t hash_key(uint64_t heap_id, uint64_t line)
{
	uint64_t x = heap_id * 0x9E3779B97F4A7C15ULL ^ line;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* ---- lists (cache->lock held) ----------------------------------------- */

static void lru_unlink(hs_cache *c, struct hs_cline *cl)
{
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->lru_head = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	else
		c->lru_tail = cl->prev;
	cl->prev = cl->next = NULL;
}

static void lru_push(hs_cache *c, struct hs_cline *cl)
{
	cl->prev = NULL;
	cl->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = cl;
	else
		c->lru_tail = cl;
	c->lru_head = cl;
}

static void dheap_unlink(hs_cache *c, hs_heap *h)
{
	struct hs_cheap *ch = &h->cache;

	if (!ch->in_dirty)
		return;
	if (ch->dprev)
		ch->dprev->cache.dnext = ch->dnext;
	else
		c->dirty_head = ch->dnext;
	if (ch->dnext)
		ch->dnext->cache.dprev = ch->dprev;
	else
		c->dirty_tail = ch->dprev;
	ch->dprev = ch->dnext = NULL;
	ch->in_dirty = false;
}

static void dheap_append(hs_cache *c, hs_heap *h)
{
	struct hs_cheap *ch = &h->cache;

	ch->dnext = NULL;
	ch->dprev = c->dirty_tail;
	if (c->dirty_tail)
		c->dirty_tail->cache.dnext = h;
	else
		c->dirty_head = h;
	c->dirty_tail = h;
	ch->in_dirty = true;
}

static void dirty_unlink(hs_cache *c, struct hs_cline *cl)
{
	struct hs_cheap *ch = &cl->heap->cache;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		ch->dirty_head = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	else
		ch->dirty_tail = cl->prev;
	cl->prev = cl->next = NULL;
	if (!ch->dirty_head)
		dheap_unlink(c, cl->heap);
}

static void dirty_append(hs_cache *c, struct hs_cline *cl)
{
	struct hs_cheap *ch = &cl->heap->cache;

	cl->next = NULL;
	cl->prev = ch->dirty_tail;
	if (ch->dirty_tail)
		ch->dirty_tail->next = cl;
	else
		ch->dirty_head = cl;
	ch->dirty_tail = cl;
	if (!ch->in_dirty)
		dheap_append(c, cl->heap);
}

/* ---- blocks ------------------------------------------------------------ */

static void block_unmap(hs_cache *c, struct hs_cblock *b)
{
	munmap(b->mem, c->block_bytes);
	free(b->used);
	free(b);
}

/* Give @b's memory back: lazily, keeping it as a spare, unless @unmap. */
static void block_free(hs_cache *c, struct hs_cblock *b, bool unmap)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		c->blocks = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		c->blocks_tail = b->prev;
	c->n_blocks--;
	c->st.blocks_returned++;
	if (!unmap && madvise(b->mem, c->block_bytes, MADV_FREE) == 0) {
		b->next = c->spares;
		c->spares = b;
		c->n_spares++;
		return;
	}
	block_unmap(c, b);
}

/* Words of a block's slot bitmap: a bit per slot of the smallest lines. */
static size_t used_words(const hs_cache *c)
{
	return (size_t)(c->block_bytes / HS_LINE_SIZE_MIN + 63) / 64;
}

/* A block mapped afresh, with no slot size yet; NULL without memory. */
static struct hs_cblock *block_map(hs_cache *c)
{
	struct hs_cblock *b = calloc(1, sizeof(*b));

	if (!b || !(b->used = calloc(used_words(c), sizeof(*b->used)))) {
		free(b);
		return NULL;
	}
	b->mem = mmap(NULL, c->block_bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED) {
		free(b->used);
		free(b);
		return NULL;
	}
	/*
	 * Two huge pages where the kernel has them: a new block was 1024
	 * page faults, and first writes to a fresh 256 MiB heap ran at half
	 * the speed of rewrites (500 against 1100-1400 MiB/s).  RSS is no
	 * higher: the limit counts whole blocks.
	 */
	(void)madvise(b->mem, c->block_bytes, MADV_HUGEPAGE);
	return b;
}

static struct hs_cblock *block_new(hs_cache *c)
{
	struct hs_cblock *b = c->spares;

	if (b) {   /* its pages, unless the kernel took them: no faults */
		uint8_t *mem = b->mem;
		uint64_t *used = b->used;

		c->spares = b->next;
		c->n_spares--;
		memset(b, 0, sizeof(*b));
		memset(used, 0, used_words(c) * sizeof(*used));
		b->mem = mem;
		b->used = used;
	} else if (!(b = block_map(c))) {
		return NULL;
	}
	b->empty_since = hs_now_ns();
	b->prev = c->blocks_tail;   /* the latest: filled last */
	if (c->blocks_tail)
		c->blocks_tail->next = b;
	else
		c->blocks = b;
	c->blocks_tail = b;
	c->n_blocks++;
	c->st.blocks_grown++;
	return b;
}

/* A free slot of @size bytes from the blocks we have, the earliest first
 * (so the latest empty first and can go), or NULL. */
static bool slot_take(hs_cache *c, uint32_t size, struct hs_cblock **bo, uint32_t *so)
{
	struct hs_cblock *empty = NULL;

	for (struct hs_cblock *b = c->blocks; b; b = b->next) {
		if (b->n_used == 0 && !empty)
			empty = b;
		if (b->n_used && b->slot_size == size && b->n_used < b->n_slots) {
			*bo = b;
			break;
		}
	}
	if (!*bo && empty) {   /* an empty block takes any line size */
		*bo = empty;
		empty->slot_size = size;
		empty->n_slots = (uint32_t)(c->block_bytes / size);
	}
	if (!*bo)
		return false;
	for (uint32_t w = 0;; w++) {
		uint64_t free_bits = ~(*bo)->used[w];

		if (w * 64 + 64 > (*bo)->n_slots)
			free_bits &= (*bo)->n_slots - w * 64 >= 64 ? ~0ULL :
				((1ULL << ((*bo)->n_slots - w * 64)) - 1);
		if (free_bits) {
			unsigned bit = (unsigned)__builtin_ctzll(free_bits);

			(*bo)->used[w] |= 1ULL << bit;
			(*bo)->n_used++;
			*so = w * 64 + bit;
			return true;
		}
	}
}

static void slot_give(hs_cache *c, struct hs_cblock *b, uint32_t slot)
{
	(void)c;
	b->used[slot / 64] &= ~(1ULL << (slot % 64));
	if (--b->n_used == 0)
		b->empty_since = hs_now_ns();
}

/* ---- entries (cache->lock held) ---------------------------------------- */

static struct hs_cline *find(hs_cache *c, uint64_t heap_id, uint64_t line)
{
	struct hs_cline *cl = c->buckets[hash_key(heap_id, line) & c->mask];

	while (cl && (cl->heap_id != heap_id || cl->line != line))
		cl = cl->hnext;
	return cl;
}

/*
 * Remove @cl from everything and free it; the heap reference the cache
 * held goes into *@release when it was the heap's last entry.
 */
static void entry_free(hs_cache *c, struct hs_cline *cl, hs_heap **release)
{
	struct hs_cline **pp = &c->buckets[hash_key(cl->heap_id, cl->line) & c->mask];
	struct hs_cheap *ch = &cl->heap->cache;
	uint32_t size = cl->heap->rec.line_size;

	while (*pp != cl)
		pp = &(*pp)->hnext;
	*pp = cl->hnext;
	if (cl->state == CL_DIRTY) {
		dirty_unlink(c, cl);
		c->bytes_dirty -= size;
		c->lines_dirty--;
		ch->n_dirty--;
		hs_limit__uncharge(cl->heap, HS_CHARGE(size));
	} else {
		lru_unlink(c, cl);
	}
	if (cl->hprev)
		cl->hprev->hnext2 = cl->hnext2;
	else
		ch->res_head = cl->hnext2;
	if (cl->hnext2)
		cl->hnext2->hprev = cl->hprev;
	slot_give(c, cl->block, cl->slot);
	c->bytes_used -= size;
	c->lines--;
	if (c->pol.give)
		c->pol.give(c->pol.arg, cl->heap_id, size);
	*release = NULL;
	if (--ch->n_resident == 0)
		*release = cl->heap;
	free(cl);
}

/* Whose lines evict_one() may take. */
enum ev_whose {
	EV_END,        /* the end of an order */
	EV_ANY,        /* anyone's (no policy) */
	EV_OWN,        /* the asking heap's */
	EV_IDLE,       /* heaps' the policy lent idle memory */
	EV_BORROWED,   /* heaps' past their reservations (the asker's too) */
};

/*
 * Evict the least recently used unpinned Empty or Clean line of those
 * @whose names, for @asker; false if none.  The policy ranks a heap once
 * per run of its lines; a reserved line of another heap passed over goes
 * to the head of the LRU (no other heap may take it, so it would only be
 * passed over again), which keeps later scans short.
 */
static bool evict_one(hs_cache *c, const hs_heap *asker, enum ev_whose whose,
		      hs_heap **release)
{
	const hs_heap *ranked = NULL;
	int rank = HS_MEM_REFUSED;
	uint64_t passed = 0;

	for (struct hs_cline *cl = c->lru_tail, *prev; cl && passed++ <= c->lines; cl = prev) {
		bool ok = true;

		prev = cl->prev;
		if (cl->pins || cl->flushing)
			continue;
		if (whose == EV_OWN) {
			ok = cl->heap == asker;
		} else if (whose != EV_ANY) {
			if (cl->heap != ranked) {
				ranked = cl->heap;
				rank = c->pol.rank(c->pol.arg, cl->heap_id);
			}
			ok = whose == EV_IDLE ? rank == HS_MEM_IDLE : rank != HS_MEM_REFUSED;
			if (rank == HS_MEM_REFUSED && cl->heap != asker) {
				lru_unlink(c, cl);
				lru_push(c, cl);
			}
		}
		if (!ok)
			continue;
		cl->heap->cache.evictions++;
		c->st.evictions++;
		entry_free(c, cl, release);
		return true;
	}
	return false;
}

/*
 * Whose lines make room for @h, in order, given the policy's @verdict on
 * it (EV_END ends the list).  Idle loans go first, anyone's (the least
 * recently used of them); then a heap the policy serves takes what others
 * (or it) borrowed past their reservations, one it refuses its own lines,
 * and only then, as a fault that cannot wait, others' borrowed ones.  A
 * heap past its quota takes only its own (its dirty ones written back
 * first).  Reserved lines are never taken for another heap.
 */
static const enum ev_whose *evict_order(const hs_cache *c, int verdict)
{
	static const enum ev_whose none[] = { EV_ANY, EV_END };
	static const enum ev_whose served[] = { EV_IDLE, EV_BORROWED, EV_OWN, EV_END };
	static const enum ev_whose refused[] = { EV_IDLE, EV_OWN, EV_BORROWED, EV_END };
	static const enum ev_whose over[] = { EV_OWN, EV_END };

	if (!c->pol.take)
		return none;
	return verdict == HS_MEM_OVER ? over : verdict == HS_MEM_REFUSED ? refused : served;
}

/* Heap @h's clean resident bytes (with c->lock held). */
static uint64_t clean_bytes(const hs_heap *h)
{
	return (h->cache.n_resident - h->cache.n_dirty) * (uint64_t)h->rec.line_size;
}

/*
 * Drop a reference the cache took.  Only the last one goes through
 * hs_heap_close() and the store lock: callers may hold a heap lock, and
 * hs_heap_delete() takes a heap lock under the store lock.  When it is the
 * last, nobody holds this heap's lock (that needs a reference).
 */
static void heap_unref(hs_heap *h)
{
	if (atomic_fetch_sub(&h->refs, 1) > 1)
		return;
	atomic_fetch_add(&h->refs, 1);   /* hs_heap_close() frees it, or an opener keeps it */
	hs_heap_close(h);
}

/* Release the heap references entry_free() handed back. */
static void release_all(hs_heap **arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		heap_unref(arr[i]);
}

/* ---- write-back -------------------------------------------------------- */

static int line_cmp(const void *a, const void *b)
{
	const struct hs_cline *x = *(const struct hs_cline *const *)a;
	const struct hs_cline *y = *(const struct hs_cline *const *)b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * A WriteBatch for write-back.  Reused ones keep their grown buffer: growing
 * a fresh one to 1 MiB faulted in new pages for every batch (with the
 * daemon's 128 KiB mmap threshold), over half of write-back's page faults.
 */
static rocksdb_writebatch_t *wb_take(hs_cache *c)
{
	rocksdb_writebatch_t *wb = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_wb)
		wb = c->wb_pool[--c->n_wb];
	pthread_mutex_unlock(&c->lock);
	return wb;
}

/*
 * Write back up to one batch of @h's dirty lines, oldest first.  The caller
 * holds h->lock (either mode) and none of h's stripes.  Returns how many
 * lines it wrote back, or -errno (the lines stay dirty).
 */
static int flush_batch(hs_cache *c, hs_heap *h)
{
	struct hs_cline *cls[HS_FLUSH_BATCH];
	struct hs_cursor cur;
	struct hs_batch b;
	size_t n = 0, bytes = 0;
	int rc;

	pthread_mutex_lock(&c->lock);
	for (struct hs_cline *cl = h->cache.dirty_head; cl && n < HS_FLUSH_BATCH &&
	     bytes < HS_FLUSH_BATCH_BYTES; cl = cl->next) {
		if (cl->flushing)
			continue;
		cl->flushing = true;
		h->cache.n_flushing++;
		cls[n++] = cl;
		bytes += h->rec.line_size;
	}
	pthread_mutex_unlock(&c->lock);
	if (n == 0)
		return 0;
	qsort(cls, n, sizeof(*cls), line_cmp);
	hs_batch__init_wb(&b, wb_take(c));
	if (h->deleted) {
		rc = 0;   /* its lines die with it: nothing to write */
	} else if ((rc = hs_cursor__open(&cur, h, NULL)) == 0) {
		/* Nothing else changes these lines' entries: they are ours to
		 * write back, and the heap lock keeps out everything else. */
		for (size_t i = 0; i < n && rc == 0; i++) {
			struct hs_lineval nv;
			uint64_t line = cls[i]->line;

			hs_heap__stripes_lock(h, &line, 1);
			if ((rc = hs_line__value_of(h, cls[i]->data, &nv)) == 0)
				rc = hs_line__stage(h, &b, &cur, line, &nv, cls[i]->data);
			hs_heap__stripes_unlock(h, &line, 1);
		}
		hs_cursor__close(&cur);
		if (rc == 0)
			rc = hs_batch__commit(h, &b, false);
	}
	rocksdb_writebatch_clear(b.wb);
	pthread_mutex_lock(&c->lock);
	if (c->n_wb < WB_POOL) {
		c->wb_pool[c->n_wb++] = b.wb;
		b.wb = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		struct hs_cline *cl = cls[i];

		cl->flushing = false;
		h->cache.n_flushing--;
		if (rc < 0 || cl->redirtied) {
			if (rc == 0) {   /* what was written back is old already */
				dirty_unlink(c, cl);
				cl->dirtied = hs_now_ns();
				dirty_append(c, cl);
			}
			cl->redirtied = false;
			continue;
		}
		dirty_unlink(c, cl);
		cl->state = CL_CLEAN;
		lru_push(c, cl);
		c->bytes_dirty -= h->rec.line_size;
		c->lines_dirty--;
		h->cache.n_dirty--;
		/* Written back: its real bytes are in the figures now. */
		hs_limit__uncharge(h, HS_CHARGE(h->rec.line_size));
	}
	if (rc == 0) {
		c->st.lines_flushed += n;
		c->st.flush_batches++;
	}
	pthread_cond_broadcast(&c->room);
	pthread_cond_broadcast(&c->flushed);
	pthread_mutex_unlock(&c->lock);
	hs_batch__dispose(&b);
	if (rc == 0 && n)
		hs_limit__freed(h->store);   /* charges settled: writers may retry */
	return rc < 0 ? rc : (int)n;
}

/*
 * Write back @h's dirty lines, at most @budget of them in this thread's own
 * batches.  The flushers help while the caller holds the heap's lock shared
 * (they need it too), so a checkpoint's lines are compressed and hashed on
 * every core.  A batch of theirs that fails leaves its lines dirty for this
 * loop to retry and report.  Returns 0 once none is left dirty or the budget
 * is spent, or -errno.
 */
static int flush_heap(hs_cache *c, hs_heap *h, uint64_t budget)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	h->cache.urgent++;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	while (budget > 0) {
		if ((rc = flush_batch(c, h)) < 0)
			break;
		if (rc > 0) {
			budget -= (uint64_t)rc < budget ? (uint64_t)rc : budget;
			rc = 0;
			continue;
		}
		/* Nothing left to take: wait out batches other threads have. */
		pthread_mutex_lock(&c->lock);
		while (h->cache.n_flushing && h->cache.n_dirty == h->cache.n_flushing)
			pthread_cond_wait(&c->flushed, &c->lock);
		rc = h->cache.n_dirty != 0;
		pthread_mutex_unlock(&c->lock);
		if (!rc)
			break;
		rc = 0;
	}
	pthread_mutex_lock(&c->lock);
	h->cache.urgent--;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int hs_cache__flush_heap(hs_heap *h)
{
	hs_cache *c = h->store->cache;

	return c ? flush_heap(c, h, UINT64_MAX) : 0;
}

int hs_cache__preflush(hs_heap *h)
{
	hs_cache *c = h->store->cache;
	uint64_t n;
	int rc;

	if (!c)
		return 0;
	pthread_rwlock_rdlock(&h->lock);
	pthread_mutex_lock(&c->lock);
	n = h->cache.n_dirty;
	pthread_mutex_unlock(&c->lock);
	rc = n ? flush_heap(c, h, n) : 0;
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

/*
 * Make room by writing back someone's dirty lines: @held's (whose lock the
 * caller holds, in either mode) or another heap's whose lock is free right
 * now.  Returns lines written back (0: none could be), or -errno.
 */
static int reclaim(hs_cache *c, hs_heap *held)
{
	hs_heap *h = NULL;
	bool own;
	int rc;

	pthread_mutex_lock(&c->lock);
	own = held && held->cache.n_dirty > held->cache.n_flushing;
	pthread_mutex_unlock(&c->lock);
	if (own)
		return flush_batch(c, held);
	pthread_mutex_lock(&c->lock);
	for (hs_heap *d = c->dirty_head; d; d = d->cache.dnext) {
		if (d != held && d->cache.n_dirty > d->cache.n_flushing &&
		    pthread_rwlock_tryrdlock(&d->lock) == 0) {
			h = d;
			atomic_fetch_add(&h->refs, 1);   /* the cache's own keeps it >= 1 */
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!h)
		return 0;
	rc = flush_batch(c, h);
	pthread_rwlock_unlock(&h->lock);
	heap_unref(h);
	return rc;
}

/*
 * Entries whose heap lost its last entry: references to drop after
 * unlocking.  Dropping one may take the store lock (hs_heap_close), which
 * is never taken under cache->lock, so a loop that frees entries of many
 * heaps stops once this is full and goes on after releasing them.
 */
#define RELEASES_MAX 16
struct releases {
	hs_heap *arr[RELEASES_MAX];
	size_t n;
};

static bool releases_full(const struct releases *r)
{
	return r->n == RELEASES_MAX;
}

/* Callers check releases_full() before each entry_free() that may add one. */
static void release_note(struct releases *r, hs_heap *h)
{
	if (h)
		r->arr[r->n++] = h;
}

/*
 * Blocks hold one line size each and lines never move, so a line size no
 * block holds needs a whole block empty, which evicting by the policy's
 * order (least recently used first, across every block) may never give:
 * every block may hold a line it must not take, another heap's reserved
 * ones spread over all of them, and the miss would wait forever.  So such
 * a miss empties the block with the fewest lines of what is clean and not
 * in use, whoever's (a reserved heap's next miss takes its memory back);
 * its dirty lines are written back meanwhile (reclaim, the flushers).
 */
static bool size_has_block(const hs_cache *c, uint32_t size)
{
	for (const struct hs_cblock *b = c->blocks; b; b = b->next)
		if (b->n_used && b->slot_size == size)
			return true;
	return false;
}

static void block_evict(hs_cache *c, struct releases *rel)
{
	struct hs_cblock *t = NULL;

	for (struct hs_cblock *b = c->blocks; b; b = b->next)
		if (b->n_used && (!t || b->n_used < t->n_used))
			t = b;
	for (struct hs_cline *cl = c->lru_tail, *prev; t && cl && !releases_full(rel);
	     cl = prev) {
		hs_heap *r = NULL;

		prev = cl->prev;
		if (cl->block != t || cl->pins || cl->flushing)
			continue;
		cl->heap->cache.evictions++;
		c->st.evictions++;
		entry_free(c, cl, &r);
		release_note(rel, r);
	}
}

int hs_cache__get(hs_heap *h, uint64_t line, bool create, struct hs_cline **out)
{
	hs_cache *c = h->store->cache;
	const uint32_t size = h->rec.line_size;
	struct hs_cline *cl;
	struct hs_cblock *b;
	uint32_t slot;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct releases rel = { .n = 0 };
		bool got, charged, whole;
		int verdict;

		if ((cl = find(c, h->id, line))) {
			cl->pins++;
			cl->touched = hs_now_ns();
			if (cl->state != CL_DIRTY) {   /* most recently used */
				lru_unlink(c, cl);
				lru_push(c, cl);
			}
			h->cache.hits++;
			c->st.hits++;
			*out = cl;
			break;
		}
		if (!create)
			break;
		/* Room: a free slot, a new block, or evictions, in that order. */
		b = NULL;
		got = slot_take(c, size, &b, &slot);
		if (!got && c->n_blocks < c->blocks_max && block_new(c))
			got = slot_take(c, size, &b, &slot);
		/* The policy charges the line (with room), or says whose
		 * lines make room. */
		verdict = HS_MEM_IDLE;
		if (c->pol.take)
			verdict = c->pol.take(c->pol.arg, h->id, size, clean_bytes(h), got,
					      got ? HS_MEM_TAKE : HS_MEM_ASK);
		charged = got && c->pol.take && verdict != HS_MEM_OVER;
		if (verdict == HS_MEM_OVER) {
			/* Past its quota: its own lines make room, down to it
			 * (this line is taken anyway once it has none left). */
			hs_heap *r = NULL;

			while (verdict == HS_MEM_OVER && !r && evict_one(c, h, EV_OWN, &r))
				verdict = c->pol.take(c->pol.arg, h->id, size, clean_bytes(h),
						      true, HS_MEM_ASK);
			release_note(&rel, r);
			if (verdict == HS_MEM_OVER && !r &&
			    h->cache.n_dirty > h->cache.n_flushing) {
				/* Its other lines are dirty: written back first
				 * (below), then evicted, rather than it growing. */
				if (got)
					slot_give(c, b, slot);
				got = false;
			} else if (!got) {
				b = NULL;
				got = slot_take(c, size, &b, &slot);
			}
		}
		/* A line size no block holds: a whole block, or none. */
		whole = !got && c->n_blocks >= c->blocks_max && !size_has_block(c, size);
		if (whole && verdict != HS_MEM_OVER) {
			block_evict(c, &rel);
			b = NULL;
			got = slot_take(c, size, &b, &slot);
		}
		for (const enum ev_whose *w = got || whole ? NULL : evict_order(c, verdict);
		     w && *w != EV_END && !got && !releases_full(&rel);) {
			hs_heap *r = NULL;

			if (!evict_one(c, h, *w, &r)) {
				w++;
				continue;
			}
			release_note(&rel, r);
			b = NULL;
			got = slot_take(c, size, &b, &slot);
		}
		if (rel.n) {
			pthread_mutex_unlock(&c->lock);
			release_all(rel.arr, rel.n);
			pthread_mutex_lock(&c->lock);
			/* The table may have changed meanwhile; or the releases
			 * filled up before room was made: look again. */
			if (got)
				slot_give(c, b, slot);
			if (charged)
				c->pol.give(c->pol.arg, h->id, size);
			continue;
		}
		if (!got) {
			/* Every line is dirty or in use: write some back, or wait. */
			if (c->pol.starved)
				c->pol.starved(c->pol.arg, h->id);
			pthread_cond_signal(&c->work);
			pthread_mutex_unlock(&c->lock);
			rc = reclaim(c, h);
			pthread_mutex_lock(&c->lock);
			if (rc < 0)
				break;
			if (rc == 0) {
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_nsec += 10 * 1000000;
				if (ts.tv_nsec >= 1000000000) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000;
				}
				pthread_cond_timedwait(&c->room, &c->lock, &ts);
			}
			rc = 0;
			continue;
		}
		/* Room made by evicting: charged now, whatever the policy says. */
		if (c->pol.take && !charged)
			(void)c->pol.take(c->pol.arg, h->id, size, clean_bytes(h), true,
					  HS_MEM_FORCE);
		if (!(cl = calloc(1, sizeof(*cl)))) {
			slot_give(c, b, slot);
			if (c->pol.give)
				c->pol.give(c->pol.arg, h->id, size);
			rc = hs_errno_set(-ENOMEM, "out of memory");
			break;
		}
		cl->heap_id = h->id;
		cl->line = line;
		cl->heap = h;
		cl->block = b;
		cl->slot = slot;
		cl->data = b->mem + (size_t)slot * size;
		cl->state = CL_EMPTY;
		cl->pins = 1;
		cl->touched = hs_now_ns();
		cl->hnext = c->buckets[hash_key(h->id, line) & c->mask];
		c->buckets[hash_key(h->id, line) & c->mask] = cl;
		lru_push(c, cl);
		cl->hnext2 = h->cache.res_head;
		if (cl->hnext2)
			cl->hnext2->hprev = cl;
		h->cache.res_head = cl;
		if (h->cache.n_resident++ == 0)
			atomic_fetch_add(&h->refs, 1);   /* the caller's keeps it >= 1 */
		c->bytes_used += size;
		c->lines++;
		h->cache.misses++;
		c->st.misses++;
		*out = cl;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

bool hs_cache__forget(hs_heap *h, struct hs_cline *cl)
{
	hs_cache *c = h->store->cache;
	hs_heap *r = NULL;
	bool gone = false;

	pthread_mutex_lock(&c->lock);
	if (cl->pins == 1 && !cl->flushing) {
		entry_free(c, cl, &r);
		gone = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (r)   /* never the last reference: the caller holds one (no close
		    under its stripe) */
		heap_unref(r);
	return gone;
}

void hs_cache__put(hs_heap *h, struct hs_cline *cl, bool discard)
{
	hs_cache *c = h->store->cache;
	hs_heap *r = NULL;

	pthread_mutex_lock(&c->lock);
	/* A zero line a reader loaded is not worth the room: let it go. */
	if (--cl->pins == 0 && discard && cl->state == CL_CLEAN && !cl->flushing)
		entry_free(c, cl, &r);
	pthread_mutex_unlock(&c->lock);
	if (r)
		heap_unref(r);
}

uint8_t *hs_cache__data(struct hs_cline *cl)
{
	return cl->data;
}

/*
 * Under the line's stripe: make @cl hold the line's live content, loading
 * it from the store if it is Empty, through @cur (opened here on the first
 * miss; the caller closes it).  Sets *@zero when the line is all zero in
 * the store (and was just loaded), so a reader may let it go.
 */
int hs_cache__fill(hs_heap *h, struct hs_cline *cl, struct hs_cursor *cur, bool *zero)
{
	struct hs_lineval val;
	int rc;

	*zero = false;
	if (atomic_load_explicit(&cl->state, memory_order_relaxed) != CL_EMPTY)
		return 0;
	/* Only a miss reads the store: a RocksDB iterator per write to a
	 * resident line was a tenth of the daemon's time in 4 KiB writes. */
	if (!cur->it && (rc = hs_cursor__open(cur, h, NULL)) < 0)
		return rc;
	if ((rc = hs_line__lookup(h, cur, cl->line, h->rec.head, &val, NULL)) < 0)
		return rc;
	if (val.zero) {
		memset(cl->data, 0, h->rec.line_size);
		*zero = true;
	} else if ((rc = hs_line__load(h, cur, cl->line, h->rec.head, cl->data)) < 0) {
		return rc;
	}
	pthread_mutex_lock(&h->store->cache->lock);
	cl->state = CL_CLEAN;
	pthread_mutex_unlock(&h->store->cache->lock);
	return 0;
}

/* Under the line's stripe, after changing @cl's content (an Empty entry
 * whose content was set whole becomes Dirty without a load). */
bool hs_cache__is_dirty(hs_heap *h, struct hs_cline *cl)
{
	hs_cache *c = h->store->cache;
	bool dirty;

	pthread_mutex_lock(&c->lock);
	dirty = cl->state == CL_DIRTY;
	pthread_mutex_unlock(&c->lock);
	return dirty;
}

/*
 * A dirty line holds a charge (blob.c, limits) until it is clean or gone.
 * The writer takes it before writing; a line a flusher cleaned between the
 * writer's look and this call is charged here, over the limits: it held
 * that same charge a moment before.
 */
void hs_cache__dirty(hs_heap *h, struct hs_cline *cl, bool charged)
{
	hs_cache *c = h->store->cache;
	bool wake, give_back = false, take = false;

	pthread_mutex_lock(&c->lock);
	if (cl->state != CL_DIRTY) {
		lru_unlink(c, cl);
		cl->state = CL_DIRTY;
		cl->dirtied = hs_now_ns();
		dirty_append(c, cl);
		c->bytes_dirty += h->rec.line_size;
		c->lines_dirty++;
		h->cache.n_dirty++;
		take = !charged;
	} else {
		give_back = charged;
		if (cl->flushing)
			cl->redirtied = true;   /* its write-back may have read it before */
	}
	if (take) {
		atomic_fetch_add(&h->charged, HS_CHARGE(h->rec.line_size));
		atomic_fetch_add(&h->store->charged, HS_CHARGE(h->rec.line_size));
		hs_limit__use(h->store, h->id, HS_CHARGE(h->rec.line_size), false);
	}
	if (give_back)
		hs_limit__uncharge(h, HS_CHARGE(h->rec.line_size));
	/* Past half the limit dirty, the flushers start writing back. */
	wake = c->bytes_dirty > c->limit / 2;
	pthread_mutex_unlock(&c->lock);
	if (wake)
		pthread_cond_signal(&c->work);
}

/*
 * With h->lock held exclusively and h's lines written back (or h deleted):
 * drop @h's entries of one space (state or heap lines) from line index
 * @first on; every entry of @h when @all.
 */
void hs_cache__drop(hs_heap *h, bool all, bool state, uint64_t first)
{
	hs_cache *c = h->store->cache;
	struct releases rel = { .n = 0 };
	uint64_t base = state ? HS_STATE_LINE : 0;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (struct hs_cline *cl = h->cache.res_head, *next; cl; cl = next) {
		hs_heap *r = NULL;

		next = cl->hnext2;
		if (!all && ((cl->line & HS_STATE_LINE) != base || (cl->line & ~HS_STATE_LINE) < first))
			continue;
		entry_free(c, cl, &r);
		release_note(&rel, r);
	}
	pthread_mutex_unlock(&c->lock);
	release_all(rel.arr, rel.n);
}

/* Like hs_cache__drop() for the listed lines only. */
void hs_cache__drop_lines(hs_heap *h, const uint64_t *lines, size_t n)
{
	hs_cache *c = h->store->cache;
	struct releases rel = { .n = 0 };

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct hs_cline *cl = find(c, h->id, lines[i]);
		hs_heap *r = NULL;

		if (!cl)
			continue;
		entry_free(c, cl, &r);
		release_note(&rel, r);
	}
	pthread_mutex_unlock(&c->lock);
	release_all(rel.arr, rel.n);
}

int hs_cache__take_error(hs_heap *h)
{
	hs_cache *c = h->store->cache;
	int rc;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	rc = h->cache.wb_error;
	h->cache.wb_error = 0;
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		hs_errno_set(rc, "heap '%s': a background write-back failed: %s",
			     h->rec.name, strerror(-rc));
	return rc;
}

int hs_store_flush(hs_store *s)
{
	hs_cache *c = s->cache;
	uint64_t passes;
	int rc = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	passes = c->lines_dirty + 1;
	pthread_mutex_unlock(&c->lock);
	/* One pass over the heaps dirty now; each flush takes its heap's lock.
	 * A heap whose dirty lines a flusher has in hand is flushed too:
	 * flush_heap() waits for that batch, so nothing is still being
	 * written when this returns (test_space's recount caught that). */
	for (uint64_t pass = passes; pass > 0 && rc == 0; pass--) {
		hs_heap *h = NULL;

		pthread_mutex_lock(&c->lock);
		for (hs_heap *d = c->dirty_head; d && !h; d = d->cache.dnext) {
			if (d->cache.n_dirty > 0) {
				h = d;
				atomic_fetch_add(&h->refs, 1);
				dheap_unlink(c, h);   /* round robin */
				dheap_append(c, h);
			}
		}
		pthread_mutex_unlock(&c->lock);
		if (!h)
			break;
		pthread_rwlock_rdlock(&h->lock);
		rc = hs_cache__flush_heap(h);
		pthread_rwlock_unlock(&h->lock);
		heap_unref(h);
	}
	pthread_mutex_lock(&c->lock);
	if (rc == 0 && c->error < 0) {
		rc = c->error;
		hs_errno_set(rc, "a background write-back failed: %s", strerror(-rc));
	}
	c->error = 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

uint64_t hs_cache__trim(hs_heap *h, uint64_t keep)
{
	hs_cache *c = h->store->cache;
	struct releases rel = { .n = 0 };
	uint64_t held;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (struct hs_cline *cl = c->lru_tail, *prev; cl &&
	     h->cache.n_resident * (uint64_t)h->rec.line_size > keep; cl = prev) {
		hs_heap *r = NULL;

		prev = cl->prev;
		if (cl->heap != h || cl->pins || cl->flushing)
			continue;
		h->cache.evictions++;
		c->st.evictions++;
		entry_free(c, cl, &r);
		release_note(&rel, r);   /* its last: the loop ends with it */
	}
	held = h->cache.n_resident * (uint64_t)h->rec.line_size;
	pthread_mutex_unlock(&c->lock);
	release_all(rel.arr, rel.n);
	return held;
}

int hs_store_memory_policy(hs_store *s, const hs_mem_policy *pol)
{
	hs_cache *c = s->cache;

	if (!c)
		return hs_errno_set(-EINVAL, "a memory policy needs the line cache");
	if (pol && (!pol->take || !pol->give || !pol->rank || !pol->starved))
		return hs_errno_set(-EINVAL, "a memory policy takes, gives, ranks and hears "
				    "of starved misses");
	pthread_mutex_lock(&c->lock);
	if (pol)
		c->pol = *pol;
	else
		memset(&c->pol, 0, sizeof(c->pol));
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void hs_cache__heap_info(hs_heap *h, hs_heap_info *out)
{
	hs_cache *c = h->store->cache;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	out->lines_dirty = h->cache.n_dirty;
	out->lines_resident = h->cache.n_resident;
	out->cache_hits = h->cache.hits;
	out->cache_misses = h->cache.misses;
	out->cache_evictions = h->cache.evictions;
	pthread_mutex_unlock(&c->lock);
}

int hs_store_cache_stats(hs_store *s, hs_cache_stats *out)
{
	hs_cache *c = s->cache;

	memset(out, 0, sizeof(*out));
	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->limit_bytes = c->limit;
	out->block_bytes = c->block_bytes;
	out->allocated_bytes = c->n_blocks * c->block_bytes;
	out->spare_bytes = c->n_spares * c->block_bytes;
	out->used_bytes = c->bytes_used;
	out->dirty_bytes = c->bytes_dirty;
	out->lines = c->lines;
	out->lines_dirty = c->lines_dirty;
	out->blocks = c->n_blocks;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- the flushers ------------------------------------------------------- */

/*
 * One tick of background work, cache->lock held on entry and exit: write
 * back while more than half the limit is dirty, a dirty line is older than
 * HS_CACHE_EXPIRE_NS or a thread waits for a heap's lines; then give back
 * idle memory.  Half, not less: a heap that fits the cache is rewritten at
 * memory speed, where write-back would spend the cores on lines about to
 * change again.
 */
static void tick(hs_cache *c)
{
	uint64_t now = hs_now_ns();
	struct releases rel = { .n = 0 };

	for (int spins = 0; spins < 64 && !c->stop; spins++) {
		hs_heap *h = NULL;
		int rc;

		for (hs_heap *d = c->dirty_head; d; d = d->cache.dnext) {
			struct hs_cline *old = d->cache.dirty_head;
			bool due = d->cache.urgent || c->bytes_dirty > c->limit / 2 ||
				   (old && now - old->dirtied > HS_CACHE_EXPIRE_NS);

			if (due && d->cache.n_dirty > d->cache.n_flushing &&
			    pthread_rwlock_tryrdlock(&d->lock) == 0) {
				h = d;
				atomic_fetch_add(&h->refs, 1);
				/* Round robin: the next tick starts with another heap. */
				dheap_unlink(c, h);
				dheap_append(c, h);
				break;
			}
		}
		if (!h)
			break;
		pthread_mutex_unlock(&c->lock);
		rc = flush_batch(c, h);
		pthread_rwlock_unlock(&h->lock);
		pthread_mutex_lock(&c->lock);
		if (rc < 0) {
			/* Nobody waits for this batch: the next flush or sync of
			 * the heap, and of the store, hears of it.  Its lines
			 * stay dirty and are retried. */
			c->error = rc;
			h->cache.wb_error = rc;
			c->st.flush_failures++;
		}
		pthread_mutex_unlock(&c->lock);
		heap_unref(h);
		pthread_mutex_lock(&c->lock);
		if (rc <= 0)
			break;
	}
	/* Idle clean lines go, then empty blocks but one (headroom). */
	for (struct hs_cline *cl = c->lru_tail, *prev; cl; cl = prev) {
		hs_heap *r = NULL;

		prev = cl->prev;
		if (now - cl->touched < c->idle_ns || releases_full(&rel))
			break;   /* the LRU tail is the oldest; the rest next tick */
		if (cl->pins || cl->flushing ||
		    (c->pol.rank && c->pol.rank(c->pol.arg, cl->heap_id) == HS_MEM_REFUSED))
			continue;   /* reserved lines stay */
		c->st.idle_evictions++;
		entry_free(c, cl, &r);
		release_note(&rel, r);
	}
	if (now - c->released >= c->release_ns) {
		struct hs_cblock *go = NULL;

		for (struct hs_cblock *b = c->blocks_tail; b; b = b->prev) {
			if (b->n_used || now - b->empty_since < c->idle_ns)
				continue;
			if (go) {   /* another idle empty block stays */
				block_free(c, go, false);
				c->released = now;
				break;
			}
			go = b;
		}
	}
	if (rel.n) {
		pthread_mutex_unlock(&c->lock);
		release_all(rel.arr, rel.n);
		pthread_mutex_lock(&c->lock);
	}
}

static void *flusher(void *arg)
{
	hs_cache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec ts;

		tick(c);
		if (c->stop)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += HS_CACHE_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->work, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int hs_cache__open(hs_store *s, uint64_t limit, int threads, unsigned idle_ms,
		   unsigned release_ms)
{
	hs_cache *c;
	size_t buckets = 1024;

	if (!(c = calloc(1, sizeof(*c))))
		return hs_errno_set(-ENOMEM, "out of memory");
	c->s = s;
	/* cache=/16, in whole huge pages, and never under 4 MiB. */
	c->block_bytes = limit / HS_CACHE_BLOCKS / (2 << 20) * (2 << 20);
	if (c->block_bytes < HS_CACHE_BLOCK_MIN)
		c->block_bytes = HS_CACHE_BLOCK_MIN;
	c->limit = limit / c->block_bytes * c->block_bytes;
	c->blocks_max = limit / c->block_bytes;
	c->idle_ns = (idle_ms ? idle_ms : 300000) * 1000000ULL;
	c->release_ns = (release_ms ? release_ms : 60000) * 1000000ULL;
	/* About one bucket per 64 KiB line the limit holds. */
	while (buckets < limit / (64 * 1024) && buckets < (1u << 24))
		buckets <<= 1;
	c->mask = buckets - 1;
	c->buckets = calloc(buckets, sizeof(*c->buckets));
	c->n_threads = threads > 0 ? threads : 2;
	c->threads = calloc((size_t)c->n_threads, sizeof(*c->threads));
	if (!c->buckets || !c->threads) {
		free(c->buckets);
		free(c->threads);
		free(c);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->room, NULL);
	pthread_cond_init(&c->flushed, NULL);
	pthread_cond_init(&c->work, NULL);
	s->cache = c;
	/* The base block: a cache always has one (its pages come on use). */
	if (!block_new(c)) {
		c->n_threads = 0;   /* none started */
		hs_cache__close(s);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	for (int i = 0; i < c->n_threads; i++) {
		if (pthread_create(&c->threads[i], NULL, flusher, c) != 0) {
			c->n_threads = i;
			hs_cache__close(s);
			return hs_errno_set(-EAGAIN, "cannot start the line cache's flushers");
		}
	}
	return 0;
}

/*
 * Write back everything and free the cache.  The caller has closed its heap
 * handles; the cache's own references are the last ones.  Returns 0, or the
 * first write-back failure, with hs_error_last() counting the dirty lines
 * that were dropped unwritten: the process is about to let them go, and
 * must say so.
 */
int hs_cache__close(hs_store *s)
{
	hs_cache *c = s->cache;
	uint64_t lost = 0, lost_heaps = 0;
	char first[HS_NAME_MAX + 1] = "";
	int err = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->n_threads; i++)
		pthread_join(c->threads[i], NULL);
	for (;;) {
		hs_heap *h = NULL;
		int rc;

		pthread_mutex_lock(&c->lock);
		if (c->dirty_head)
			h = c->dirty_head;
		else if (c->lru_head)
			h = c->lru_head->heap;
		if (h)
			atomic_fetch_add(&h->refs, 1);
		pthread_mutex_unlock(&c->lock);
		if (!h)
			break;
		pthread_rwlock_wrlock(&h->lock);
		if ((rc = hs_cache__flush_heap(h)) < 0 && !h->deleted) {
			pthread_mutex_lock(&c->lock);
			lost += h->cache.n_dirty;
			pthread_mutex_unlock(&c->lock);
			if (!lost_heaps++)
				snprintf(first, sizeof(first), "%s", h->rec.name);
			if (!err)
				err = rc;
		}
		hs_cache__drop(h, true, false, 0);
		pthread_rwlock_unlock(&h->lock);
		heap_unref(h);
	}
	while (c->blocks)
		block_free(c, c->blocks, true);
	while (c->spares) {
		struct hs_cblock *b = c->spares;

		c->spares = b->next;
		c->n_spares--;
		block_unmap(c, b);
	}
	while (c->n_wb)
		rocksdb_writebatch_destroy(c->wb_pool[--c->n_wb]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->room);
	pthread_cond_destroy(&c->flushed);
	pthread_cond_destroy(&c->work);
	free(c->buckets);
	free(c->threads);
	free(c);
	s->cache = NULL;
	if (err < 0)
		return hs_errno_set(err, "%s: %llu dirty lines of %llu heaps (first: '%s') "
				    "could not be written back and are lost: %s", s->dir,
				    (unsigned long long)lost, (unsigned long long)lost_heaps,
				    first, strerror(-err));
	return 0;
}
