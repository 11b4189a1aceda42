/*
 * gc.h - garbage collection over heapstore (prefix gc_): reclaiming the
 * blobs no version of any heap references, in small bounded rounds, on
 * demand (heapctl gc) and in the background every gc= seconds.
 *
 * Candidates are recorded by heapstore in the batch that drops a reference
 * (hs_ref__drop), so a round costs what it reclaims, never a scan of the
 * store; hs_store_gc() fences each round against writers that re-use the
 * contents it deletes (heapstore/blob.c says how).
 */
#ifndef GC_H
#define GC_H

#include <stdbool.h>
#include <stdint.h>

#include "heapstore.h"

typedef struct gc_report {
	uint64_t rounds;
	uint64_t candidates;
	uint64_t blobs_freed;
	uint64_t bytes_freed;
	uint64_t busy;            /* left for later: writes in flight used them */
	uint64_t trims;           /* hs_store_trim() runs (the daemon's) */
} gc_report;

/* Candidates per round: bounds how long a round holds writers' probes. */
#define GC_ROUND 256
/* The least the daemon frees before it trims (hs_store_trim). */
#define GC_TRIM_MIN (4u << 20)

/**
 * Reclaim what is garbage now: rounds of hs_store_gc() until no candidate
 * is left but those busy with writes in flight; @full also waits out those
 * (a few retries) and compacts the store (hs_store_compact), so its files
 * shrink.  Adds to *@out.  Returns 0 or -errno.
 */
int gc_run(hs_store *store, bool full, gc_report *out);

typedef struct gc_daemon gc_daemon;

/**
 * Run gc_run() every @interval_s seconds (0: never) on a thread of its own
 * until gc_stop(), and hs_store_trim() each time the rounds since the last
 * trim freed an eighth of the bytes stored (at least GC_TRIM_MIN), so the
 * blob files of overwritten lines leave the disk.  Returns 0 and the
 * daemon in *@out, or -errno.
 */
int gc_start(gc_daemon **out, hs_store *store, unsigned interval_s);
/** Stop and free the daemon (waits for a round in progress); NULL is a no-op. */
void gc_stop(gc_daemon *d);
/** A round now, not at the next interval (a writer waits for space). */
void gc_kick(gc_daemon *d);
/** What the background rounds reclaimed so far. */
void gc_totals(gc_daemon *d, gc_report *out);

#endif /* GC_H */
