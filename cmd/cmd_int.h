/*
 * cmd_int.h - what the files of cmd/ share: the handlers' context, and
 * the handlers, printers and runners the table (table.c) names.
 *
 *   table.c    the table: one cmd_def per command
 *   cmd.c      cmd_exec(): lookup, rights, fields; the handlers (daemon side)
 *   client.c   the printers and runners (heapctl side)
 *   chan.c     the data channel streaming commands use through a mount
 */
#ifndef CMD_INT_H
#define CMD_INT_H

#include "cmd.h"

struct cmd_ctx {
	hs_store *store;
	hs_heap *heap;            /* def->opens_heap: the heap "heap" names, open */
	const char *heap_name;    /* the request's "heap", or NULL */
	const json_t *req;
	const cmd_hooks *hooks;   /* never NULL; hooks->caller NULL: anything goes */
	const mg_io *io;          /* def->streams: the stream's descriptor */
};

/* A failure found in cmd/ rather than in the store: its message, for the
 * response (else the store's is used).  Returns @rc. */
int cmd__errno_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The handlers (cmd_run_fn), in cmd.c. */
int cmd__create(const cmd_ctx *ctx, json_t *resp);
int cmd__ls(const cmd_ctx *ctx, json_t *resp);
int cmd__stat(const cmd_ctx *ctx, json_t *resp);
int cmd__pool(const cmd_ctx *ctx, json_t *resp);
/* The sub-pools' names in responses, by enum pool_sub. */
extern const char *const cmd__sub_names[POOL_NSUB];
int cmd__rm(const cmd_ctx *ctx, json_t *resp);
int cmd__checkpoint(const cmd_ctx *ctx, json_t *resp);
int cmd__checkpoints(const cmd_ctx *ctx, json_t *resp);
int cmd__space(const cmd_ctx *ctx, json_t *resp);
int cmd__restore(const cmd_ctx *ctx, json_t *resp);
int cmd__diff(const cmd_ctx *ctx, json_t *resp);
int cmd__rm_checkpoint(const cmd_ctx *ctx, json_t *resp);
int cmd__suspend(const cmd_ctx *ctx, json_t *resp);
int cmd__resume(const cmd_ctx *ctx, json_t *resp);
int cmd__gc(const cmd_ctx *ctx, json_t *resp);
int cmd__fsck(const cmd_ctx *ctx, json_t *resp);
int cmd__send(const cmd_ctx *ctx, json_t *resp);
int cmd__recv(const cmd_ctx *ctx, json_t *resp);
int cmd__verify(const cmd_ctx *ctx, json_t *resp);
int cmd__migrate(const cmd_ctx *ctx, json_t *resp);
int cmd__serve(const cmd_ctx *ctx, json_t *resp);

/* The printers (cmd_print_fn), in client.c. */
void cmd__print_ls(FILE *out, const json_t *resp);
void cmd__print_stat(FILE *out, const json_t *resp);
void cmd__print_pool(FILE *out, const json_t *resp);
void cmd__print_version(FILE *out, const json_t *resp);   /* checkpoint, suspend */
void cmd__print_checkpoints(FILE *out, const json_t *resp);
void cmd__print_space(FILE *out, const json_t *resp);
void cmd__print_restore(FILE *out, const json_t *resp);
void cmd__print_diff(FILE *out, const json_t *resp);
void cmd__print_gc(FILE *out, const json_t *resp);
void cmd__print_fsck(FILE *out, const json_t *resp);
void cmd__print_stream(FILE *out, const json_t *resp);   /* send, recv, verify */
void cmd__print_migrate(FILE *out, const json_t *resp);

/* The client runners (cmd_client_fn), in client.c. */
int cmd__fsck_client(const cmd_def *def, json_t *req, cmd_session *ses);
int cmd__stream_client(const cmd_def *def, json_t *req, cmd_session *ses);
int cmd__migrate_client(const cmd_def *def, json_t *req, cmd_session *ses);
int cmd__serve_client(const cmd_def *def, json_t *req, cmd_session *ses);

#endif /* CMD_INT_H */
