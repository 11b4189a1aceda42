/*
 * test_heapstore_events.c - the heaps' event rings (heapstore/events.c) on
 * a real store: a reader sees exactly the events posted after its cursor,
 * in order, whole lines only; lines stay one line and bounded; a reader
 * that fell behind the ring, or past events lost for memory, gets "lost N"
 * and continues; the store's hook runs once per post; a restore posts
 * "restored N" and the checkpoint policy posts every outcome in order; and
 * posters and readers on many threads at once lose nothing unannounced.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "heapstore_int.h"
#include "test_util.h"

#define LS 4096u
#define BUF (64u * 1024u)

static char *dir;
static hs_store *st;
static hs_heap *hp;

static void setup(void)
{
	dir = tu_tmpdir("events");
	ck_assert_ptr_nonnull(dir);
	st = tu_store_open(dir, 0, 0);
	hp = tu_heap_new(st, "app", LS);
}

static void teardown(void)
{
	atomic_store(&hs__test_event_nomem, 0);
	hs_store_event_hook(st, NULL, NULL);
	hs_heap_close(hp);
	hp = NULL;
	ck_assert_int_eq(hs_store_close(st), 0);
	st = NULL;
	tu_rmtree(dir);
	free(dir);
}

/* Everything readable from *@cursor, NUL-terminated, in a static buffer. */
static const char *read_all(hs_heap *h, uint64_t *cursor)
{
	static char text[4 * BUF];
	size_t len = 0;
	ssize_t r;

	while ((r = hs_event_read(h, cursor, text + len, sizeof(text) - 1 - len)) > 0)
		len += (size_t)r;
	ck_assert_int_ge(r, 0);
	text[len] = '\0';
	return text;
}

/* ---- cursors ----------------------------------------------------------- */

START_TEST(reader_sees_only_events_after_its_cursor_in_order)
{
	uint64_t early, late;

	ck_assert_uint_eq(hs_event_seq(hp), 0);
	ck_assert_int_eq(hs_event_post(hp, "checkpoint %d", 1), 0);
	early = hs_event_seq(hp);
	ck_assert_uint_eq(early, 1);
	ck_assert_int_eq(hs_event_post(hp, "checkpoint %d", 2), 0);
	late = hs_event_seq(hp);
	ck_assert_int_eq(hs_event_post(hp, "restored %d", 1), 0);

	ck_assert_str_eq(read_all(hp, &early), "checkpoint 2\nrestored 1\n");
	ck_assert_uint_eq(early, 3);
	ck_assert_str_eq(read_all(hp, &late), "restored 1\n");
	ck_assert_uint_eq(late, 3);
	/* Nothing new: 0, and the cursors stay. */
	ck_assert_str_eq(read_all(hp, &early), "");
	ck_assert_uint_eq(early, 3);
	ck_assert_int_eq(hs_event_post(hp, "balloon 4096"), 0);
	ck_assert_str_eq(read_all(hp, &early), "balloon 4096\n");
	ck_assert_str_eq(read_all(hp, &late), "balloon 4096\n");
}
END_TEST

START_TEST(every_handle_of_a_heap_shares_one_ring)
{
	hs_heap *other;
	uint64_t cur = hs_event_seq(hp);

	ck_assert_int_eq(hs_heap_open(&other, st, "app"), 0);
	ck_assert_int_eq(hs_event_post(other, "checkpoint 9"), 0);
	ck_assert_str_eq(read_all(hp, &cur), "checkpoint 9\n");
	hs_heap_close(other);
}
END_TEST

START_TEST(read_returns_whole_lines_that_fit)
{
	char line[101], buf[HS_EVENT_LINE_MAX];
	uint64_t cur = 0;
	ssize_t r;

	memset(line, 'x', 100);
	line[100] = '\0';
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(hs_event_post(hp, "%s", line), 0);
	/* 256 bytes hold two lines of 101, not a third's part. */
	r = hs_event_read(hp, &cur, buf, sizeof(buf));
	ck_assert_int_eq(r, 202);
	ck_assert_uint_eq(cur, 2);
	ck_assert_int_eq(buf[100], '\n');
	ck_assert_int_eq(buf[201], '\n');
	r = hs_event_read(hp, &cur, buf, sizeof(buf));
	ck_assert_int_eq(r, 101);
	ck_assert_uint_eq(cur, 3);
	ck_assert_int_eq(hs_event_read(hp, &cur, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(bad_buffer_and_cursor_are_refused_and_change_nothing)
{
	char buf[HS_EVENT_LINE_MAX];
	uint64_t cur = 0;

	ck_assert_int_eq(hs_event_post(hp, "checkpoint 1"), 0);
	ck_assert_int_eq(hs_event_read(hp, &cur, buf, HS_EVENT_LINE_MAX - 1), -EINVAL);
	ck_assert_uint_eq(cur, 0);
	cur = 2;
	ck_assert_int_eq(hs_event_read(hp, &cur, buf, sizeof(buf)), -EINVAL);
	ck_assert_uint_eq(cur, 2);
	cur = 0;
	ck_assert_str_eq(read_all(hp, &cur), "checkpoint 1\n");
}
END_TEST

START_TEST(a_line_stays_one_bounded_line)
{
	char big[1000];
	const char *text;
	uint64_t cur = 0;

	ck_assert_int_eq(hs_event_post(hp, "checkpoint-failed %s", "disk\nfull\r\tnow"), 0);
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(hs_event_post(hp, "%s", big), 0);
	ck_assert_int_eq(hs_event_post(hp, "%s", ""), 0);
	text = read_all(hp, &cur);
	ck_assert_int_eq(strncmp(text, "checkpoint-failed disk full  now\n", 33), 0);
	text += 33;
	ck_assert_uint_eq(strcspn(text, "\n"), HS_EVENT_LINE_MAX - 1);
	ck_assert_int_eq(text[HS_EVENT_LINE_MAX - 1], '\n');
	ck_assert_str_eq(text + HS_EVENT_LINE_MAX, "\n");   /* the empty event */
}
END_TEST

/* ---- the ring's end ------------------------------------------------------ */

START_TEST(reader_behind_the_ring_gets_lost_n_then_continues)
{
	const char *text;
	uint64_t cur = 0, at_ring = 0;
	unsigned n = 0, first = 0, last = 0;

	for (unsigned i = 0; i < HS_EVENT_RING + 5; i++) {
		ck_assert_int_eq(hs_event_post(hp, "checkpoint %u", i), 0);
		if (i == 4)
			at_ring = hs_event_seq(hp);
	}
	text = read_all(hp, &cur);
	ck_assert_uint_eq(cur, HS_EVENT_RING + 5);
	ck_assert_int_eq(strncmp(text, "lost 5\n", 7), 0);
	for (const char *p = text + 7; *p; p = strchr(p, '\n') + 1) {
		unsigned v;

		ck_assert_int_eq(sscanf(p, "checkpoint %u", &v), 1);
		if (!n)
			first = v;
		else
			ck_assert_uint_eq(v, last + 1);
		last = v;
		n++;
	}
	ck_assert_uint_eq(n, HS_EVENT_RING);
	ck_assert_uint_eq(first, 5);
	ck_assert_uint_eq(last, HS_EVENT_RING + 4);
	/* A reader exactly at the oldest kept event lost nothing. */
	ck_assert_uint_eq(at_ring, 5);
	text = read_all(hp, &at_ring);
	ck_assert_int_eq(strncmp(text, "checkpoint 5\n", 13), 0);
}
END_TEST

START_TEST(reader_lapped_many_times_counts_every_lost_event)
{
	uint64_t cur = 0;
	const char *text;

	for (unsigned i = 0; i < 5 * HS_EVENT_RING + 3; i++)
		ck_assert_int_eq(hs_event_post(hp, "e %u", i), 0);
	text = read_all(hp, &cur);
	ck_assert_int_eq(strncmp(text, "lost 4099\ne 4099\n", 17), 0);
}
END_TEST

START_TEST(events_lost_for_memory_are_announced_in_place)
{
	uint64_t cur = 0;

	ck_assert_int_eq(hs_event_post(hp, "a"), 0);
	atomic_store(&hs__test_event_nomem, 1);
	ck_assert_int_eq(hs_event_post(hp, "b"), -ENOMEM);
	ck_assert_int_eq(hs_event_post(hp, "c"), -ENOMEM);
	atomic_store(&hs__test_event_nomem, 0);
	ck_assert_uint_eq(hs_event_seq(hp), 3);   /* still numbered */
	ck_assert_int_eq(hs_event_post(hp, "d"), 0);
	atomic_store(&hs__test_event_nomem, 1);
	ck_assert_int_eq(hs_event_post(hp, "e"), -ENOMEM);
	atomic_store(&hs__test_event_nomem, 0);
	ck_assert_str_eq(read_all(hp, &cur), "a\nlost 2\nd\nlost 1\n");
	ck_assert_uint_eq(cur, 5);
	ck_assert_str_eq(read_all(hp, &cur), "");
}
END_TEST

/* ---- who posts ----------------------------------------------------------- */

struct hook_log {
	atomic_int calls;
	_Atomic uint64_t heap_id;         /* posters on many threads set it */
};

static void hook(uint64_t heap_id, void *payload)
{
	struct hook_log *l = payload;

	atomic_store(&l->heap_id, heap_id);
	atomic_fetch_add(&l->calls, 1);
}

START_TEST(hook_runs_once_per_post_with_the_heap_id_until_unset)
{
	struct hook_log l = { 0, 0 };
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(hp, &hi), 0);
	hs_store_event_hook(st, hook, &l);
	ck_assert_int_eq(hs_event_post(hp, "x"), 0);
	ck_assert_int_eq(hs_event_post(hp, "y"), 0);
	ck_assert_int_eq(atomic_load(&l.calls), 2);
	ck_assert_uint_eq(atomic_load(&l.heap_id), hi.id);
	hs_store_event_hook(st, NULL, NULL);
	ck_assert_int_eq(hs_event_post(hp, "z"), 0);
	ck_assert_int_eq(atomic_load(&l.calls), 2);
}
END_TEST

START_TEST(restore_posts_restored_n_and_a_failed_one_nothing)
{
	uint8_t line[LS];
	uint64_t cur = hs_event_seq(hp), v;

	tu_fill(line, LS, 1, 0);
	ck_assert_int_eq(hs_heap_write(hp, line, LS, 0), LS);
	ck_assert_int_eq(hs_version_seal(hp, NULL, &v), 0);
	ck_assert_str_eq(read_all(hp, &cur), "");   /* heapstore's seal posts nothing */
	ck_assert_int_eq(hs_heap_restore(hp, 7), -ENOENT);
	ck_assert_str_eq(read_all(hp, &cur), "");
	ck_assert_int_eq(hs_heap_restore(hp, v), 0);
	ck_assert_str_eq(read_all(hp, &cur), "restored 1\n");
}
END_TEST

START_TEST(checkpoint_policy_posts_every_outcome_in_order)
{
	ckpt_policy *pol = NULL;
	uint8_t line[LS];
	uint64_t cur = hs_event_seq(hp), v;

	ck_assert_int_eq(ckpt_start(&pol, st, NULL), 0);
	tu_fill(line, LS, 2, 0);
	ck_assert_int_eq(hs_heap_write(hp, line, LS, 0), LS);
	ck_assert_int_eq(ckpt_take(pol, hp, "gold", CKPT_MANUAL, &v), 0);
	ck_assert_int_eq(ckpt_take(pol, hp, NULL, CKPT_AUTO, &v), 0);
	ck_assert_int_eq(ckpt_take(pol, hp, "gold", CKPT_MANUAL, &v), -EEXIST);
	ck_assert_str_eq(read_all(hp, &cur),
			 "checkpoint 1\ncheckpoint 2\n"
			 "checkpoint-failed heap 'app' has a checkpoint labelled 'gold' (1)\n");
	ckpt_stop(pol);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

#define POSTERS 4
#define PER_POSTER 20000
#define READERS 2

static atomic_int posters_left;

static void *poster(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int i = 0; i < PER_POSTER; i++)
		ck_assert_int_eq(hs_event_post(hp, "t%d %d", t, i), 0);
	atomic_fetch_sub(&posters_left, 1);
	return NULL;
}

struct reader_result {
	uint64_t seen, lost;
	int bad;                          /* lines out of order or malformed */
};

/* Read until every poster is done and nothing is left: each poster's
 * events must come in its order, and seen + lost must be everything. */
static void *reader(void *arg)
{
	struct reader_result *res = arg;
	char *buf = malloc(BUF + 1);
	int last[POSTERS];
	uint64_t cur = 0;

	if (!buf) {
		res->bad++;
		return NULL;
	}
	for (int t = 0; t < POSTERS; t++)
		last[t] = -1;
	for (;;) {
		bool done = atomic_load(&posters_left) == 0;
		ssize_t r = hs_event_read(hp, &cur, buf, BUF);

		if (r < 0) {
			res->bad++;
			break;
		}
		if (r == 0) {
			if (done)
				break;
			sched_yield();
			continue;
		}
		buf[r] = '\0';
		for (char *p = buf, *nl; *p; p = nl + 1) {
			unsigned long long lost;
			int t, i;

			nl = strchr(p, '\n');
			*nl = '\0';
			if (sscanf(p, "lost %llu", &lost) == 1) {
				res->lost += lost;
			} else if (sscanf(p, "t%d %d", &t, &i) == 2 && t >= 0 && t < POSTERS &&
				   i > last[t]) {
				last[t] = i;
				res->seen++;
			} else {
				res->bad++;
			}
		}
	}
	free(buf);
	return NULL;
}

START_TEST(concurrent_posters_and_readers_lose_nothing_unannounced)
{
	pthread_t p[POSTERS], r[READERS];
	struct reader_result res[READERS];
	struct hook_log l = { 0, 0 };

	memset(res, 0, sizeof(res));
	hs_store_event_hook(st, hook, &l);
	atomic_store(&posters_left, POSTERS);
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_create(&r[i], NULL, reader, &res[i]), 0);
	for (int i = 0; i < POSTERS; i++)
		ck_assert_int_eq(pthread_create(&p[i], NULL, poster, (void *)(intptr_t)i), 0);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(p[i], NULL);
	for (int i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	ck_assert_uint_eq(hs_event_seq(hp), POSTERS * PER_POSTER);
	ck_assert_int_eq(atomic_load(&l.calls), POSTERS * PER_POSTER);
	for (int i = 0; i < READERS; i++) {
		ck_assert_int_eq(res[i].bad, 0);
		ck_assert_uint_eq(res[i].seen + res[i].lost, POSTERS * PER_POSTER);
		ck_assert_uint_gt(res[i].seen, 0);
	}
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("heapstore_events");
	TCase *tc;

	tc = tcase_create("cursors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reader_sees_only_events_after_its_cursor_in_order);
	tcase_add_test(tc, every_handle_of_a_heap_shares_one_ring);
	tcase_add_test(tc, read_returns_whole_lines_that_fit);
	tcase_add_test(tc, bad_buffer_and_cursor_are_refused_and_change_nothing);
	tcase_add_test(tc, a_line_stays_one_bounded_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("wrap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reader_behind_the_ring_gets_lost_n_then_continues);
	tcase_add_test(tc, reader_lapped_many_times_counts_every_lost_event);
	tcase_add_test(tc, events_lost_for_memory_are_announced_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("posters");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hook_runs_once_per_post_with_the_heap_id_until_unset);
	tcase_add_test(tc, restore_posts_restored_n_and_a_failed_one_nothing);
	tcase_add_test(tc, checkpoint_policy_posts_every_outcome_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, concurrent_posters_and_readers_lose_nothing_unannounced);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(events_suite());
}
