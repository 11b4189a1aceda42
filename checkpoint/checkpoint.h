/*
 * checkpoint.h - the checkpoint policy (prefix ckpt_): the one path every
 * checkpoint takes, automatic checkpoints and retention (DESIGN.md part 1,
 * "Runtime events, balloon and automatic checkpoints").
 *
 * Whoever asks for a checkpoint (mkdir MNT/app/checkpoints/L, heapctl
 * checkpoint, the scheduler below, later migration) calls ckpt_take(),
 * which:
 *   - runs one checkpoint per heap at a time: a second request waits for
 *     the one in progress and then takes its own, so both get distinct
 *     versions;
 *   - refuses, before writing anything, a checkpoint the store's disk
 *     cannot hold (-ENOSPC), so the live heap stays as it was and writable;
 *   - seals (hs_version_seal), then applies retention: with the heap
 *     property `keep` = N > 0, deletes the oldest unlabelled checkpoints
 *     beyond the newest N (labelled ones stay until removed; 0, the
 *     default, keeps every checkpoint);
 *   - records the outcome per heap (ckpt_last(): "checkpoint N" or
 *     "checkpoint-failed <why>", with counters), posts that line as the
 *     heap's event (hs_event_post: the heap's events file), in the order
 *     the heap's checkpoints end, and hands the outcome to the
 *     ckpt_opts.on_outcome hook.
 *
 * Automatic checkpoints: the heap property `autocheckpoint` is "off" (the
 * default) or `interval=DURATION,dirty=SIZE`, either part optional; a
 * scheduler thread takes a checkpoint through ckpt_take() when the first
 * bound is reached: DURATION since the heap's latest checkpoint has passed
 * and the heap changed since, or SIZE bytes of it changed (lines changed in
 * the store since the latest checkpoint plus lines dirty in the line cache,
 * times the line size; a line written back and dirtied again counts
 * twice).  A failed automatic checkpoint is retried after 1 s, then 2 s,
 * ... at most every 60 s.
 *
 * Thread-safe: every function may be called from any thread.
 */
#ifndef CKPT_CHECKPOINT_H
#define CKPT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapstore.h"

/* ---- settings ---------------------------------------------------------- */

/** A heap's automatic checkpoint bounds; both 0 is "off". */
typedef struct ckpt_auto {
	uint64_t interval_ms;     /* 0: no time bound */
	uint64_t dirty_bytes;     /* 0: no size bound */
} ckpt_auto;

#define CKPT_INTERVAL_MAX_MS (366ULL * 24 * 3600 * 1000)   /* a year */
#define CKPT_DIRTY_MAX HS_HEAP_SIZE_MAX
#define CKPT_KEEP_MAX 1000000u

/**
 * Parse an autocheckpoint value: "off", or comma-separated parts
 * `interval=DURATION` and `dirty=SIZE`, each at most once, at least one.
 * DURATION is digits with a unit ms, s, m or h (bare digits: seconds), at
 * least 1 ms and at most CKPT_INTERVAL_MAX_MS; SIZE is digits with K, M, G
 * or T (powers of 1024, optionally followed by B or iB), at least 1 byte
 * and at most CKPT_DIRTY_MAX.  No spaces, no signs.  Returns 0 and the
 * bounds in *@out, -EINVAL (not such a value) or -ERANGE (a number too
 * large); *@out is unchanged on failure.
 */
int ckpt_auto_parse(const char *s, ckpt_auto *out);

/**
 * Parse a keep value: decimal digits, 0 to CKPT_KEEP_MAX (0: keep every
 * checkpoint).  Returns 0, -EINVAL or -ERANGE.
 */
int ckpt_keep_parse(const char *s, uint32_t *out);

/* The heap properties (hs_heap_prop_*) the policy reads. */
#define CKPT_PROP_AUTO "autocheckpoint"
#define CKPT_PROP_KEEP "keep"

/* ---- the outcome record ------------------------------------------------ */

typedef enum ckpt_why {
	CKPT_MANUAL = 0,          /* mkdir, heapctl checkpoint */
	CKPT_AUTO = 1,            /* the scheduler */
	CKPT_MIGRATE = 2,         /* a migration's own (the only kind a heap being
				     handed over takes) */
} ckpt_why;

typedef struct ckpt_outcome {
	uint64_t seq;             /* outcomes recorded for the heap; 0: none yet */
	int rc;                   /* 0 or -errno */
	uint64_t version;         /* the checkpoint taken, when rc == 0 */
	ckpt_why why;
	uint64_t pruned;          /* checkpoints retention deleted after it */
	int prune_rc;             /* 0, or how retention failed (the checkpoint
				     itself stands) */
	uint64_t taken, failed;   /* totals for the heap since ckpt_start() */
	char error[200];          /* rc < 0: the message */
} ckpt_outcome;

/**
 * The outcome as its events line, without a newline: "checkpoint N" or
 * "checkpoint-failed <error>" (the message, else strerror).  Returns what
 * snprintf() returns.
 */
int ckpt_outcome_line(const ckpt_outcome *o, char *buf, size_t cap);

/** Called after each outcome is recorded, with no lock held. */
typedef void (*ckpt_outcome_cb)(uint64_t heap_id, const ckpt_outcome *o, void *payload);

/* ---- the policy -------------------------------------------------------- */

typedef struct ckpt_opts {
	const char *store_dir;    /* where the store lives, for the space check
				     (statvfs); NULL: no check */
	unsigned tick_ms;         /* the scheduler's period; 0: no scheduler
				     (no automatic checkpoints) */
	ckpt_outcome_cb on_outcome;   /* may be NULL */
	void *payload;
} ckpt_opts;

#define CKPT_TICK_MS_DEFAULT 100

/*
 * The space check: a checkpoint writes the heap's dirty cached lines and a
 * record; the disk must have twice those lines' bytes (write-ahead log,
 * then table files) plus this much free, heapstore's own full-disk mark.
 */
#define CKPT_SPACE_HEADROOM (4ULL << 20)

typedef struct ckpt_policy ckpt_policy;

/**
 * Start the policy for @store (which must outlive it); @opts may be NULL
 * (no space check, no scheduler).  With opts->tick_ms, a thread reads
 * every heap's autocheckpoint property now, again whenever
 * ckpt_settings_changed() says so (and every 10 s), and checks the heaps
 * that have one every tick.  Returns 0 and the policy in *@out (stop it
 * with ckpt_stop()), -ENOMEM or -EAGAIN (no thread).
 */
int ckpt_start(ckpt_policy **out, hs_store *store, const ckpt_opts *opts);

/**
 * Stop the scheduler (waiting for a checkpoint it is taking), close the
 * heaps it holds and free the policy.  No ckpt_take() may be running.
 * NULL is a no-op.
 */
void ckpt_stop(ckpt_policy *p);

/**
 * Take a checkpoint of @heap, labelled @label (NULL or "" for none),
 * through the policy above.  Blocks while another checkpoint of the heap
 * runs.  Returns 0 and the new version in *@version_out (may be NULL), or
 * what hs_version_seal() returns (-EINVAL bad label, -EEXIST label taken,
 * -ENOENT heap deleted, -ENOSPC, -EIO, ...), or -ENOSPC from the space
 * check; on failure the live heap is as it was.  Retention failing does not
 * fail the checkpoint (ckpt_outcome.prune_rc says it).  The outcome is
 * recorded and posted either way.  Durable like hs_version_seal().
 */
int ckpt_take(ckpt_policy *p, hs_heap *heap, const char *label, ckpt_why why,
	      uint64_t *version_out);

/**
 * Apply @heap's retention now, between its checkpoints: with keep = N > 0,
 * delete its oldest unlabelled checkpoints beyond the newest N (the pool's
 * reclaim, before it asks runtimes for their data; and after keep was
 * lowered).  Never waits: with a checkpoint of the heap under way it does
 * nothing (that checkpoint applies retention as it ends).  Returns 0 and
 * how many were deleted in *@pruned, or how a deletion failed.
 */
int ckpt_retain(ckpt_policy *p, hs_heap *heap, uint64_t *pruned);

/**
 * The last outcome recorded for heap @heap_id (hs_heap_info.id), in
 * *@out.  Returns 0, or -ENOENT if none was.
 */
int ckpt_last(ckpt_policy *p, uint64_t heap_id, ckpt_outcome *out);

/** A heap's autocheckpoint property changed: the scheduler reads them again. */
void ckpt_settings_changed(ckpt_policy *p);

#endif /* CKPT_CHECKPOINT_H */
