/*
 * heapstore_int.h - internals shared by the files of heapstore/ only.
 *
 * Schema: one RocksDB database, seven column families.  Integers in keys are
 * big-endian so that keys sort numerically.
 *
 *   meta     'F'                          -> "heapfs-store\0" u32 format
 *            'I'                          -> u64 next heap id
 *            'N' name                     -> u64 heap id
 *            'H' id                       -> heap record
 *            'V' id version               -> version (checkpoint) record
 *            'L' id label                 -> u64 version
 *            'C' id                       -> i64 live non-zero lines (merge: add)
 *            'P' id name                  -> a property's value (hs_heap_prop_set)
 *            'R' id                       -> i64 referenced bytes (merge: add)
 *            'U' id                       -> i64 unique bytes (merge: add)
 *            'T' k                        -> i64 store-wide figures (merge: add),
 *                                            k: enum hs_total
 *            'G' hash                     -> "" a garbage candidate (GC)
 *            'D' heap ident ckpt ident    -> a hand-over taken here
 *                                            (hs_handover; keys.c)
 *   lines    id line ~version             -> 32-byte hash, or "" for a zero line
 *                                            (state lines: line = 1<<63 | i)
 *   changes  id version line              -> u32 stored bytes of the new content
 *   blobs    hash                         -> zstd frame (content size + checksum)
 *   refs     hash                         -> i64 refcount, u32 stored, u32 raw
 *                                            (merge: add counts, keep sizes)
 *   hrefs    hash id                      -> i64 the heap's references to the
 *                                            blob, u32 stored (absent: none)
 *
 * Reading line L as of version v is one seek to (id, L, ~v): the first key
 * with the (id, L) prefix is the newest entry at or below v.  The live heap
 * is the working version W = latest checkpoint + 1; a line written live is
 * an entry at W plus a changes entry (id, W, L), so sealing W only has to
 * walk changes(W).  Every entry with a hash holds one reference on that blob;
 * refs are updated by merge operands in the same WriteBatch as the entry.
 *
 * Space accounting (blob.c, "accounting"): a heap's referenced bytes are
 * the stored bytes of the distinct blobs its entries name; hrefs holds how
 * many of its entries name each blob, so a batch sees when a heap gains or
 * loses a blob (0 <-> 1) and adds to 'R', 'U' and 'T' in the same batch.
 * The hash comes first in hrefs keys, so the heaps holding a blob are one
 * short seek: a blob is unique to a heap when no other heap holds it.
 *
 * Invariant (linear chain): content(v) = content(previous existing version)
 * overlaid with the lines entries at v.  Deleting a version merges its
 * still-needed entries into the next existing version, so the invariant
 * holds for every version that exists.
 *
 * ==== Locks: the whole order, written once ===============================
 *
 *   heap->lock  ->  heap->stripes[]  ->  cache->lock
 *       |                   |
 *       |                   +-------->  store->acct_lock
 *       +-------->  store->lock
 *
 * heap->lock (rwlock, writer-preferring): shared for line I/O, exclusive
 *   for size, version and record changes (the record fields are written
 *   only under it exclusively).  One heap's lock at a time: a thread that
 *   holds one only try-locks another (the cache's write-back, reclaim).
 * heap->stripes[] (one line's read-modify-write): under heap->lock, several
 *   taken in ascending stripe index (hs_heap__stripes_lock).
 * cache->lock (cache.c: entries, lists, pins, figures): a leaf.  Nothing is
 *   taken under it but try-locks of heap locks and the memory policy's own
 *   leaf lock (hs_store_memory_policy); a heap reference dropped
 *   while it is held is dropped after it is let go (closing a heap takes
 *   store->lock).
 * store->acct_lock (blob.c): held by a batch that takes or drops
 *   references from reading the counts it changes to its write returning,
 *   so counts read are exact; only limit_lock is taken under it (its sync
 *   comes after letting go).
 * store->limit_lock (limit.c: reservations, fallocate's holds, the space
 *   waiters' generation): a leaf, taken under any lock above but
 *   cache->lock (the cache changes charges with atomics alone).  A writer
 *   waits for space holding nothing.
 * store->lock (the table of open heaps, the name table, next_heap_id): taken
 *   with at most a heap lock held (closing another heap, hs_heap_delete),
 *   never a stripe or cache->lock, and nothing is taken under it but by
 *   hs_import's commit of a new heap, which holds it across its batch so
 *   no create takes the name meanwhile (acct_lock and limit_lock, leaves,
 *   under it; nothing takes store->lock under those).  So a
 *   thread never waits for a heap lock while holding store->lock:
 *   hs_heap_delete lets it go, takes the heap lock, and takes it again.
 *
 * heap->events.lock and store->event_lock (events.c): leaves, taken under
 *   any lock above or none; the event hook runs with neither held.
 *
 * The deliberate exception: a structural operation (truncate, seal,
 * restore, version delete, heap delete, a transaction's commit) holds its
 * heap's lock exclusively across one synced write, so everyone else on that
 * heap waits for a disk sync.  Otherwise only unsynced writes happen under
 * a heap lock held shared (write-back, write-through batches, with their
 * stripes).
 */
#ifndef HEAPSTORE_INT_H
#define HEAPSTORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <rocksdb/c.h>
#include <zstd.h>
#include <openssl/evp.h>

#include "heapstore.h"

/* The refs family's filters also hold each key's first bytes, so a seek
 * for a content named by that much of its hash (a migration's short id)
 * reads no block where none starts with them. */
#define HS_REF_PREFIX 8

enum hs_cf {
	HS_CF_DEFAULT,
	HS_CF_META,
	HS_CF_LINES,
	HS_CF_CHANGES,
	HS_CF_BLOBS,
	HS_CF_REFS,
	HS_CF_HREFS,
	HS_CF_COUNT
};

#define HS_STRIPES 1024           /* per-heap line lock stripes */
#define HS_CACHE_MIN HS_CACHE_BYTES_MIN
#define HS_WRITE_CHUNK_LINES 256  /* lines per WriteBatch in a long write */
#define HS_REF_VALUE_LEN 16
#define HS_HREF_KEY_LEN (HS_HASH_LEN + 8)
#define HS_HREF_VALUE_LEN 12
#define HS_FORMAT_MAGIC "heapfs-store"

typedef struct hs_cache hs_cache;
struct hs_cline;

/* The store-wide figures kept in meta 'T' k. */
enum hs_total {
	HS_TOTAL_STORED,                  /* stored bytes of referenced blobs */
	HS_TOTAL_BLOBS,                   /* referenced blobs */
	HS_TOTAL_GARBAGE,                 /* stored bytes of blobs no entry names */
	HS_TOTAL_GARBAGE_BLOBS,
	HS_TOTAL_COUNT
};

struct hs_store {
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[HS_CF_COUNT];
	rocksdb_options_t *cf_opts[HS_CF_COUNT];
	rocksdb_options_t *db_opts;
	rocksdb_block_based_table_options_t *table_opts[HS_CF_COUNT];
	rocksdb_cache_t *block_cache;
	rocksdb_writeoptions_t *wo;       /* WAL, not synced */
	rocksdb_writeoptions_t *wo_sync;  /* WAL, synced */
	rocksdb_readoptions_t *ro;        /* total order, whatever the family */
	rocksdb_readoptions_t *ro_prefix; /* seeks within HS_REF_PREFIX (refs) */
	int zstd_level;
	bool read_only;
	char *dir;
	uint32_t owner_uid, owner_gid;    /* the store directory's: heaps without
					     an owner of their own get these */
	/*
	 * The first failed write's errno, sticky: after a failed WAL write
	 * RocksDB refuses writes, and syncing its WAL trips an assertion, so
	 * writes and syncs fail until the store is reopened.
	 */
	atomic_int write_error;

	hs_cache *cache;                  /* the line cache; NULL: write-through */

	/*
	 * GC's fence (blob.c): every hash an uncommitted batch takes or drops
	 * a reference on, counted.  GC deletes a blob only under gc_lock, and
	 * only if no batch has it pending and its count is <= 0.  A leaf lock.
	 */
	pthread_mutex_t gc_lock;
	struct hs_pending **pending;      /* buckets; protected by gc_lock */
	/* Where the next GC round reads candidates from ('G' hash; 0 bytes:
	 * the first), so rounds do not walk the deletions of the rounds
	 * before them again until RocksDB compacts those away.  gc_lock. */
	uint8_t gc_cursor[1 + HS_HASH_LEN];
	size_t gc_cursor_len;

	pthread_mutex_t acct_lock;        /* space accounting: see blob.c */
	atomic_int_fast64_t totals[HS_TOTAL_COUNT];   /* 'T', as committed */

	/* Limits (blob.c, "limits"): the pool, charges for dirty lines, and
	 * the reservations, kept for every heap that has one. */
	uint64_t pool_bytes;
	unsigned wait_ms;
	atomic_int_fast64_t charged;      /* every heap's hs_heap.charged */
	pthread_mutex_t limit_lock;       /* a leaf: res, space_gen */
	pthread_cond_t space_cond;        /* space was freed: writers retry */
	uint64_t space_gen;
	void (*space_hook)(void *, uint64_t, int, uint64_t);   /* hs_store_space_hook */
	void *space_hook_arg;
	void (*use_hook)(void *, uint64_t, int64_t, bool);   /* hs_store_space_use_hook */
	void *use_hook_arg;
	struct hs_reserve *res;
	size_t n_res, cap_res;
	struct hs_hold *holds;            /* fallocate's, per heap; limit_lock */
	size_t n_holds, cap_holds;
	atomic_bool holds_any;            /* any heap ever had one: else no lock */

	/* Heaps to purge in the background (heap.c, hs_heap__purge_later):
	 * purge_lock guards the rest; purge_cond says the queue changed. */
	pthread_mutex_t purge_lock;
	pthread_cond_t purge_cond;
	pthread_t purge_thread;
	bool purge_started, purge_stop, purge_busy;
	uint64_t *purge_ids;
	size_t purge_n, purge_cap;

	pthread_mutex_t lock;
	hs_heap *heaps;                   /* open heap objects; protected by lock */
	uint64_t next_heap_id;            /* protected by lock */

	/* The event hook (events.c, hs_store_event_hook): all protected by
	 * event_lock; event_calls counts hooks running, unlocked. */
	pthread_mutex_t event_lock;
	pthread_cond_t event_idle;        /* event_calls fell to 0 */
	hs_event_cb event_hook;
	void *event_hook_arg;
	unsigned event_calls;
};

/* The persistent heap record ('H' id). */
struct hs_heap_rec {
	hs_heap_state state;
	uint32_t line_size;
	uint64_t size;
	uint64_t state_size;              /* the state file's size */
	uint64_t quota;
	uint64_t reserve;
	uint64_t head;                    /* working version */
	uint64_t created_ns;
	bool suspended;                   /* hs_heap_suspend(): the live heap is read-only */
	bool owned;                       /* uid, gid, mode read from the record: false
					     for records from before owners (format
					     1, 2) until heap.c fills them in */
	uint32_t uid, gid, mode;          /* the heap's owner and permission bits */
	uint8_t ident[HS_IDENT_LEN];      /* all zero before format 3 */
	hs_lease lease;
	char moved_to[HS_MOVED_MAX + 1];
	char name[HS_NAME_MAX + 1];
};

/* A heap's part of the line cache (cache.c); protected by cache->lock. */
struct hs_cheap {
	struct hs_cline *res_head;        /* every entry of the heap */
	struct hs_cline *dirty_head, *dirty_tail;   /* oldest first */
	hs_heap *dprev, *dnext;           /* the cache's heaps with dirty lines */
	bool in_dirty;
	uint64_t n_resident, n_dirty, n_flushing;
	int urgent;                       /* threads waiting for its write-back */
	int wb_error;                     /* a background write-back failure not
					     yet reported (hs_heap_flush) */
	uint64_t hits, misses, evictions;
};

/*
 * A heap's recent events (events.c): a ring of the last HS_EVENT_RING
 * lines, event number i in ring[i % HS_EVENT_RING].
 *
 *   numbers:  next - RING ... next - 1 | next (to come)
 *   ring:     [ "checkpoint 4" | "restored 2" | NULL (lost: ENOMEM) | ... ]
 */
struct hs_events {
	pthread_mutex_t lock;             /* a leaf */
	char **ring;                      /* protected by lock; made at the first
					     post, NULL until then */
	uint64_t next;                    /* protected by lock: the next number */
};

struct hs_heap {
	hs_store *store;
	uint64_t id;
	/* Changed under store->lock, but for the line cache's references,
	 * taken atomically while another reference is held (cache.c). */
	atomic_int refs;
	hs_heap *next;                    /* protected by store->lock */

	pthread_rwlock_t lock;
	pthread_mutex_t stripes[HS_STRIPES];

	/* protected by lock: read shared, written exclusive */
	struct hs_heap_rec rec;
	unsigned line_shift;
	uint64_t latest;                  /* newest checkpoint, 0 if none */
	uint64_t n_checkpoints;
	bool deleted;
	atomic_int_fast64_t lines_used;   /* live non-zero lines */
	atomic_int_fast64_t referenced;   /* 'R': written under store->acct_lock */
	atomic_int_fast64_t charged;      /* for its dirty cached lines (cache.c) */
	atomic_int_fast64_t overdraft;    /* bytes taken over a limit (mapped) */
	atomic_int limit_error;           /* -EDQUOT/-ENOSPC for the next sync */
	struct hs_cheap cache;
	struct hs_events events;          /* its own lock (events.c) */
};

/*
 * A heap has two byte spaces: the heap and its state file.  State line i is
 * line HS_STATE_LINE | i, so it shares every mechanism of heap lines
 * (versions, changes, dedup, restore) and sorts after all heap lines.
 */
static inline uint64_t *space_size(struct hs_heap_rec *r, bool state)
{
	return state ? &r->state_size : &r->size;
}

/* A line's value in one version: zero, or the hash of its content. */
struct hs_lineval {
	bool zero;
	uint8_t hash[HS_HASH_LEN];
};

/* Per-thread scratch: codec contexts and line-sized buffers (STYLE 5, 7). */
struct hs_scratch {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	EVP_MD_CTX *md;
	int cctx_level;
	uint8_t *line;                    /* HS_LINE_SIZE_MAX bytes */
	uint8_t *frame;                   /* ZSTD_compressBound(HS_LINE_SIZE_MAX) */
	size_t frame_cap;
};

/* A heap's fallocated lines that are holes still (limit.c, holds). */
struct hs_span {
	uint64_t first, last;
};

struct hs_hold {
	uint64_t id;
	uint32_t line_size;
	struct hs_span *spans;            /* sorted, disjoint */
	size_t n, cap;
	uint64_t lines;                   /* in spans */
};

/* A heap's reservation and what it uses of it (limit.c). */
struct hs_reserve {
	uint64_t id;
	uint64_t reserve;
	int64_t referenced;
};

/* A batch's net change to one blob's references (blob.c, accounting). */
struct hs_acct {
	uint8_t hash[HS_HASH_LEN];
	int64_t delta;
	uint32_t stored;                  /* known to the batch (a take); 0 if not */
};

/* One WriteBatch being assembled, with what it will do to counters. */
#define HS_BATCH_NEW_BLOBS 64
struct hs_batch {
	rocksdb_writebatch_t *wb;
	int64_t lines_used_delta;
	struct hs_acct *acct;             /* references taken and dropped */
	size_t n_acct, cap_acct;
	bool enforce;                     /* refuse it over a quota or the pool */
	uint64_t *held;                   /* lines whose fallocate hold it took */
	size_t n_held, cap_held;
	bool mapped;                      /* over a limit: take it, as an overdraft */
	bool pause;                       /* a durability point's (a txn's commit) */
	size_t n_new;                     /* blobs this batch already puts */
	uint8_t new_blobs[HS_BATCH_NEW_BLOBS][HS_HASH_LEN];
	uint32_t new_stored[HS_BATCH_NEW_BLOBS];
	hs_store *pend_store;             /* GC's fence: the hashes this batch */
	uint8_t (*pend)[HS_HASH_LEN];     /* takes or drops a reference on, */
	size_t n_pend, cap_pend;          /* pending until it is disposed */
};

/*
 * ==== The layers =======================================================
 *
 * Each file calls only files of the layers below its own (never a sibling
 * of its layer, never one above); scripts/check-layers.sh fails the build
 * on a call back up, from the symbols of libheapstore.a.  Bottom first:
 *
 *   0  error.c                      messages and errnos
 *   1  util.c keys.c codec.c        clock and arrays; keys and records;
 *                                   hashing and compression;
 *      events.c                     the heaps' event rings, the event hook
 *   2  db.c                         the RocksDB layer: get, write, sync
 *   3  limit.c                      quota, pool, charges, reservations, holds
 *   4  blob.c                       batches, references, accounting, blobs, GC
 *   5  line.c                       line entries: lookup, load, stage
 *   6  vrec.c                       checkpoint records
 *   7  heap.c                       heap objects, records, stripes, purge
 *   8  cache.c                      the line cache
 *   9  io.c                         byte I/O of the live heap
 *  10  version.c txn.c fsck.c       versions, transactions, fsck, heap
 *      admin.c xfer.c               delete, info and list; moving versions
 *                                   between stores
 *  11  store.c                      opening and closing the store
 *
 * The structures above are shared by every layer (a lower layer reads the
 * fields of a heap it is handed; only heap.c and the layers above change
 * the record).
 */

/* ---- 0: error.c (hs_errno_set is public: heapstore.h) ---------------- */
void hs_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int hs_rdb_error(char *err, const char *what);

/* ---- 1: util.c, keys.c, codec.c ---------------------------------------- */
int hs_grow(void **arr, size_t *cap, size_t n, size_t elem);
uint64_t hs_now_ns(void);
int hs_random(void *buf, size_t n);

void hs_be64_put(uint8_t *p, uint64_t v);
uint64_t hs_be64_get(const uint8_t *p);
void hs_le32_put(uint8_t *p, uint32_t v);
uint32_t hs_le32_get(const uint8_t *p);
void hs_le64_put(uint8_t *p, uint64_t v);
uint64_t hs_le64_get(const uint8_t *p);
#define HS_LINE_KEY_LEN 24
void hs_key__line(uint8_t out[HS_LINE_KEY_LEN], uint64_t heap, uint64_t line,
		  uint64_t version);
void hs_key__line_parse(const uint8_t *key, uint64_t *heap, uint64_t *line,
			uint64_t *version);
#define HS_CHANGE_KEY_LEN 24
void hs_key__change(uint8_t out[HS_CHANGE_KEY_LEN], uint64_t heap,
		    uint64_t version, uint64_t line);
size_t hs_key__meta(uint8_t *out, char tag, uint64_t id, const char *suffix);
#define HS_META_KEY_MAX (1 + 8 + 8 + HS_NAME_MAX)
size_t hs_key__meta_version(uint8_t *out, uint64_t id, uint64_t version);
void hs_key__href(uint8_t out[HS_HREF_KEY_LEN], const uint8_t *hash, uint64_t id);
size_t hs_heap_rec__encode(uint8_t *out, size_t cap, const struct hs_heap_rec *r);
int hs_heap_rec__decode(struct hs_heap_rec *r, const uint8_t *p, size_t n);
size_t hs_version_rec__encode(uint8_t *out, size_t cap, const hs_version_info *v);
int hs_version_rec__decode(hs_version_info *v, const uint8_t *p, size_t n);
#define HS_REC_MAX 640
#define HS_HANDOVER_KEY_LEN (1 + 2 * HS_IDENT_LEN)
#define HS_HANDOVER_LEN 24
void hs_key__handover(uint8_t out[HS_HANDOVER_KEY_LEN], const uint8_t heap_ident[HS_IDENT_LEN],
		      const uint8_t ident[HS_IDENT_LEN]);
void hs_handover__encode(uint8_t out[HS_HANDOVER_LEN], const hs_handover *r);
int hs_handover__decode(hs_handover *r, const uint8_t *p, size_t n);
/* Put, in @wb, that this store took heap @heap_ident's hand-over at
 * checkpoint @version (@ident). */
void hs_handover__put(hs_store *s, rocksdb_writebatch_t *wb,
		      const uint8_t heap_ident[HS_IDENT_LEN], uint64_t version,
		      const uint8_t ident[HS_IDENT_LEN]);

struct hs_scratch *hs_scratch__get(void);
void hs_codec__hash(struct hs_scratch *sc, const void *data, size_t len,
		    uint8_t out[HS_HASH_LEN]);
bool hs_codec__is_zero(const void *data, size_t len);
int hs_codec__compress(struct hs_scratch *sc, int level, const void *data,
		       size_t len, const uint8_t **frame, size_t *frame_len);
int hs_codec__decompress(struct hs_scratch *sc, const void *frame,
			 size_t frame_len, void *dst, size_t line_size);
void hs_hash_hex(char *out, size_t cap, const uint8_t hash[HS_HASH_LEN]);

/* ---- 1: events.c (the API is public: heapstore.h) ----------------------- */
/* A heap object's ring (heap.c makes and frees them) and the store's hook
 * (store.c). */
void hs_events__init(struct hs_events *e);
void hs_events__dispose(struct hs_events *e);
void hs_events__store_init(hs_store *s);
void hs_events__store_dispose(hs_store *s);
/* Test hook: while non-zero, posts find no memory for their line. */
HS_API extern atomic_int hs__test_event_nomem;

/* ---- 2: db.c ------------------------------------------------------------ */
int hs_store__get(hs_store *s, enum hs_cf cf, const rocksdb_readoptions_t *ro,
		  const void *key, size_t klen, char **val, size_t *vlen);
int hs_store__write(hs_store *s, rocksdb_writebatch_t *wb, bool sync);
int hs_store__sync(hs_store *s);
/* Whether the store's disk has room for @bytes more (twice, plus 4 MiB, as
 * compaction needs): 0 or -ENOSPC, before a write RocksDB could not finish
 * (a failed write stops the store until it is reopened). */
int hs_store__disk_room(hs_store *s, uint64_t bytes);
/* Meta counter @tag @id ('C', 'R', 'U', 'T'): absent is 0; -EUCLEAN if it
 * is not 8 bytes. */
int hs_store__get_counter(hs_store *s, char tag, uint64_t id, int64_t *out);
/* Point reads of many keys in one MultiGet: init, set each key, run (the
 * first error, with @what), read vals[i] (NULL: absent), free. */
struct hs_multiget {
	size_t n;
	const char **keys;
	size_t *klen;
	const rocksdb_column_family_handle_t **cfs;
	char **vals;
	size_t *vlen;
	char **errs;
};
int hs_multiget__init(struct hs_multiget *m, size_t n);
void hs_multiget__set(struct hs_multiget *m, size_t i, hs_store *s, enum hs_cf cf,
		      const void *key, size_t klen);
int hs_multiget__run(struct hs_multiget *m, hs_store *s, const char *what);
void hs_multiget__free(struct hs_multiget *m);
int hs_iter__error(rocksdb_iterator_t *it, const char *what);
int hs_iter__finish(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, int rc,
		    const char *what);

/* ---- 3: limit.c ---------------------------------------------------------- */
/*
 * Limits.  hs_limit__check: may heap @h grow by @ref (its referenced bytes)
 * and the store by @stored bytes?  0, or -EDQUOT / -ENOSPC with a message.
 * The rest keep the reservations and wake writers waiting for space.
 */
int hs_limit__check(hs_heap *h, int64_t ref, int64_t stored);
/* Whether heap @h is over a limit now: 0, -EDQUOT or -ENOSPC. */
int hs_limit__over(hs_heap *h);
void hs_limit__init(hs_store *s, const hs_store_opts *o);
int hs_limit__load(hs_store *s);      /* the reservations, once the store is open */
void hs_limit__free(hs_store *s);
int hs_limit__reserve_set(hs_store *s, uint64_t id, uint64_t reserve, int64_t referenced);
void hs_limit__reserve_used(hs_store *s, uint64_t id, int64_t referenced);
/* Set a reservation if the pool (or the disk) can guarantee it: -ENOSPC. */
int hs_limit__reserve_admit(hs_store *s, uint64_t id, const char *name, uint64_t reserve,
			    int64_t referenced);
void hs_limit__freed(hs_store *s);
uint64_t hs_limit__gen(hs_store *s);
void hs_limit__wait(hs_store *s, uint64_t gen, uint64_t deadline_ns);
/* Charge @bytes for a line becoming dirty, if the limits allow (with
 * @mapped, whatever they say: an overdraft); and release a charge. */
int hs_limit__charge(hs_heap *h, int64_t bytes, bool mapped);
/* Whether anything limits @h (a quota, the pool, a fallocate hold): if not,
 * a write need not look at its line's state or take the limits lock. */
bool hs_limit__any(hs_heap *h);
void hs_limit__uncharge(hs_heap *h, int64_t bytes);
/* fallocate's holds (limit.c): hold the holes of lines [first, last]
 * (-EDQUOT, -ENOSPC), take one line's hold as a write fills it (@transfer:
 * its charge becomes the dirty line's; else it is given back), put one
 * back (a failed batch), let a range go, the bytes a heap holds, and load
 * them all at open. */
int hs_limit__hold_add(hs_heap *h, uint64_t first, uint64_t last);
bool hs_limit__hold_take(hs_heap *h, uint64_t line, bool transfer);
void hs_limit__hold_put(hs_heap *h, uint64_t line);
void hs_limit__hold_drop(hs_store *s, uint64_t id, uint64_t first, uint64_t last,
			 bool save);
uint64_t hs_limit__held(hs_heap *h);
int hs_limit__holds_load(hs_store *s);
/* A mapped store taken over a limit: count it, report it at the next sync. */
void hs_limit__overdraft(hs_heap *h, int rc, uint64_t bytes);
/* Heap @id's use (referenced + charged + held) moved by @delta: the use hook. */
void hs_limit__use(hs_store *s, uint64_t id, int64_t delta, bool pause);
#define HS_CHARGE(ls) ((int64_t)ZSTD_COMPRESSBOUND(ls))

/* The blobs family's memtable (store.c); its two take disk room when they
 * flush, after their WAL took it once (hs_store__disk_room). */
#define HS_BLOBS_MEMTABLE (4u << 20)

/* ---- 4: blob.c ------------------------------------------------------------ */
void hs_batch__init(struct hs_batch *b);
/* With @wb, an empty WriteBatch to reuse (its buffer is already grown). */
void hs_batch__init_wb(struct hs_batch *b, rocksdb_writebatch_t *wb);
void hs_batch__dispose(struct hs_batch *b);
/* Disposed and made anew, its write batch's memory kept. */
void hs_batch__reset(struct hs_batch *b);
int hs_batch__commit(hs_heap *h, struct hs_batch *b, bool sync);
/* Commit a batch of heap @id, whose object @h may be NULL (a purge). */
int hs_batch__commit_id(hs_store *s, uint64_t id, hs_heap *h, struct hs_batch *b,
			bool sync);
/* A reference on blob @hash: taken by an entry that names it (@stored and
 * @raw: its sizes), dropped with that entry.  Every drop of the store goes
 * through hs_ref__drop(), in the batch that removes the entry, which also
 * records @hash as a garbage candidate ('G' hash in meta) for GC.  Both
 * note the change for the batch's accounting (hs_batch__commit). */
int hs_ref__take(hs_store *s, struct hs_batch *b, const uint8_t *hash,
		 uint32_t stored, uint32_t raw);
int hs_ref__drop(hs_store *s, struct hs_batch *b, const uint8_t *hash);
/* The pending table of GC's fence (store open and close). */
int hs_pending__init(hs_store *s);
void hs_pending__free(hs_store *s);
int hs_blob__ensure(hs_heap *h, struct hs_batch *b, const struct hs_lineval *nv,
		    const void *content, uint64_t line, uint32_t *stored);
/* GC's fence on @hash for the life of @b, then its sizes if it is stored
 * (referenced, or garbage GC has not taken yet; 0 if not): a transfer's
 * "the store holds it". */
int hs_blob__pin(hs_store *s, struct hs_batch *b, const uint8_t *hash, uint32_t *stored,
		 uint32_t *raw);
/* hs_blob__ensure() for a frame already checked against @hash, put as is. */
int hs_blob__ensure_frame(hs_store *s, struct hs_batch *b, const uint8_t *hash,
			  const void *frame, size_t flen, uint32_t *stored);
int hs_blob__heal(hs_heap *h, struct hs_batch *b, const struct hs_lineval *nv,
		  const void *content, uint64_t line);
int hs_blob__read(hs_heap *h, const rocksdb_readoptions_t *ro,
		  const struct hs_lineval *val, uint64_t line, uint64_t version,
		  void *dst);

/* ---- 5: line.c ------------------------------------------------------------ */
/*
 * A cursor for point lookups of lines.  Each lookup bounds its seek at the
 * next line by rewriting the cursor's own upper-bound key in place before
 * the Seek (RocksDB re-reads the bound on every Seek), so looking up a hole
 * never walks the tombstones of the lines after it.  One thread at a time.
 */
struct hs_cursor {
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	uint8_t upper[HS_LINE_KEY_LEN];
};

/* Leaves @c closable (hs_cursor__close) whatever it returns. */
int hs_cursor__open(struct hs_cursor *c, hs_heap *h,
		    const rocksdb_snapshot_t *snap);
void hs_cursor__close(struct hs_cursor *c);
int hs_line__lookup(hs_heap *h, struct hs_cursor *c, uint64_t line,
		    uint64_t version, struct hs_lineval *out,
		    uint64_t *found_version);
int hs_line__load(hs_heap *h, struct hs_cursor *c, uint64_t line,
		  uint64_t version, void *dst);
int hs_line__stage(hs_heap *h, struct hs_batch *b, struct hs_cursor *c,
		   uint64_t line, const struct hs_lineval *nv,
		   const void *content);
rocksdb_iterator_t *hs_line__iter(hs_heap *h);
int hs_line__value_of(hs_heap *h, const void *content, struct hs_lineval *out);

/* ---- 6: vrec.c ------------------------------------------------------------ */
int hs_vrec__label_check(const char *label);
/* Decode checkpoint @version's record (its identity derived if it predates
 * identities); it must agree with its key. */
int hs_version__decode(hs_heap *h, uint64_t version, const uint8_t *v, size_t vl,
		       hs_version_info *out);
int hs_version__load_all(hs_heap *h);
int hs_version__exists(hs_heap *h, uint64_t version, hs_version_info *out);
/* The next existing version after @version: a checkpoint or the working one. */
int hs_version__next(hs_heap *h, uint64_t version, uint64_t *next_out);
/* The newest existing checkpoint below @version, 0 if none. */
int hs_version__prev(hs_heap *h, uint64_t version, uint64_t *prev_out);
int hs_version__list_all(hs_heap *h, hs_version_info **out, size_t *n_out);

/* ---- 7: heap.c ------------------------------------------------------------ */
int hs_heap__name_lookup(hs_store *s, const char *name, uint64_t *id);
/* With s->lock held: the open object of heap @id with a reference taken,
 * or NULL. */
hs_heap *hs_heap__find_open(hs_store *s, uint64_t id);
int hs_heap__rec_load(hs_store *s, uint64_t id, const char *name,
		      struct hs_heap_rec *rec);
int hs_heap__put_rec(hs_heap *h, rocksdb_writebatch_t *wb,
		     const struct hs_heap_rec *rec);
/* Purging in the background: a heap whose record says DELETING goes on
 * the purger's queue (purged here if no thread can be had); drain (db.c)
 * waits until the queue is empty; stop ends the purger, leaving what it
 * did not reach for the next open (store.c finishes DELETING heaps). */
void hs_heap__purge_init(hs_store *s);
void hs_heap__purge_later(hs_store *s, uint64_t id);
void hs_store__purge_drain(hs_store *s);
void hs_heap__purge_stop(hs_store *s);
/* h->rec = *rec, with h->lock held exclusive (see heap.c). */
void hs_heap__rec_set(hs_heap *h, const struct hs_heap_rec *rec);
int hs_heap__check_live(hs_heap *h);
int hs_heap__check_writable(hs_heap *h);
void hs_heap__stripes_lock(hs_heap *h, const uint64_t *lines, size_t n);
void hs_heap__stripes_unlock(hs_heap *h, const uint64_t *lines, size_t n);
int hs_heap__purge(hs_store *s, uint64_t id);
int hs_heap__changes_count(hs_heap *h, uint64_t max, uint64_t *lines_out);

/* ---- 8: cache.c: the line cache (store->cache NULL when there is none) --- */
int hs_cache__open(hs_store *s, uint64_t limit, int threads, unsigned idle_ms,
		   unsigned release_ms);
int hs_cache__close(hs_store *s);
/* The heap's background write-back failure since the last call, or 0. */
int hs_cache__take_error(hs_heap *h);
int hs_cache__get(hs_heap *h, uint64_t line, bool create, struct hs_cline **out);
void hs_cache__put(hs_heap *h, struct hs_cline *cl, bool discard);
uint8_t *hs_cache__data(struct hs_cline *cl);
int hs_cache__fill(hs_heap *h, struct hs_cline *cl, struct hs_cursor *cur, bool *zero);
/* Whether @cl is dirty now (a write to it needs no new charge). */
bool hs_cache__is_dirty(hs_heap *h, struct hs_cline *cl);
/* Mark @cl dirty after a write; @charged: the writer charged it for that
 * (hs_limit__charge), given back if it was dirty already. */
void hs_cache__dirty(hs_heap *h, struct hs_cline *cl, bool charged);
/* Evict @h's clean unpinned lines, least recently used first, until it
 * holds at most @keep bytes; returns the bytes it holds then. */
uint64_t hs_cache__trim(hs_heap *h, uint64_t keep);
/* Drop @cl, which the caller got and is the only one to use (else
 * false: it stays, still the caller's), whatever it holds, its charge let
 * go: the caller writes what replaces it to the store, under its stripe. */
bool hs_cache__forget(hs_heap *h, struct hs_cline *cl);
int hs_cache__flush_heap(hs_heap *h);
/* Without h->lock held: write back the lines dirty now with the flushers'
 * help, under the lock shared, before a caller takes it exclusively. */
int hs_cache__preflush(hs_heap *h);
void hs_cache__drop(hs_heap *h, bool all, bool state, uint64_t first);
void hs_cache__drop_lines(hs_heap *h, const uint64_t *lines, size_t n);
void hs_cache__heap_info(hs_heap *h, hs_heap_info *out);

/* ---- 9: io.c ------------------------------------------------------------ */
/* Read [off, off + len) of @version (or of the live heap through the cache,
 * when @version is the working one and @snap NULL), cut at @size. */
ssize_t hs_io__read_range(hs_heap *h, const rocksdb_snapshot_t *snap,
			  bool state, uint64_t version, uint64_t size,
			  void *buf, size_t len, uint64_t off);

/* ---- 10: version.c, txn.c, fsck.c, admin.c ------------------------------ */
/* Recount the space figures and rewrite those that differ (store.c, when
 * it upgrades a format 1 store). */
int hs_fsck__space(hs_store *s);
/* ---- 11: store.c: public API only ---------------------------------------- */

/*
 * Test hook: called, when set, right after a batch probed the reference
 * count of a blob it is about to reference, before the batch commits: the
 * window GC's fence closes (test_gc puts a drop and a GC round there).
 */
HS_API extern void (*hs__test_probed)(hs_store *s, const uint8_t *hash);

/*
 * Test hook: called, when set, by every sync of the store's log after the
 * writes before it went in; a negative errno fails that sync as a failed
 * fdatasync would (and stops the store's writes).
 */
HS_API extern int (*hs__test_sync)(hs_store *s);

/* test hook: return the ready-made Rocksdb handles (tests inject faults). */
HS_API rocksdb_t *hs_store__db(hs_store *s);
HS_API rocksdb_column_family_handle_t *hs_store__cf(hs_store *s, enum hs_cf cf);

#endif /* HEAPSTORE_INT_H */
