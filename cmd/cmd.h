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
 * Commands (fields; "version" takes a number, "latest" or a label):
 *   create {heap, size?, line?, quota?, reserve?}   ls
 *   stat {heap}                 rm {heap}
 *   checkpoint {heap, label?}   checkpoints {heap}
 *   restore {heap, version}     diff {heap, from, to}
 *   rm-checkpoint {heap, version}
 *   fsck {verify_data?}         (the whole store; meant for --store)
 *   gc {full?}                  reclaim garbage now (gc_run; the mount owner's)
 *
 * Thread-safe as the store is.
 */
#ifndef CMD_H
#define CMD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "checkpoint.h"
#include "heapstore.h"

/*
 * Who sent a request through a shared mount: heap commands are checked
 * against the caller's rights on the heap by its owner, group and mode
 * (read: stat, checkpoints, diff; write: checkpoint, restore,
 * rm-checkpoint, suspend, resume, rm), ls lists only heaps it may read,
 * and store-wide commands (fsck; create, unless the mount lets everyone)
 * are for the mount's owner and root.  Root may do everything.
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
	/* The live content of heap @heap_id changed wholesale (restore). */
	void (*heap_changed)(uint64_t heap_id, void *payload);
	void *payload;
	/* Running inside the daemon that holds the store: no fsck --repair. */
	bool mounted;
	/* The sender, checked as above; NULL (heapctl --store, which opened
	 * the store's files itself): anything goes. */
	const cmd_caller *caller;
	/* The mount's checkpoint policy, which every checkpoint goes through;
	 * NULL (heapctl --store): a policy of the command's own. */
	ckpt_policy *ckpt;
} cmd_hooks;

/**
 * Run @req against @store.  Returns a new response object (never NULL
 * unless out of memory); the caller json_decref()s it.  Failures are
 * responses with "ok": false, the errno and the store's message.
 */
json_t *cmd_exec(hs_store *store, const json_t *req, const cmd_hooks *hooks);

/** Parse and run a request given as text; the response as text (free()). */
char *cmd_exec_text(hs_store *store, const char *req, size_t len,
		    const cmd_hooks *hooks);

/**
 * Parse a size: digits, optionally K, M, G or T (powers of 1024), optionally
 * followed by B or iB.  Returns 0, -EINVAL (not a size) or -ERANGE.
 */
int cmd_size_parse(const char *s, uint64_t *out);

#endif /* CMD_H */
