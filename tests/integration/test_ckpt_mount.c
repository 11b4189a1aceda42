/*
 * test_ckpt_mount.c - the checkpoint policy through a real mount
 * (checkpoint/, DESIGN.md "automatic checkpoints"): automatic checkpoints
 * by interval and by dirty bytes from user.heapfs.autocheckpoint,
 * retention from user.heapfs.keep (exactly N unlabelled stay, labelled
 * ones all stay), concurrent requests from mkdir and heapctl each getting
 * their own version, and a checkpoint refused for space on a full store
 * disk leaving the heap writable, with everything reading back once there
 * is room.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#define LS (64u * 1024u)   /* the mount's default line size */

static void setup_app(void)
{
	mu_setup();
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
}

static void set_attr(const char *name, const char *value)
{
	ck_assert_msg(setxattr(mu_at("app"), name, value, strlen(value), 0) == 0,
		      "setxattr %s=%s: %s", name, value, strerror(errno));
}

static uint64_t n_checkpoints(void)
{
	return mu_text_u64("app/stat", "checkpoints");
}

static uint64_t wait_checkpoints(uint64_t at_least, double timeout_s)
{
	double end = mu_now() + timeout_s;
	uint64_t n;

	while ((n = n_checkpoints()) < at_least && mu_now() < end)
		mu_sleep_ms(20);
	return n;
}

/* Write @len bytes of seed @seed at @off of app/heap. */
static void fill(uint64_t seed, uint64_t off, size_t len)
{
	char *buf = malloc(len);
	int fd = mu_open(mu_at("app/heap"), O_RDWR);

	ck_assert_ptr_nonnull(buf);
	mu_fill(buf, len, seed, off);
	mu_pwrite_all(fd, buf, len, off);
	close(fd);
	free(buf);
}

/* @rel holds seed @seed's bytes over [@off, @off + @len). */
static void expect(const char *rel, uint64_t seed, uint64_t off, size_t len)
{
	char *want = malloc(len), *got = malloc(len);
	int fd = mu_open(mu_at("%s", rel), O_RDONLY);

	ck_assert(want && got);
	mu_fill(want, len, seed, off);
	mu_pread_all(fd, got, len, off);
	ck_assert_msg(memcmp(want, got, len) == 0, "%s differs at [%llu, +%zu)", rel,
		      (unsigned long long)off, len);
	close(fd);
	free(want);
	free(got);
}

/* heapctl -m MNT checkpoint app [--label L]: the version it printed, or -1. */
static long ctl_checkpoint(const char *label, int tag)
{
	char out[400], *text;
	char *argv[] = { HEAPCTL_BIN, "-m", mu.mnt, "checkpoint", "app", "--label",
			 (char *)(uintptr_t)label, NULL };
	long v = -1;
	int st;

	if (!label)
		argv[5] = NULL;
	snprintf(out, sizeof(out), "%s/ctl.%d.out", mu.root, tag);
	st = mu_run(out, NULL, argv);
	text = mu_slurp(out, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && text)
		v = strtol(text, NULL, 10);
	free(text);
	return v;
}

/* The entries of app/checkpoints: how many numbers, and whether @label is one. */
static void count_entries(size_t *numbers, const char *label, bool *has_label)
{
	char *l = mu_list(mu_at("app/checkpoints"));

	ck_assert_ptr_nonnull(l);
	*numbers = 0;
	*has_label = false;
	for (char *p = l, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		*nl = '\0';
		if (*p >= '0' && *p <= '9')
			(*numbers)++;
		else if (label && strcmp(p, label) == 0)
			*has_label = true;
	}
	free(l);
}

/* ---- automatic checkpoints ------------------------------------------ */

START_TEST(interval_takes_checkpoints_while_the_heap_changes)
{
	uint64_t n;

	fill(1, 0, 2 * LS);
	set_attr("user.heapfs.autocheckpoint", "interval=200ms");
	ck_assert_uint_eq(wait_checkpoints(1, 10), 1);
	expect("app/checkpoints/1/heap", 1, 0, 2 * LS);
	fill(2, LS, LS);
	ck_assert_uint_ge(wait_checkpoints(2, 10), 2);
	n = n_checkpoints();
	expect("app/checkpoints/latest/heap", 2, LS, LS);
	/* Unchanged, the heap gets no more. */
	mu_sleep_ms(1000);
	ck_assert_uint_eq(n_checkpoints(), n);
	/* Off: none, however it changes. */
	set_attr("user.heapfs.autocheckpoint", "off");
	mu_sleep_ms(200);
	n = n_checkpoints();
	fill(3, 0, LS);
	mu_sleep_ms(1000);
	ck_assert_uint_eq(n_checkpoints(), n);
}
END_TEST

START_TEST(dirty_bound_takes_a_checkpoint_once_reached)
{
	/* 1 MiB is 16 lines; an interval too long to matter here. */
	set_attr("user.heapfs.autocheckpoint", "interval=1h,dirty=1M");
	fill(1, 0, 15 * LS);
	mu_sleep_ms(800);
	ck_assert_uint_eq(n_checkpoints(), 0);
	fill(1, 15 * LS, LS);
	ck_assert_uint_eq(wait_checkpoints(1, 10), 1);
	expect("app/checkpoints/1/heap", 1, 0, 16 * LS);
	/* Counted again from the new checkpoint: rewriting 15 lines is not enough. */
	fill(2, 0, 15 * LS);
	mu_sleep_ms(800);
	ck_assert_uint_eq(n_checkpoints(), 1);
	fill(2, 15 * LS, LS);
	ck_assert_uint_eq(wait_checkpoints(2, 10), 2);
	expect("app/checkpoints/2/heap", 2, 0, 16 * LS);
}
END_TEST

/* ---- retention ------------------------------------------------------ */

START_TEST(keep_leaves_exactly_n_unlabelled_and_every_labelled)
{
	size_t numbers;
	bool gold;
	long v;

	set_attr("user.heapfs.keep", "3");
	fill(1, 0, LS);
	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/gold"), 0755), 0);
	for (int i = 0; i < 6; i++) {
		fill((uint64_t)i + 2, LS, LS);
		v = ctl_checkpoint(NULL, i);
		ck_assert_int_eq(v, i + 2);
	}
	count_entries(&numbers, "gold", &gold);
	ck_assert_uint_eq(numbers, 4);   /* gold (1), then 5, 6, 7 */
	ck_assert(gold);
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/gold"), "1");
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "7");
	ck_assert_int_eq(access(mu_at("app/checkpoints/4"), F_OK), -1);
	ck_assert_int_eq(access(mu_at("app/checkpoints/5"), F_OK), 0);
	expect("app/checkpoints/gold/heap", 1, 0, LS);
	expect("app/checkpoints/5/heap", 5, LS, LS);
	expect("app/checkpoints/7/heap", 7, LS, LS);
	/* Automatic ones are trimmed the same way. */
	set_attr("user.heapfs.autocheckpoint", "interval=100ms");
	for (int i = 0; i < 4; i++) {
		uint64_t n = mu_text_u64("app/stat", "version");

		fill((uint64_t)i + 20, 0, LS);
		for (double end = mu_now() + 10;
		     mu_text_u64("app/stat", "version") == n && mu_now() < end;)
			mu_sleep_ms(20);
	}
	set_attr("user.heapfs.autocheckpoint", "off");
	mu_sleep_ms(300);
	count_entries(&numbers, "gold", &gold);
	ck_assert_uint_eq(numbers, 4);
	ck_assert(gold);
	ck_assert_uint_eq(n_checkpoints(), 4);
	ck_assert_uint_ge(mu_text_u64("app/stat", "version"), 12);   /* 4 more were taken */
}
END_TEST

START_TEST(keep_zero_keeps_every_checkpoint)
{
	fill(1, 0, LS);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ctl_checkpoint(NULL, i), i + 1);
	ck_assert_uint_eq(n_checkpoints(), 5);
	set_attr("user.heapfs.keep", "0");
	ck_assert_int_eq(ctl_checkpoint(NULL, 9), 6);
	ck_assert_uint_eq(n_checkpoints(), 6);
}
END_TEST

/* ---- one at a time -------------------------------------------------- */

#define ROUNDS 6

/* mkdir checkpoints/m0, m1, ...: each one's version (its symlink), or -1.
 * Paths of its own: mu_at()'s buffers are the main thread's. */
static void *mkdir_many(void *arg)
{
	long *v = arg;

	for (int i = 0; i < ROUNDS; i++) {
		char path[400], target[32];
		ssize_t n;

		v[i] = -1;
		snprintf(path, sizeof(path), "%s/app/checkpoints/m%d", mu.mnt, i);
		if (mkdir(path, 0755) != 0)
			continue;
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			v[i] = strtol(target, NULL, 10);
		}
	}
	return NULL;
}

START_TEST(concurrent_requests_each_get_their_own_version)
{
	long by_mkdir[ROUNDS], by_ctl[ROUNDS];
	pthread_t t;

	fill(1, 0, 8 * LS);
	ck_assert_int_eq(pthread_create(&t, NULL, mkdir_many, by_mkdir), 0);
	for (int i = 0; i < ROUNDS; i++) {
		fill((uint64_t)i + 2, (uint64_t)i * LS, LS);
		by_ctl[i] = ctl_checkpoint(NULL, i);
	}
	pthread_join(t, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		ck_assert_msg(by_mkdir[i] >= 1 && by_ctl[i] >= 1, "round %d: %ld %ld", i,
			      by_mkdir[i], by_ctl[i]);
		for (int j = 0; j < ROUNDS; j++) {
			ck_assert_int_ne(by_mkdir[i], by_ctl[j]);
			if (j != i) {
				ck_assert_int_ne(by_mkdir[i], by_mkdir[j]);
				ck_assert_int_ne(by_ctl[i], by_ctl[j]);
			}
		}
	}
	ck_assert_uint_eq(n_checkpoints(), 2 * ROUNDS);
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/latest"), "12");
}
END_TEST

/* ---- a full disk ---------------------------------------------------- */

/*
 * The store lives on a 48 MiB tmpfs.  A filler file (beside the store's
 * own files; RocksDB ignores names it did not make) leaves ~10 MiB free;
 * 16 MiB of compressible lines, dirty in the line cache, need up to 36 MiB
 * for a checkpoint: refused with ENOSPC, nothing written.  The heap keeps
 * taking writes (its lines compress well, so writing them back fits);
 * once the filler is gone the same checkpoint goes through and holds
 * every byte.
 */
static void compressible(char *buf, size_t len, uint64_t seed, uint64_t off)
{
	memset(buf, (int)('a' + seed % 26), len);
	for (size_t i = 0; i + 48 <= len; i += 4096) {   /* every line distinct */
		char tag[48];
		int n = snprintf(tag, sizeof(tag), "%llu:%llu", (unsigned long long)seed,
				 (unsigned long long)((off + i) / 4096));

		memcpy(buf + i, tag, (size_t)n);
	}
}

static void write_compressible(uint64_t seed, uint64_t off, size_t len)
{
	char *buf = malloc(len);
	int fd = mu_open(mu_at("app/heap"), O_RDWR);

	ck_assert_ptr_nonnull(buf);
	compressible(buf, len, seed, off);
	mu_pwrite_all(fd, buf, len, off);
	close(fd);
	free(buf);
}

static bool holds_compressible(const char *rel, uint64_t seed, uint64_t off, size_t len)
{
	char *want = malloc(len), *got = malloc(len);
	int fd = mu_open(mu_at("%s", rel), O_RDONLY);
	bool same;

	ck_assert(want && got);
	compressible(want, len, seed, off);
	mu_pread_all(fd, got, len, off);
	same = memcmp(want, got, len) == 0;
	close(fd);
	free(want);
	free(got);
	return same;
}

START_TEST(checkpoint_refused_for_space_leaves_the_heap_writable)
{
	char filler[400];
	struct statvfs v;
	int fd, rc_mkdir, err_mkdir, st;
	uint64_t avail;
	long ctl_v;
	bool first_ok, second_ok;

	ck_assert_msg(mount("tmpfs", mu.store, "tmpfs", 0, "size=48m") == 0,
		      "mount tmpfs on %s: %s (run as root)", mu.store, strerror(errno));
	mu_mount("cache=64M");
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	snprintf(filler, sizeof(filler), "%s/filler", mu.store);
	fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(statvfs(mu.store, &v), 0);
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	ck_assert_uint_gt(avail, 20u << 20);
	ck_assert_int_eq(posix_fallocate(fd, 0, (off_t)(avail - (10u << 20))), 0);
	close(fd);

	write_compressible(1, 0, 16u << 20);
	rc_mkdir = mkdir(mu_at("app/checkpoints/full"), 0755);
	err_mkdir = errno;
	ctl_v = ctl_checkpoint(NULL, 0);
	/* Still writable, and what it holds reads back. */
	write_compressible(2, 16u << 20, 1u << 20);
	fd = open(mu_at("app/heap"), O_RDWR);
	st = fd >= 0 ? fsync(fd) : -1;
	if (fd >= 0)
		close(fd);
	first_ok = holds_compressible("app/heap", 1, 0, 16u << 20);
	second_ok = holds_compressible("app/heap", 2, 16u << 20, 1u << 20);
	unlink(filler);   /* room again, before any assertion */

	ck_assert_msg(rc_mkdir == -1 && err_mkdir == ENOSPC, "mkdir on a full disk: %d (%s)",
		      rc_mkdir, strerror(err_mkdir));
	ck_assert_int_eq(ctl_v, -1);
	ck_assert_msg(st == 0, "fsync with the disk nearly full: %s", strerror(errno));
	ck_assert(first_ok && second_ok);
	ck_assert_uint_eq(n_checkpoints(), 0);
	ck_assert_int_eq(access(mu_at("app/checkpoints/full"), F_OK), -1);

	ck_assert_int_eq(mkdir(mu_at("app/checkpoints/full"), 0755), 0);
	ck_assert_str_eq(mu_readlink_at("app/checkpoints/full"), "1");
	ck_assert(holds_compressible("app/checkpoints/full/heap", 1, 0, 16u << 20));
	ck_assert(holds_compressible("app/checkpoints/full/heap", 2, 16u << 20, 1u << 20));
	write_compressible(3, 0, LS);
	ck_assert(holds_compressible("app/heap", 3, 0, LS));
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

static Suite *ckpt_mount_suite(void)
{
	Suite *s = suite_create("ckpt_mount");
	TCase *tc;

	tc = mu_tcase_new(s, "automatic", setup_app);
	tcase_add_test(tc, interval_takes_checkpoints_while_the_heap_changes);
	tcase_add_test(tc, dirty_bound_takes_a_checkpoint_once_reached);

	tc = mu_tcase_new(s, "retention", setup_app);
	tcase_add_test(tc, keep_leaves_exactly_n_unlabelled_and_every_labelled);
	tcase_add_test(tc, keep_zero_keeps_every_checkpoint);

	tc = mu_tcase_new(s, "serial", setup_app);
	tcase_add_test(tc, concurrent_requests_each_get_their_own_version);

	tc = tcase_create("space");
	tcase_add_checked_fixture(tc, setup_root, teardown_root);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, checkpoint_refused_for_space_leaves_the_heap_writable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mu_main(ckpt_mount_suite());
}
