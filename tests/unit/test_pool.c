/*
 * test_pool.c - the cooperative policy (pool/, DESIGN.md "Pools") on
 * tables: dispatch by urgency (urgent from GL only; pause from LP against
 * collateral, then GP, then LE; efficiency from LE against collateral or
 * refused), caps, quotas, reservations, repayment in the order LP, LE,
 * GP, GL then the free part, collateral pledged once, the reclaim order,
 * the balloon's bound, adaptive rate and text (hostile input refused),
 * and coalesced reclaim passes.
 *
 * The pool of most cases: 1000 bytes, nothing reserved, split 40:20:20:20
 * (GL 400, GP 200, LE 200, LP 200), cap 100% unless a case says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "pool.h"
#include "test_util.h"

#define GL POOL_GL
#define GP POOL_GP
#define LE POOL_LE
#define LP POOL_LP

static pool_state pool_of(unsigned cap)
{
	pool_state p;

	ck_assert_int_eq(pool_init(&p, 1000, NULL, cap), 0);
	return p;
}

static pool_heap heap_with(uint64_t collateral)
{
	pool_heap h;

	pool_heap_init(&h);
	h.collateral = collateral;
	return h;
}

START_TEST(init_splits_and_refuses_bad_splits)
{
	static const uint8_t bad[POOL_NSUB] = { 40, 20, 20, 30 }, odd[POOL_NSUB] = { 33, 33, 33, 1 };
	pool_state p;

	p = pool_of(0);
	ck_assert_uint_eq(p.sub_size[GL], 400);
	ck_assert_uint_eq(p.sub_size[GP], 200);
	ck_assert_uint_eq(p.sub_size[LE], 200);
	ck_assert_uint_eq(p.sub_size[LP], 200);
	ck_assert_uint_eq(p.cap_pct, POOL_CAP_DEFAULT);
	ck_assert_int_eq(pool_init(&p, 1000, bad, 0), -EINVAL);
	ck_assert_int_eq(pool_init(&p, 1000, NULL, 101), -EINVAL);
	/* What rounding leaves goes to GL: the four always add up. */
	ck_assert_int_eq(pool_init(&p, 1001, odd, 0), 0);
	ck_assert_uint_eq(p.sub_size[GL] + p.sub_size[GP] + p.sub_size[LE] + p.sub_size[LP], 1001);
}
END_TEST

/*
 * The seeds' walk-through of a pause request: with collateral it is served
 * from LP; when LP is empty, from GP; when GP is empty too, from LE (a
 * loan again, against collateral); then nothing is left for it.
 */
static const struct pause_step {
	uint64_t bytes;
	int rc;
	uint64_t from[POOL_NSUB];
	uint64_t pledged;                 /* by this request */
} pause_walk[] = {
	{ 150, 0, { 0, 0, 0, 150 }, 150 },      /* LP, pledging 150 */
	{ 50, 0, { 0, 0, 0, 50 }, 50 },         /* LP is empty now */
	{ 120, 0, { 0, 120, 0, 0 }, 0 },        /* GP: a grant, no collateral */
	{ 100, 0, { 0, 80, 20, 0 }, 20 },       /* the rest of GP, then LE */
	{ 200, -ENOSPC, { 0 }, 0 },             /* LE has 180, too little */
	{ 180, 0, { 0, 0, 180, 0 }, 180 },      /* all of LE */
	{ 1, -ENOSPC, { 0 }, 0 },               /* GL is never a pause's */
};

START_TEST(pause_from_lp_then_gp_then_le)
{
	pool_state p = pool_of(100);
	pool_heap h = heap_with(10000);
	uint64_t pledged = 0;

	for (size_t i = 0; i < sizeof(pause_walk) / sizeof(*pause_walk); i++) {
		const struct pause_step *s = &pause_walk[i];
		pool_grant g;
		uint64_t used = h.used;

		memset(&g, 0xff, sizeof(g));
		ck_assert_msg(pool_request(&p, &h, s->bytes, POOL_PAUSE, &g) == s->rc, "step %zu", i);
		if (s->rc) {
			ck_assert_uint_eq(h.used, used);   /* nothing charged */
			continue;
		}
		for (int k = 0; k < POOL_NSUB; k++)
			ck_assert_msg(g.sub[k] == s->from[k], "step %zu sub %d: %llu", i, k,
				      (unsigned long long)g.sub[k]);
		ck_assert_uint_eq(g.own, 0);
		ck_assert_uint_eq(g.pledged, s->pledged);
		pledged += s->pledged;
		ck_assert_uint_eq(h.pledged, pledged);
	}
	ck_assert_uint_eq(pool_level(&p, LP), 0);
	ck_assert_uint_eq(pool_level(&p, GP), 0);
	ck_assert_uint_eq(pool_level(&p, LE), 0);
	ck_assert_uint_eq(pool_level(&p, GL), 400);
	ck_assert_uint_eq(pool_owed(&h), 600);
}
END_TEST

/* LP lends only against collateral for the whole request: a heap with too
 * little goes to GP (a grant), and its collateral is not touched. */
START_TEST(pause_without_enough_collateral_skips_lp)
{
	pool_state p = pool_of(100);
	pool_heap h = heap_with(40);
	pool_grant g;

	ck_assert_int_eq(pool_request(&p, &h, 100, POOL_PAUSE, &g), 0);
	ck_assert_uint_eq(g.sub[LP], 0);
	ck_assert_uint_eq(g.sub[GP], 100);
	ck_assert_uint_eq(h.pledged, 0);
	/* GP has 100 left; 150 more: GP's 100, then LE against the 40 it has:
	 * 50 is past it, so refused whole. */
	ck_assert_int_eq(pool_request(&p, &h, 150, POOL_PAUSE, &g), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &h, 140, POOL_PAUSE, &g), 0);
	ck_assert_uint_eq(g.sub[GP], 100);
	ck_assert_uint_eq(g.sub[LE], 40);
	ck_assert_uint_eq(h.pledged, 40);
}
END_TEST

static const struct urgency_case {
	const char *what;
	enum pool_urgency u;
	uint64_t collateral, bytes;
	int rc;
	enum pool_sub from;
} urgency_cases[] = {
	{ "efficiency without collateral", POOL_EFFICIENCY, 0, 10, -ENOSPC, LE },
	{ "efficiency with too little", POOL_EFFICIENCY, 9, 10, -ENOSPC, LE },
	{ "efficiency with collateral", POOL_EFFICIENCY, 10, 10, 0, LE },
	{ "urgent, no collateral needed", POOL_URGENT, 0, 400, 0, GL },
	{ "urgent past GL", POOL_URGENT, 1000, 401, -ENOSPC, GL },
	{ "pause with collateral", POOL_PAUSE, 200, 200, 0, LP },
	{ "pause without", POOL_PAUSE, 0, 200, 0, GP },
};

START_TEST(each_urgency_its_sub_pools)
{
	const struct urgency_case *c = &urgency_cases[_i];
	pool_state p = pool_of(100);
	pool_heap h = heap_with(c->collateral);
	pool_grant g;

	ck_assert_msg(pool_request(&p, &h, c->bytes, c->u, &g) == c->rc, "%s", c->what);
	if (c->rc == 0) {
		ck_assert_msg(g.sub[c->from] == c->bytes, "%s", c->what);
		ck_assert_uint_eq(pool_owed(&h), c->bytes);
	} else {
		ck_assert_uint_eq(pool_owed(&h), 0);
		ck_assert_uint_eq(h.pledged, 0);
	}
}
END_TEST

/* One heap takes at most cap= percent of any sub-pool; another heap then
 * takes what is left. */
START_TEST(cap_bounds_one_heap)
{
	pool_state p = pool_of(50);
	pool_heap a = heap_with(0), b = heap_with(0);

	ck_assert_int_eq(pool_request(&p, &a, 200, POOL_URGENT, NULL), 0);   /* 50% of GL */
	ck_assert_int_eq(pool_request(&p, &a, 1, POOL_URGENT, NULL), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &b, 201, POOL_URGENT, NULL), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &b, 200, POOL_URGENT, NULL), 0);
	ck_assert_uint_eq(pool_level(&p, GL), 0);
	/* Freeing makes room under the cap again. */
	pool_free(&p, &a, 50, NULL);
	ck_assert_int_eq(pool_request(&p, &a, 50, POOL_URGENT, NULL), 0);
}
END_TEST

/*
 * The seeds' repayment: a heap that borrowed W from LP, X from LE, Y from
 * GP and Z from GL frees A bytes: LP, LE, GP, GL are refilled in that
 * order, each with min(owed, what is left), and the rest is free.
 */
static const struct repay_case {
	uint64_t w, x, y, z, a;
	uint64_t back[POOL_NSUB], own;
} repay_cases[] = {
	{ 100, 50, 30, 20, 0, { 0, 0, 0, 0 }, 0 },
	{ 100, 50, 30, 20, 60, { 0, 0, 0, 60 }, 0 },             /* LP first */
	{ 100, 50, 30, 20, 130, { 0, 0, 30, 100 }, 0 },          /* then LE */
	{ 100, 50, 30, 20, 170, { 0, 20, 50, 100 }, 0 },         /* then GP */
	{ 100, 50, 30, 20, 195, { 15, 30, 50, 100 }, 0 },        /* then GL */
	{ 100, 50, 30, 20, 260, { 20, 30, 50, 100 }, 60 },       /* the rest: free */
	{ 0, 50, 0, 20, 60, { 10, 0, 50, 0 }, 0 },               /* no LP loan */
};

START_TEST(free_repays_lp_le_gp_gl_then_the_free_part)
{
	const struct repay_case *c = &repay_cases[_i];
	pool_state p = pool_of(100);
	pool_heap h = heap_with(1000);
	pool_grant g;
	pool_repay r;

	h.reserve = 0;
	/* Borrow exactly W, X, Y, Z; then use 100 of its own (a reserve). */
	ck_assert_int_eq(pool_reserve(&p, &h, 100), 0);
	ck_assert_int_eq(pool_request(&p, &h, 100, POOL_URGENT, &g), 0);
	ck_assert_uint_eq(g.own, 100);
	if (c->w)
		ck_assert_int_eq(pool_request(&p, &h, c->w, POOL_PAUSE, &g), 0);
	ck_assert_uint_eq(g.sub[LP], c->w);
	if (c->x)
		ck_assert_int_eq(pool_request(&p, &h, c->x, POOL_EFFICIENCY, NULL), 0);
	if (c->y) {
		uint64_t keep = h.collateral;

		h.collateral = h.pledged;   /* none free: pause goes to GP */
		ck_assert_int_eq(pool_request(&p, &h, c->y, POOL_PAUSE, &g), 0);
		ck_assert_uint_eq(g.sub[GP], c->y);
		h.collateral = keep;
	}
	if (c->z)
		ck_assert_int_eq(pool_request(&p, &h, c->z, POOL_URGENT, NULL), 0);
	ck_assert_uint_eq(h.ledger[LP], c->w);
	ck_assert_uint_eq(h.ledger[LE], c->x);
	ck_assert_uint_eq(h.ledger[GP], c->y);
	ck_assert_uint_eq(h.ledger[GL], c->z);
	pool_free(&p, &h, c->a, &r);
	for (int k = 0; k < POOL_NSUB; k++) {
		ck_assert_msg(r.sub[k] == c->back[k], "case %d sub %d: %llu", _i, k,
			      (unsigned long long)r.sub[k]);
		ck_assert_uint_eq(p.lent[k], h.ledger[k]);
	}
	ck_assert_uint_eq(r.own, c->own);
	ck_assert_uint_eq(r.released, c->back[LP] + c->back[LE]);
	ck_assert_uint_eq(h.pledged, c->w + c->x - r.released);
	ck_assert_uint_eq(pool_owed(&h), c->w + c->x + c->y + c->z - (c->a - c->own));
	ck_assert_uint_eq(h.used, 100 + c->w + c->x + c->y + c->z - c->a);
}
END_TEST

/* Collateral backs one loan at a time: what is pledged to LP cannot back
 * an LE loan too, and comes free when the loan is repaid. */
START_TEST(collateral_never_pledged_twice)
{
	pool_state p = pool_of(100);
	pool_heap h = heap_with(150);

	ck_assert_int_eq(pool_request(&p, &h, 100, POOL_PAUSE, NULL), 0);    /* LP */
	ck_assert_uint_eq(pool_collateral_free(&h), 50);
	ck_assert_int_eq(pool_request(&p, &h, 60, POOL_EFFICIENCY, NULL), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &h, 50, POOL_EFFICIENCY, NULL), 0);   /* LE */
	ck_assert_uint_eq(pool_collateral_free(&h), 0);
	ck_assert_int_eq(pool_request(&p, &h, 1, POOL_EFFICIENCY, NULL), -ENOSPC);
	/* A pause now: no collateral for LP, so a grant from GP. */
	{
		pool_grant g;

		ck_assert_int_eq(pool_request(&p, &h, 10, POOL_PAUSE, &g), 0);
		ck_assert_uint_eq(g.sub[GP], 10);
		ck_assert_uint_eq(g.pledged, 0);
	}
	/* Repaying the LP loan frees its collateral. */
	pool_free(&p, &h, 100, NULL);
	ck_assert_uint_eq(h.ledger[LP], 0);
	ck_assert_uint_eq(pool_collateral_free(&h), 100);
	ck_assert_int_eq(pool_request(&p, &h, 101, POOL_EFFICIENCY, NULL), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &h, 100, POOL_EFFICIENCY, NULL), 0);
	ck_assert_uint_eq(pool_collateral_free(&h), 0);
}
END_TEST

/* A reservation is the heap's own: served first, never lent, and the
 * shared part shrinks with it; it cannot shrink the sub-pools below what
 * they lent, nor drop below what the heap uses of it; a quota caps all. */
START_TEST(reserve_and_quota)
{
	pool_state p = pool_of(100);
	pool_heap a = heap_with(0), b = heap_with(0);
	pool_grant g;

	ck_assert_int_eq(pool_reserve(&p, &a, 500), 0);
	ck_assert_uint_eq(p.sub_size[GL], 200);
	ck_assert_uint_eq(p.sub_size[LP], 100);
	ck_assert_int_eq(pool_request(&p, &a, 300, POOL_EFFICIENCY, &g), 0);   /* its own */
	ck_assert_uint_eq(g.own, 300);
	ck_assert_uint_eq(pool_owed(&a), 0);
	/* Another heap borrows all of GL; the reservation still holds. */
	ck_assert_int_eq(pool_request(&p, &b, 200, POOL_URGENT, NULL), 0);
	ck_assert_int_eq(pool_request(&p, &b, 1, POOL_URGENT, NULL), -ENOSPC);
	ck_assert_int_eq(pool_request(&p, &a, 200, POOL_URGENT, &g), 0);
	ck_assert_uint_eq(g.own, 200);
	/* No reservation past what is left, however large (no wrap-around). */
	ck_assert_int_eq(pool_reserve(&p, &b, UINT64_MAX), -ENOSPC);
	ck_assert_int_eq(pool_reserve(&p, &b, 501), -ENOSPC);
	/* a uses 500 of its own: the reserve cannot go below that. */
	ck_assert_int_eq(pool_reserve(&p, &a, 499), -EBUSY);
	/* Nor can b reserve what GL lent out: GL would be 180 < 200 lent. */
	ck_assert_int_eq(pool_reserve(&p, &b, 50), -ENOSPC);
	ck_assert_uint_eq(p.reserved, 500);
	/* A quota. */
	a.quota = 600;
	ck_assert_int_eq(pool_request(&p, &a, 101, POOL_URGENT, NULL), -EDQUOT);
	ck_assert_int_eq(pool_request(&p, &a, 100, POOL_URGENT, NULL), -ENOSPC);   /* GL is b's */
	pool_free(&p, &b, 200, NULL);
	ck_assert_int_eq(pool_request(&p, &a, 100, POOL_URGENT, NULL), 0);
	ck_assert_int_eq(pool_request(&p, &a, 1, POOL_URGENT, NULL), -EDQUOT);
}
END_TEST

/* Most owed per share first; heaps that owe nothing are not asked. */
START_TEST(reclaim_order_by_owed_per_share)
{
	pool_heap hs[4];
	size_t order[4];

	for (int i = 0; i < 4; i++)
		pool_heap_init(&hs[i]);
	hs[0].ledger[GL] = 100;                  /* 1 per share */
	hs[1].ledger[LE] = 300;                  /* 3 per share */
	hs[2].ledger[GP] = 300;
	hs[2].shares = 300;                      /* 1 per share: after 0 (a tie) */
	/* hs[3] owes nothing */
	ck_assert_uint_eq(pool_reclaim_order(hs, 4, order), 3);
	ck_assert_uint_eq(order[0], 1);
	ck_assert_uint_eq(order[1], 0);
	ck_assert_uint_eq(order[2], 2);
}
END_TEST

/* A balloon asks at most what a heap uses past its reservation. */
START_TEST(balloon_never_below_the_reservation)
{
	pool_heap h = heap_with(0);

	h.reserve = 300;
	h.used = 500;
	ck_assert_uint_eq(pool_balloon_target(&h, 1000), 200);
	ck_assert_uint_eq(pool_balloon_target(&h, 150), 150);
	h.used = 250;
	ck_assert_uint_eq(pool_balloon_target(&h, 100), 0);
}
END_TEST

/* The rate starts at its minimum, rises a step per success up to its
 * maximum, halves on a failure, never under its minimum. */
START_TEST(balloon_rate_adapts)
{
	static const struct { bool ok; uint64_t after; } walk[] = {
		{ true, 20 }, { true, 30 }, { true, 40 }, { false, 20 }, { true, 30 },
		{ true, 40 }, { true, 50 }, { true, 55 }, { true, 55 }, { false, 27 },
		{ false, 13 }, { false, 10 }, { false, 10 },
	};
	pool_rate r;

	ck_assert_int_eq(pool_rate_init(&r, 10, 55, 10), 0);
	ck_assert_uint_eq(r.cur, 10);
	for (size_t i = 0; i < sizeof(walk) / sizeof(*walk); i++) {
		pool_rate_result(&r, walk[i].ok);
		ck_assert_msg(r.cur == walk[i].after, "step %zu: %llu", i, (unsigned long long)r.cur);
	}
	ck_assert_int_eq(pool_rate_init(&r, 0, 10, 1), -EINVAL);
	ck_assert_int_eq(pool_rate_init(&r, 20, 10, 1), -EINVAL);
}
END_TEST

/* 32 waiters, one pass; a pass that freed nothing halves the next one's
 * effort (down to the minimum); one that freed something restores it. */
START_TEST(reclaim_passes_coalesce_and_back_off)
{
	pool_reclaim r;
	uint64_t effort = 0;
	int runners = 0;

	pool_reclaim_init(&r, 1 << 10, 1 << 20);
	for (int i = 0; i < 32; i++)
		runners += pool_reclaim_begin(&r, &effort);
	ck_assert_int_eq(runners, 1);
	ck_assert_uint_eq(effort, 1 << 20);
	pool_reclaim_end(&r, 0);
	ck_assert(pool_reclaim_begin(&r, &effort));
	ck_assert_uint_eq(effort, 1 << 19);
	pool_reclaim_end(&r, 0);
	for (int i = 0; i < 20; i++) {
		ck_assert(pool_reclaim_begin(&r, &effort));
		pool_reclaim_end(&r, 0);
	}
	ck_assert(pool_reclaim_begin(&r, &effort));
	ck_assert_uint_eq(effort, 1 << 10);
	pool_reclaim_end(&r, 4096);
	ck_assert(pool_reclaim_begin(&r, &effort));
	ck_assert_uint_eq(effort, 1 << 20);
	ck_assert_uint_eq(r.passes, 24);
}
END_TEST

/* Low water: under 10% of a sub-pool. */
START_TEST(low_water_mark)
{
	pool_state p = pool_of(100);
	pool_heap h = heap_with(0);

	ck_assert(!pool_low(&p, GL));
	ck_assert_int_eq(pool_request(&p, &h, 360, POOL_URGENT, NULL), 0);
	ck_assert(!pool_low(&p, GL));           /* 40 left: exactly 10% */
	ck_assert_int_eq(pool_request(&p, &h, 1, POOL_URGENT, NULL), 0);
	ck_assert(pool_low(&p, GL));
}
END_TEST

/* The balloon's text: what it reads, and what a runtime may write. */
START_TEST(balloon_text_read)
{
	pool_balloon b = { 64u << 20, 1u << 20, UINT64_MAX };
	char buf[POOL_BALLOON_TEXT_MAX];
	size_t len = 0;

	ck_assert_int_eq(pool_balloon_format(&b, buf, sizeof(buf), &len), 0);
	ck_assert_str_eq(buf, "target: 67108864\ncurrent: 1048576\nrate: 18446744073709551615/s\n");
	ck_assert_uint_eq(len, strlen(buf));
	ck_assert_int_eq(pool_balloon_format(&b, buf, 20, &len), -ENOSPC);
}
END_TEST

static const struct balloon_case {
	const char *text;
	int rc;
	int has_freeable, has_live;
	uint64_t freeable, live;
} balloon_cases[] = {
	{ "freeable 4096\n", 0, 1, 0, 4096, 0 },
	{ "live 10\nfreeable 0", 0, 1, 1, 0, 10 },
	{ "\nfreeable 18446744073709551615\n\n", 0, 1, 0, UINT64_MAX, 0 },
	{ "freeable 18446744073709551616\n", -EINVAL, 0, 0, 0, 0 },   /* 2^64 */
	{ "freeable 99999999999999999999999\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable -1\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable +1\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable 0x10\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable 1 \n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable  1\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable \n", -EINVAL, 0, 0, 0, 0 },
	{ "freeable 1\nfreeable 2\n", -EINVAL, 0, 0, 0, 0 },
	{ "target 5\n", -EINVAL, 0, 0, 0, 0 },
	{ "freeablee 5\n", -EINVAL, 0, 0, 0, 0 },
	{ "Free 5\n", -EINVAL, 0, 0, 0, 0 },
	{ "\n\n", -EINVAL, 0, 0, 0, 0 },
	{ "", -EINVAL, 0, 0, 0, 0 },
	{ "live 5\r\n", -EINVAL, 0, 0, 0, 0 },
	{ "live 5\0\n", -EINVAL, 0, 0, 0, 0 },
};

START_TEST(balloon_text_written)
{
	const struct balloon_case *c = &balloon_cases[_i];
	size_t len = strlen(c->text);
	pool_balloon_report r;

	if (strcmp(c->text, "live 5") == 0)   /* the NUL case: it is inside */
		len = 8;
	ck_assert_msg(pool_balloon_parse(c->text, len, &r) == c->rc, "case %d", _i);
	if (c->rc)
		return;
	ck_assert_int_eq(r.has_freeable, c->has_freeable);
	ck_assert_int_eq(r.has_live, c->has_live);
	ck_assert_uint_eq(r.freeable, c->freeable);
	ck_assert_uint_eq(r.live, c->live);
}
END_TEST

/* Past the bound, refused whole, however well formed. */
START_TEST(balloon_text_too_long)
{
	char text[POOL_BALLOON_TEXT_MAX + 2];
	pool_balloon_report r;

	memset(text, '\n', sizeof(text));
	memcpy(text, "live 1", 6);
	ck_assert_int_eq(pool_balloon_parse(text, POOL_BALLOON_TEXT_MAX, &r), 0);
	ck_assert_int_eq(pool_balloon_parse(text, POOL_BALLOON_TEXT_MAX + 1, &r), -EINVAL);
}
END_TEST

/* ---- budgets (budget.c) ------------------------------------------------ */

static pool_budget_heap budget_heap(pool_budget *b, uint64_t id)
{
	pool_budget_heap e;

	pool_budget_heap_get(b, id, &e);
	return e;
}

static uint64_t budget_owed(pool_budget *b, uint64_t id)
{
	pool_budget_heap e = budget_heap(b, id);

	return pool_owed(&e.h);
}

/* 1000 bytes split 40:20:20:20, cap 50: GL 400, GP/LE/LP 200 each. */
START_TEST(budget_serves_then_lends_idle_memory)
{
	pool_budget *b;

	ck_assert_int_eq(pool_budget_new(&b, 1000, NULL, 50), 0);
	/* No clean bytes: urgent, from GL, up to its cap (200). */
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GL], 200);
	/* With collateral: efficiency, from LE, up to its cap (100). */
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 200, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_LE], 100);
	/* Both capped: idle memory lends it with room, nothing without. */
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 300, false, POOL_ASK), POOL_TAKE_REFUSED);
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 300, true, POOL_ASK), POOL_TAKE_IDLE);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 0);   /* asking charges nothing */
	ck_assert_int_eq(pool_budget_take(b, 1, 100, 300, true, POOL_TAKE), POOL_TAKE_IDLE);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 100);
	ck_assert_int_eq(pool_budget_rank(b, 1), POOL_TAKE_IDLE);
	/* Giving back repays the idle loan first, then LE, then GL. */
	pool_budget_give(b, 1, 150);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 0);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_LE], 50);
	ck_assert_int_eq(pool_budget_rank(b, 1), POOL_TAKE_SERVED);
	pool_budget_give(b, 1, 250);
	ck_assert_uint_eq(budget_heap(b, 1).h.used, 0);
	ck_assert_uint_eq(budget_owed(b, 1), 0);
	pool_budget_free(b);
}
END_TEST

START_TEST(budget_reservation_quota_and_force)
{
	pool_budget *b;

	ck_assert_int_eq(pool_budget_new(&b, 1000, NULL, 50), 0);
	/* Held before the reservation: its own up to it, the rest idle. */
	ck_assert_int_eq(pool_budget_take(b, 1, 200, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_int_eq(pool_budget_take(b, 1, 200, 0, true, POOL_TAKE), POOL_TAKE_IDLE);
	ck_assert_int_eq(pool_budget_set(b, 1, 250, 0, 0), 0);
	ck_assert_uint_eq(budget_heap(b, 1).h.used, 250);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 150);
	ck_assert_uint_eq(budget_owed(b, 1), 0);
	pool_budget_give(b, 1, 150);
	ck_assert_int_eq(pool_budget_rank(b, 1), POOL_TAKE_REFUSED);   /* within: kept */
	/* Past the budget less the others' reservations: refused, unchanged. */
	ck_assert_int_eq(pool_budget_set(b, 2, 800, 0, 0), -ENOSPC);
	ck_assert_uint_eq(budget_heap(b, 2).h.reserve, 0);
	/* A quota: over it is OVER; forced, an idle loan. */
	ck_assert_int_eq(pool_budget_set(b, 2, 0, 200, 0), 0);
	ck_assert_int_eq(pool_budget_take(b, 2, 150, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_int_eq(pool_budget_take(b, 2, 50, 0, true, POOL_TAKE), POOL_TAKE_IDLE);
	ck_assert_int_eq(pool_budget_take(b, 2, 1, 0, true, POOL_TAKE), POOL_TAKE_OVER);
	ck_assert_uint_eq(budget_heap(b, 2).h.used + budget_heap(b, 2).idle, 200);
	ck_assert_int_eq(pool_budget_take(b, 2, 1, 0, true, POOL_FORCE), POOL_TAKE_OVER);
	ck_assert_uint_eq(budget_heap(b, 2).idle, 51);
	/* Gone: what it held and reserved is free. */
	pool_budget_forget(b, 1);
	ck_assert_int_eq(pool_budget_set(b, 3, 750, 0, 0), 0);
	pool_budget_free(b);
}
END_TEST

START_TEST(budget_reservation_recalls_loans)
{
	pool_budget *b;
	pool_budget_heap *hs;
	pool_state st;
	size_t n;

	ck_assert_int_eq(pool_budget_new(&b, 1000, NULL, 100), 0);
	ck_assert_int_eq(pool_budget_take(b, 1, 400, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GL], 400);
	/* 500 reserved leaves GL 200 < 400 lent: the loan becomes idle. */
	ck_assert_int_eq(pool_budget_set(b, 2, 500, 0, 0), 0);
	ck_assert_uint_eq(budget_owed(b, 1), 0);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 400);
	ck_assert_int_eq(pool_budget_get(b, &st, &hs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(st.reserved, 500);
	ck_assert_uint_eq(st.lent[POOL_GL], 0);
	ck_assert_uint_eq(st.sub_size[POOL_GL], 200);
	free(hs);
	pool_budget_free(b);
}
END_TEST

/* pool_request_most: what the sub-pools hold of a request, never more. */
START_TEST(request_most_serves_part)
{
	pool_state p;
	pool_heap h;
	pool_grant g;

	ck_assert_int_eq(pool_init(&p, 1000, NULL, 100), 0);
	pool_heap_init(&h);
	ck_assert_uint_eq(pool_request_most(&p, &h, 300, POOL_URGENT, &g), 300);
	ck_assert_uint_eq(pool_request_most(&p, &h, 300, POOL_URGENT, &g), 100);   /* GL 400 */
	ck_assert_uint_eq(g.sub[POOL_GL], 100);
	ck_assert_uint_eq(h.used, 400);
	ck_assert_uint_eq(pool_level(&p, POOL_GL), 0);
	/* Efficiency without collateral: nothing, and nothing charged. */
	ck_assert_uint_eq(pool_request_most(&p, &h, 50, POOL_EFFICIENCY, &g), 0);
	ck_assert_uint_eq(h.used, 400);
	/* Past a quota: nothing. */
	h.quota = 420;
	ck_assert_uint_eq(pool_request_most(&p, &h, 50, POOL_PAUSE, &g), 0);
	ck_assert_uint_eq(pool_request_most(&p, &h, 20, POOL_PAUSE, &g), 20);
	ck_assert_uint_eq(g.sub[POOL_GP], 20);
}
END_TEST

/*
 * The space budget: moves of use are noted (from heapstore's hook) and
 * settled at the next read.  1000 bytes, 40:20:20:20, cap 50: GL 400
 * (200 a heap), GP 200 (100 a heap).
 */
START_TEST(budget_settles_noted_use)
{
	pool_budget *b;
	pool_borrower *bw;
	size_t n;

	ck_assert_int_eq(pool_budget_new(&b, 1000, NULL, 50), 0);
	ck_assert_int_eq(pool_budget_set(b, 2, 100, 0, 0), 0);   /* GL 360: 180 a heap */
	/* Writes: urgent, GL to its cap, the rest lent past the sub-pools. */
	pool_budget_note(b, 1, 150, false);
	pool_budget_note(b, 1, 100, false);
	pool_budget_note(b, 1, -10, false);   /* netted before it settles */
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GL], 180);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 60);
	ck_assert_uint_eq(budget_heap(b, 1).h.used + budget_heap(b, 1).idle, 240);
	/* A durability point's growth is a pause: GP (no collateral: no LP). */
	pool_budget_note(b, 1, 30, true);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GP], 30);
	/* New shares or quota, the same reservation: the ledger stays. */
	ck_assert_int_eq(pool_budget_set(b, 1, 0, 5000, 100), 0);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GL], 180);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GP], 30);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 60);
	ck_assert_uint_eq(budget_heap(b, 1).h.quota, 5000);
	/* Within a reservation: its own, owing nothing; past it, GL. */
	pool_budget_note(b, 2, 120, false);
	ck_assert_uint_eq(budget_owed(b, 2), 20);
	ck_assert_uint_eq(budget_heap(b, 2).h.used, 120);
	/* Whom to ask first: most past its reservation per share. */
	ck_assert_int_eq(pool_budget_borrowers(b, &bw, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(bw[0].id, 1);
	ck_assert_uint_eq(bw[0].borrowed, 270);
	ck_assert_uint_eq(bw[1].id, 2);
	ck_assert_uint_eq(bw[1].borrowed, 20);
	free(bw);
	ck_assert_int_eq(pool_budget_set(b, 2, 100, 0, 5), 0);   /* 20 / 5 > 270 / 100 */
	ck_assert_int_eq(pool_budget_borrowers(b, &bw, &n), 0);
	ck_assert_uint_eq(bw[0].id, 2);
	free(bw);
	/* Freeing repays the loan past the sub-pools first, then GP, then GL. */
	pool_budget_note(b, 1, -80, false);
	ck_assert_uint_eq(budget_heap(b, 1).idle, 0);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GP], 10);
	ck_assert_uint_eq(budget_heap(b, 1).h.ledger[POOL_GL], 180);
	pool_budget_note(b, 1, -1000, false);   /* never below nothing */
	ck_assert_uint_eq(budget_heap(b, 1).h.used, 0);
	ck_assert_uint_eq(budget_owed(b, 1), 0);
	/* A heap the budget does not know that shrinks is nothing. */
	pool_budget_note(b, 9, -50, false);
	ck_assert(!pool_budget_heap_get(b, 9, &(pool_budget_heap){ 0 }));
	pool_budget_free(b);
}
END_TEST

START_TEST(budget_balloons_ask_most_owed_first_and_adapt)
{
	const uint64_t MB = 1024 * 1024, s = 1000000000ULL;
	pool_budget *b;
	pool_balloon bal;
	pool_ask asks[8];
	uint64_t gen;

	/* 64 MiB, cap 100: heap 1 takes all of GL (25.6 MiB), heap 2 a little. */
	ck_assert_int_eq(pool_budget_new(&b, 64 * MB, NULL, 100), 0);
	ck_assert_int_eq(pool_budget_set(b, 1, 0, 0, 0), 0);
	ck_assert_int_eq(pool_budget_take(b, 2, 4 * MB, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	ck_assert_int_eq(pool_budget_take(b, 1, 64 * MB * 4 / 10 - 4 * MB, 0, true, POOL_TAKE),
			 POOL_TAKE_SERVED);
	/* Nothing starved: nobody is asked, low as GL is (a full cache's
	 * steady state: eviction answers it). */
	ck_assert_uint_eq(pool_budget_reclaim(b, 1 * s - 1, 2 * s, asks, 8), 0);
	/* A miss starved: heap 1, most owed, is asked first, 1 MiB. */
	pool_budget_starved(b);
	ck_assert_uint_eq(pool_budget_reclaim(b, 1 * s, 2 * s, asks, 8), 2);
	ck_assert_uint_eq(asks[0].id, 1);
	ck_assert_uint_eq(asks[0].target, 1 * MB);
	ck_assert_uint_eq(asks[1].id, 2);
	ck_assert(pool_budget_balloon_get(b, 1, &bal, &gen));
	ck_assert_uint_eq(gen, 1);
	/* One ask at a time: the next pass asks nothing new. */
	pool_budget_starved(b);
	ck_assert_uint_eq(pool_budget_reclaim(b, 1 * s + 1, 2 * s, asks, 8), 0);
	/* Heap 1 answers (credited up to its target only): its rate rises. */
	ck_assert_uint_eq(pool_budget_balloon_credit(b, 1, 3 * MB), 1 * MB);
	ck_assert(pool_budget_balloon_get(b, 1, &bal, &gen));
	ck_assert_uint_eq(bal.current, 1 * MB);
	ck_assert_uint_eq(bal.rate, 2 * MB);
	/* Heap 2 does not: past the deadline its ask is withdrawn, its rate
	 * stays at the minimum, and it is left alone as long again; heap 1
	 * is asked its new rate's worth. */
	pool_budget_starved(b);
	ck_assert_uint_eq(pool_budget_reclaim(b, 4 * s, 2 * s, asks, 8), 2);
	ck_assert(pool_budget_balloon_get(b, 2, &bal, &gen));
	ck_assert_uint_eq(bal.target, bal.current);
	ck_assert_uint_eq(bal.rate, 1 * MB);
	ck_assert(pool_budget_balloon_get(b, 1, &bal, &gen));
	ck_assert_uint_eq(bal.target, 3 * MB);
	/* Never below a reservation: heap 2, reserving what it holds, is not
	 * asked again; heap 1's unanswered ask goes, and it is asked later. */
	ck_assert_int_eq(pool_budget_set(b, 2, 4 * MB, 0, 0), 0);
	pool_budget_starved(b);
	ck_assert_uint_eq(pool_budget_reclaim(b, 9 * s, 2 * s, asks, 8), 1);
	ck_assert_uint_eq(asks[0].id, 1);
	ck_assert_uint_eq(asks[0].target, 1 * MB);   /* withdrawn */
	/* (The reservation recalled heap 1's GL loan into an idle one, so GL
	 * is full again: heap 1 empties it once more.) */
	ck_assert_uint_eq(budget_owed(b, 1), 0);
	ck_assert_int_eq(pool_budget_take(b, 1, 24 * MB, 0, true, POOL_TAKE), POOL_TAKE_SERVED);
	pool_budget_starved(b);
	ck_assert_uint_eq(pool_budget_reclaim(b, 12 * s, 2 * s, asks, 8), 1);
	ck_assert_uint_eq(asks[0].id, 1);
	ck_assert_uint_eq(asks[0].target, 2 * MB);   /* its rate halved to 1 MiB */
	/* A runtime that says what it could give is asked for it at once. */
	{
		pool_balloon_report r = { .has_freeable = true, .freeable = 5 * MB };
		uint64_t target = 0;

		ck_assert_int_eq(pool_budget_balloon_report(b, 2, &r), 0);
		ck_assert_int_eq(pool_budget_set(b, 2, 0, 0, 0), 0);
		ck_assert_uint_eq(pool_budget_balloon_ask(b, 2, 64 * MB, 20 * s, &target), 5 * MB);
		ck_assert_uint_eq(target, 5 * MB);
		ck_assert_uint_eq(pool_budget_balloon_credit(b, 2, 4 * MB), 4 * MB);
		ck_assert(pool_budget_balloon_reported(b, 2, &r));
		ck_assert_uint_eq(r.freeable, 1 * MB);   /* given: that much less */
	}
	pool_budget_free(b);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, init_splits_and_refuses_bad_splits);
	tcase_add_test(tc, pause_from_lp_then_gp_then_le);
	tcase_add_test(tc, pause_without_enough_collateral_skips_lp);
	tcase_add_loop_test(tc, each_urgency_its_sub_pools, 0,
			    (int)(sizeof(urgency_cases) / sizeof(*urgency_cases)));
	tcase_add_test(tc, cap_bounds_one_heap);
	tcase_add_loop_test(tc, free_repays_lp_le_gp_gl_then_the_free_part, 0,
			    (int)(sizeof(repay_cases) / sizeof(*repay_cases)));
	tcase_add_test(tc, collateral_never_pledged_twice);
	tcase_add_test(tc, reserve_and_quota);
	tcase_add_test(tc, reclaim_order_by_owed_per_share);
	tcase_add_test(tc, balloon_never_below_the_reservation);
	tcase_add_test(tc, balloon_rate_adapts);
	tcase_add_test(tc, reclaim_passes_coalesce_and_back_off);
	tcase_add_test(tc, low_water_mark);
	tcase_add_test(tc, balloon_text_read);
	tcase_add_loop_test(tc, balloon_text_written, 0,
			    (int)(sizeof(balloon_cases) / sizeof(*balloon_cases)));
	tcase_add_test(tc, balloon_text_too_long);
	tcase_add_test(tc, budget_serves_then_lends_idle_memory);
	tcase_add_test(tc, budget_reservation_quota_and_force);
	tcase_add_test(tc, budget_reservation_recalls_loans);
	tcase_add_test(tc, budget_balloons_ask_most_owed_first_and_adapt);
	tcase_add_test(tc, request_most_serves_part);
	tcase_add_test(tc, budget_settles_noted_use);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(pool_suite());
}
