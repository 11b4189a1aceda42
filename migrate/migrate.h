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

#define MG_FORMAT 1
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
 * stops); @progress, if set, hears the bytes moved at most every 250 ms.
 */
#include <stdatomic.h>

typedef struct mg_io {
	int fd;
	int watch_fd;                     /* -1: none */
	atomic_bool *cancel;              /* NULL: none */
	void (*progress)(void *arg, uint64_t bytes);
	void *arg;
} mg_io;

#define MG_IO_FD(f) { (f), -1, NULL, NULL, NULL }

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
} mg_recv_opts;

/* Read a stream from @io and commit it, all or nothing. */
int mg_recv(hs_store *s, const mg_io *io, const mg_recv_opts *o, mg_stats *st);

/*
 * Read a stream from @io and check it without applying it: its structure,
 * its hash, every carried frame, and, with @s, that every line's content
 * is carried or held by @s (st->lines_held counts those).
 */
int mg_verify(hs_store *s, const mg_io *io, mg_stats *st);

#endif /* MIGRATE_H */
