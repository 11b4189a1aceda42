/*
 * test_pool_mount.c - the memory budget through a real mount (issue 16):
 * the line cache (cache=32M) shared by heaps under pool/'s policy.
 *
 *   - a heap with a memory reservation keeps its lines while another
 *     streams three times the cache through it, borrowing (sub-pool loans
 *     and idle memory) and repaying when it is deleted;
 *   - a heap alone uses the whole cache (the pool lends idle memory);
 *   - a reservation made while another heap borrows everything recalls
 *     its loans: the reserving heap then gets its lines and the other
 *     gives back;
 *   - a heap's memory quota bounds its resident lines;
 *   - a reservation past the cache is refused (ENOSPC) and changes nothing;
 *   - a runtime (a child process here) polls its heap's balloon, punches
 *     holes to meet each target and sees them credited, its rate rising,
 *     while a silent heap's asks are withdrawn after wait= and its rate
 *     stays at the minimum.
 *
 * Every read goes past the kernel's page cache (POSIX_FADV_DONTNEED), so
 * the daemon's line cache serves it, and the figures are the daemon's own
 * (stat, .heapfs/pool).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

#define MiB (1024ULL * 1024ULL)
#define CACHE (32 * MiB)
#define LINE (64 * 1024ULL)

static void setup(void)
{
	mu_root_make();
	mu_mount("cache=32M");
}

/* Heap @name of @size bytes of pattern @seed, written back. */
static void heap_make(const char *name, uint64_t size, uint64_t seed)
{
	uint8_t *buf = malloc(MiB);
	int fd;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(mkdir(mu_at("%s", name), 0755), 0);
	fd = mu_open(mu_at("%s/heap", name), O_RDWR);
	for (uint64_t off = 0; off < size; off += MiB) {
		mu_fill(buf, MiB, seed, off);
		mu_pwrite_all(fd, buf, MiB, off);
	}
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(close(fd), 0);
	free(buf);
}

/* Read all of heap @name through the daemon's cache, checking it. */
static void heap_read(const char *name, uint64_t size, uint64_t seed)
{
	uint8_t *buf = malloc(MiB), *want = malloc(MiB);
	int fd = mu_open(mu_at("%s/heap", name), O_RDONLY);

	ck_assert(buf && want);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	for (uint64_t off = 0; off < size; off += MiB) {
		mu_pread_all(fd, buf, MiB, off);
		mu_fill(want, MiB, seed, off);
		ck_assert_msg(memcmp(buf, want, MiB) == 0, "%s: MiB %llu differs", name,
			      (unsigned long long)(off / MiB));
	}
	ck_assert_int_eq(close(fd), 0);
	free(buf);
	free(want);
}

static uint64_t stat_of(const char *heap, const char *key)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "%s/stat", heap);
	return mu_text_u64(rel, key);
}

static void set_attr(const char *heap, const char *name, const char *val)
{
	ck_assert_msg(setxattr(mu_at("%s", heap), name, val, strlen(val), 0) == 0,
		      "%s %s=%s: %s", heap, name, val, strerror(errno));
}

/* heapctl pool, as text and JSON, shows @heap with @reserve bytes kept. */
static void heapctl_pool_shows(const char *heap, uint64_t reserve)
{
	const char *text_argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "pool", NULL };
	const char *json_argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "pool", "--json", NULL };
	char want[128], *out = NULL;

	ck_assert_int_eq(mu_run_out(&out, text_argv), 0);
	ck_assert_ptr_nonnull(strstr(out, "SUBPOOL"));
	snprintf(want, sizeof(want), "\n%-24s %12llu ", heap, (unsigned long long)reserve);
	ck_assert_msg(strstr(out, want), "heapctl pool: no '%s' in\n%s", want, out);
	free(out);
	ck_assert_int_eq(mu_run_out(&out, json_argv), 0);
	snprintf(want, sizeof(want), "\"reserve\": %llu", (unsigned long long)reserve);
	ck_assert_msg(strstr(out, "\"memory\"") && strstr(out, want) &&
		      strstr(out, "\"subpools\""), "heapctl pool --json:\n%s", out);
	free(out);
}

static void ledger_matches(const char *h, uint64_t reserve);

/* Without pool= the space ledger is the disk's, and follows every write
 * all the same (no limit charges them: the cache does, as they dirty). */
START_TEST(the_space_ledger_without_a_pool)
{
	heap_make("a", 8 * MiB, 41);
	ledger_matches("a", 0);
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "space_size"), 40 * MiB);
	heap_make("b", 4 * MiB, 42);
	ledger_matches("b", 0);
	ledger_matches("a", 0);
}
END_TEST

START_TEST(reservation_keeps_lines_while_another_borrows)
{
	uint64_t misses;

	heap_make("third", 8 * MiB, 7);
	heap_make("kept", 8 * MiB, 1);
	heap_make("other", 96 * MiB, 2);
	set_attr("kept", "user.heapfs.memory_reserve", "8M");
	heap_read("kept", 8 * MiB, 1);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 8 * MiB / LINE);
	misses = stat_of("kept", "cache_misses");
	/* Three times the cache through the other heap. */
	for (int round = 0; round < 3; round++)
		heap_read("other", 96 * MiB, 2);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 8 * MiB / LINE);
	ck_assert_uint_eq(stat_of("kept", "memory_used"), 8 * MiB);
	/* A heap the policy serves (it borrowed nothing yet) makes room
	 * from idle loans, never from reserved lines, the oldest as they are. */
	heap_read("third", 8 * MiB, 7);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 8 * MiB / LINE);
	heap_read("kept", 8 * MiB, 1);
	ck_assert_uint_eq(stat_of("kept", "cache_misses"), misses);
	/* The other used the rest: loans from the sub-pools, then idle memory. */
	ck_assert_uint_eq(stat_of("other", "memory_used") + stat_of("third", "memory_used"),
			  CACHE - 8 * MiB);
	ck_assert_uint_gt(stat_of("other", "memory_owed"), 0);
	ck_assert_uint_gt(stat_of("other", "memory_idle"), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_reserved"), 8 * MiB);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_used"), CACHE);
	heapctl_pool_shows("kept", 8 * MiB);
	/* Deleted, they repay everything. */
	ck_assert_int_eq(rmdir(mu_at("other")), 0);
	ck_assert_int_eq(rmdir(mu_at("third")), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_used"), 8 * MiB);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_idle_lent"), 0);
	for (int s = 0; s < 4; s++) {
		static const char *const sub[] = { "gl", "gp", "le", "lp" };
		char size[32], level[32];

		snprintf(size, sizeof(size), "memory_%s_size", sub[s]);
		snprintf(level, sizeof(level), "memory_%s_level", sub[s]);
		ck_assert_uint_eq(mu_text_u64(".heapfs/pool", level),
				  mu_text_u64(".heapfs/pool", size));
	}
}
END_TEST

START_TEST(a_heap_alone_uses_the_whole_cache)
{
	heap_make("alone", 64 * MiB, 3);
	heap_read("alone", 64 * MiB, 3);
	ck_assert_uint_eq(stat_of("alone", "lines_resident"), CACHE / LINE);
	ck_assert_uint_eq(stat_of("alone", "memory_used"), CACHE);
}
END_TEST

START_TEST(a_reservation_recalls_loans)
{
	uint8_t *buf = malloc(MiB);
	int fd;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(mkdir(mu_at("late"), 0755), 0);
	heap_make("greedy", 64 * MiB, 5);
	heap_read("greedy", 64 * MiB, 5);
	ck_assert_uint_eq(stat_of("greedy", "memory_used"), CACHE);
	ck_assert_uint_gt(stat_of("greedy", "memory_owed"), 0);
	/* Granted although every byte is lent, and so large that the
	 * sub-pools shrink below the loans: those become idle loans. */
	set_attr("late", "user.heapfs.memory_reserve", "24M");
	ck_assert_uint_eq(stat_of("greedy", "memory_owed"), 0);
	ck_assert_uint_eq(stat_of("greedy", "memory_idle"), CACHE);
	/* The reserving heap's writes take its lines back. */
	fd = mu_open(mu_at("late/heap"), O_RDWR);
	for (uint64_t off = 0; off < 24 * MiB; off += MiB) {
		mu_fill(buf, MiB, 4, off);
		mu_pwrite_all(fd, buf, MiB, off);
	}
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_eq(close(fd), 0);
	free(buf);
	ck_assert_uint_eq(stat_of("late", "lines_resident"), 24 * MiB / LINE);
	ck_assert_uint_eq(stat_of("late", "memory_used"), 24 * MiB);
	ck_assert_uint_eq(stat_of("greedy", "memory_used"), CACHE - 24 * MiB);
	/* And keeps them through the other's next pass. */
	heap_read("greedy", 64 * MiB, 5);
	ck_assert_uint_eq(stat_of("late", "lines_resident"), 24 * MiB / LINE);
	heap_read("late", 24 * MiB, 4);
}
END_TEST

START_TEST(a_memory_quota_bounds_resident_lines)
{
	heap_make("small", 32 * MiB, 6);
	ck_assert_uint_eq(stat_of("small", "lines_resident"), CACHE / LINE);
	/* Set below what it holds: it gives back at once... */
	set_attr("small", "user.heapfs.memory_quota", "4M");
	ck_assert_uint_eq(stat_of("small", "lines_resident"), 4 * MiB / LINE);
	ck_assert_uint_eq(stat_of("small", "memory_used"), 4 * MiB);
	/* ...and its misses then make room from its own lines. */
	heap_read("small", 32 * MiB, 6);
	ck_assert_uint_le(stat_of("small", "lines_resident"), 4 * MiB / LINE);
	ck_assert_uint_le(stat_of("small", "memory_used"), 4 * MiB);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_used"),
			  stat_of("small", "memory_used"));
	/* Writes too: 8 MiB at a time (twice its quota in dirty lines, and
	 * reading stat writes lines back, so only between writes), its dirty
	 * lines written back to stay within it. */
	{
		uint8_t *buf = malloc(8 * MiB);
		int fd = mu_open(mu_at("small/heap"), O_RDWR);

		ck_assert_ptr_nonnull(buf);
		for (uint64_t off = 0; off < 16 * MiB; off += 8 * MiB) {
			mu_fill(buf, 8 * MiB, 8, off);
			mu_pwrite_all(fd, buf, 8 * MiB, off);
			ck_assert_uint_le(stat_of("small", "lines_resident"), 4 * MiB / LINE);
		}
		ck_assert_int_eq(close(fd), 0);
		free(buf);
	}
	heap_read("small", 16 * MiB, 8);
}
END_TEST

START_TEST(a_reservation_past_the_cache_is_refused)
{
	ck_assert_int_eq(mkdir(mu_at("a"), 0755), 0);
	ck_assert_int_eq(mkdir(mu_at("b"), 0755), 0);
	set_attr("a", "user.heapfs.memory_reserve", "24M");
	errno = 0;
	ck_assert_int_eq(setxattr(mu_at("b"), "user.heapfs.memory_reserve", "9M", 2, 0), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_uint_eq(mu_xattr_u64("b", "user.heapfs.memory_reserve"), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_reserved"), 24 * MiB);
	set_attr("b", "user.heapfs.memory_reserve", "8M");
	/* Kept across a remount; a deleted heap's reservation is free again. */
	mu_remount();
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_reserved"), 32 * MiB);
	ck_assert_int_eq(rmdir(mu_at("a")), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "memory_reserved"), 8 * MiB);
}
END_TEST

/* A balloon's figures. */
struct bal {
	unsigned long long target, current, rate;
};

static int bal_read(int fd, struct bal *b)
{
	char text[256];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	if (n <= 0)
		return -1;
	text[n] = '\0';
	return sscanf(text, "target: %llu\ncurrent: %llu\nrate: %llu/s", &b->target,
		      &b->current, &b->rate) == 3 ? 0 : -1;
}

/*
 * The runtime: reports what it could give, then for each target its
 * balloon's poll() wakes it to, punches whole lines from the top of its
 * heap down to meet the target (or all it has left), and checks that what
 * it gave (up to the target) was credited.  Exits 0 after @answers
 * answers, 1 on a wrong credit, 2 if fewer asks came within 20 s.  @top:
 * where its data ends.
 */
static int runtime(const char *dir, uint64_t top, int answers)
{
	char path[512];
	int bfd, hfd, done = 0;
	double until = mu_now() + 20;
	static const char report[] = "freeable 8388608\nlive 16777216\n";

	snprintf(path, sizeof(path), "%s/balloon", dir);
	if ((bfd = open(path, O_RDWR)) < 0)
		return 3;
	snprintf(path, sizeof(path), "%s/heap", dir);
	if ((hfd = open(path, O_RDWR)) < 0)
		return 3;
	if (write(bfd, report, sizeof(report) - 1) != (ssize_t)sizeof(report) - 1)
		return 4;
	while (done < answers && mu_now() < until) {
		struct pollfd p = { bfd, POLLIN, 0 };
		struct bal b, after;
		uint64_t give;

		if (poll(&p, 1, 500) < 0 || bal_read(bfd, &b) < 0)
			return 5;
		if (b.current >= b.target)
			continue;
		give = (b.target - b.current + LINE - 1) / LINE * LINE;
		if (give > top)
			give = top;   /* all it has left (the pool counts punched
					 lines until they are written back) */
		if (!give)
			continue;
		top -= give;
		if (fallocate(hfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)top,
			      (off_t)give) < 0 || bal_read(bfd, &after) < 0)
			return 5;
		/* Credited what it gave, up to the target (the pool may have
		 * asked again since: a target only grows while asks are met). */
		if (after.current < b.current + give && after.current < b.target)
			return 1;
		done++;
	}
	close(hfd);
	close(bfd);
	return done == answers ? 0 : 2;
}

/* Wait up to 10 s for .heapfs/pool's @key to read @want; its last value. */
static uint64_t pool_settles(const char *key, uint64_t want)
{
	uint64_t v = mu_text_u64(".heapfs/pool", key);

	for (int i = 0; i < 100 && v != want; i++) {
		mu_sleep_ms(100);
		v = mu_text_u64(".heapfs/pool", key);
	}
	return v;
}

START_TEST(the_cache_grows_and_gives_blocks_back_keeping_one)
{
	uint64_t block, grown, returned;

	/* An idle period long against the reads below, however slow the
	 * build (sanitizers): the cache is full when they end. */
	mu_unmount();
	mu_mount("cache=32M,cache_idle=1000,cache_release=100");
	block = mu_text_u64(".heapfs/pool", "cache_block");
	grown = mu_text_u64(".heapfs/pool", "cache_blocks_grown");
	heap_make("kept", 8 * MiB, 15);
	heap_make("idle", 24 * MiB, 16);
	set_attr("kept", "user.heapfs.memory_reserve", "8M");
	heap_read("kept", 8 * MiB, 15);
	heap_read("idle", 24 * MiB, 16);
	/* Misses grew it, a block at a time. */
	ck_assert_uint_ge(mu_text_u64(".heapfs/pool", "cache_blocks_grown"),
			  grown + CACHE / block - 1);
	returned = mu_text_u64(".heapfs/pool", "cache_blocks_returned");
	/* Idle past cache_idle=: the idle heap's lines go, then the blocks
	 * they leave empty, but one; the reserved heap keeps its lines. */
	ck_assert_uint_eq(pool_settles("cache_allocated", 8 * MiB + block), 8 * MiB + block);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 8 * MiB / LINE);
	ck_assert_uint_eq(stat_of("idle", "lines_resident"), 0);
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "cache_blocks_returned"), returned);
	/* Misses grow it again. */
	grown = mu_text_u64(".heapfs/pool", "cache_blocks_grown");
	heap_read("idle", 24 * MiB, 16);
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "cache_blocks_grown"), grown);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 8 * MiB / LINE);
}
END_TEST

/*
 * A heap of another line size needs a whole block; with a reserved heap's
 * lines in every block (read in turn with another's, so blocks fill with
 * both), no block can empty by the policy's order.  The miss empties the
 * block with the fewest lines instead, reserved ones included, and every
 * heap reads back right.
 */
START_TEST(another_line_size_gets_a_block_past_reserved_lines)
{
	const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "create", "small", "--line", "4096",
			       NULL };
	uint8_t *buf = malloc(MiB);
	char *out = NULL;
	int fr, fa, fd;

	ck_assert_ptr_nonnull(buf);
	heap_make("kept", 16 * MiB, 51);
	heap_make("other", 16 * MiB, 52);
	set_attr("kept", "user.heapfs.memory_reserve", "16M");
	fr = mu_open(mu_at("kept/heap"), O_RDONLY);
	fa = mu_open(mu_at("other/heap"), O_RDONLY);
	ck_assert_int_eq(posix_fadvise(fr, 0, 0, POSIX_FADV_DONTNEED), 0);
	ck_assert_int_eq(posix_fadvise(fa, 0, 0, POSIX_FADV_DONTNEED), 0);
	/* Every resident line goes first (a quota of a line each, then none),
	 * so the reads below place both heaps' lines in turn. */
	set_attr("kept", "user.heapfs.memory_quota", "64K");
	set_attr("other", "user.heapfs.memory_quota", "64K");
	ck_assert_int_eq(removexattr(mu_at("kept"), "user.heapfs.memory_quota"), 0);
	ck_assert_int_eq(removexattr(mu_at("other"), "user.heapfs.memory_quota"), 0);
	for (uint64_t off = 0; off < 16 * MiB; off += MiB) {
		mu_pread_all(fr, buf, MiB, off);
		mu_pread_all(fa, buf, MiB, off);
	}
	close(fr);
	close(fa);
	ck_assert_uint_ge(stat_of("kept", "lines_resident"), 16 * MiB / LINE - 1);
	ck_assert_int_eq(mu_run_out(&out, argv), 0);
	free(out);
	fd = mu_open(mu_at("small/heap"), O_RDWR);
	mu_fill(buf, MiB, 53, 0);
	mu_pwrite_all(fd, buf, MiB, 0);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	/* It took one block (4 MiB) at most from the others. */
	ck_assert_uint_ge(stat_of("kept", "lines_resident") + stat_of("other", "lines_resident"),
			  (CACHE - 4 * MiB) / LINE - 2);
	heap_read("small", MiB, 53);
	heap_read("kept", 16 * MiB, 51);
	heap_read("other", 16 * MiB, 52);
	free(buf);
}
END_TEST

START_TEST(a_starved_miss_asks_the_borrowers_balloon)
{
	int efd;
	char ev[4096];
	ssize_t n;

	/* 24 of the 32 MiB reserved and held; the other heap's writes fill
	 * the rest with dirty lines (under half the cache: no write-back
	 * yet), so its next miss finds nothing it may evict. */
	heap_make("kept", 24 * MiB, 17);
	set_attr("kept", "user.heapfs.memory_reserve", "24M");
	heap_read("kept", 24 * MiB, 17);
	ck_assert_int_eq(mkdir(mu_at("writer"), 0700), 0);
	efd = mu_open(mu_at("writer/events"), O_RDONLY | O_NONBLOCK);
	{
		uint8_t *buf = malloc(16 * MiB);
		int fd = mu_open(mu_at("writer/heap"), O_RDWR);

		ck_assert_ptr_nonnull(buf);
		mu_fill(buf, 16 * MiB, 18, 0);
		mu_pwrite_all(fd, buf, 16 * MiB, 0);
		ck_assert_int_eq(close(fd), 0);
		free(buf);
	}
	/* The writer, most owed, was asked; the reserved heap was not. */
	for (int i = 0; i < 30 && stat_of("writer", "memory_balloon_target") == 0; i++)
		mu_sleep_ms(100);
	ck_assert_uint_gt(stat_of("writer", "memory_balloon_target"), 0);
	ck_assert_uint_eq(stat_of("kept", "memory_balloon_target"), 0);
	n = read(efd, ev, sizeof(ev) - 1);
	ck_assert_int_gt(n, 0);
	ev[n] = '\0';
	ck_assert_msg(strstr(ev, "balloon "), "events:\n%s", ev);
	close(efd);
	ck_assert_uint_eq(stat_of("kept", "lines_resident"), 24 * MiB / LINE);
	heap_read("writer", 16 * MiB, 18);
}
END_TEST

START_TEST(the_balloon_file_takes_reports_only)
{
	static const char *const bad[] = { "freeable -1\n", "freeable 0x10\n", "gc\n",
					   "freeable 1\nfreeable 2\n" };
	struct bal b;
	int fd;

	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	fd = mu_open(mu_at("app/balloon"), O_RDWR);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(write(fd, bad[i], strlen(bad[i])) == -1 && errno == EINVAL,
			      "'%s' was taken (%s)", bad[i], strerror(errno));
	}
	ck_assert_int_eq(write(fd, "live 4096\nfreeable 8192\n", 24), 24);
	ck_assert_int_eq(bal_read(fd, &b), 0);
	ck_assert_uint_eq(b.target, 0);
	ck_assert_uint_eq(b.current, 0);
	ck_assert_uint_eq(b.rate, 1 * MiB);
	close(fd);
	/* Only the live heap has one. */
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/c"), 0700), 0);
	errno = 0;
	ck_assert_int_eq(open(mu_at("app/checkpoints/c/balloon"), O_RDONLY), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* ---- the space budget: balloons before a refusal -------------------------- */

static void setup_space(void)
{
	mu_root_make();
	mu_mount("cache=32M,pool=40M,wait=3000");
}

/* Write @len bytes of pattern @seed at 0 of heap @name, 1 MiB a call;
 * returns 0 or the errno of the first failure. */
static int heap_write(const char *name, uint64_t len, uint64_t seed)
{
	uint8_t *buf = malloc(MiB);
	int fd = mu_open(mu_at("%s/heap", name), O_RDWR), err = 0;

	ck_assert_ptr_nonnull(buf);
	for (uint64_t off = 0; off < len && !err; off += MiB) {
		size_t done = 0;

		mu_fill(buf, MiB, seed, off);
		while (done < MiB && !err) {   /* a short write: the rest says why */
			ssize_t r = pwrite(fd, buf + done, MiB - done, (off_t)(off + done));

			if (r < 0)
				err = errno;
			else
				done += (size_t)r;
		}
	}
	if (!err && fsync(fd) < 0)
		err = errno;
	close(fd);
	free(buf);
	return err;
}

START_TEST(a_runtime_gives_space_to_a_waiting_writer)
{
	uint64_t passes = mu_text_u64(".heapfs/pool", "space_reclaim_passes");
	struct bal rt;
	char *events;
	double t0;
	pid_t pid;
	int status, err, efd, bfd;

	ck_assert_int_eq(mkdir(mu_at("rt"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	ck_assert_int_eq(heap_write("rt", 32 * MiB, 11), 0);
	efd = mu_open(mu_at("rt/events"), O_RDONLY | O_NONBLOCK);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(runtime(mu_at("rt"), 32 * MiB, 1000));
	/* More than the pool holds beside rt's (both compress by about an
	 * eighth): it waits, the pool asks rt (which references most), rt
	 * punches, GC returns the space. */
	t0 = mu_now();
	err = heap_write("app", 24 * MiB, 12);
	fprintf(stderr, "test_pool_mount: 24 MiB written into a full pool in %.2f s\n",
		mu_now() - t0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* Killed, not exited: it never saw a wrong credit. */
	ck_assert_msg(WIFSIGNALED(status), "the runtime ended with status %d", status);
	ck_assert_msg(err == 0, "the write failed: %s", strerror(err));
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "space_reclaim_passes"), passes);
	ck_assert_uint_le(mu_text_u64(".heapfs/pool", "used"), 40 * MiB);
	/* Asked first for what it said it could give (8 MiB), then at its
	 * rate, which each answer raised. */
	bfd = mu_open(mu_at("rt/balloon"), O_RDONLY);
	ck_assert_int_eq(bal_read(bfd, &rt), 0);
	close(bfd);
	ck_assert_uint_ge(rt.current, 8 * MiB);
	ck_assert_uint_ge(rt.rate, 2 * MiB);
	/* Its targets were posted to its events, the last one too. */
	events = malloc(64 * 1024);
	ck_assert_ptr_nonnull(events);
	{
		ssize_t n = read(efd, events, 64 * 1024 - 1);
		char want[64];

		ck_assert_int_gt(n, 0);
		events[n] = '\0';
		snprintf(want, sizeof(want), "balloon %llu\n", rt.target);
		ck_assert_msg(strstr(events, want), "no '%s' in the events:\n%s", want, events);
	}
	free(events);
	close(efd);
	/* What it said is shown, freeable less what it gave. */
	{
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "pool", "--json", NULL };
		char *out = NULL;

		ck_assert_int_eq(mu_run_out(&out, argv), 0);
		ck_assert_msg(strstr(out, "\"freeable\": 0") && strstr(out, "\"live\": 16777216"),
			      "heapctl pool --json:\n%s", out);
		free(out);
	}
	/* Everything accepted reads back after a remount. */
	mu_remount();
	heap_read("app", 24 * MiB, 12);
}
END_TEST

/* Heap @h's space ledger matches its use: used is what its quota counts
 * (referenced, after stat's write-back), the rest of its reservation is
 * its own, and what is past it is owed to the sub-pools or lent past them. */
static void ledger_matches(const char *h, uint64_t reserve)
{
	uint64_t ref = stat_of(h, "referenced"), used = stat_of(h, "space_used");
	uint64_t past = ref > reserve ? ref - reserve : 0;

	ck_assert_uint_gt(ref, 0);
	ck_assert_msg(used == ref, "%s: ledger %llu, referenced %llu", h,
		      (unsigned long long)used, (unsigned long long)ref);
	ck_assert_uint_eq(stat_of(h, "space_reserve"), reserve);
	ck_assert_uint_eq(stat_of(h, "space_owed") + stat_of(h, "space_idle"), past);
	ck_assert_uint_eq(stat_of(h, "space_owed"), stat_of(h, "space_gl") +
			  stat_of(h, "space_gp") + stat_of(h, "space_le") + stat_of(h, "space_lp"));
}

START_TEST(the_space_ledger_follows_each_heap)
{
	uint64_t gl_size, gl_r, gl_a;
	int fd;

	ck_assert_int_eq(mkdir(mu_at("r"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("a"), 0700), 0);
	set_attr("r", "user.heapfs.reserve", "8M");
	ck_assert_int_eq(heap_write("r", 12 * MiB, 21), 0);
	ck_assert_int_eq(heap_write("a", 16 * MiB, 22), 0);
	ledger_matches("r", 8 * MiB);
	ledger_matches("a", 0);
	/* Writes are urgent: GL, at most its cap (50%) each, past it lent. */
	gl_size = mu_text_u64(".heapfs/pool", "space_gl_size");
	ck_assert_uint_ge(gl_size, (40 * MiB - 8 * MiB) * 40 / 100);   /* the rest rounds up */
	ck_assert_uint_le(gl_size, (40 * MiB - 8 * MiB) * 40 / 100 + 4);
	gl_r = stat_of("r", "space_gl");
	gl_a = stat_of("a", "space_gl");
	ck_assert_uint_eq(gl_a, gl_size / 2);
	ck_assert_uint_gt(stat_of("a", "space_idle"), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "space_gl_level"), gl_size - gl_r - gl_a);
	/* Lines given back repay: a's loan past the sub-pools first. */
	fd = mu_open(mu_at("a/heap"), O_RDWR);
	ck_assert_int_eq(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * MiB,
				   12 * MiB), 0);
	close(fd);
	ledger_matches("a", 0);
	ck_assert_uint_eq(stat_of("a", "space_idle"), 0);
	ck_assert_uint_lt(stat_of("a", "space_gl"), gl_a);
	/* heapctl pool shows the ledger, a's line included. */
	{
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "pool", NULL };
		char *out = NULL;

		ck_assert_int_eq(mu_run_out(&out, argv), 0);
		ck_assert_msg(strstr(out, "space ledger: a budget of 41943040 bytes, 8388608 "
				      "reserved") && strstr(out, "\nr  "),
			      "heapctl pool:\n%s", out);
		free(out);
	}
	/* A heap heapctl creates with a reservation has it in the ledger. */
	{
		const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "create", "c", "--reserve", "4M",
				       NULL };
		char *out = NULL;

		ck_assert_int_eq(mu_run_out(&out, argv), 0);
		free(out);
		ck_assert_int_eq(heap_write("c", 2 * MiB, 23), 0);
		ledger_matches("c", 4 * MiB);
		ck_assert_uint_eq(stat_of("c", "space_owed") + stat_of("c", "space_idle"), 0);
	}
	/* A remount finds the same ledger from the store. */
	mu_remount();
	ledger_matches("r", 8 * MiB);
	ledger_matches("a", 0);
	ledger_matches("c", 4 * MiB);
}
END_TEST

/* heapctl checkpoint @heap, unlabelled. */
static void checkpoint_take(const char *heap)
{
	const char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "checkpoint", heap, NULL };
	char *out = NULL;

	ck_assert_int_eq(mu_run_out(&out, argv), 0);
	free(out);
}

/*
 * Retention is reclaim: a heap whose keep was lowered still holds its old
 * unlabelled checkpoints until its next checkpoint; a writer that the pool
 * cannot hold makes the pass drop them (no runtime answers here) before
 * asking anyone, and the write succeeds.
 */
START_TEST(reclaim_drops_checkpoints_beyond_keep)
{
	uint64_t pruned = mu_text_u64(".heapfs/pool", "space_reclaim_pruned");
	int err;

	ck_assert_int_eq(mkdir(mu_at("old"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	ck_assert_int_eq(heap_write("old", 12 * MiB, 31), 0);
	checkpoint_take("old");
	ck_assert_int_eq(heap_write("old", 12 * MiB, 32), 0);
	checkpoint_take("old");
	set_attr("old", "user.heapfs.keep", "1");
	ck_assert_uint_eq(stat_of("old", "checkpoints"), 2);
	fprintf(stderr, "test_pool_mount: old references %llu bytes, the pool stores %llu\n",
		(unsigned long long)stat_of("old", "referenced"),
		(unsigned long long)mu_text_u64(".heapfs/pool", "used"));
	/* 24 MiB more than the pool holds beside both of old's versions. */
	err = heap_write("app", 24 * MiB, 33);
	ck_assert_msg(err == 0, "the write failed: %s", strerror(err));
	ck_assert_uint_eq(stat_of("old", "checkpoints"), 1);
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "space_reclaim_pruned"), pruned);
	ck_assert_uint_le(mu_text_u64(".heapfs/pool", "used"), 40 * MiB);
	/* What keep keeps, and everything written, reads back after a remount. */
	mu_remount();
	heap_read("old", 12 * MiB, 32);
	heap_read("app", 24 * MiB, 33);
}
END_TEST

/* A writer thread for the many-waiters case: 1 MiB into its own heap (a
 * file's writes are serialized by the kernel: one heap each). */
struct waiter {
	char path[512];
	ssize_t r;
	int err;
	double took;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint8_t *buf = malloc(MiB);
	int fd = open(w->path, O_RDWR);
	double t0 = mu_now();

	w->r = -1;
	w->err = buf && fd >= 0 ? 0 : errno;
	if (buf && fd >= 0) {
		mu_fill(buf, MiB, 14, 0);
		if ((w->r = pwrite(fd, buf, MiB, 0)) < 0)
			w->err = errno;
	}
	w->took = mu_now() - t0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

START_TEST(silent_heap_leaves_32_waiters_enospc_at_wait_after_one_pass)
{
	enum { WAITERS = 32 };
	struct waiter w[WAITERS];
	pthread_t th[WAITERS];
	uint64_t passes;
	int err, efd, refused = 0;

	ck_assert_int_eq(mkdir(mu_at("silent"), 0700), 0);
	for (int i = 0; i < WAITERS; i++)
		ck_assert_int_eq(mkdir(mu_at("w%d", i), 0700), 0);
	/* Fill the pool: the last writes are refused after waiting. */
	err = heap_write("silent", 64 * MiB, 13);
	ck_assert_msg(err == ENOSPC, "filling the pool gave %s", strerror(err));
	/* The pool stays low, so the silent heap is asked now and then (an
	 * ask, withdrawn after wait=, a pause as long): the waiters below
	 * join a pass or start one, but one at most. */
	passes = mu_text_u64(".heapfs/pool", "space_reclaim_passes");
	efd = mu_open(mu_at("silent/events"), O_RDONLY | O_NONBLOCK);
	for (int i = 0; i < WAITERS; i++) {
		snprintf(w[i].path, sizeof(w[i].path), "%s", mu_at("w%d/heap", i));
		ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
	}
	for (int i = 0; i < WAITERS; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		/* Refused, or short if what write-back settled let part in;
		 * either way after wait= (3 s), within 10%. */
		ck_assert_msg((w[i].r < 0 && w[i].err == ENOSPC) ||
			      (w[i].r > 0 && w[i].r < (ssize_t)MiB),
			      "waiter %d: %zd (%s)", i, w[i].r, strerror(w[i].err));
		refused += w[i].r < 0;
		ck_assert_msg(w[i].took >= 3.0 && w[i].took <= 3.3, "waiter %d gave up after %.2f s",
			      i, w[i].took);
	}
	ck_assert_int_ge(refused, WAITERS - 2);
	/* The 32 waiters made one pass at most; the silent heap is asked. */
	ck_assert_uint_le(mu_text_u64(".heapfs/pool", "space_reclaim_passes"), passes + 1);
	mu_sleep_ms(3500);   /* a whole cycle of asks (3 s asked, 3 s paused) since the open */
	{
		char ev[4096];
		ssize_t n = read(efd, ev, sizeof(ev) - 1);

		ck_assert_int_gt(n, 0);
		ev[n] = '\0';
		ck_assert_msg(strstr(ev, "balloon "), "events:\n%s", ev);
	}
	close(efd);
	/* Nothing accepted before is lost. */
	mu_remount();
	heap_read("silent", 30 * MiB, 13);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool_mount");
	TCase *tc = tcase_create("memory");

	tcase_add_checked_fixture(tc, setup, mu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reservation_keeps_lines_while_another_borrows);
	tcase_add_test(tc, the_space_ledger_without_a_pool);
	tcase_add_test(tc, a_heap_alone_uses_the_whole_cache);
	tcase_add_test(tc, a_reservation_recalls_loans);
	tcase_add_test(tc, a_memory_quota_bounds_resident_lines);
	tcase_add_test(tc, a_reservation_past_the_cache_is_refused);
	tcase_add_test(tc, the_cache_grows_and_gives_blocks_back_keeping_one);
	tcase_add_test(tc, a_starved_miss_asks_the_borrowers_balloon);
	tcase_add_test(tc, another_line_size_gets_a_block_past_reserved_lines);
	tcase_add_test(tc, the_balloon_file_takes_reports_only);
	suite_add_tcase(s, tc);
	tc = tcase_create("space");
	tcase_add_checked_fixture(tc, setup_space, mu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, a_runtime_gives_space_to_a_waiting_writer);
	tcase_add_test(tc, the_space_ledger_follows_each_heap);
	tcase_add_test(tc, reclaim_drops_checkpoints_beyond_keep);
	tcase_add_test(tc, silent_heap_leaves_32_waiters_enospc_at_wait_after_one_pass);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(pool_suite());
}
