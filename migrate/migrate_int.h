/*
 * migrate_int.h - what the files of migrate/ share: descriptor I/O that
 * gives up when the asker goes away or the daemon stops (io.c).
 */
#ifndef MIGRATE_INT_H
#define MIGRATE_INT_H

#include "migrate.h"

int mg__write_all(const mg_io *io, const uint8_t *p, size_t n, uint64_t *total);
/* Exactly @n bytes; -EPIPE when the other end closed first. */
int mg__read_exact(const mg_io *io, uint8_t *p, size_t n, uint64_t *total);

#endif
