/*
 * events_file.c - <heap>/events: each open reads the events posted to the
 * heap after it (heapstore's ring: hs_event_seq, hs_event_read), one line
 * each, and poll() reports POLLIN while there is one to read.
 *
 * Reads never block.  With nothing new a read returns 0, like a proc file
 * at its end (cat prints what came since the open and exits), or fails
 * with EAGAIN when the descriptor has O_NONBLOCK (an event loop reads until
 * EAGAIN); either way a later read returns what was posted meanwhile.
 * Waiting is poll()'s job: a read that waited would hold one of the FUSE
 * loop's few threads per idle reader for as long as nothing happens.  The
 * file is a stream: direct I/O, not seekable, size 0.
 *
 * Poll: when a poller is to wait, the kernel's POLL request carries a
 * handle.  The newest handle of each open file is kept (under fs->lock)
 * before looking whether anything is readable, so an event posted between
 * that look and the reply finds the handle: no wakeup is lost.  heapstore
 * calls fs_events_posted() after every post (hs_store_event_hook): it
 * takes the handles of that heap's open events files under fs->lock and
 * notifies after letting go.  One notification wakes every waiter on the
 * file; the kernel polls again, with a new handle if it is to wait again.
 *
 * A restore posts "restored N" as it ends, but the heap file's cached
 * pages are dropped only after that (cmd's heap_changed hook, then
 * inval.c), so a runtime woken by the event could still read old pages.
 * A read that returns a "restored" line therefore drops the heap file's
 * cache itself first (fs_inval_heap waits for it): no runtime acts on the
 * event while the kernel still holds the content from before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "fs_int.h"

/* What the kernel answers for a file system without poll: always ready. */
#define POLL_ALWAYS (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)
/* Handles notified per pass, taken under fs->lock without allocating. */
#define NOTIFY_BATCH 16

int fs_events_open(struct fs *fs, struct fs_node *n, struct fs_file *f)
{
	(void)fs;
	f->ev_cursor = hs_event_seq(n->heap);
	return 0;
}

void fs_events_release(struct fs_file *f)
{
	/* Off fs->files already (or at unmount): no hook can take it now. */
	if (f->ph)
		fuse_pollhandle_destroy(f->ph);
	f->ph = NULL;
}

/* Does @text hold a line that changed the heap's content wholesale? */
static bool changes_content(const char *text, size_t len)
{
	static const char tag[] = "restored ";
	const size_t tl = sizeof(tag) - 1;

	for (size_t i = 0; i < len;) {
		const char *nl;

		if (len - i >= tl && memcmp(text + i, tag, tl) == 0)
			return true;
		if (!(nl = memchr(text + i, '\n', len - i)))
			break;
		i = (size_t)(nl - text) + 1;
	}
	return false;
}

/* The rest a short read left, first. */
static size_t rest_take(struct fs_file *f, char *buf, size_t size)
{
	size_t n = f->ev_rest_len - f->ev_rest_off;

	if (n > size)
		n = size;
	memcpy(buf, f->ev_rest + f->ev_rest_off, n);
	f->ev_rest_off += n;
	if (f->ev_rest_off == f->ev_rest_len)
		f->ev_rest_off = f->ev_rest_len = 0;
	return n;
}

ssize_t fs_events_read(struct fs *fs, struct fs_file *f, char *buf, size_t size,
		       int flags)
{
	struct fs_node *n = f->node;
	char small[HS_EVENT_LINE_MAX];
	ssize_t r;

	if (!size)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (f->ev_rest_len) {
		r = (ssize_t)rest_take(f, buf, size);
		goto out;
	}
	/* A read shorter than a line takes a line's worth and keeps the rest. */
	if (size >= HS_EVENT_LINE_MAX)
		r = hs_event_read(n->heap, &f->ev_cursor, buf, size);
	else
		r = hs_event_read(n->heap, &f->ev_cursor, small, sizeof(small));
	if (r <= 0) {
		if (r == 0 && (flags & O_NONBLOCK))
			r = -EAGAIN;
		goto out;
	}
	if (changes_content(size >= HS_EVENT_LINE_MAX ? buf : small, (size_t)r))
		fs_inval_heap(fs, n->heap_id, 0, 0);
	if (size < HS_EVENT_LINE_MAX) {
		memcpy(buf, small, (size_t)r < size ? (size_t)r : size);
		if ((size_t)r > size) {   /* r <= sizeof(small) == sizeof(f->ev_rest) */
			memcpy(f->ev_rest, small + size, (size_t)r - size);
			f->ev_rest_len = (size_t)r - size;
			f->ev_rest_off = 0;
			r = (ssize_t)size;
		}
	}
out:
	pthread_mutex_unlock(&f->lock);
	return r;
}

int fs_do_poll(struct fs *fs, struct fs_node *n, struct fuse_file_info *fi,
	       struct fuse_pollhandle *ph, unsigned *revents)
{
	struct fs_file *f = fi ? (struct fs_file *)(uintptr_t)fi->fh : NULL;
	struct fuse_pollhandle *old = NULL;
	bool ready;

	if ((n->kind != FS_EVENTS && n->kind != FS_BALLOON) || !f) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		*revents = POLL_ALWAYS;
		return 0;
	}
	if (ph) {   /* kept before the look below: see the top of the file */
		pthread_mutex_lock(&fs->lock);
		old = f->ph;
		f->ph = ph;
		pthread_mutex_unlock(&fs->lock);
		if (old)
			fuse_pollhandle_destroy(old);
	}
	if (n->kind == FS_BALLOON) {
		ready = fs_balloon_ready(fs, f);
	} else {
		pthread_mutex_lock(&f->lock);
		ready = f->ev_rest_len || f->ev_cursor < hs_event_seq(n->heap);
		pthread_mutex_unlock(&f->lock);
	}
	*revents = ready ? POLLIN | POLLRDNORM : 0;
	return 0;
}

void fs_events_posted(uint64_t heap_id, void *payload)
{
	struct fs *fs = payload;
	struct fuse_pollhandle *phs[NOTIFY_BATCH];
	size_t n;

	do {
		n = 0;
		pthread_mutex_lock(&fs->lock);
		for (struct fs_file *f = fs->files; f && n < NOTIFY_BATCH; f = f->next) {
			/* A balloon's target changes with a "balloon" event. */
			if (f->ph && (f->node->kind == FS_EVENTS || f->node->kind == FS_BALLOON) &&
			    f->node->heap_id == heap_id) {
				phs[n++] = f->ph;
				f->ph = NULL;
			}
		}
		pthread_mutex_unlock(&fs->lock);
		for (size_t i = 0; i < n; i++) {
			/* ENOENT: the kernel no longer waits on it. */
			(void)fuse_lowlevel_notify_poll(phs[i]);
			fuse_pollhandle_destroy(phs[i]);
		}
	} while (n == NOTIFY_BATCH);
}
