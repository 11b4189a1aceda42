/*
 * fs_int.h - internals of the FUSE layer (prefix fs_), shared by its files.
 *
 * Every file and directory of the tree is a node: a kind plus the heap,
 * version and line it shows.  Nodes live in one table keyed two ways (by
 * inode number for the kernel, by identity for lookups) and follow the
 * kernel's lookup counts: +1 per entry reply, -n per forget, freed at zero.
 *
 *   ROOT                      /
 *   META_DIR, POOL, VERSION   /.heapfs, /.heapfs/pool, /.heapfs/version
 *   CTL                       /.heapfs/ctl: heapctl's requests (cmd.h)
 *   HEAP_DIR                  /<heap>                       (version LIVE)
 *   HEAP, LINES, LINE, STAT   /<heap>/heap, lines/, lines/<off>, stat
 *   TXN                       /<heap>/txn: each open is a transaction
 *   EVENTS                    /<heap>/events: each open reads what is posted
 *                             after it (events_file.c)
 *   CKPTS                     /<heap>/checkpoints
 *   CKPT, and HEAP, LINES,    /<heap>/checkpoints/<N>/...   (version N)
 *     LINE, STAT under it
 *   LATEST, LABEL             /<heap>/checkpoints/latest, /<label>
 *
 * Locks: fs->lock guards the node table, lookup counts, the list of open
 * files and their poll handles; it is never held across a store call, a
 * reply or a notification, and never together with an open file's own
 * lock (fs_file.lock).
 */
#ifndef FS_INT_H
#define FS_INT_H

#define FUSE_USE_VERSION 314

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "cmd.h"
#include "gc.h"
#include "heapstore.h"
#include "pool.h"

enum fs_kind {
	FS_ROOT = 1,
	FS_META_DIR,
	FS_POOL,
	FS_VERSION_FILE,
	FS_CTL,
	FS_HEAP_DIR,
	FS_HEAP,
	FS_LINES,
	FS_LINE,
	FS_STATE,
	FS_STAT,
	FS_TXN,
	FS_CKPTS,
	FS_CKPT,
	FS_LATEST,
	FS_LABEL,
	FS_EVENTS,
	FS_BALLOON,
};

struct fs_node {
	fuse_ino_t ino;
	enum fs_kind kind;
	uint64_t heap_id;             /* 0 above heaps */
	uint64_t version;             /* HS_VERSION_LIVE outside checkpoints/N */
	uint64_t line;                /* FS_LINE */
	char *label;                  /* FS_LABEL */
	hs_heap *heap;                /* a handle of our own, NULL above heaps */
	uint64_t nlookup;             /* protected by fs->lock */
	struct fs_node *next_ino;     /* protected by fs->lock */
	struct fs_node *next_key;     /* protected by fs->lock */
};

/* Mount options (DESIGN.md "Mount options"). */
struct fs_opts {
	char *store_dir;
	char *mountpoint;
	bool foreground;
	uint64_t pool_bytes;          /* 0: unlimited */
	uint64_t cache_bytes;
	uint32_t line_size;
	int zstd_level;
	unsigned split[4];            /* GL:GP:LE:LP, percent */
	unsigned cap_pct;
	unsigned wait_ms;
	unsigned cache_idle_ms;       /* 0: the store's default (5 min) */
	unsigned cache_release_ms;    /* 0: the store's default (60 s) */
	unsigned gc_s;
	bool create_all;              /* create=all: every user makes heaps (sticky root) */
	struct fuse_args fuse_args;   /* what FUSE itself takes */
};

#define FS_TABLE_SIZE 4096

/* A range of an inode's page cache to drop, queued for the inval thread. */
struct fs_inval {
	fuse_ino_t ino;
	off_t off;
	off_t len;                    /* 0: to the end */
};

/* Balloon asks one reclaim pass makes at most (mem.c). */
#define FS_ASKS_MAX 32

struct fs {
	struct fs_opts opts;
	hs_store *store;
	gc_daemon *gc;                /* background GC every gc= seconds */
	ckpt_policy *ckpt;            /* every checkpoint; automatic ones */
	pool_budget *mem;             /* the memory budget (mem.c); NULL: no cache */
	pool_budget *space;           /* the space budget's ledger (mem.c) */
	pthread_t mem_thread;         /* its reclaim passes */
	bool mem_running;
	pthread_mutex_t mem_lock;
	pthread_cond_t mem_cond;
	bool mem_stop;                /* protected by mem_lock */
	bool space_wanted;            /* a writer waits for space; mem_lock */
	uint64_t pool_need;           /* bytes writers wait for on the pool; mem_lock */
	uint64_t quota_waiting[FS_ASKS_MAX];   /* heaps whose writers wait on their
						  quotas; mem_lock */
	size_t n_quota_waiting;
	pool_reclaim space_reclaim;   /* the space budget's passes: the reclaim
					 thread's own */
	uint64_t space_stored;        /* bytes stored as its pass began: its own */
	uint64_t space_open[FS_ASKS_MAX];   /* the heaps its open pass asked: its own */
	size_t n_space_open;
	_Atomic uint64_t space_passes;   /* space_reclaim.passes, for others */
	_Atomic uint64_t space_pruned;   /* checkpoints its retention dropped */
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;
	uint64_t mounted_ns;

	/*
	 * Invalidations run on their own thread: notifying the kernel from a
	 * handler can deadlock against the pages that handler's caller holds.
	 */
	pthread_t inval_thread;
	bool inval_running;
	pthread_mutex_t inval_lock;
	pthread_cond_t inval_cond;
	pthread_cond_t inval_done_cond;
	struct fs_inval *inval_q;                  /* protected by inval_lock */
	size_t inval_n, inval_cap;                 /* protected by inval_lock */
	uint64_t inval_queued, inval_done;         /* protected by inval_lock */
	bool inval_stop;                           /* protected by inval_lock */

	pthread_mutex_t lock;
	fuse_ino_t next_ino;                       /* protected by lock */
	struct fs_node *by_ino[FS_TABLE_SIZE];     /* protected by lock */
	struct fs_node *by_key[FS_TABLE_SIZE];     /* protected by lock */
	struct fs_file *files;  /* open files, freed at unmount if the kernel
				   never released them; protected by lock */
	struct fs_chan *chan;   /* the data channel (chan.c); NULL: none */
};

/* Per-open state, in fi->fh. */
struct fs_file {
	struct fs_node *node;
	hs_txn *txn;                  /* txn: this open's transaction */
	char *text;                   /* generated files: the content at open */
	size_t text_len;
	char *req;                    /* ctl: the request written so far */
	size_t req_len;
	bool answered;                /* ctl: text holds the response */
	cmd_caller who;               /* ctl: the opener, whose request it runs:
					 only the opener's uid writes and reads it */
	pthread_mutex_t lock;         /* ctl: one request, one response;
					 events: the cursor and the rest */
	struct fs_file *prev, *next;  /* fs->files; protected by fs->lock */
	/* events (events_file.c) */
	uint64_t ev_cursor;           /* the next event to read; f->lock */
	size_t ev_rest_off, ev_rest_len;   /* what a short read left; f->lock */
	char ev_rest[HS_EVENT_LINE_MAX];
	struct fuse_pollhandle *ph;   /* the kernel's poll waits; fs->lock */
	/* balloon (mem.c) */
	uint64_t bal_gen;             /* the target's changes it has read; f->lock */
};

/* opts.c */
int fs_opts_parse(struct fs_opts *o, int argc, char **argv);
void fs_opts_dispose(struct fs_opts *o);
void fs_fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* node.c */
int fs_nodes_init(struct fs *fs);
void fs_nodes_dispose(struct fs *fs);
struct fs_node *fs_node_get(struct fs *fs, fuse_ino_t ino);
int fs_node_lookup(struct fs *fs, struct fs_node **out, enum fs_kind kind,
		   uint64_t heap_id, uint64_t version, uint64_t line,
		   const char *label, hs_heap *heap);
void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup);
void fs_node_ref(struct fs *fs, struct fs_node *n);
fuse_ino_t fs_node_ino(struct fs *fs, enum fs_kind kind, uint64_t heap_id,
		       uint64_t version);

/* inval.c */
int fs_inval_start(struct fs *fs);

/* killpriv.c: after mounting, before the loop; 0 or -errno */
int fs_killpriv_setup(struct fuse_session *se);
void fs_inval_stop(struct fs *fs);
void fs_inval_heap(struct fs *fs, uint64_t heap_id, off_t off, off_t len);
void fs_inval_heap_ranges(struct fs *fs, uint64_t heap_id, const uint64_t (*ranges)[2], size_t n);

/*
 * Who made a request (fuse_req_ctx), for what heapfs decides itself: a new
 * heap's owner and mode, and who may chown and chmod one.  The kernel
 * checks every access against the modes getattr gives (default_permissions).
 */
struct fs_caller {
	uid_t uid;
	gid_t gid;
	mode_t umask;
	fuse_req_t req;               /* for its supplementary groups */
};

/* attr.c */
int fs_do_getattr(struct fs *fs, struct fs_node *n, struct stat *st);
/* A heap's mode (a directory's rwx bits) made from a chmod of node @n to @mode. */
uint32_t fs_heap_mode_from(struct fs_node *n, mode_t mode);
int fs_entry_fill(struct fs *fs, struct fs_node *n, struct fuse_entry_param *e);
int fs_text_make(struct fs *fs, struct fs_node *n, char **out, size_t *len);

/* dir.c */
int fs_do_lookup(struct fs *fs, struct fs_node *parent, const char *name,
		 struct fs_node **out);
int fs_do_mkdir(struct fs *fs, struct fs_node *parent, const char *name, mode_t mode,
		const struct fs_caller *who, struct fs_node **out);
int fs_do_rmdir(struct fs *fs, struct fs_node *parent, const char *name);
int fs_do_unlink(struct fs *fs, struct fs_node *parent, const char *name);
int fs_do_readlink(struct fs *fs, struct fs_node *n, char *buf, size_t cap);
struct fs_dirent {
	char name[64 + HS_NAME_MAX];
	mode_t type;
};
typedef int (*fs_dirent_cb)(const struct fs_dirent *d, off_t next, void *payload);
int fs_do_readdir(struct fs *fs, struct fs_node *n, off_t off, fs_dirent_cb cb,
		  void *payload);

/* file.c */
int fs_do_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
	       const struct fs_caller *who);
void fs_do_release(struct fs *fs, struct fuse_file_info *fi);
void fs_files_dispose(struct fs *fs);
ssize_t fs_do_read(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		   char *buf, size_t size, off_t off, const struct fs_caller *who);
ssize_t fs_do_write(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		    const char *buf, size_t size, off_t off, const struct fs_caller *who);
/* @who may be NULL for a size change heapfs makes itself (O_TRUNC). */
int fs_do_setattr(struct fs *fs, struct fs_node *n, struct stat *attr, int to_set,
		  const struct fs_caller *who);
int fs_do_fsync(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi);
int fs_do_fallocate(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		    int mode, off_t off, off_t len);
int fs_do_lseek(struct fs *fs, struct fs_node *n, off_t off, int whence, off_t *out);
int fs_do_statfs(struct fs *fs, struct statvfs *st);

/* file.c: whether heap @heap_id's live heap file is open anywhere */
bool fs_heap_file_open(struct fs *fs, uint64_t heap_id);
/* file.c: cmd_hooks.heap_changed (the heap file's cached pages dropped) */
void fs_heap_changed(uint64_t heap_id, const uint64_t (*ranges)[2], size_t n, void *fs);

/* chan.c: the data channel of streaming commands (send, recv, verify) */
int fs_chan_start(struct fs *fs);
void fs_chan_stop(struct fs *fs);
/* The answer to {"cmd": "channel"} through ctl: the socket and a token for
 * @who, or a failure. */
json_t *fs_chan_open(struct fs *fs, const cmd_caller *who);

/* events_file.c: <heap>/events */
int fs_events_open(struct fs *fs, struct fs_node *n, struct fs_file *f);
ssize_t fs_events_read(struct fs *fs, struct fs_file *f, char *buf, size_t size,
		       int flags);
/* The poll op of every file: for events, @ph is kept for the next event. */
int fs_do_poll(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
	       struct fuse_pollhandle *ph, unsigned *revents);
/* hs_store_event_hook()'s: wake the pollers of heap @heap_id's events. */
void fs_events_posted(uint64_t heap_id, void *fs);
/* An open file goes: its poll handle with it. */
void fs_events_release(struct fs_file *f);

/* xattr.c */
int fs_do_getxattr(struct fs *fs, struct fs_node *n, const char *name, char *buf,
		   size_t cap, size_t *len);
int fs_do_listxattr(struct fs *fs, struct fs_node *n, char *buf, size_t cap,
		    size_t *len);
int fs_do_setxattr(struct fs *fs, struct fs_node *n, const char *name,
		   const char *value, size_t size, int flags, const struct fs_caller *who);
int fs_do_removexattr(struct fs *fs, struct fs_node *n, const char *name,
		      const struct fs_caller *who);

/* mem.c: the memory budget */
int fs_mem_start(struct fs *fs);
/* Start its reclaim thread (after the checkpoint policy: it prunes). */
int fs_mem_run(struct fs *fs);
void fs_mem_stop(struct fs *fs);
/* Delete heap @name (rmdir), and what the budget kept for it. */
int fs_heap_delete(struct fs *fs, const char *name);
/* cmd_hooks.heap_gone: heap @id was deleted (heapctl rm, a migration's
 * stale copy): the budgets forget it, the kernel drops its file's pages. */
void fs_heap_gone(uint64_t id, void *fs);
/* Heap @h's space reserve or quota changed: tell the space budget. */
void fs_space_set(struct fs *fs, hs_heap *h);
/* Set heap property @prop (memory_reserve, memory_quota, shares) to @val
 * ("" removes) in the budget, then the store: 0, -EINVAL, -ENOSPC. */
int fs_mem_set(struct fs *fs, hs_heap *h, const char *prop, const char *val);
/* heapstore's space hook: a writer starts waiting for @bytes of space
 * (@err -EDQUOT or -ENOSPC: wakes GC, and the space budget's next pass
 * asks balloons), or stops (@err EDQUOT or ENOSPC). */
void fs_space_wait(void *fs, uint64_t heap_id, int err, uint64_t bytes);
/* The space budget's reclaim passes so far. */
uint64_t fs_space_passes(struct fs *fs);
/* The checkpoints the space budget's reclaim dropped (beyond keep). */
uint64_t fs_space_pruned(struct fs *fs);
/* Stop the reclaim passes (before the store closes). */
void fs_mem_quiesce(struct fs *fs);
/* The balloon file: its text (read), a runtime's report (write), whether
 * its target changed since @f last read it (poll). */
ssize_t fs_balloon_read(struct fs *fs, struct fs_file *f, char *buf, size_t size, off_t off);
ssize_t fs_balloon_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size);
void fs_balloon_open(struct fs *fs, struct fs_file *f);
bool fs_balloon_ready(struct fs *fs, struct fs_file *f);
/* Heap @h (id @heap_id) gave back [@off, @off + @len) (punched,
 * truncated): its balloon is credited the whole lines of it. */
void fs_mem_gave(struct fs *fs, uint64_t heap_id, hs_heap *h, uint64_t off, uint64_t len);
/* Whether heap @heap_id's balloon waits for bytes (a truncate then says
 * how many). */
bool fs_mem_asking(struct fs *fs, uint64_t heap_id);

/* ops.c */
extern const struct fuse_lowlevel_ops fs_ops;

/* Whether @n is inside checkpoints/ (immutable). */
static inline bool fs_node_frozen(const struct fs_node *n)
{
	return n->version != HS_VERSION_LIVE;
}

#endif /* FS_INT_H */
