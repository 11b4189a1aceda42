/*
 * budget.c - one budget of a mount at run time: the policy's state behind
 * a lock, one entry per heap, and the line cache's memory policy
 * (hs_mem_policy) over it (pool.h, "Budgets").
 *
 * The pool is work-conserving: what the policy would refuse is still lent
 * from memory nobody uses (idle), and idle loans are the first taken back
 * when another heap needs room.  So a heap alone uses the whole cache, and
 * the sub-pools and caps decide only what each keeps when heaps compete.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct entry {
	uint64_t id;
	pool_heap h;
	uint64_t idle;
	/* Its balloon: target and current are cumulative bytes (asked, given);
	 * an ask is outstanding while current < target, since asked_ns. */
	pool_balloon bal;
	pool_rate rate;
	pool_balloon_report report;
	uint64_t asked_ns;
	uint64_t quiet_ns;                /* not asked again before (after a miss) */
	uint64_t gen;                     /* the target's changes */
	/* Space: moves of its use not settled yet (pool_budget_note). */
	int64_t pending;
	uint64_t pending_pause;           /* of the growth, a durability point's */
};

struct pool_budget {
	pthread_mutex_t lock;             /* a leaf: the cache calls under its own */
	pool_state st;
	struct entry *e;
	size_t n, cap;
	pool_reclaim reclaim;
	bool starved;                     /* a miss found nothing to evict */
	uint64_t credited;                /* given back through balloons, ever */
	uint64_t credited_seen;           /* of it, at the last pass's end */
	bool unsettled;                   /* some entry has a move pending */
};

int pool_budget_new(pool_budget **out, uint64_t size, const uint8_t *split, unsigned cap_pct)
{
	pool_budget *b = calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	if ((rc = pool_init(&b->st, size, split, cap_pct)) < 0) {
		free(b);
		return rc;
	}
	pthread_mutex_init(&b->lock, NULL);
	/* A pass asks for up to a quarter of the budget, down to a line's
	 * worth while passes free nothing. */
	pool_reclaim_init(&b->reclaim, 64 * 1024, size / 4);
	*out = b;
	return 0;
}

void pool_budget_free(pool_budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->e);
	free(b);
}

/* A balloon's rate: from 1 MiB a second, a step of 1 MiB after each
 * answer, up to a quarter of the budget a second. */
#define BALLOON_STEP (1024 * 1024)

static void rate_init(const pool_budget *b, pool_rate *r)
{
	uint64_t max = b->st.size / 4 > BALLOON_STEP ? b->st.size / 4 : BALLOON_STEP;

	(void)pool_rate_init(r, BALLOON_STEP, max, BALLOON_STEP);
}

/* With b->lock held: @id's entry; NULL if it has none and @add is false
 * or memory is short. */
static struct entry *find(pool_budget *b, uint64_t id, bool add)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->e[i].id == id)
			return &b->e[i];
	if (!add)
		return NULL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct entry *e = realloc(b->e, cap * sizeof(*e));

		if (!e)
			return NULL;
		b->e = e;
		b->cap = cap;
	}
	memset(&b->e[b->n], 0, sizeof(b->e[b->n]));
	b->e[b->n].id = id;
	pool_heap_init(&b->e[b->n].h);
	rate_init(b, &b->e[b->n].rate);
	b->e[b->n].bal.rate = b->e[b->n].rate.cur;
	return &b->e[b->n++];
}

/* With b->lock held: the entries that owe, most owed per share first
 * (pool_reclaim_order); *@order malloc'd.  How many (0 without memory). */
static size_t owed_order(pool_budget *b, size_t **order)
{
	pool_heap *hs = malloc((b->n ? b->n : 1) * sizeof(*hs));
	size_t m = 0;

	*order = malloc((b->n ? b->n : 1) * sizeof(**order));
	for (size_t i = 0; hs && *order && i < b->n; i++)
		hs[i] = b->e[i].h;
	if (hs && *order)
		m = pool_reclaim_order(hs, b->n, *order);
	free(hs);
	return m;
}

/* With b->lock held: @e's loans become idle loans (the first taken back),
 * so the sub-pools may shrink. */
static void recall(pool_budget *b, struct entry *e)
{
	uint64_t owed = pool_owed(&e->h);

	pool_free(&b->st, &e->h, owed, NULL);
	e->idle += owed;
}

/*
 * With b->lock held: apply the moves of use pool_budget_note() kept.  A
 * heap that grew asks for it: a durability point's part as a pause, the
 * rest as urgent (writes); what the sub-pools do not hold is lent past
 * them (idle), since heapstore's limits admitted it already.  One that
 * shrank gives back, idle loans first, then its loans in pool_free()'s
 * order.  The quota is heapstore's to enforce: not applied again here.
 */
static void settle(pool_budget *b)
{
	if (!b->unsettled)
		return;
	b->unsettled = false;
	for (size_t i = 0; i < b->n; i++) {
		struct entry *e = &b->e[i];
		int64_t d = e->pending;
		uint64_t pause = e->pending_pause, quota = e->h.quota, served, x;

		e->pending = 0;
		e->pending_pause = 0;
		if (d > 0) {
			if (pause > (uint64_t)d)
				pause = (uint64_t)d;
			e->h.quota = 0;
			served = pool_request_most(&b->st, &e->h, pause, POOL_PAUSE, NULL);
			served += pool_request_most(&b->st, &e->h, (uint64_t)d - served,
						    POOL_URGENT, NULL);
			e->h.quota = quota;
			e->idle += (uint64_t)d - served;
		} else if (d < 0) {
			x = e->idle < (uint64_t)-d ? e->idle : (uint64_t)-d;
			e->idle -= x;
			pool_free(&b->st, &e->h, (uint64_t)-d - x, NULL);
		}
	}
}

void pool_budget_note(pool_budget *b, uint64_t id, int64_t delta, bool pause)
{
	struct entry *e;

	pthread_mutex_lock(&b->lock);
	/* A shrinking heap the budget does not know (deleted) is nothing. */
	if ((e = find(b, id, delta > 0))) {
		e->pending += delta;
		if (pause && delta > 0)
			e->pending_pause += (uint64_t)delta;
		b->unsettled = true;
	}
	pthread_mutex_unlock(&b->lock);
}

static int borrower_cmp(const void *a, const void *b)
{
	const pool_borrower *x = a, *y = b;
	/* x.borrowed / x.shares against y's, without division */
	unsigned __int128 l = (unsigned __int128)x->borrowed * y->shares;
	unsigned __int128 r = (unsigned __int128)y->borrowed * x->shares;

	return l > r ? -1 : l < r;
}

int pool_budget_borrowers(pool_budget *b, pool_borrower **out, size_t *n)
{
	pool_budget_heap *hs;
	pool_state st;
	size_t m;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = pool_budget_get(b, &st, &hs, &m)) < 0)
		return rc;
	if (m && !(*out = calloc(m, sizeof(**out))))
		rc = -ENOMEM;
	for (size_t i = 0; *out && i < m; i++) {
		uint64_t past = pool_owed(&hs[i].h) + hs[i].idle;

		if (past)
			(*out)[(*n)++] = (pool_borrower){ hs[i].id, past, hs[i].h.shares };
	}
	free(hs);
	/* Insertion sort: tens of heaps, and ties keep the budget's order. */
	for (size_t i = 1; i < *n; i++) {
		pool_borrower x = (*out)[i];
		size_t j = i;

		for (; j > 0 && borrower_cmp(&x, &(*out)[j - 1]) < 0; j--)
			(*out)[j] = (*out)[j - 1];
		(*out)[j] = x;
	}
	return rc;
}

/*
 * Memory already held is never refused after the fact: a reservation
 * lowered below what the heap holds of its own turns the rest into idle
 * loans, and one that the sub-pools' loans stand in the way of recalls
 * them (most owed per share first) into idle loans, which the cache takes
 * back first when the reserving heap needs room.  Only a reservation
 * past the budget less the others' is refused.
 */
int pool_budget_set(pool_budget *b, uint64_t id, uint64_t reserve, uint64_t quota,
		    uint32_t shares)
{
	struct entry *e;
	int rc = -ENOMEM;

	if (!shares)
		shares = POOL_SHARES_DEFAULT;
	pthread_mutex_lock(&b->lock);
	settle(b);
	if ((e = find(b, id, true)) && reserve == e->h.reserve) {
		/* The same reservation: what it holds stays where it is. */
		e->h.quota = quota;
		e->h.shares = shares;
		rc = 0;
	} else if (e && reserve > b->st.size - (b->st.reserved - e->h.reserve)) {
		rc = -ENOSPC;   /* past the budget less the others' reservations */
	} else if (e) {
		uint64_t own = e->h.used - pool_owed(&e->h);

		if (reserve < own) {
			e->h.used -= own - reserve;
			e->idle += own - reserve;
		}
		size_t *order = NULL, m = 0, k = 0;

		while ((rc = pool_reserve(&b->st, &e->h, reserve)) == -ENOSPC) {
			if (!order)   /* a recall changes only the recalled heap's place */
				m = owed_order(b, &order);
			if (k == m)
				break;   /* nobody owes (or no memory): the budget is too small */
			recall(b, &b->e[order[k++]]);
		}
		free(order);
		if (rc == 0) {
			/* What it holds is its own up to the reservation, the
			 * rest an idle loan (its sub-pool loans repaid). */
			uint64_t held = e->h.used + e->idle;

			pool_free(&b->st, &e->h, e->h.used, NULL);
			e->h.used = held < reserve ? held : reserve;
			e->idle = held - e->h.used;
			e->h.quota = quota;
			e->h.shares = shares;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void pool_budget_forget(pool_budget *b, uint64_t id)
{
	struct entry *e;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false))) {
		pool_free(&b->st, &e->h, e->h.used, NULL);
		(void)pool_reserve(&b->st, &e->h, 0);
		*e = b->e[--b->n];
	}
	pthread_mutex_unlock(&b->lock);
}

/*
 * Growth past the reservation asks for efficiency (a loan against its
 * clean bytes); a heap with too few clean bytes to make room from its own
 * (a fault or write that cannot proceed otherwise) is urgent.  What both
 * refuse is lent from idle memory when there is some, and @force lends it
 * whatever the quota and the room say (the memory is held already).
 */
int pool_budget_take(pool_budget *b, uint64_t id, uint64_t bytes, uint64_t clean, bool room,
		     int mode)
{
	pool_state st;
	pool_heap h;
	struct entry *e;
	int rc, verdict;

	pthread_mutex_lock(&b->lock);
	if (!(e = find(b, id, true))) {
		pthread_mutex_unlock(&b->lock);
		return room ? POOL_TAKE_IDLE : POOL_TAKE_SERVED;   /* no policy without memory */
	}
	e->h.collateral = clean;
	st = b->st;
	h = e->h;
	if (e->h.quota && (bytes > e->h.quota || e->h.used + e->idle > e->h.quota - bytes)) {
		verdict = POOL_TAKE_OVER;
	} else {
		rc = pool_request(&st, &h, bytes, POOL_EFFICIENCY, NULL);
		if (rc == -ENOSPC && clean < bytes)
			rc = pool_request(&st, &h, bytes, POOL_URGENT, NULL);
		verdict = rc == 0 ? POOL_TAKE_SERVED : room ? POOL_TAKE_IDLE : POOL_TAKE_REFUSED;
	}
	if (mode != POOL_ASK && verdict == POOL_TAKE_SERVED) {
		b->st = st;
		e->h = h;
	} else if (verdict == POOL_TAKE_IDLE ? mode != POOL_ASK : mode == POOL_FORCE) {
		e->idle += bytes;
	}
	pthread_mutex_unlock(&b->lock);
	return verdict;
}

/* Idle loans are repaid first: they are the first to be taken back. */
void pool_budget_give(pool_budget *b, uint64_t id, uint64_t bytes)
{
	struct entry *e;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false))) {
		uint64_t x = e->idle < bytes ? e->idle : bytes;

		e->idle -= x;
		pool_free(&b->st, &e->h, bytes - x, NULL);
	}
	pthread_mutex_unlock(&b->lock);
}

int pool_budget_rank(pool_budget *b, uint64_t id)
{
	struct entry *e;
	int rank = POOL_TAKE_SERVED;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false))) {
		if (e->idle)
			rank = POOL_TAKE_IDLE;
		else if (e->h.used <= e->h.reserve)
			rank = POOL_TAKE_REFUSED;
	}
	pthread_mutex_unlock(&b->lock);
	return rank;
}

int pool_budget_get(pool_budget *b, pool_state *st, pool_budget_heap **heaps, size_t *n)
{
	int rc = 0;

	*heaps = NULL;
	*n = 0;
	pthread_mutex_lock(&b->lock);
	settle(b);
	*st = b->st;
	if (b->n && !(*heaps = calloc(b->n, sizeof(**heaps)))) {
		rc = -ENOMEM;
	} else {
		for (size_t i = 0; i < b->n; i++) {
			(*heaps)[i].id = b->e[i].id;
			(*heaps)[i].h = b->e[i].h;
			(*heaps)[i].idle = b->e[i].idle;
		}
		*n = b->n;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

bool pool_budget_heap_get(pool_budget *b, uint64_t id, pool_budget_heap *out)
{
	struct entry *e;

	memset(out, 0, sizeof(*out));
	out->id = id;
	pool_heap_init(&out->h);
	pthread_mutex_lock(&b->lock);
	settle(b);
	if ((e = find(b, id, false))) {
		out->h = e->h;
		out->idle = e->idle;
	}
	pthread_mutex_unlock(&b->lock);
	return e != NULL;
}

/* ---- balloons --------------------------------------------------------------- */

bool pool_budget_balloon_get(pool_budget *b, uint64_t id, pool_balloon *out, uint64_t *gen)
{
	struct entry *e;

	memset(out, 0, sizeof(*out));
	*gen = 0;
	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false))) {
		*out = e->bal;
		out->rate = e->rate.cur;
		*gen = e->gen;
	}
	pthread_mutex_unlock(&b->lock);
	return e != NULL;
}

int pool_budget_balloon_report(pool_budget *b, uint64_t id, const pool_balloon_report *r)
{
	struct entry *e;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, true))) {
		if (r->has_freeable) {
			e->report.has_freeable = true;
			e->report.freeable = r->freeable;
		}
		if (r->has_live) {
			e->report.has_live = true;
			e->report.live = r->live;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return e ? 0 : -ENOMEM;
}

bool pool_budget_balloon_reported(pool_budget *b, uint64_t id, pool_balloon_report *out)
{
	struct entry *e;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false)))
		*out = e->report;
	pthread_mutex_unlock(&b->lock);
	return e != NULL;
}

uint64_t pool_budget_balloon_credit(pool_budget *b, uint64_t id, uint64_t bytes)
{
	struct entry *e;
	uint64_t x = 0;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, false)) && e->bal.current < e->bal.target) {
		x = e->bal.target - e->bal.current < bytes ? e->bal.target - e->bal.current : bytes;
		e->bal.current += x;
		b->credited += x;
		/* Given: that much less it said it could give. */
		e->report.freeable -= e->report.freeable < x ? e->report.freeable : x;
		if (e->bal.current == e->bal.target) {   /* answered in time */
			pool_rate_result(&e->rate, true);
			e->asked_ns = 0;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return x;
}

/*
 * With b->lock held: ask @e for @most bytes at most: its rate's worth, or
 * what its runtime reported freeable if that is more (a runtime that said
 * what it can give is asked for it at once; the rate paces the others),
 * if no ask of its is open and it is not paused after a miss.  Returns
 * the bytes asked (0: none).
 */
static uint64_t ask(struct entry *e, uint64_t most, uint64_t now_ns)
{
	/* Its rate's worth, or what its runtime said it could give, if more. */
	uint64_t step = e->report.has_freeable && e->report.freeable > e->rate.cur ?
			e->report.freeable : e->rate.cur;
	uint64_t want = most < step ? most : step;

	if (e->asked_ns || now_ns < e->quiet_ns || !want)
		return 0;
	e->bal.target = e->bal.current + want;
	e->asked_ns = now_ns ? now_ns : 1;
	e->gen++;
	return want;
}

uint64_t pool_budget_balloon_ask(pool_budget *b, uint64_t id, uint64_t most, uint64_t now_ns,
				 uint64_t *target)
{
	struct entry *e;
	uint64_t want = 0;

	pthread_mutex_lock(&b->lock);
	if ((e = find(b, id, true)) && (want = ask(e, most, now_ns)))
		*target = e->bal.target;
	pthread_mutex_unlock(&b->lock);
	return want;
}

/*
 * One reclaim pass.  An ask not met within @deadline_ns is withdrawn
 * (target back to current), halves that heap's rate and leaves it unasked
 * for as long again.  After a starved miss, heaps are asked, most owed per
 * share first, each for its rate's second's worth (never below its
 * reservation, one ask outstanding per heap), until the pass's effort is
 * asked for; a pass after which nothing came back halves the next one's.
 */
size_t pool_budget_reclaim(pool_budget *b, uint64_t now_ns, uint64_t deadline_ns,
			   pool_ask *asks, size_t max)
{
	size_t *order = NULL, m = 0, n_asks = 0;
	uint64_t effort, asked = 0;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n; i++) {
		struct entry *e = &b->e[i];

		if (e->asked_ns && now_ns - e->asked_ns > deadline_ns) {
			pool_rate_result(&e->rate, false);
			e->bal.target = e->bal.current;
			e->asked_ns = 0;
			e->quiet_ns = now_ns + deadline_ns;
			e->gen++;
			if (n_asks < max)
				asks[n_asks++] = (pool_ask){ e->id, e->bal.target };
		}
	}
	/* Asked only when a miss could not be served by eviction: with idle
	 * memory lent out, a full cache keeps its sub-pools low, and evicting
	 * clean lines is the first answer to that. */
	if (!b->starved || !pool_reclaim_begin(&b->reclaim, &effort))
		goto out;
	b->starved = false;
	m = owed_order(b, &order);
	for (size_t k = 0; k < m && asked < effort && n_asks < max; k++) {
		struct entry *e = &b->e[order[k]];
		pool_heap h = e->h;
		uint64_t want;

		h.used += e->idle;
		if (!(want = ask(e, pool_balloon_target(&h, e->rate.cur), now_ns)))
			continue;
		asked += want;
		asks[n_asks++] = (pool_ask){ e->id, e->bal.target };
	}
	pool_reclaim_end(&b->reclaim, b->credited - b->credited_seen);
	b->credited_seen = b->credited;
out:
	pthread_mutex_unlock(&b->lock);
	free(order);
	return n_asks;
}

/* ---- the line cache's memory policy -------------------------------------- */

static int mem_take(void *arg, uint64_t id, uint64_t bytes, uint64_t clean, bool room, int mode)
{
	static const int modes[] = { [HS_MEM_ASK] = POOL_ASK, [HS_MEM_TAKE] = POOL_TAKE,
				     [HS_MEM_FORCE] = POOL_FORCE };

	switch (pool_budget_take(arg, id, bytes, clean, room, modes[mode])) {
	case POOL_TAKE_SERVED: return HS_MEM_ENTITLED;
	case POOL_TAKE_IDLE: return HS_MEM_IDLE;
	case POOL_TAKE_OVER: return HS_MEM_OVER;
	default: return HS_MEM_REFUSED;
	}
}

static void mem_give(void *arg, uint64_t id, uint64_t bytes)
{
	pool_budget_give(arg, id, bytes);
}

static void mem_starved(void *arg, uint64_t id)
{
	pool_budget *b = arg;

	(void)id;
	pthread_mutex_lock(&b->lock);
	b->starved = true;
	pthread_mutex_unlock(&b->lock);
}

void pool_budget_starved(pool_budget *b)
{
	mem_starved(b, 0);
}

static int mem_rank(void *arg, uint64_t id)
{
	switch (pool_budget_rank(arg, id)) {
	case POOL_TAKE_IDLE: return HS_MEM_IDLE;
	case POOL_TAKE_SERVED: return HS_MEM_ENTITLED;
	default: return HS_MEM_REFUSED;
	}
}

int pool_budget_govern_cache(pool_budget *b, hs_store *store)
{
	hs_mem_policy pol = { mem_take, mem_give, mem_rank, mem_starved, b };

	return hs_store_memory_policy(store, &pol);
}
