/*
 * migrate_int.h - what the files of migrate/ share: descriptor I/O that
 * gives up when the asker goes away or the daemon stops (io.c).
 */
#ifndef MIGRATE_INT_H
#define MIGRATE_INT_H

#include <sys/types.h>

#include "migrate.h"

int mg__write_all(const mg_io *io, const uint8_t *p, size_t n, uint64_t *total);
/* Exactly @n bytes; -EPIPE when the other end closed first. */
int mg__read_exact(const mg_io *io, uint8_t *p, size_t n, uint64_t *total);

/* The distinct contents a stream names, with their stored sizes. */
struct mg__content {
	uint8_t hash[HS_HASH_LEN];
	uint32_t stored;
	uint32_t lines;                   /* lines naming it (summed by unique) */
};

struct mg__set {
	struct mg__content *c;
	size_t n, cap;
};

int mg__set_add(struct mg__set *s, const uint8_t *hash, uint32_t stored);
/* Sort by hash and drop repeats; returns how many there were before. */
size_t mg__set_unique(struct mg__set *s);
/* The index of @hash in a unique set, or -1. */
ssize_t mg__set_find(const struct mg__set *s, const uint8_t *hash);
void mg__set_free(struct mg__set *s);

/* Little-endian integers: the stream's and the protocol's. */
static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A stream's preamble and heap record for heap @hi's @n versions after
 * checkpoint @base (NULL: a whole heap). */
int mg__enc_heap_of(mg_enc *e, const hs_heap_info *hi, const hs_version_info *base,
		    uint32_t n);
/* Version vs[@i] of a stream whose first is vs[@first] (which follows
 * @base_ident, NULL for none), and its @n lines. */
int mg__enc_version_of(mg_enc *e, const hs_version_info *vs, size_t i, size_t first,
		       const uint8_t *base_ident, const hs_xline *lines, size_t n);

/*
 * Blobs of a stream gathered for hs_import_blobs(): copies of up to
 * MG_BATCH_BLOBS frames or MG_BATCH_BYTES in one buffer while the other
 * buffer's batch is checked (hs_import_blobs keeps it until the next).
 * A batch is checked and written only once it is whole, so about two
 * batches are left to do after the stream's end: a batch is at most an
 * eighth of the frames gathered so far, from MG_BATCH_MIN.  A 1%
 * migration (3.4 MB) spent 9 ms after its end with 1 MiB batches, 2 ms
 * with 256 KiB; a whole 330 MB stream took 7% longer in 256 KiB ones.
 */
#define MG_BATCH_BLOBS 128
#define MG_BATCH_MIN (256u << 10)
#define MG_BATCH_BYTES (1u << 20)
/* A source's stream goes out in data messages of this much (up to
 * MG_DATA_MAX): the destination's checks begin when the first arrives
 * (1 MiB held the first back 2-3 ms in a 1% migration). */
#define MG_DATA_FLUSH (256u << 10)

struct mg__bbuf {
	size_t n, used, cap;
	uint8_t *arena;                   /* the frames, one after another */
	size_t off[MG_BATCH_BLOBS];
	uint8_t hash[MG_BATCH_BLOBS][HS_HASH_LEN];
	const void *frame[MG_BATCH_BLOBS];
	size_t len[MG_BATCH_BLOBS];
};

struct mg__batch {
	struct mg__bbuf buf[2];
	unsigned cur;                     /* gathering; the other may be in flight */
	uint64_t seen;                    /* bytes of frames gathered so far */
};

/* Add one (a full buffer goes to @imp first); hand what is gathered to
 * @imp and wait until all of it is kept; free (after waiting for @imp,
 * when not NULL: what it checked is kept). */
int mg__batch_add(struct mg__batch *b, hs_import *imp, const uint8_t *hash, const void *frame,
		  size_t len);
int mg__batch_flush(struct mg__batch *b, hs_import *imp);
void mg__batch_free(struct mg__batch *b, hs_import *imp);

/* Wider kernel buffers for the descriptors of @io, where allowed. */
void mg__io_widen(const mg_io *io);

/* For progress, this thread's command: the bytes and lines it will move
 * (0: not known yet), and the lines moved so far. */
void mg__io_total(uint64_t total, uint64_t lines_total);
void mg__io_lines(uint64_t lines);

#endif
