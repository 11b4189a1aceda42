/*
 * test_xfer.c - moving versions between two real stores through
 * hs_export/hs_import (heapstore/xfer.c), as migrate/ does: every version,
 * label, identity, the state and the live heap arrive exactly; only
 * content the receiver lacks is carried; incremental transfers both ways;
 * and a transfer that fails anywhere (content neither carried nor held, a
 * frame that lies, inconsistent versions, a full pool, an abort) leaves
 * the receiver as it was: same heaps, fsck clean, and once GC has run the
 * same bytes stored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapstore.h"
#include "xfer_util.h"

enum fault {
	F_NONE,
	F_SKIP_BLOB,      /* a needed blob neither carried nor held */
	F_FLIP_FRAME,     /* a carried frame with one byte changed */
	F_WRONG_HASH,     /* a frame carried under a hash it does not have */
	F_ABORT,          /* everything staged, then freed uncommitted */
	F_PARENT,         /* the second version names a parent it does not follow */
	F_LINE_PAST,      /* a non-zero line past its version's size */
};

struct xstats {
	size_t versions, lines, blobs, carried, held;
	uint64_t bytes_carried;
};

static int hash_cmp(const void *x, const void *y)
{
	return memcmp(x, y, HS_HASH_LEN);
}

/* The byte ranges a committed import says it changed (hs_import_changed),
 * when a test asks xfer() for them. */
struct ranges {
	size_t n;
	uint64_t off[16], len[16];
};

static struct ranges *changed_out;

static void range_note(void *arg, uint64_t off, uint64_t len)
{
	struct ranges *r = arg;

	ck_assert_uint_lt(r->n, 16);
	r->off[r->n] = off;
	r->len[r->n++] = len;
}

/*
 * Send heap @name of @from's versions after @base (0: all) into @to as
 * @as: versions and lines first, then each distinct content the receiver
 * does not hold, as a stream carries them.  Returns the first failure.
 */
static int xfer(hs_store *from, const char *name, uint64_t base, hs_store *to, const char *as,
		enum fault fault, struct xstats *st)
{
	hs_heap *h;
	hs_heap_info hi;
	hs_export *x;
	hs_import *imp = NULL;
	hs_import_params p = { 0 };
	hs_version_info *vs;
	size_t nv, nh = 0;
	uint8_t (*hashes)[HS_HASH_LEN] = NULL;
	const uint8_t *parent = NULL;
	uint8_t zeros[HS_IDENT_LEN] = { 0 };
	int rc;

	memset(st, 0, sizeof(*st));
	ck_assert_int_eq(hs_heap_open(&h, from, name), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_int_eq(hs_export_begin(&x, h), 0);
	ck_assert_int_eq(hs_export_versions(x, &vs, &nv), 0);
	p.name = as;
	memcpy(p.ident, hi.ident, HS_IDENT_LEN);
	p.line_size = hi.line_size;
	p.created_ns = hi.created_ns;
	p.incremental = base != 0;
	parent = zeros;
	for (size_t i = 0; i < nv; i++) {
		if (vs[i].version == base) {
			memcpy(p.base, vs[i].ident, HS_IDENT_LEN);
			parent = vs[i].ident;
		}
	}
	if ((rc = hs_import_begin(&imp, to, &p)) < 0)
		goto out;
	for (size_t i = 0; i < nv; i++) {
		hs_xline *ls;
		size_t nl;

		if (vs[i].version <= base)
			continue;
		ck_assert_int_eq(hs_export_changes(x, vs[i].version, &ls, &nl), 0);
		if (fault == F_LINE_PAST && st->versions == 1 && nl) {
			ls[0].line = (vs[i].size_bytes + LS - 1) / LS;
			ls[0].zero = 0;
		}
		rc = hs_import_version(imp, &vs[i], fault == F_PARENT && st->versions == 1 ?
					zeros : parent);
		if (rc == 0)
			rc = hs_import_lines(imp, ls, nl);
		for (size_t j = 0; j < nl && rc == 0; j++) {
			if (ls[j].zero)
				continue;
			hashes = realloc(hashes, (nh + 1) * sizeof(*hashes));
			memcpy(hashes[nh++], ls[j].hash, HS_HASH_LEN);
		}
		st->lines += nl;
		st->versions++;
		free(ls);
		if (rc < 0)
			goto out;
		parent = vs[i].ident;
	}
	if (nh)
		qsort(hashes, nh, sizeof(*hashes), hash_cmp);
	for (size_t i = 0; i < nh && rc >= 0; i++) {
		void *frame;
		size_t len;

		if (i && memcmp(hashes[i], hashes[i - 1], HS_HASH_LEN) == 0)
			continue;
		st->blobs++;
		if ((rc = hs_import_have(imp, hashes[i])) < 0)
			break;
		if (rc == 1) {
			st->held++;
			continue;
		}
		if (fault == F_SKIP_BLOB && st->carried == 1) {
			fault = F_NONE;
			rc = 0;
			continue;
		}
		ck_assert_int_eq(hs_export_blob(x, hashes[i], &frame, &len), 0);
		if (fault == F_FLIP_FRAME && st->carried == 2)
			((uint8_t *)frame)[len / 2] ^= 0x10;
		if (fault == F_WRONG_HASH && st->carried == 2)
			hashes[i][7] ^= 1;   /* the frame says another line */
		rc = hs_import_blob(imp, hashes[i], frame, len);
		free(frame);
		st->carried++;
		st->bytes_carried += len;
	}
	if (rc >= 0 && fault != F_ABORT)
		rc = hs_import_commit(imp, NULL);
	if (rc >= 0 && fault != F_ABORT && changed_out)
		hs_import_changed(imp, range_note, changed_out);
out:
	hs_import_free(imp);
	free(hashes);
	free(vs);
	hs_export_end(x);
	hs_heap_close(h);
	return rc < 0 ? rc : 0;
}

START_TEST(full_then_incremental_both_ways)
{
	struct xstats st;
	hs_heap *h;
	uint8_t buf[LS];

	xu_make_history(sa, "app");
	/* B already holds some of the content, under another heap. */
	h = tu_heap_new(sb, "other", LS);
	for (uint64_t i = 0; i < 10; i++) {
		tu_fill(buf, LS, 1, i);
		ck_assert_int_eq(hs_heap_write(h, buf, LS, i * LS), LS);
	}
	hs_heap_close(h);

	ck_assert_int_eq(xfer(sa, "app", 0, sb, "app", F_NONE, &st), 0);
	ck_assert_uint_eq(st.versions, 3);
	ck_assert_uint_eq(st.held, 10);
	ck_assert_uint_eq(st.carried + st.held, st.blobs);
	xu_expect_same(sa, "app", sb, "app");
	ck_assert_int_eq(hs_store_fsck(sb, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);

	/* Sent again: the name is taken; under another name nothing is carried. */
	ck_assert_int_eq(xfer(sa, "app", 0, sb, "app", F_NONE, &st), -EEXIST);
	ck_assert_int_eq(xfer(sa, "app", 0, sb, "copy", F_NONE, &st), 0);
	ck_assert_uint_eq(st.carried, 0);
	xu_expect_same(sa, "app", sb, "copy");

	/* A -> B, incremental: one new line, one version. */
	ck_assert_int_eq(hs_heap_open(&h, sa, "app"), 0);
	xu_write_lines(h, 5, 1, 9);
	ck_assert_int_eq(hs_version_seal(h, "five", NULL), 0);
	hs_heap_close(h);
	ck_assert_int_eq(xfer(sa, "app", 4, sb, "app", F_NONE, &st), 0);
	ck_assert_uint_eq(st.versions, 1);
	ck_assert_uint_eq(st.lines, 1);
	ck_assert_uint_eq(st.carried, 1);
	xu_expect_same(sa, "app", sb, "app");

	/* B -> A: B changes a line and the state; A's copy takes it back. */
	ck_assert_int_eq(hs_heap_open(&h, sb, "app"), 0);
	xu_write_lines(h, 6, 1, 10);
	ck_assert_int_eq(hs_state_write(h, "moved", 5, 0), 5);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	ck_assert_int_eq(xfer(sb, "app", 5, sa, "app", F_NONE, &st), 0);
	ck_assert_uint_eq(st.lines, 2);
	ck_assert_uint_eq(st.carried, 2);
	xu_expect_same(sb, "app", sa, "app");
	ck_assert_int_eq(hs_store_fsck(sa, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
	ck_assert_int_eq(hs_store_fsck(sb, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);

	/* A heap here that changed since the base refuses versions on top. */
	ck_assert_int_eq(hs_heap_open(&h, sb, "app"), 0);
	xu_write_lines(h, 7, 1, 11);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_open(&h, sa, "app"), 0);
	xu_write_lines(h, 8, 1, 12);
	hs_heap_close(h);
	ck_assert_int_eq(xfer(sb, "app", 6, sa, "app", F_NONE, &st), -EBUSY);
	/* ... and one whose newest checkpoint is not the base, another. */
	ck_assert_int_eq(xfer(sb, "app", 5, sa, "app", F_NONE, &st), -ESTALE);
	/* A heap of the same name but another identity is not it. */
	xu_make_history(sa, "stranger");
	ck_assert_int_eq(xfer(sa, "stranger", 4, sb, "app", F_NONE, &st), -ESTALE);
	ck_assert_int_eq(hs_store_fsck(sa, 0, NULL, NULL), 0);
	ck_assert_int_eq(hs_store_fsck(sb, 0, NULL, NULL), 0);
}
END_TEST

static const struct {
	enum fault fault;
	int rc;
	const char *says;
} faults[] = {
	{ F_SKIP_BLOB, -ENOENT, "neither in the stream nor in this store" },
	{ F_FLIP_FRAME, -EBADMSG, "blob" },
	{ F_WRONG_HASH, -EBADMSG, "hashes to" },
	{ F_ABORT, 0, NULL },
	{ F_PARENT, -EINVAL, "does not follow" },
	{ F_LINE_PAST, -EINVAL, "past its size" },
};

START_TEST(failed_transfer_leaves_receiver_as_it_was)
{
	struct xstats st;
	struct xu_view before;
	hs_heap *h;
	int rc;

	xu_make_history(sa, "app");
	/* B holds part of it (pinned during the transfer) and a copy of the
	 * first versions (for an incremental transfer). */
	h = tu_heap_new(sb, "other", LS);
	xu_write_lines(h, 0, 12, 1);
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_open(&h, sa, "app"), 0);
	hs_heap_close(h);
	xu_view_take(sb, &before);
	rc = xfer(sa, "app", 0, sb, "app", faults[_i].fault, &st);
	ck_assert_int_eq(rc, faults[_i].rc);
	if (faults[_i].says)
		ck_assert_msg(strstr(hs_error_last(), faults[_i].says), "message: %s",
			      hs_error_last());
	xu_view_expect(sb, &before);
	/* Then the same transfer whole. */
	ck_assert_int_eq(xfer(sa, "app", 0, sb, "app", F_NONE, &st), 0);
	xu_expect_same(sa, "app", sb, "app");
	xu_view_take(sb, &before);

	/* The same faults in an incremental transfer onto that copy. */
	ck_assert_int_eq(hs_heap_open(&h, sa, "app"), 0);
	xu_write_lines(h, 10, 12, 7);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	xu_write_lines(h, 0, 3, 8);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	rc = xfer(sa, "app", 4, sb, "app", faults[_i].fault, &st);
	ck_assert_int_eq(rc, faults[_i].rc);
	xu_view_expect(sb, &before);
	xu_expect_same(sb, "app", sb, "app");
	ck_assert_int_eq(xfer(sa, "app", 4, sb, "app", F_NONE, &st), 0);
	xu_expect_same(sa, "app", sb, "app");
}
END_TEST

/* A receiver whose pool cannot take the blobs refuses with ENOSPC, as it
 * was; with room, the same transfer goes through. */
START_TEST(full_pool_refuses_and_keeps_nothing)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	struct xstats st;
	struct xu_view before;
	hs_heap *h;

	h = tu_heap_new(sa, "big", LS);
	xu_write_lines(h, 0, 600, 5);   /* heap-like lines: ~1 MiB stored */
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	hs_store_close(sb);
	o.pool_bytes = 256 << 10;
	ck_assert_int_eq(hs_store_open(&sb, dir_b, &o), 0);
	xu_view_take(sb, &before);
	ck_assert_int_eq(xfer(sa, "big", 0, sb, "big", F_NONE, &st), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "pool"));
	xu_view_expect(sb, &before);
	hs_store_close(sb);
	sb = tu_store_open(dir_b, 0, 0);
	ck_assert_int_eq(xfer(sa, "big", 0, sb, "big", F_NONE, &st), 0);
	xu_expect_same(sa, "big", sb, "big");
}
END_TEST

/*
 * What a transfer stages is invisible, and what a crash left staged goes
 * at the next open: a child process stages 600 blobs (written in batches
 * of 256) and dies without committing or freeing.
 */
/*
 * Heap @name on A: @lines lines of seed @seed, sealed as checkpoint 1;
 * its export, that checkpoint's lines, and import parameters naming it.
 */
static void one_version(const char *name, uint64_t lines, uint64_t seed, hs_heap **h,
			hs_export **x, hs_xline **ls, size_t *nl, hs_import_params *p)
{
	hs_heap_info hi;

	*h = tu_heap_new(sa, name, LS);
	xu_write_lines(*h, 0, lines, seed);
	ck_assert_int_eq(hs_version_seal(*h, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_info_get(*h, &hi), 0);
	ck_assert_int_eq(hs_export_begin(x, *h), 0);
	ck_assert_int_eq(hs_export_changes(*x, 1, ls, nl), 0);
	ck_assert_uint_eq(*nl, lines);
	memset(p, 0, sizeof(*p));
	p->name = name;
	memcpy(p->ident, hi.ident, HS_IDENT_LEN);
	p->line_size = LS;
}

static void one_version_end(hs_heap *h, hs_export *x, hs_xline *ls)
{
	free(ls);
	hs_export_end(x);
	hs_heap_close(h);
}

START_TEST(staged_blobs_leave_with_the_import)
{
	hs_import_params p = { 0 };
	hs_import *imp;
	hs_export *x;
	hs_heap *h;
	hs_heap_info *list;
	hs_xline *ls;
	size_t n, nl;
	void *frame;
	size_t len;
	hs_store_totals t;
	pid_t pid;
	int status;

	one_version("big", 600, 5, &h, &x, &ls, &nl, &p);

	ck_assert_int_eq(hs_import_begin(&imp, sb, &p), 0);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(hs_import_have(imp, ls[i].hash), 0);
		ck_assert_int_eq(hs_export_blob(x, ls[i].hash, &frame, &len), 0);
		ck_assert_int_eq(hs_import_blob(imp, ls[i].hash, frame, len), 0);
		if (i == 0)
			ck_assert_int_eq(hs_import_blob(imp, ls[i].hash, frame, len), -EINVAL);
		free(frame);
		ck_assert_int_eq(hs_import_have(imp, ls[i].hash), 1);
	}
	ck_assert_int_eq(hs_heap_list(sb, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	ck_assert_int_eq(hs_import_commit(imp, NULL), -EINVAL);   /* no version */
	hs_import_free(imp);
	t = xu_totals_after_gc(sb);
	ck_assert_uint_eq(t.blobs, 0);

	hs_store_close(sb);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		hs_store *c = NULL;

		if (hs_store_open(&c, dir_b, NULL) < 0 || hs_import_begin(&imp, c, &p) < 0)
			_exit(2);
		for (size_t i = 0; i < nl; i++) {
			if (hs_export_blob(x, ls[i].hash, &frame, &len) < 0 ||
			    hs_import_blob(imp, ls[i].hash, frame, len) < 0)
				_exit(3);
			free(frame);
		}
		_exit(0);   /* a crash: nothing committed, nothing freed */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sb = tu_store_open(dir_b, 0, 0);
	ck_assert_int_eq(hs_heap_list(sb, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	t = xu_totals_after_gc(sb);
	ck_assert_uint_eq(t.bytes_stored, 0);
	ck_assert_uint_eq(t.blobs, 0);
	ck_assert_int_eq(hs_store_fsck(sb, 0, NULL, NULL), 0);
	one_version_end(h, x, ls);
}
END_TEST

/*
 * What an incremental commit says it changed, for the caches of the heap
 * there: the heap lines of every version it added, as coalesced byte
 * ranges (a punched line among them; state lines not: they are another
 * file); a new heap, nothing (nothing of it can be cached).
 */
START_TEST(changed_ranges_of_a_commit)
{
	struct xstats st;
	struct ranges r = { 0 };
	hs_heap *h = tu_heap_new(sa, "app", LS);

	xu_write_lines(h, 0, 10, 1);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	changed_out = &r;
	ck_assert_int_eq(xfer(sa, "app", 0, sb, "app", F_NONE, &st), 0);
	ck_assert_uint_eq(r.n, 0);
	xu_write_lines(h, 2, 3, 2);                  /* lines 2, 3, 4 */
	xu_write_lines(h, 8, 1, 3);
	ck_assert_int_eq(hs_state_write(h, "state", 5, 0), 5);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_punch(h, 6 * LS, LS), 0);
	xu_write_lines(h, 5, 1, 4);                  /* 5 and 6: one run with 2-4 */
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(xfer(sa, "app", 1, sb, "app", F_NONE, &st), 0);
	changed_out = NULL;
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.off[0], 2 * LS);
	ck_assert_uint_eq(r.len[0], 5 * LS);
	ck_assert_uint_eq(r.off[1], 8 * LS);
	ck_assert_uint_eq(r.len[1], LS);
	xu_expect_same(sa, "app", sb, "app");
	hs_heap_close(h);
}
END_TEST

/*
 * hs_import_blobs pipelined, batches of 100 over memory kept to the end:
 * a damaged frame in the fourth batch fails the call after it (or the
 * wait), with every blob before it kept and none after; the import then
 * freed and the store closed at once, the purger perhaps mid-way through
 * its staging heap, leaves nothing the next open does not finish: no
 * heap, fsck clean, nothing stored after GC.
 */
START_TEST(pipelined_blobs_then_a_close_leave_nothing)
{
	hs_import_params p = { 0 };
	hs_import *imp;
	hs_export *x;
	hs_heap *h;
	hs_heap_info *list;
	hs_xline *ls;
	hs_store_totals t;
	size_t n, nl, bad = 350, *lens;
	void **frames;
	uint8_t (*hashes)[HS_HASH_LEN];
	int rc = 0;

	one_version("big", 600, 7, &h, &x, &ls, &nl, &p);
	frames = calloc(nl, sizeof(*frames));
	lens = calloc(nl, sizeof(*lens));
	hashes = calloc(nl, sizeof(*hashes));
	for (size_t i = 0; i < nl; i++) {
		ck_assert_int_eq(hs_export_blob(x, ls[i].hash, &frames[i], &lens[i]), 0);
		memcpy(hashes[i], ls[i].hash, HS_HASH_LEN);
	}
	((uint8_t *)frames[bad])[lens[bad] / 2] ^= 0x10;
	ck_assert_int_eq(hs_import_begin(&imp, sb, &p), 0);
	for (size_t at = 0; at < nl && rc == 0; at += 100)
		rc = hs_import_blobs(imp, 100, (const uint8_t (*)[HS_HASH_LEN])hashes + at,
				     (const void *const *)frames + at, lens + at);
	if (rc == 0)
		rc = hs_import_blobs_wait(imp);
	ck_assert_int_eq(rc, -EBADMSG);
	for (size_t i = 0; i < nl; i++)
		ck_assert_msg(hs_import_have(imp, hashes[i]) == (i < bad), "blob %zu", i);
	hs_import_free(imp);
	hs_store_close(sb);
	sb = tu_store_open(dir_b, 0, 0);
	ck_assert_int_eq(hs_heap_list(sb, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(list);
	ck_assert_int_eq(hs_store_fsck(sb, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
	t = xu_totals_after_gc(sb);
	ck_assert_uint_eq(t.blobs, 0);
	ck_assert_uint_eq(t.bytes_stored, 0);
	for (size_t i = 0; i < nl; i++)
		free(frames[i]);
	free(frames);
	free(lens);
	free(hashes);
	one_version_end(h, x, ls);
}
END_TEST

/*
 * Short ids, as a migration's offers name contents: each finds its blob
 * and the rest of its hash, from the refs family's files (whose filters
 * skip a file lacking the prefix) as from memory, and a prefix no blob has
 * finds none; also prefixes shorter than the filters' (a seek in total
 * order) and longer.
 */
START_TEST(short_ids_find_their_blobs_on_disk_and_in_memory)
{
	static const size_t widths[] = { 4, 8, 16 };   /* 8: the filters' (a short id) */
	hs_import_params p = { 0 };
	hs_export *x;
	hs_heap *h, *h2;
	hs_xline *ls;
	size_t nl, n = 0;
	uint8_t (*held)[HS_HASH_LEN] = calloc(400, HS_HASH_LEN);

	one_version("ids", 300, 11, &h, &x, &ls, &nl, &p);
	for (size_t i = 0; i < nl; i++)
		memcpy(held[n++], ls[i].hash, HS_HASH_LEN);
	one_version_end(h, x, ls);
	ck_assert_int_eq(hs_store_trim(sa), 0);   /* the refs go to files */
	/* A second heap's, in memory only. */
	one_version("ids2", 50, 12, &h2, &x, &ls, &nl, &p);
	for (size_t i = 0; i < nl; i++)
		memcpy(held[n++], ls[i].hash, HS_HASH_LEN);
	one_version_end(h2, x, ls);

	for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
		size_t k = widths[w], m = 2 * n;
		uint8_t *ids = calloc(m, k), *found = calloc(m, 1);
		uint8_t (*got)[HS_HASH_LEN] = calloc(m, HS_HASH_LEN);

		/* Each held id, then one no blob has: its first byte changed
		 * until no held hash starts with it. */
		for (size_t i = 0; i < n; i++) {
			uint8_t *a = ids + 2 * i * k;
			bool clash = true;

			memcpy(a, held[i], k);
			memcpy(a + k, held[i], k);
			while (clash) {
				a[k]++;
				clash = false;
				for (size_t j = 0; j < n && !clash; j++)
					clash = memcmp(held[j], a + k, k) == 0;
			}
		}
		ck_assert_int_eq(hs_blob_find_prefixes(sa, ids, k, m, got, found), 0);
		for (size_t i = 0; i < n; i++) {
			ck_assert_msg(found[2 * i] == 1, "%zu-byte id of blob %zu not found", k, i);
			ck_assert_msg(memcmp(got[2 * i], held[i], HS_HASH_LEN) == 0,
				      "%zu-byte id of blob %zu found another", k, i);
			ck_assert_msg(found[2 * i + 1] == 0, "%zu-byte id no blob has found", k);
		}
		free(ids);
		free(found);
		free(got);
	}
	free(held);
}
END_TEST

/*
 * A transfer cut short leaves what it staged as garbage: until GC takes
 * it, the next try counts it as held (pinned again, so GC waits) and it
 * is not sent twice; once GC took it, it must be sent.
 */
START_TEST(garbage_of_a_cut_transfer_counts_until_gc)
{
	hs_import_params p = { 0 };
	hs_import *imp;
	hs_export *x;
	hs_heap *h;
	hs_xline *ls;
	size_t nl, len;
	void *frame;
	hs_gc_stats g;
	struct xstats st;

	one_version("app", 8, 4, &h, &x, &ls, &nl, &p);
	ck_assert_int_eq(hs_import_begin(&imp, sb, &p), 0);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(hs_export_blob(x, ls[i].hash, &frame, &len), 0);
		ck_assert_int_eq(hs_import_blob(imp, ls[i].hash, frame, len), 0);
		free(frame);
	}
	hs_import_free(imp);   /* cut: five blobs are garbage now */
	ck_assert_int_eq(hs_import_begin(&imp, sb, &p), 0);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(hs_import_have(imp, ls[i].hash), i < 5);
	ck_assert_int_eq(hs_store_gc(sb, 0, &g), 0);   /* pinned: GC leaves them */
	ck_assert_uint_eq(g.blobs_freed, 0);
	hs_import_free(imp);
	do
		ck_assert_int_eq(hs_store_gc(sb, 0, &g), 0);
	while (g.more);
	ck_assert_int_eq(xfer(sa, "app", 0, sb, "app", F_NONE, &st), 0);
	ck_assert_uint_eq(st.held, 0);   /* GC took them: all eight travel */
	ck_assert_uint_eq(st.carried, 8);
	xu_expect_same(sa, "app", sb, "app");
	one_version_end(h, x, ls);
}
END_TEST

static Suite *xfer_suite(void)
{
	Suite *s = suite_create("xfer");
	TCase *tc = tcase_create("xfer");

	tcase_add_checked_fixture(tc, xu_setup, xu_teardown);
	tcase_add_test(tc, full_then_incremental_both_ways);
	tcase_add_loop_test(tc, failed_transfer_leaves_receiver_as_it_was, 0,
			    (int)(sizeof(faults) / sizeof(faults[0])));
	tcase_add_test(tc, full_pool_refuses_and_keeps_nothing);
	tcase_add_test(tc, staged_blobs_leave_with_the_import);
	tcase_add_test(tc, pipelined_blobs_then_a_close_leave_nothing);
	tcase_add_test(tc, changed_ranges_of_a_commit);
	tcase_add_test(tc, garbage_of_a_cut_transfer_counts_until_gc);
	tcase_add_test(tc, short_ids_find_their_blobs_on_disk_and_in_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(xfer_suite());
}
