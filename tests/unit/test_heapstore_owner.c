/*
 * test_heapstore_owner.c - who a heap belongs to (issue 13) in the store:
 * an owner, a group and permission bits per heap, given at creation (or
 * the store directory's owner and 0700), changed by hs_heap_owner_set,
 * kept across a reopen, and read from heap records written before owners
 * existed.  The mount's use of them is test_perm's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "heapstore_int.h"
#include "test_util.h"

static char *dir;
static hs_store *st;

static void setup(void)
{
	dir = tu_tmpdir("owner");
	ck_assert_ptr_nonnull(dir);
	st = tu_store_open(dir, 0, 0);
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

/*
 * Owner, group and mode: given at creation (or the store directory's owner
 * and 0700), changed by hs_heap_owner_set, kept across a reopen; a record
 * from before owners (format 2) reads as the store's owner's, private.
 */
START_TEST(heap_owner_and_mode_persist)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	struct stat dst;
	hs_heap *h;
	hs_heap_info hi;
	uint8_t key[HS_META_KEY_MAX], rec[HS_REC_MAX];
	size_t kl, rl;
	struct hs_heap_rec r;
	rocksdb_writeoptions_t *wo;
	char *err = NULL;

	ck_assert_int_eq(stat(dir, &dst), 0);
	ck_assert_int_eq(hs_heap_create(st, "plain", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "plain"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.uid, dst.st_uid);
	ck_assert_uint_eq(hi.gid, dst.st_gid);
	ck_assert_uint_eq(hi.mode, 0700);
	ck_assert_int_eq(hs_heap_owner_set(h, 65534, 100, 0640), 0);
	ck_assert_int_eq(hs_heap_owner_set(h, 1, 1, 04700), -EINVAL);
	hs_heap_close(h);
	p.owned = 1;
	p.uid = 7;
	p.gid = 8;
	p.mode = 01777;
	ck_assert_int_eq(hs_heap_create(st, "sticky", &p), -EINVAL);

	/* "old": a format-2 record, as heapfs wrote before owners. */
	ck_assert_int_eq(hs_heap_create(st, "old", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "old"), 0);
	r = h->rec;
	kl = hs_key__meta(key, 'H', h->id, NULL);
	hs_heap_close(h);
	rl = hs_heap_rec__encode(rec, sizeof(rec), &r);
	ck_assert_uint_gt(rl, 68);
	rec[0] = 2;
	memmove(rec + 56, rec + 68, rl - 68);   /* no uid, gid, mode */
	wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_META), (const char *)key,
		       kl, (const char *)rec, rl - 12, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_ptr_null(err);

	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "plain"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.uid, 65534);
	ck_assert_uint_eq(hi.gid, 100);
	ck_assert_uint_eq(hi.mode, 0640);
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_open(&h, st, "old"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.uid, dst.st_uid);
	ck_assert_uint_eq(hi.gid, dst.st_gid);
	ck_assert_uint_eq(hi.mode, 0700);
	/* Its next record write is format 3, owner and all. */
	ck_assert_int_eq(hs_heap_owner_set(h, 5, 6, 0600), 0);
	hs_heap_close(h);
	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "old"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.uid, 5);
	ck_assert_uint_eq(hi.mode, 0600);
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

static Suite *owner_suite(void)
{
	Suite *s = suite_create("heapstore_owner");
	TCase *tc = tcase_create("owner");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, heap_owner_and_mode_persist);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(owner_suite());
}
