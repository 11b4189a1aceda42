/*
 * migrate.h - moving heaps between nodes (prefix mg_): the stream
 * (STREAM.md: encoder and decoder over byte buffers, apart from I/O, so
 * they can be fuzzed), and send, receive and verify over file descriptors.
 *
 * Errors: -errno with the message in hs_error_last(), like heapstore.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapstore.h"

#define MG_FORMAT 2
#define MG_PREAMBLE_LEN 16
#define MG_REC_HDR 8
#define MG_LINES_PER_REC 65536u
#define MG_LINE_ENTRY 41              /* u64 line | u8 kind | hash[32] */
#define MG_VERSIONS_MAX (1u << 20)    /* in one stream */
#define MG_LINES_MAX (1u << 24)       /* line entries in one stream */

/* The heap a stream carries (its H record). */
typedef struct mg_heap_hdr {
	uint8_t ident[HS_IDENT_LEN];
	uint32_t line_size;
	char name[HS_NAME_MAX + 1];
	uint64_t created_ns;
	uint8_t base[HS_IDENT_LEN];       /* all zero: a full stream */
	uint64_t base_version;
	uint32_t n_versions;
} mg_heap_hdr;

/* One version (its V record); vi carries version, ident, created_ns,
 * size_bytes, state_size and label. */
typedef struct mg_version_hdr {
	hs_version_info vi;
	uint8_t parent[HS_IDENT_LEN];
	uint64_t n_lines;
} mg_version_hdr;

typedef struct mg_trailer {
	uint64_t versions, lines, blobs, blob_bytes;
} mg_trailer;

bool mg_ident_zero(const uint8_t ident[HS_IDENT_LEN]);

/* ---- encoder: records into a growing buffer, hashed as they go -------- */

typedef struct mg_enc {
	uint8_t *buf;                     /* what is not yet written out */
	size_t len, cap;
	void *md;                         /* SHA-256 of everything emitted */
	mg_trailer count;
	uint32_t line_size;
} mg_enc;

int mg_enc_init(mg_enc *e);
void mg_enc_free(mg_enc *e);
/* The preamble and the H record. */
int mg_enc_heap(mg_enc *e, const mg_heap_hdr *h);
int mg_enc_version(mg_enc *e, const mg_version_hdr *v);
/* Any number of lines: cut into L records of MG_LINES_PER_REC. */
int mg_enc_lines(mg_enc *e, const hs_xline *lines, size_t n);
int mg_enc_blob(mg_enc *e, const uint8_t hash[HS_HASH_LEN], const void *frame, size_t len);
int mg_enc_end(mg_enc *e);
/* The caller wrote e->buf out: forget it (the hash goes on). */
void mg_enc_drain(mg_enc *e);

/* ---- decoder: any split of the bytes, callbacks per record ------------- */

typedef struct mg_dec_cb {
	int (*heap)(void *arg, const mg_heap_hdr *h);
	int (*version)(void *arg, const mg_version_hdr *v);
	int (*lines)(void *arg, const hs_xline *lines, size_t n);
	int (*blob)(void *arg, const uint8_t hash[HS_HASH_LEN], const void *frame, size_t len);
	int (*end)(void *arg, const mg_trailer *t);
} mg_dec_cb;

typedef struct mg_dec mg_dec;

/* Any callback may be NULL; one returning < 0 stops the stream with it. */
int mg_dec_new(mg_dec **out, const mg_dec_cb *cb, void *arg);
/* Decode the next @len bytes.  0, or -EBADMSG (and others from callbacks)
 * with a message naming the byte offset. */
int mg_dec_feed(mg_dec *d, const void *buf, size_t len);
/* The input ended: 0 after the E record, else -EBADMSG (truncated). */
int mg_dec_finish(mg_dec *d);
uint64_t mg_dec_offset(const mg_dec *d);
void mg_dec_free(mg_dec *d);

/* ---- send, receive, verify over file descriptors ----------------------- */

/*
 * Where a stream goes or comes from.  With @watch_fd or @cancel set, the
 * I/O waits in poll() and gives up (-ECANCELED) when @watch_fd hangs up
 * (the heapctl that asked went away) or *@cancel turns true (the daemon
 * stops); @progress, if set, hears how far it is at most every 250 ms.
 */
#include <stdatomic.h>

/* How far a command is: bytes moved and lines whose content travelled,
 * each of how many (0 until known: once the contents are, or negotiated). */
typedef struct mg_progress {
	uint64_t bytes, total;
	uint64_t lines, lines_total;
} mg_progress;

typedef struct mg_io {
	int fd;
	int out_fd;                       /* a migration's other way; -1: fd */
	int watch_fd;                     /* -1: none */
	atomic_bool *cancel;              /* NULL: none */
	void (*progress)(void *arg, const mg_progress *p);
	void *arg;
} mg_io;

#define MG_IO_FD(f) { (f), -1, -1, NULL, NULL, NULL }

typedef struct mg_stats {
	char heap[HS_NAME_MAX + 1];       /* received as */
	uint64_t version;                 /* newest version carried */
	uint64_t versions, lines, blobs, blob_bytes;
	uint64_t lines_held;              /* lines whose content was not carried */
	uint64_t bytes;                   /* of the stream */
} mg_stats;

/*
 * Write heap @heap's checkpoints after @from (0: from the first) up to
 * @version to @io as a stream, every content its lines name carried once.
 * Returns 0, -ENOENT (no such heap or checkpoint), -EINVAL (@from not below
 * @version), -EPIPE and other write errors.
 */
int mg_send(hs_store *s, const char *heap, uint64_t version, uint64_t from,
	    const mg_io *io, mg_stats *st);

typedef struct mg_recv_opts {
	const char *as;                   /* receive under this name; NULL: the stream's */
	int owned;                        /* a new heap's owner (hs_heap_params) */
	uint32_t uid, gid, mode;
	/* NULL, or asked once the stream named its heap: may it be received
	 * as @name (@exists: versions added to a heap here)?  0 or -errno. */
	int (*allow)(const void *arg, const char *name, bool exists);
	const void *arg;
	int carried_only;                 /* hs_import_params.carried_only */
	/* NULL, or told of the commit as mg_serve_opts.received is (@changed
	 * and @final true). */
	void (*received)(const void *arg, const char *heap, uint64_t version, bool changed,
			 bool final, const hs_import *imp);
} mg_recv_opts;

/* Read a stream from @io and commit it, all or nothing. */
int mg_recv(hs_store *s, const mg_io *io, const mg_recv_opts *o, mg_stats *st);

/*
 * Read a stream from @io and check it without applying it: its structure,
 * its hash, every carried frame, and, with @s, that every line's content
 * is carried or held by @s (st->lines_held counts those).
 */
int mg_verify(hs_store *s, const mg_io *io, mg_stats *st);

/* ---- migration: the negotiation (proto.c, PROTOCOL in STREAM.md) -------- */

#define MG_PROTO 3                    /* the newest served, down to 1 */
#define MG_PROTO_ROUND 2              /* a round's hello: 2 added the final end ('f') */
#define MG_PROTO_AGAIN 3              /* a re-run's (MG_HELLO_AGAIN): an earlier build
					 refuses it rather than take it for an
					 ordinary final round */
#define MG_SHORT_ID 8                 /* bytes of a content's hash in an offer */
#define MG_OFFER_MAX 65536u           /* ids in one offer */
#define MG_HELLO_MAX 65536u           /* checkpoints a hello may list */
#define MG_HELLO_LIST 64u             /* ... and the newest a source lists */
#define MG_DATA_MAX (1u << 20)        /* stream bytes in one data message */
#define MG_MSG_TEXT_MAX 1024u

enum {
	MG_MSG_HELLO = 'h',           /* source: the heap and its checkpoints */
	MG_MSG_REPLY = 'r',           /* destination: the base, or why not */
	MG_MSG_OFFER = 'o',           /* source: short ids of candidate contents */
	MG_MSG_ANSWER = 'a',          /* destination: a bit per id it holds */
	MG_MSG_DATA = 'd',            /* source: stream bytes */
	MG_MSG_END = 'e',             /* source: the stream is whole */
	MG_MSG_FINAL = 'f',           /* source: ... and the round is final after all */
	MG_MSG_RESULT = 'k',          /* destination: committed, or why not */
	MG_MSG_QUIT = 'q',            /* source: done */
};

#define MG_HELLO_FINAL 1u             /* the last round: commit the heap live */
#define MG_HELLO_AGAIN 2u             /* a re-run to where a hand-over of unknown
					 outcome went (sent as MG_PROTO_AGAIN) */

typedef struct mg_hello {
	uint32_t proto;                   /* the hello's protocol (1 to MG_PROTO); to
					     put, 0 is MG_PROTO_ROUND */
	uint32_t flags;
	uint8_t ident[HS_IDENT_LEN];
	uint32_t line_size;
	char name[HS_NAME_MAX + 1];       /* the heap's name at the destination */
	uint64_t created_ns;
	uint32_t n;                       /* checkpoints the source holds, oldest first */
	struct mg_hello_v {
		uint64_t version;
		uint8_t ident[HS_IDENT_LEN];
	} *v;
} mg_hello;

/* The largest payload a message of @type may have; SIZE_MAX: unknown type. */
size_t mg_msg_max(uint8_t type);
int mg_msg_put(mg_enc *e, uint8_t type, const void *payload, size_t len);
int mg_hello_put(mg_enc *e, const mg_hello *h);
int mg_hello_get(mg_hello *h, const uint8_t *p, size_t n);   /* mg_hello_free() after */
void mg_hello_free(mg_hello *h);
int mg_reply_put(mg_enc *e, int status, uint64_t base_version, const uint8_t *base_ident,
		 const char *msg);
int mg_reply_get(const uint8_t *p, size_t n, int *status, uint64_t *base_version,
		 uint8_t base_ident[HS_IDENT_LEN], char *msg, size_t cap);
int mg_offer_put(mg_enc *e, const uint8_t (*hashes)[HS_HASH_LEN], size_t n);
int mg_offer_get(const uint8_t *p, size_t n, const uint8_t **ids, size_t *count);
int mg_answer_put(mg_enc *e, const uint8_t *bits, size_t count);
int mg_answer_get(const uint8_t *p, size_t n, size_t want, const uint8_t **bits);
int mg_result_put(mg_enc *e, int status, uint64_t version, const char *msg);
int mg_result_get(const uint8_t *p, size_t n, int *status, uint64_t *version, char *msg,
		  size_t cap);

/* ---- migration: both ends (migrate.c) ----------------------------------- */

typedef struct mg_migrate_stats {
	uint64_t lines_total;             /* candidate lines of every round */
	uint64_t lines_sent;              /* of those, whose content travelled */
	uint64_t lines_present;           /* whose content the destination held */
	uint64_t contents_sent, contents_present;
	uint64_t payload_bytes;           /* stream bytes */
	uint64_t negotiation_bytes;       /* every other byte, both ways */
	uint64_t bytes_skipped;           /* stored bytes of contents not sent */
	uint64_t rounds;                  /* pre-copy rounds and the final one */
	uint64_t common_version;          /* the newest version both held at first */
	uint64_t version;                 /* the final checkpoint */
	uint64_t downtime_ms;             /* lease expired -> destination live */
	uint64_t total_ms;
} mg_migrate_stats;

typedef struct ckpt_policy ckpt_policy;

typedef struct mg_migrate_opts {
	const char *dest;                 /* "HOST:MOUNTPOINT": where it went */
	unsigned downtime_ms;             /* pre-copy stops when the rest fits; 0: 100 */
	unsigned max_rounds;              /* pre-copy rounds at most; 0: 8 */
	ckpt_policy *ckpt;                /* every checkpoint taken goes through it */
	/* Write back the heap's pages stored through mappings (fs), and wait. */
	void (*flush_mapped)(uint64_t heap_id, const char *name, void *arg);
	void *arg;
} mg_migrate_opts;

/*
 * Move heap @heap to the destination on the other end of @in/@out (an
 * mg_serve), as DESIGN.md "Migration and leases" orders it: pre-copy
 * rounds while the heap stays writable here, then the lease expires
 * (mapped pages written back first; writes fail with EROFS), a final
 * checkpoint, a last round, the destination commits the heap live, and
 * the heap here is marked migrated.  Each round negotiates: the newest
 * version both hold, then which candidate contents the destination holds
 * (short ids, a bitmap back); only the rest travel.  A failure before the
 * destination committed gives the lease back here.  Returns 0 or -errno.
 */
int mg_migrate(hs_store *s, const char *heap, const mg_io *in, const mg_io *out,
	       const mg_migrate_opts *o, mg_migrate_stats *st);

typedef struct mg_serve_opts {
	int owned;                        /* a new heap's owner */
	uint32_t uid, gid, mode;
	int (*allow)(const void *arg, const char *name, bool exists);
	int carried_only;                 /* hs_import_params.carried_only: no
					     content counts as held here */
	/* A round committed: @changed, it brought new versions (the heap's
	 * content here changed: where, @imp says through hs_import_changed,
	 * or it is a new heap); @final, the heap is live here now. */
	void (*received)(const void *arg, const char *heap, uint64_t version, bool changed,
			 bool final, const hs_import *imp);
	/* NULL, or told that the copy here of heap @heap_id was dropped (it
	 * ended at a checkpoint the source no longer holds). */
	void (*dropped)(const void *arg, uint64_t heap_id);
	const void *arg;
} mg_serve_opts;

/* The destination's end: answer rounds until the source quits.  Returns 0
 * after a quit, or -errno (the source went away mid-round: nothing of that
 * round is kept but verified blobs, as garbage until GC). */
int mg_serve(hs_store *s, const mg_io *in, const mg_io *out, const mg_serve_opts *o);

#endif /* MIGRATE_H */
