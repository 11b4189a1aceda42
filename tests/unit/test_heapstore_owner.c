/*
 * test_heapstore_owner.c - who a heap belongs to (issue 13) in the store:
 * an owner, a group and permission bits per heap, given at creation (or
 * the store directory's owner and 0700), changed by hs_heap_owner_set,
 * kept across a reopen, and read from heap records written before owners
 * existed.  The mount's use of them is test_perm's.  Also a heap's and a
 * checkpoint's identity (issue 15), the upgrade that gives older heaps
 * one, and the writer lease.
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
	ck_assert_uint_gt(rl, 88);
	rec[0] = 2;
	memmove(rec + 56, rec + 88, rl - 88);   /* no uid, gid, mode, identity, lease */
	wo = rocksdb_writeoptions_create();
	rocksdb_put_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_META), (const char *)key,
		       kl, (const char *)rec, rl - 32, &err);
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
	/* Its next record write is format 4, owner and all. */
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

/* Put meta @key's raw value (a record from an older format). */
static void raw_put(const uint8_t *key, size_t kl, const void *val, size_t vl)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;

	rocksdb_put_cf(hs_store__db(st), wo, hs_store__cf(st, HS_CF_META), (const char *)key,
		       kl, (const char *)val, vl, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_ptr_null(err);
}

static void ident_of(const char *name, uint64_t version, uint8_t out[HS_IDENT_LEN])
{
	hs_heap *h;
	hs_heap_info hi;
	hs_version_info vi;

	ck_assert_int_eq(hs_heap_open(&h, st, name), 0);
	if (version) {
		ck_assert_int_eq(hs_version_info_get(h, version, &vi), 0);
		memcpy(out, vi.ident, HS_IDENT_LEN);
	} else {
		ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
		memcpy(out, hi.ident, HS_IDENT_LEN);
	}
	hs_heap_close(h);
}

/*
 * Every heap and checkpoint gets its own random identity, kept across a
 * reopen.  A format 2 store (heap records without identities, checkpoint
 * records of format 1) opens read-only as it is, with zero heap
 * identities; a read-write open gives each heap one and says format 3;
 * an old checkpoint's identity is derived from its heap's, so it stays the
 * same from open to open.
 */
START_TEST(identities_are_unique_kept_and_upgraded)
{
	static const uint8_t none[HS_IDENT_LEN];
	uint8_t a[HS_IDENT_LEN], b[HS_IDENT_LEN], v1[HS_IDENT_LEN], v2[HS_IDENT_LEN];
	uint8_t v1_old[HS_IDENT_LEN], again[HS_IDENT_LEN];
	uint8_t key[HS_META_KEY_MAX], rec[HS_REC_MAX], fkey = 'F';
	uint8_t fval[17] = "heapfs-store\0\2\0\0\0";
	hs_store_opts ro = HS_STORE_OPTS_INIT;
	size_t kl, rl;
	hs_heap *h;
	hs_version_info vi;
	struct hs_heap_rec r;
	uint64_t id;

	ck_assert_int_eq(hs_heap_create(st, "a", NULL), 0);
	ck_assert_int_eq(hs_heap_create(st, "b", NULL), 0);
	h = tu_heap_new(st, "c", 4096);
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_open(&h, st, "a"), 0);
	ck_assert_int_eq(hs_heap_write(h, "x", 1, 0), 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_write(h, "y", 1, 0), 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	id = h->id;
	r = h->rec;
	hs_heap_close(h);
	ident_of("a", 0, a);
	ident_of("b", 0, b);
	ident_of("a", 1, v1);
	ident_of("a", 2, v2);
	ck_assert_mem_ne(a, none, HS_IDENT_LEN);
	ck_assert_mem_ne(a, b, HS_IDENT_LEN);
	ck_assert_mem_ne(v1, v2, HS_IDENT_LEN);
	ck_assert_mem_ne(v1, a, HS_IDENT_LEN);
	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ident_of("a", 0, again);
	ck_assert_mem_eq(again, a, HS_IDENT_LEN);
	ident_of("a", 2, again);
	ck_assert_mem_eq(again, v2, HS_IDENT_LEN);

	/* Make it a format 2 store: heap "a" without identity (format 3
	 * record), its checkpoint 1 a format 1 record. */
	kl = hs_key__meta(key, 'H', id, NULL);
	rl = hs_heap_rec__encode(rec, sizeof(rec), &r);
	rec[0] = 3;
	memmove(rec + 68, rec + 88, rl - 88);
	raw_put(key, kl, rec, rl - 20);
	ck_assert_int_eq(hs_heap_open(&h, st, "a"), 0);
	ck_assert_int_eq(hs_version_info_get(h, 1, &vi), 0);
	hs_heap_close(h);
	kl = hs_key__meta_version(key, id, 1);
	rl = hs_version_rec__encode(rec, sizeof(rec), &vi);
	rec[0] = 1;
	memmove(rec + 64, rec + 80, rl - 80);
	raw_put(key, kl, rec, rl - 16);
	raw_put(&fkey, 1, fval, sizeof(fval));
	hs_store_close(st);

	ro.read_only = 1;
	ck_assert_int_eq(hs_store_open(&st, dir, &ro), 0);
	ident_of("a", 0, again);
	ck_assert_mem_eq(again, none, HS_IDENT_LEN);
	ident_of("b", 0, again);
	ck_assert_mem_eq(again, b, HS_IDENT_LEN);
	hs_store_close(st);

	st = tu_store_open(dir, 0, 0);   /* the upgrade */
	ident_of("a", 0, again);
	ck_assert_mem_ne(again, none, HS_IDENT_LEN);
	ck_assert_mem_ne(again, a, HS_IDENT_LEN);   /* a new one: the old was lost */
	ident_of("b", 0, again);
	ck_assert_mem_eq(again, b, HS_IDENT_LEN);
	ident_of("a", 1, v1_old);
	ck_assert_mem_ne(v1_old, none, HS_IDENT_LEN);
	ck_assert_mem_ne(v1_old, v1, HS_IDENT_LEN);
	ident_of("a", 2, again);
	ck_assert_mem_eq(again, v2, HS_IDENT_LEN);
	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ident_of("a", 1, again);
	ck_assert_mem_eq(again, v1_old, HS_IDENT_LEN);
	{
		uint8_t now[32];
		char *val = NULL;
		size_t vl = 0;
		char *err = NULL;
		rocksdb_readoptions_t *rop = rocksdb_readoptions_create();

		val = rocksdb_get_cf(hs_store__db(st), rop, hs_store__cf(st, HS_CF_META),
				     (const char *)&fkey, 1, &vl, &err);
		rocksdb_readoptions_destroy(rop);
		ck_assert_ptr_null(err);
		ck_assert_uint_eq(vl, 17);
		memcpy(now, val, vl);
		rocksdb_free(val);
		ck_assert_uint_eq(now[13], 3);
	}
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

/*
 * The writer lease: expired, the live heap refuses changes with EROFS
 * after every earlier write is in the store, and it says where it is
 * going; migrated, where it went; both kept across a reopen; taken back,
 * writes work again and it names no node.
 */
START_TEST(lease_refuses_changes_until_taken_back)
{
	char buf[4096];
	hs_heap *h;
	hs_heap_info hi;
	char big[HS_MOVED_MAX + 2];

	hs_store_close(st);
	st = tu_store_open(dir, 64u << 20, 0);
	h = tu_heap_new(st, "l", 4096);
	ck_assert_int_eq(hs_heap_write(h, "before", 6, 0), 6);
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_EXPIRED, "nodeb:/mnt/heaps"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_uint_eq(hi.lines_dirty, 0);
	ck_assert_int_eq(hi.lease, HS_LEASE_EXPIRED);
	ck_assert_str_eq(hi.moved_to, "nodeb:/mnt/heaps");   /* where it is going */
	ck_assert_int_eq(hs_heap_write(h, "after", 5, 0), -EROFS);
	ck_assert_int_eq(hs_heap_truncate(h, 0), -EROFS);
	ck_assert_int_eq(hs_heap_punch(h, 0, 4096), -EROFS);
	ck_assert_int_eq(hs_state_write(h, "s", 1, 0), -EROFS);
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_MIGRATED, big), -ENAMETOOLONG);
	ck_assert_int_eq(hs_heap_lease_set(h, 7, NULL), -EINVAL);
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_MIGRATED, "nodeb:/mnt/heaps"), 0);
	hs_heap_close(h);
	hs_store_close(st);
	st = tu_store_open(dir, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "l"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_int_eq(hi.lease, HS_LEASE_MIGRATED);
	ck_assert_str_eq(hi.moved_to, "nodeb:/mnt/heaps");
	ck_assert_int_eq(hs_heap_read(h, buf, 6, 0), 6);
	ck_assert_mem_eq(buf, "before", 6);
	ck_assert_int_eq(hs_heap_write(h, "after", 5, 0), -EROFS);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "nodeb:/mnt/heaps"));
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), -EROFS);   /* numbers are B's now */
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_HELD, "x"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_str_eq(hi.moved_to, "");
	ck_assert_int_eq(hs_heap_write(h, "after", 5, 0), 5);
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
	tcase_add_test(tc, identities_are_unique_kept_and_upgraded);
	tcase_add_test(tc, lease_refuses_changes_until_taken_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(owner_suite());
}
