/*
 * inval.c - dropping kernel page cache that heapfs itself made stale.
 *
 * When heapfs changes heap content behind the heap file's back (a write
 * through lines/, a line unlinked; later restore and transaction commit),
 * the kernel may hold the old pages.  Handlers queue the range here and a
 * thread of its own tells the kernel, FIFO, never from inside a request
 * and never under a heapfs lock (fuse_lowlevel.h warns that either can
 * deadlock).  The handler then waits for its ticket before replying, so
 * that once the write, commit or restore returns no reader sees the old
 * pages; it waits on the heap file, never on the inode of its own request,
 * and the kernel needs no heapfs reply to drop clean pages (pages being
 * read are served by the loop's other threads).  A page a mapping dirtied
 * after the change stays: the kernel only drops what it can re-read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

static void *inval_main(void *p)
{
	struct fs *fs = p;
	struct fs_inval take[64];

	pthread_mutex_lock(&fs->inval_lock);
	for (;;) {
		while (!fs->inval_n && !fs->inval_stop)
			pthread_cond_wait(&fs->inval_cond, &fs->inval_lock);
		if (!fs->inval_n)
			break;
		/* Up to 64 at a time, in order: one handler's ranges of a
		 * round are told together, then it wakes once. */
		size_t k = fs->inval_n < 64 ? fs->inval_n : 64;

		memcpy(take, fs->inval_q, k * sizeof(*take));
		fs->inval_n -= k;
		memmove(fs->inval_q, fs->inval_q + k, fs->inval_n * sizeof(*take));
		pthread_mutex_unlock(&fs->inval_lock);
		/* ENOENT: the kernel has forgotten the inode, nothing to drop. */
		for (size_t i = 0; i < k; i++)
			(void)fuse_lowlevel_notify_inval_inode(fs->se, take[i].ino, take[i].off,
							       take[i].len);
		pthread_mutex_lock(&fs->inval_lock);
		fs->inval_done += k;
		pthread_cond_broadcast(&fs->inval_done_cond);
	}
	pthread_mutex_unlock(&fs->inval_lock);
	return NULL;
}

int fs_inval_start(struct fs *fs)
{
	pthread_mutex_init(&fs->inval_lock, NULL);
	pthread_cond_init(&fs->inval_cond, NULL);
	pthread_cond_init(&fs->inval_done_cond, NULL);
	if (pthread_create(&fs->inval_thread, NULL, inval_main, fs) != 0)
		return -EAGAIN;
	fs->inval_running = true;
	return 0;
}

/* Drains what is queued, then stops the thread. */
void fs_inval_stop(struct fs *fs)
{
	if (!fs->inval_running)
		return;
	pthread_mutex_lock(&fs->inval_lock);
	fs->inval_stop = true;
	pthread_cond_signal(&fs->inval_cond);
	pthread_mutex_unlock(&fs->inval_lock);
	pthread_join(fs->inval_thread, NULL);
	fs->inval_running = false;
	free(fs->inval_q);
	pthread_cond_destroy(&fs->inval_cond);
	pthread_cond_destroy(&fs->inval_done_cond);
	pthread_mutex_destroy(&fs->inval_lock);
}

/*
 * Drop @n ranges (off, len; len 0: to the end) of heap @heap_id's live heap
 * file from the kernel's cache, if the kernel has the file; returns when
 * all are done.  They are queued together and waited for once: a round
 * that changed 164 scattered lines waited 13 ms ticket by ticket.
 */
void fs_inval_heap_ranges(struct fs *fs, uint64_t heap_id, const uint64_t (*ranges)[2], size_t n)
{
	fuse_ino_t ino = fs_node_ino(fs, FS_HEAP, heap_id, HS_VERSION_LIVE);
	uint64_t ticket = 0;

	if (!ino || !fs->inval_running)
		return;
	pthread_mutex_lock(&fs->inval_lock);
	for (size_t i = 0; i < n; i++) {
		if (fs->inval_n == fs->inval_cap) {
			size_t cap = fs->inval_cap ? 2 * fs->inval_cap : 64;
			struct fs_inval *q = realloc(fs->inval_q, cap * sizeof(*q));

			if (!q) {
				/* Out of memory: wait for the queue to drain, then take its place. */
				pthread_cond_signal(&fs->inval_cond);
				while (fs->inval_n == fs->inval_cap && fs->inval_cap)
					pthread_cond_wait(&fs->inval_done_cond, &fs->inval_lock);
				if (!fs->inval_cap)
					break;   /* no queue at all: nothing we can do */
			} else {
				fs->inval_q = q;
				fs->inval_cap = cap;
			}
		}
		fs->inval_q[fs->inval_n++] = (struct fs_inval){ ino, (off_t)ranges[i][0],
								(off_t)ranges[i][1] };
		ticket = ++fs->inval_queued;
	}
	pthread_cond_signal(&fs->inval_cond);
	while (fs->inval_done < ticket)
		pthread_cond_wait(&fs->inval_done_cond, &fs->inval_lock);
	pthread_mutex_unlock(&fs->inval_lock);
}

void fs_inval_heap(struct fs *fs, uint64_t heap_id, off_t off, off_t len)
{
	const uint64_t r[1][2] = { { (uint64_t)off, (uint64_t)len } };

	fs_inval_heap_ranges(fs, heap_id, r, 1);
}
