/*
 * cmd.h - heapfs's management commands, executed against a store
 * (prefix cmd_).
 *
 * One implementation serves both ways heapctl reaches a store: a mounted
 * heapfs runs requests written to MNT/.heapfs/ctl through cmd_exec() and
 * hands back the response; `heapctl --store DIR` opens the store itself
 * and calls cmd_exec() in-process.  Requests and responses are JSON:
 *
 *   request   {"cmd": "checkpoint", "heap": "app", "label": "before"}
 *   response  {"ok": true, "version": 3}
 *             {"ok": false, "errno": 17, "error": "heap 'app' has ..."}
 *
 * Every command is one entry of one table (cmd_def, below): its name, its
 * arguments and options with the request field each fills, who may run
 * it, the handler cmd_exec() dispatches to, the printer heapctl shows its
 * response with, and a line of help.  heapctl parses its command line,
 * prints `--help` and `COMMAND --help`, and prints results from the same
 * entries, so a command is spelled out once.  Adding one is an entry in
 * table.c plus its handler (and printer).
 *
 * Commands (fields; "version" takes a number, "latest" or a label):
 *   create {heap, size?, line?, quota?, reserve?}   ls
 *   stat {heap}                 rm {heap}
 *   checkpoint {heap, label?}   checkpoints {heap}   space {heap}
 *   restore {heap, version}     diff {heap, from, to}
 *   rm-checkpoint {heap, version}
 *   suspend {heap}              resume {heap}
 *   fsck {verify_data?, repair?}   (the whole store; meant for --store)
 *   gc {full?}                  reclaim garbage now (gc_run; the mount owner's)
 *
 * Thread-safe as the store is; the table is constant.
 */
#ifndef CMD_H
#define CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "checkpoint.h"
#include "heapstore.h"
#include "migrate.h"
#include "pool.h"

/*
 * Who sent a request through a shared mount: heap commands are checked
 * against the caller's rights on the heap by its owner, group and mode
 * (read: stat, checkpoints, space, diff; write: checkpoint, restore,
 * rm-checkpoint, suspend, resume, rm), ls lists only heaps it may read,
 * and store-wide commands (fsck, gc; create, unless the mount lets
 * everyone) are for the mount's owner and root.  Root may do everything.
 * Each command's rights are its table entry's access (cmd_access below).
 */
#define CMD_GROUPS_MAX 32
typedef struct cmd_caller {
	uint32_t uid, gid;
	uint32_t groups[CMD_GROUPS_MAX];  /* supplementary groups */
	int n_groups;
	bool admin;                       /* root or the mount's owner */
	bool create_all;                  /* the mount lets every user create heaps */
} cmd_caller;

/* What a command changed behind the kernel's back. */
typedef struct cmd_hooks {
	/* The live content of heap @heap_id changed: @n ranges of {off, len}
	 * bytes, a len of 0 meaning to the end (restore: {0, 0}).  Returns
	 * once every range is dropped. */
	void (*heap_changed)(uint64_t heap_id, const uint64_t (*ranges)[2], size_t n,
			     void *payload);
	void *payload;
	/* Running inside the daemon that holds the store: no fsck --repair. */
	bool mounted;
	/* The sender, checked as above; NULL (heapctl --store, which opened
	 * the store's files itself): anything goes. */
	const cmd_caller *caller;
	/* The mount's checkpoint policy, which every checkpoint goes through;
	 * NULL (heapctl --store): a policy of the command's own. */
	ckpt_policy *ckpt;
	/* Write back the pages of heap @heap_id (named @name) stored through
	 * mappings and wait (migrate, before and after the lease expires);
	 * NULL: none to do. */
	void (*flush_mapped)(uint64_t heap_id, const char *name, void *payload);
	/* The mount's memory budget (heapctl pool, stat); NULL: none (no
	 * cache, or heapctl --store). */
	pool_budget *mem;
	/* The mount's space budget's ledger (heapctl pool, stat); NULL: none. */
	pool_budget *space;
	/* Heap @heap_id was deleted (rm, or a stale copy a migration round
	 * dropped): what the mount kept for it goes, its file's pages too. */
	void (*heap_gone)(uint64_t heap_id, void *payload);
} cmd_hooks;

/**
 * A budget's figures (the memory budget's or the space budget's ledger),
 * as heapctl pool shows them: { size, used, reserved, idle_lent, subpools:
 * { gl: { size, level, low }, gp, le, lp }, heaps: [ one
 * cmd_pool_heap_json() each, with "heap": its name ] }, the heaps of the
 * @nh at @hs (hs_heap_list()'s, listed once for both budgets) that those
 * @caller may read (NULL: all) and that hold or reserve any.  @balloons: the
 * budget whose balloons to show (the memory budget's), or NULL.  NULL
 * without a budget.
 */
json_t *cmd_pool_budget_json(const hs_heap_info *hs, size_t nh, pool_budget *b,
			     pool_budget *balloons, const cmd_caller *caller);

/** One heap's part of a budget: { reserve, quota, shares, used, owed,
 *  idle, collateral, ledger: { gl, gp, le, lp }[, balloon: { target,
 *  current, rate[, freeable][, live] }] }, the balloon from @balloons
 *  unless NULL. */
json_t *cmd_pool_heap_json(pool_budget *balloons, const pool_budget_heap *e);

/* ---- the command table ------------------------------------------------ */

/* Who may run a command through a shared mount (cmd_caller above). */
typedef enum cmd_access {
	CMD_ANYONE,       /* everyone; the handler shows only what the caller may read (ls) */
	CMD_HEAP_READ,    /* read rights on the heap "heap" names */
	CMD_HEAP_WRITE,   /* write rights on the heap "heap" names */
	CMD_CREATOR,      /* the mount's owner and root, or everyone with -o create=all */
	CMD_ADMIN,        /* the mount's owner and root */
} cmd_access;

/* What an argument's text becomes in the request. */
typedef enum cmd_kind {
	CMD_FLAG,         /* an option without a value: true */
	CMD_STRING,       /* the text as given (a heap name, a label) */
	CMD_SIZE,         /* a byte count, cmd_size_parse(): a number */
	CMD_VERSION,      /* digits: a number; anything else (latest, live, a label): text */
	CMD_GLOBAL,       /* heapctl's own option (--store) that this command requires or
			   * shows in its synopsis; no request field */
} cmd_kind;

/*
 * One argument of a command: a positional (@opt NULL), taken in the
 * order of the list, or an option (@opt "--label") anywhere after the
 * command's name.  Optional positionals come after the required ones.
 */
typedef struct cmd_arg {
	const char *key;      /* the request field it fills; NULL for CMD_GLOBAL */
	const char *opt;      /* "--label"; NULL for a positional */
	const char *metavar;  /* "HEAP", "L": its value in synopses; NULL for a flag */
	cmd_kind kind;
	bool required;
	/* One line for COMMAND --help.  A positional's reads as a noun
	 * ("which heap?"), a required option's as why it is needed. */
	const char *help;
} cmd_arg;

typedef struct cmd_def cmd_def;
typedef struct cmd_session cmd_session;
/* A handler's view of the request (cmd_int.h); opaque outside cmd/. */
typedef struct cmd_ctx cmd_ctx;

/*
 * The daemon side: run the command and add the result's fields to @resp,
 * which arrives as {"ok": true}.  Returns 0 or -errno; the message is the
 * one the handler set, else the store's (hs_error_last()).
 */
typedef int (*cmd_run_fn)(const cmd_ctx *ctx, json_t *resp);

/* heapctl's human-readable lines for a successful response (never --json). */
typedef void (*cmd_print_fn)(FILE *out, const json_t *resp);

/*
 * heapctl's side of a command whose client does more than the default
 * flow (build the request from the command line, send it, print the
 * response with the printer or as JSON, exit 0): fsck (a read-only
 * store, exit 1 on errors), and the commands that stream bytes over
 * stdin/stdout through a data channel instead of one JSON response.
 * heapctl has parsed and checked the line against the entry's args
 * before it calls the runner, and found the mount or the store.
 *
 * @req is the request heapctl built from the line (borrowed): "cmd" and
 * a field per argument given.  @ses is how to reach the store and report.
 * Runs in heapctl, never in the daemon.  Returns heapctl's exit status:
 * 0, or 1 once it said why on stderr through ses->fail() (or found what
 * the command looks for, as fsck's errors).
 *
 * A streaming command plugs in as an entry with its args, .client = its
 * runner and .run = the handler of the request that starts it on the
 * daemon (or NULL if the runner sends only other commands' requests).
 * The runner moves the bytes between stdin/stdout and the data channel
 * (cmd_session), and prints its summary with cmd_response_print() (on
 * stderr when stdout is the stream).
 */
typedef int (*cmd_client_fn)(const cmd_def *def, json_t *req, cmd_session *ses);

struct cmd_def {
	const char *name;         /* "checkpoint": the request's "cmd" */
	const char *help;         /* one line for heapctl --help */
	cmd_access access;
	/* CMD_HEAP_READ/WRITE: cmd_exec opens the heap for the handler.  Off
	 * (rm): the handler gets only the name, and the heap is opened only
	 * to check a caller's rights. */
	bool opens_heap;
	const cmd_arg *args;      /* ended by { 0 } (CMD_ARG_END) */
	cmd_run_fn run;           /* NULL: no request of this name reaches the daemon */
	cmd_print_fn print;       /* NULL: prints nothing */
	cmd_client_fn client;     /* NULL: the default flow */
	/* The handler moves a stream through a descriptor (cmd_exec_stream):
	 * send writes it, recv and verify read it. */
	bool streams;
};

/* The end of a cmd_def's args. */
#define CMD_ARG_END(a) (!(a)->key && !(a)->opt && !(a)->metavar)

/*
 * How a client runner reaches the store, filled in by heapctl.  The data
 * channel that streaming commands (send, recv, verify, migrate) need gets
 * its open call here when it is built; until then a runner has the one
 * JSON round trip and the process's own stdin and stdout.
 */
struct cmd_session {
	const char *what;         /* "send app": what heapctl's messages name */
	const char *mount;        /* -m, $HEAPFS_MOUNT or the cwd's mount; NULL if none */
	const char *store_dir;    /* --store STORE_DIR (wins over the mount); or NULL */
	bool json;                /* --json */
	bool read_only;           /* with --store: open the store read-only */
	/*
	 * One request: through MNT/.heapfs/ctl, or run in-process on the
	 * store --store names.  Returns the response ("ok": true; the caller
	 * json_decref()s it), or NULL once it printed why (an "ok": false
	 * response, no mount, a store that does not open).
	 */
	json_t *(*request)(cmd_session *ses, const json_t *req);
	/* `heapctl: <what>: <why>` on stderr; returns 1, the exit status. */
	int (*fail)(const cmd_session *ses, const char *why);
	/*
	 * A streaming request with descriptor @fd (heapctl's stdin or stdout;
	 * @fd2, or -1: a second one, for serve's stdout):
	 * in-process with --store, else through the mount's data channel
	 * (chan.c).  The response as request() gives it.
	 */
	json_t *(*stream)(cmd_session *ses, const json_t *req, int fd, int fd2);
};

/* The command named @name, or NULL. */
const cmd_def *cmd_find(const char *name);

/* Every command, in the order heapctl --help lists them; their count in *@n_out. */
const cmd_def *cmd_list(size_t *n_out);

/*
 * Print a successful response for heapctl on @out: with @json, the
 * response without "ok" as indented JSON; else through @def's printer.
 * Takes "ok" out of @resp.  @out is stdout but for a runner whose stdout
 * carries a stream (send): its summary goes to stderr.
 */
void cmd_response_print(FILE *out, const cmd_def *def, json_t *resp, bool json);

/**
 * Run @req against @store.  Returns a new response object (never NULL
 * unless out of memory); the caller json_decref()s it.  Failures are
 * responses with "ok": false, the errno and the store's message.
 */
json_t *cmd_exec(hs_store *store, const json_t *req, const cmd_hooks *hooks);

/**
 * cmd_exec() for a command that moves a stream (cmd_def.streams): through
 * @io.  cmd_exec() refuses those; this refuses the others.
 */
json_t *cmd_exec_stream(hs_store *store, const json_t *req, const mg_io *io,
			const cmd_hooks *hooks);

/* A heap's state for people: live, suspended, migrating (its lease
 * expired), migrated, deleting. */
const char *cmd_heap_state(const hs_heap_info *hi);

/* ---- the data channel (chan.c) ------------------------------------------ */

/* Listen on abstract Unix socket @name ("@..."): the descriptor, or -errno. */
int cmd_chan_listen(const char *name);
/* The daemon's side: the request line, its token and the descriptors sent
 * with it (-1 if none); 0 or -errno (-EPROTO: not a request). */
int cmd_chan_read_request(int conn, json_t **req, char *token, size_t token_cap, int *fd,
			  int *fd2);
/* One JSON line to heapctl: progress, then the response. */
int cmd_chan_send(int conn, const json_t *msg);
/* heapctl's side: send @req with @fd (and @fd2, or -1) on channel @name
 * with @token and wait for the response (progress reported on the way);
 * NULL and @why. */
json_t *cmd_chan_call(const char *name, const char *token, const json_t *req, int fd,
		      int fd2, void (*progress)(void *arg, const mg_progress *p), void *arg,
		      char *why, size_t cap);

/** Parse and run a request given as text; the response as text (free()). */
char *cmd_exec_text(hs_store *store, const char *req, size_t len,
		    const cmd_hooks *hooks);

/**
 * Parse a size: digits, optionally K, M, G or T (powers of 1024), optionally
 * followed by B or iB.  Returns 0, -EINVAL (not a size) or -ERANGE.
 */
int cmd_size_parse(const char *s, uint64_t *out);

#endif /* CMD_H */
