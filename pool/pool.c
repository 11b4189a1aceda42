/*
 * pool.c - the cooperative policy: reservations, sub-pools, dispatch by
 * urgency against collateral and caps, repayment, the reclaim order, the
 * balloon's bound, rate and text, and coalesced reclaim passes (pool.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static const uint8_t split_default[POOL_NSUB] = { 40, 20, 20, 20 };

/* @pct percent of @x, rounded down, without overflow. */
static uint64_t pct_of(uint64_t x, unsigned pct)
{
	return x / 100 * pct + x % 100 * pct / 100;
}

/* Each sub-pool's size for a shared part of @shared bytes; what rounding
 * leaves goes to GL, so the four add up to it. */
static void sizes(const pool_state *p, uint64_t shared, uint64_t out[POOL_NSUB])
{
	uint64_t sum = 0;

	for (int i = 0; i < POOL_NSUB; i++) {
		out[i] = pct_of(shared, p->split[i]);
		sum += out[i];
	}
	out[POOL_GL] += shared - sum;
}

int pool_init(pool_state *p, uint64_t size, const uint8_t *split, unsigned cap_pct)
{
	unsigned sum = 0;

	if (!split)
		split = split_default;
	for (int i = 0; i < POOL_NSUB; i++)
		sum += split[i];
	if (sum != 100 || cap_pct > 100)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->size = size;
	memcpy(p->split, split, POOL_NSUB);
	p->cap_pct = (uint8_t)(cap_pct ? cap_pct : POOL_CAP_DEFAULT);
	sizes(p, size, p->sub_size);
	return 0;
}

void pool_heap_init(pool_heap *h)
{
	memset(h, 0, sizeof(*h));
	h->shares = POOL_SHARES_DEFAULT;
}

uint64_t pool_owed(const pool_heap *h)
{
	uint64_t owed = 0;

	for (int i = 0; i < POOL_NSUB; i++)
		owed += h->ledger[i];
	return owed;
}

uint64_t pool_collateral_free(const pool_heap *h)
{
	return h->collateral > h->pledged ? h->collateral - h->pledged : 0;
}

uint64_t pool_level(const pool_state *p, enum pool_sub s)
{
	return p->sub_size[s] > p->lent[s] ? p->sub_size[s] - p->lent[s] : 0;
}

uint64_t pool_low_mark(const pool_state *p, enum pool_sub s)
{
	return pct_of(p->sub_size[s], POOL_LOW_PCT);
}

bool pool_low(const pool_state *p, enum pool_sub s)
{
	return pool_level(p, s) < pool_low_mark(p, s);
}

int pool_reserve(pool_state *p, pool_heap *h, uint64_t reserve)
{
	uint64_t own = h->used - pool_owed(h), reserved, sub[POOL_NSUB];

	if (reserve < own)
		return -EBUSY;
	reserved = p->reserved - h->reserve;   /* every other heap's */
	if (reserve > p->size - reserved)
		return -ENOSPC;
	reserved += reserve;
	sizes(p, p->size - reserved, sub);
	for (int i = 0; i < POOL_NSUB; i++) {
		if (sub[i] < p->lent[i])
			return -ENOSPC;
	}
	memcpy(p->sub_size, sub, sizeof(sub));
	p->reserved = reserved;
	h->reserve = reserve;
	return 0;
}

/* What @h may still take from sub-pool @s: its level, within the cap. */
static uint64_t room(const pool_state *p, const pool_heap *h, enum pool_sub s)
{
	uint64_t level = pool_level(p, s);
	uint64_t cap = pct_of(p->sub_size[s], p->cap_pct);
	uint64_t left = cap > h->ledger[s] ? cap - h->ledger[s] : 0;

	return level < left ? level : left;
}

static bool is_loan(enum pool_sub s)
{
	return s == POOL_LE || s == POOL_LP;
}

/* pool_request(), or with @partial as much of it as the sub-pools hold. */
static int serve(pool_state *p, pool_heap *h, uint64_t bytes, enum pool_urgency u,
		 pool_grant *g, bool partial)
{
	static const enum pool_sub urgent[] = { POOL_GL };
	static const enum pool_sub pause[] = { POOL_LP, POOL_GP, POOL_LE };
	static const enum pool_sub efficiency[] = { POOL_LE };
	const enum pool_sub *order;
	size_t n;
	uint64_t own = h->used - pool_owed(h), need, coll = pool_collateral_free(h);
	pool_grant got;

	memset(&got, 0, sizeof(got));
	if (h->quota && (bytes > h->quota || h->used > h->quota - bytes))
		return -EDQUOT;
	got.own = h->reserve > own ? h->reserve - own : 0;
	if (got.own > bytes)
		got.own = bytes;
	need = bytes - got.own;
	switch (u) {
	case POOL_URGENT: order = urgent; n = 1; break;
	case POOL_PAUSE: order = pause; n = 3; break;
	default: order = efficiency; n = 1; break;
	}
	for (size_t i = 0; i < n && need; i++) {
		enum pool_sub s = order[i];
		uint64_t take = room(p, h, s);

		if (is_loan(s) && take > coll - got.pledged)
			take = coll - got.pledged;
		/* LP lends only against collateral for the whole of what it
		 * is asked (a durability point must not half-stall). */
		if (s == POOL_LP && coll - got.pledged < need)
			take = 0;
		if (take > need)
			take = need;
		got.sub[s] = take;
		if (is_loan(s))
			got.pledged += take;
		need -= take;
	}
	if (need && !partial)
		return -ENOSPC;
	bytes -= need;
	for (int s = 0; s < POOL_NSUB; s++) {
		p->lent[s] += got.sub[s];
		h->ledger[s] += got.sub[s];
	}
	h->pledged += got.pledged;
	h->used += bytes;
	if (g)
		*g = got;
	return 0;
}

int pool_request(pool_state *p, pool_heap *h, uint64_t bytes, enum pool_urgency u,
		 pool_grant *g)
{
	return serve(p, h, bytes, u, g, false);
}

uint64_t pool_request_most(pool_state *p, pool_heap *h, uint64_t bytes, enum pool_urgency u,
			   pool_grant *g)
{
	pool_grant got;

	if (serve(p, h, bytes, u, &got, true) < 0)
		memset(&got, 0, sizeof(got));   /* past its quota: nothing */
	if (g)
		*g = got;
	return got.own + got.sub[POOL_GL] + got.sub[POOL_GP] + got.sub[POOL_LE] +
	       got.sub[POOL_LP];
}

void pool_free(pool_state *p, pool_heap *h, uint64_t bytes, pool_repay *r)
{
	static const enum pool_sub order[] = { POOL_LP, POOL_LE, POOL_GP, POOL_GL };
	pool_repay got;
	uint64_t left;

	memset(&got, 0, sizeof(got));
	if (bytes > h->used)
		bytes = h->used;
	left = bytes;
	for (size_t i = 0; i < POOL_NSUB && left; i++) {
		enum pool_sub s = order[i];
		uint64_t x = h->ledger[s] < left ? h->ledger[s] : left;

		h->ledger[s] -= x;
		p->lent[s] -= x;
		got.sub[s] = x;
		if (is_loan(s))
			got.released += x;
		left -= x;
	}
	if (got.released > h->pledged)
		got.released = h->pledged;
	h->pledged -= got.released;
	got.own = left;
	h->used -= bytes;
	if (r)
		*r = got;
}

size_t pool_reclaim_order(const pool_heap *hs, size_t n, size_t *order)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (pool_owed(&hs[i]))
			order[m++] = i;
	}
	/* Insertion sort: a mount has tens of heaps, and ties keep their order. */
	for (size_t i = 1; i < m; i++) {
		size_t k = order[i], j = i;

		while (j > 0) {
			const pool_heap *a = &hs[order[j - 1]], *b = &hs[k];

			if ((double)pool_owed(b) / (b->shares ? b->shares : 1) <=
			    (double)pool_owed(a) / (a->shares ? a->shares : 1))
				break;
			order[j] = order[j - 1];
			j--;
		}
		order[j] = k;
	}
	return m;
}

uint64_t pool_balloon_target(const pool_heap *h, uint64_t want)
{
	uint64_t most = h->used > h->reserve ? h->used - h->reserve : 0;

	return want < most ? want : most;
}

int pool_rate_init(pool_rate *r, uint64_t min, uint64_t max, uint64_t step)
{
	if (!min || min > max || !step)
		return -EINVAL;
	r->min = min;
	r->max = max;
	r->step = step;
	r->cur = min;
	return 0;
}

void pool_rate_result(pool_rate *r, bool ok)
{
	if (ok)
		r->cur = r->max - r->cur > r->step ? r->cur + r->step : r->max;
	else
		r->cur = r->cur / 2 > r->min ? r->cur / 2 : r->min;
}

void pool_reclaim_init(pool_reclaim *r, uint64_t min, uint64_t max)
{
	memset(r, 0, sizeof(*r));
	r->min = min ? min : 1;
	r->max = max > r->min ? max : r->min;
	r->effort = r->max;
}

bool pool_reclaim_begin(pool_reclaim *r, uint64_t *effort)
{
	if (r->running)
		return false;
	r->running = true;
	r->passes++;
	*effort = r->effort;
	return true;
}

void pool_reclaim_end(pool_reclaim *r, uint64_t freed)
{
	r->running = false;
	if (freed)
		r->effort = r->max;
	else
		r->effort = r->effort / 2 > r->min ? r->effort / 2 : r->min;
}

int pool_balloon_format(const pool_balloon *b, char *buf, size_t cap, size_t *len)
{
	int n = snprintf(buf, cap, "target: %llu\ncurrent: %llu\nrate: %llu/s\n",
			 (unsigned long long)b->target, (unsigned long long)b->current,
			 (unsigned long long)b->rate);

	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	*len = (size_t)n;
	return 0;
}

/* Decimal digits only (no sign, no blank, no 0x), at most 2^64 - 1. */
static int parse_u64(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int pool_balloon_parse(const char *text, size_t len, pool_balloon_report *out)
{
	size_t at = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > POOL_BALLOON_TEXT_MAX)
		return -EINVAL;
	while (at < len) {
		const char *line = text + at, *nl = memchr(line, '\n', len - at), *sp;
		size_t n = nl ? (size_t)(nl - line) : len - at;
		bool *has;
		uint64_t *val;

		at += n + (nl != NULL);
		if (n == 0)
			continue;   /* blank lines, and the text's last newline */
		if (!(sp = memchr(line, ' ', n)))
			return -EINVAL;
		if ((size_t)(sp - line) == 8 && memcmp(line, "freeable", 8) == 0) {
			has = &out->has_freeable;
			val = &out->freeable;
		} else if ((size_t)(sp - line) == 4 && memcmp(line, "live", 4) == 0) {
			has = &out->has_live;
			val = &out->live;
		} else {
			return -EINVAL;
		}
		if (*has || parse_u64(sp + 1, n - (size_t)(sp - line) - 1, val) < 0)
			return -EINVAL;
		*has = true;
	}
	return out->has_freeable || out->has_live ? 0 : -EINVAL;
}
