/*
 * crash_model.c - the crash suite's operations and model; see crash_model.h.
 *
 * The writer draws its operations from a splitmix64 PRNG, so (seed, working
 * version) names them all.  The content of a line is never stored in the
 * model, only where each 64-byte block of it came from:
 *
 *   struct state   size | src[0] src[1] ... src[BPL-1] | src[BPL] ... | ... NBLK
 *                         '----------- line 0 --------'  '- line 1 -'
 *
 * and cm_line_build() makes the bytes from those sources when a check needs
 * them.  A checkpoint keeps a copy of the state and a fingerprint per line,
 * which diffs, line listings and usage are checked against.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash_model.h"
#include "test_util.h"

#define SHARED_BIT 0x80000000u          /* source shared by every line */
#define SHARED_A 0x5ea7edULL

void *cm_xmalloc(size_t n)
{
	void *p = malloc(n);

	ck_assert_msg(p != NULL, "out of memory (%zu bytes)", n);
	return p;
}

/* ---- the PRNG ------------------------------------------------------------ */

uint64_t cm_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rng_next(struct rng *g)
{
	g->s += 0x9e3779b97f4a7c15ULL;
	return cm_mix64(g->s);
}

uint64_t cm_rng_below(struct rng *g, uint64_t n)
{
	return n ? rng_next(g) % n : 0;
}

/* ---- content ------------------------------------------------------------- */

/* A whole line of source @src (see crash_model.h); with SHARED_BIT, it is
 * tu_fill(SHARED_A, src & ~SHARED_BIT), the same in every line. */
static void fill_src(uint8_t *line_buf, uint32_t src, uint64_t line)
{
	if (!src)
		memset(line_buf, 0, LS);
	else if (src & SHARED_BIT)
		tu_fill(line_buf, LS, SHARED_A, src & ~SHARED_BIT);
	else
		tu_fill(line_buf, LS, line, src);
}

void cm_line_build(uint8_t *out, const uint32_t *src, uint64_t line, uint8_t *tmp)
{
	bool done[BPL];

	memset(done, 0, sizeof(done));
	memset(out, 0, LS);
	for (unsigned b = 0; b < BPL; b++) {
		if (done[b] || !src[b])
			continue;
		fill_src(tmp, src[b], line);
		for (unsigned c = b; c < BPL; c++) {
			if (src[c] == src[b]) {
				memcpy(out + c * BLK, tmp + c * BLK, BLK);
				done[c] = true;
			}
		}
	}
}

void cm_range_build(uint8_t *out, uint64_t first, uint64_t n, uint32_t src, uint8_t *tmp)
{
	for (uint64_t k = 0; k < n;) {
		uint64_t blk = first + k, in = blk % BPL;
		uint64_t take = BPL - in < n - k ? BPL - in : n - k;

		fill_src(tmp, src, blk / BPL);
		memcpy(out + k * BLK, tmp + in * BLK, take * BLK);
		k += take;
	}
}

/* 0 for an all-zero line, else a 64-bit fingerprint (never 0). */
static uint64_t line_fp(const uint8_t *p)
{
	uint64_t h = 0x243f6a8885a308d3ULL, any = 0;

	for (size_t i = 0; i < LS; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		any |= w;
		h = cm_mix64(h ^ w ^ i);
	}
	return any ? h | 1 : 0;
}

/* ---- operations and the pipe protocol ------------------------------------ */

const char *const cm_op_names[OP_COUNT] = {
	"none", "create", "write", "punch", "truncate", "copy", "rewrite",
	"restore", "delete", "seal", "heap-delete",
};

void cm_op_str(const struct op *op, char *buf, size_t cap)
{
	const char *name = op->type < OP_COUNT ? cm_op_names[op->type] : "?";

	switch (op->type) {
	case OP_WRITE:
	case OP_PUNCH:
		snprintf(buf, cap, "%s blocks [%" PRIu64 ", +%" PRIu64 ") (line %" PRIu64
			 " block %" PRIu64 ") src %#x", name, op->x, op->y, op->x / BPL,
			 op->x % BPL, op->src);
		break;
	case OP_TRUNC:
		snprintf(buf, cap, "%s to %" PRIu64, name, op->x);
		break;
	case OP_COPY:
		snprintf(buf, cap, "%s line %" PRIu64 " from %" PRIu64, name, op->x, op->y);
		break;
	case OP_REWRITE:
		snprintf(buf, cap, "%s line %" PRIu64, name, op->x);
		break;
	case OP_RESTORE:
	case OP_DELETE:
	case OP_SEAL:
		snprintf(buf, cap, "%s %" PRIu64 "%s", name, op->y,
			 op->type == OP_SEAL && op->src ? " labelled" : "");
		break;
	default:
		snprintf(buf, cap, "%s", name);
		break;
	}
}

static uint64_t pick_line(struct rng *g)
{
	/* Half the traffic on 32 hot lines, so chains of versions get deep. */
	return cm_rng_below(g, 2) ? cm_rng_below(g, 32) : cm_rng_below(g, LINES);
}

int cm_op_pick(struct rng *g, uint64_t w, const uint64_t *cps, size_t ncp, struct op out[2])
{
	uint64_t r = cm_rng_below(g, 100), line = pick_line(g), b, e;

	memset(out, 0, 2 * sizeof(*out));
	out[0].type = OP_WRITE;
	out[0].src = (uint32_t)w;
	out[0].x = line * BPL;
	out[0].y = BPL;
	if (r < 40) {                   /* a whole line; sometimes an older content */
		if (r < 8 && w > 1)
			out[0].src = (uint32_t)(w - 1 - cm_rng_below(g, w - 1 < 8 ? w - 1 : 8));
	} else if (r < 52) {            /* across a line boundary */
		line = cm_rng_below(g, LINES - 1);
		b = 1 + cm_rng_below(g, BPL - 1);
		e = cm_rng_below(g, BPL - 1);
		out[0].x = line * BPL + b;
		out[0].y = (BPL - b) + e + 1;
	} else if (r < 64) {            /* part of one line */
		b = cm_rng_below(g, BPL);
		e = b + cm_rng_below(g, BPL - b);
		if (b == 0 && e == BPL - 1)
			e--;
		out[0].x = line * BPL + b;
		out[0].y = e - b + 1;
	} else if (r < 67) {            /* two lines of one content, one batch */
		line = cm_rng_below(g, LINES - 1);
		out[0].x = line * BPL;
		out[0].y = 2 * BPL;
		out[0].src = SHARED_BIT | (uint32_t)w;
	} else if (r < 70) {            /* one of four contents shared store-wide */
		out[0].src = SHARED_BIT | (uint32_t)(1 + cm_rng_below(g, 4));
	} else if (r < 73) {            /* zeros, written rather than punched */
		out[0].src = 0;
		if (cm_rng_below(g, 2))
			out[0].y = 1 + cm_rng_below(g, BPL - 1);
	} else if (r < 80) {            /* punch a line */
		out[0].type = OP_PUNCH;
	} else if (r < 84) {            /* punch part of a line */
		b = cm_rng_below(g, BPL);
		out[0].type = OP_PUNCH;
		out[0].x = line * BPL + b;
		out[0].y = 1 + cm_rng_below(g, BPL - b);
	} else if (r < 90 && ncp) {     /* a line as it was in a checkpoint */
		out[0].type = OP_COPY;
		out[0].x = line;
		out[0].y = cps[cm_rng_below(g, ncp)];
	} else if (r < 94) {            /* a line rewritten with what it holds */
		out[0].type = OP_REWRITE;
		out[0].x = line;
	} else if (r < 96) {            /* shrink, then regrow */
		uint64_t s1 = cm_rng_below(g, 8) ? NBLK - cm_rng_below(g, NBLK / 4)
						 : cm_rng_below(g, NBLK + 1);
		uint64_t s2 = s1 + cm_rng_below(g, NBLK - s1 + 1);

		memset(&out[0], 0, sizeof(out[0]));
		out[0].type = OP_TRUNC;
		out[0].x = s1 * BLK;
		out[1].type = OP_TRUNC;
		out[1].x = s2 * BLK;
		return 2;
	}
	return 1;
}

void cm_rec_get(const uint8_t *log, size_t i, struct rec *out)
{
	memcpy(out, log + i * sizeof(*out), sizeof(*out));
}

/* ---- the model ----------------------------------------------------------- */

void cm_model_init(struct cm_model *m, const char *where)
{
	m->where = where;
	m->line = cm_xmalloc(LS);
	m->tmp = cm_xmalloc(LS);
}

void cm_model_dispose(struct cm_model *m)
{
	for (size_t i = 0; i < m->n_cps; i++)
		free(m->cps[i].st);
	free(m->dead_labels);
	free(m->line);
	free(m->tmp);
}

static struct cp *model_cp(struct cm_model *m, uint64_t version)
{
	for (size_t i = 0; i < m->n_cps; i++) {
		if (m->cps[i].version == version)
			return &m->cps[i];
	}
	return NULL;
}

void cm_state_fp(struct cm_model *m, const struct state *st, uint64_t fp[LINES])
{
	for (uint64_t l = 0; l < LINES; l++) {
		cm_line_build(m->line, st->src + l * BPL, l, m->tmp);
		fp[l] = line_fp(m->line);
	}
}

void cm_state_apply(struct cm_model *m, struct state *st, const struct op *op)
{
	const struct cp *cp;
	uint64_t end;

	switch (op->type) {
	case OP_WRITE:
		for (uint64_t b = op->x; b < op->x + op->y; b++)
			st->src[b] = op->src;
		end = (op->x + op->y) * BLK;
		if (end > st->size)
			st->size = end;
		break;
	case OP_PUNCH:          /* blocks past the size are zero already */
		for (uint64_t b = op->x; b < op->x + op->y; b++)
			st->src[b] = 0;
		break;
	case OP_TRUNC:
		for (uint64_t b = op->x / BLK; b < NBLK; b++)
			st->src[b] = 0;
		st->size = op->x;
		break;
	case OP_COPY:
		cp = model_cp(m, op->y);
		ck_assert_msg(cp != NULL, "%s: copy from %" PRIu64
			      ", not a checkpoint in the model", m->where, op->y);
		memcpy(st->src + op->x * BPL, cp->st->src + op->x * BPL, BPL * sizeof(*st->src));
		/* the write extends the heap like a rewrite */
		/* fall through */
	case OP_REWRITE:
		end = (op->x + 1) * LS;
		if (end > st->size)
			st->size = end;
		break;
	case OP_RESTORE:
		cp = model_cp(m, op->y);
		ck_assert_msg(cp != NULL, "%s: restore to %" PRIu64
			      ", not a checkpoint in the model", m->where, op->y);
		*st = *cp->st;
		break;
	default:
		ck_abort_msg("%s: operation %u is not a content operation", m->where, op->type);
	}
}

void cm_model_apply(struct cm_model *m, const struct op *op)
{
	struct cp *cp;

	switch (op->type) {
	case OP_CREATE:
		ck_assert_msg(!m->created, "%s: heap created twice", m->where);
		m->created = true;
		m->head = 1;
		memset(&m->live, 0, sizeof(m->live));
		break;
	case OP_SEAL:
		ck_assert_msg(op->y == m->head, "%s: seal of %" PRIu64 " while the model's working "
			      "version is %" PRIu64, m->where, op->y, m->head);
		ck_assert_msg(m->n_cps < CP_CAP, "%s: more than %d checkpoints", m->where, CP_CAP);
		cp = &m->cps[m->n_cps++];
		cp->version = op->y;
		cp->labelled = op->src != 0;
		cp->st = cm_xmalloc(sizeof(*cp->st));
		*cp->st = m->live;
		cm_state_fp(m, cp->st, cp->fp);
		m->head++;
		m->sealed++;
		break;
	case OP_DELETE:
		cp = model_cp(m, op->y);
		ck_assert_msg(cp != NULL, "%s: delete of %" PRIu64
			      ", not a checkpoint in the model", m->where, op->y);
		if (cp->labelled) {
			if (m->n_dead == m->cap_dead) {
				size_t cap = m->cap_dead ? 2 * m->cap_dead : 64;
				uint64_t *grown = realloc(m->dead_labels, cap * sizeof(*grown));

				ck_assert(grown != NULL);
				m->dead_labels = grown;
				m->cap_dead = cap;
			}
			m->dead_labels[m->n_dead++] = cp->version;
		}
		free(cp->st);
		memmove(cp, cp + 1, (size_t)(&m->cps[m->n_cps] - (cp + 1)) * sizeof(*cp));
		m->n_cps--;
		break;
	default:
		cm_state_apply(m, &m->live, op);
		break;
	}
}

void cm_model_replay(struct cm_model *m, const uint8_t *log, size_t n)
{
	char a[160], b[160];

	m->pending = false;
	for (size_t i = 0; i < n; i++) {
		struct rec rec;

		cm_rec_get(log, i, &rec);
		switch (rec.kind) {
		case R_READY:
			ck_assert_msg(m->created, "%s: child ready but the heap was never created",
				      m->where);
			ck_assert_msg(rec.val == m->head && rec.val2 == m->n_cps,
				      "%s: child found working version %" PRIu64 " and %" PRIu64
				      " checkpoints; the model has %" PRIu64 " and %zu",
				      m->where, rec.val, rec.val2, m->head, m->n_cps);
			break;
		case R_INTENT:
			cm_op_str(&rec.op, a, sizeof(a));
			ck_assert_msg(!m->pending, "%s: intent %s while an op is open",
				      m->where, a);
			m->pend = rec.op;
			m->pending = true;
			break;
		case R_DONE:
			cm_op_str(&rec.op, a, sizeof(a));
			cm_op_str(&m->pend, b, sizeof(b));
			ck_assert_msg(m->pending && memcmp(&rec.op, &m->pend, sizeof(rec.op)) == 0,
				      "%s: done %s does not match intent %s", m->where, a, b);
			ck_assert_msg(rec.rc == 0, "%s: %s returned %" PRId64, m->where, a, rec.rc);
			cm_model_apply(m, &rec.op);
			m->pending = false;
			m->ops_done++;
			m->done_by_type[rec.op.type]++;
			break;
		default:
			ck_abort_msg("%s: record of kind %u", m->where, rec.kind);
		}
	}
}
