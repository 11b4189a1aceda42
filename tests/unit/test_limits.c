/*
 * test_limits.c - quotas, the pool and reservations enforced by heapstore
 * on a real store on disk, with and without the line cache: the write that
 * would pass a limit fails (EDQUOT for the quota, ENOSPC for the pool) and
 * changes nothing, every byte accepted before reads back (also after
 * reopening), a write of several lines stops short at the limit; an
 * overwrite that frees what it replaces passes at a full quota; a
 * checkpoint pins what it holds and deleting it lets a refused write pass; mapped stores go over as a counted overdraft that the next
 * sync reports; a transaction's commit is refused whole; a reservation
 * holds while another heap fills the pool; a writer refused waits up to
 * wait_ms for space and passes when space is freed meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapstore_int.h"
#include "test_util.h"

#define LS 4096u
#define CHARGE ((uint64_t)HS_CHARGE(LS))

static char *dir;
static hs_store *st;

static void setup(void)
{
	dir = tu_tmpdir("limits");
	ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
	hs_store_close(st);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

static void open_store(bool cache, uint64_t pool, unsigned wait_ms)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;

	o.cache_bytes = cache ? 16u << 20 : 0;
	o.pool_bytes = pool;
	o.wait_ms = wait_ms;
	ck_assert_msg(hs_store_open(&st, dir, &o) == 0, "%s", hs_error_last());
}

/* Incompressible content @seed: a line costs about LS stored bytes. */
static void content(uint8_t *buf, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;

	for (size_t i = 0; i < LS; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

static ssize_t put(hs_heap *h, uint64_t line, uint64_t seed, unsigned flags)
{
	uint8_t buf[LS];

	content(buf, seed);
	return hs_heap_pwrite(h, buf, LS, line * LS, flags);
}

static void expect_line(hs_heap *h, uint64_t line, uint64_t seed)
{
	uint8_t got[LS], want[LS];

	content(want, seed);
	ck_assert_msg(hs_heap_read(h, got, LS, line * LS) == LS, "%s", hs_error_last());
	ck_assert_msg(memcmp(got, want, LS) == 0, "line %llu is not seed %llu",
		      (unsigned long long)line, (unsigned long long)seed);
}

static hs_heap *heap_with_quota(const char *name, uint64_t quota)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = NULL;

	p.line_size = LS;
	p.quota_bytes = quota;
	ck_assert_msg(hs_heap_create(st, name, &p) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_open(&h, st, name), 0);
	return h;
}

static uint64_t referenced(hs_heap *h)
{
	hs_heap_info i;

	ck_assert_int_eq(hs_heap_info_get(h, &i), 0);
	return i.bytes_referenced;
}

/* Lines 0.. get seeds 1.. until the quota says no: how many fit. */
static uint64_t fill_until_refused(hs_heap *h, int want_rc)
{
	uint64_t n = 0;
	ssize_t r;

	while ((r = put(h, n, n + 1, 0)) == LS)
		n++;
	ck_assert_msg(r == want_rc, "line %llu: %zd (%s), want %d", (unsigned long long)n, r,
		      hs_error_last(), want_rc);
	ck_assert_uint_lt(n, 64);
	return n;
}

START_TEST(quota_refuses_the_write_that_would_pass_it)
{
	const uint64_t quota = 10 * (LS + 64);
	hs_heap *h;
	uint64_t n, v;

	open_store(_i, 0, 0);
	h = heap_with_quota("app", quota);
	n = fill_until_refused(h, -EDQUOT);
	ck_assert_msg(strstr(hs_error_last(), "quota"), "%s", hs_error_last());
	ck_assert_uint_ge(n, 9);   /* exact once written back: about LS each */
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_uint_le(referenced(h), quota);
	for (uint64_t l = 0; l < n; l++)
		expect_line(h, l, l + 1);
	/* The refused line changed nothing. */
	{
		uint8_t got[LS], zero[LS] = { 0 };

		ck_assert_int_eq(hs_heap_read(h, got, LS, n * LS), 0);   /* past the end */
		(void)zero;
	}
	/* At a full quota, an overwrite frees what it replaces: it passes. */
	ck_assert_int_eq(put(h, 0, 1000, 0), LS);
	expect_line(h, 0, 1000);
	/* Once a checkpoint holds line 1, rewriting it needs new bytes: refused. */
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
	ck_assert_int_eq(put(h, 1, 2000, 0), -EDQUOT);
	expect_line(h, 1, 2);
	/* Deleting the checkpoint frees them: the retry passes. */
	ck_assert_int_eq(hs_version_delete(h, v), 0);
	ck_assert_int_eq(put(h, 1, 2000, 0), LS);
	/* Raised, the quota takes more. */
	ck_assert_int_eq(hs_heap_quota_set(h, quota + 4 * (LS + 64)), 0);
	ck_assert_int_eq(put(h, n, n + 1, 0), LS);
	hs_heap_close(h);
	/* Reopened, all of it is there and the figures hold. */
	hs_store_close(st);
	open_store(_i, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	expect_line(h, 0, 1000);
	expect_line(h, 1, 2000);
	for (uint64_t l = 2; l <= n; l++)
		expect_line(h, l, l + 1);
	ck_assert_uint_le(referenced(h), quota + 4 * (LS + 64));
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

/* A write of several lines at the limit writes the lines that fit and is
 * short, with the cache and without (where a batch is refused whole). */
START_TEST(a_write_of_several_lines_stops_short_at_the_limit)
{
	uint8_t buf[3 * LS];
	hs_heap_info info;
	hs_heap *h;

	open_store(_i, 0, 0);
	h = heap_with_quota("app", 2 * (LS + 64));
	for (uint64_t l = 0; l < 3; l++)
		content(buf + l * LS, l + 1);
	ck_assert_int_eq(hs_heap_write(h, buf, 3 * LS, 0), 2 * LS);
	ck_assert_int_eq(hs_heap_write(h, buf + 2 * LS, LS, 2 * LS), -EDQUOT);
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.size_bytes, 2 * LS);
	expect_line(h, 0, 1);
	expect_line(h, 1, 2);
	hs_heap_close(h);
}
END_TEST

START_TEST(pool_refuses_with_enospc_and_a_reservation_holds)
{
	const uint64_t pool = 24 * (LS + 64);
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *a, *b;
	uint64_t n;

	open_store(_i, pool, 0);
	/* b reserves 6 lines' worth; more than the pool can promise is refused. */
	p.line_size = LS;
	p.reserve_bytes = pool + 1;
	ck_assert_int_eq(hs_heap_create(st, "b", &p), -ENOSPC);
	p.reserve_bytes = 6 * (LS + 64);
	ck_assert_msg(hs_heap_create(st, "b", &p) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_open(&b, st, "b"), 0);
	a = heap_with_quota("a", 0);
	n = fill_until_refused(a, -ENOSPC);
	ck_assert_msg(strstr(hs_error_last(), "pool"), "%s", hs_error_last());
	ck_assert_uint_ge(n, 15);
	ck_assert_uint_le(n, 18);   /* the pool less b's reservation */
	/* b's reservation is still all there. */
	for (uint64_t l = 0; l < 6; l++)
		ck_assert_msg(put(b, l, 500 + l, 0) == LS, "b line %llu: %s",
			      (unsigned long long)l, hs_error_last());
	/* A second heap cannot reserve what a and b hold. */
	ck_assert_int_eq(hs_heap_reserve_set(a, pool), -ENOSPC);
	ck_assert_int_eq(hs_store_flush(st), 0);
	{
		hs_store_totals t;

		hs_store_totals_get(st, &t);
		ck_assert_uint_le(t.bytes_stored, pool);
	}
	for (uint64_t l = 0; l < n; l++)
		expect_line(a, l, l + 1);
	/* a lets go of lines: b can grow past its reservation, a write again. */
	ck_assert_int_eq(hs_heap_punch(a, 0, 8 * LS), 0);
	ck_assert_int_eq(put(a, 0, 9000, 0), LS);
	hs_heap_close(a);
	hs_heap_close(b);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(mapped_stores_go_over_as_an_overdraft_the_next_sync_reports)
{
	const uint64_t quota = 4 * (LS + 64);
	hs_heap_info info;
	hs_heap *h;
	uint64_t v;

	open_store(_i, 0, 0);
	h = heap_with_quota("app", quota);
	for (uint64_t l = 0; l < 8; l++)   /* twice the quota, all taken */
		ck_assert_int_eq(put(h, l, l + 1, HS_WRITE_MAPPED), LS);
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_gt(info.bytes_overdraft, 0);
	ck_assert_int_eq(hs_heap_sync(h), -EDQUOT);
	ck_assert_msg(strstr(hs_error_last(), "mapping"), "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_sync(h), 0);   /* said once */
	/* Over its quota: plain writes and checkpoints are refused... */
	ck_assert_int_eq(put(h, 9, 99, 0), -EDQUOT);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), -EDQUOT);
	/* ...and nothing taken is lost, also after reopening. */
	for (uint64_t l = 0; l < 8; l++)
		expect_line(h, l, l + 1);
	hs_heap_close(h);
	hs_store_close(st);
	open_store(_i, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	for (uint64_t l = 0; l < 8; l++)
		expect_line(h, l, l + 1);
	/* Back under the quota, a checkpoint passes. */
	ck_assert_int_eq(hs_heap_punch(h, 0, 6 * LS), 0);
	ck_assert_msg(hs_version_seal(h, NULL, &v) == 0, "%s", hs_error_last());
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(transaction_commit_over_the_quota_is_refused_whole)
{
	const uint64_t quota = 6 * (LS + 64);
	hs_heap *h;
	hs_txn *t;
	uint8_t buf[LS];

	open_store(_i, 0, 0);
	h = heap_with_quota("app", quota);
	for (uint64_t l = 0; l < 3; l++)
		ck_assert_int_eq(put(h, l, l + 1, 0), LS);
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	for (uint64_t l = 3; l < 8; l++) {
		content(buf, 100 + l);
		ck_assert_int_eq(hs_txn_write(t, buf, LS, l * LS), LS);
	}
	ck_assert_int_eq(hs_txn_commit(t), -EDQUOT);
	hs_txn_free(t);
	for (uint64_t l = 0; l < 3; l++)
		expect_line(h, l, l + 1);
	ck_assert_int_eq(hs_heap_read(h, buf, LS, 3 * LS), 0);   /* none of it */
	/* A smaller one fits. */
	ck_assert_int_eq(hs_txn_begin(&t, h), 0);
	content(buf, 103);
	ck_assert_int_eq(hs_txn_write(t, buf, LS, 3 * LS), LS);
	ck_assert_int_eq(hs_txn_commit(t), 0);
	hs_txn_free(t);
	expect_line(h, 3, 103);
	hs_heap_close(h);
}
END_TEST

struct waiter {
	hs_heap *h;
	ssize_t r;
	double took_s;
};

static double now_s(void)
{
	return (double)hs_now_ns() / 1e9;
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	double t0 = now_s();

	w->r = put(w->h, 1, 4242, 0);
	w->took_s = now_s() - t0;
	return NULL;
}

START_TEST(refused_write_waits_for_space_freed_meanwhile)
{
	hs_heap *h;
	struct waiter w = { 0 };
	pthread_t t;
	uint64_t v;

	open_store(_i, 0, 5000);
	h = heap_with_quota("app", 4 * (LS + 64));
	for (uint64_t l = 0; l < 4; l++)
		ck_assert_int_eq(put(h, l, l + 1, 0), LS);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
	w.h = h;
	ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
	usleep(300000);
	ck_assert_int_eq(hs_version_delete(h, v), 0);   /* frees line 1's old bytes */
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(w.r == LS, "the waiting write gave %zd: %s", w.r, hs_error_last());
	ck_assert_msg(w.took_s >= 0.25 && w.took_s < 4.5, "it took %.2f s", w.took_s);
	expect_line(h, 1, 4242);
	hs_heap_close(h);
	/* With nothing freed, it gives up after wait_ms. */
	hs_store_close(st);
	open_store(_i, 0, 300);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v), 0);
	{
		double t0 = now_s(), took;

		ck_assert_int_eq(put(h, 2, 7777, 0), -EDQUOT);
		took = now_s() - t0;
		ck_assert_msg(took >= 0.29 && took < 3, "it took %.2f s", took);
	}
	hs_heap_close(h);
}
END_TEST

START_TEST(allocate_counts_only_the_holes)
{
	hs_heap *h;

	open_store(_i, 0, 0);
	h = heap_with_quota("app", 8 * CHARGE);
	ck_assert_int_eq(hs_heap_allocate(h, 0, 9 * LS), -EDQUOT);
	for (uint64_t l = 0; l < 4; l++)
		ck_assert_int_eq(put(h, l, l + 1, 0), LS);
	ck_assert_int_eq(hs_store_flush(st), 0);
	/* 4 lines written: 4 more holes fit, 6 do not (whatever the range). */
	ck_assert_int_eq(hs_heap_allocate(h, 2 * LS, 6 * LS), 0);
	ck_assert_int_eq(hs_heap_allocate(h, 0, 10 * LS), -EDQUOT);
	ck_assert_int_eq(hs_heap_allocate(h, UINT64_MAX - 5, 10), -EFBIG);
	hs_heap_close(h);
}
END_TEST

/* fallocate's holds: set aside, kept across a reopen, taken by the writes
 * that fill them, let go by a punch. */
START_TEST(allocated_holes_stay_set_aside_for_their_writes)
{
	const uint64_t quota = 10 * (LS + 64);
	hs_heap_info info;
	hs_heap *h;
	uint64_t n = 0;

	open_store(_i, 0, 0);
	h = heap_with_quota("app", quota);
	ck_assert_int_eq(hs_heap_allocate(h, 0, 11 * LS), -EDQUOT);   /* does not fit: none held */
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 0);
	ck_assert_int_eq(hs_heap_allocate(h, 0, 6 * LS - 100), 0);     /* lines 0-5 */
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 6 * CHARGE);
	ck_assert_int_eq(hs_heap_allocate(h, 2 * LS, 2 * LS), 0);     /* held already: free */
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 6 * CHARGE);
	/* Reopened, they are still set aside. */
	hs_heap_close(h);
	hs_store_close(st);
	open_store(_i, 0, 0);
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 6 * CHARGE);
	/* Elsewhere, only what the holds leave fits: 4 lines. */
	while (put(h, 20 + n, 100 + n, 0) == LS)
		n++;
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(put(h, 20 + n, 100 + n, 0), -EDQUOT);
	/* The held lines all take their writes. */
	for (uint64_t l = 0; l < 6; l++)
		ck_assert_msg(put(h, l, 1 + l, 0) == LS, "held line %llu: %s",
			      (unsigned long long)l, hs_error_last());
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 0);
	ck_assert_int_eq(hs_store_flush(st), 0);
	ck_assert_uint_le(referenced(h), quota);
	for (uint64_t l = 0; l < 6; l++)
		expect_line(h, l, 1 + l);
	/* A punch lets holds go: two set aside, punched, two lines elsewhere fit. */
	ck_assert_int_eq(hs_heap_punch(h, 0, 6 * LS), 0);
	ck_assert_int_eq(hs_heap_allocate(h, 40 * LS, 2 * LS), 0);
	ck_assert_int_eq(hs_heap_punch(h, 40 * LS, 2 * LS), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &info), 0);
	ck_assert_uint_eq(info.bytes_held, 0);
	ck_assert_int_eq(put(h, 30, 300, 0), LS);
	hs_heap_close(h);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

START_TEST(allocated_holes_are_kept_from_other_heaps_in_the_pool)
{
	const uint64_t pool = 20 * (LS + 64);
	hs_heap *a, *b;
	uint64_t n = 0;

	open_store(_i, pool, 0);
	a = heap_with_quota("a", 0);
	b = heap_with_quota("b", 0);
	ck_assert_int_eq(hs_heap_allocate(a, 0, 8 * LS), 0);
	while (put(b, n, 100 + n, 0) == LS)
		n++;
	ck_assert_uint_ge(n, 10);
	ck_assert_uint_le(n, 12);   /* the pool less a's 8 held lines */
	for (uint64_t l = 0; l < 8; l++)
		ck_assert_msg(put(a, l, 1 + l, 0) == LS, "a line %llu: %s", (unsigned long long)l,
			      hs_error_last());
	/* b's removal frees the pool, and the hold's charge went with a's writes. */
	hs_heap_close(b);
	ck_assert_int_eq(hs_heap_delete(st, "b"), 0);
	ck_assert_int_eq(put(a, 8, 9, 0), LS);
	hs_heap_close(a);
	ck_assert_int_eq(hs_store_fsck(st, 0, NULL, NULL), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, quota_refuses_the_write_that_would_pass_it, 0, 2);
	tcase_add_loop_test(tc, a_write_of_several_lines_stops_short_at_the_limit, 0, 2);
	tcase_add_loop_test(tc, pool_refuses_with_enospc_and_a_reservation_holds, 0, 2);
	tcase_add_loop_test(tc, mapped_stores_go_over_as_an_overdraft_the_next_sync_reports, 0, 2);
	tcase_add_loop_test(tc, transaction_commit_over_the_quota_is_refused_whole, 0, 2);
	tcase_add_loop_test(tc, refused_write_waits_for_space_freed_meanwhile, 0, 2);
	tcase_add_loop_test(tc, allocate_counts_only_the_holes, 0, 2);
	tcase_add_loop_test(tc, allocated_holes_stay_set_aside_for_their_writes, 0, 2);
	tcase_add_loop_test(tc, allocated_holes_are_kept_from_other_heaps_in_the_pool, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
