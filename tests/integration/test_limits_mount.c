/*
 * test_limits_mount.c - space limits through a real mount, with the exact
 * errnos: a heap's quota (user.heapfs.quota) refuses write(2) with EDQUOT
 * and the mount's pool= with ENOSPC, keeping every byte accepted before
 * (across a remount and a SIGKILL of the daemon); stores through a shared
 * mapping go over a limit as an overdraft that msync reports once, and a
 * checkpoint of a heap over its limit is refused; fallocate checks the
 * holes of its range (mode 0) and zeroes (ZERO_RANGE) as Linux does; a
 * txn commit over the quota is refused whole; a reservation holds while
 * another heap fills the pool, and one the pool cannot promise is refused;
 * removing a checkpoint lets a refused write pass, also one waiting for
 * space (wait=).  The store side is test_limits's; who may set a quota
 * (EPERM for the heap's owner, EACCES for others) is test_perm's
 * (chown_and_chmod_follow_posix_and_survive_a_remount,
 * another_user_gets_nothing_of_a_private_heap).  Each test runs with the
 * line cache and without it (cache=0, every write through).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "mount_util.h"

#define LS 4096u
/* About one line of incompressible content stored, with room to spare. */
#define LINE_COST (LS + 64u)

/*
 * The mount options of loop test @_i: with the line cache (its charges for
 * dirty lines) and without (cache=0: each write at its exact cost); wait=0,
 * a refused write fails at once, where waiting is not the point.
 */
static const char *const variants[] = { "line=4K,wait=0", "line=4K,wait=0,cache=0" };
#define OPTS variants[_i]

#define HEAPCTL(out, ...) mu_run_out(out, (const char *[]){ HEAPCTL_BIN, __VA_ARGS__, NULL })

/* Incompressible content @seed for the bytes [@off, @off + @len) of a heap. */
static void content(uint8_t *buf, size_t len, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i, x = seed * 0x9E3779B97F4A7C15ULL ^ (pos >> 3);

		buf[i] = (uint8_t)(mu_splitmix64(&x) >> ((pos & 7) * 8));
	}
}

static void xattr_set(const char *heap, const char *name, uint64_t bytes)
{
	char val[32];

	snprintf(val, sizeof(val), "%llu", (unsigned long long)bytes);
	ck_assert_msg(setxattr(mu_at("%s", heap), name, val, strlen(val), 0) == 0,
		      "setxattr %s %s=%s: %s", heap, name, val, strerror(errno));
}

/* @expr is -1 with errno @e. */
#define ASSERT_ERRNO(expr, e)                                                          \
	do {                                                                           \
		errno = 0;                                                             \
		long long r_ = (long long)(expr);                                      \
		int e_ = errno;                                                        \
		ck_assert_msg(r_ == -1 && e_ == (e), "%s: %lld, errno %d (%s); want %s", \
			      #expr, r_, e_, strerror(e_), #e);                        \
	} while (0)

/*
 * Write @seed's content from @off on, 3 lines per write(2) (short writes
 * taken), until the heap refuses: the bytes taken; the refusal's errno is
 * ck_asserted to be @want_errno.  @model gets what was taken.
 */
static uint64_t fill_until_refused(const char *heap, uint64_t off, uint64_t seed,
				   int want_errno, uint8_t *model, uint64_t cap)
{
	uint8_t buf[3 * LS];
	uint64_t done = 0;
	ssize_t r;
	int fd = mu_open(mu_at("%s/heap", heap), O_RDWR), e;

	ck_assert_int_eq(lseek(fd, (off_t)off, SEEK_SET), (off_t)off);
	for (;;) {
		content(buf, sizeof(buf), seed, off + done);
		errno = 0;
		r = write(fd, buf, sizeof(buf));
		e = errno;
		if (r <= 0)
			break;
		memcpy(model + off + done, buf, (size_t)r);
		done += (uint64_t)r;
		ck_assert_msg(off + done + sizeof(buf) <= cap, "%s took %llu bytes and more", heap,
			      (unsigned long long)done);
	}
	ck_assert_msg(r == -1 && e == want_errno, "%s: write at %llu: %zd, errno %d (%s); want %s",
		      heap, (unsigned long long)(off + done), r, e, strerror(e), strerror(want_errno));
	/* The refused write changed nothing: the size is what was taken. */
	{
		struct stat sb;

		ck_assert_int_eq(fstat(fd, &sb), 0);
		ck_assert_uint_eq((uint64_t)sb.st_size, off + done);
	}
	ck_assert_int_eq(fsync(fd), 0);   /* nothing taken over a limit: nothing to say */
	close(fd);
	return done;
}

/* The heap file of @heap is @model's first @size bytes, exactly. */
static void expect_heap(const char *heap, const uint8_t *model, uint64_t size)
{
	uint8_t *got = malloc(size + 1);
	int fd = mu_open(mu_at("%s/heap", heap), O_RDONLY);
	struct stat sb;

	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_msg((uint64_t)sb.st_size == size, "%s/heap is %lld bytes, want %llu", heap,
		      (long long)sb.st_size, (unsigned long long)size);
	if (size)
		mu_pread_all(fd, got, size, 0);
	for (uint64_t i = 0; i < size; i++)
		ck_assert_msg(got[i] == model[i], "%s/heap byte %llu is %#x, want %#x", heap,
			      (unsigned long long)i, got[i], model[i]);
	ck_assert_int_eq(pread(fd, got, 1, (off_t)size), 0);
	close(fd);
	free(got);
}

/*
 * The same straight from the store: each line file of lines/ (direct I/O,
 * no page cache) holds @model's line, and lines that are all zeros are
 * holes or zeros.
 */
static void expect_store_lines(const char *heap, const uint8_t *model, uint64_t size)
{
	uint8_t got[LS], zero[LS] = { 0 };

	for (uint64_t l = 0; l * LS < size; l++) {
		size_t n = size - l * LS < LS ? (size_t)(size - l * LS) : LS;
		int fd = open(mu_at("%s/lines/%016llx", heap, (unsigned long long)(l * LS)), O_RDONLY);

		if (fd < 0) {
			ck_assert_int_eq(errno, ENOENT);
			ck_assert_msg(memcmp(model + l * LS, zero, n) == 0,
				      "%s: line %llu has data but no line file", heap,
				      (unsigned long long)l);
			continue;
		}
		mu_pread_all(fd, got, LS, 0);
		close(fd);
		ck_assert_msg(memcmp(got, model + l * LS, n) == 0, "%s: line %llu in the store "
			      "is not what was written", heap, (unsigned long long)l);
	}
}

/* SIGKILL the daemon, clean its stale mount, mount the store again. */
static void sigkill_and_remount(const char *opts)
{
	int st;

	ck_assert_int_eq(kill(mu.pid, SIGKILL), 0);
	st = mu_daemon_wait(10);
	ck_assert_msg(st != -1, "heapfs still runs 10 s after SIGKILL");
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "heapfs ended with 0x%x", st);
	mu_stale_unmount();
	mu_mount(opts);
}

static void setup(void)
{
	mu_root_make();
}

/* ---- 1. the quota ------------------------------------------------------ */

START_TEST(quota_refuses_write_with_edquot_and_keeps_every_byte_taken)
{
	const uint64_t quota = 10 * LINE_COST, cap = 64 * LS;
	uint8_t *model = calloc(1, cap), line[LS];
	uint64_t size;
	int fd;

	ck_assert_ptr_nonnull(model);
	mu_mount(OPTS);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	xattr_set("app", "user.heapfs.quota", quota);
	size = fill_until_refused("app", 0, 1, EDQUOT, model, cap);
	/* 10 lines of about LS bytes each fit, the 11th does not: the 4th
	 * write of 3 lines is short, the 5th refused. */
	ck_assert_msg(size == 10 * LS, "the quota of %llu took %llu bytes",
		      (unsigned long long)quota, (unsigned long long)size);
	ck_assert_uint_le(mu_text_u64("app/stat", "referenced"), quota);
	ck_assert_uint_eq(mu_text_u64("app/stat", "overdraft"), 0);
	expect_heap("app", model, size);
	expect_store_lines("app", model, size);

	/* At a full quota an overwrite frees what it replaces: it passes. */
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	content(line, LS, 2, 0);
	mu_pwrite_all(fd, line, LS, 0);
	memcpy(model, line, LS);
	/* A new line does not (new content: the same would be deduplicated). */
	content(line, LS, 2, size);
	ASSERT_ERRNO(pwrite(fd, line, LS, (off_t)size), EDQUOT);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	expect_heap("app", model, size);
	/* The state file counts against the same quota. */
	fd = mu_open(mu_at("app/state"), O_RDWR);
	ASSERT_ERRNO(pwrite(fd, line, LS, 0), EDQUOT);
	close(fd);

	/* A remount keeps the bytes and the quota. */
	mu_unmount();
	mu_mount(OPTS);
	expect_heap("app", model, size);
	expect_store_lines("app", model, size);
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.quota"), quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ASSERT_ERRNO(pwrite(fd, line, LS, (off_t)size), EDQUOT);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);

	/* So does a SIGKILL of the daemon. */
	sigkill_and_remount(OPTS);
	expect_heap("app", model, size);
	expect_store_lines("app", model, size);
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.quota"), quota);
	ck_assert_uint_le(mu_text_u64("app/stat", "referenced"), quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ASSERT_ERRNO(pwrite(fd, line, LS, (off_t)size), EDQUOT);
	close(fd);
	/* Raised, the quota takes more. */
	xattr_set("app", "user.heapfs.quota", quota + 4 * LINE_COST);
	size = size + fill_until_refused("app", size, 3, EDQUOT, model, cap);
	ck_assert_uint_eq(size, 14 * LS);
	expect_heap("app", model, size);
	mu_unmount();
	free(model);
}
END_TEST

/* ---- 2. the pool ------------------------------------------------------- */

START_TEST(pool_refuses_write_and_checkpoint_with_enospc)
{
	const uint64_t pool = 16 * LINE_COST, cap = 64 * LS;
	uint8_t *model = calloc(1, cap), *map;
	uint64_t size, len;
	char opts[128], *out, *err;
	int fd;

	ck_assert_ptr_nonnull(model);
	snprintf(opts, sizeof(opts), "%s,pool=%llu", OPTS, (unsigned long long)pool);
	mu_mount(opts);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	size = fill_until_refused("app", 0, 1, ENOSPC, model, cap);
	ck_assert_msg(size == 16 * LS, "the pool of %llu took %llu bytes",
		      (unsigned long long)pool, (unsigned long long)size);
	ck_assert_uint_le(mu_text_u64(".heapfs/pool", "used"), pool);
	expect_heap("app", model, size);

	/* Stores through a mapping past the pool are taken as an overdraft. */
	len = size + 4 * LS;
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	content(map + size, 4 * LS, 7, size);
	memcpy(model + size, map + size, 4 * LS);
	ASSERT_ERRNO(msync(map, len, MS_SYNC), ENOSPC);
	ck_assert_int_eq(msync(map, len, MS_SYNC), 0);   /* said once */
	ck_assert_int_eq(munmap(map, len), 0);
	ck_assert_uint_gt(mu_text_u64("app/stat", "overdraft"), 0);
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "used"), pool);
	/* Over the pool: writes and checkpoints, both ways, are refused. */
	ASSERT_ERRNO(pwrite(fd, "x", 1, (off_t)len), ENOSPC);
	close(fd);
	ASSERT_ERRNO(mkdir(mu_at("app/checkpoints/over"), 0700), ENOSPC);
	ck_assert_int_ne(HEAPCTL(&out, "-m", mu.mnt, "checkpoint", "app"), 0);
	free(out);
	err = mu_slurp(mu_in_root("run.err"), NULL);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, strerror(ENOSPC)) || strstr(err, "pool"), "heapctl said: %s",
		      err);
	free(err);
	mu_assert_text_line("app/stat", "checkpoints: 0");
	expect_heap("app", model, len);
	expect_store_lines("app", model, len);

	/* Nothing taken is lost, across a remount. */
	mu_unmount();
	mu_mount(opts);
	expect_heap("app", model, len);
	expect_store_lines("app", model, len);
	/* Shrunk back under the pool, the heap checkpoints and writes again. */
	ck_assert_int_eq(truncate(mu_at("app/heap"), 4 * LS), 0);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/under"), 0700), 0);
	memset(model + 4 * LS, 0, cap - 4 * LS);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	content(model + 4 * LS, LS, 9, 4 * LS);
	mu_pwrite_all(fd, model + 4 * LS, LS, 4 * LS);
	close(fd);
	expect_heap("app", model, 5 * LS);
	mu_unmount();
	free(model);
}
END_TEST

/* ---- 3. stores through a mapping over the quota ------------------------- */

START_TEST(mapped_stores_over_the_quota_are_kept_and_msync_says_edquot_once)
{
	const uint64_t quota = 4 * LINE_COST, len = 8 * LS;
	uint8_t *model = calloc(1, len), *map;
	int fd;

	ck_assert_ptr_nonnull(model);
	mu_mount(OPTS);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	xattr_set("app", "user.heapfs.quota", quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);   /* a size is no bytes */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	content(model, len, 5, 0);   /* twice the quota */
	memcpy(map, model, len);
	ASSERT_ERRNO(msync(map, len, MS_SYNC), EDQUOT);
	ck_assert_int_eq(msync(map, len, MS_SYNC), 0);   /* said once */
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_uint_gt(mu_text_u64("app/stat", "overdraft"), 0);
	ck_assert_uint_gt(mu_text_u64("app/stat", "referenced"), quota);
	/* Over its quota: writes and checkpoints are refused... */
	ASSERT_ERRNO(pwrite(fd, "x", 1, (off_t)len), EDQUOT);
	ASSERT_ERRNO(mkdir(mu_at("app/checkpoints/over"), 0700), EDQUOT);
	ck_assert_int_eq(munmap(map, len), 0);
	close(fd);
	/* ...and what the mapping stored is there, in the store too. */
	expect_heap("app", model, len);
	expect_store_lines("app", model, len);

	mu_unmount();
	mu_mount(OPTS);
	expect_heap("app", model, len);
	expect_store_lines("app", model, len);
	sigkill_and_remount(OPTS);
	expect_heap("app", model, len);
	expect_store_lines("app", model, len);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	ASSERT_ERRNO(pwrite(fd, "x", 1, (off_t)len), EDQUOT);
	close(fd);

	/* Back under the quota, a checkpoint passes. */
	ck_assert_int_eq(truncate(mu_at("app/heap"), 2 * LS), 0);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/under"), 0700), 0);
	expect_heap("app", model, 2 * LS);
	mu_unmount();
	free(model);
}
END_TEST

/* ---- 4. fallocate ------------------------------------------------------- */

static uint64_t size_of(int fd)
{
	struct stat sb;

	ck_assert_int_eq(fstat(fd, &sb), 0);
	return (uint64_t)sb.st_size;
}

START_TEST(fallocate_checks_the_quota_and_zero_range_zeroes)
{
	const uint64_t quota = 10 * LINE_COST, cap = 32 * LS;
	uint8_t *model = calloc(1, cap);
	int fd;

	ck_assert_ptr_nonnull(model);
	mu_mount(OPTS);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	xattr_set("app", "user.heapfs.quota", quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);

	/* Mode 0: the range's holes must fit the quota now. */
	ASSERT_ERRNO(fallocate(fd, 0, 0, 20 * LS), EDQUOT);
	ck_assert_uint_eq(size_of(fd), 0);
	ck_assert_int_eq(fallocate(fd, 0, 0, 4 * LS), 0);
	ck_assert_uint_eq(size_of(fd), 4 * LS);
	content(model, 4 * LS, 11, 0);
	mu_pwrite_all(fd, model, 4 * LS, 0);
	ck_assert_int_eq(fsync(fd), 0);
	/* Only the holes count: 4 more lines fit, 12 more do not. */
	ck_assert_int_eq(fallocate(fd, 0, 0, 8 * LS), 0);
	ck_assert_uint_eq(size_of(fd), 8 * LS);
	ASSERT_ERRNO(fallocate(fd, 0, 0, 16 * LS), EDQUOT);
	ASSERT_ERRNO(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 16 * LS), EDQUOT);
	ck_assert_uint_eq(size_of(fd), 8 * LS);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 * LS, 2 * LS), 0);
	ck_assert_uint_eq(size_of(fd), 8 * LS);
	expect_heap("app", model, 8 * LS);

	/* The holds are the space: lines 4-9 are set aside, so a write
	 * anywhere else finds the quota full (test_limits writes them). */
	{
		uint8_t line[LS];

		content(line, LS, 99, 20 * LS);
		ASSERT_ERRNO(pwrite(fd, line, LS, 20 * LS), EDQUOT);
	}
	ck_assert_uint_eq(size_of(fd), 8 * LS);

	/* ZERO_RANGE: whole lines become holes, the edges zeros; the size
	 * stays when the range is inside.  Like a disk's unwritten extents the
	 * range stays allocated, so it needs the room: a larger quota. */
	xattr_set("app", "user.heapfs.quota", 3 * quota);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, LS / 2, 2 * LS), 0);
	memset(model + LS / 2, 0, 2 * LS);
	ck_assert_uint_eq(size_of(fd), 8 * LS);
	expect_heap("app", model, 8 * LS);
	expect_store_lines("app", model, 8 * LS);
	ck_assert_int_eq(access(mu_at("app/lines/%016x", LS), F_OK), -1);   /* line 1: a hole */
	ck_assert_int_eq(access(mu_at("app/lines/%016x", 0), F_OK), 0);
	/* Past the end it extends, as on Linux, unless KEEP_SIZE. */
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE, 7 * LS + 100, 2 * LS), 0);
	ck_assert_uint_eq(size_of(fd), 9 * LS + 100);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 9 * LS, 4 * LS),
			 0);
	ck_assert_uint_eq(size_of(fd), 9 * LS + 100);
	/* A written line zeroed in part, through the page cache and the store. */
	content(model + 5 * LS, LS, 12, 5 * LS);
	mu_pwrite_all(fd, model + 5 * LS, LS, 5 * LS);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 5 * LS + 10, 20),
			 0);
	memset(model + 5 * LS + 10, 0, 20);
	close(fd);
	expect_heap("app", model, 9 * LS + 100);
	expect_store_lines("app", model, 9 * LS + 100);
	mu_unmount();
	mu_mount(OPTS);
	expect_heap("app", model, 9 * LS + 100);
	mu_unmount();
	free(model);
}
END_TEST

/* ---- 5. transactions ---------------------------------------------------- */

START_TEST(txn_commit_over_the_quota_fails_with_edquot_and_changes_nothing)
{
	const uint64_t quota = 6 * LINE_COST;
	uint8_t model[3 * LS], buf[LS];
	uint64_t ref;
	int fd, t;

	mu_mount(OPTS);
	/* This one made by heapctl create --quota. */
	{
		char q[32], *out;

		snprintf(q, sizeof(q), "%llu", (unsigned long long)quota);
		ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "create", "app", "--line", "4K", "--quota", q), 0);
		free(out);
	}
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.quota"), quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	content(model, sizeof(model), 1, 0);
	mu_pwrite_all(fd, model, sizeof(model), 0);
	ck_assert_int_eq(fsync(fd), 0);
	ref = mu_text_u64("app/stat", "referenced");

	/* Line 0 rewritten and 5 new lines: 8 lines' worth, over 6. */
	t = mu_open(mu_at("app/txn"), O_RDWR);
	for (uint64_t l = 0; l < 8; l++) {
		if (l == 1 || l == 2)
			continue;
		content(buf, LS, 100, l * LS);
		mu_pwrite_all(t, buf, LS, l * LS);
	}
	ASSERT_ERRNO(fsync(t), EDQUOT);
	close(t);
	/* None of it: not the rewrite, not the size, not a line. */
	expect_heap("app", model, sizeof(model));
	expect_store_lines("app", model, sizeof(model));
	ck_assert_int_eq(access(mu_at("app/lines/%016x", 3 * LS), F_OK), -1);
	ck_assert_uint_eq(mu_text_u64("app/stat", "referenced"), ref);

	/* One that fits commits. */
	t = mu_open(mu_at("app/txn"), O_RDWR);
	content(buf, LS, 200, 0);
	mu_pwrite_all(t, buf, LS, 0);
	ck_assert_int_eq(fsync(t), 0);
	close(t);
	memcpy(model, buf, LS);
	expect_heap("app", model, sizeof(model));
	close(fd);
	mu_unmount();
}
END_TEST

/* ---- 6. reservations ------------------------------------------------------ */

START_TEST(reservation_holds_while_another_heap_fills_the_pool)
{
	const uint64_t pool = 24 * LINE_COST, reserve = 6 * LINE_COST, cap = 64 * LS;
	uint8_t *model = calloc(1, cap), bmodel[6 * LS];
	uint64_t size;
	char opts[128];
	int fd;

	ck_assert_ptr_nonnull(model);
	snprintf(opts, sizeof(opts), "%s,pool=%llu", OPTS, (unsigned long long)pool);
	mu_mount(opts);
	ck_assert_int_eq(mkdir(mu_at("a"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("b"), 0700), 0);
	/* More than the pool can promise is refused; what it can is kept. */
	{
		char val[32];

		snprintf(val, sizeof(val), "%llu", (unsigned long long)(pool + 1));
		ASSERT_ERRNO(setxattr(mu_at("b"), "user.heapfs.reserve", val, strlen(val), 0),
			     ENOSPC);
	}
	ck_assert_uint_eq(mu_xattr_u64("b", "user.heapfs.reserve"), 0);
	xattr_set("b", "user.heapfs.reserve", reserve);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "reserved_unused"), reserve);
	/* Kept across a remount, where it binds as before. */
	mu_unmount();
	mu_mount(opts);
	ck_assert_uint_eq(mu_xattr_u64("b", "user.heapfs.reserve"), reserve);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "reserved_unused"), reserve);

	/* a fills the pool less b's reservation. */
	size = fill_until_refused("a", 0, 1, ENOSPC, model, cap);
	ck_assert_msg(size == 18 * LS, "a took %llu bytes of a pool of %llu "
		      "with %llu reserved", (unsigned long long)size, (unsigned long long)pool,
		      (unsigned long long)reserve);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "reserved_unused"), reserve);
	/* b's reservation is all there. */
	fd = mu_open(mu_at("b/heap"), O_RDWR);
	for (uint64_t l = 0; l < 6; l++) {
		content(bmodel + l * LS, LS, 50, l * LS);
		ck_assert_msg(pwrite(fd, bmodel + l * LS, LS, (off_t)(l * LS)) == (ssize_t)LS,
			      "b's line %llu: %s", (unsigned long long)l, strerror(errno));
	}
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	ck_assert_uint_lt(mu_text_u64(".heapfs/pool", "reserved_unused"), reserve / 6);
	/* a cannot reserve what a and b hold. */
	{
		char val[32];

		snprintf(val, sizeof(val), "%llu", (unsigned long long)pool);
		ASSERT_ERRNO(setxattr(mu_at("a"), "user.heapfs.reserve", val, strlen(val), 0),
			     ENOSPC);
	}
	ck_assert_uint_eq(mu_xattr_u64("a", "user.heapfs.reserve"), 0);
	/* b's reservation used, what the pool has left is less than a line. */
	ck_assert_uint_eq(fill_until_refused("a", size, 2, ENOSPC, model, cap), 0);
	ck_assert_uint_le(mu_text_u64(".heapfs/pool", "used"), pool);
	expect_heap("a", model, size);
	expect_heap("b", bmodel, sizeof(bmodel));
	mu_unmount();
	free(model);
}
END_TEST

/* ---- 7. deleting checkpoints frees space, also for a waiting write ----- */

struct waiter {
	char path[320];   /* app/heap, made before: mu_at's buffers are not the thread's */
	ssize_t r;
	int err;
	double took_s;
	uint64_t seed;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint8_t buf[LS];
	int fd = open(w->path, O_RDWR);
	double t0 = mu_now();

	content(buf, LS, w->seed, 2 * LS);
	w->r = fd < 0 ? -1 : pwrite(fd, buf, LS, 2 * LS);
	w->err = errno;
	w->took_s = mu_now() - t0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* The number of app's checkpoint labelled @label (its symlink's target). */
static const char *ckpt_number(const char *label)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "app/checkpoints/%s", label);
	return mu_readlink_at(rel);
}

START_TEST(deleting_a_checkpoint_lets_a_refused_write_pass)
{
	const uint64_t quota = 4 * LINE_COST;
	uint8_t model[4 * LS];
	struct waiter w = { 0 };
	pthread_t th;
	int fd;

	mu_mount(OPTS);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	xattr_set("app", "user.heapfs.quota", quota);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	content(model, sizeof(model), 1, 0);
	mu_pwrite_all(fd, model, sizeof(model), 0);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c1"), 0700), 0);
	/* The checkpoint pins line 1: rewriting it needs new bytes. */
	content(model + LS, LS, 2, LS);
	ASSERT_ERRNO(pwrite(fd, model + LS, LS, LS), EDQUOT);
	ck_assert_int_eq(rmdir(mu_at("app/checkpoints/%s", ckpt_number("c1"))), 0);
	mu_pwrite_all(fd, model + LS, LS, LS);   /* the retry passes */
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	expect_heap("app", model, sizeof(model));

	/* With wait=3000 a refused write waits that long for space... */
	mu_unmount();
	{
		char opts[64];

		snprintf(opts, sizeof(opts), "%s,wait=3000", OPTS);   /* the last wait= counts */
		mu_mount(opts);
	}
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c2"), 0700), 0);
	snprintf(w.path, sizeof(w.path), "%s", mu_at("app/heap"));
	w.seed = 3;
	waiter_main(&w);
	ck_assert_msg(w.r == -1 && w.err == EDQUOT, "the write gave %zd (%s)", w.r,
		      strerror(w.err));
	ck_assert_msg(w.took_s >= 2.9 && w.took_s < 10, "it gave up after %.2f s", w.took_s);
	/* ...and passes when a checkpoint is removed meanwhile. */
	w.seed = 4;
	ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
	mu_sleep_ms(500);
	ck_assert_int_eq(rmdir(mu_at("app/checkpoints/%s", ckpt_number("c2"))), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(w.r == (ssize_t)LS, "the waiting write gave %zd (%s)", w.r, strerror(w.err));
	ck_assert_msg(w.took_s >= 0.4 && w.took_s < 2.9, "it took %.2f s", w.took_s);
	content(model + 2 * LS, LS, 4, 2 * LS);
	expect_heap("app", model, sizeof(model));
	mu_unmount();
	mu_mount(OPTS);
	expect_heap("app", model, sizeof(model));
	mu_unmount();
}
END_TEST

static Suite *limits_suite(void)
{
	Suite *s = suite_create("limits_mount");
	TCase *tc = mu_tcase_new(s, "limits", setup);

	tcase_add_loop_test(tc, quota_refuses_write_with_edquot_and_keeps_every_byte_taken, 0, 2);
	tcase_add_loop_test(tc, pool_refuses_write_and_checkpoint_with_enospc, 0, 2);
	tcase_add_loop_test(tc, mapped_stores_over_the_quota_are_kept_and_msync_says_edquot_once, 0, 2);
	tcase_add_loop_test(tc, fallocate_checks_the_quota_and_zero_range_zeroes, 0, 2);
	tcase_add_loop_test(tc, txn_commit_over_the_quota_fails_with_edquot_and_changes_nothing, 0, 2);
	tcase_add_loop_test(tc, reservation_holds_while_another_heap_fills_the_pool, 0, 2);
	tcase_add_loop_test(tc, deleting_a_checkpoint_lets_a_refused_write_pass, 0, 2);
	return s;
}

int main(void)
{
	return mu_main(limits_suite());
}
