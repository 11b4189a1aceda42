/*
 * crash_model.h - what the crash suite's writer does and what the store
 * must then hold: the operations it draws for each working version (from a
 * PRNG, so a seed replays them), the content they write, the records it
 * sends about them, and the model that replays those records into the
 * expected live heap and checkpoints.
 *
 * test_heapstore_crash.c runs the writer, kills it and compares the store
 * with this model.  Failed expectations are Check assertions, prefixed with
 * the caller's description of where the run is.
 */
#ifndef HEAPFS_CRASH_MODEL_H
#define HEAPFS_CRASH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LS 4096u                        /* line size of the test heap */
#define LINES 256u                      /* lines it may use */
#define BLK 64u                         /* granularity of partial writes */
#define BPL (LS / BLK)                  /* blocks per line */
#define NBLK (LINES * BPL)
#define CP_MAX 16                       /* the child keeps fewer checkpoints */
#define CP_CAP (CP_MAX + 2)

/* malloc(@n), or a failed test. */
void *cm_xmalloc(size_t n);

/* ---- the PRNG ------------------------------------------------------------ */

/* splitmix64's finalizer: a well-mixed function of @x. */
uint64_t cm_mix64(uint64_t x);

struct rng {
	uint64_t s;
};

/* Uniform enough in [0, @n); 0 if @n is 0. */
uint64_t cm_rng_below(struct rng *g, uint64_t n);

/* ---- content ------------------------------------------------------------- */

/*
 * A block's source: 0 is zeros; otherwise the block holds the same bytes as
 * that block of tu_fill(line, src) (a whole line of version src), or, for a
 * source with the shared bit set, the same bytes in every line.
 *
 * The bytes of line @line whose blocks have sources @src[0..BPL); @tmp is
 * LS bytes of scratch.
 */
void cm_line_build(uint8_t *out, const uint32_t *src, uint64_t line, uint8_t *tmp);

/* The bytes of blocks [@first, @first + @n) all from source @src; @tmp as
 * above. */
void cm_range_build(uint8_t *out, uint64_t first, uint64_t n, uint32_t src, uint8_t *tmp);

/* ---- operations and the pipe protocol ------------------------------------ */

enum op_type {
	OP_NONE,
	OP_CREATE,      /* create the heap */
	OP_WRITE,       /* blocks [x, x + y) := source src (0: zeros, written) */
	OP_PUNCH,       /* blocks [x, x + y) := zeros, by hs_heap_punch */
	OP_TRUNC,       /* size := x bytes */
	OP_COPY,        /* line x := line x of checkpoint y */
	OP_REWRITE,     /* line x := what it holds (read, then written back) */
	OP_RESTORE,     /* live := checkpoint y */
	OP_DELETE,      /* checkpoint y goes */
	OP_SEAL,        /* seal working version y, labelled "v<y>" if src */
	OP_HEAP_DELETE, /* delete the heap */
	OP_COUNT
};

extern const char *const cm_op_names[OP_COUNT];

struct op {
	uint32_t type;
	uint32_t src;
	uint64_t x;
	uint64_t y;
};

/* @op in words, for messages. */
void cm_op_str(const struct op *op, char *buf, size_t cap);

/* One or two (a shrink and a regrow) operations for working version @w,
 * drawn from @g; @cps[0..ncp) are the checkpoints a copy may read.  Returns
 * how many it put in @out. */
int cm_op_pick(struct rng *g, uint64_t w, const uint64_t *cps, size_t ncp, struct op out[2]);

enum rec_kind {
	R_READY = 1,    /* val: working version (0: no heap), val2: checkpoints */
	R_INTENT,       /* op is about to be called */
	R_DONE,         /* op returned rc; val: sealed version; val2: ns taken */
};

/* One pipe record; smaller than PIPE_BUF, so each write(2) is atomic. */
struct rec {
	uint32_t kind;
	uint32_t pad;
	struct op op;
	int64_t rc;
	uint64_t val;
	uint64_t val2;
};

/* Record @i of @log, records back to back as they came through the pipe. */
void cm_rec_get(const uint8_t *log, size_t i, struct rec *out);

/* ---- the model ----------------------------------------------------------- */

struct state {
	uint64_t size;
	uint32_t src[NBLK];
};

struct cp {
	uint64_t version;
	bool labelled;
	struct state *st;
	uint64_t fp[LINES];             /* line fingerprints, 0 for zero lines */
};

/* What the store must hold; cm_model_init() to start, cm_model_dispose(). */
struct cm_model {
	const char *where;              /* prefix of messages; the caller's buffer */
	bool created;
	uint64_t head;                  /* working version */
	struct state live;
	struct cp cps[CP_CAP];
	size_t n_cps;
	uint64_t *dead_labels;          /* labelled checkpoints since deleted */
	size_t n_dead, cap_dead;
	bool pending;                   /* an operation was in flight at the kill */
	struct op pend;

	/* scratch */
	uint8_t *line, *tmp;

	/* figures */
	uint64_t sealed, ops_done;
	uint64_t done_by_type[OP_COUNT];
};

/* An empty model (no heap yet) of a zeroed @m; @where stays the caller's. */
void cm_model_init(struct cm_model *m, const char *where);

/* Free what @m holds. */
void cm_model_dispose(struct cm_model *m);

/* Fingerprints of the lines of @st into @fp. */
void cm_state_fp(struct cm_model *m, const struct state *st, uint64_t fp[LINES]);

/* Apply a content operation to @st (what the store must do to the live heap). */
void cm_state_apply(struct cm_model *m, struct state *st, const struct op *op);

/* Apply any operation to the model. */
void cm_model_apply(struct cm_model *m, const struct op *op);

/* Replay the @n records of one child in @log into the model; note the op in
 * flight in m->pending and m->pend. */
void cm_model_replay(struct cm_model *m, const uint8_t *log, size_t n);

#endif
