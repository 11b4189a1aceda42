/*
 * crash_world.c - test_crash's model (crash_world.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_world.h"

/* The seed of round @round's workload (and, with @salt, of its kill plan). */
uint64_t round_seed(uint64_t seed, uint32_t round, uint64_t salt)
{
	uint64_t x = seed ^ ((uint64_t)round << 32) ^ salt;

	return mu_splitmix64(&x);
}

uint32_t slot_tag(int heap, int sp, uint32_t slot)
{
	return ((uint32_t)heap << 24) | ((uint32_t)sp << 23) | slot;
}

void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* What slot @tag holds at generation @gen (zeros for 0). */
void slot_fill(uint8_t *p, uint32_t tag, uint64_t gen)
{
	if (!gen) {
		memset(p, 0, SLOT);
		return;
	}
	le64_put(p, gen);
	le64_put(p + 8, TAG_MAGIC ^ tag);
	mu_fill(p + 16, SLOT - 16, gen * 0x100000001b3ULL ^ tag, 0);
}

/*
 * The generation slot @p (of @tag) holds, in *@gen_out; false if it is
 * neither zeros nor any generation's content (torn, foreign or corrupt).
 */
bool slot_ident(const uint8_t *p, uint32_t tag, uint64_t *gen_out)
{
	uint8_t want[SLOT];
	uint64_t gen = le64_get(p);
	uint32_t i = 0;

	while (i < SLOT && !p[i])
		i++;
	if (i == SLOT) {
		*gen_out = 0;
		return true;
	}
	*gen_out = gen;
	if (!gen || le64_get(p + 8) != (TAG_MAGIC ^ tag))
		return false;
	slot_fill(want, tag, gen);
	return memcmp(want, p, SLOT) == 0;
}

void cell_push(struct cell *c, uint64_t val, uint32_t op, uint8_t how)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 4;
		c->h = realloc(c->h, c->cap * sizeof(*c->h));
		if (!c->h)
			abort();
	}
	c->h[c->n++] = (struct asg){ val, op, how };
}

uint64_t cell_cur(const struct cell *c)
{
	return c->h[c->n - 1].val;
}

void cell_set(struct cell *c, uint64_t val, uint32_t op, uint8_t how)
{
	if (cell_cur(c) != val || c->h[c->n - 1].how != how)
		cell_push(c, val, op, how);
}

/* A durable point covering values given @cover ways: the newest such becomes the floor. */
void cell_durable(struct cell *c, unsigned cover)
{
	for (uint32_t i = c->n; i-- > 1;) {
		if (cover & (1u << c->h[i].how)) {
			memmove(c->h, c->h + i, (c->n - i) * sizeof(*c->h));
			c->n -= i;
			return;
		}
	}
}

bool cell_allows(const struct cell *c, uint64_t val)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->h[i].val == val)
			return true;
	}
	return false;
}

/*
 * Is @val (allowed by @c) older than a write (not a mapped store) that
 * returned before op @fail_op?  The contract allows it before an fsync;
 * the README's write-through says it does not happen.
 */
bool cell_behind(const struct cell *c, uint64_t val, uint32_t fail_op)
{
	uint32_t at = 0, last = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		if (c->h[i].val == val)
			at = i;
		if (c->h[i].how == HOW_WRITE && c->h[i].op < fail_op)
			last = i;
	}
	return at < last;
}

void cell_rebase(struct cell *c, uint64_t val)
{
	c->n = 0;
	cell_push(c, val, 0, HOW_BASE);
}

void space_durable(struct space *s, unsigned cover)
{
	for (uint32_t i = 0; i < s->nslots; i++)
		cell_durable(&s->slot[i], cover);
	if (cover & COVER_WRITE)
		cell_durable(&s->size, cover);
}

void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	for (int hi = 0; hi < NHEAP; hi++) {
		for (int sp = 0; sp < SP_N; sp++) {
			struct space *s = &w->h[hi].sp[sp];

			uint64_t max = sp == SP_HEAP ? cfgs[hi].max : cfgs[hi].state_max;

			s->nslots = (uint32_t)(max / SLOT);
			s->slot = calloc(s->nslots, sizeof(*s->slot));
			ck_assert_ptr_nonnull(s->slot);
			for (uint32_t i = 0; i < s->nslots; i++)
				cell_rebase(&s->slot[i], 0);
			cell_rebase(&s->size, 0);
		}
	}
}

void ckpt_free(struct ckpt *c)
{
	for (int sp = 0; sp < SP_N; sp++)
		free(c->gen[sp]);
}

void world_free(struct world *w)
{
	for (int hi = 0; hi < NHEAP; hi++) {
		struct heapm *h = &w->h[hi];

		for (int sp = 0; sp < SP_N; sp++) {
			for (uint32_t i = 0; i < h->sp[sp].nslots; i++)
				free(h->sp[sp].slot[i].h);
			free(h->sp[sp].slot);
			free(h->sp[sp].size.h);
		}
		for (uint32_t i = 0; i < h->nck; i++)
			ckpt_free(&h->ck[i]);
		free(h->ck);
	}
}

/* FNV-1a over heap @hi's current values and checkpoint count. */
uint64_t heap_hash(const struct world *w, int hi)
{
	const struct heapm *h = &w->h[hi];
	uint64_t x = 0xcbf29ce484222325ULL;

	for (int sp = 0; sp < SP_N; sp++) {
		const struct space *s = &h->sp[sp];

		for (uint32_t i = 0; i <= s->nslots; i++) {
			uint64_t v = i < s->nslots ? cell_cur(&s->slot[i]) : cell_cur(&s->size);

			for (int b = 0; b < 8; b++)
				x = (x ^ ((v >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
		}
	}
	return (x ^ h->nck) * 0x100000001b3ULL;
}

bool op_durable(enum op_kind k)
{
	return op_letter[k] != 0;
}

/* The next op of the workload: a function of @r and @w only. */
void op_pick(const struct world *w, struct mu_rng *r, struct op *o)
{
	unsigned v, acc = 0;
	const struct heapm *h;
	const struct space *s;
	uint32_t ns;
	int k;

	memset(o, 0, sizeof(*o));
	if (w->pending_ckpt) {
		o->kind = OP_CKPT;
		o->heap = w->pending_ckpt - 1;
		o->ctl = mu_rnd(r, 4) == 0;
		snprintf(o->label, sizeof(o->label), "r%u-%u", w->round,
			 w->h[o->heap].made + 1);
		return;
	}
	o->heap = (int)mu_rnd(r, NHEAP);
	h = &w->h[o->heap];
	v = (unsigned)mu_rnd(r, 1000);
	for (k = 0; k < OP_N - 1; k++) {
		acc += op_weights[k];
		if (v < acc)
			break;
	}
	o->kind = (enum op_kind)k;
	switch (o->kind) {
	case OP_MAPW:
		s = &h->sp[SP_HEAP];
		ns = (uint32_t)(cell_cur(&s->size) / SLOT);
		if (ns == 0) {
			o->kind = OP_PWRITE;   /* nothing mapped to store to yet */
			ns = s->nslots;
		}
		o->slot = (uint32_t)mu_rnd(r, ns);
		o->n = 1 + (uint32_t)mu_rnd(r, RUN_MAX);
		if (o->n > ns - o->slot)
			o->n = ns - o->slot;
		break;
	case OP_PWRITE:
	case OP_WRITE:
	case OP_STATEW:
		s = &h->sp[o->kind == OP_STATEW ? SP_STATE : SP_HEAP];
		o->slot = (uint32_t)mu_rnd(r, s->nslots);
		o->n = 1 + (uint32_t)mu_rnd(r, o->kind == OP_STATEW ? 4 : RUN_MAX);
		if (o->n > s->nslots - o->slot)
			o->n = s->nslots - o->slot;
		break;
	case OP_TRUNC:
		ns = h->sp[SP_HEAP].nslots;
		o->size = (uint64_t)(ns / 4 + (uint32_t)mu_rnd(r, ns - ns / 4 + 1)) * SLOT;
		break;
	case OP_CKPT:
		o->kind = OP_MSYNC;
		o->pre_ckpt = true;
		break;
	case OP_RMCKPT:
		if (h->nck <= KEEP_CKPTS)
			o->kind = OP_FSYNC;
		else
			o->ck = (uint32_t)mu_rnd(r, h->nck);
		break;
	default:
		break;
	}
}

/* A copy of heap @h's current content as checkpoint @c's. */
void ckpt_snapshot(struct ckpt *c, const struct heapm *h)
{
	for (int sp = 0; sp < SP_N; sp++) {
		const struct space *s = &h->sp[sp];

		c->size[sp] = cell_cur(&s->size);
		c->gen[sp] = malloc(s->nslots * sizeof(uint64_t));
		if (!c->gen[sp])
			abort();
		for (uint32_t i = 0; i < s->nslots; i++)
			c->gen[sp][i] = cell_cur(&s->slot[i]);
	}
}

/*
 * Apply @o to the model.  @durable: it returned (its durable point holds),
 * with @n the checkpoint number a checkpoint made; otherwise it is the op
 * in flight at the crash, which may or may not have happened.
 */
void op_apply(struct world *w, const struct op *o, bool durable, uint64_t n)
{
	struct heapm *h = &w->h[o->heap];
	struct space *s = &h->sp[o->kind == OP_STATEW || o->kind == OP_SFSYNC ? SP_STATE : SP_HEAP];
	uint32_t op = ++w->op;
	struct ckpt *c;

	switch (o->kind) {
	case OP_PWRITE:
	case OP_WRITE:
	case OP_MAPW:
	case OP_STATEW:
		for (uint32_t i = 0; i < o->n; i++)
			cell_push(&s->slot[o->slot + i], ++w->gen, op,
				  o->kind == OP_MAPW ? HOW_MAP : HOW_WRITE);
		if ((uint64_t)(o->slot + o->n) * SLOT > cell_cur(&s->size)) {
			uint64_t end = (uint64_t)(o->slot + o->n) * SLOT;
			uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

			/*
			 * The kernel may send one write() as several requests,
			 * each ending on a page (it stops at a page whose source
			 * is not faulted in), and each extends the size: a kill
			 * between them leaves the size at one of those ends.
			 */
			if (o->kind != OP_MAPW) {
				for (uint64_t p = (cell_cur(&s->size) / page + 1) * page; p < end;
				     p += page)
					cell_set(&s->size, p, op, HOW_WRITE);
			}
			cell_set(&s->size, end, op, HOW_WRITE);
		}
		break;
	case OP_TRUNC:
		for (uint32_t i = (uint32_t)(o->size / SLOT); i < s->nslots; i++) {
			if (cell_cur(&s->slot[i]))
				cell_push(&s->slot[i], 0, op, HOW_WRITE);
		}
		cell_set(&s->size, o->size, op, HOW_WRITE);
		break;
	case OP_FSYNC:
	case OP_FDATASYNC:
	case OP_SFSYNC:
		if (durable)
			space_durable(s, COVER_WRITE);
		break;
	case OP_MSYNC:
		if (durable)
			space_durable(s, COVER_MAP);
		if (o->pre_ckpt)
			w->pending_ckpt = o->heap + 1;
		break;
	case OP_CKPT:
		w->pending_ckpt = 0;
		h->made++;
		if (h->nck == h->capck) {
			h->capck = h->capck ? 2 * h->capck : 16;
			h->ck = realloc(h->ck, h->capck * sizeof(*h->ck));
			if (!h->ck)
				abort();
		}
		c = &h->ck[h->nck++];
		memset(c, 0, sizeof(*c));
		c->round = w->round;
		c->op = op;
		c->n = durable ? n : 0;
		c->in_flight = !durable;
		snprintf(c->label, sizeof(c->label), "%s", o->label);
		ckpt_snapshot(c, h);
		if (durable) {
			space_durable(&h->sp[SP_HEAP], COVER_ALL);
			space_durable(&h->sp[SP_STATE], COVER_ALL);
		}
		break;
	case OP_RMCKPT:
		c = &h->ck[o->ck];
		if (!durable) {
			c->rm_in_flight = true;
			break;
		}
		ckpt_free(c);
		memmove(c, c + 1, (h->nck - o->ck - 1) * sizeof(*c));
		h->nck--;
		break;
	default:
		break;
	}
}
