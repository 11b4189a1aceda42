/*
 * test_checkpoint.c - the checkpoint policy (checkpoint/) on a real store:
 * the parsers of autocheckpoint and keep over hostile strings; ckpt_take()
 * serializing concurrent requests into distinct versions, applying keep,
 * and recording every outcome; hs_heap_changed_lines(), which the dirty
 * bound reads; and the scheduler taking automatic checkpoints by interval
 * and by dirty bytes, and none when nothing changed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "test_util.h"

#define LS 65536u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the parsers ------------------------------------------------------- */

static const struct {
	const char *in;
	int rc;
	uint64_t interval_ms, dirty_bytes;
} auto_cases[] = {
	{ "off", 0, 0, 0 },
	{ "interval=30s,dirty=64M", 0, 30000, 64ULL << 20 },
	{ "dirty=64M,interval=30s", 0, 30000, 64ULL << 20 },
	{ "interval=200ms", 0, 200, 0 },
	{ "interval=90", 0, 90000, 0 },
	{ "interval=5m", 0, 300000, 0 },
	{ "interval=2h", 0, 7200000, 0 },
	{ "dirty=1", 0, 0, 1 },
	{ "dirty=8KiB", 0, 0, 8192 },
	{ "dirty=1GB", 0, 0, 1ULL << 30 },
	{ "interval=8784h", 0, 8784ULL * 3600 * 1000, 0 },   /* a year: the limit */
	/* empty and garbage */
	{ "", -EINVAL, 0, 0 },
	{ ",", -EINVAL, 0, 0 },
	{ "on", -EINVAL, 0, 0 },
	{ "OFF", -EINVAL, 0, 0 },
	{ "off,interval=1s", -EINVAL, 0, 0 },
	{ "interval=", -EINVAL, 0, 0 },
	{ "dirty=", -EINVAL, 0, 0 },
	{ "interval", -EINVAL, 0, 0 },
	{ "interval=1s,", -EINVAL, 0, 0 },
	{ ",interval=1s", -EINVAL, 0, 0 },
	{ "interval=1s,,dirty=1M", -EINVAL, 0, 0 },
	{ " interval=1s", -EINVAL, 0, 0 },
	{ "interval=1s ", -EINVAL, 0, 0 },
	{ "interval=1 s", -EINVAL, 0, 0 },
	{ "interval=1S", -EINVAL, 0, 0 },
	{ "interval=1d", -EINVAL, 0, 0 },
	{ "interval=1sec", -EINVAL, 0, 0 },
	{ "interval=1.5s", -EINVAL, 0, 0 },
	{ "interval=0x10", -EINVAL, 0, 0 },
	{ "interval=s", -EINVAL, 0, 0 },
	{ "dirty=M", -EINVAL, 0, 0 },
	{ "dirty=64Q", -EINVAL, 0, 0 },
	{ "dirty=64MM", -EINVAL, 0, 0 },
	{ "dirty=64Mb", -EINVAL, 0, 0 },
	{ "interval=30s;dirty=64M", -EINVAL, 0, 0 },
	{ "color=red", -EINVAL, 0, 0 },
	{ "INTERVAL=1s", -EINVAL, 0, 0 },
	/* zero, negative, signs */
	{ "interval=0", -EINVAL, 0, 0 },
	{ "interval=0ms", -EINVAL, 0, 0 },
	{ "dirty=0", -EINVAL, 0, 0 },
	{ "dirty=0K", -EINVAL, 0, 0 },
	{ "interval=-5s", -EINVAL, 0, 0 },
	{ "dirty=-1", -EINVAL, 0, 0 },
	{ "interval=+5s", -EINVAL, 0, 0 },
	/* duplicates */
	{ "interval=1s,interval=2s", -EINVAL, 0, 0 },
	{ "dirty=1M,dirty=1M", -EINVAL, 0, 0 },
	{ "interval=1s,dirty=1M,interval=1s", -EINVAL, 0, 0 },
	/* overflow */
	{ "interval=18446744073709551616ms", -ERANGE, 0, 0 },
	{ "interval=99999999999999999999999999999s", -ERANGE, 0, 0 },
	{ "interval=18446744073709551615h", -ERANGE, 0, 0 },
	{ "interval=8785h", -ERANGE, 0, 0 },
	{ "interval=5124095576030431h", -ERANGE, 0, 0 },   /* * 3600000 wraps to small */
	{ "dirty=18446744073709551615T", -ERANGE, 0, 0 },
	{ "dirty=16777216T", -ERANGE, 0, 0 },              /* 2^64 */
	{ "dirty=65537T", -ERANGE, 0, 0 },                 /* past HS_HEAP_SIZE_MAX */
	{ "dirty=99999999999999999999999", -ERANGE, 0, 0 },
};

START_TEST(autocheckpoint_values_parsed_or_refused)
{
	ckpt_auto a = { 7, 7 };
	int rc = ckpt_auto_parse(auto_cases[_i].in, &a);

	ck_assert_msg(rc == auto_cases[_i].rc, "'%s': %d, want %d", auto_cases[_i].in, rc,
		      auto_cases[_i].rc);
	if (rc == 0) {
		ck_assert_uint_eq(a.interval_ms, auto_cases[_i].interval_ms);
		ck_assert_uint_eq(a.dirty_bytes, auto_cases[_i].dirty_bytes);
	} else {   /* unchanged */
		ck_assert_uint_eq(a.interval_ms, 7);
		ck_assert_uint_eq(a.dirty_bytes, 7);
	}
}
END_TEST

START_TEST(autocheckpoint_longest_value_is_refused_whole)
{
	char v[HS_PROP_VALUE_MAX * 2];
	ckpt_auto a;

	memset(v, '1', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	memcpy(v, "dirty=", 6);
	ck_assert_int_eq(ckpt_auto_parse(v, &a), -EINVAL);
	ck_assert_int_eq(ckpt_auto_parse(NULL, &a), -EINVAL);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	uint32_t keep;
} keep_cases[] = {
	{ "0", 0, 0 }, { "5", 0, 5 }, { "007", 0, 7 }, { "1000000", 0, 1000000 },
	{ "", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "+1", -EINVAL, 0 }, { " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 }, { "1x", -EINVAL, 0 }, { "x", -EINVAL, 0 }, { "1.0", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 }, { "1,2", -EINVAL, 0 },
	{ "1000001", -ERANGE, 0 }, { "4294967296", -ERANGE, 0 },
	{ "18446744073709551616", -ERANGE, 0 }, { "99999999999999999999999999", -ERANGE, 0 },
};

START_TEST(keep_values_parsed_or_refused)
{
	uint32_t k = 99;
	int rc = ckpt_keep_parse(keep_cases[_i].in, &k);

	ck_assert_msg(rc == keep_cases[_i].rc, "'%s': %d, want %d", keep_cases[_i].in, rc,
		      keep_cases[_i].rc);
	ck_assert_uint_eq(k, rc == 0 ? keep_cases[_i].keep : 99);
}
END_TEST

START_TEST(outcome_lines_are_the_events_lines)
{
	ckpt_outcome o = { 0 };
	char buf[300];

	o.rc = 0;
	o.version = 12;
	ckpt_outcome_line(&o, buf, sizeof(buf));
	ck_assert_str_eq(buf, "checkpoint 12");
	o.rc = -ENOSPC;
	ckpt_outcome_line(&o, buf, sizeof(buf));
	ck_assert_str_eq(buf, "checkpoint-failed No space left on device");
	snprintf(o.error, sizeof(o.error), "disk full");
	ckpt_outcome_line(&o, buf, sizeof(buf));
	ck_assert_str_eq(buf, "checkpoint-failed disk full");
}
END_TEST

/* ---- the policy on a store -------------------------------------------- */

static char *dir;
static hs_store *st;
static hs_heap *hp;
static ckpt_policy *pol;

static void setup(void)
{
	dir = tu_tmpdir("ckpt");
	ck_assert_ptr_nonnull(dir);
	st = tu_store_open(dir, 0, 0);
	hp = tu_heap_new(st, "app", LS);
}

static void setup_cached(void)
{
	dir = tu_tmpdir("ckpt");
	ck_assert_ptr_nonnull(dir);
	st = tu_store_open(dir, 64u << 20, 0);
	hp = tu_heap_new(st, "app", LS);
}

static void teardown(void)
{
	ckpt_stop(pol);
	pol = NULL;
	hs_heap_close(hp);
	hp = NULL;
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

static void put(hs_heap *h, uint64_t line, uint64_t tag)
{
	static __thread uint8_t buf[LS];

	tu_fill(buf, LS, line, tag);
	ck_assert_msg(hs_heap_write(h, buf, LS, line * LS) == LS, "%s", hs_error_last());
}

static uint64_t checkpoints(hs_heap *h)
{
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	return hi.checkpoints;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L }, NULL);
}

#define TAKERS 8

struct taker {
	uint64_t version;
	int rc;
};

static void *take_one(void *arg)
{
	struct taker *t = arg;
	hs_heap *h;

	/* A handle of its own, as two FUSE requests would have. */
	ck_assert_int_eq(hs_heap_open(&h, st, "app"), 0);
	t->rc = ckpt_take(pol, h, NULL, CKPT_MANUAL, &t->version);
	hs_heap_close(h);
	return NULL;
}

START_TEST(concurrent_takes_each_get_their_own_version)
{
	pthread_t th[TAKERS];
	struct taker t[TAKERS] = { { 0, 0 } };
	ckpt_outcome o;
	hs_heap_info hi;

	ck_assert_int_eq(ckpt_start(&pol, st, NULL), 0);
	put(hp, 0, 1);
	for (int i = 0; i < TAKERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, take_one, &t[i]), 0);
	for (int i = 0; i < TAKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < TAKERS; i++) {
		ck_assert_int_eq(t[i].rc, 0);
		ck_assert_uint_ge(t[i].version, 1);
		ck_assert_uint_le(t[i].version, TAKERS);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(t[i].version, t[j].version);
	}
	ck_assert_uint_eq(checkpoints(hp), TAKERS);
	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), 0);
	ck_assert_uint_eq(o.seq, TAKERS);
	ck_assert_uint_eq(o.taken, TAKERS);
	ck_assert_uint_eq(o.failed, 0);
	ck_assert_uint_eq(o.version, TAKERS);   /* the last recorded is the newest */
}
END_TEST

static char version_labels[64];

static void list_labels(hs_heap *h)
{
	hs_version_info *arr;
	size_t n, len = 0;

	ck_assert_int_eq(hs_version_list(h, &arr, &n), 0);
	version_labels[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(version_labels + len, sizeof(version_labels) - len,
					"%s%llu%s%s", i ? " " : "",
					(unsigned long long)arr[i].version,
					arr[i].label[0] ? ":" : "", arr[i].label);
	free(arr);
}

START_TEST(keep_deletes_oldest_unlabelled_beyond_n_and_never_labelled)
{
	ckpt_outcome o;
	hs_heap_info hi;
	uint64_t v;

	ck_assert_int_eq(ckpt_start(&pol, st, NULL), 0);
	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	/* keep unset (0): every checkpoint stays. */
	for (uint64_t i = 1; i <= 3; i++) {
		put(hp, i, i);
		ck_assert_int_eq(ckpt_take(pol, hp, i == 2 ? "gold" : NULL, CKPT_MANUAL, &v), 0);
		ck_assert_uint_eq(v, i);
	}
	list_labels(hp);
	ck_assert_str_eq(version_labels, "1 2:gold 3");
	ck_assert_int_eq(hs_heap_prop_set(hp, CKPT_PROP_KEEP, "2"), 0);
	for (uint64_t i = 4; i <= 7; i++) {
		put(hp, i, i);
		ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_AUTO, &v), 0);
		ck_assert_uint_eq(v, i);
	}
	list_labels(hp);
	ck_assert_str_eq(version_labels, "2:gold 6 7");
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), 0);
	ck_assert_uint_eq(o.pruned, 1);
	ck_assert_int_eq(o.prune_rc, 0);
	ck_assert_int_eq(o.why, CKPT_AUTO);
	/* A labelled checkpoint keeps the unlabelled ones to N too. */
	ck_assert_int_eq(ckpt_take(pol, hp, "silver", CKPT_MANUAL, &v), 0);
	list_labels(hp);
	ck_assert_str_eq(version_labels, "2:gold 6 7 8:silver");
	ck_assert_int_eq(hs_heap_prop_set(hp, CKPT_PROP_KEEP, "1"), 0);
	ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_MANUAL, &v), 0);
	list_labels(hp);
	ck_assert_str_eq(version_labels, "2:gold 8:silver 9");
	/* What they held still reads back: 2 saw lines 1-2, 9 all seven. */
	for (uint64_t i = 1; i <= 7; i++) {
		uint8_t got[LS], want[LS];

		tu_fill(want, LS, i, i);
		ck_assert_int_eq(hs_version_read(hp, 9, got, LS, i * LS), LS);
		ck_assert(memcmp(got, want, LS) == 0);
		if (i > 2)
			continue;
		ck_assert_int_eq(hs_version_read(hp, 2, got, LS, i * LS), LS);
		ck_assert(memcmp(got, want, LS) == 0);
	}
}
END_TEST

static int hook_calls;
static char hook_last[300];

static void hook(uint64_t heap_id, const ckpt_outcome *o, void *payload)
{
	(void)heap_id;
	(void)payload;
	hook_calls++;
	ckpt_outcome_line(o, hook_last, sizeof(hook_last));
}

START_TEST(failed_take_is_recorded_and_leaves_the_heap_as_it_was)
{
	ckpt_opts opts = { NULL, 0, hook, NULL };
	uint8_t got[LS], want[LS];
	ckpt_outcome o;
	hs_heap_info hi;
	uint64_t v = 99;

	ck_assert_int_eq(ckpt_start(&pol, st, &opts), 0);
	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), -ENOENT);
	put(hp, 0, 1);
	ck_assert_int_eq(ckpt_take(pol, hp, "a", CKPT_MANUAL, &v), 0);
	ck_assert_str_eq(hook_last, "checkpoint 1");
	put(hp, 0, 2);
	v = 99;
	ck_assert_int_eq(ckpt_take(pol, hp, "a", CKPT_MANUAL, &v), -EEXIST);
	ck_assert_uint_eq(v, 99);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "labelled 'a'"));
	ck_assert_int_eq(hook_calls, 2);
	ck_assert_ptr_nonnull(strstr(hook_last, "checkpoint-failed "));
	ck_assert_ptr_nonnull(strstr(hook_last, "labelled 'a'"));
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), 0);
	ck_assert_int_eq(o.rc, -EEXIST);
	ck_assert_uint_eq(o.taken, 1);
	ck_assert_uint_eq(o.failed, 1);
	/* Nothing moved: the same working version, still writable. */
	ck_assert_uint_eq(checkpoints(hp), 1);
	put(hp, 1, 3);
	tu_fill(want, LS, 0, 2);
	ck_assert_int_eq(hs_heap_read(hp, got, LS, 0), LS);
	ck_assert(memcmp(got, want, LS) == 0);
	ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_MANUAL, &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), 0);
	ck_assert_int_eq(o.rc, 0);
	ck_assert_uint_eq(o.seq, 3);
}
END_TEST

/*
 * The space check reads the free space of opts.store_dir: here a tmpfs of
 * our own (in a private mount namespace that dies with this forked test;
 * needs root, as the other full-disk tests), smaller than the headroom, so
 * the check alone refuses, before anything is written; given room, the
 * same checkpoint goes through.
 */
START_TEST(space_check_refuses_what_the_disk_cannot_hold)
{
	char *fs = NULL;
	ckpt_opts opts = { NULL, 0, NULL, NULL };
	uint8_t got[LS], want[LS];
	ckpt_outcome o;
	hs_heap_info hi;
	uint64_t v = 99;

	ck_assert_int_ne(asprintf(&fs, "%s/small", dir), -1);
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s (run as root)", strerror(errno));
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_msg(mount("tmpfs", fs, "tmpfs", 0, "size=2m") == 0, "mount tmpfs: %s",
		      strerror(errno));
	opts.store_dir = fs;
	ck_assert_int_eq(ckpt_start(&pol, st, &opts), 0);
	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	put(hp, 0, 1);
	ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_MANUAL, &v), -ENOSPC);
	ck_assert_uint_eq(v, 99);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "no room for a checkpoint"));
	ck_assert_uint_eq(checkpoints(hp), 0);
	ck_assert_int_eq(ckpt_last(pol, hi.id, &o), 0);
	ck_assert_int_eq(o.rc, -ENOSPC);
	ck_assert_uint_eq(o.failed, 1);
	/* The store was never asked: it still takes writes and syncs. */
	put(hp, 1, 1);
	ck_assert_int_eq(hs_heap_sync(hp), 0);
	ck_assert_int_eq(mount(NULL, fs, NULL, MS_REMOUNT, "size=64m"), 0);
	ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_MANUAL, &v), 0);
	ck_assert_uint_eq(v, 1);
	for (uint64_t i = 0; i < 2; i++) {
		tu_fill(want, LS, i, 1);
		ck_assert_int_eq(hs_version_read(hp, 1, got, LS, i * LS), LS);
		ck_assert(memcmp(got, want, LS) == 0);
	}
	ckpt_stop(pol);
	pol = NULL;
	ck_assert_int_eq(umount(fs), 0);
	free(fs);
}
END_TEST

START_TEST(changed_lines_count_the_working_version_up_to_max)
{
	uint64_t n = 99;
	uint8_t st_buf[100] = { 1 };

	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	for (uint64_t i = 0; i < 5; i++)
		put(hp, i * 3, 1);
	put(hp, 0, 2);   /* the same line again: still one change */
	ck_assert_int_eq(hs_state_write(hp, st_buf, sizeof(st_buf), 0), (ssize_t)sizeof(st_buf));
	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_int_eq(hs_heap_changed_lines(hp, 4, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(hs_version_seal(hp, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(hs_heap_punch(hp, 0, LS), 0);
	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(changed_lines_leave_dirty_cached_lines_to_lines_dirty)
{
	hs_heap_info hi;
	uint64_t n = 99;

	for (uint64_t i = 0; i < 3; i++)
		put(hp, i, 1);
	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	ck_assert_uint_eq(hi.lines_dirty, 3);
	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(hs_heap_flush(hp), 0);
	ck_assert_int_eq(hs_heap_changed_lines(hp, 0, &n), 0);
	ck_assert_uint_eq(n, 3);
}
END_TEST

/* ---- the scheduler ---------------------------------------------------- */

static uint64_t wait_checkpoints(uint64_t at_least, double timeout_s)
{
	double end = now_s() + timeout_s;
	uint64_t n;

	while ((n = checkpoints(hp)) < at_least && now_s() < end)
		sleep_ms(10);
	return n;
}

START_TEST(dirty_bound_takes_a_checkpoint_once_reached)
{
	ckpt_opts opts = { NULL, 20, NULL, NULL };

	ck_assert_int_eq(hs_heap_prop_set(hp, CKPT_PROP_AUTO, "dirty=256K"), 0);
	ck_assert_int_eq(ckpt_start(&pol, st, &opts), 0);
	for (uint64_t i = 0; i < 3; i++)
		put(hp, i, 1);   /* 192K: below */
	sleep_ms(300);
	ck_assert_uint_eq(checkpoints(hp), 0);
	put(hp, 3, 1);   /* 256K, dirty in the cache */
	ck_assert_uint_eq(wait_checkpoints(1, 5), 1);
	/* Written back first, then more: the store's changes count too. */
	put(hp, 4, 1);
	put(hp, 5, 1);
	ck_assert_int_eq(hs_heap_flush(hp), 0);
	put(hp, 6, 1);
	sleep_ms(300);
	ck_assert_uint_eq(checkpoints(hp), 1);
	put(hp, 7, 1);
	ck_assert_uint_eq(wait_checkpoints(2, 5), 2);
}
END_TEST

START_TEST(interval_takes_checkpoints_while_the_heap_changes_only)
{
	ckpt_opts opts = { NULL, 20, NULL, NULL };
	uint64_t n;

	ck_assert_int_eq(ckpt_start(&pol, st, &opts), 0);
	put(hp, 0, 1);
	ck_assert_int_eq(hs_heap_prop_set(hp, CKPT_PROP_AUTO, "interval=100ms"), 0);
	ckpt_settings_changed(pol);
	ck_assert_uint_eq(wait_checkpoints(1, 5), 1);
	/* Unchanged: no more. */
	sleep_ms(400);
	ck_assert_uint_eq(checkpoints(hp), 1);
	put(hp, 1, 1);
	ck_assert_uint_eq(wait_checkpoints(2, 5), 2);
	/* Off again: nothing more, however it changes. */
	ck_assert_int_eq(hs_heap_prop_set(hp, CKPT_PROP_AUTO, "off"), 0);
	ckpt_settings_changed(pol);
	sleep_ms(100);
	n = checkpoints(hp);
	put(hp, 2, 1);
	sleep_ms(400);
	ck_assert_uint_eq(checkpoints(hp), n);
}
END_TEST

static Suite *ckpt_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, autocheckpoint_values_parsed_or_refused, 0,
			    (int)ARRAY_LEN(auto_cases));
	tcase_add_test(tc, autocheckpoint_longest_value_is_refused_whole);
	tcase_add_loop_test(tc, keep_values_parsed_or_refused, 0, (int)ARRAY_LEN(keep_cases));
	tcase_add_test(tc, outcome_lines_are_the_events_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, concurrent_takes_each_get_their_own_version);
	tcase_add_test(tc, keep_deletes_oldest_unlabelled_beyond_n_and_never_labelled);
	tcase_add_test(tc, failed_take_is_recorded_and_leaves_the_heap_as_it_was);
	tcase_add_test(tc, space_check_refuses_what_the_disk_cannot_hold);
	tcase_add_test(tc, changed_lines_count_the_working_version_up_to_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("scheduler");
	tcase_add_checked_fixture(tc, setup_cached, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, changed_lines_leave_dirty_cached_lines_to_lines_dirty);
	tcase_add_test(tc, dirty_bound_takes_a_checkpoint_once_reached);
	tcase_add_test(tc, interval_takes_checkpoints_while_the_heap_changes_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(ckpt_suite());
}
