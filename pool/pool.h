/*
 * pool.h - the cooperative policy of a mount's two budgets (DESIGN.md,
 * "Pools: the cooperative policy"), as pure functions over a pool's state:
 * one pool_state per budget (space: bytes stored; memory: the line cache's
 * resident bytes) and one pool_heap per heap and budget.
 *
 * The policy (pool.c) has no locks, no I/O, no clock: the caller holds its
 * own lock over a pool's state and its heaps', and hands in the time where
 * one matters; so every rule here is tested on tables
 * (tests/unit/test_pool.c).  A budget at run time (budget.c, "Budgets"
 * below) is that caller: the state behind a leaf lock, the balloons, and
 * the line cache's memory policy; it calls heapstore only to be that policy.
 *
 * The rules, in brief.  What heaps reserved is theirs.  What no heap
 * reserved is split into four sub-pools by split= (GL grant-urgent, GP
 * grant-pause, LE loan-efficiency, LP loan-pause; default 40:20:20:20).
 * A request past a heap's reservation has an urgency and is served, whole
 * or not at all:
 *   urgent      from GL only;
 *   pause       from LP against collateral, then GP, then LE against
 *               collateral;
 *   efficiency  from LE against collateral, else refused.
 * A loan (LP, LE) pledges as much of the heap's collateral (reclaimable
 * bytes it holds, not yet pledged); a grant (GL, GP) needs none.  One heap
 * takes at most cap= percent of any sub-pool.  Each heap's ledger says
 * what it owes each sub-pool; what it frees repays LP, then LE, then GP,
 * then GL, and the rest is its own again.
 */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapstore.h"

enum pool_sub { POOL_GL, POOL_GP, POOL_LE, POOL_LP, POOL_NSUB };

enum pool_urgency {
	POOL_URGENT,       /* a write, a write-back or a fault that cannot wait */
	POOL_PAUSE,        /* a durability point (fsync, msync, txn, checkpoint)
			      or a runtime's request through balloon */
	POOL_EFFICIENCY,   /* cache growth, read-ahead, keeping checkpoints */
};

#define POOL_SHARES_DEFAULT 100u
#define POOL_CAP_DEFAULT 50u
#define POOL_LOW_PCT 10u   /* a sub-pool under this much of itself is low */

/* One budget of a mount. */
typedef struct pool_state {
	uint64_t size;                    /* the budget */
	uint8_t split[POOL_NSUB];         /* percentages, summing to 100 */
	uint8_t cap_pct;                  /* of any sub-pool, for one heap */
	uint64_t reserved;                /* every heap's reserve */
	uint64_t sub_size[POOL_NSUB];     /* of size - reserved, by split */
	uint64_t lent[POOL_NSUB];         /* taken from each and not repaid */
} pool_state;

/* One heap's part of one budget. */
typedef struct pool_heap {
	uint64_t reserve;                 /* committed: always its own */
	uint64_t quota;                   /* its use at most; 0: none */
	uint32_t shares;                  /* whom to ask first: most owed per share */
	uint64_t used;                    /* its bytes: its own part, then loans */
	uint64_t ledger[POOL_NSUB];       /* what it owes each sub-pool */
	uint64_t collateral;              /* reclaimable bytes it holds (the caller's
					     count: clean lines, garbage, surplus
					     checkpoints) */
	uint64_t pledged;                 /* of it, backing its loans */
} pool_heap;

/* Where a request was served from (bytes). */
typedef struct pool_grant {
	uint64_t own;                     /* within its reservation */
	uint64_t sub[POOL_NSUB];
	uint64_t pledged;                 /* collateral it pledged */
} pool_grant;

/* Where freed bytes went (bytes). */
typedef struct pool_repay {
	uint64_t sub[POOL_NSUB];          /* loans and grants repaid */
	uint64_t own;                     /* back to its reservation or the free part */
	uint64_t released;                /* collateral no longer pledged */
} pool_repay;

/*
 * A pool of @size bytes split by @split (NULL: 40:20:20:20, else four
 * percentages summing to 100) with a per-heap cap of @cap_pct (0: 50).
 * Returns 0 or -EINVAL.
 */
int pool_init(pool_state *p, uint64_t size, const uint8_t *split, unsigned cap_pct);

/* A heap with no reserve, no quota, the default shares and nothing used. */
void pool_heap_init(pool_heap *h);

/*
 * Set @h's reservation to @reserve.  Raising it takes from what no heap
 * reserved: each sub-pool shrinks by its split, and none may shrink below
 * what it has lent (else -ENOSPC).  Lowering it gives back, but not below
 * what @h uses of its own part (else -EBUSY: free first).  Either way
 * nothing changed on failure.
 */
int pool_reserve(pool_state *p, pool_heap *h, uint64_t reserve);

/*
 * Ask for @bytes more for @h with urgency @u.  Served whole (0, *@g says
 * from where; @h and @p are charged) or not at all: -EDQUOT past @h's
 * quota, -ENOSPC when the sub-pools it may use cannot (reclaim, then ask
 * again).  @g may be NULL.
 */
int pool_request(pool_state *p, pool_heap *h, uint64_t bytes, enum pool_urgency u,
		 pool_grant *g);

/* As pool_request(), but serves what the sub-pools it may use hold of
 * @bytes, maybe less than asked (nothing past its quota): the bytes served. */
uint64_t pool_request_most(pool_state *p, pool_heap *h, uint64_t bytes, enum pool_urgency u,
			   pool_grant *g);

/*
 * @h freed @bytes (at most what it uses): its loans are repaid first, in
 * the order LP, LE, GP, GL (each min(owed, what is left)), the rest is
 * its own part, now free.  Collateral backing repaid loans is released.
 * @r may be NULL.
 */
void pool_free(pool_state *p, pool_heap *h, uint64_t bytes, pool_repay *r);

/* What @h owes the sub-pools. */
uint64_t pool_owed(const pool_heap *h);

/* Collateral @h holds and has not pledged. */
uint64_t pool_collateral_free(const pool_heap *h);

/* Bytes left in sub-pool @s; whether it is under its low-water mark. */
uint64_t pool_level(const pool_state *p, enum pool_sub s);
bool pool_low(const pool_state *p, enum pool_sub s);
/* The level under which sub-pool @s is low (POOL_LOW_PCT of it). */
uint64_t pool_low_mark(const pool_state *p, enum pool_sub s);

/*
 * The order in which to ask heaps for bytes back: the @n heaps at @hs,
 * most owed per share first (ties: the lower index); only heaps that owe
 * anything.  Writes up to @n indexes to @order; returns how many.
 */
size_t pool_reclaim_order(const pool_heap *hs, size_t n, size_t *order);

/*
 * The most a balloon may ask of @h: what it uses past its reservation (a
 * balloon never pushes a heap below it).  @want clamped to that.
 */
uint64_t pool_balloon_target(const pool_heap *h, uint64_t want);

/*
 * The balloon's adaptive rate (bytes a second): it starts at @min, rises
 * by @step after each success, halves after a failure, within [min, max].
 */
typedef struct pool_rate {
	uint64_t min, max, step, cur;
} pool_rate;

int pool_rate_init(pool_rate *r, uint64_t min, uint64_t max, uint64_t step);
void pool_rate_result(pool_rate *r, bool ok);

/*
 * The balloon file's text.  Read: "target: BYTES\ncurrent: BYTES\n
 * rate: BYTES/s\n" (pool_balloon_format, 0 or -ENOSPC if @cap is too
 * small; the length through *@len).  Written by a runtime: lines
 * "freeable BYTES" and "live BYTES", each at most once, in any order,
 * nothing else (pool_balloon_parse: 0, or -EINVAL for an unknown word, a
 * number that is not decimal digits or past 2^64 - 1, a line repeated, a
 * line or the whole past POOL_BALLOON_TEXT_MAX, or an empty text).
 */
#define POOL_BALLOON_TEXT_MAX 256

typedef struct pool_balloon {
	uint64_t target, current, rate;
} pool_balloon;

typedef struct pool_balloon_report {
	bool has_freeable, has_live;
	uint64_t freeable, live;
} pool_balloon_report;

int pool_balloon_format(const pool_balloon *b, char *buf, size_t cap, size_t *len);
int pool_balloon_parse(const char *text, size_t len, pool_balloon_report *out);

/*
 * Reclaim passes, coalesced: many waiters cause one pass at a time, and a
 * pass that freed nothing halves the effort of the next (down to @min)
 * instead of spinning; one that freed something restores it.
 */
typedef struct pool_reclaim {
	bool running;                     /* a pass is under way */
	uint64_t passes;                  /* passes started */
	uint64_t effort, min, max;        /* bytes the next pass asks for */
} pool_reclaim;

void pool_reclaim_init(pool_reclaim *r, uint64_t min, uint64_t max);
/* A waiter wants bytes back: true if the caller is to run a pass now (it
 * asks for *@effort bytes), false if one is running (wait for its end). */
bool pool_reclaim_begin(pool_reclaim *r, uint64_t *effort);
void pool_reclaim_end(pool_reclaim *r, uint64_t freed);

/*
 * Budgets: one budget of a mount at run time (budget.c), the state above
 * behind a leaf lock with an entry per heap id, made as heaps first take
 * or are set.  Work-conserving: what the policy refuses is still lent
 * from idle memory (POOL_TAKE_IDLE), the first taken back when another
 * heap needs room; so a heap alone may use the whole budget, and the
 * sub-pools and caps decide what each keeps when heaps compete.
 */
typedef struct pool_budget pool_budget;

enum { POOL_TAKE_REFUSED, POOL_TAKE_SERVED, POOL_TAKE_IDLE, POOL_TAKE_OVER };
enum { POOL_ASK, POOL_TAKE, POOL_FORCE };

typedef struct pool_budget_heap {
	uint64_t id;
	pool_heap h;                      /* what the policy served, its settings */
	uint64_t idle;                    /* lent from idle memory past that */
} pool_budget_heap;

int pool_budget_new(pool_budget **out, uint64_t size, const uint8_t *split, unsigned cap_pct);
void pool_budget_free(pool_budget *b);

/* Heap @id's reserve, quota (0: none) and shares (0: the default): 0,
 * -ENOSPC or -EBUSY as pool_reserve() (nothing changed), -ENOMEM. */
int pool_budget_set(pool_budget *b, uint64_t id, uint64_t reserve, uint64_t quota,
		    uint32_t shares);
/* Heap @id is gone: what it held and reserved is free. */
void pool_budget_forget(pool_budget *b, uint64_t id);

/*
 * Heap @id is to hold @bytes more; @clean: its clean bytes (collateral),
 * @room: whether unused memory could hold them.  Returns POOL_TAKE_SERVED
 * (efficiency, else urgent when it has too few clean bytes to make room
 * from its own), POOL_TAKE_IDLE (both refused: lent from idle memory, only
 * with @room), POOL_TAKE_REFUSED (no room) or POOL_TAKE_OVER (past its
 * quota).  @mode POOL_ASK charges nothing, POOL_TAKE what it served or
 * lent, POOL_FORCE always (what it did not serve, as an idle loan).
 */
int pool_budget_take(pool_budget *b, uint64_t id, uint64_t bytes, uint64_t clean, bool room,
		     int mode);
/* Heap @id holds @bytes less: idle loans repaid first, then pool_free(). */
void pool_budget_give(pool_budget *b, uint64_t id, uint64_t bytes);
/* Whose to take back first: POOL_TAKE_IDLE (holds idle loans), _SERVED
 * (past its reservation), _REFUSED (within it: kept). */
int pool_budget_rank(pool_budget *b, uint64_t id);

/* A copy of the state and every heap's entry (*@heaps malloc'd). */
int pool_budget_get(pool_budget *b, pool_state *st, pool_budget_heap **heaps, size_t *n);
/* Heap @id's entry (defaults if it has none: false). */
bool pool_budget_heap_get(pool_budget *b, uint64_t id, pool_budget_heap *out);

/*
 * Balloons: one per heap of a budget.  target and current are cumulative
 * (bytes asked for, bytes given back); an ask is outstanding while current
 * < target.  @gen counts the target's changes (a poller's wake-up).
 */
bool pool_budget_balloon_get(pool_budget *b, uint64_t id, pool_balloon *out, uint64_t *gen);
/* What the heap's runtime wrote (freeable, live): kept, a hint only. */
int pool_budget_balloon_report(pool_budget *b, uint64_t id, const pool_balloon_report *r);
bool pool_budget_balloon_reported(pool_budget *b, uint64_t id, pool_balloon_report *out);
/* The heap gave back @bytes (holes punched, truncated): credited up to its
 * target; meeting it raises its rate.  Returns the bytes credited. */
uint64_t pool_budget_balloon_credit(pool_budget *b, uint64_t id, uint64_t bytes);

/*
 * Ask heap @id's balloon for @most bytes at most (its rate's worth), unless
 * an ask of its is open or it is paused after a miss: returns the bytes
 * asked (0: none), its new target in *@target.  (The space budget's
 * reclaim asks through it; pool_budget_reclaim() withdraws late asks.)
 */
uint64_t pool_budget_balloon_ask(pool_budget *b, uint64_t id, uint64_t most, uint64_t now_ns,
				 uint64_t *target);

/* A target a reclaim pass set (raised, or withdrawn after its deadline). */
typedef struct pool_ask {
	uint64_t id;
	uint64_t target;
} pool_ask;

/*
 * One reclaim pass at @now_ns: withdraws asks older than @deadline_ns
 * (halving those heaps' rates, pausing them as long); then, if a miss was
 * starved since the last pass (pool_budget_starved: nothing it could
 * evict), asks the heaps most owed per share first for their rate's worth
 * (or their reported freeable bytes), coalesced and backing off as
 * pool_reclaim.  Up to @max changed targets in @asks; returns how many.
 */
size_t pool_budget_reclaim(pool_budget *b, uint64_t now_ns, uint64_t deadline_ns,
			   pool_ask *asks, size_t max);
/* A miss found nothing to evict (the cache's policy says so itself). */
void pool_budget_starved(pool_budget *b);

/*
 * The space budget: heapstore's limits admit or refuse space; the budget
 * keeps the ledger of it.  pool_budget_note() (heapstore's use hook: quick,
 * a leaf lock) keeps heap @id's moves of use (referenced bytes, charges,
 * holds); they are settled at the next read of the budget (get, heap_get,
 * borrowers, set): growth asks the sub-pools, a durability point's part
 * as a pause and the rest as urgent, and what they do not hold is lent
 * past them (idle: admitted, never refused after the fact); shrinking
 * repays idle loans first, then the sub-pools (pool_free()).
 */
void pool_budget_note(pool_budget *b, uint64_t id, int64_t delta, bool pause);

/* A heap holding past its reservation: @borrowed, its owed and idle loans. */
typedef struct pool_borrower {
	uint64_t id, borrowed;
	uint32_t shares;
} pool_borrower;

/* The heaps that hold past their reservations, most per share first (ties:
 * as the budget lists them); *@out malloc'd.  0 or -ENOMEM. */
int pool_budget_borrowers(pool_budget *b, pool_borrower **out, size_t *n);

/* Make @b the line cache's memory policy (hs_store_memory_policy). */
int pool_budget_govern_cache(pool_budget *b, hs_store *store);

#endif /* POOL_H */
