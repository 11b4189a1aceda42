/*
 * ops.c - the FUSE low-level handlers: each finds its node, calls the
 * fs_do_<name>() that does the work (0 or -errno, results through
 * out-parameters) and replies exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

static struct fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct fs_caller){ ctx->uid, ctx->gid, ctx->umask, req };
}

/* 0 or -errno to fuse_reply_err's positive errno; nonsense becomes EIO. */
static void fs_reply_err(fuse_req_t req, int rc)
{
	int e = -rc;

	fuse_reply_err(req, rc == 0 ? 0 : e > 0 && e < 4096 ? e : EIO);
}

#define NODE_OR_REPLY(n, fs, ino)                       \
	do {                                            \
		(n) = fs_node_get((fs), (ino));         \
		if (!(n)) {                             \
			fuse_reply_err(req, ESTALE);    \
			return;                         \
		}                                       \
	} while (0)

static void reply_entry(fuse_req_t req, struct fs *fs, struct fs_node *n, int rc)
{
	struct fuse_entry_param e;

	if (rc == 0 && (rc = fs_entry_fill(fs, n, &e)) < 0)
		fs_node_forget(fs, n->ino, 1);
	if (rc < 0) {
		if (rc == -ENOENT) {
			/* A negative entry, which the kernel may cache briefly. */
			memset(&e, 0, sizeof(e));
			fuse_reply_entry(req, &e);
			return;
		}
		fs_reply_err(req, rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0)
		fs_node_forget(fs, n->ino, 1);
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Write-through: every write reaches the store before it returns. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * Every change heapfs makes behind the kernel's back is invalidated
	 * explicitly (inval.c), which also drops the cached attributes; the
	 * automatic check would cost a GETATTR before every cached read
	 * (4 KiB random reads of cached pages: 8K IOPS with it, ~200K without).
	 */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* mkdir gets the caller's umask apart: a new heap's mode is the
	 * private default (0700) under it. */
	if (conn->capable & FUSE_CAP_DONT_MASK)
		conn->want |= FUSE_CAP_DONT_MASK;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->max_write = 1u << 20;
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p, *n = NULL;

	int rc;

	NODE_OR_REPLY(p, fs, parent);
	rc = fs_do_lookup(fs, p, name, &n);
	reply_entry(req, fs, n, rc);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_node_forget(req_fs(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_node_forget(req_fs(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	struct stat st;
	int rc;

	(void)fi;
	NODE_OR_REPLY(n, fs, ino);
	if ((rc = fs_do_getattr(fs, n, &st)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	struct stat st;
	int rc;

	struct fs_caller who = caller_of(req);

	(void)fi;
	NODE_OR_REPLY(n, fs, ino);
	if ((rc = fs_do_setattr(fs, n, attr, to_set, &who)) < 0 ||
	    (rc = fs_do_getattr(fs, n, &st)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	char buf[32];
	int rc;

	NODE_OR_REPLY(n, fs, ino);
	if ((rc = fs_do_readlink(fs, n, buf, sizeof(buf))) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_readlink(req, buf);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p, *n = NULL;
	struct fs_caller who = caller_of(req);
	int rc;

	NODE_OR_REPLY(p, fs, parent);
	rc = fs_do_mkdir(fs, p, name, mode, &who, &n);
	reply_entry(req, fs, n, rc);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p;

	(void)name, (void)mode, (void)rdev;
	NODE_OR_REPLY(p, fs, parent);
	fs_reply_err(req, fs_node_frozen(p) ? -EROFS : -EPERM);
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_caller who = caller_of(req);
	struct fs_node *p, *n;
	struct fuse_entry_param e;
	int rc;

	(void)mode;
	NODE_OR_REPLY(p, fs, parent);
	/* O_CREAT of a file that exists opens it; nothing new can be made. */
	rc = fs_do_lookup(fs, p, name, &n);
	if (rc == -ENOENT) {
		fs_reply_err(req, fs_node_frozen(p) ? -EROFS : -EPERM);
		return;
	}
	if (rc < 0) {
		fs_reply_err(req, rc);
		return;
	}
	if ((fi->flags & O_EXCL)) {
		fs_node_forget(fs, n->ino, 1);
		fs_reply_err(req, -EEXIST);
		return;
	}
	if ((rc = fs_entry_fill(fs, n, &e)) < 0 || (rc = fs_do_open(fs, n, fi, &who)) < 0) {
		fs_node_forget(fs, n->ino, 1);
		fs_reply_err(req, rc);
		return;
	}
	if (fuse_reply_create(req, &e, fi) != 0) {
		fs_do_release(fs, fi);
		fs_node_forget(fs, n->ino, 1);
	}
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p;

	NODE_OR_REPLY(p, fs, parent);
	fs_reply_err(req, fs_do_unlink(fs, p, name));
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p;

	NODE_OR_REPLY(p, fs, parent);
	fs_reply_err(req, fs_do_rmdir(fs, p, name));
}

static void fs_op_refuse_names(fuse_req_t req, fuse_ino_t parent)
{
	struct fs *fs = req_fs(req);
	struct fs_node *p;

	NODE_OR_REPLY(p, fs, parent);
	fs_reply_err(req, fs_node_frozen(p) ? -EROFS : -EPERM);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link, (void)name;
	fs_op_refuse_names(req, parent);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)name, (void)newparent, (void)newname, (void)flags;
	fs_op_refuse_names(req, parent);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino, (void)newname;
	fs_op_refuse_names(req, newparent);
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_caller who = caller_of(req);
	struct fs_node *n;
	int rc;

	NODE_OR_REPLY(n, fs, ino);
	if ((rc = fs_do_open(fs, n, fi, &who)) < 0)
		fs_reply_err(req, rc);
	else if (fuse_reply_open(req, fi) != 0)
		fs_do_release(fs, fi);
}

/*
 * Each FUSE thread keeps its read buffer.  A fresh malloc per read (128 KiB
 * and more: above the daemon's mmap threshold) was an mmap, a page fault per
 * 4 KiB and an munmap on every read the page cache missed.  A thread's
 * buffer grows to its largest read (1 MiB: max_pages follows max_write)
 * and goes when the thread ends.
 */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

struct read_buf {
	size_t cap;
	char data[];
};

static void read_buf_key_init(void)
{
	if (pthread_key_create(&read_buf_key, free) != 0)
		abort();   /* only when the process is out of keys at start */
}

static char *read_buf(size_t size)
{
	struct read_buf *b;

	pthread_once(&read_buf_once, read_buf_key_init);
	b = pthread_getspecific(read_buf_key);
	if (b && b->cap >= size)
		return b->data;
	free(b);
	pthread_setspecific(read_buf_key, NULL);
	if (!(b = malloc(sizeof(*b) + size)))
		return NULL;
	b->cap = size;
	pthread_setspecific(read_buf_key, b);
	return b->data;
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_caller who = caller_of(req);
	struct fs_node *n;
	char *buf;
	ssize_t r;

	NODE_OR_REPLY(n, fs, ino);
	if (!(buf = read_buf(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = fs_do_read(fs, n, fi, buf, size, off, &who);
	if (r < 0)
		fs_reply_err(req, (int)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_caller who = caller_of(req);
	struct fs_node *n;
	ssize_t r;

	NODE_OR_REPLY(n, fs, ino);
	r = fs_do_write(fs, n, fi, buf, size, off, &who);
	if (r < 0)
		fs_reply_err(req, (int)r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void fs_op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		       struct fuse_pollhandle *ph)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n = fs_node_get(fs, ino);
	unsigned revents = 0;
	int rc;

	if (!n) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((rc = fs_do_poll(fs, n, fi, ph, &revents)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_poll(req, revents);
}

static void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, 0);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fs_do_release(req_fs(req), fi);
	fuse_reply_err(req, 0);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;

	(void)datasync;
	NODE_OR_REPLY(n, fs, ino);
	fs_reply_err(req, fs_do_fsync(fs, n, fi));
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, len;
};

static int dirbuf_add(const struct fs_dirent *d, off_t next, void *payload)
{
	struct dirbuf *b = payload;
	/*
	 * Readers skip entries whose inode is 0, and the node may not exist
	 * until looked up: any stable non-zero number will do here.
	 */
	struct stat st = { .st_mode = d->type, .st_ino = 1 };

	for (const char *c = d->name; *c; c++)
		st.st_ino = (st.st_ino ^ (uint8_t)*c) * 1099511628211ULL;
	st.st_ino |= 1;
	size_t need = fuse_add_direntry(b->req, NULL, 0, d->name, NULL, 0);

	if (b->len + need > b->size)
		return 1;   /* full: the kernel asks again from @next's predecessor */
	fuse_add_direntry(b->req, b->buf + b->len, b->size - b->len, d->name, &st, next);
	b->len += need;
	return 0;
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	struct dirbuf b = { .req = req, .size = size };
	int rc;

	(void)fi;
	NODE_OR_REPLY(n, fs, ino);
	b.buf = malloc(size ? size : 1);
	if (!b.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if ((rc = fs_do_readdir(fs, n, off, dirbuf_add, &b)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_buf(req, b.buf, b.len);
	free(b.buf);
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int rc;

	(void)ino;
	if ((rc = fs_do_statfs(req_fs(req), &st)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_statfs(req, &st);
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			    off_t len, struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;

	NODE_OR_REPLY(n, fs, ino);
	fs_reply_err(req, fs_do_fallocate(fs, n, fi, mode, off, len));
}

static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	off_t out;
	int rc;

	(void)fi;
	NODE_OR_REPLY(n, fs, ino);
	if ((rc = fs_do_lseek(fs, n, off, whence, &out)) < 0)
		fs_reply_err(req, rc);
	else
		fuse_reply_lseek(req, out);
}

/* The xattr replies: a size of 0 asks for the length only. */
static void reply_xattr(fuse_req_t req, int rc, const char *buf, size_t size, size_t len)
{
	if (rc < 0)
		fs_reply_err(req, rc);
	else if (!size)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	NODE_OR_REPLY(n, fs, ino);
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_do_getxattr(fs, n, name, buf, size, &len);
	reply_xattr(req, rc, buf, size, len);
	free(buf);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	NODE_OR_REPLY(n, fs, ino);
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fs_do_listxattr(fs, n, buf, size, &len);
	reply_xattr(req, rc, buf, size, len);
	free(buf);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;

	struct fs_caller who = caller_of(req);

	NODE_OR_REPLY(n, fs, ino);
	fs_reply_err(req, fs_do_setxattr(fs, n, name, value, size, flags, &who));
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = req_fs(req);
	struct fs_node *n;

	struct fs_caller who = caller_of(req);

	NODE_OR_REPLY(n, fs, ino);
	fs_reply_err(req, fs_do_removexattr(fs, n, name, &who));
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.setattr = fs_op_setattr,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_rmdir,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.create = fs_op_create,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.poll = fs_op_poll,
	.release = fs_op_release,
	.fsync = fs_op_fsync,
	.readdir = fs_op_readdir,
	.statfs = fs_op_statfs,
	.fallocate = fs_op_fallocate,
	.lseek = fs_op_lseek,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.setxattr = fs_op_setxattr,
	.removexattr = fs_op_removexattr,
};
