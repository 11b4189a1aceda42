/*
 * mem.c - the mount's memory budget: the line cache (cache=), shared by
 * its heaps under pool/'s policy (pool_budget, the cache's memory policy).
 * Each heap's memory_reserve, memory_quota and shares are its properties
 * (xattrs user.heapfs.*, set by the mount's owner), told to the budget at
 * mount and when they change; a reservation the cache cannot hold is
 * refused when set (ENOSPC) and, at a mount with a smaller cache=, left
 * out with a warning.
 *
 * The space budget (fs->space, pool= or the disk's size) keeps the ledger
 * of space: heapstore's limits admit or refuse, and tell each heap's moves
 * of use through its use hook (space_use), which the budget settles into
 * sub-pools when read; its reserve and quota are heapstore's, its shares
 * the same as memory's.  Its reclaim asks the heaps most borrowed there.
 *
 * Reclaim: a thread runs the budget's passes every RECLAIM_TICK_MS, or
 * sooner when woken.  The memory budget's (pool_budget_reclaim) asks, after
 * a miss found nothing to evict, the heaps most owed per share, and
 * withdraws an ask not met within wait=.  The space budget's (space_pass)
 * asks when a write starts waiting for space (fs_space_wait, heapstore's
 * space hook, which also wakes GC) and while the pool's free part is under
 * its low-water mark (10%): first the heaps it would ask drop their
 * unlabelled checkpoints beyond keep (space_prune); if none did, it asks
 * the heaps whose writers wait on their quotas, then the most borrowed in
 * the space ledger per share, for what the waiters and the mark need; a
 * pass lasts until one of its asks is met or all are withdrawn, so many
 * waiters make one pass.  Both ask
 * through the heaps' balloons; each target set is posted to the heap's
 * events as "balloon TARGET", which also wakes the pollers of its balloon
 * file.  A runtime answers by punching holes, truncating or unlinking
 * lines: the whole lines it gives back are credited (fs_mem_gave), which
 * wakes GC to return their space and this thread for the next pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cmd.h"
#include "fs_int.h"

struct mem_settings {
	uint64_t reserve, quota;
	uint32_t shares;
};

static uint64_t prop_u64(hs_heap *h, const char *name)
{
	char v[HS_PROP_VALUE_MAX + 1];
	uint64_t x = 0;

	if (hs_heap_prop_get(h, name, v, sizeof(v)) < 0 || cmd_size_parse(v, &x) < 0)
		return 0;
	return x;
}

static void settings_get(hs_heap *h, struct mem_settings *m)
{
	m->reserve = prop_u64(h, "memory_reserve");
	m->quota = prop_u64(h, "memory_quota");
	m->shares = (uint32_t)prop_u64(h, "shares");
}

static uint64_t heap_id(hs_heap *h)
{
	hs_heap_info hi;

	return hs_heap_info_get(h, &hi) == 0 ? hi.id : 0;
}

/*
 * Heap @hi's part of the space budget: its reserve, quota (heapstore's,
 * which enforces them; the budget keeps the ledger) and shares.  A
 * reservation the budget cannot place (only a disk smaller than at mount
 * does that) is left out of its ledger with a warning.
 */
static void space_set(struct fs *fs, const hs_heap_info *hi, uint32_t shares)
{
	if (pool_budget_set(fs->space, hi->id, hi->reserve_bytes, hi->quota_bytes, shares) < 0) {
		fprintf(stderr, "heapfs: heap '%s': its reservation of %" PRIu64 " bytes does "
			"not fit the space budget beside the others: left out of its ledger\n",
			hi->name, hi->reserve_bytes);
		(void)pool_budget_set(fs->space, hi->id, 0, hi->quota_bytes, shares);
	}
}

void fs_space_set(struct fs *fs, hs_heap *h)
{
	hs_heap_info hi;

	if (fs->space && hs_heap_info_get(h, &hi) == 0)
		space_set(fs, &hi, (uint32_t)prop_u64(h, "shares"));
}

/* heapstore's use hook: a heap's use of space moved (settled when read). */
static void space_use(void *arg, uint64_t id, int64_t delta, bool pause)
{
	struct fs *fs = arg;

	pool_budget_note(fs->space, id, delta, pause);
}

/* At mount: tell the budgets every heap's settings, and the space budget
 * what each uses. */
static int load(struct fs *fs, bool warn)
{
	hs_heap_info *hs = NULL;
	size_t n = 0;
	int rc;

	if ((rc = hs_heap_list(fs->store, &hs, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct mem_settings m;
		hs_heap *h;

		if (hs_heap_open(&h, fs->store, hs[i].name) < 0)
			continue;   /* deleted meanwhile */
		settings_get(h, &m);
		hs_heap_close(h);
		space_set(fs, &hs[i], m.shares);
		pool_budget_note(fs->space, hs[i].id, (int64_t)(hs[i].bytes_referenced +
				 hs[i].bytes_charged + hs[i].bytes_held), false);
		if (pool_budget_set(fs->mem, hs[i].id, m.reserve, m.quota, m.shares) < 0 &&
		    warn) {
			hs_cache_stats cs;

			(void)hs_store_cache_stats(fs->store, &cs);
			fprintf(stderr, "heapfs: heap '%s': its memory reservation of %" PRIu64
				" bytes does not fit the line cache's %" PRIu64 " (cache= in "
				"whole blocks) beside the others: not held\n", hs[i].name,
				m.reserve, cs.limit_bytes);
			(void)pool_budget_set(fs->mem, hs[i].id, 0, m.quota, m.shares);
		}
	}
	free(hs);
	return 0;
}

#define RECLAIM_TICK_MS 100
#define ASKS_MAX FS_ASKS_MAX
#define SPACE_LOW_PCT 10

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Post each target to its heap's events (of the @nh heaps at @hs), which
 * wakes its balloon's pollers. */
static void asks_post(struct fs *fs, const pool_ask *asks, size_t n, const hs_heap_info *hs,
		      size_t nh)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < nh; k++) {
			hs_heap *h;

			if (hs[k].id != asks[i].id || hs_heap_open(&h, fs->store, hs[k].name) < 0)
				continue;
			(void)hs_event_post(h, "balloon %" PRIu64, asks[i].target);
			hs_heap_close(h);
		}
	}
}

/*
 * Does the space budget's pass still wait: each of its asks still open
 * (not met, not withdrawn)?  One met ends it, so a runtime that answers
 * is asked again at once (at its raised rate); silence keeps it open
 * until wait= withdraws the asks.
 */
static bool space_pass_open(struct fs *fs)
{
	for (size_t i = 0; i < fs->n_space_open; i++) {
		pool_balloon b;
		uint64_t gen;

		if (!pool_budget_balloon_get(fs->mem, fs->space_open[i], &b, &gen) ||
		    b.current >= b.target)
			return false;
	}
	return fs->n_space_open != 0;
}

/* What the pool needs back: what its waiting writers' @need and its
 * low-water mark (a free part of 10%) take past it. */
static uint64_t space_deficit(struct fs *fs, uint64_t need)
{
	hs_store_totals tot;
	uint64_t taken, want;

	if (!fs->opts.pool_bytes)
		return 0;
	hs_store_totals_get(fs->store, &tot);
	taken = tot.bytes_stored + tot.bytes_charged + tot.bytes_reserved_unused;
	want = taken + need + fs->opts.pool_bytes / 100 * SPACE_LOW_PCT;
	return want > fs->opts.pool_bytes ? want - fs->opts.pool_bytes : 0;
}

/* Heap @id is no heap of the budgets any more. */
static void budgets_forget(struct fs *fs, uint64_t id)
{
	if (fs->mem && id)
		pool_budget_forget(fs->mem, id);
	if (fs->space && id)
		pool_budget_forget(fs->space, id);
}

/*
 * Before a pass asks anyone: the borrowers @bs (*@n of them) that are no
 * live heap of the @nh at @hs (deleted, their entries left behind) go,
 * from both budgets;
 * then, retention first, the heaps the pass would ask (@quota_ids, and
 * the borrowers if @pool) drop their unlabelled checkpoints beyond keep,
 * which their owners said they need not keep, before any runtime is asked
 * for its data.  Returns how many went (GC is woken to return their
 * space).
 */
static uint64_t space_prune(struct fs *fs, const hs_heap_info *hs, size_t nh,
			    pool_borrower *bs, size_t *n, bool pool, const uint64_t *quota_ids,
			    size_t n_quota)
{
	uint64_t total = 0;
	size_t kept = 0;

	for (size_t i = 0; i < *n; i++) {
		size_t k = 0;

		while (k < nh && hs[k].id != bs[i].id)
			k++;
		if (k < nh)
			bs[kept++] = bs[i];
		else
			budgets_forget(fs, bs[i].id);
	}
	*n = kept;
	for (size_t k = 0; k < nh; k++) {
		bool asked = false;
		uint64_t pruned = 0;
		hs_heap *h;

		for (size_t q = 0; q < n_quota && !asked; q++)
			asked = quota_ids[q] == hs[k].id;
		for (size_t i = 0; pool && i < *n && !asked; i++)
			asked = bs[i].id == hs[k].id;
		if (!asked || !fs->ckpt || hs_heap_open(&h, fs->store, hs[k].name) < 0)
			continue;
		if (ckpt_retain(fs->ckpt, h, &pruned) < 0)
			fprintf(stderr, "heapfs: heap '%s': dropping checkpoints beyond keep for "
				"space: %s\n", hs[k].name, hs_error_last());
		hs_heap_close(h);
		total += pruned;
	}
	if (total) {
		atomic_fetch_add(&fs->space_pruned, total);
		gc_kick(fs->gc);
	}
	return total;
}

uint64_t fs_space_pruned(struct fs *fs)
{
	return atomic_load(&fs->space_pruned);
}

/*
 * The space budget's reclaim.  A pass first drops the checkpoints beyond
 * keep of the heaps it would ask (space_prune); if that dropped any, it
 * asks nobody and returns true: GC returns their space, and the next tick
 * sees what is still short (the quota waiters are the caller's to keep).
 * Otherwise it asks, through their balloons, the heaps whose writers wait
 * on their own quota (each for what it can give past its reservation),
 * then, for the pool, the heaps most borrowed per share (the ledger's
 * loans and what it lent past the sub-pools), until what the pool needs
 * back (at most the pass's effort) is asked for; each ask at most its
 * heap's rate.  It lasts until one of its asks is met, or all are
 * withdrawn (wait=): every writer that starts waiting meanwhile joins it,
 * so many waiters cause one pass.  A pass after which no byte was freed
 * halves the next one's effort (pool_reclaim).  A pass that would ask
 * nobody is not one.
 */
static bool space_pass(struct fs *fs, const uint64_t *quota_ids, size_t n_quota,
		       uint64_t need)
{
	pool_borrower *bs = NULL;
	hs_heap_info *hs = NULL;
	pool_ask asks[ASKS_MAX];
	hs_store_totals tot;
	uint64_t effort, asked = 0, now = now_ns();
	size_t n = 0, nh = 0, n_asks = 0;
	bool pruned = false;

	if (fs->space_reclaim.running) {
		if (space_pass_open(fs))
			return false;   /* the waiters wait with it */
		hs_store_totals_get(fs->store, &tot);
		pool_reclaim_end(&fs->space_reclaim, fs->space_stored > tot.bytes_stored);
		fs->n_space_open = 0;
	}
	effort = space_deficit(fs, need);
	if (effort > fs->space_reclaim.effort)
		effort = fs->space_reclaim.effort;
	/* The heaps, listed once: to prune them, and to post the asks. */
	if ((n_quota || effort) && pool_budget_borrowers(fs->space, &bs, &n) == 0 &&
	    hs_heap_list(fs->store, &hs, &nh) == 0 &&
	    !(pruned = space_prune(fs, hs, nh, bs, &n, effort != 0, quota_ids, n_quota))) {
		for (size_t q = 0; q < n_quota; q++) {
			for (size_t i = 0; i < n && n_asks < ASKS_MAX; i++) {
				uint64_t target;

				if (bs[i].id == quota_ids[q] &&
				    pool_budget_balloon_ask(fs->mem, bs[i].id, bs[i].borrowed, now,
							    &target))
					asks[n_asks++] = (pool_ask){ bs[i].id, target };
			}
		}
		for (size_t i = 0; i < n && asked < effort && n_asks < ASKS_MAX; i++) {
			uint64_t target, want, most = effort - asked;

			if (most > bs[i].borrowed)
				most = bs[i].borrowed;
			if (most && (want = pool_budget_balloon_ask(fs->mem, bs[i].id, most, now,
								    &target))) {
				asks[n_asks++] = (pool_ask){ bs[i].id, target };
				asked += want;
			}
		}
	}
	if (n_asks) {
		(void)pool_reclaim_begin(&fs->space_reclaim, &effort);
		hs_store_totals_get(fs->store, &tot);
		fs->space_stored = tot.bytes_stored;
		for (size_t i = 0; i < n_asks; i++)
			fs->space_open[i] = asks[i].id;
		fs->n_space_open = n_asks;
		atomic_store(&fs->space_passes, fs->space_reclaim.passes);
		asks_post(fs, asks, n_asks, hs, nh);
	}
	free(bs);
	free(hs);
	return pruned;
}

uint64_t fs_space_passes(struct fs *fs)
{
	return atomic_load(&fs->space_passes);
}

/* With mem_lock held: heap @id's writers wait on its quota. */
static void quota_waiting_add(struct fs *fs, uint64_t id)
{
	size_t i = 0;

	while (i < fs->n_quota_waiting && fs->quota_waiting[i] != id)
		i++;
	if (i == fs->n_quota_waiting && i < FS_ASKS_MAX)
		fs->quota_waiting[fs->n_quota_waiting++] = id;
}

void fs_space_wait(void *arg, uint64_t heap_id, int err, uint64_t bytes)
{
	struct fs *fs = arg;

	if (err > 0) {   /* a wait ended: what it wanted no longer counts */
		if (err == ENOSPC && fs->mem_running) {
			pthread_mutex_lock(&fs->mem_lock);
			fs->pool_need -= fs->pool_need < bytes ? fs->pool_need : bytes;
			pthread_mutex_unlock(&fs->mem_lock);
		}
		return;
	}
	gc_kick(fs->gc);
	if (!fs->mem_running)
		return;
	pthread_mutex_lock(&fs->mem_lock);
	if (err == -EDQUOT) {
		quota_waiting_add(fs, heap_id);
	} else {
		fs->pool_need += bytes;   /* what the waiters want, until served */
	}
	fs->space_wanted = true;
	pthread_cond_broadcast(&fs->mem_cond);
	pthread_mutex_unlock(&fs->mem_lock);
}

static void *reclaimer(void *arg)
{
	struct fs *fs = arg;
	pool_ask asks[ASKS_MAX];

	pthread_mutex_lock(&fs->mem_lock);
	while (!fs->mem_stop) {
		uint64_t quota_ids[FS_ASKS_MAX];
		size_t n_quota = fs->n_quota_waiting;
		bool wanted = fs->space_wanted;
		uint64_t need = fs->pool_need;   /* stays while they wait */
		struct timespec ts;
		size_t n;

		memcpy(quota_ids, fs->quota_waiting, n_quota * sizeof(*quota_ids));
		fs->n_quota_waiting = 0;
		fs->space_wanted = false;
		pthread_mutex_unlock(&fs->mem_lock);
		n = pool_budget_reclaim(fs->mem, now_ns(), (uint64_t)fs->opts.wait_ms * 1000000u,
					asks, ASKS_MAX);
		if (n) {
			hs_heap_info *hs = NULL;
			size_t nh = 0;

			if (hs_heap_list(fs->store, &hs, &nh) == 0)
				asks_post(fs, asks, n, hs, nh);
			free(hs);
		}
		if ((wanted || space_deficit(fs, need)) &&
		    space_pass(fs, quota_ids, n_quota, need)) {   /* this thread's own state */
			/* Pruned: its quota waiters are asked again next tick. */
			pthread_mutex_lock(&fs->mem_lock);
			for (size_t q = 0; q < n_quota; q++)
				quota_waiting_add(fs, quota_ids[q]);
			pthread_mutex_unlock(&fs->mem_lock);
		}
		pthread_mutex_lock(&fs->mem_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += RECLAIM_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!fs->mem_stop && !fs->space_wanted)
			pthread_cond_timedwait(&fs->mem_cond, &fs->mem_lock, &ts);
	}
	pthread_mutex_unlock(&fs->mem_lock);
	return NULL;
}

void fs_mem_quiesce(struct fs *fs)
{
	if (!fs->mem_running)
		return;
	hs_store_space_hook(fs->store, NULL, NULL);   /* no writer waits now */
	pthread_mutex_lock(&fs->mem_lock);
	fs->mem_stop = true;
	pthread_cond_broadcast(&fs->mem_cond);
	pthread_mutex_unlock(&fs->mem_lock);
	pthread_join(fs->mem_thread, NULL);
	fs->mem_running = false;
}

int fs_mem_start(struct fs *fs)
{
	uint8_t split[4];
	struct statvfs v;
	hs_cache_stats cs;
	uint64_t space;
	int rc;

	/* Without a cache the memory budget is empty, but its balloons serve
	 * the space budget all the same.  The space budget is pool=, or
	 * without one the disk the store is on. */
	for (int i = 0; i < 4; i++)
		split[i] = (uint8_t)fs->opts.split[i];
	space = fs->opts.pool_bytes;
	if (!space && statvfs(fs->opts.store_dir, &v) == 0)
		space = (uint64_t)v.f_blocks * v.f_frsize;
	/* The cache holds whole blocks: cache= rounded down to them. */
	if ((rc = hs_store_cache_stats(fs->store, &cs)) < 0 ||
	    (rc = pool_budget_new(&fs->mem, cs.limit_bytes, split, fs->opts.cap_pct)) < 0 ||
	    (rc = pool_budget_new(&fs->space, space, split, fs->opts.cap_pct)) < 0 ||
	    (rc = load(fs, fs->opts.cache_bytes != 0)) < 0 ||
	    (fs->opts.cache_bytes && (rc = pool_budget_govern_cache(fs->mem, fs->store)) < 0))
		return rc;
	/* A pass asks for what is needed, the whole pool at most. */
	pool_reclaim_init(&fs->space_reclaim, 64 * 1024, fs->opts.pool_bytes);
	pthread_mutex_init(&fs->mem_lock, NULL);
	pthread_cond_init(&fs->mem_cond, NULL);
	/* From here every move of use reaches the ledger: before anything
	 * (the checkpoint scheduler's retention) can change one. */
	hs_store_space_use_hook(fs->store, space_use, fs);
	return 0;
}

int fs_mem_run(struct fs *fs)
{
	/* Its passes apply retention: the checkpoint policy is there now. */
	if (pthread_create(&fs->mem_thread, NULL, reclaimer, fs) != 0)
		return hs_errno_set(-EAGAIN, "cannot start the memory budget's reclaim thread");
	fs->mem_running = true;
	hs_store_space_hook(fs->store, fs_space_wait, fs);
	return 0;
}

void fs_mem_stop(struct fs *fs)
{
	fs_mem_quiesce(fs);
	pool_budget_free(fs->space);   /* the store is closed: its hook is quiet */
	fs->space = NULL;
	if (fs->mem) {
		pthread_mutex_destroy(&fs->mem_lock);
		pthread_cond_destroy(&fs->mem_cond);
	}
	pool_budget_free(fs->mem);
	fs->mem = NULL;
}

/* ---- the balloon file -------------------------------------------------- */

static uint64_t node_heap_id(const struct fs_file *f)
{
	return f->node->heap_id;
}

void fs_balloon_open(struct fs *fs, struct fs_file *f)
{
	pool_balloon b;

	if (fs->mem)
		(void)pool_budget_balloon_get(fs->mem, node_heap_id(f), &b, &f->bal_gen);
}

bool fs_balloon_ready(struct fs *fs, struct fs_file *f)
{
	pool_balloon b;
	uint64_t gen = 0;
	bool ready;

	if (fs->mem)
		(void)pool_budget_balloon_get(fs->mem, node_heap_id(f), &b, &gen);
	pthread_mutex_lock(&f->lock);
	ready = gen != f->bal_gen;
	pthread_mutex_unlock(&f->lock);
	return ready;
}

/* Read afresh at every read: "target: B\ncurrent: B\nrate: B/s\n". */
ssize_t fs_balloon_read(struct fs *fs, struct fs_file *f, char *buf, size_t size, off_t off)
{
	char text[POOL_BALLOON_TEXT_MAX];
	pool_balloon b = { 0, 0, 0 };
	uint64_t gen = 0;
	size_t len;
	int rc;

	if (fs->mem)
		(void)pool_budget_balloon_get(fs->mem, node_heap_id(f), &b, &gen);
	if ((rc = pool_balloon_format(&b, text, sizeof(text), &len)) < 0)
		return rc;
	pthread_mutex_lock(&f->lock);
	f->bal_gen = gen;
	pthread_mutex_unlock(&f->lock);
	if ((uint64_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, text + off, size);
	return (ssize_t)size;
}

/* A runtime's report: "freeable BYTES" and "live BYTES" lines, a hint. */
ssize_t fs_balloon_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size)
{
	pool_balloon_report r;
	int rc;

	if ((rc = pool_balloon_parse(buf, size, &r)) < 0)
		return rc;
	if (fs->mem && (rc = pool_budget_balloon_report(fs->mem, node_heap_id(f), &r)) < 0)
		return rc;
	return (ssize_t)size;
}

bool fs_mem_asking(struct fs *fs, uint64_t heap_id)
{
	pool_balloon b;
	uint64_t gen;

	return fs->mem && pool_budget_balloon_get(fs->mem, heap_id, &b, &gen) &&
	       b.current < b.target;
}

void fs_mem_gave(struct fs *fs, uint64_t heap_id, hs_heap *h, uint64_t off, uint64_t len)
{
	hs_heap_info hi;
	uint64_t first, end;

	/* The line size only when an ask is open: most punches have none. */
	if (!fs_mem_asking(fs, heap_id) || hs_heap_info_get(h, &hi) < 0 || !hi.line_size)
		return;
	/* Whole lines of the range only: a partial line is still held. */
	first = (off + hi.line_size - 1) / hi.line_size * hi.line_size;
	end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	end = end / hi.line_size * hi.line_size;
	/* Credited: GC returns the space now, and the next pass need not
	 * wait for the tick (the space budget's waiters). */
	if (end > first && pool_budget_balloon_credit(fs->mem, hi.id, end - first)) {
		gc_kick(fs->gc);
		if (fs->mem_running) {
			pthread_mutex_lock(&fs->mem_lock);
			pthread_cond_broadcast(&fs->mem_cond);
			pthread_mutex_unlock(&fs->mem_lock);
		}
	}
}

void fs_heap_gone(uint64_t id, void *payload)
{
	struct fs *fs = payload;

	budgets_forget(fs, id);
	/* The kernel's pages of its heap file go now, with the heap, not at
	 * the next open of a heap of the same name (its stale inode's 1 GiB
	 * of pages took 43-74 ms there: a runtime's first write after a
	 * migration that had replaced its copy). */
	if (id)
		fs_inval_heap(fs, id, 0, 0);
}

int fs_heap_delete(struct fs *fs, const char *name)
{
	hs_heap *h;
	uint64_t id = 0;
	int rc;

	if (hs_heap_open(&h, fs->store, name) == 0) {
		id = heap_id(h);
		hs_heap_close(h);
	}
	if ((rc = hs_heap_delete(fs->store, name)) == 0)
		fs_heap_gone(id, fs);   /* its reservation is free */
	return rc;
}

int fs_mem_set(struct fs *fs, hs_heap *h, const char *prop, const char *val)
{
	struct mem_settings m, was;
	uint64_t id = heap_id(h), x = 0;
	int rc;

	settings_get(h, &m);
	was = m;
	if (*val && cmd_size_parse(val, &x) < 0)
		return -EINVAL;
	if (strcmp(prop, "memory_reserve") == 0)
		m.reserve = x;
	else if (strcmp(prop, "memory_quota") == 0)
		m.quota = x;
	else
		m.shares = (uint32_t)x;
	if (fs->mem && (rc = pool_budget_set(fs->mem, id, m.reserve, m.quota, m.shares)) < 0)
		return rc;
	if ((rc = hs_heap_prop_set(h, prop, val)) < 0) {
		if (fs->mem)
			(void)pool_budget_set(fs->mem, id, was.reserve, was.quota, was.shares);
		return rc;
	}
	if (strcmp(prop, "shares") == 0)
		fs_space_set(fs, h);   /* one weight for both budgets */
	/* A quota below what it holds: it gives back at once. */
	if (m.quota && fs->mem) {
		int64_t held = hs_heap_cache_trim(h, m.quota);

		if (held < 0)
			return (int)held;
	}
	return 0;
}

