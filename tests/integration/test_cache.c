/*
 * test_cache.c - the line cache through a real mount: a heap 16 times
 * larger than cache= written and read end to end keeps the daemon's peak
 * RSS (VmHWM in /proc/PID/status) under cache= plus 64 MiB with the data
 * correct; and four processes, two writing with pwrite and two through
 * MAP_SHARED mappings, keep a small cache evicting and writing back while
 * they overwrite their regions round after round, and lose no write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_util.h"

/* clang says it builds with ASan this way, gcc with __SANITIZE_ADDRESS__. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAS_ASAN 1
#endif
#endif
#ifndef HAS_ASAN
#define HAS_ASAN 0
#endif

#define MiB (1024ULL * 1024ULL)
#define CACHE_MIB 16ULL
#define OVERHEAD_MIB 64ULL             /* the fixed overhead */

/* The daemon's peak RSS so far, in bytes. */
static uint64_t daemon_hwm(void)
{
	char path[64], *text, *p;
	uint64_t kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)mu.pid);
	text = mu_slurp(path, NULL);
	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	p = strstr(text, "VmHWM:");
	ck_assert_ptr_nonnull(p);
	kb = strtoull(p + 6, NULL, 10);
	free(text);
	return kb * 1024;
}

static void setup_small(void)
{
	mu_root_make();
	mu_mount("cache=16M");
}

START_TEST(heap_16x_the_cache_keeps_rss_bounded)
{
	const uint64_t size = 16 * CACHE_MIB * MiB, chunk = MiB;
	uint8_t *buf = malloc(chunk), *got = malloc(chunk);
	uint64_t hwm;
	int fd;

	ck_assert(buf && got);
	ck_assert_int_eq(mkdir(mu_at("big"), 0755), 0);
	fd = mu_open(mu_at("big/heap"), O_RDWR);
	for (uint64_t off = 0; off < size; off += chunk) {
		mu_fill(buf, chunk, 7, off);
		ck_assert_int_eq(pwrite(fd, buf, chunk, (off_t)off), (ssize_t)chunk);
	}
	ck_assert_int_eq(fsync(fd), 0);
	/* Read it back past the kernel's page cache: every line from the daemon. */
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	for (uint64_t off = 0; off < size; off += chunk) {
		ck_assert_int_eq(pread(fd, got, chunk, (off_t)off), (ssize_t)chunk);
		mu_fill(buf, chunk, 7, off);
		ck_assert_msg(memcmp(got, buf, chunk) == 0, "MiB %llu differs",
			      (unsigned long long)(off / MiB));
	}
	close(fd);
	hwm = daemon_hwm();
	fprintf(stderr, "test_cache: %llu MiB heap, cache=%lluM: daemon peak RSS %.1f MiB\n",
		(unsigned long long)(size / MiB), (unsigned long long)CACHE_MIB,
		(double)hwm / MiB);
#if defined(__SANITIZE_ADDRESS__) || HAS_ASAN
	/* ASan's shadow and quarantine are not the daemon's: data only. */
#else
	ck_assert_msg(hwm <= (CACHE_MIB + OVERHEAD_MIB) * MiB,
		      "daemon peak RSS %.1f MiB, over cache=%lluM + %llu MiB",
		      (double)hwm / MiB, (unsigned long long)CACHE_MIB,
		      (unsigned long long)OVERHEAD_MIB);
#endif
	{
		char *pool = mu_slurp(mu_at(".heapfs/pool"), NULL);
		const char *p = strstr(pool, "cache_evictions: ");

		ck_assert_msg(p && strtoull(p + 17, NULL, 10) > 0, ".heapfs/pool:\n%s", pool);
		free(pool);
	}
	free(buf);
	free(got);
}
END_TEST

/* ---- four writers, two of them through mappings ------------------------ */

#define REGION (12 * MiB)              /* per writer: 48 MiB through a 16 MiB cache */
#define ROUNDS 3

static void writer(int i)
{
	const uint64_t base = (uint64_t)i * REGION;
	uint8_t *buf = malloc(MiB);
	int fd = open(mu_at("shared/heap"), O_RDWR);

	if (fd < 0 || !buf)
		_exit(2);
	for (uint64_t r = 1; r <= ROUNDS; r++) {
		if (i % 2 == 0) {
			for (uint64_t off = 0; off < REGION; off += MiB) {
				mu_fill(buf, MiB, r * 10 + (uint64_t)i, base + off);
				if (pwrite(fd, buf, MiB, (off_t)(base + off)) != (ssize_t)MiB)
					_exit(3);
			}
		} else {
			uint8_t *m = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					  (off_t)base);

			if (m == MAP_FAILED)
				_exit(4);
			for (uint64_t off = 0; off < REGION; off += MiB)
				mu_fill(m + off, MiB, r * 10 + (uint64_t)i, base + off);
			if (msync(m, REGION, MS_SYNC) != 0 || munmap(m, REGION) != 0)
				_exit(5);
		}
	}
	close(fd);
	free(buf);
	_exit(0);
}

START_TEST(four_writers_two_mapped_lose_nothing_under_eviction)
{
	uint8_t *buf = malloc(MiB), *got = malloc(MiB);
	pid_t pids[4];
	int fd;

	ck_assert(buf && got);
	ck_assert_int_eq(mkdir(mu_at("shared"), 0755), 0);
	fd = mu_open(mu_at("shared/heap"), O_RDWR);
	ck_assert_int_eq(ftruncate(fd, (off_t)(4 * REGION)), 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0)
			writer(i);
	}
	for (int i = 0; i < 4; i++) {
		int st;

		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d: status 0x%x",
			      i, st);
	}
	/* Every byte is its writer's last round, through the daemon. */
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	for (int i = 0; i < 4; i++) {
		for (uint64_t off = 0; off < REGION; off += MiB) {
			uint64_t at = (uint64_t)i * REGION + off;

			ck_assert_int_eq(pread(fd, got, MiB, (off_t)at), (ssize_t)MiB);
			mu_fill(buf, MiB, ROUNDS * 10 + (uint64_t)i, at);
			ck_assert_msg(memcmp(got, buf, MiB) == 0, "writer %d, MiB %llu: lost a write",
				      i, (unsigned long long)(off / MiB));
		}
	}
	/* And again after a remount: it was all written back. */
	close(fd);
	mu_remount();
	fd = mu_open(mu_at("shared/heap"), O_RDONLY);
	for (int i = 0; i < 4; i++) {
		uint64_t at = (uint64_t)i * REGION + REGION - MiB;

		ck_assert_int_eq(pread(fd, got, MiB, (off_t)at), (ssize_t)MiB);
		mu_fill(buf, MiB, ROUNDS * 10 + (uint64_t)i, at);
		ck_assert_msg(memcmp(got, buf, MiB) == 0, "writer %d after remount", i);
	}
	close(fd);
	free(buf);
	free(got);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache=16M");

	tcase_add_checked_fixture(tc, setup_small, mu_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, heap_16x_the_cache_keeps_rss_bounded);
	tcase_add_test(tc, four_writers_two_mapped_lose_nothing_under_eviction);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(cache_suite());
}
