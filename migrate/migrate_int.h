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

/* The bytes the running command will move, for progress: this thread's. */
void mg__io_total(uint64_t total);

#endif
