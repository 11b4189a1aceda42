/*
 * test_gc_mount.c - garbage collection through a real mount: heapctl gc
 * reclaims exactly what overwrites left (and nothing twice), gc --full
 * gives the disk back (du of the store), and the daemon's background
 * rounds every gc= seconds do the same on their own.  The store side of
 * GC (what it reclaims, its fence) is test_gc's.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount_util.h"

#define LS 65536

/* heapctl ARGS...: its exit code, its stdout in *@out (free it). */
#define HEAPCTL(out, ...) mu_run_out(out, (const char *[]){ HEAPCTL_BIN, __VA_ARGS__, NULL })

/* `du -sb` of the daemon's store, in bytes. */
static uint64_t store_du(void)
{
	char cmd[512], *out;
	uint64_t n;

	snprintf(cmd, sizeof(cmd), "du -sb %s | cut -f1", mu.store);
	ck_assert_int_eq(mu_sh(mu_in_root("du.out"), cmd), 0);
	out = mu_slurp(mu_in_root("du.out"), NULL);
	ck_assert_ptr_nonnull(out);
	n = strtoull(out, NULL, 10);
	free(out);
	return n;
}

/* Three generations of 64 lines of app, each fsynced: two are garbage. */
static void three_generations(void)
{
	uint8_t *buf = malloc(64 * LS);
	int fd;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	fd = mu_open(mu_at("app/heap"), O_RDWR);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		mu_fill(buf, 64 * LS, seed, 0);
		mu_pwrite_all(fd, buf, 64 * LS, 0);
		ck_assert_int_eq(fsync(fd), 0);
	}
	close(fd);
	free(buf);
}

/* The heap holds the third generation. */
static void third_generation_reads_back(void)
{
	uint8_t *got = malloc(64 * LS), *want = malloc(64 * LS);
	int fd = mu_open(mu_at("app/heap"), O_RDONLY);

	ck_assert(got && want);
	mu_pread_all(fd, got, 64 * LS, 0);
	mu_fill(want, 64 * LS, 3, 0);
	ck_assert_msg(memcmp(got, want, 64 * LS) == 0, "app/heap is not the third generation");
	close(fd);
	free(got);
	free(want);
}

START_TEST(gc_reclaims_what_was_overwritten_and_full_gives_the_disk_back)
{
	uint64_t before, after;
	char *out;

	mu_unmount();
	mu_mount("gc=0");   /* only heapctl gc runs: the counts are exact */
	three_generations();
	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "gc"), 0);
	ck_assert_msg(strncmp(out, "reclaimed 128 blobs, ", 21) == 0, "heapctl gc: %s", out);
	free(out);
	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "gc"), 0);
	ck_assert_str_eq(out, "reclaimed 0 blobs, 0 bytes stored (0 candidates, 0 busy)\n");
	free(out);
	before = store_du();
	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "gc", "--full"), 0);
	free(out);
	after = store_du();
	ck_assert_msg(after < before * 6 / 10, "du of the store %llu -> %llu after gc --full",
		      (unsigned long long)before, (unsigned long long)after);
	third_generation_reads_back();
	ck_assert_int_eq(HEAPCTL(&out, "--store", mu.store, "fsck", "--verify-data"), 0);
	ck_assert_str_eq(out, "0 errors\n");
	free(out);
}
END_TEST

START_TEST(gc_runs_in_the_background_every_gc_seconds)
{
	char *pool = NULL;
	uint64_t freed = 0;

	mu_unmount();
	mu_mount("gc=1");
	three_generations();
	/* A promise of "within a second or two", so a bounded wait for it. */
	for (int i = 0; i < 100 && freed < 128; i++) {
		free(pool);
		pool = mu_slurp(mu_at(".heapfs/pool"), NULL);
		ck_assert_ptr_nonnull(pool);
		freed = strstr(pool, "gc_blobs_freed: ") ?
			strtoull(strstr(pool, "gc_blobs_freed: ") + 16, NULL, 10) : 0;
		if (freed < 128)
			mu_sleep_ms(100);
	}
	ck_assert_msg(freed == 128, "background GC freed %llu blobs in 10 s:\n%s",
		      (unsigned long long)freed, pool);
	ck_assert_msg(mu_has_line(pool, "gc: 1"), "%s", pool);
	/* It freed twice the 4 MiB live, so it trimmed: the blob files of the
	 * first two generations left the disk without gc --full. */
	ck_assert_msg(mu_has_line(pool, "gc_trims: 1") || mu_has_line(pool, "gc_trims: 2"),
		      "%s", pool);
	free(pool);
	ck_assert_msg(store_du() < 2 * 64 * LS, "du of the store is %llu for %u live",
		      (unsigned long long)store_du(), 64 * LS);
	third_generation_reads_back();
}
END_TEST

static Suite *gc_suite(void)
{
	Suite *s = suite_create("gc_mount");
	TCase *tc = mu_tcase_new(s, "gc", mu_setup);

	tcase_add_test(tc, gc_reclaims_what_was_overwritten_and_full_gives_the_disk_back);
	tcase_add_test(tc, gc_runs_in_the_background_every_gc_seconds);
	return s;
}

int main(void)
{
	return mu_main(gc_suite());
}
