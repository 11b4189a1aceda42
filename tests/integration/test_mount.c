/*
 * test_mount.c - the mount contract (DESIGN.md part 1, "The tree" and
 * "Shell semantics") checked on a real heapfs mount, one fresh store and
 * mount per test: heaps as directories, hostile names, heap file I/O,
 * mmap coherence between processes, lines/, checkpoints/ and .heapfs/.
 *
 * Every refused call asserts its exact errno and then re-reads to show
 * nothing changed.  Real programs (rm, cat, cmp, sh) run where the
 * contract names them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "mount_util.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define LS (64 * KiB)                  /* the default line size */
#define HEAP_SIZE_MAX (1ULL << 56)     /* heapstore.h HS_HEAP_SIZE_MAX */

/* The call failed with exactly @e. */
#define ck_assert_errno(expr, e)                                                  \
	do {                                                                      \
		errno = 0;                                                        \
		long long r_ = (long long)(expr);                                 \
		int e_ = errno;                                                   \
		ck_assert_msg(r_ == -1 && e_ == (e), "%s: got %lld, errno %d (%s); want -1, %s", \
			      #expr, r_, e_, strerror(e_), #e);                   \
	} while (0)

/* The call succeeded (returned 0). */
#define ck_assert_ok(expr)                                                        \
	do {                                                                      \
		errno = 0;                                                        \
		long long r_ = (long long)(expr);                                 \
		ck_assert_msg(r_ == 0, "%s: got %lld, errno %d (%s)", #expr, r_,  \
			      errno, strerror(errno));                            \
	} while (0)

/* ---- helpers -------------------------------------------------------- */

static int heap_new(const char *name)
{
	ck_assert_msg(mkdir(mu_at("%s", name), 0755) == 0, "mkdir %s: %s", name,
		      strerror(errno));
	return mu_open(mu_at("%s/heap", name), O_RDWR);
}

/* Fill [off, off + len) of @fd with mu_fill(@seed) content; returns it (malloc'd). */
static uint8_t *write_fill(int fd, uint64_t seed, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	mu_fill(buf, len, seed, off);
	mu_pwrite_all(fd, buf, len, off);
	return buf;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static off_t size_of(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st.st_size;
}

/* readdir of @path relative to the mount, as "a\nb\n". */
static char *list_at(const char *rel)
{
	char *l = mu_list(mu_at("%s", rel));

	ck_assert_msg(l != NULL, "readdir %s: %s", rel, strerror(errno));
	return l;
}

static void assert_list(const char *rel, const char *want)
{
	char *l = list_at(rel);

	ck_assert_msg(strcmp(l, want) == 0, "readdir %s:\n%s\nwant:\n%s", rel, l, want);
	free(l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* readdir of @rel holds exactly the names in @want, in any order. */
static void assert_set(const char *rel, const char *want)
{
	char *l = list_at(rel), *got = mu_lines_sorted(l), *w = mu_lines_sorted(want);

	ck_assert_msg(strcmp(got, w) == 0, "readdir %s (sorted):\n%s\nwant:\n%s", rel, got, w);
	free(l);
	free(got);
	free(w);
}

static uint64_t used_bytes(void)
{
	struct statvfs sv;

	ck_assert_ok(statvfs(mu.mnt, &sv));
	return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

/* The whole file at @rel (relative to the mount), length in *@len. */
static uint8_t *slurp_at(const char *rel, size_t *len)
{
	uint8_t *b = (uint8_t *)mu_slurp(mu_at("%s", rel), len);

	ck_assert_msg(b != NULL, "read %s: %s", rel, strerror(errno));
	return b;
}

/* ---- tree ------------------------------------------------------------ */

START_TEST(mkdir_creates_empty_heap_with_default_line_size)
{
	struct stat st;

	ck_assert_ok(mkdir(mu_at("app"), 0755));
	ck_assert_ok(stat(mu_at("app"), &st));
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_ok(stat(mu_at("app/heap"), &st));
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 0);
	mu_assert_text_line("app/stat", "line_size: 65536");
	mu_assert_text_line("app/stat", "size: 0");
	assert_set("", ".heapfs\napp\n");
	assert_set("app", "heap\nlines\nstate\nstat\ntxn\ncheckpoints\nevents\nballoon\n");
	assert_list("app/lines", "");
	assert_set("app/checkpoints", "");
}
END_TEST

static void setup_line16k(void)
{
	mu_root_make();
	mu_mount("line=16K");
}

START_TEST(mkdir_uses_the_mount_line_size)
{
	int fd = heap_new("app");

	mu_assert_text_line("app/stat", "line_size: 16384");
	/* The lines are 16 KiB: a byte at 16 KiB is the second line. */
	mu_pwrite_all(fd, "x", 1, 16 * KiB);
	close(fd);
	assert_list("app/lines", "0000000000004000\n");
}
END_TEST

START_TEST(truncate_8g_is_sparse)
{
	uint64_t before, after;
	uint8_t buf[4096];
	struct stat st;
	int fd = heap_new("app");

	before = used_bytes();
	ck_assert_ok(ftruncate(fd, (off_t)(8 * GiB)));
	ck_assert_ok(fstat(fd, &st));
	ck_assert_int_eq(st.st_size, (off_t)(8 * GiB));
	ck_assert_int_eq(st.st_blocks, 0);
	ck_assert_int_eq(size_of(mu_at("app/heap")), (off_t)(8 * GiB));
	mu_pread_all(fd, buf, sizeof(buf), 5 * GiB);
	ck_assert(all_zero(buf, sizeof(buf)));
	ck_assert_ok(fsync(fd));
	close(fd);
	after = used_bytes();
	ck_assert_msg(after < before + MiB, "df used grew from %llu to %llu for a sparse 8G heap",
		      (unsigned long long)before, (unsigned long long)after);
	assert_list("app/lines", "");
	mu_assert_text_line("app/stat", "lines_used: 0");
}
END_TEST

START_TEST(rmdir_deletes_heap)
{
	struct stat st;
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, 3 * LS));
	close(fd);
	ck_assert_ok(rmdir(mu_at("app")));
	ck_assert_errno(stat(mu_at("app"), &st), ENOENT);
	ck_assert_errno(stat(mu_at("app/heap"), &st), ENOENT);
	assert_set("", ".heapfs\n");
	/* The name is free again, for a new empty heap. */
	ck_assert_ok(mkdir(mu_at("app"), 0755));
	ck_assert_int_eq(size_of(mu_at("app/heap")), 0);
	assert_list("app/lines", "");
}
END_TEST

/*
 * A directory descriptor kept across a delete and a re-create of its heap
 * names the deleted heap: nothing under it reaches the new one.  (Child
 * nodes once reopened their heap by name, and a delete and re-create
 * between the two calls of a lookup gave the old node the new heap; they
 * now duplicate their parent's handle.)
 */
START_TEST(old_heap_directory_never_reaches_a_new_heap_of_its_name)
{
	struct stat st;
	char buf[8];
	int dfd, fd = heap_new("app");

	free(write_fill(fd, 1, 0, LS));
	close(fd);
	dfd = open(mu_at("app"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	ck_assert_ok(rmdir(mu_at("app")));
	fd = heap_new("app");
	ck_assert_int_eq(pwrite(fd, "newheap", 7, 0), 7);
	close(fd);
	fd = openat(dfd, "heap", O_RDONLY);
	ck_assert_msg(fd < 0 && (errno == ENOENT || errno == ESTALE),
		      "openat(old app dir, heap): fd %d, errno %d", fd, fd < 0 ? errno : 0);
	ck_assert_errno(fstatat(dfd, "stat", &st, 0), ENOENT);
	close(dfd);
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, 7, 0), 7);
	ck_assert(memcmp(buf, "newheap", 7) == 0);
	close(fd);
}
END_TEST

/* `rm -r MNT/app`, the real rm; its exit status and what it said. */
static void rm_r_app(void)
{
	char *argv[] = { "rm", "-r", (char *)(uintptr_t)mu_at("app"), NULL };
	char *err;
	int rc = mu_run(NULL, mu_in_root("rm.err"), argv);

	err = mu_slurp(mu_in_root("rm.err"), NULL);
	ck_assert_msg(rc >= 0 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0,
		      "rm -r MNT/app: status 0x%x; it said: %s", rc, err ? err : "");
	free(err);
}

START_TEST(rm_r_deletes_heap_with_lines)
{
	struct stat st;
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, LS));
	free(write_fill(fd, 2, 3 * LS + 5, 100));
	close(fd);
	ck_assert_ok(mkdir(mu_at("other"), 0755));
	rm_r_app();
	ck_assert_errno(stat(mu_at("app"), &st), ENOENT);
	assert_set("", ".heapfs\nother\n");
}
END_TEST

START_TEST(rm_r_deletes_heap_with_lines_and_checkpoints)
{
	struct stat st;
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, LS));
	free(write_fill(fd, 2, 3 * LS + 5, 100));
	ck_assert_ok(mkdir(mu_at("app/checkpoints/before-upgrade"), 0755));
	free(write_fill(fd, 3, 7 * LS, 10));
	ck_assert_ok(mkdir(mu_at("app/checkpoints/after"), 0755));
	close(fd);
	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n2\nafter\n");
	rm_r_app();
	ck_assert_errno(stat(mu_at("app"), &st), ENOENT);
	assert_set("", ".heapfs\n");
}
END_TEST

/* ---- hostile names --------------------------------------------------- */

#define KERNEL_REFUSES (-1)   /* the kernel answers; any failure will do */

static const struct name_case {
	const char *why;
	const char *name;    /* NULL: @len_a bytes of 'a' */
	size_t len_a;
	int err;             /* 0: accepted */
} name_cases[] = {
	{ "201 bytes", NULL, 201, EINVAL },
	{ "255 bytes", NULL, 255, EINVAL },
	{ "a space", "my heap", 0, EINVAL },
	{ "a leading dot", ".hidden", 0, EINVAL },
	{ "non-ASCII", "h\xc3\xa9" "ap", 0, EINVAL },
	{ "a tab", "tab\t", 0, EINVAL },
	{ "a newline", "nl\n", 0, EINVAL },
	{ "a colon", "a:b", 0, EINVAL },
	{ "a star", "a*", 0, EINVAL },
	{ "..", "..", 0, KERNEL_REFUSES },
	{ ".", ".", 0, KERNEL_REFUSES },
	{ ".heapfs", ".heapfs", 0, EEXIST },
	{ "200 bytes", NULL, 200, 0 },
	{ "every allowed kind", "Az09._-", 0, 0 },
	{ "a leading dash", "-x", 0, 0 },
};

START_TEST(mkdir_heap_names)
{
	const struct name_case *c = &name_cases[_i];
	char name[300], want[1024];
	const char *names[3] = { "alpha", "beta", name };
	struct stat st;
	int rc, e;

	if (c->name)
		snprintf(name, sizeof(name), "%s", c->name);
	else {
		memset(name, 'a', c->len_a);
		name[c->len_a] = '\0';
	}
	ck_assert_ok(mkdir(mu_at("alpha"), 0755));
	ck_assert_ok(mkdir(mu_at("beta"), 0755));

	errno = 0;
	rc = mkdir(mu_at("%s", name), 0755);
	e = errno;
	if (c->err == 0) {
		ck_assert_msg(rc == 0, "mkdir of a name with %s: %s", c->why, strerror(e));
		ck_assert_int_eq(size_of(mu_at("%s/heap", name)), 0);
		qsort(names, 3, sizeof(names[0]), cmp_str);
		snprintf(want, sizeof(want), ".heapfs\n%s\n%s\n%s\n", names[0], names[1], names[2]);
	} else {
		if (c->err == KERNEL_REFUSES)
			ck_assert_msg(rc == -1, "mkdir \"%s\" succeeded", name);
		else
			ck_assert_msg(rc == -1 && e == c->err,
				      "mkdir of a name with %s: rc %d, errno %d (%s), want %s",
				      c->why, rc, e, strerror(e), strerror(c->err));
		if (c->err == EINVAL)
			ck_assert_errno(stat(mu_at("%s", name), &st), ENOENT);
		snprintf(want, sizeof(want), ".heapfs\nalpha\nbeta\n");
	}
	assert_set("", want);
	/* Nothing else moved: the heaps made before are intact and empty. */
	ck_assert_int_eq(size_of(mu_at("alpha/heap")), 0);
	ck_assert_int_eq(size_of(mu_at("beta/heap")), 0);
}
END_TEST

/* ---- heap file I/O --------------------------------------------------- */

START_TEST(pwrite_pread_span_lines_unaligned)
{
	const uint64_t off = LS / 2 + 13;
	const size_t len = 3 * LS + 777;   /* touches four lines, none whole at the ends */
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, off, len);
	uint8_t *got = malloc(off + len + 100), small[100];
	struct stat st;

	ck_assert_ptr_nonnull(got);
	ck_assert_ok(fstat(fd, &st));
	ck_assert_int_eq(st.st_size, (off_t)(off + len));
	/* One read of everything: short at the end, zeros before the write. */
	ck_assert_int_eq(pread(fd, got, off + len + 100, 0), (ssize_t)(off + len));
	ck_assert(all_zero(got, off));
	ck_assert(memcmp(got + off, want, len) == 0);
	/* An unaligned read across a line boundary. */
	mu_pread_all(fd, small, sizeof(small), 2 * LS - 50);
	ck_assert(memcmp(small, want + (2 * LS - 50 - off), sizeof(small)) == 0);
	close(fd);
	/* The daemon's copy, not just the page cache: the line files. */
	free(got);
	{
		size_t n;
		uint8_t *line2 = slurp_at("app/lines/0000000000020000", &n);

		ck_assert_uint_eq(n, LS);
		ck_assert(memcmp(line2, want + (2 * LS - off), LS) == 0);
		free(line2);
	}
	assert_list("app/lines", "0000000000000000\n0000000000010000\n0000000000020000\n"
		    "0000000000030000\n");
	free(want);
}
END_TEST

START_TEST(read_past_end_is_short)
{
	uint8_t buf[100];
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, 1000));
	ck_assert_int_eq(pread(fd, buf, 100, 950), 50);
	ck_assert_int_eq(pread(fd, buf, 100, 1000), 0);
	ck_assert_int_eq(pread(fd, buf, 100, (off_t)(10 * GiB)), 0);
	ck_assert_int_eq(size_of(mu_at("app/heap")), 1000);
	close(fd);
}
END_TEST

/*
 * Writes the heap cannot hold (it ends at 2^56).  A write that starts
 * below the limit and crosses it is split by the kernel at the page
 * boundary: the part below is written and the call returns that count,
 * as write(2) does at a file size limit (POSIX: "only as many bytes as
 * there is room for"); the next write, at the limit, fails EFBIG.  A
 * write at or past the limit fails EFBIG from the daemon.  Near INT64_MAX
 * the kernel answers first: EINVAL when offset + count overflows loff_t
 * (rw_verify_area), EFBIG otherwise.  Observed: 10, EFBIG, EFBIG, EFBIG,
 * EINVAL.
 */
static const struct {
	uint64_t off;
	size_t len;
	ssize_t partial;     /* a short count allowed instead of -1 (0: none) */
	int err, or_err;
} too_far[] = {
	{ HEAP_SIZE_MAX - 10, 100, 10, EFBIG, EFBIG },
	{ HEAP_SIZE_MAX, 1, 0, EFBIG, EFBIG },
	{ HEAP_SIZE_MAX + 5 * 4096 + 7, 100, 0, EFBIG, EFBIG },
	{ (uint64_t)INT64_MAX - 200, 100, 0, EFBIG, EINVAL },
	{ (uint64_t)INT64_MAX - 50, 100, 0, EFBIG, EINVAL },
};

START_TEST(pwrite_beyond_the_limit_is_refused)
{
	uint8_t buf[100], got[1000];
	int fd = heap_new("app"), e;
	uint8_t *want = write_fill(fd, 1, 0, 1000);
	ssize_t r;

	memset(buf, 0xab, sizeof(buf));
	errno = 0;
	r = pwrite(fd, buf, too_far[_i].len, (off_t)too_far[_i].off);
	e = errno;
	if (too_far[_i].partial && r == too_far[_i].partial) {
		/* Written up to the limit exactly; the rest is refused. */
		ck_assert_int_eq(size_of(mu_at("app/heap")), (off_t)HEAP_SIZE_MAX);
		ck_assert_errno(pwrite(fd, buf + r, too_far[_i].len - (size_t)r,
				       (off_t)(too_far[_i].off + (uint64_t)r)), EFBIG);
		ck_assert_int_eq(size_of(mu_at("app/heap")), (off_t)HEAP_SIZE_MAX);
		assert_list("app/lines", "0000000000000000\n00ffffffffff0000\n");
	} else {
		ck_assert_msg(r == -1 && (e == too_far[_i].err || e == too_far[_i].or_err),
			      "pwrite %zu at %llu: %zd, errno %d (%s)", too_far[_i].len,
			      (unsigned long long)too_far[_i].off, r, e, strerror(e));
		ck_assert_int_eq(size_of(mu_at("app/heap")), 1000);
		assert_list("app/lines", "0000000000000000\n");
		mu_assert_text_line("app/stat", "size: 1000");
	}
	close(fd);
	/* Line 0 as the daemon has it (not the page cache): unchanged. */
	fd = mu_open(mu_at("app/lines/0000000000000000"), O_RDONLY);
	mu_pread_all(fd, got, sizeof(got), 0);
	ck_assert(memcmp(got, want, sizeof(got)) == 0);
	close(fd);
	free(want);
}
END_TEST

START_TEST(shell_redirect_truncates_heap_and_line)
{
	char cmd[PATH_MAX + 64];
	uint8_t got[LS];
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, 3 * LS));
	/* `: > lines/X` empties that line (O_TRUNC arrives with the open). */
	snprintf(cmd, sizeof(cmd), ": > '%s'/app/lines/0000000000010000", mu.mnt);
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	assert_list("app/lines", "0000000000000000\n0000000000020000\n");
	mu_pread_all(fd, got, LS, LS);
	ck_assert(all_zero(got, LS));
	ck_assert_int_eq(size_of(mu_at("app/heap")), (off_t)(3 * LS));
	/* `: > heap` makes it empty, also for a descriptor already open. */
	snprintf(cmd, sizeof(cmd), ": > '%s'/app/heap", mu.mnt);
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	ck_assert_int_eq(size_of(mu_at("app/heap")), 0);
	assert_list("app/lines", "");
	ck_assert_ok(ftruncate(fd, LS));
	mu_pread_all(fd, got, LS, 0);
	ck_assert(all_zero(got, LS));
	close(fd);
}
END_TEST

START_TEST(pread_at_negative_offset_is_einval)
{
	uint8_t buf[16];
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, 100));
	ck_assert_errno(syscall(SYS_pread64, fd, buf, sizeof(buf), (off_t)-1), EINVAL);
	ck_assert_errno(syscall(SYS_pwrite64, fd, buf, sizeof(buf), (off_t)-1), EINVAL);
	ck_assert_int_eq(size_of(mu_at("app/heap")), 100);
	close(fd);
}
END_TEST

START_TEST(truncate_shrink_then_grow_reads_zeros)
{
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, 0, 3 * LS);
	uint8_t *got = malloc(3 * LS);
	size_t n;

	ck_assert_ptr_nonnull(got);
	ck_assert_ok(ftruncate(fd, 1000));
	ck_assert_int_eq(size_of(mu_at("app/heap")), 1000);
	assert_list("app/lines", "0000000000000000\n");
	ck_assert_ok(ftruncate(fd, 3 * LS));
	mu_pread_all(fd, got, 3 * LS, 0);
	ck_assert(memcmp(got, want, 1000) == 0);
	ck_assert_msg(all_zero(got + 1000, 3 * LS - 1000), "old bytes came back after grow");
	close(fd);
	free(got);
	/* The daemon's copy of line 0 is zero past the old end too. */
	got = slurp_at("app/lines/0000000000000000", &n);
	ck_assert_uint_eq(n, LS);
	ck_assert(memcmp(got, want, 1000) == 0 && all_zero(got + 1000, LS - 1000));
	assert_list("app/lines", "0000000000000000\n");
	free(got);
	free(want);
}
END_TEST

START_TEST(punch_hole_zeroes_range_and_drops_whole_line)
{
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, 0, 3 * LS);
	uint8_t *got = malloc(3 * LS);
	size_t n;

	ck_assert_ptr_nonnull(got);
	ck_assert_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, LS / 2, 2 * LS));
	ck_assert_int_eq(size_of(mu_at("app/heap")), 3 * LS);
	mu_pread_all(fd, got, 3 * LS, 0);
	ck_assert(memcmp(got, want, LS / 2) == 0);
	ck_assert(all_zero(got + LS / 2, 2 * LS));
	ck_assert(memcmp(got + 5 * LS / 2, want + 5 * LS / 2, LS / 2) == 0);
	close(fd);
	free(got);
	/* Line 1 is gone; lines 0 and 2 keep their halves (the daemon's copy). */
	assert_list("app/lines", "0000000000000000\n0000000000020000\n");
	got = slurp_at("app/lines/0000000000000000", &n);
	ck_assert_uint_eq(n, LS);
	ck_assert(memcmp(got, want, LS / 2) == 0 && all_zero(got + LS / 2, LS / 2));
	free(got);
	free(want);
}
END_TEST

START_TEST(seek_data_and_hole_give_exact_offsets)
{
	static const struct {
		const char *heap;
		off_t off;
		int whence;
		off_t want;          /* -1: ENXIO */
	} seeks[] = {
		{ "app", 0, SEEK_DATA, 2 * LS },
		{ "app", 2 * LS + 50, SEEK_DATA, 2 * LS + 50 },
		{ "app", 0, SEEK_HOLE, 0 },
		{ "app", 2 * LS, SEEK_HOLE, 4 * LS },
		{ "app", 3 * LS + 5, SEEK_HOLE, 4 * LS },
		{ "app", 4 * LS, SEEK_DATA, 7 * LS },
		{ "app", 5 * LS + 3, SEEK_DATA, 7 * LS },
		{ "app", 7 * LS, SEEK_HOLE, 8 * LS },
		{ "app", 8 * LS, SEEK_DATA, -1 },
		{ "app", 8 * LS, SEEK_HOLE, 8 * LS },
		{ "app", 10 * LS - 1, SEEK_HOLE, 10 * LS - 1 },
		{ "app", 10 * LS, SEEK_DATA, -1 },
		{ "app", 10 * LS, SEEK_HOLE, -1 },
		{ "app", 20 * LS, SEEK_DATA, -1 },
		/* Data in the last, partial line: the hole is the end. */
		{ "tail", 0, SEEK_DATA, 2 * LS },
		{ "tail", 2 * LS + 10, SEEK_HOLE, 5 * LS / 2 },
	};
	int app = heap_new("app"), tail = heap_new("tail");

	ck_assert_ok(ftruncate(app, 10 * LS));
	free(write_fill(app, 1, 2 * LS + 100, 100));
	free(write_fill(app, 2, 4 * LS - 10, 10));
	free(write_fill(app, 3, 7 * LS, 1));
	ck_assert_int_eq(size_of(mu_at("app/heap")), 10 * LS);
	ck_assert_ok(ftruncate(tail, 5 * LS / 2));
	free(write_fill(tail, 4, 2 * LS + 1, 1));
	for (size_t i = 0; i < sizeof(seeks) / sizeof(seeks[0]); i++) {
		int fd = strcmp(seeks[i].heap, "app") == 0 ? app : tail;
		off_t got;
		int e;

		errno = 0;
		got = lseek(fd, seeks[i].off, seeks[i].whence);
		e = errno;
		if (seeks[i].want < 0)
			ck_assert_msg(got == -1 && e == ENXIO,
				      "%s: lseek(%lld, %s) = %lld (%s), want ENXIO", seeks[i].heap,
				      (long long)seeks[i].off,
				      seeks[i].whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE",
				      (long long)got, strerror(e));
		else
			ck_assert_msg(got == seeks[i].want,
				      "%s: lseek(%lld, %s) = %lld (%s), want %lld", seeks[i].heap,
				      (long long)seeks[i].off,
				      seeks[i].whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE",
				      (long long)got, got < 0 ? strerror(e) : "",
				      (long long)seeks[i].want);
	}
	close(app);
	close(tail);
}
END_TEST

START_TEST(fsync_returns_zero)
{
	int fd = heap_new("app"), lfd, ro;

	free(write_fill(fd, 1, 0, 3 * LS));
	ck_assert_ok(fsync(fd));
	ck_assert_ok(fdatasync(fd));
	ro = mu_open(mu_at("app/heap"), O_RDONLY);
	ck_assert_ok(fsync(ro));
	lfd = mu_open(mu_at("app/lines/0000000000010000"), O_RDWR);
	mu_pwrite_all(lfd, "abc", 3, 10);
	ck_assert_ok(fsync(lfd));
	close(lfd);
	close(ro);
	close(fd);
}
END_TEST

START_TEST(data_survives_remount)
{
	int fd = heap_new("app"), fd2;
	uint8_t *a = write_fill(fd, 1, 100, 2 * LS);
	uint8_t *b = write_fill(fd, 2, GiB + 7, 5000), *got;
	uint8_t *c;
	char *lines_before, *lines_after;

	ck_assert_ok(mkdir(mu_at("app/checkpoints/keep"), 0755));
	c = write_fill(fd, 3, 100, 10);   /* after the checkpoint: live only */
	close(fd);
	fd2 = heap_new("other");
	free(write_fill(fd2, 4, 0, 1));
	close(fd2);
	lines_before = list_at("app/lines");

	mu_remount();

	assert_set("", ".heapfs\napp\nother\n");
	ck_assert_int_eq(size_of(mu_at("app/heap")), (off_t)(GiB + 7 + 5000));
	ck_assert_int_eq(size_of(mu_at("other/heap")), 1);
	lines_after = list_at("app/lines");
	ck_assert_str_eq(lines_after, lines_before);
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	got = malloc(2 * LS);
	ck_assert_ptr_nonnull(got);
	mu_pread_all(fd, got, 2 * LS, 100);
	ck_assert(memcmp(got, c, 10) == 0);
	ck_assert(memcmp(got + 10, a + 10, 2 * LS - 10) == 0);
	mu_pread_all(fd, got, 5000, GiB + 7);
	ck_assert(memcmp(got, b, 5000) == 0);
	close(fd);
	/* The checkpoint too: the old bytes at 100. */
	assert_set("app/checkpoints", "latest\n1\nkeep\n");
	ck_assert_int_eq(size_of(mu_at("app/checkpoints/1/heap")), (off_t)(GiB + 7 + 5000));
	fd = mu_open(mu_at("app/checkpoints/1/heap"), O_RDONLY);
	mu_pread_all(fd, got, 2 * LS, 100);
	ck_assert(memcmp(got, a, 2 * LS) == 0);
	close(fd);
	free(got);
	free(a);
	free(b);
	free(c);
	free(lines_before);
	free(lines_after);
}
END_TEST

/* ---- mmap --------------------------------------------------------------- */

static const char parent_words[] = "PARENT-WROTE-THIS";

/* The child: map, write through the mapping, msync, then see the parent's pwrite. */
static int mmap_child(const char *path, int to_parent, int from_parent)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t *m, want[4000];
	char c = 0;

	if (fd < 0)
		return 10;
	m = mmap(NULL, 2 * LS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return 11;
	/* Fault page 0 in before the parent writes it: its copy must change. */
	if (!all_zero(m, sizeof(parent_words)))
		return 12;
	mu_fill(want, sizeof(want), 7, LS + 100);
	memcpy(m + LS + 100, want, sizeof(want));
	if (msync(m, 2 * LS, MS_SYNC) != 0)
		return 13;
	if (write(to_parent, "w", 1) != 1)
		return 14;
	if (read(from_parent, &c, 1) != 1 || c != 'p')
		return 15;
	if (memcmp(m + 10, parent_words, sizeof(parent_words)) != 0)
		return 16;
	munmap(m, 2 * LS);
	close(fd);
	return 0;
}

START_TEST(mmap_writes_are_shared_between_processes)
{
	int fd = heap_new("app"), to_child[2], to_parent[2], st;
	uint8_t *m, want[4000], got[4000];
	bool seen_map, seen_read;
	char c = 0, *lines;
	pid_t pid;

	ck_assert_ok(ftruncate(fd, 2 * LS));
	m = mmap(NULL, 2 * LS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_msg(m != MAP_FAILED, "mmap: %s", strerror(errno));
	ck_assert(all_zero(m + LS + 100, sizeof(want)));   /* mapped and faulted in */
	ck_assert_ok(pipe(to_child));
	ck_assert_ok(pipe(to_parent));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		_exit(mmap_child(mu_at("app/heap"), to_parent[1], to_child[0]));
	}
	close(to_child[0]);
	close(to_parent[1]);
	ck_assert_int_eq(read(to_parent[0], &c, 1), 1);

	mu_fill(want, sizeof(want), 7, LS + 100);
	seen_map = memcmp(m + LS + 100, want, sizeof(want)) == 0;
	seen_read = pread(fd, got, sizeof(got), LS + 100) == (ssize_t)sizeof(got) &&
		    memcmp(got, want, sizeof(want)) == 0;
	lines = list_at("app/lines");
	/* The parent's turn: a pwrite the child's mapping must show. */
	mu_pwrite_all(fd, parent_words, sizeof(parent_words), 10);
	ck_assert_int_eq(write(to_child[1], "p", 1), 1);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	close(to_child[1]);
	close(to_parent[0]);
	munmap(m, 2 * LS);
	close(fd);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "the child failed at step %d (see mmap_child)", WEXITSTATUS(st));
	ck_assert_msg(seen_map, "the parent's mapping does not show the child's store");
	ck_assert_msg(seen_read, "pread does not show the child's store");
	ck_assert_msg(strcmp(lines, "0000000000010000\n") == 0,
		      "lines/ after the child's msync:\n%s", lines);
	free(lines);
	/* And the daemon has both writes. */
	{
		size_t n;
		uint8_t *l0 = slurp_at("app/lines/0000000000000000", &n);
		uint8_t *l1 = slurp_at("app/lines/0000000000010000", &n);

		ck_assert(memcmp(l0 + 10, parent_words, sizeof(parent_words)) == 0);
		ck_assert(memcmp(l1 + 100, want, sizeof(want)) == 0);
		free(l0);
		free(l1);
	}
}
END_TEST

/* ---- lines/ ------------------------------------------------------------- */

START_TEST(lines_are_named_by_hex_offset_in_address_order)
{
	uint8_t zeros[LS] = { 0 };
	char *l;
	int fd = heap_new("app");

	/* Written out of order; one far away; one with hex letters. */
	free(write_fill(fd, 1, 5 * LS + 3, 10));
	free(write_fill(fd, 2, 1 * LS, 1));
	free(write_fill(fd, 3, 1ULL << 40, 100));
	free(write_fill(fd, 4, 0xab * LS + LS - 1, 1));
	/* Zeros written to a new line, and a line overwritten with zeros: empty. */
	mu_pwrite_all(fd, zeros, 4096, 2 * LS);
	free(write_fill(fd, 5, 4 * LS, LS));
	mu_pwrite_all(fd, zeros, LS, 4 * LS);
	close(fd);
	l = list_at("app/lines");
	ck_assert_msg(strcmp(l, "0000000000010000\n0000000000050000\n0000000000ab0000\n"
			     "0000010000000000\n") == 0, "lines/:\n%s", l);
	for (const char *p = l; *p; p += 17) {
		for (int i = 0; i < 16; i++)
			ck_assert((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'));
		ck_assert_int_eq(p[16], '\n');
	}
	free(l);
	/* A name that is not a non-empty line does not exist. */
	{
		struct stat st;

		ck_assert_errno(stat(mu_at("app/lines/0000000000020000"), &st), ENOENT);
		ck_assert_errno(stat(mu_at("app/lines/0000000000040000"), &st), ENOENT);
		ck_assert_errno(stat(mu_at("app/lines/00000000000A0000"), &st), ENOENT);
		ck_assert_errno(stat(mu_at("app/lines/0000000000010001"), &st), ENOENT);
		ck_assert_ok(stat(mu_at("app/lines/0000000000ab0000"), &st));
		ck_assert_int_eq(st.st_size, LS);
	}
}
END_TEST

START_TEST(cat_of_lines_glob_concatenates_lines)
{
	static const uint64_t at[] = { 0, 2 * LS, 9 * LS + 5 };
	char cmd[600];
	uint8_t *out, *want = malloc(3 * LS);
	size_t n;
	int fd = heap_new("app");

	ck_assert_ptr_nonnull(want);
	ck_assert_ok(ftruncate(fd, 12 * LS));   /* whole lines: see line_file_size_matches_its_content */
	for (size_t i = 0; i < 3; i++)
		free(write_fill(fd, i + 1, at[i], 1000));
	for (size_t i = 0; i < 3; i++)
		mu_pread_all(fd, want + i * LS, LS, at[i] / LS * LS);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cat '%s'/app/lines/*", mu.mnt);
	ck_assert_int_eq(mu_sh(mu_in_root("cat.out"), cmd), 0);
	out = (uint8_t *)mu_slurp(mu_in_root("cat.out"), &n);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(n, 3 * LS);
	ck_assert(memcmp(out, want, 3 * LS) == 0);
	free(out);
	free(want);
}
END_TEST

/*
 * One pread of @fd shows @want at @off.  The daemon drops the heap file's
 * stale pages before it replies to the call that changed them, so the
 * first read after that call must see the change: no retrying.
 */
static bool reads_now(int fd, const void *want, size_t len, off_t off)
{
	uint8_t got[256];

	ck_assert_uint_le(len, sizeof(got));
	return pread(fd, got, len, off) == (ssize_t)len && memcmp(got, want, len) == 0;
}

START_TEST(unlink_of_line_zeroes_it)
{
	uint8_t zeros[256] = { 0 }, got[LS];
	struct stat st;
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, 0, 3 * LS);

	mu_pread_all(fd, got, LS, LS);   /* the heap file's pages are cached */
	ck_assert_ok(unlink(mu_at("app/lines/0000000000010000")));
	ck_assert_errno(stat(mu_at("app/lines/0000000000010000"), &st), ENOENT);
	assert_list("app/lines", "0000000000000000\n0000000000020000\n");
	ck_assert_int_eq(size_of(mu_at("app/heap")), 3 * LS);
	/* Through the still-open heap file: zeros, its cache dropped already. */
	ck_assert_msg(reads_now(fd, zeros, sizeof(zeros), LS + 1000),
		      "pread of the heap still shows an unlinked line's old bytes");
	close(fd);
	/* A fresh open sees the whole line zero, its neighbours intact. */
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	mu_pread_all(fd, got, LS, LS);
	ck_assert(all_zero(got, LS));
	mu_pread_all(fd, got, LS, 2 * LS);
	ck_assert(memcmp(got, want + 2 * LS, LS) == 0);
	close(fd);
	free(want);
}
END_TEST

START_TEST(line_write_is_seen_through_cached_heap_file)
{
	static const char words[] = "written through lines/";
	uint8_t got[LS];
	int fd = heap_new("app"), lfd;
	uint8_t *want = write_fill(fd, 1, LS, LS);

	mu_pread_all(fd, got, LS, LS);   /* cache the heap file's pages */
	ck_assert(memcmp(got, want, LS) == 0);
	lfd = mu_open(mu_at("app/lines/0000000000010000"), O_WRONLY);
	mu_pwrite_all(lfd, words, sizeof(words), 100);
	close(lfd);
	ck_assert_msg(reads_now(fd, words, sizeof(words), LS + 100),
		      "the heap file's cached pages were not invalidated after a line write");
	/* Only those bytes changed. */
	mu_pread_all(fd, got, LS, LS);
	ck_assert(memcmp(got, want, 100) == 0);
	ck_assert(memcmp(got + 100 + sizeof(words), want + 100 + sizeof(words),
			 LS - 100 - sizeof(words)) == 0);
	close(fd);
	free(want);
}
END_TEST

START_TEST(line_write_past_its_end_is_efbig)
{
	uint8_t buf[10], got[LS];
	int fd = heap_new("app"), lfd;
	uint8_t *want = write_fill(fd, 1, 0, LS);

	close(fd);
	memset(buf, 0xcd, sizeof(buf));
	lfd = mu_open(mu_at("app/lines/0000000000000000"), O_RDWR);
	ck_assert_errno(pwrite(lfd, buf, sizeof(buf), LS), EFBIG);
	ck_assert_errno(pwrite(lfd, buf, sizeof(buf), LS + 100), EFBIG);
	/* Crossing the end: the part inside the line, like a size limit. */
	ck_assert_int_eq(pwrite(lfd, buf, sizeof(buf), LS - 5), 5);
	close(lfd);
	memset(want + LS - 5, 0xcd, 5);
	ck_assert_int_eq(size_of(mu_at("app/heap")), LS);
	assert_list("app/lines", "0000000000000000\n");
	fd = mu_open(mu_at("app/heap"), O_RDONLY);
	mu_pread_all(fd, got, LS, 0);
	ck_assert(memcmp(got, want, LS) == 0);
	close(fd);
	free(want);
}
END_TEST

/*
 * A line file reads as many bytes as stat says it holds, also for the
 * last line of a heap whose size ends inside it.
 */
START_TEST(line_file_size_matches_its_content)
{
	struct stat st;
	size_t n;
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, LS, 1000), *got;

	close(fd);
	ck_assert_int_eq(size_of(mu_at("app/heap")), LS + 1000);
	ck_assert_ok(stat(mu_at("app/lines/0000000000010000"), &st));
	got = slurp_at("app/lines/0000000000010000", &n);
	ck_assert_msg((off_t)n == st.st_size, "the last line file: stat says %lld bytes, read gives %zu",
		      (long long)st.st_size, n);
	ck_assert(memcmp(got, want, 1000) == 0);
	ck_assert(all_zero(got + 1000, n - 1000));
	free(got);
	free(want);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------ */

/* A heap "app" with 3 lines of content and checkpoint 1 "before-upgrade"; its bytes. */
static uint8_t *app_with_checkpoint(int *fd_out)
{
	int fd = heap_new("app");
	uint8_t *want = write_fill(fd, 1, 0, 2 * LS + 300);

	free(write_fill(fd, 9, 6 * LS, 10));
	mu_pread_all(fd, want, 2 * LS + 300, 0);
	ck_assert_ok(mkdir(mu_at("app/checkpoints/before-upgrade"), 0755));
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return want;
}

START_TEST(mkdir_label_takes_checkpoint_1)
{
	struct stat st;
	uint8_t *want = app_with_checkpoint(NULL);

	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "1");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/before-upgrade"), "1");
	ck_assert_ok(lstat(mu_at("app/checkpoints/1"), &st));
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_ok(lstat(mu_at("app/checkpoints/before-upgrade"), &st));
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_ok(stat(mu_at("app/checkpoints/before-upgrade"), &st));   /* resolves */
	ck_assert(S_ISDIR(st.st_mode));
	assert_set("app/checkpoints/1", "heap\nlines\nstate\nstat\n");
	mu_assert_text_line("app/stat", "checkpoints: 1");
	free(want);
}
END_TEST

START_TEST(checkpoint_heap_keeps_its_content)
{
	char *argv[] = { "cmp", (char *)(uintptr_t)mu_at("app/heap"),
			 (char *)(uintptr_t)mu_at("app/checkpoints/1/heap"), NULL };
	int fd, st;
	uint8_t *want = app_with_checkpoint(&fd), *got;
	size_t n, size = 6 * LS + 10;
	uint8_t *all = malloc(size);

	ck_assert_ptr_nonnull(all);
	mu_pread_all(fd, all, size, 0);
	got = slurp_at("app/checkpoints/1/heap", &n);
	ck_assert_uint_eq(n, size);
	ck_assert(memcmp(got, all, size) == 0);
	free(got);
	st = mu_run(NULL, NULL, argv);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cmp heap checkpoints/1/heap: 0x%x", st);

	/* Later live writes, a grow and a punch leave the checkpoint alone. */
	free(write_fill(fd, 2, 100, 3 * LS));
	ck_assert_ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 6 * LS, LS));
	ck_assert_ok(ftruncate(fd, 20 * LS));
	close(fd);
	got = slurp_at("app/checkpoints/1/heap", &n);
	ck_assert_uint_eq(n, size);
	ck_assert(memcmp(got, all, size) == 0);
	free(got);
	ck_assert_int_eq(size_of(mu_at("app/checkpoints/1/heap")), (off_t)size);
	assert_list("app/checkpoints/1/lines",
		    "0000000000000000\n0000000000010000\n0000000000020000\n0000000000060000\n");
	st = mu_run(NULL, NULL, argv);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		      "cmp of the changed heap and checkpoint: 0x%x, want exit 1", st);
	free(all);
	free(want);
}
END_TEST

START_TEST(checkpoint_stat_has_label)
{
	free(app_with_checkpoint(NULL));
	mu_assert_text_line("app/checkpoints/1/stat", "label: before-upgrade");
	mu_assert_text_line("app/checkpoints/1/stat", "version: 1");
	mu_assert_text_line("app/checkpoints/1/stat", "size: 393226");   /* 6 * 64K + 10 */
}
END_TEST

/* Each way of changing a checkpoint; all EROFS. */
static int ro_open_wronly(void)
{
	return open(mu_at("app/checkpoints/1/heap"), O_WRONLY | O_CLOEXEC);
}

static int ro_open_rdwr(void)
{
	return open(mu_at("app/checkpoints/1/heap"), O_RDWR | O_CLOEXEC);
}

static int ro_open_trunc(void)
{
	return open(mu_at("app/checkpoints/1/heap"), O_RDONLY | O_TRUNC | O_CLOEXEC);
}

static int ro_truncate(void)
{
	return truncate(mu_at("app/checkpoints/1/heap"), 0);
}

static int ro_mkdir(void)
{
	return mkdir(mu_at("app/checkpoints/1/x"), 0755);
}

static int ro_creat(void)
{
	return creat(mu_at("app/checkpoints/1/newfile"), 0644);
}

static int ro_line_open(void)
{
	return open(mu_at("app/checkpoints/1/lines/0000000000000000"), O_WRONLY | O_CLOEXEC);
}

static int ro_line_truncate(void)
{
	return truncate(mu_at("app/checkpoints/1/lines/0000000000000000"), 0);
}

static int ro_symlink(void)
{
	return symlink("heap", mu_at("app/checkpoints/1/link"));
}

static int ro_rename(void)
{
	return rename(mu_at("app/checkpoints/1/heap"), mu_at("app/checkpoints/1/heap2"));
}

static int ro_mknod(void)
{
	return mknod(mu_at("app/checkpoints/1/fifo"), S_IFIFO | 0644, 0);
}

static const struct {
	const char *what;
	int (*act)(void);
} ro_acts[] = {
	{ "open O_WRONLY", ro_open_wronly },
	{ "open O_RDWR", ro_open_rdwr },
	{ "open O_TRUNC", ro_open_trunc },
	{ "truncate", ro_truncate },
	{ "mkdir inside", ro_mkdir },
	{ "creat inside", ro_creat },
	{ "open a line O_WRONLY", ro_line_open },
	{ "truncate a line", ro_line_truncate },
	{ "symlink inside", ro_symlink },
	{ "rename inside", ro_rename },
	{ "mknod inside", ro_mknod },
};

START_TEST(checkpoint_refuses_changes_with_erofs)
{
	uint8_t *before, *after;
	char *stat_before, *stat_after;
	size_t n1, n2;
	int rc, e;

	free(app_with_checkpoint(NULL));
	before = slurp_at("app/checkpoints/1/heap", &n1);
	stat_before = (char *)slurp_at("app/checkpoints/1/stat", NULL);
	errno = 0;
	rc = ro_acts[_i].act();
	e = errno;
	if (rc > 0)
		close(rc);   /* an open that should not have worked */
	ck_assert_msg(rc == -1 && e == EROFS, "%s in checkpoints/1: rc %d, errno %d (%s)",
		      ro_acts[_i].what, rc, e, strerror(e));
	after = slurp_at("app/checkpoints/1/heap", &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(memcmp(before, after, n1) == 0);
	stat_after = (char *)slurp_at("app/checkpoints/1/stat", NULL);
	ck_assert_str_eq(stat_after, stat_before);
	assert_set("app/checkpoints/1", "heap\nlines\nstate\nstat\n");
	assert_list("app/checkpoints/1/lines",
		    "0000000000000000\n0000000000010000\n0000000000020000\n0000000000060000\n");
	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n");
	free(before);
	free(after);
	free(stat_before);
	free(stat_after);
}
END_TEST

static const struct {
	const char *name;
	int err;
} ckpt_bad[] = {
	{ "5", EINVAL },                      /* numbers are given, not chosen */
	{ "0005", EINVAL },
	{ "0", EINVAL },
	{ "99999999999999999999", EINVAL },   /* still a number, past u64 */
	{ "1", EEXIST },
	{ "latest", EEXIST },
	{ "before-upgrade", EEXIST },         /* a label is taken once */
	{ "bad label", EINVAL },
	{ ".hidden", EINVAL },
};

START_TEST(checkpoint_mkdir_refused)
{
	struct stat st;

	free(app_with_checkpoint(NULL));
	ck_assert_errno(mkdir(mu_at("app/checkpoints/%s", ckpt_bad[_i].name), 0755),
			ckpt_bad[_i].err);
	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n");
	mu_assert_text_line("app/stat", "checkpoints: 1");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "1");
	if (ckpt_bad[_i].err == EINVAL)
		ck_assert_errno(lstat(mu_at("app/checkpoints/%s", ckpt_bad[_i].name), &st), ENOENT);
}
END_TEST

START_TEST(mkdir_latest_without_checkpoints_is_eexist)
{
	struct stat st;
	int fd = heap_new("app");

	close(fd);
	ck_assert_errno(mkdir(mu_at("app/checkpoints/latest"), 0755), EEXIST);
	assert_set("app/checkpoints", "");
	mu_assert_text_line("app/stat", "checkpoints: 0");
	ck_assert_errno(lstat(mu_at("app/checkpoints/latest"), &st), ENOENT);
}
END_TEST

START_TEST(rmdir_deletes_checkpoint)
{
	struct stat st;

	free(app_with_checkpoint(NULL));
	/* A label is a symlink, not the checkpoint: rmdir of it is refused. */
	ck_assert_errno(rmdir(mu_at("app/checkpoints/before-upgrade")), ENOTDIR);
	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n");

	ck_assert_ok(rmdir(mu_at("app/checkpoints/1")));
	ck_assert_errno(stat(mu_at("app/checkpoints/1"), &st), ENOENT);
	ck_assert_errno(stat(mu_at("app/checkpoints/1/heap"), &st), ENOENT);
	ck_assert_errno(lstat(mu_at("app/checkpoints/before-upgrade"), &st), ENOENT);
	ck_assert_errno(lstat(mu_at("app/checkpoints/latest"), &st), ENOENT);
	assert_set("app/checkpoints", "");
	mu_assert_text_line("app/stat", "checkpoints: 0");
	/* The live heap is untouched. */
	ck_assert_int_eq(size_of(mu_at("app/heap")), 6 * LS + 10);
	assert_list("app/lines",
		    "0000000000000000\n0000000000010000\n0000000000020000\n0000000000060000\n");
}
END_TEST

START_TEST(second_checkpoint_is_2)
{
	free(app_with_checkpoint(NULL));
	ck_assert_ok(mkdir(mu_at("app/checkpoints/x"), 0755));
	assert_set("app/checkpoints", "latest\n1\nbefore-upgrade\n2\nx\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/x"), "2");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "2");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/before-upgrade"), "1");
	mu_assert_text_line("app/checkpoints/2/stat", "label: x");
}
END_TEST

START_TEST(checkpoint_numbers_are_not_reused)
{
	free(app_with_checkpoint(NULL));
	ck_assert_ok(rmdir(mu_at("app/checkpoints/1")));
	ck_assert_ok(mkdir(mu_at("app/checkpoints/x"), 0755));
	assert_set("app/checkpoints", "latest\n2\nx\n");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/x"), "2");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "2");
}
END_TEST

/* ---- .heapfs ------------------------------------------------------------ */

START_TEST(heapfs_pool_and_version_are_readable)
{
	char *pool = (char *)slurp_at(".heapfs/pool", NULL);
	char *version = (char *)slurp_at(".heapfs/version", NULL);

	ck_assert_msg(mu_has_line(pool, "budget: unlimited"), ".heapfs/pool:\n%s", pool);
	ck_assert_msg(strstr(pool, "\nused: ") != NULL, ".heapfs/pool:\n%s", pool);
	ck_assert_msg(strncmp(version, "heapfs ", 7) == 0, ".heapfs/version:\n%s", version);
	ck_assert_msg(strstr(version, "store format ") != NULL, ".heapfs/version:\n%s", version);
	/* pool and version at least (the daemon may add control files). */
	{
		char *l = list_at(".heapfs");

		ck_assert_msg(mu_has_line(l, "pool") && mu_has_line(l, "version"), ".heapfs:\n%s", l);
		free(l);
	}
	free(pool);
	free(version);
}
END_TEST

static const struct {
	const char *file;
	int flags;
} meta_writes[] = {
	{ "pool", O_WRONLY }, { "pool", O_RDWR }, { "pool", O_WRONLY | O_TRUNC },
	{ "pool", O_WRONLY | O_APPEND },
	{ "version", O_WRONLY }, { "version", O_RDWR }, { "version", O_WRONLY | O_TRUNC },
	{ "version", O_WRONLY | O_APPEND },
};

START_TEST(heapfs_files_refuse_writes_with_eacces)
{
	char *before = (char *)slurp_at(".heapfs/version", NULL), *after;
	const char *f = meta_writes[_i].file;
	char *pool_before = (char *)slurp_at(".heapfs/pool", NULL), *pool_after;

	ck_assert_errno(open(mu_at(".heapfs/%s", f), meta_writes[_i].flags | O_CLOEXEC), EACCES);
	after = (char *)slurp_at(".heapfs/version", NULL);
	pool_after = (char *)slurp_at(".heapfs/pool", NULL);
	ck_assert_str_eq(after, before);
	ck_assert_str_eq(pool_after, pool_before);
	free(before);
	free(after);
	free(pool_before);
	free(pool_after);
}
END_TEST

static void setup_pool1g(void)
{
	mu_root_make();
	mu_mount("pool=1G");
}

START_TEST(statfs_reports_the_pool_budget)
{
	struct statvfs sv;
	int fd = heap_new("app");

	free(write_fill(fd, 1, 0, 4 * LS));
	ck_assert_ok(fsync(fd));
	close(fd);
	ck_assert_ok(statvfs(mu.mnt, &sv));
	ck_assert_uint_eq((uint64_t)sv.f_blocks * sv.f_frsize, GiB);
	ck_assert_uint_le((uint64_t)sv.f_bfree * sv.f_frsize, GiB);
	mu_assert_text_line(".heapfs/pool", "budget: 1073741824");
}
END_TEST

/* ---- the state file --------------------------------------------------- */

#define STATE_MAX (16 * MiB)   /* heapstore.h HS_STATE_SIZE_MAX */

START_TEST(state_file_reads_writes_and_is_bounded)
{
	int hfd = heap_new("app"), fd = mu_open(mu_at("app/state"), O_RDWR);
	uint8_t *want, got[4096], one = 1;
	char out[64], cmd[PATH_MAX + 64];
	size_t n;

	ck_assert_int_eq(size_of(mu_at("app/state")), 0);
	want = write_fill(fd, 3, 10, 100000);
	ck_assert_int_eq(size_of(mu_at("app/state")), 100010);
	ck_assert_int_eq(size_of(mu_at("app/heap")), 0);   /* a space of its own */
	mu_pread_all(fd, got, sizeof(got), 50000);
	ck_assert(memcmp(got, want + 50000 - 10, sizeof(got)) == 0);
	mu_assert_text_line("app/stat", "state_size: 100010");
	mu_assert_text_line("app/stat", "lines_used: 0");
	free(want);

	/* The 16 MiB limit: across it a write is cut short, at it EFBIG. */
	ck_assert_errno(pwrite(fd, &one, 1, (off_t)STATE_MAX), EFBIG);
	ck_assert_int_eq(pwrite(fd, got, 10, (off_t)STATE_MAX - 4), 4);
	ck_assert_int_eq(size_of(mu_at("app/state")), (off_t)STATE_MAX);
	ck_assert_errno(ftruncate(fd, (off_t)STATE_MAX + 1), EFBIG);
	ck_assert_int_eq(size_of(mu_at("app/state")), (off_t)STATE_MAX);
	ck_assert_errno(syscall(SYS_pread64, fd, got, 16, (off_t)-1), EINVAL);
	ck_assert_errno(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096),
			EOPNOTSUPP);

	/* The shell's > truncates it; the heap never changed. */
	snprintf(cmd, sizeof(cmd), "printf regs > '%s'/app/state", mu.mnt);
	ck_assert_int_eq(mu_sh(NULL, cmd), 0);
	ck_assert_int_eq(size_of(mu_at("app/state")), 4);
	ck_assert_int_eq(pread(fd, out, sizeof(out), 0), 4);
	ck_assert_mem_eq(out, "regs", 4);
	ck_assert_int_eq(size_of(mu_at("app/heap")), 0);
	close(fd);
	close(hfd);

	mu_remount();
	want = slurp_at("app/state", &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(want, "regs", 4);
	free(want);
}
END_TEST

START_TEST(state_is_saved_with_each_checkpoint_and_restored)
{
	char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "restore", "app", "before", NULL };
	int hfd = heap_new("app"), fd = mu_open(mu_at("app/state"), O_RDWR);
	uint8_t *a = write_fill(fd, 5, 0, 70000), *got;
	char cmp[2 * PATH_MAX];
	size_t n;
	int st;

	free(write_fill(hfd, 6, 0, LS));
	ck_assert_ok(mkdir(mu_at("app/checkpoints/before"), 0755));
	free(write_fill(fd, 7, 0, 100));
	ck_assert_ok(ftruncate(fd, 50000));

	/* The checkpoint keeps the state as it was, read-only. */
	got = slurp_at("app/checkpoints/1/state", &n);
	ck_assert_uint_eq(n, 70000);
	ck_assert(memcmp(got, a, n) == 0);
	free(got);
	mu_assert_text_line("app/checkpoints/1/stat", "state_size: 70000");
	ck_assert_errno(open(mu_at("app/checkpoints/1/state"), O_WRONLY), EROFS);
	ck_assert_errno(truncate(mu_at("app/checkpoints/1/state"), 0), EROFS);
	snprintf(cmp, sizeof(cmp), "cmp -s '%s'/app/state '%s'/app/checkpoints/1/state",
		 mu.mnt, mu.mnt);
	ck_assert_int_eq(mu_sh(NULL, cmp), 1);

	/* Restore brings it back, also to a descriptor opened before. */
	st = mu_run(NULL, NULL, argv);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "heapctl restore: 0x%x", st);
	ck_assert_int_eq(size_of(mu_at("app/state")), 70000);
	got = malloc(70000);
	mu_pread_all(fd, got, 70000, 0);
	ck_assert(memcmp(got, a, 70000) == 0);
	free(got);
	ck_assert_int_eq(mu_sh(NULL, cmp), 0);
	close(fd);
	close(hfd);
	free(a);
}
END_TEST

/* ---- the suite ------------------------------------------------------ */

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *mount_suite(void)
{
	Suite *s = suite_create("mount");
	TCase *tc;

	tc = mu_tcase_new(s, "tree", mu_setup);
	tcase_add_test(tc, mkdir_creates_empty_heap_with_default_line_size);
	tcase_add_test(tc, truncate_8g_is_sparse);
	tcase_add_test(tc, rmdir_deletes_heap);
	tcase_add_test(tc, old_heap_directory_never_reaches_a_new_heap_of_its_name);
	tcase_add_test(tc, rm_r_deletes_heap_with_lines);
	tcase_add_test(tc, rm_r_deletes_heap_with_lines_and_checkpoints);
	tc = mu_tcase_new(s, "tree line=16K", setup_line16k);
	tcase_add_test(tc, mkdir_uses_the_mount_line_size);

	tc = mu_tcase_new(s, "names", mu_setup);
	tcase_add_loop_test(tc, mkdir_heap_names, 0, N_OF(name_cases));

	tc = mu_tcase_new(s, "io", mu_setup);
	tcase_add_test(tc, pwrite_pread_span_lines_unaligned);
	tcase_add_test(tc, read_past_end_is_short);
	tcase_add_loop_test(tc, pwrite_beyond_the_limit_is_refused, 0, N_OF(too_far));
	tcase_add_test(tc, pread_at_negative_offset_is_einval);
	tcase_add_test(tc, shell_redirect_truncates_heap_and_line);
	tcase_add_test(tc, truncate_shrink_then_grow_reads_zeros);
	tcase_add_test(tc, punch_hole_zeroes_range_and_drops_whole_line);
	tcase_add_test(tc, seek_data_and_hole_give_exact_offsets);
	tcase_add_test(tc, fsync_returns_zero);
	tcase_add_test(tc, data_survives_remount);

	tc = mu_tcase_new(s, "mmap", mu_setup);
	tcase_add_test(tc, mmap_writes_are_shared_between_processes);

	tc = mu_tcase_new(s, "lines", mu_setup);
	tcase_add_test(tc, lines_are_named_by_hex_offset_in_address_order);
	tcase_add_test(tc, cat_of_lines_glob_concatenates_lines);
	tcase_add_test(tc, unlink_of_line_zeroes_it);
	tcase_add_test(tc, line_write_is_seen_through_cached_heap_file);
	tcase_add_test(tc, line_write_past_its_end_is_efbig);
	tcase_add_test(tc, line_file_size_matches_its_content);

	tc = mu_tcase_new(s, "checkpoints", mu_setup);
	tcase_add_test(tc, mkdir_label_takes_checkpoint_1);
	tcase_add_test(tc, checkpoint_heap_keeps_its_content);
	tcase_add_test(tc, checkpoint_stat_has_label);
	tcase_add_loop_test(tc, checkpoint_refuses_changes_with_erofs, 0, N_OF(ro_acts));
	tcase_add_loop_test(tc, checkpoint_mkdir_refused, 0, N_OF(ckpt_bad));
	tcase_add_test(tc, mkdir_latest_without_checkpoints_is_eexist);
	tcase_add_test(tc, rmdir_deletes_checkpoint);
	tcase_add_test(tc, second_checkpoint_is_2);
	tcase_add_test(tc, checkpoint_numbers_are_not_reused);

	tc = mu_tcase_new(s, "state", mu_setup);
	tcase_add_test(tc, state_file_reads_writes_and_is_bounded);
	tcase_add_test(tc, state_is_saved_with_each_checkpoint_and_restored);

	tc = mu_tcase_new(s, "heapfs dir", mu_setup);
	tcase_add_test(tc, heapfs_pool_and_version_are_readable);
	tcase_add_loop_test(tc, heapfs_files_refuse_writes_with_eacces, 0, N_OF(meta_writes));
	tc = mu_tcase_new(s, "heapfs dir pool=1G", setup_pool1g);
	tcase_add_test(tc, statfs_reports_the_pool_budget);
	return s;
}

int main(void)
{
	return mu_main(mount_suite());
}
