/*
 * crash_world.h - test_crash's model: what the workload writes (slots whose
 * content names their tag and generation), what each durable point
 * guarantees per slot and checkpoint, and the seeded choice of operations.
 * Shared by the workload, which applies it as it runs, and by the checks,
 * which replay it.
 */
#ifndef HEAPFS_CRASH_WORLD_H
#define HEAPFS_CRASH_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mount_util.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)

#define SLOT 1024u                /* the workload's unit of content */
#define RUN_MAX 8                 /* slots per write */
#define KEEP_CKPTS 6              /* per heap, the workload deletes beyond this */
#define CKPTS_MAX 256             /* per heap, a bound for the listing */
#define CTEST_ROUNDS 30
#define RUN_MS_MAX 450            /* the longest a round's workload runs */
#define TARGET_WAIT_MS 800        /* a targeted kill that saw no target kills then */
#define WORKLOAD_LIMIT_S 60       /* a workload never killed gives up */

/* The workload's exit codes. */
#define WL_DEAD 3                 /* an op failed, and the mount is dead: expected */
#define WL_BROKEN 4               /* an op failed with the mount alive: a bug */

enum { NHEAP = 2 };
enum space_kind { SP_HEAP, SP_STATE, SP_N };

static const struct heap_cfg {
	const char *name;
	uint32_t line;            /* the heap's line size */
	uint64_t max;             /* the heap never grows past this */
	uint64_t state_max;       /* nor its state past this */
} cfgs[NHEAP] = {
	{ "h4k", 4 * KiB, 512 * KiB, 32 * KiB },
	{ "h64k", 64 * KiB, 1 * MiB, 128 * KiB },
};

/* ---- slot content --------------------------------------------------- */

#define TAG_MAGIC 0xc3a5c85c97cb3127ULL

/* ---- the model ------------------------------------------------------ */

/* How a value was given: the round's starting point, a write, a mapped store. */
enum how { HOW_BASE, HOW_WRITE, HOW_MAP };

#define COVER_WRITE (1u << HOW_WRITE)
#define COVER_MAP (1u << HOW_MAP)
#define COVER_ALL (COVER_WRITE | COVER_MAP)

struct asg {
	uint64_t val;             /* a generation, or a size in bytes */
	uint32_t op;              /* the op that gave it (0: the base) */
	uint8_t how;
};

/*
 * A slot or a size: h[0] is the value the last durable point fixed (or
 * the base), h[n - 1] the current one; all of them are possible after a
 * crash.
 */
struct cell {
	struct asg *h;
	uint32_t n, cap;
};

struct space {
	uint32_t nslots;
	struct cell *slot;
	struct cell size;
};

/* A checkpoint the workload made (and has not deleted). */
struct ckpt {
	uint32_t round;
	uint32_t op;              /* the op that made it */
	uint64_t n;               /* its number; 0 while in flight and unseen */
	char label[32];
	bool in_flight;           /* made by the op in flight: may be absent */
	bool rm_in_flight;        /* deleted by the op in flight: may be present */
	uint64_t size[SP_N];
	uint64_t *gen[SP_N];      /* per slot */
};

struct heapm {
	struct space sp[SP_N];
	struct ckpt *ck;          /* in the order they were made */
	uint32_t nck, capck;
	uint32_t made;            /* checkpoints made this round, for labels */
};

struct world {
	uint64_t gen;             /* the last generation handed out */
	uint32_t round;
	uint32_t op;              /* ops applied this round */
	int pending_ckpt;         /* 1 + the heap whose checkpoint follows its msync */
	struct heapm h[NHEAP];
};

/* ---- operations ----------------------------------------------------- */

enum op_kind {
	OP_PWRITE, OP_WRITE, OP_MAPW, OP_STATEW, OP_TRUNC, OP_FSYNC, OP_FDATASYNC,
	OP_SFSYNC, OP_MSYNC, OP_CKPT, OP_GC, OP_RMCKPT, OP_N
};

static const char *const op_names[OP_N] = {
	"pwrite", "write", "mapstore", "state-pwrite", "ftruncate", "fsync", "fdatasync",
	"state-fsync", "msync", "checkpoint", "gc", "rm-checkpoint",
};

/* The letter a durable op announces itself with, 0 for the others. */
static const char op_letter[OP_N] = {
	[OP_FSYNC] = 'F', [OP_FDATASYNC] = 'F', [OP_SFSYNC] = 'S', [OP_MSYNC] = 'M',
	[OP_CKPT] = 'C', [OP_RMCKPT] = 'D',
};

/*
 * Per mille.  A checkpoint is drawn as its msync; the checkpoint follows.
 * Deletes outpace checkpoints, so each heap keeps about KEEP_CKPTS.  gc
 * (heapctl gc: it changes no content, so the model ignores it) reclaims
 * what the overwrites and deletes leave, kills landing in it too.
 */
static const unsigned op_weights[OP_N] = {
	[OP_PWRITE] = 330, [OP_WRITE] = 110, [OP_MAPW] = 220, [OP_STATEW] = 110,
	[OP_TRUNC] = 15, [OP_FSYNC] = 50, [OP_FDATASYNC] = 30, [OP_SFSYNC] = 45,
	[OP_MSYNC] = 50, [OP_CKPT] = 10, [OP_GC] = 15, [OP_RMCKPT] = 15,
};

struct op {
	enum op_kind kind;
	int heap;
	uint32_t slot, n;         /* writes: the slots */
	uint64_t size;            /* ftruncate: the new size */
	bool pre_ckpt;            /* msync: a checkpoint follows */
	bool ctl;                 /* checkpoint: through heapctl, not mkdir */
	uint32_t ck;              /* rm-checkpoint: which, in the heap's list */
	char label[32];           /* checkpoint */
};

/* crash_world.c */
uint64_t round_seed(uint64_t seed, uint32_t round, uint64_t salt);
uint32_t slot_tag(int heap, int sp, uint32_t slot);
void le64_put(uint8_t *p, uint64_t v);
uint64_t le64_get(const uint8_t *p);
void slot_fill(uint8_t *p, uint32_t tag, uint64_t gen);
bool slot_ident(const uint8_t *p, uint32_t tag, uint64_t *gen_out);
void cell_push(struct cell *c, uint64_t val, uint32_t op, uint8_t how);
uint64_t cell_cur(const struct cell *c);
void cell_set(struct cell *c, uint64_t val, uint32_t op, uint8_t how);
void cell_durable(struct cell *c, unsigned cover);
bool cell_allows(const struct cell *c, uint64_t val);
bool cell_behind(const struct cell *c, uint64_t val, uint32_t fail_op);
void cell_rebase(struct cell *c, uint64_t val);
void space_durable(struct space *s, unsigned cover);
void world_init(struct world *w);
void ckpt_free(struct ckpt *c);
void world_free(struct world *w);
uint64_t heap_hash(const struct world *w, int hi);
bool op_durable(enum op_kind k);
void op_pick(const struct world *w, struct mu_rng *r, struct op *o);
void ckpt_snapshot(struct ckpt *c, const struct heapm *h);
void op_apply(struct world *w, const struct op *o, bool durable, uint64_t n);

#endif
