/*
 * test_space_mount.c - where the space goes, through a real mount: each
 * checkpoint's held, unique, shared and freed-if-deleted bytes (heapctl
 * space, checkpoints/N/stat) against what removing it then takes from the
 * heap's referenced bytes and from the mount's used bytes; df's used is
 * the bytes stored, garbage is shown apart in .heapfs/pool until GC takes
 * it; the figures survive a remount and fsck agrees.  The exactness of the
 * figures under every operation is test_space's (a recount of the store).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mount_util.h"

#define LS 65536

#define HEAPCTL(out, ...) mu_run_out(out, (const char *[]){ HEAPCTL_BIN, __VA_ARGS__, NULL })

/* Line @line of @heap gets content @seed, synced. */
static void put(const char *heap, uint64_t line, uint64_t seed)
{
	uint8_t buf[LS];
	char rel[64];
	int fd;

	snprintf(rel, sizeof(rel), "%s/heap", heap);
	fd = mu_open(mu_at("%s", rel), O_RDWR);
	mu_fill(buf, LS, seed, 0);
	mu_pwrite_all(fd, buf, LS, line * LS);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
}

static void checkpoint(void)
{
	char *out;

	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "checkpoint", "app"), 0);
	free(out);
}

struct space_row {
	uint64_t version, held, unique, shared, freed;
};

/* `heapctl space app`: the heap's figures and every checkpoint's row. */
static size_t space(struct space_row *rows, size_t cap, uint64_t *referenced)
{
	char *out, *line;
	size_t n = 0;

	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "space", "app"), 0);
	ck_assert_msg(sscanf(out, "referenced: %lu", referenced) == 1, "%s", out);
	line = strstr(out, "VERSION");
	ck_assert_msg(line, "%s", out);
	for (line = strchr(line, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		struct space_row *r = &rows[n];

		ck_assert_uint_lt(n, cap);
		ck_assert_msg(sscanf(line + 1, "%lu %lu %lu %lu %lu", &r->version, &r->held,
				     &r->unique, &r->shared, &r->freed) == 5,
			      "row: %s", line + 1);
		n++;
	}
	free(out);
	return n;
}

/* df's used bytes of the mount. */
static uint64_t df_used(void)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(mu.mnt, &sv), 0);
	return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

static void expect_df_is_pool_used(void)
{
	uint64_t used = mu_text_u64(".heapfs/pool", "used"), df = df_used();

	/* df counts 4 KiB blocks of the pool's size and of what is free. */
	ck_assert_msg(df + 4096 > used && df < used + 4096,
		      "df says %llu used, .heapfs/pool %llu", (unsigned long long)df,
		      (unsigned long long)used);
}

START_TEST(checkpoint_space_is_what_removing_it_gives_back)
{
	struct space_row rows[8];
	uint64_t ref, ref_after, used, used_after;
	size_t n;
	char *out;

	mu_unmount();
	mu_mount("gc=0");   /* garbage stays until heapctl gc says */
	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("other"), 0700), 0);
	for (uint64_t l = 0; l < 8; l++)
		put("app", l, 100 + l);
	checkpoint();                       /* 1: lines 0-7 */
	for (uint64_t l = 0; l < 4; l++)
		put("app", l, 200 + l);     /* 2: 0-3 new; 1's 0-3 now only in 1 */
	put("app", 4, 105);                 /*    line 4 = line 5's content */
	checkpoint();
	put("app", 0, 300);                 /* 3: line 0 again; 2's line 0 only in 2 */
	put("app", 1, 201);                 /*    unchanged: no entry */
	checkpoint();
	put("app", 0, 400);                 /* live: 3's line 0 only in 3 */
	put("other", 0, 202);               /* other shares 2's line 2 */
	put("other", 1, 100);               /* and 1's line 0 */

	n = space(rows, 8, &ref);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ref, mu_xattr_u64("app", "user.heapfs.referenced"));
	for (size_t i = 0; i < n; i++) {
		char rel[64];

		ck_assert_uint_eq(rows[i].version, i + 1);
		ck_assert_uint_eq(rows[i].held, rows[i].unique + rows[i].shared);
		snprintf(rel, sizeof(rel), "app/checkpoints/%zu/stat", i + 1);
		ck_assert_uint_eq(mu_text_u64(rel, "held"), rows[i].held);
		ck_assert_uint_eq(mu_text_u64(rel, "unique"), rows[i].unique);
		ck_assert_uint_eq(mu_text_u64(rel, "freed_if_deleted"), rows[i].freed);
	}
	/* 1 holds 8 lines; deleting it drops lines 0-3 (2 rewrote them), of
	 * which line 0's content other holds too: unique 0-3, freed 1-3. */
	ck_assert_uint_gt(rows[0].unique, rows[0].freed);
	ck_assert_uint_gt(rows[0].freed, 0);
	ck_assert_uint_gt(rows[0].shared, 0);   /* 4-7 move up to 2 */
	/* 3 holds line 0 only, which the live version rewrote. */
	ck_assert_uint_eq(rows[2].held, rows[2].unique);
	ck_assert_uint_eq(rows[2].freed, rows[2].unique);
	expect_df_is_pool_used();

	/* Remove them in the order 2, 1, 3: each takes exactly its figures. */
	for (int k = 0; k < 3; k++) {
		static const int order[3] = { 2, 1, 3 };
		struct space_row now[8], *r = NULL;

		n = space(now, 8, &ref);
		for (size_t i = 0; i < n; i++)
			if (now[i].version == (uint64_t)order[k])
				r = &now[i];
		ck_assert_ptr_nonnull(r);
		used = mu_text_u64(".heapfs/pool", "used");
		ck_assert_int_eq(rmdir(mu_at("app/checkpoints/%d", order[k])), 0);
		ref_after = mu_xattr_u64("app", "user.heapfs.referenced");
		used_after = mu_text_u64(".heapfs/pool", "used");
		ck_assert_msg(ref - ref_after == r->unique,
			      "checkpoint %d: unique %llu, removing it took %llu from the heap",
			      order[k], (unsigned long long)r->unique,
			      (unsigned long long)(ref - ref_after));
		ck_assert_msg(used - used_after == r->freed,
			      "checkpoint %d: freed %llu, removing it freed %llu", order[k],
			      (unsigned long long)r->freed, (unsigned long long)(used - used_after));
		expect_df_is_pool_used();
	}

	/* What they held is garbage until GC; GC leaves used as it is. */
	used = mu_text_u64(".heapfs/pool", "used");
	ck_assert_uint_gt(mu_text_u64(".heapfs/pool", "garbage"), 0);
	ck_assert_int_eq(HEAPCTL(&out, "-m", mu.mnt, "gc", "--full"), 0);
	free(out);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "garbage"), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "garbage_blobs"), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "used"), used);

	/* The heap's stat file and attributes agree; a remount changes nothing. */
	ref = mu_xattr_u64("app", "user.heapfs.referenced");
	ck_assert_uint_eq(mu_text_u64("app/stat", "referenced"), ref);
	ck_assert_uint_eq(mu_text_u64("app/stat", "unique"), mu_xattr_u64("app", "user.heapfs.unique"));
	mu_remount();
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.referenced"), ref);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "used"), used);
	expect_df_is_pool_used();
	mu_unmount();
	ck_assert_int_eq(HEAPCTL(&out, "--store", mu.store, "fsck"), 0);
	ck_assert_str_eq(out, "0 errors\n");
	free(out);
}
END_TEST

/* A blob two heaps share is each one's referenced bytes, neither's unique,
 * and becomes the other's unique when one lets it go. */
START_TEST(shared_blob_counts_fully_for_each_heap)
{
	uint64_t a_ref, b_ref;

	ck_assert_int_eq(mkdir(mu_at("app"), 0700), 0);
	ck_assert_int_eq(mkdir(mu_at("other"), 0700), 0);
	put("app", 0, 1);
	put("app", 1, 2);
	put("other", 5, 2);
	a_ref = mu_xattr_u64("app", "user.heapfs.referenced");
	b_ref = mu_xattr_u64("other", "user.heapfs.referenced");
	ck_assert_uint_gt(b_ref, 0);
	ck_assert_uint_gt(a_ref, b_ref);
	ck_assert_uint_eq(mu_xattr_u64("other", "user.heapfs.unique"), 0);
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.unique"), a_ref - b_ref);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "used"), a_ref);   /* stored once */
	ck_assert_int_eq(truncate(mu_at("app/heap"), LS), 0);
	ck_assert_uint_eq(mu_xattr_u64("other", "user.heapfs.unique"), b_ref);
	ck_assert_uint_eq(mu_xattr_u64("app", "user.heapfs.referenced"), a_ref - b_ref);
	ck_assert_int_eq(rmdir(mu_at("other")), 0);
	ck_assert_uint_eq(mu_text_u64(".heapfs/pool", "used"), a_ref - b_ref);
}
END_TEST

static Suite *space_suite(void)
{
	Suite *s = suite_create("space_mount");
	TCase *tc = mu_tcase_new(s, "space", mu_setup);

	tcase_add_test(tc, checkpoint_space_is_what_removing_it_gives_back);
	tcase_add_test(tc, shared_blob_counts_fully_for_each_heap);
	return s;
}

int main(void)
{
	return mu_main(space_suite());
}
