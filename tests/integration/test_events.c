/*
 * test_events.c - <heap>/events through a real mount (DESIGN.md "Runtime
 * events"): a reader blocked in poll() is woken (POLLIN, well before its
 * timeout) by a checkpoint taken with mkdir, one taken by heapctl, an
 * automatic one and a heapctl restore, each run by another process, and
 * reads exactly the line each posted; an open sees only what comes after
 * it; reads of any size give the same lines, and never block; a
 * checkpoint refused on a full disk posts checkpoint-failed; and the file
 * looks like a stream of the heap's (size 0, the heap's read bits, not
 * writable, not seekable).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

#ifndef HEAPCTL_BIN
#error "HEAPCTL_BIN (heapctl's path) must be defined by the build"
#endif

#define LS (64u * 1024u)          /* the mount's default line size */
#define POLL_TIMEOUT_MS 8000      /* an upper bound: a wakeup comes in ms */
#define SETTLE_MS 300             /* for the poller to be asleep in poll() */

static void setup_app(void)
{
	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
}

static void fill(uint64_t seed, uint64_t off, size_t len)
{
	char *buf = malloc(len);
	int fd = mu_open(mu_at("app/heap"), O_RDWR);

	ck_assert_ptr_nonnull(buf);
	mu_fill(buf, len, seed, off);
	mu_pwrite_all(fd, buf, len, off);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	free(buf);
}

/* Everything readable now from O_NONBLOCK @fd, up to EAGAIN (malloc'd). */
static char *drain(int fd)
{
	size_t len = 0, cap = 4096;
	char *text = malloc(cap);
	ssize_t r;

	ck_assert_ptr_nonnull(text);
	for (;;) {
		if (cap - len < 1024) {
			text = realloc(text, cap *= 2);
			ck_assert_ptr_nonnull(text);
		}
		r = read(fd, text + len, cap - len - 1);
		if (r < 0 && errno == EAGAIN)
			break;
		ck_assert_msg(r > 0, "read events: %zd (%s)", r, r < 0 ? strerror(errno) : "EOF");
		len += (size_t)r;
	}
	text[len] = '\0';
	return text;
}

static void expect_lines(int fd, const char *want)
{
	char *got = drain(fd);

	ck_assert_msg(strcmp(got, want) == 0, "events: got \"%s\", want \"%s\"", got, want);
	free(got);
}

/* ---- a reader asleep in poll() --------------------------------------- */

struct poller {
	int fd;
	pthread_t thread;
	atomic_bool started;
	int rc, err;
	short revents;
	double waited_s;
};

static void *poll_main(void *arg)
{
	struct poller *p = arg;
	struct pollfd pfd = { p->fd, POLLIN, 0 };
	double t0 = mu_now();

	atomic_store(&p->started, true);
	p->rc = poll(&pfd, 1, POLL_TIMEOUT_MS);
	p->err = errno;
	p->revents = pfd.revents;
	p->waited_s = mu_now() - t0;
	return NULL;
}

/*
 * Run @argv (another process) while a thread sleeps in poll() on @fd.  A
 * message in @why (empty: fine) unless the program's exit status was as
 * @ok says (0, or not) and poll() reported POLLIN, woken by the event: the
 * kernel polls once more when the timeout ends, so POLLIN alone would not
 * tell a wakeup from a timeout.  Asserts nothing, so a test can clean up
 * before it does.
 */
static void poll_around(int fd, char *const argv[], bool ok, char *why, size_t cap)
{
	struct pollfd now = { fd, POLLIN, 0 };
	struct poller p = { .fd = fd };
	int st;

	why[0] = '\0';
	if (poll(&now, 1, 0) != 0) {
		snprintf(why, cap, "events readable before %s", argv[0]);
		return;
	}
	if (pthread_create(&p.thread, NULL, poll_main, &p) != 0) {
		snprintf(why, cap, "no poller thread");
		return;
	}
	while (!atomic_load(&p.started))
		mu_sleep_ms(1);
	mu_sleep_ms(SETTLE_MS);
	st = mu_run(mu_in_root("run.out"), mu_in_root("run.err"), argv);
	pthread_join(p.thread, NULL);
	if (!WIFEXITED(st) || (WEXITSTATUS(st) == 0) != ok)
		snprintf(why, cap, "%s %s: status 0x%x", argv[0], argv[1] ? argv[1] : "", st);
	else if (p.rc != 1 || !(p.revents & POLLIN))
		snprintf(why, cap, "poll after %s: rc %d (%s), revents 0x%x, after %.3f s",
			 argv[0], p.rc, p.rc < 0 ? strerror(p.err) : "-", p.revents,
			 p.waited_s);
	else if (p.waited_s < SETTLE_MS / 1000.0 * 0.9 ||
		 p.waited_s >= POLL_TIMEOUT_MS / 1000.0 * 0.9)
		snprintf(why, cap, "poll after %s returned after %.3f s: %s", argv[0],
			 p.waited_s, p.waited_s < 1 ? "before the event" : "timed out, not woken");
}

static void wakes_on(int fd, char *const argv[])
{
	char why[512];

	poll_around(fd, argv, true, why, sizeof(why));
	ck_assert_msg(!why[0], "%s", why);
}

static char *const *mkdir_argv(const char *rel)
{
	static char path[512];
	static char *argv[] = { "mkdir", path, NULL };

	snprintf(path, sizeof(path), "%s/%s", mu.mnt, rel);
	return argv;
}

static char *const *heapctl_argv(const char *cmd, const char *arg)
{
	static char c[64], a[64];
	static char *argv[] = { HEAPCTL_BIN, "-m", NULL, c, "app", a, NULL };

	argv[2] = mu.mnt;
	snprintf(c, sizeof(c), "%s", cmd);
	snprintf(a, sizeof(a), "%s", arg ? arg : "");
	argv[5] = arg ? a : NULL;
	return argv;
}

/* Sets the attribute from another process, the way an operator would. */
static char *const *setfattr_argv(const char *value)
{
	static char v[128], path[512];
	static char *argv[] = { "setfattr", "-n", "user.heapfs.autocheckpoint", "-v", v,
				path, NULL };

	snprintf(v, sizeof(v), "%s", value);
	snprintf(path, sizeof(path), "%s/app", mu.mnt);
	return argv;
}

START_TEST(poll_wakes_for_every_checkpoint_path_and_restore)
{
	int fd1, fd2, fd3, heap_fd;
	char *want = malloc(LS), *map;
	char buf[64];

	ck_assert_ptr_nonnull(want);
	fill(1, 0, 2 * LS);
	fd1 = mu_open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	ck_assert_int_eq(read(fd1, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);

	/* mkdir checkpoints/LABEL */
	wakes_on(fd1, mkdir_argv("app/checkpoints/one"));
	expect_lines(fd1, "checkpoint 1\n");

	/* A second open sees only what comes after it. */
	fd2 = mu_open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	fill(2, 0, LS);
	wakes_on(fd1, heapctl_argv("checkpoint", NULL));
	expect_lines(fd1, "checkpoint 2\n");
	expect_lines(fd2, "checkpoint 2\n");

	/* heapctl restore: and a mapping sees checkpoint 1 once told. */
	heap_fd = mu_open(mu_at("app/heap"), O_RDWR);
	map = mmap(NULL, 2 * LS, PROT_READ, MAP_SHARED, heap_fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	mu_fill(want, LS, 2, 0);
	ck_assert_int_eq(memcmp(map, want, LS), 0);
	wakes_on(fd2, heapctl_argv("restore", "1"));
	expect_lines(fd2, "restored 1\n");
	mu_fill(want, LS, 1, 0);
	ck_assert_msg(memcmp(map, want, LS) == 0, "the mapping after \"restored 1\"");
	expect_lines(fd1, "restored 1\n");
	munmap(map, 2 * LS);
	close(heap_fd);

	/* An automatic checkpoint (the heap changed since checkpoint 2). */
	fd3 = mu_open(mu_at("app/events"), O_RDONLY);
	wakes_on(fd1, setfattr_argv("interval=100ms"));
	ck_assert_int_eq(setxattr(mu_at("app"), "user.heapfs.autocheckpoint", "off", 3, 0), 0);
	expect_lines(fd1, "checkpoint 3\n");
	expect_lines(fd2, "checkpoint 3\n");
	/* Without O_NONBLOCK a read does not wait either: 0, like EOF, once read. */
	ck_assert_int_eq(read(fd3, buf, sizeof(buf)), 13);
	ck_assert_int_eq(memcmp(buf, "checkpoint 3\n", 13), 0);
	ck_assert_int_eq(read(fd3, buf, sizeof(buf)), 0);
	/* Nothing was lost or repeated along the way. */
	expect_lines(fd1, "");
	expect_lines(fd2, "");
	close(fd3);
	close(fd2);
	close(fd1);
	free(want);
}
END_TEST

START_TEST(reads_of_any_size_give_the_same_lines)
{
	int fd_small = mu_open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	int fd_big = mu_open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	char got[256];
	size_t len = 0;
	ssize_t r;

	fill(1, 0, LS);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/a-rather-long-label"), 0755), 0);
	fill(2, 0, LS);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/b"), 0755), 0);
	while ((r = read(fd_small, got + len, 5)) > 0)
		len += (size_t)r;
	ck_assert_int_eq(errno, EAGAIN);
	got[len] = '\0';
	ck_assert_str_eq(got, "checkpoint 1\ncheckpoint 2\n");
	expect_lines(fd_big, "checkpoint 1\ncheckpoint 2\n");
	close(fd_small);
	close(fd_big);
}
END_TEST

START_TEST(events_file_is_a_stream_of_the_heaps)
{
	struct stat st;
	char *list;
	int fd;

	ck_assert_int_eq(stat(mu_at("app/events"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0400);   /* the heap's 0700, read bits */
	ck_assert_int_eq(chmod(mu_at("app"), 0750), 0);
	ck_assert_int_eq(stat(mu_at("app/events"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0440);
	ck_assert_int_eq(chmod(mu_at("app/events"), 0644), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(open(mu_at("app/events"), O_WRONLY), -1);
	ck_assert_int_eq(errno, EACCES);
	ck_assert_int_eq(truncate(mu_at("app/events"), 0), -1);
	fd = mu_open(mu_at("app/events"), O_RDONLY);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), -1);
	ck_assert_int_eq(errno, ESPIPE);
	ck_assert_int_eq(write(fd, "x", 1), -1);
	close(fd);
	list = mu_list(mu_at("app"));
	ck_assert_ptr_nonnull(list);
	ck_assert_msg(mu_has_line(list, "events"), "app lists:\n%s", list);
	free(list);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/1st"), 0755), 0);
	ck_assert_int_eq(access(mu_at("app/checkpoints/1/events"), F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* ---- another user, on a shared mount ---------------------------------- */

#define NOBODY 65534

static void setup_shared(void)
{
	char parent[sizeof(mu.root)];

	mu_root_make();
	snprintf(parent, sizeof(parent), "%s", mu.root);
	ck_assert_int_eq(chmod(dirname(parent), 0711), 0);
	ck_assert_int_eq(chmod(mu.root, 0711), 0);
	mu_mount("allow_other");
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
}

/* open(@path, O_RDONLY) as nobody in a forked child: 0, or its errno. */
static int open_as_nobody(const char *path)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd;

		if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(255);
		fd = open(path, O_RDONLY);
		_exit(fd >= 0 ? 0 : errno);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 255);
	return WEXITSTATUS(st);
}

START_TEST(events_follow_the_heaps_read_bit)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/app/events", mu.mnt);
	ck_assert_int_eq(open_as_nobody(path), EACCES);
	ck_assert_int_eq(chmod(mu_at("app"), 0705), 0);
	ck_assert_int_eq(open_as_nobody(path), 0);
	ck_assert_int_eq(chmod(mu_at("app"), 0701), 0);   /* search, not read */
	ck_assert_int_eq(open_as_nobody(path), EACCES);
}
END_TEST

/* ---- a checkpoint that fails ----------------------------------------- */

/*
 * As in test_ckpt_mount: the store on a 48 MiB tmpfs that a filler file
 * leaves ~10 MiB of, 16 MiB of compressible lines dirty in the cache: the
 * checkpoint policy's space check refuses the checkpoint (ENOSPC), and the
 * reader is told why.
 */
static void write_compressible(uint64_t seed, size_t len)
{
	char *buf = malloc(len);
	int fd = mu_open(mu_at("app/heap"), O_RDWR);

	ck_assert_ptr_nonnull(buf);
	memset(buf, (int)('a' + seed % 26), len);
	for (size_t i = 0; i + 48 <= len; i += 4096)
		snprintf(buf + i, 48, "%llu:%zu", (unsigned long long)seed, i / 4096);
	mu_pwrite_all(fd, buf, len, 0);
	close(fd);
	free(buf);
}

START_TEST(a_checkpoint_refused_for_space_posts_checkpoint_failed)
{
	char filler[400], why[512], *got;
	struct statvfs v;
	uint64_t avail;
	int fd, efd;

	ck_assert_msg(mount("tmpfs", mu.store, "tmpfs", 0, "size=48m") == 0,
		      "mount tmpfs on %s: %s (run as root)", mu.store, strerror(errno));
	mu_mount("cache=64M");
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	efd = mu_open(mu_at("app/events"), O_RDONLY | O_NONBLOCK);
	snprintf(filler, sizeof(filler), "%s/filler", mu.store);
	fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(statvfs(mu.store, &v), 0);
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	ck_assert_uint_gt(avail, 20u << 20);
	ck_assert_int_eq(posix_fallocate(fd, 0, (off_t)(avail - (10u << 20))), 0);
	close(fd);
	write_compressible(1, 16u << 20);

	poll_around(efd, mkdir_argv("app/checkpoints/full"), false, why, sizeof(why));
	unlink(filler);   /* room again, before the assertions */
	ck_assert_msg(!why[0], "%s", why);
	got = drain(efd);
	ck_assert_msg(strncmp(got, "checkpoint-failed ", 18) == 0 &&
		      strstr(got, "no room for a checkpoint") && strchr(got, '\n') &&
		      strchr(got, '\n')[1] == '\0', "events: \"%s\"", got);
	free(got);

	/* A fresh store takes ~20 MiB of the 48: written back, the lines
	 * leave the check only its headroom to find. */
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	ck_assert_msg(mkdir(mu_at("app/checkpoints/full"), 0755) == 0,
		      "mkdir once there is room: %s", strerror(errno));
	expect_lines(efd, "checkpoint 1\n");
	close(efd);
	mu_unmount();
	ck_assert_int_eq(umount(mu.store), 0);
}
END_TEST

static void setup_root(void)
{
	mu_root_make();
}

static void teardown_root(void)
{
	mu_unmount();
	umount2(mu.store, MNT_DETACH);   /* the tmpfs, if a failure left it */
	mu_root_remove();
}

static Suite *events_suite(void)
{
	Suite *s = suite_create("events");
	TCase *tc;

	tc = mu_tcase_new(s, "wake", setup_app);
	tcase_add_test(tc, poll_wakes_for_every_checkpoint_path_and_restore);
	tcase_add_test(tc, reads_of_any_size_give_the_same_lines);

	tc = mu_tcase_new(s, "file", setup_app);
	tcase_add_test(tc, events_file_is_a_stream_of_the_heaps);

	tc = mu_tcase_new(s, "shared", setup_shared);
	tcase_add_test(tc, events_follow_the_heaps_read_bit);

	tc = tcase_create("space");
	tcase_add_checked_fixture(tc, setup_root, teardown_root);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_checkpoint_refused_for_space_posts_checkpoint_failed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(events_suite());
}
