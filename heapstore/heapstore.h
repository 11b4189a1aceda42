/*
 * heapstore.h - the heapfs store library (prefix hs_).
 *
 * A store is one directory holding an embedded RocksDB database.  It holds
 * heaps: large sparse byte arrays cut into fixed-size lines.  Each line's
 * content is stored once per distinct content (key: SHA-256 of the
 * uncompressed line, value: a zstd frame with its content checksum); all-zero
 * lines are never stored.  A heap has a live *working version* and a chain of
 * immutable checkpoints (sealed versions) numbered 1, 2, 3...; sealing costs
 * O(lines changed since the previous checkpoint).
 *
 * Errors: every function that can fail returns 0 (or a count) on success and
 * a negative errno on failure, and leaves a one-line message for
 * hs_error_last().  Errnos a caller should expect are listed per function;
 * any call touching the store may also return -EIO (store I/O), -ENOSPC
 * (disk full), -ENOMEM, -EUCLEAN (corrupt store record) or -EBADMSG (a blob
 * whose checksum or hash does not match).
 *
 * Threads: an hs_store and the hs_heap handles opened from it are
 * thread-safe: any number of threads may read and write any heaps at once.
 * Reads and writes of different lines run in parallel; writes to one line are
 * serialized; structural operations on a heap (checkpoint, restore, truncate,
 * extending writes, deleting a checkpoint) exclude that heap's other writers
 * while they run.  An hs_txn belongs to one thread at a time (the caller
 * serializes).
 *
 * Durability: plain writes are atomic per line.  Without a line cache they
 * survive a crash of the process (they reach the RocksDB write-ahead log
 * before returning), but not necessarily a power loss until hs_heap_sync()
 * returns; with one (hs_store_opts.cache_bytes) they are in memory until
 * written back (see "The line cache" below), and hs_heap_sync() writes back
 * and syncs.  Checkpoints, transaction commits and structural changes
 * return only after a synced WAL write, with every write before them in.
 */
#ifndef HEAPSTORE_H
#define HEAPSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_API __attribute__((visibility("default")))

/** Store format this library writes; it upgrades formats 1 and 2 at a
 *  read-write open (a read-only one reads format 2 as it is: its heaps have
 *  no identity yet) and refuses any other. */
#define HS_FORMAT_VERSION 3

#define HS_NAME_MAX 200                 /* heap names and checkpoint labels */
#define HS_LINE_SIZE_MIN 4096u
#define HS_LINE_SIZE_MAX (1024u * 1024u)
#define HS_LINE_SIZE_DEFAULT (64u * 1024u)
#define HS_HEAP_SIZE_MAX (1ULL << 56)   /* 64 PiB: sparse, so only a bound */
#define HS_HASH_LEN 32                  /* SHA-256 */
#define HS_STATE_SIZE_MAX (16ULL << 20) /* the state file's largest size */
#define HS_STATE_LINE (1ULL << 63)      /* state line i is line HS_STATE_LINE | i */
#define HS_TXN_STAGED_MAX (1ULL << 30)  /* bytes one transaction may stage */
#define HS_CACHE_BYTES_MIN (8u << 20)   /* the smallest line cache: two blocks */
#define HS_IDENT_LEN 16                 /* a heap's or a checkpoint's identity */
#define HS_MOVED_MAX 255                /* where a migrated heap went */

/** Stands for the live (working) version wherever a version is taken. */
#define HS_VERSION_LIVE UINT64_MAX

typedef struct hs_store hs_store;
typedef struct hs_heap hs_heap;
typedef struct hs_txn hs_txn;

/* ---- errors ----------------------------------------------------------- */

/**
 * The message left by the last failing hs_ call on this thread, or "" if
 * none.  Borrowed: valid until the next hs_ call on this thread.
 */
HS_API const char *hs_error_last(void);

/**
 * Set this thread's message (what hs_error_last() returns; @fmt may use
 * hs_error_last() itself) and return @rc, a -errno: for the modules built on
 * heapstore, so one channel carries every message to the user, as in
 * `return hs_errno_set(-EINVAL, "stream: bad line size %u", ls);`.
 */
HS_API int hs_errno_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- stores ----------------------------------------------------------- */

typedef struct hs_store_opts {
	int zstd_level;              /* compression level for new blobs; 0: 1 */
	size_t block_cache_bytes;    /* RocksDB block cache; 0: 4 MiB */
	int blob_files;              /* -1: default (on); 0: keep blobs in the LSM */
	int read_only;               /* open without writing (fsck); 0 or 1 */
	uint64_t cache_bytes;        /* line cache, HS_CACHE_BYTES_MIN or more; 0: none */
	int flush_threads;           /* the cache's write-back threads; 0: 2 */
	unsigned cache_idle_ms;      /* idle clean lines and empty blocks go; 0: 5 min */
	unsigned cache_release_ms;   /* an idle empty block goes, one each; 0: 60 s */
	int no_create;               /* open only an existing store; 0 or 1 */
	uint64_t pool_bytes;         /* the store's budget of bytes stored (what
					hs_store_totals says); 0: the disk */
	unsigned wait_ms;            /* how long a write over a limit waits for
					space to be freed before it fails */
} hs_store_opts;

#define HS_STORE_OPTS_INIT { 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0 }

/**
 * Open the store in directory @dir, creating it (and the directory) if it
 * does not exist.  @opts may be NULL for defaults.  A crash-interrupted heap
 * deletion is finished here.
 *
 * Returns 0 and the store in *out (free with hs_store_close()), or
 * -EINVAL (the directory holds something that is not a heapfs store),
 * -EPROTONOSUPPORT (a store format this build does not know),
 * -EBUSY (another process has the store open), -ENOENT (no store there,
 * with read_only or no_create), -EUCLEAN, -EIO, -ENOMEM.
 */
HS_API int hs_store_open(hs_store **out, const char *dir,
			 const hs_store_opts *opts);

/**
 * Close the store: writes back the line cache, flushes the WAL (synced) and
 * frees it, whatever happens.  NULL is a no-op.  Every hs_heap and hs_txn
 * of the store must be freed first.  Returns 0, or -errno when the last
 * write-back or the sync failed: then lines written since the last
 * successful sync may be lost, and hs_error_last() says how many.
 */
HS_API int hs_store_close(hs_store *store);

typedef struct hs_store_usage {
	uint64_t blobs;           /* distinct stored line contents still referenced */
	uint64_t blobs_garbage;   /* stored blobs nothing references (for GC) */
	uint64_t bytes_stored;    /* compressed bytes of the referenced blobs */
	uint64_t bytes_unique;    /* uncompressed bytes of the referenced blobs */
	uint64_t bytes_referenced;/* uncompressed bytes summed over every reference */
	uint64_t references;      /* line entries pointing at blobs, all versions */
} hs_store_usage;

/**
 * Count what the store holds.  Walks the reference table: O(blobs), for
 * reports and tests, not for hot paths.
 */
HS_API int hs_store_usage_get(hs_store *store, hs_store_usage *out);

typedef struct hs_store_totals {
	uint64_t bytes_stored;    /* compressed bytes of the referenced blobs */
	uint64_t blobs;           /* referenced blobs */
	uint64_t bytes_garbage;   /* compressed bytes of blobs nothing references,
				     not yet reclaimed by GC */
	uint64_t blobs_garbage;
	uint64_t bytes_charged;   /* held for dirty cached lines of every heap */
	uint64_t pool_bytes;      /* the budget; 0: none but the disk */
	uint64_t bytes_reserved_unused;   /* reserved by heaps, not yet used */
} hs_store_totals;

/**
 * The same figures as hs_store_usage_get(), kept exactly in the batches that
 * change references: O(1).  What df reports as used (bytes_stored).
 */
HS_API void hs_store_totals_get(hs_store *store, hs_store_totals *out);

/**
 * Bytes the store holds: live SST and blob files of every column family,
 * plus what memtables hold until they are flushed: what df reports as used.  Cheap: RocksDB keeps the
 * figures, nothing is scanned.  Space freed by deletions shows after GC and
 * compaction.
 */
HS_API int hs_store_space_get(hs_store *store, uint64_t *used_bytes);

/*
 * The line cache.  With hs_store_opts.cache_bytes set, the live lines of
 * every heap are kept decoded in memory (at most cache_bytes of them, taken
 * in blocks as misses need room and given back when idle) and written back
 * in batches by background threads, so heap I/O runs at memory speed.  A
 * write that returned is seen at once by every reader of the live heap;
 * it is in the store once written back: by the flushers (within seconds, or
 * as dirty lines pass half the cache), by hs_heap_sync() (which
 * also makes it durable), by a checkpoint, or by any call that reads the
 * store (diff with live, line_next, transactions, restore, truncate).  A
 * crash loses what was written after the last of these.
 */
typedef struct hs_cache_stats {
	uint64_t limit_bytes;     /* cache_bytes, whole blocks */
	uint64_t block_bytes;     /* the unit it grows and shrinks by */
	uint64_t allocated_bytes; /* blocks held now */
	uint64_t spare_bytes;     /* blocks given back (MADV_FREE) and kept mapped
				     for reuse; the kernel takes their pages
				     when it needs memory */
	uint64_t used_bytes;      /* lines held now */
	uint64_t dirty_bytes;     /* lines not yet written back */
	uint64_t lines, lines_dirty, blocks;
	uint64_t blocks_grown;    /* blocks taken since open */
	uint64_t blocks_returned; /* blocks given back since open */
	uint64_t hits, misses;
	uint64_t evictions;       /* clean lines evicted for room */
	uint64_t idle_evictions;  /* clean lines evicted for being idle */
	uint64_t lines_flushed, flush_batches;
	uint64_t flush_failures;  /* background write-back batches that failed
				     (their lines stay dirty) */
} hs_cache_stats;

/**
 * Write back every heap's dirty cached lines, without syncing.  Returns 0,
 * or -errno if that failed or if a background write-back failed since the
 * last call (reported once; the lines it could not write stay dirty and
 * are retried).
 */
HS_API int hs_store_flush(hs_store *store);

/*
 * How the line cache shares its memory among heaps (heapfs's pool/ sets
 * it; without one the cache is one LRU for all).  Every call comes under
 * the cache's lock: a policy keeps its own leaf lock and calls nothing of
 * heapstore's.
 *
 * take: heap @id is to hold @bytes more (one line); @clean: its clean
 *   resident bytes (what it could give back), @room: whether the cache
 *   has unused memory for it.  Returns HS_MEM_ENTITLED (the policy serves
 *   it), HS_MEM_IDLE (only idle memory lends it: the first to go when
 *   another needs room), HS_MEM_REFUSED (no room and not served: make room
 *   from its own lines or idle loans) or HS_MEM_OVER (past its quota: from
 *   its own lines only).  @mode HS_MEM_ASK charges nothing (the cache asks
 *   before it makes room), HS_MEM_TAKE charges unless refused or over, and
 *   HS_MEM_FORCE always charges (a line the cache holds now anyway).
 * give: heap @id holds @bytes less.
 * rank: whose lines go first when room is made: HS_MEM_IDLE (lent from
 *   idle memory), HS_MEM_ENTITLED (past its reservation), or
 *   HS_MEM_REFUSED (within its reservation: never evicted for another
 *   heap, nor for being idle).
 * starved: heap @id's miss found no line it may evict (all dirty or in
 *   use) and waits for write-back: a request the cache cannot serve.
 */
enum { HS_MEM_REFUSED, HS_MEM_ENTITLED, HS_MEM_IDLE, HS_MEM_OVER };
enum { HS_MEM_ASK, HS_MEM_TAKE, HS_MEM_FORCE };

typedef struct hs_mem_policy {
	int (*take)(void *arg, uint64_t id, uint64_t bytes, uint64_t clean, bool room, int mode);
	void (*give)(void *arg, uint64_t id, uint64_t bytes);
	int (*rank)(void *arg, uint64_t id);
	void (*starved)(void *arg, uint64_t id);
	void *arg;
} hs_mem_policy;

/**
 * Set the cache's memory policy (@pol copied; NULL: none), before any
 * heap is opened; what heaps hold already is told to it through take.
 * Returns 0, or -EINVAL without a cache.
 */
HS_API int hs_store_memory_policy(hs_store *store, const hs_mem_policy *pol);

typedef struct hs_gc_stats {
	uint64_t candidates;      /* garbage candidates looked at */
	uint64_t blobs_freed;     /* blobs deleted: no version of any heap names them */
	uint64_t bytes_freed;     /* their stored (compressed) bytes */
	uint64_t busy;            /* skipped: a write in flight references them */
	int more;                 /* candidates are left for another call */
} hs_gc_stats;

/**
 * Reclaim up to @max garbage candidates (0: 1024), the blobs whose last
 * reference was dropped (overwritten or punched lines, deleted checkpoints,
 * removed heaps): a blob no entry references is deleted with its reference
 * record.  Costs O(candidates), never a scan of the store; safe against
 * concurrent writers re-using the very contents it deletes.  Deleted keys
 * free disk space only once RocksDB compacts them away.  Returns 0 or
 * -errno; *out says what it did.
 */
HS_API int hs_store_gc(hs_store *store, size_t max, hs_gc_stats *out);

/**
 * Return to the disk the space deleted keys and reclaimed blobs still hold:
 * compacts the whole store, rewriting the live blobs into new blob files.
 * Costs O(store size); for heapctl gc --full.  Returns 0 or -errno.
 */
HS_API int hs_store_compact(hs_store *store);

/**
 * Drop the keys GC deleted, so blob files holding nothing live leave the
 * disk: compacts the key-only families and the blobs family's tables
 * without rewriting a blob.  Costs O(keys); GC runs it once it has freed
 * enough.  Returns 0 or -errno.
 */
HS_API int hs_store_trim(hs_store *store);

/** The line cache's figures (all zero without a cache). */
HS_API int hs_store_cache_stats(hs_store *store, hs_cache_stats *out);

/** Called once per problem fsck finds: one line naming what and where. */
typedef void (*hs_fsck_cb)(const char *problem, void *payload);

#define HS_FSCK_VERIFY_DATA 1   /* also decompress and re-hash every blob */
#define HS_FSCK_REPAIR 2        /* fix counts, drop lost blobs (implies VERIFY_DATA) */

/* Reports that are not errors start with one of these; errors with neither. */
#define HS_FSCK_REPAIRED "repaired: "   /* found and fixed by HS_FSCK_REPAIR */
#define HS_FSCK_LOST "lost: "           /* a line whose blob a repair dropped */

/**
 * Check the whole store without changing it: every record decodes; every
 * line entry belongs to an existing heap and version; reference counts equal
 * a recount of the line entries, blob by blob; every referenced blob exists
 * (and, with HS_FSCK_VERIFY_DATA, decodes to content matching its hash);
 * every line entry has its change record and every change record its entry;
 * names, labels, the heap id counter and line counters agree with their
 * records.  Costs a full scan, through one snapshot.  Each problem is
 * reported through @cb as one line naming what and where.
 *
 * With HS_FSCK_REPAIR (the store open read-write, no heap of it open, else
 * -EROFS or -EBUSY) it also fixes, in one synced batch: reference records to
 * the recount, line counters and the heap id counter to theirs, and blobs
 * that are missing or corrupt: a corrupt blob is deleted and its refs record
 * marked "nothing stored", so every line naming it reads as -EUCLEAN until
 * rewritten (writing that content anywhere stores it again).  Fixed problems
 * are reported with HS_FSCK_REPAIRED; everything else is left as it is.
 * Lines marked so are reported by every later fsck with HS_FSCK_LOST and
 * are not errors.
 *
 * Returns the number of errors left in the store (>= 0: problems found, less
 * those repaired), or -errno if the scan or the repair failed (then nothing
 * was changed); -EINVAL for unknown @flags.  @cb must not call into the
 * store.
 */
HS_API ssize_t hs_store_fsck(hs_store *store, int flags, hs_fsck_cb cb, void *payload);

/* ---- heaps ------------------------------------------------------------ */

/**
 * Check a heap name: 1-200 bytes of [A-Za-z0-9._-], not starting with '.'.
 * Returns 0 or -EINVAL (with a message saying which rule failed).
 */
HS_API int hs_name_check(const char *name);

typedef struct hs_heap_params {
	uint64_t size_bytes;      /* initial size, sparse; 0 is fine */
	uint32_t line_size;       /* power of two in [4 KiB, 1 MiB]; 0: 64 KiB */
	uint64_t quota_bytes;     /* 0: none */
	uint64_t reserve_bytes;   /* 0: none */
	int owned;                /* 1: uid, gid and mode below; 0: the store
				     directory's owner and group, mode 0700 */
	uint32_t uid, gid;
	uint32_t mode;            /* permission bits (HS_MODE_BITS) */
} hs_heap_params;

#define HS_HEAP_PARAMS_INIT { 0, 0, 0, 0, 0, 0, 0, 0 }

/* A heap's permission bits: rwx for owner, group and others, as a
 * directory's; its files take the r and w bits (heapfs, README). */
#define HS_MODE_BITS 0777u
#define HS_MODE_DEFAULT 0700u

/**
 * Create heap @name.  @params may be NULL for defaults.  Synced.
 * Returns 0, -EINVAL (bad name or line size), -EFBIG (size beyond
 * HS_HEAP_SIZE_MAX), -EEXIST.
 */
HS_API int hs_heap_create(hs_store *store, const char *name,
			  const hs_heap_params *params);

/**
 * Open heap @name.  Every handle to one heap shares one in-memory object, so
 * two handles see one another's writes at once.  Free with hs_heap_close().
 * Returns 0, -EINVAL (bad name), -ENOENT.
 */
HS_API int hs_heap_open(hs_heap **out, hs_store *store, const char *name);

/**
 * Another handle on the heap @heap names (the same heap, even if it has been
 * deleted and a new heap since took its name); free it with hs_heap_close().
 */
HS_API hs_heap *hs_heap_dup(hs_heap *heap);

/** Release a handle.  NULL is a no-op. */
HS_API void hs_heap_close(hs_heap *heap);

/**
 * Delete heap @name with all its checkpoints, dropping every reference it
 * holds (space returns after GC).  Open handles fail with -ENOENT afterwards.
 * The name is free again at once; a crash mid-way is finished at next open.
 * Returns 0, -EINVAL, -ENOENT.
 */
HS_API int hs_heap_delete(hs_store *store, const char *name);

typedef enum hs_heap_state {
	HS_HEAP_LIVE = 0,
	HS_HEAP_DELETING = 1,
} hs_heap_state;

/*
 * A heap's writer lease: held by the node serving it live.  Expired (a
 * migration is under way) and migrated heaps are read-only: changes to the
 * live heap fail with -EROFS.
 */
typedef enum hs_lease {
	HS_LEASE_HELD = 0,
	HS_LEASE_EXPIRED = 1,
	HS_LEASE_MIGRATED = 2,
} hs_lease;

typedef struct hs_heap_info {
	char name[HS_NAME_MAX + 1];
	uint64_t id;
	uint64_t size_bytes;
	uint32_t line_size;
	hs_heap_state state;
	uint64_t quota_bytes;
	uint64_t reserve_bytes;
	uint64_t version;         /* the working version: latest checkpoint + 1 */
	uint64_t latest;          /* newest checkpoint, 0 if none */
	uint64_t checkpoints;     /* how many checkpoints exist */
	uint64_t lines_used;      /* non-zero lines of the live heap in the store */
	uint64_t created_ns;      /* CLOCK_REALTIME */
	uint64_t state_size;      /* bytes in the state file */
	int suspended;            /* hs_heap_suspend()ed: the live heap is read-only */
	uint64_t lines_dirty;     /* in the line cache, not yet written back */
	uint64_t lines_resident;  /* in the line cache */
	uint64_t cache_hits, cache_misses, cache_evictions;
	uint32_t uid, gid, mode;  /* owner, group, permission bits */
	uint64_t bytes_referenced;/* stored bytes of the distinct blobs its live
				     version and checkpoints name (a blob another
				     heap shares counts fully here too) */
	uint64_t bytes_unique;    /* of those, the blobs no other heap names */
	uint64_t bytes_charged;   /* held for its dirty cached lines */
	uint64_t bytes_overdraft; /* taken over a limit from mapped stores, in all */
	uint64_t bytes_held;      /* set aside for its fallocated holes */
	uint8_t ident[HS_IDENT_LEN]; /* random at creation, kept across moves;
					all zero in a format 2 store opened
					read-only */
	hs_lease lease;
	char moved_to[HS_MOVED_MAX + 1];   /* where it went (migrated) or goes (expired) */
} hs_heap_info;

/**
 * Set the heap's writer lease: HS_LEASE_EXPIRED first writes back every
 * write that returned, then refuses changes to the live heap (-EROFS);
 * HS_LEASE_MIGRATED and HS_LEASE_EXPIRED also record @moved_to (at most
 * HS_MOVED_MAX bytes, shown by heapctl stat: where it went, or is going);
 * HS_LEASE_HELD takes it back.  Synced.  Returns 0,
 * -EINVAL, -ENAMETOOLONG, -ENOENT.
 */
HS_API int hs_heap_lease_set(hs_heap *heap, hs_lease lease, const char *moved_to);

/**
 * Take the lease handed over with checkpoint @version (@ident), which must
 * be the heap's newest (a final round that carried nothing: this node
 * holds every version already): HS_LEASE_HELD and the hand-over's record
 * (hs_handover_get) in one synced write.  Returns 0, -ENOENT, -ESTALE (the
 * newest checkpoint is another).
 */
HS_API int hs_heap_lease_take_over(hs_heap *heap, uint64_t version,
				   const uint8_t ident[HS_IDENT_LEN]);

/*
 * The hand-overs a node took: one record for each checkpoint a migration's
 * final round handed over to it (committed live here: an import with
 * migration set and HS_LEASE_HELD, or hs_heap_lease_take_over), kept
 * whatever becomes of the copy since (handed on, overwritten by another
 * source's pre-copy, its checkpoints or the copy deleted).  A source
 * re-running a hand-over whose answer it lost asks whether that very
 * checkpoint arrived here (migrate/STREAM.md).  About 60 bytes each.
 */
typedef struct hs_handover {
	uint64_t version;                  /* the checkpoint's number; 0: unknown
					      (a damaged record repaired) */
	uint64_t at_ns;                    /* CLOCK_REALTIME */
} hs_handover;

/**
 * Whether this store took the hand-over of heap @heap_ident at checkpoint
 * @ident.  Returns 0 (yes: *@out), -ENOENT (no), or -EUCLEAN (damaged).
 */
HS_API int hs_handover_get(hs_store *store, const uint8_t heap_ident[HS_IDENT_LEN],
			   const uint8_t ident[HS_IDENT_LEN], hs_handover *out);

/** Describe an open heap.  Returns 0 or -ENOENT (deleted). */
HS_API int hs_heap_info_get(hs_heap *heap, hs_heap_info *out);

/**
 * How many lines (heap and state lines) the live heap changed in the store
 * since its latest checkpoint: the working version's change records,
 * counting at most @max (0: all).  Lines still dirty in the line cache are
 * not among them until written back (hs_heap_info.lines_dirty counts
 * those; a line written back and dirtied again is in both).  Costs
 * O(the count), one range scan, and writes nothing back.  Thread-safe.
 * Returns 0 and the count in *@lines_out, or -ENOENT (deleted).
 */
HS_API int hs_heap_changed_lines(hs_heap *heap, uint64_t max, uint64_t *lines_out);

/**
 * Every live heap of the store, in name order, as a malloc'd array the
 * caller frees with free().  Returns 0 (*out NULL when *n_out is 0).
 */
HS_API int hs_heap_list(hs_store *store, hs_heap_info **out, size_t *n_out);

/**
 * Set the heap's owner, group and permission bits.  Synced.  Who may do it
 * is the caller's to decide (heapfs: POSIX chown/chmod rules).  Returns 0,
 * -EINVAL (bits outside HS_MODE_BITS), -ENOENT.
 */
HS_API int hs_heap_owner_set(hs_heap *heap, uint32_t uid, uint32_t gid, uint32_t mode);

/** A checkpoint's space: what it holds and what deleting it would give back. */
typedef struct hs_version_space {
	uint64_t version;
	uint64_t bytes_held;      /* stored bytes of the distinct blobs its own
				     changes name */
	uint64_t bytes_unique;    /* of those, named by no other entry of the heap:
				     deleting it lowers the heap's referenced
				     bytes by exactly this */
	uint64_t bytes_shared;    /* held - unique: also named by another version
				     of the heap (or the one after it reads them) */
	uint64_t bytes_freed;     /* named by no entry of any heap once it is
				     deleted: what the store's stored bytes fall by */
	uint64_t lines_changed;   /* its own changes: what the answer cost */
} hs_version_space;

/**
 * The space of checkpoint @version of @heap (deleting it drops the entries
 * the next version overwrites, or that repeat the one before: those are
 * what "unique" and "freed" count).  Costs O(its changed lines), never a
 * scan of the heap or the store.  Returns 0, -ENOENT (no such checkpoint).
 */
HS_API int hs_version_space_get(hs_heap *heap, uint64_t version, hs_version_space *out);

/**
 * Set the quota or reservation (bytes, 0 for none).  Synced.  -ENOENT.
 * A reservation is the heap's own: the pool never lets another heap use
 * it, so setting one the pool cannot guarantee (the pool, or with none
 * the disk, has less left than every reservation's unused part) fails with
 * -ENOSPC.
 */
HS_API int hs_heap_quota_set(hs_heap *heap, uint64_t quota_bytes);
HS_API int hs_heap_reserve_set(hs_heap *heap, uint64_t reserve_bytes);

#define HS_PROP_NAME_MAX 64
#define HS_PROP_VALUE_MAX 256

/**
 * Named per-heap settings kept for the layers above (shares, keep,
 * autocheckpoint), stored as given: heapstore checks only their lengths
 * (names 1-64 bytes of [a-z0-9_], values at most 256 bytes).  Synced.
 * set returns 0, -EINVAL, -ENOENT (deleted heap); an empty @value removes.
 * get copies the value with a NUL into @buf and returns its length, or
 * -ENODATA if unset, -ERANGE if @cap is too small.
 */
HS_API int hs_heap_prop_set(hs_heap *heap, const char *name, const char *value);
HS_API ssize_t hs_heap_prop_get(hs_heap *heap, const char *name, char *buf,
				size_t cap);

/* ---- live heap I/O ---------------------------------------------------- */

/**
 * Read up to @len bytes at byte offset @off of the live heap, like pread(2):
 * returns the count read, short at the end of the heap (0 at or beyond it).
 * Never-written lines read as zeros.  If a line in the range is unreadable
 * (corrupt or missing blob) the read stops before it; a read that starts at
 * such a line fails with -EBADMSG or -EUCLEAN and a message naming heap,
 * line and version.  Returns -EINVAL if @off + @len overflows.
 */
HS_API ssize_t hs_heap_read(hs_heap *heap, void *buf, size_t len, uint64_t off);

/**
 * Write @len bytes at @off of the live heap, like pwrite(2): the heap grows
 * to cover the write.  Each line is written atomically; lines already
 * holding identical content are left alone.  Returns @len (less if a later
 * part failed, like write(2)), or -EFBIG (the end would pass
 * HS_HEAP_SIZE_MAX, as write(2) past the file size limit), -ENOENT (deleted).
 */
HS_API ssize_t hs_heap_write(hs_heap *heap, const void *buf, size_t len,
			     uint64_t off);

/*
 * Space limits.  A heap's quota bounds its referenced bytes; the store's
 * pool (hs_store_opts.pool_bytes) bounds the bytes stored, less what other
 * heaps reserved and have not used.  A write that would pass either fails
 * with -EDQUOT (quota) or -ENOSPC (pool) and changes nothing, after waiting
 * up to wait_ms for space to be freed.  Lines the cache holds dirty are
 * charged ZSTD_COMPRESSBOUND(line size) each until written back (their
 * compressed size is not known before), so a write the cache accepted is
 * never refused at write-back; a write the charges refuse is written
 * through at once instead, with its exact cost (an overwrite that frees
 * what it replaces passes at a full quota).
 */
#define HS_WRITE_MAPPED 1   /* stores through a mapping the kernel writes back:
			       refusing them would lose what the program already
			       wrote, so they are taken over a limit (an
			       overdraft, counted) and the next hs_heap_sync()
			       reports the limit */

/**
 * Set aside the lines of [@off, @off + @len) that hold nothing yet, as
 * fallocate(2) mode 0 allocates blocks: each is charged the most a line
 * can take, against the quota and the pool, until a write fills it, so
 * writes there cannot fail for space; kept across remounts.  Punching or
 * truncating lines lets them go.  The size does not change.  Refused by a
 * limit, it waits for space up to wait_ms, as a write does.  Returns 0,
 * -EDQUOT, -ENOSPC (not all of them fit: nothing is set aside), -EFBIG.
 */
HS_API int hs_heap_allocate(hs_heap *heap, uint64_t off, uint64_t len);

/**
 * Call @fn(@arg, @heap_id, @err, @bytes) when a write (or an allocation)
 * of @bytes to heap @heap_id refused by a limit (@err: -EDQUOT its quota,
 * -ENOSPC the pool) starts waiting for space (heapfs wakes its GC and asks
 * balloons for what it needs), and again with @err positive (EDQUOT,
 * ENOSPC) and the same @bytes when that wait ends, served or not.  Set it before the store is used, or
 * when no writer can wait; NULL unsets.
 */
HS_API void hs_store_space_hook(hs_store *store,
				 void (*fn)(void *, uint64_t, int, uint64_t), void *arg);

/**
 * Call @fn(@arg, @heap_id, @delta, @pause) whenever heap @heap_id's use of
 * space moves by @delta bytes: its referenced bytes, what its dirty cached
 * lines are charged and what its fallocated holes hold, the figures its
 * quota counts.  @pause: the move came with a durability point (a
 * transaction's commit), else with a write.  Called with heapstore's locks
 * held: @fn must be quick and call nothing in heapstore.  Set it before
 * the store is written; NULL unsets.
 */
HS_API void hs_store_space_use_hook(hs_store *store,
				    void (*fn)(void *, uint64_t, int64_t, bool), void *arg);

/** hs_heap_write() with @flags (HS_WRITE_MAPPED). */
HS_API ssize_t hs_heap_pwrite(hs_heap *heap, const void *buf, size_t len,
			      uint64_t off, unsigned flags);

/**
 * Zero the byte range [@off, @off + @len) of the live heap without changing
 * its size (fallocate PUNCH_HOLE | KEEP_SIZE); whole lines become empty and
 * are no longer stored.  Bytes past the size are ignored.  Returns 0,
 * -EINVAL (overflow).
 */
HS_API int hs_heap_punch(hs_heap *heap, uint64_t off, uint64_t len);

/**
 * Set the size of the live heap.  Shrinking drops the lines beyond the new
 * end (they read as zeros if the heap grows again); growing is sparse.
 * Synced.  Returns 0, -EFBIG (beyond HS_HEAP_SIZE_MAX), -ENOENT.
 */
HS_API int hs_heap_truncate(hs_heap *heap, uint64_t size_bytes);

/**
 * Make every write that returned before this call durable (synced WAL).
 * Like fsync(2), it also reports, once, a background write-back of this
 * heap's lines that failed since the last call (those lines stayed dirty
 * and were retried here).
 */
HS_API int hs_heap_sync(hs_heap *heap);

/** Write the heap's dirty cached lines back to the store, without syncing
 *  (a no-op without a line cache); reports a failed background write-back
 *  as hs_heap_sync() does. */
HS_API int hs_heap_flush(hs_heap *heap);

/**
 * Give back the heap's cached lines until it holds at most @keep bytes of
 * the line cache: clean ones, least recently used first, after writing
 * back the dirty ones (lines in use stay).  Returns the bytes it holds
 * then, or -errno from the write-back.
 */
HS_API int64_t hs_heap_cache_trim(hs_heap *heap, uint64_t keep);

/*
 * The state file: up to HS_STATE_SIZE_MAX bytes of the runtime's non-heap
 * state (registers, thread contexts, leases) kept with the heap.  Every
 * checkpoint holds the state as it was, restore brings it back, and its
 * lines are deduplicated and made durable like the heap's (hs_heap_sync).
 */

/**
 * Read the state as of @version (HS_VERSION_LIVE for the live one).
 * Returns the count read (0 at or past its size), -ENOENT, -EINVAL.
 */
HS_API ssize_t hs_state_read(hs_heap *heap, uint64_t version, void *buf,
			     size_t len, uint64_t off);

/**
 * Write the live state, growing it as needed.  A write reaching past
 * HS_STATE_SIZE_MAX is cut short there, like write(2) at the file size
 * limit; one starting at or past it returns -EFBIG.
 */
HS_API ssize_t hs_state_write(hs_heap *heap, const void *buf, size_t len,
			      uint64_t off);

/** Set the live state's size.  Synced.  Returns 0, -EFBIG, -ENOENT. */
HS_API int hs_state_truncate(hs_heap *heap, uint64_t size_bytes);

/**
 * The first non-empty line at or after line @from_line in @version
 * (HS_VERSION_LIVE for the live heap), in *line_out.  For directory listings
 * and SEEK_DATA.  Costs one seek per line that has entries, not per line of
 * the heap.  Returns 0, -ENXIO (none), -ENOENT (no such version).
 */
HS_API int hs_heap_line_next(hs_heap *heap, uint64_t version,
			     uint64_t from_line, uint64_t *line_out);

/* ---- versions (checkpoints) ------------------------------------------ */

typedef struct hs_version_info {
	uint64_t version;
	uint64_t parent;          /* the version it records changes against, 0 if none */
	uint64_t created_ns;      /* CLOCK_REALTIME */
	uint64_t size_bytes;      /* heap size when sealed */
	uint64_t state_size;      /* state file size when sealed */
	uint64_t lines_changed;   /* lines it changed against its parent */
	uint64_t bytes_changed;   /* stored (compressed) bytes of those lines */
	uint64_t lines_used;      /* non-zero lines it holds */
	char label[HS_NAME_MAX + 1]; /* "" when unlabelled */
	uint8_t ident[HS_IDENT_LEN]; /* the same on every node that holds it */
} hs_version_info;

/**
 * Seal the working version as a checkpoint, optionally labelled, and start
 * a new working version.  Costs O(lines changed since the last checkpoint).
 * One synced batch: after a crash it is wholly present or wholly absent.
 * Labels follow heap-name rules, are unique per heap, and may be neither
 * all digits nor "latest".  Returns 0 and the new checkpoint's number in
 * *version_out (may be NULL), or -EINVAL (bad label), -EEXIST (label taken).
 */
HS_API int hs_version_seal(hs_heap *heap, const char *label,
			   uint64_t *version_out);

/**
 * As hs_version_seal(), unlabelled, for a migration.  A heap whose lease
 * expired in a migration to another node (hs_heap_info.moved_to set)
 * takes only these (-EROFS for the others) and keeps its newest checkpoint
 * (hs_version_delete() refuses it): a re-run asks the destination about it.
 */
HS_API int hs_version_seal_handover(hs_heap *heap, uint64_t *version_out);

/**
 * Suspend the heap: write back its dirty lines, seal a checkpoint and mark
 * the heap suspended in the same synced batch, and give its cached lines
 * back.  Until hs_heap_resume(), reads work and every change to the live
 * heap or its state (write, punch, truncate, restore, transaction commit)
 * fails with -EROFS; checkpoints can still be listed, read and deleted.
 * Survives reopening.  Returns 0 and the checkpoint's number in
 * *version_out (may be NULL), or -EALREADY (suspended already).
 */
HS_API int hs_heap_suspend(hs_heap *heap, uint64_t *version_out);

/** Undo hs_heap_suspend().  Synced.  Returns 0 or -EALREADY (not suspended). */
HS_API int hs_heap_resume(hs_heap *heap);

/** Describe checkpoint @version.  Returns 0 or -ENOENT. */
HS_API int hs_version_info_get(hs_heap *heap, uint64_t version,
			       hs_version_info *out);

/** Find the checkpoint labelled @label.  Returns 0 or -ENOENT. */
HS_API int hs_version_find_label(hs_heap *heap, const char *label,
				 uint64_t *version_out);

/**
 * Every checkpoint of @heap, oldest first, as a malloc'd array the caller
 * frees with free().  Returns 0 (*out NULL when *n_out is 0).
 */
HS_API int hs_version_list(hs_heap *heap, hs_version_info **out, size_t *n_out);

/**
 * Read like hs_heap_read() but as of checkpoint @version (or
 * HS_VERSION_LIVE), bounded by that version's size.  Each line is one seek.
 * Returns the count read, or -ENOENT (no such version), as hs_heap_read().
 */
HS_API ssize_t hs_version_read(hs_heap *heap, uint64_t version, void *buf,
			       size_t len, uint64_t off);

/**
 * Delete checkpoint @version.  Its changes that later versions still need
 * are merged into the next version; the rest lose their references (space
 * returns after GC).  Costs O(lines it changed).  Synced.
 * Returns 0, -ENOENT.
 */
HS_API int hs_version_delete(hs_heap *heap, uint64_t version);

/**
 * Make the live heap and its state equal to checkpoint @version, sizes
 * included, in one
 * synced batch.  Later checkpoints stay.  Costs O(lines changed since
 * @version).  Once done, posts the event "restored @version" to the heap
 * (hs_event_post).  Returns 0, -ENOENT.
 */
HS_API int hs_heap_restore(hs_heap *heap, uint64_t version);

/** Called for each differing line, in line order (state lines, numbered
 *  HS_STATE_LINE | i, come last); non-zero stops the walk and becomes
 *  hs_version_diff()'s result. */
typedef int (*hs_diff_cb)(uint64_t line_idx, void *payload);

/**
 * The lines whose content differs between versions @v1 and @v2 (either may
 * be HS_VERSION_LIVE), in line order.  Costs O(lines changed between them).
 * Returns 0, the callback's non-zero value, or -ENOENT.
 */
HS_API int hs_version_diff(hs_heap *heap, uint64_t v1, uint64_t v2,
			   hs_diff_cb cb, void *payload);

/* ---- moving versions between stores ----------------------------------- */
/*
 * What migrate/ builds streams from and commits them with.  A sender reads
 * checkpoints through an hs_export (one snapshot: a checkpoint deleted
 * meanwhile still reads whole); a receiver feeds an hs_import the blobs it
 * is sent and the versions with their changed lines, and commits them all
 * in one synced batch, or nothing.  Blobs arrive before the commit: they
 * are kept, and blobs the store already held are pinned against GC, by a
 * hidden staging heap that goes at the end (and that opening the store
 * after a crash removes like any interrupted deletion).
 */

/* One line a version changed: zero, or the hash of its content. */
typedef struct hs_xline {
	uint64_t line;            /* index; state line i is HS_STATE_LINE | i */
	int zero;
	uint8_t hash[HS_HASH_LEN];
	uint32_t stored;          /* the blob's stored bytes (export only) */
} hs_xline;

typedef struct hs_export hs_export;

/** Begin reading @heap's checkpoints; free with hs_export_end().
 *  Returns 0, -ENOENT (deleted). */
HS_API int hs_export_begin(hs_export **out, hs_heap *heap);
HS_API void hs_export_end(hs_export *x);

/** Every checkpoint as of the snapshot, oldest first (free()). */
HS_API int hs_export_versions(hs_export *x, hs_version_info **out, size_t *n_out);

/**
 * The lines checkpoint @version changed against its parent, in line order
 * (state lines last), as a malloc'd array (free()).  O(its changes).
 * Returns 0, -ENOENT (no such checkpoint in the snapshot).
 */
HS_API int hs_export_changes(hs_export *x, uint64_t version, hs_xline **out,
			     size_t *n_out);

/** Blob @hash's zstd frame as stored (malloc'd, free()).  -ENOENT. */
HS_API int hs_export_blob(hs_export *x, const uint8_t hash[HS_HASH_LEN], void **frame,
			  size_t *len);

/**
 * For each of @n hashes, the raw size of that content if the store holds
 * it (stored and not lost; garbage GC has not taken yet counts), else 0,
 * into @raw_out.
 * One MultiGet per 1024.  Returns 0 or -errno.
 */
HS_API int hs_blobs_held(hs_store *store, const uint8_t (*hashes)[HS_HASH_LEN], size_t n,
			 uint32_t *raw_out);

/**
 * Whether @frame (@len bytes) is a zstd frame of exactly one non-zero line
 * of @line_size bytes whose SHA-256 is @hash: 0, or -EBADMSG saying why.
 * The receiver's check of every blob it is sent; no store needed.
 */
HS_API int hs_frame_check(uint32_t line_size, const uint8_t hash[HS_HASH_LEN],
			  const void *frame, size_t len);

/** A checkpoint label's rules (heap-name rules, not all digits, neither
 *  "latest" nor "live"): 0 or -EINVAL saying which. */
HS_API int hs_label_check(const char *label);

/**
 * For each of @count prefixes of @n bytes at @prefixes (one after another),
 * the first blob whose hash starts with it: into @hashes[i] with @found[i]
 * 1, or @found[i] 0 (none).  One seek each; whether it is held is
 * hs_import_have()'s to say.  For answers to short ids in negotiation.
 * Returns 0 or -errno.
 */
HS_API int hs_blob_find_prefixes(hs_store *store, const uint8_t *prefixes, size_t n,
				 size_t count, uint8_t (*hashes)[HS_HASH_LEN], uint8_t *found);

typedef struct hs_import hs_import;

typedef struct hs_import_params {
	const char *name;         /* the heap to create, or to add versions to */
	uint8_t ident[HS_IDENT_LEN];
	uint32_t line_size;
	uint64_t created_ns;
	int incremental;          /* 1: heap @name exists, with this identity,
				     and its newest checkpoint is @base */
	uint8_t base[HS_IDENT_LEN];
	int owned;                /* a new heap's owner, as hs_heap_params */
	uint32_t uid, gid, mode;
	uint64_t max_bytes;       /* stop past this many bytes of blobs; 0: none */
	hs_lease lease;           /* the heap's lease once committed: HELD (live
				     here), or EXPIRED (a copy still coming) */
	int carried_only;         /* 1: count nothing the store holds as held, so
				     every content must come with the stream (a
				     sender who may not learn what the store holds:
				     whether it holds a content is an oracle) */
	int migration;            /* 1: a migration's round; committed with
				     HS_LEASE_HELD, it is a hand-over taken, and
				     recorded (hs_handover_get) */
} hs_import_params;

/**
 * Begin receiving heap @p->name.  Returns 0, -EINVAL (bad name, line size
 * or identity), -EEXIST (a full stream for a name taken), -ENOENT (an
 * incremental one for a heap that is not here), -ESTALE (the heap here has
 * another identity, or its newest checkpoint is not the base).
 */
HS_API int hs_import_begin(hs_import **out, hs_store *store, const hs_import_params *p);

/**
 * Whether the store holds content @hash as a line of this heap's size
 * (referenced, or garbage not yet reclaimed: a transfer cut short left
 * it): 1 (then it is pinned against GC until the import ends), 0 (it must
 * be sent).  Returns 1, 0 or -errno.
 */
HS_API int hs_import_have(hs_import *imp, const uint8_t hash[HS_HASH_LEN]);

/**
 * A blob the sender carried: decompressed and re-hashed (never trusted),
 * it must be exactly one line whose SHA-256 is @hash; then it is kept as
 * it came.  Returns 0, -EBADMSG (it is not), -ENOSPC, -EDQUOT (the pool or
 * the disk is full), -EFBIG (past max_bytes).
 */
HS_API int hs_import_blob(hs_import *imp, const uint8_t hash[HS_HASH_LEN], const void *frame,
			  size_t len);

/**
 * hs_import_blob() for @n blobs at once, pipelined: their checks start on
 * two worker threads of the import's and the call returns; the next call
 * (or hs_import_blobs_wait(), hs_import_have(), hs_import_blob(),
 * hs_import_commit(), hs_import_free()) checks what the workers have not
 * yet taken, waits for them and keeps the blobs in order, so this thread
 * writes one batch while the next is checked.  The
 * caller keeps @hashes, @frames and @lens as they are until then.  The
 * first blob that fails (in their order) fails that later call, with
 * those before it kept and none after (the batch then in flight is
 * dropped; later calls and the commit fail).  Returns 0, or the failure
 * of the batch before.
 */
HS_API int hs_import_blobs(hs_import *imp, size_t n, const uint8_t (*hashes)[HS_HASH_LEN],
			   const void *const *frames, const size_t *lens);

/** Wait for the batch hs_import_blobs() started and keep it.  Returns 0
 * or its failure, as hs_import_blob(). */
HS_API int hs_import_blobs_wait(hs_import *imp);

/**
 * Start the next version: @vi's version, created_ns, size_bytes,
 * state_size, label and ident are taken (the rest is recomputed), @parent
 * is the identity of the version before it (the base, or zeros for the
 * first of a full stream).  Versions come oldest first with increasing
 * numbers.  Returns 0 or -EINVAL saying what is inconsistent.
 */
HS_API int hs_import_version(hs_import *imp, const hs_version_info *vi,
			     const uint8_t parent[HS_IDENT_LEN]);

/** Lines the current version changed, in increasing line order across
 *  calls; each within the version's size.  0 or -EINVAL. */
HS_API int hs_import_lines(hs_import *imp, const hs_xline *lines, size_t n);

/**
 * Commit: every line's content must be carried or held here (-ENOENT
 * names one that is neither; held content not announced with
 * hs_import_have() is looked up and pinned now), then the versions, labels, the live heap (the newest
 * version's content, writable, with the lease) and the heap record are
 * written in one synced batch.  *@version_out: the newest version.
 * Returns 0 or -errno; either way the import is finished.
 */
HS_API int hs_import_commit(hs_import *imp, uint64_t *version_out);

/**
 * After hs_import_commit() failed: true when the store's writes failed
 * while its batch was being written, so the batch may be in the store
 * after all (at its next open: the store writes nothing more until then);
 * false when it certainly is not.
 */
HS_API bool hs_import_outcome_unknown(const hs_import *imp);

/**
 * 0 while the store writes, or the -errno of the write or sync that
 * failed, after which it refuses every write until it is reopened.
 */
HS_API int hs_store_write_error(hs_store *store);

/** The lease the heap will have once committed, in place of the one
 *  hs_import_begin() was given (a migration round that turned final). */
HS_API void hs_import_lease_set(hs_import *imp, hs_lease lease);

/**
 * After a commit that added versions to a heap here: the runs of its
 * heap lines they changed, as byte ranges of the live heap, each through
 * @fn (in order, coalesced).  None after a new heap's commit.  For what
 * the kernel caches of it: the rest of the heap did not change.
 */
HS_API void hs_import_changed(const hs_import *imp,
			      void (*fn)(void *arg, uint64_t off, uint64_t len), void *arg);

/** Abort unless committed (what was verified stays, as garbage for GC),
 *  drop the staging heap (after a commit too: it is not in the commit's
 *  path, so a receiver answers first), and free. */
HS_API void hs_import_free(hs_import *imp);

/* ---- transactions ----------------------------------------------------- */

/**
 * Begin a transaction on a snapshot of the live heap.  Free with
 * hs_txn_free(), which aborts it unless it was committed.
 * Returns 0, -ENOENT.
 */
HS_API int hs_txn_begin(hs_txn **out, hs_heap *heap);

/** Read as of the snapshot, with this transaction's staged writes applied.
 *  Like hs_heap_read(). */
HS_API ssize_t hs_txn_read(hs_txn *txn, void *buf, size_t len, uint64_t off);

/**
 * Stage a write; nothing is visible to others until hs_txn_commit().
 * Returns @len, -EINVAL (the transaction is finished), -EFBIG (past
 * HS_HEAP_SIZE_MAX, or more than HS_TXN_STAGED_MAX bytes staged; nothing of
 * the call is staged).
 */
HS_API ssize_t hs_txn_write(hs_txn *txn, const void *buf, size_t len,
			    uint64_t off);

/** Stage zeroing of [@off, @off + @len) like hs_heap_punch().  0 or -errno. */
HS_API int hs_txn_punch(hs_txn *txn, uint64_t off, uint64_t len);

/**
 * Commit every staged line atomically (one synced batch): all become
 * visible together, or none do.  Returns 0; -EBUSY when a staged line's
 * content changed in the live heap since the snapshot (nothing is written
 * and the transaction is finished); -EINVAL if it was aborted.  Committing
 * an already committed transaction returns 0.
 */
HS_API int hs_txn_commit(hs_txn *txn);

/** Abort (if not committed) and free.  NULL is a no-op. */
HS_API void hs_txn_free(hs_txn *txn);

/* ---- events ----------------------------------------------------------- */

/*
 * What happened to a heap, for its runtime (heapfs's <heap>/events file):
 * one-line texts such as "checkpoint 7", "checkpoint-failed <why>" or
 * "restored 3", numbered in the order they are posted.  Each heap keeps
 * the last HS_EVENT_RING of them in memory only: they are not stored, and
 * they go when the heap's last handle closes.  A reader keeps its own
 * cursor, a sequence number: hs_event_seq() when it starts (it sees only
 * what is posted after), then hs_event_read() from it.  heapstore posts
 * "restored N" (hs_heap_restore); the modules above post their own.
 *
 * Thread-safe: any thread may post and read at once.  A post takes one
 * short leaf lock of the heap's, never a heap lock.
 */
#define HS_EVENT_RING 1024              /* events a heap keeps for its readers */
#define HS_EVENT_LINE_MAX 256           /* bytes of one line, its '\n' included */

/**
 * Post an event to @heap: the text printf(@fmt, ...) makes, cut to
 * HS_EVENT_LINE_MAX - 1 bytes, with any newline or other control byte in
 * it made a space, so it stays one line.  The oldest event beyond
 * HS_EVENT_RING is dropped.  Then the store's event hook
 * (hs_store_event_hook) is called on this thread.  Returns 0, or -ENOMEM:
 * the event is still numbered, and readers are told it was lost.
 */
HS_API int hs_event_post(hs_heap *heap, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * The number the next event posted to @heap will get (the first is 0): a
 * new reader's cursor.  A reader whose cursor is below it has something to
 * read.
 */
HS_API uint64_t hs_event_seq(hs_heap *heap);

/**
 * Read the events of @heap from *@cursor on into @buf, one line each
 * ending in '\n', as many whole lines as fit in @cap bytes (which must be
 * at least HS_EVENT_LINE_MAX), and move *@cursor past them.  A reader that
 * fell behind the ring (or events lost to -ENOMEM) first gets the line
 * "lost N", N being how many it missed, then continues with the oldest
 * event kept.  Returns the bytes written (no NUL), 0 when there is nothing
 * new, or -EINVAL (@cap too small, or a cursor past hs_event_seq()).
 */
HS_API ssize_t hs_event_read(hs_heap *heap, uint64_t *cursor, char *buf, size_t cap);

/** Called after every event posted to any heap of a store. */
typedef void (*hs_event_cb)(uint64_t heap_id, void *payload);

/**
 * Call @fn(heap_id, @payload) after each event posted to a heap of @store,
 * on the posting thread, with no heapstore lock held by the post (heapfs
 * wakes the heap's pollers); NULL unsets.  When it returns, no call of the
 * hook it replaced is running, so the payload may go: never call it from
 * inside a hook.
 */
HS_API void hs_store_event_hook(hs_store *store, hs_event_cb fn, void *payload);

#ifdef __cplusplus
}
#endif

#endif /* HEAPSTORE_H */
