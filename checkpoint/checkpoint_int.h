/*
 * checkpoint_int.h - what policy.c and sched.c share; never leaves
 * checkpoint/.  Layers, each calling only those before it: settings.c
 * (parsers), policy.c (ckpt_take, retention, outcomes), sched.c (the
 * policy's life: ckpt_start, the scheduler thread, ckpt_stop).
 *
 * Locks: ckpt_policy.lock, a leaf taken without any heapstore lock held
 * and never held across a heapstore call.  A heap's checkpoint runs with
 * its ckpt_heap.busy set (under the lock), not with the lock held.
 */
#ifndef CKPT_CHECKPOINT_INT_H
#define CKPT_CHECKPOINT_INT_H

#include <pthread.h>

#include "checkpoint.h"

/*
 * One per heap the policy has met (a checkpoint asked for, or an
 * autocheckpoint property found), in a list from the policy:
 *
 *   policy->heaps -> [id 7] -> [id 3] -> [id 1] -> NULL   (newest first)
 *
 * Entries are added by anyone (under the lock, at the head) and removed
 * only by the scheduler thread or ckpt_stop(), so the scheduler walks the
 * list without the lock.
 */
struct ckpt_heap {
	uint64_t id;
	struct ckpt_heap *next;       /* protected by policy->lock */
	bool busy;                    /* protected by policy->lock: a checkpoint runs */
	unsigned users;               /* protected by policy->lock: ckpt_take()s
					 holding the entry; it is freed only at 0 */
	ckpt_outcome last;            /* protected by policy->lock */

	/* The scheduler thread's own, untouched by anyone else. */
	hs_heap *sched;               /* open while its autocheckpoint is on */
	ckpt_auto cfg;
	bool seen;                    /* found by the latest rescan */
	uint64_t base_latest;         /* the checkpoint the bounds count from */
	uint64_t base_ns;             /* when it was taken (CLOCK_MONOTONIC) */
	uint64_t base_size, base_state_size;
	uint64_t retry_ns;            /* after a failure: not before then */
	uint64_t backoff_ms;
};

struct ckpt_policy {
	hs_store *store;
	ckpt_opts opts;
	char *store_dir;              /* our copy of opts.store_dir */
	pthread_mutex_t lock;
	pthread_cond_t idle;          /* a heap's checkpoint finished */
	pthread_cond_t wake;          /* the scheduler: stop, or rescan */
	struct ckpt_heap *heaps;      /* protected by lock */
	bool stop;                    /* protected by lock */
	bool rescan;                  /* protected by lock */
	bool thread_running;
	pthread_t thread;
};

/* The entry of heap @id, made if needed; with policy->lock held.  NULL: ENOMEM. */
struct ckpt_heap *ckpt__heap_get(ckpt_policy *p, uint64_t id);

/* CLOCK_MONOTONIC in ns. */
uint64_t ckpt__now_ns(void);

#endif /* CKPT_CHECKPOINT_INT_H */
