/*
 * file.c - opening, reading and writing the tree's files.
 *
 * The live heap file goes through the kernel page cache, so mmap works
 * and re-reads cost nothing; writes are write-through (no writeback cache)
 * so every write that returns is in the store and visible to lines/ and
 * checkpoints at once, and keep_cache holds the cache across opens because
 * every change heapfs makes behind the file's back is invalidated
 * (inval.c).  Line files, which alias the heap, and generated files use
 * direct I/O: no second cached copy to go stale.  So does the state file,
 * which restore changes wholesale and which runtimes read and write whole
 * rather than map, and events, a stream (events_file.c).  Checkpoint files
 * never change, so their cache is kept.
 *
 * txn: each open begins a transaction (hs_txn_begin); reads see its
 * snapshot plus its own writes, writes and PUNCH_HOLE stage, fsync commits
 * all or nothing (EBUSY on conflict), release without a commit aborts.
 * After a commit the heap file's cached pages are dropped, since the
 * committed lines changed behind it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "cmd.h"
#include "fs_int.h"

static bool generated(const struct fs_node *n)
{
	return n->kind == FS_POOL || n->kind == FS_VERSION_FILE || n->kind == FS_STAT;
}

static uint32_t line_size_of(struct fs_node *n)
{
	hs_heap_info hi;

	return hs_heap_info_get(n->heap, &hi) == 0 ? hi.line_size : 0;
}

/* The identity a ctl request runs with: the opener's, groups and all. */
static void ctl_caller(struct fs *fs, const struct fs_caller *who, cmd_caller *out)
{
	gid_t groups[CMD_GROUPS_MAX];
	int n;

	memset(out, 0, sizeof(*out));
	out->uid = who->uid;
	out->gid = who->gid;
	out->admin = who->uid == 0 || who->uid == fs->uid;
	out->create_all = fs->opts.create_all;
	/* Root's rights need no groups (cmd's may()); reading them costs a
	 * read of /proc and, in libfuse, a page-sized malloc, which in a
	 * daemon whose heap RocksDB has fragmented consolidated its free
	 * lists: 57 of one profile's samples over 5 migrations, 0.7 ms an
	 * open. */
	n = who->req && who->uid != 0 ? fuse_req_getgroups(who->req, CMD_GROUPS_MAX, groups) : 0;
	for (int i = 0; i < n && i < CMD_GROUPS_MAX; i++)
		out->groups[out->n_groups++] = (uint32_t)groups[i];
}

int fs_do_open(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
	       const struct fs_caller *who)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	struct fs_file *f;
	int rc;

	switch (n->kind) {
	case FS_HEAP:
	case FS_LINE:
	case FS_STATE:
	case FS_POOL:
	case FS_VERSION_FILE:
	case FS_STAT:
	case FS_CTL:
	case FS_TXN:
	case FS_EVENTS:
	case FS_BALLOON:
		break;
	case FS_LATEST:
	case FS_LABEL:
		return -ELOOP;
	default:
		return -EISDIR;
	}
	if (writing && fs_node_frozen(n))
		return -EROFS;
	if (writing && (generated(n) || n->kind == FS_EVENTS))
		return -EACCES;
	/*
	 * libfuse asks for atomic O_TRUNC, so the truncate of `> file` comes
	 * with the open, not as a setattr; the kernel drops its pages after.
	 * ctl and txn take requests and staged lines: O_TRUNC means nothing.
	 */
	if ((fi->flags & O_TRUNC) &&
	    (n->kind == FS_HEAP || n->kind == FS_STATE || n->kind == FS_LINE)) {
		struct stat zero = { .st_size = 0 };

		if ((rc = fs_do_setattr(fs, n, &zero, FUSE_SET_ATTR_SIZE, NULL)) < 0)
			return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->node = n;
	pthread_mutex_init(&f->lock, NULL);
	if (n->kind == FS_CTL)
		ctl_caller(fs, who, &f->who);
	if ((generated(n) && (rc = fs_text_make(fs, n, &f->text, &f->text_len)) < 0) ||
	    (n->kind == FS_TXN && (rc = hs_txn_begin(&f->txn, n->heap)) < 0) ||
	    (n->kind == FS_EVENTS && (rc = fs_events_open(fs, n, f)) < 0)) {
		pthread_mutex_destroy(&f->lock);
		free(f);
		return rc;
	}
	pthread_mutex_lock(&fs->lock);
	f->next = fs->files;
	if (f->next)
		f->next->prev = f;
	fs->files = f;
	pthread_mutex_unlock(&fs->lock);
	if (n->kind == FS_BALLOON)
		fs_balloon_open(fs, f);
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->direct_io = n->kind != FS_HEAP;
	fi->keep_cache = n->kind == FS_HEAP;
	fi->nonseekable = n->kind == FS_EVENTS;   /* a stream of lines */
	return 0;
}

static void file_free(struct fs_file *f)
{
	hs_txn_free(f->txn);   /* aborts unless committed */
	fs_events_release(f);
	pthread_mutex_destroy(&f->lock);
	free(f->req);
	free(f->text);
	free(f);
}

void fs_do_release(struct fs *fs, struct fuse_file_info *fi)
{
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;

	if (!f)
		return;
	pthread_mutex_lock(&fs->lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		fs->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&fs->lock);
	file_free(f);
}

/* Whether heap @heap_id's live heap file is open (mapped included). */
bool fs_heap_file_open(struct fs *fs, uint64_t heap_id)
{
	bool open = false;

	pthread_mutex_lock(&fs->lock);
	for (const struct fs_file *f = fs->files; f && !open; f = f->next)
		open = f->node->kind == FS_HEAP && f->node->heap_id == heap_id &&
		       f->node->version == HS_VERSION_LIVE;
	pthread_mutex_unlock(&fs->lock);
	return open;
}

/* At unmount: files whose release the kernel never sent. */
void fs_files_dispose(struct fs *fs)
{
	while (fs->files) {
		struct fs_file *f = fs->files;

		fs->files = f->next;
		file_free(f);
	}
}

/* A command changed a heap wholesale (restore, recv): drop the heap file's
 * cached pages.  cmd_hooks.heap_changed of ctl and of the data channel. */
void fs_heap_changed(uint64_t heap_id, const uint64_t (*ranges)[2], size_t n, void *fs)
{
	fs_inval_heap_ranges(fs, heap_id, ranges, n);
}

/*
 * .heapfs/ctl: the writes of one open are one request; the first read runs
 * it (cmd_exec) and every read serves the response.
 */
#define CTL_REQUEST_MAX (1u << 20)

static ssize_t ctl_write(struct fs_file *f, const char *buf, size_t size, off_t off,
			 const struct fs_caller *who)
{
	ssize_t rc = (ssize_t)size;

	/* A descriptor handed to another user carries no request of theirs. */
	if (who->uid != f->who.uid)
		return -EACCES;
	pthread_mutex_lock(&f->lock);
	if (f->answered) {
		rc = -EBUSY;   /* one request per open */
	} else if ((size_t)off != f->req_len || size > CTL_REQUEST_MAX - f->req_len) {
		rc = -EINVAL;  /* appended in order, and not huge */
	} else {
		char *grown = realloc(f->req, f->req_len + size + 1);

		if (!grown) {
			rc = -ENOMEM;
		} else {
			f->req = grown;
			memcpy(f->req + f->req_len, buf, size);
			f->req_len += size;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* {"cmd": "channel"}: the transport's own request (chan.c), not a command. */
static bool ctl_is_channel(const struct fs_file *f)
{
	json_error_t jerr;
	json_t *req = f->req ? json_loadb(f->req, f->req_len, 0, &jerr) : NULL;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	bool yes = cmd && strcmp(cmd, "channel") == 0;

	json_decref(req);
	return yes;
}

static ssize_t ctl_read(struct fs *fs, struct fs_file *f, char *buf, size_t size,
			off_t off, const struct fs_caller *who)
{
	cmd_hooks hooks = { fs_heap_changed, fs, true, &f->who, fs->ckpt, NULL, fs->mem,
			    fs->space, fs_heap_gone };
	ssize_t rc = 0;

	/* ... nor anybody's answer: only the opener's uid reads it. */
	if (who->uid != f->who.uid)
		return -EACCES;
	pthread_mutex_lock(&f->lock);
	if (!f->answered && ctl_is_channel(f)) {
		json_t *resp = fs_chan_open(fs, &f->who);

		f->text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
		json_decref(resp);
		if (!f->text) {
			rc = -ENOMEM;
			goto out;
		}
		f->text_len = strlen(f->text);
		f->answered = true;
	}
	if (!f->answered) {
		f->text = cmd_exec_text(fs->store, f->req ? f->req : "", f->req_len, &hooks);
		if (!f->text) {
			rc = -ENOMEM;
			goto out;
		}
		f->text_len = strlen(f->text);
		f->answered = true;
	}
	if ((size_t)off < f->text_len) {
		rc = (ssize_t)(size < f->text_len - (size_t)off ? size : f->text_len - (size_t)off);
		memcpy(buf, f->text + off, (size_t)rc);
	}
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

ssize_t fs_do_read(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		   char *buf, size_t size, off_t off, const struct fs_caller *who)
{
	struct fs_file *f = (struct fs_file *)(uintptr_t)fi->fh;
	uint32_t ls;

	(void)fs;
	if (off < 0)
		return -EINVAL;
	switch (n->kind) {
	case FS_HEAP:
		return hs_version_read(n->heap, n->version, buf, size, (uint64_t)off);
	case FS_LINE:
		if (!(ls = line_size_of(n)))
			return -ENOENT;
		if ((uint64_t)off >= ls)
			return 0;
		if (size > ls - (uint64_t)off)
			size = ls - (size_t)off;
		return hs_version_read(n->heap, n->version, buf, size,
				       n->line * ls + (uint64_t)off);
	case FS_STATE:
		return hs_state_read(n->heap, n->version, buf, size, (uint64_t)off);
	case FS_CTL:
		return ctl_read(fs, f, buf, size, off, who);
	case FS_TXN:
		return hs_txn_read(f->txn, buf, size, (uint64_t)off);
	case FS_EVENTS:
		return fs_events_read(fs, f, buf, size, fi->flags);
	case FS_BALLOON:
		return f ? fs_balloon_read(fs, f, buf, size, off) : -EBADF;
	default:
		if (!f || !f->text || (size_t)off >= f->text_len)
			return 0;
		if (size > f->text_len - (size_t)off)
			size = f->text_len - (size_t)off;
		memcpy(buf, f->text + off, size);
		return (ssize_t)size;
	}
}

ssize_t fs_do_write(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		    const char *buf, size_t size, off_t off, const struct fs_caller *who)
{
	ssize_t r;
	uint32_t ls;

	if (off < 0)
		return -EINVAL;
	if (fs_node_frozen(n))
		return -EROFS;
	switch (n->kind) {
	case FS_HEAP:
		/* A page of a mapping the kernel writes back: the program stored
		 * it long ago, so it is taken even over a limit (fsync says). */
		return hs_heap_pwrite(n->heap, buf, size, (uint64_t)off,
				      fi && fi->writepage ? HS_WRITE_MAPPED : 0);
	case FS_LINE:
		if (!(ls = line_size_of(n)))
			return -ENOENT;
		if ((uint64_t)off >= ls)
			return -EFBIG;   /* a line file is exactly one line */
		if (size > ls - (uint64_t)off)
			size = ls - (size_t)off;
		r = hs_heap_write(n->heap, buf, size, n->line * ls + (uint64_t)off);
		if (r > 0)
			fs_inval_heap(fs, n->heap_id, (off_t)(n->line * ls) + off, r);
		return r;
	case FS_STATE:
		return hs_state_write(n->heap, buf, size, (uint64_t)off);
	case FS_CTL:
		return ctl_write((struct fs_file *)(uintptr_t)fi->fh, buf, size, off, who);
	case FS_TXN:
		return hs_txn_write(((struct fs_file *)(uintptr_t)fi->fh)->txn, buf, size,
				    (uint64_t)off);
	case FS_BALLOON:
		return fi ? fs_balloon_write(fs, (struct fs_file *)(uintptr_t)fi->fh, buf, size) :
			    -EBADF;
	default:
		return -EACCES;
	}
}

/* Is @who in group @gid (its own or a supplementary one)? */
static bool in_group(const struct fs_caller *who, gid_t gid)
{
	gid_t groups[64];
	int n;

	if (who->gid == gid)
		return true;
	n = fuse_req_getgroups(who->req, 64, groups);
	for (int i = 0; i < n && i < 64; i++) {
		if (groups[i] == gid)
			return true;
	}
	return false;
}

/*
 * chmod, chown, chgrp of a heap's directory or any of its live files
 * change the heap's one owner, group and mode, under POSIX rules (the
 * kernel checks them too, with default_permissions): root may do anything;
 * the owner may chmod, and chgrp to a group it is in; nobody else anything.
 */
static int owner_change(struct fs_node *n, const struct stat *attr, int to_set,
			const struct fs_caller *who)
{
	hs_heap_info hi;
	uint32_t uid, gid, mode;
	int rc;

	if (!n->heap || n->kind == FS_STAT || n->kind == FS_EVENTS)
		return -EPERM;   /* the mount's own nodes follow the mount; read-only
				    views have no w bits to give the heap */
	if (fs_node_frozen(n))
		return -EROFS;
	if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
		return rc;
	uid = to_set & FUSE_SET_ATTR_UID ? (uint32_t)attr->st_uid : hi.uid;
	gid = to_set & FUSE_SET_ATTR_GID ? (uint32_t)attr->st_gid : hi.gid;
	mode = to_set & FUSE_SET_ATTR_MODE ? fs_heap_mode_from(n, attr->st_mode) : hi.mode;
	if (who && who->uid != 0) {
		if (who->uid != hi.uid || uid != hi.uid)
			return -EPERM;
		if (gid != hi.gid && !in_group(who, gid))
			return -EPERM;
	}
	return hs_heap_owner_set(n->heap, uid, gid, mode);
}

/* A shrinking truncate gives back what it cuts off: its balloon hears. */
static int heap_truncate(struct fs *fs, struct fs_node *n, uint64_t size)
{
	hs_heap_info hi;
	bool asking = fs_mem_asking(fs, n->heap_id);
	int rc;

	if (asking && (rc = hs_heap_info_get(n->heap, &hi)) < 0)
		return rc;
	if ((rc = hs_heap_truncate(n->heap, size)) == 0 && asking && hi.size_bytes > size)
		fs_mem_gave(fs, n->heap_id, n->heap, size, hi.size_bytes - size);
	return rc;
}

int fs_do_setattr(struct fs *fs, struct fs_node *n, struct stat *attr, int to_set,
		  const struct fs_caller *who)
{
	uint32_t ls;
	int rc;

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		if ((rc = owner_change(n, attr, to_set, who)) < 0)
			return rc;
		to_set &= ~(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID);
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE))
		return 0;        /* times: accepted, not kept */
	if (attr->st_size < 0)
		return -EINVAL;
	if (fs_node_frozen(n))
		return -EROFS;
	switch (n->kind) {
	case FS_HEAP:
		return heap_truncate(fs, n, (uint64_t)attr->st_size);
	case FS_STATE:
		return hs_state_truncate(n->heap, (uint64_t)attr->st_size);
	case FS_LINE:
		if (!(ls = line_size_of(n)))
			return -ENOENT;
		if ((uint64_t)attr->st_size == ls)
			return 0;
		if (attr->st_size != 0)
			return -EINVAL;   /* a line is all there or empty */
		if ((rc = hs_heap_punch(n->heap, n->line * ls, ls)) == 0)
			fs_inval_heap(fs, n->heap_id, (off_t)(n->line * ls), ls);
		return rc;
	case FS_TXN:
		return -EINVAL;   /* a transaction stages lines, not sizes */
	case FS_HEAP_DIR:
	case FS_LINES:
	case FS_CKPTS:
	case FS_ROOT:
	case FS_META_DIR:
	case FS_CKPT:
		return -EISDIR;
	default:
		return -EACCES;
	}
}

int fs_do_fsync(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi)
{
	struct fs_file *f = fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
	int rc;

	if (n->kind == FS_TXN && f && f->txn) {
		if ((rc = hs_txn_commit(f->txn)) == 0)
			fs_inval_heap(fs, n->heap_id, 0, 0);
		return rc;
	}
	if ((n->kind == FS_HEAP || n->kind == FS_LINE || n->kind == FS_STATE) &&
	    !fs_node_frozen(n))
		return hs_heap_sync(n->heap);
	return 0;
}

int fs_do_fallocate(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
		    int mode, off_t off, off_t len)
{
	struct fs_file *f = fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
	hs_heap_info hi;
	int rc;

	if (n->kind == FS_TXN && f && f->txn) {
		if (off < 0 || len <= 0)
			return -EINVAL;
		if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
			return -EOPNOTSUPP;   /* a transaction stages writes and punches */
		return hs_txn_punch(f->txn, (uint64_t)off, (uint64_t)len);
	}
	if (n->kind != FS_HEAP && n->kind != FS_LINE && n->kind != FS_STATE)
		return -ENODEV;
	if (fs_node_frozen(n))
		return -EROFS;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (n->kind != FS_HEAP)
		return -EOPNOTSUPP;   /* a line is all there or empty; state is small */
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
		if ((rc = hs_heap_punch(n->heap, (uint64_t)off, (uint64_t)len)) == 0)
			fs_mem_gave(fs, n->heap_id, n->heap, (uint64_t)off, (uint64_t)len);
		return rc;
	}
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
		return rc;
	if ((uint64_t)off > HS_HEAP_SIZE_MAX || (uint64_t)len > HS_HEAP_SIZE_MAX - (uint64_t)off)
		return -EFBIG;
	/* Zeroing: whole lines become holes, the edges are written as zeros;
	 * like a disk's unwritten extents, the range stays allocated. */
	if ((mode & FALLOC_FL_ZERO_RANGE) &&
	    (rc = hs_heap_punch(n->heap, (uint64_t)off, (uint64_t)len)) < 0)
		return rc;
	/* Allocation: the range's holes are set aside (quota, pool), so later
	 * writes there cannot fail for space. */
	if ((rc = hs_heap_allocate(n->heap, (uint64_t)off, (uint64_t)len)) < 0)
		return rc;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && (uint64_t)(off + len) > hi.size_bytes)
		return hs_heap_truncate(n->heap, (uint64_t)(off + len));
	return 0;
}

/*
 * SEEK_DATA / SEEK_HOLE from the store's lines: one seek per line with
 * data.  Stores through a mapping that are not yet written back (msync)
 * are not seen; the kernel reports everything else.
 */
int fs_do_lseek(struct fs *fs, struct fs_node *n, off_t off, int whence, off_t *out)
{
	hs_version_info vi;
	hs_heap_info hi;
	uint64_t size, line, found;
	int rc;

	(void)fs;
	if (n->kind != FS_HEAP)
		return -EINVAL;
	if ((rc = hs_heap_info_get(n->heap, &hi)) < 0)
		return rc;
	size = hi.size_bytes;
	if (fs_node_frozen(n)) {
		if ((rc = hs_version_info_get(n->heap, n->version, &vi)) < 0)
			return rc;
		size = vi.size_bytes;
	}
	if (off < 0 || (uint64_t)off >= size)
		return -ENXIO;
	line = (uint64_t)off / hi.line_size;
	if (whence == SEEK_DATA) {
		rc = hs_heap_line_next(n->heap, n->version, line, &found);
		if (rc < 0)
			return rc;
		*out = found == line ? off : (off_t)(found * hi.line_size);
		return (uint64_t)*out < size ? 0 : -ENXIO;
	}
	if (whence != SEEK_HOLE)
		return -EINVAL;
	for (;;) {
		rc = hs_heap_line_next(n->heap, n->version, line, &found);
		if (rc == -ENXIO || (rc == 0 && found != line))
			break;
		if (rc < 0)
			return rc;
		line++;
	}
	found = line * hi.line_size;
	*out = found <= (uint64_t)off ? off : (off_t)(found < size ? found : size);
	return 0;
}

int fs_do_statfs(struct fs *fs, struct statvfs *st)
{
	struct statvfs under;
	hs_store_totals tot;
	uint64_t used, total;

	/* Used: the bytes stored (after dedup and compression) that some
	 * version still references; garbage awaiting GC is not (.heapfs/pool
	 * shows it apart). */
	hs_store_totals_get(fs->store, &tot);
	used = tot.bytes_stored;
	if (statvfs(fs->opts.store_dir, &under) < 0)
		return -errno;
	/* Unlimited pool: as large as what the store's disk could hold. */
	total = fs->opts.pool_bytes ? fs->opts.pool_bytes :
		used + (uint64_t)under.f_bavail * under.f_frsize;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_blocks = total / 4096;
	st->f_bfree = total > used ? (total - used) / 4096 : 0;
	st->f_bavail = st->f_bfree;
	st->f_files = 1u << 20;
	st->f_ffree = 1u << 20;
	st->f_namemax = 255;
	return 0;
}
