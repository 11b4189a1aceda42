/*
 * main.c - the heapfs daemon: `heapfs [-f] [-o OPTS] STORE_DIR MOUNTPOINT`.
 *
 * Without -f it forks before touching the store (RocksDB's threads would
 * not survive a later fork); the parent waits until the child has opened
 * the store and mounted, then exits 0, or 1 after the child's message, so
 * `heapfs STORE MNT && use MNT` is safe.  fusermount3 -u or SIGTERM ends the
 * loop; the store is then closed, which syncs its WAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

/* Fork; the parent returns only to exit with the child's verdict. */
static int background(int *report_fd)
{
	int p[2];
	pid_t pid;
	char verdict = 1;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &verdict, 1) != 1)
			verdict = 1;   /* the child died before mounting */
		_exit(verdict ? 1 : 0);
	}
	close(p[0]);
	setsid();
	*report_fd = p[1];
	return 0;
}

static void detach(int report_fd)
{
	char ok = 0;
	int null = open("/dev/null", O_RDWR);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (chdir("/") < 0)
		(void)0;   /* the mount does not depend on the cwd */
	if (write(report_fd, &ok, 1) != 1)
		(void)0;   /* the parent is gone; nothing to tell */
	close(report_fd);
}

int main(int argc, char **argv)
{
	static struct fs fs;   /* big tables: not on the stack */
	hs_store_opts so = HS_STORE_OPTS_INIT;
	struct fuse_loop_config *cfg = NULL;
	char fsname[4200];
	int rc, report_fd = -1, status = 1;
	bool mounted = false;

	/*
	 * The RSS bound (cache= plus 64 MiB) needs malloc to give memory back:
	 * a fixed mmap threshold keeps RocksDB's batch and memtable buffers out
	 * of the heap (glibc's dynamic one grows to 32 MiB and then keeps them),
	 * and two arenas stop each thread's arena from holding its own slack.
	 * Measured: peak RSS 181 -> 77 MiB writing 256 MiB with cache=32M.
	 */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);

	rc = fs_opts_parse(&fs.opts, argc, argv);
	if (rc != 0) {
		fs_opts_dispose(&fs.opts);
		return rc == 1 ? 0 : 1;
	}
	/*
	 * FUSE checks its options in fuse_session_new(): do it before the
	 * store is created, so a typo leaves nothing behind.  The session has
	 * no threads or descriptors until it mounts, so it may cross the fork.
	 */
	snprintf(fsname, sizeof(fsname), "-ofsname=%s,subtype=heapfs,default_permissions",
		 fs.opts.store_dir);
	if (fuse_opt_add_arg(&fs.opts.fuse_args, fsname)) {
		fs_fail("start", "out of memory");
		goto out;
	}
	fs.se = fuse_session_new(&fs.opts.fuse_args, &fs_ops, sizeof(fs_ops), &fs);
	if (!fs.se) {
		fs_fail("options", "FUSE refused them (see above)");
		goto out;
	}
	if (!fs.opts.foreground && (rc = background(&report_fd)) < 0) {
		fs_fail("fork", "%s", strerror(-rc));
		goto out;
	}
	so.zstd_level = fs.opts.zstd_level;
	so.cache_bytes = fs.opts.cache_bytes;
	so.pool_bytes = fs.opts.pool_bytes;
	so.wait_ms = fs.opts.wait_ms;
	so.cache_idle_ms = fs.opts.cache_idle_ms;
	so.cache_release_ms = fs.opts.cache_release_ms;
	if ((rc = hs_store_open(&fs.store, fs.opts.store_dir, &so)) < 0) {
		fs_fail("store", "%s", hs_error_last());
		goto out;
	}
	if ((rc = gc_start(&fs.gc, fs.store, fs.opts.gc_s)) < 0) {
		fs_fail("gc", "%s", hs_error_last());
		goto out;
	}
	if ((rc = fs_mem_start(&fs)) < 0) {
		fs_fail("memory budget", "%s", rc == -ENOMEM ? "out of memory" : hs_error_last());
		goto out;
	}
	{
		ckpt_opts co = { fs.opts.store_dir, CKPT_TICK_MS_DEFAULT, NULL, NULL };

		if ((rc = ckpt_start(&fs.ckpt, fs.store, &co)) < 0) {
			fs_fail("checkpoint", "%s", hs_error_last());
			goto out;
		}
	}
	if ((rc = fs_mem_run(&fs)) < 0) {   /* its reclaim prunes checkpoints */
		fs_fail("memory budget", "%s", hs_error_last());
		goto out;
	}
	fs.uid = getuid();
	fs.gid = getgid();
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		fs.mounted_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	if ((rc = fs_nodes_init(&fs)) < 0) {
		fs_fail("start", "%s", strerror(-rc));
		goto out;
	}
	/* Events wake their files' pollers (until the session goes, below). */
	hs_store_event_hook(fs.store, fs_events_posted, &fs);
	if (fuse_set_signal_handlers(fs.se) != 0) {
		fs_fail("start", "cannot install signal handlers");
		goto out;
	}
	if (fuse_session_mount(fs.se, fs.opts.mountpoint) != 0) {
		fs_fail(fs.opts.mountpoint, "cannot mount (is /dev/fuse usable, and the mount point a directory?)");
		goto out;
	}
	mounted = true;
	if ((rc = fs_killpriv_setup(fs.se)) < 0) {
		fs_fail("start", "cannot set up the session's I/O: %s", strerror(-rc));
		goto out;
	}
	if ((rc = fs_inval_start(&fs)) < 0) {
		fs_fail("start", "cannot start the invalidation thread");
		goto out;
	}
	if ((rc = fs_chan_start(&fs)) < 0) {
		fs_fail("start", "cannot open the data channel: %s", strerror(-rc));
		goto out;
	}
	if (report_fd >= 0) {
		detach(report_fd);
		report_fd = -1;
	}
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		fs_fail("start", "out of memory");
		goto out;
	}
	/* A write waiting for space holds its thread up to wait=: enough for
	 * many waiters (pool.sh's 32) beside the I/O that frees the space. */
	fuse_loop_cfg_set_max_threads(cfg, 64);
	rc = fuse_session_loop_mt(fs.se, cfg);
	status = rc < 0 ? 1 : 0;
out:
	if (report_fd >= 0)
		close(report_fd);   /* the parent reads EOF: failure */
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	if (fs.store)   /* returns once no hook call uses the session */
		hs_store_event_hook(fs.store, NULL, NULL);
	if (mounted)
		fuse_session_unmount(fs.se);
	/* Streams still running give up (the store stays till then).  After
	 * the unmount: a command's own call through the mount (migrate's
	 * write-back of mapped pages) then fails rather than waiting for a
	 * reply no thread will send. */
	fs_chan_stop(&fs);
	fs_inval_stop(&fs);
	if (fs.se) {
		fuse_remove_signal_handlers(fs.se);
		fuse_session_destroy(fs.se);
	}
	fs_mem_quiesce(&fs);   /* its passes post events: before the store goes */
	ckpt_stop(fs.ckpt);   /* its heaps close before the store */
	gc_stop(fs.gc);
	fs_files_dispose(&fs);
	if (fs.next_ino)
		fs_nodes_dispose(&fs);
	/* DESIGN: unmount and SIGTERM flush everything; when that fails the
	 * daemon says so and exits 1. */
	if (hs_store_close(fs.store) < 0) {
		fs_fail("unmount", "%s", hs_error_last());
		status = 1;
	}
	fs_mem_stop(&fs);   /* after the cache: it gives back to it as it closes */
	fs_opts_dispose(&fs.opts);
	return status;
}
