/*
 * test_migrate.c - streams between two real stores through file
 * descriptors (migrate/io.c): send and recv of whole heaps and increments
 * both ways, with the bytes a return trip carries measured; verify with
 * and without a store; and a hostile-stream corpus built from real
 * streams (cut at every record boundary and one byte either side, a bit
 * flipped in every record, lengths past their bound, a bad name, a
 * content neither carried nor held, bytes after the end) each refused with
 * the receiving store unchanged: its heaps, fsck, and once GC has run the
 * bytes it stores.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checkpoint.h"
#include "heapstore_int.h"
#include "migrate.h"
#include "xfer_util.h"

/* mg_send into memory. */
static uint8_t *send_buf(hs_store *s, const char *heap, uint64_t version, uint64_t from,
			 size_t *len, mg_stats *st)
{
	int fd = xu_file_of((const uint8_t *)"", 0);
	off_t end;
	uint8_t *buf;

	mg_io io = MG_IO_FD(fd);

	ck_assert_msg(mg_send(s, heap, version, from, &io, st) == 0, "send: %s",
		      hs_error_last());
	end = lseek(fd, 0, SEEK_END);
	ck_assert_uint_eq((uint64_t)end, st->bytes);
	buf = malloc((size_t)end + 1);
	ck_assert_int_eq(pread(fd, buf, (size_t)end, 0), end);
	close(fd);
	*len = (size_t)end;
	return buf;
}

static int recv_opts(hs_store *s, const uint8_t *buf, size_t len, const char *as,
		     int carried_only, mg_stats *st)
{
	mg_recv_opts o = { as, 0, 0, 0, 0, NULL, NULL, carried_only, NULL };
	int fd = xu_file_of(buf, len), rc;
	mg_io io = MG_IO_FD(fd);

	rc = mg_recv(s, &io, &o, st);

	close(fd);
	return rc;
}

static int recv_buf(hs_store *s, const uint8_t *buf, size_t len, const char *as, mg_stats *st)
{
	return recv_opts(s, buf, len, as, 0, st);
}

static int verify_buf(hs_store *s, const uint8_t *buf, size_t len, mg_stats *st)
{
	int fd = xu_file_of(buf, len), rc;
	mg_io io = MG_IO_FD(fd);

	rc = mg_verify(s, &io, st);

	close(fd);
	return rc;
}

START_TEST(send_recv_round_trips_and_return_trip)
{
	mg_stats st, rt;
	uint8_t *buf;
	size_t len, full_len;
	hs_heap *h;

	xu_make_history(sa, "app");
	buf = send_buf(sa, "app", 0, 0, &len, &st);
	full_len = len;
	ck_assert_uint_eq(st.versions, 3);
	ck_assert_int_eq(verify_buf(NULL, buf, len, &rt), 0);
	ck_assert_uint_eq(rt.lines_held, 0);
	ck_assert_int_eq(verify_buf(sb, buf, len, &rt), 0);
	ck_assert_int_eq(recv_buf(sb, buf, len, NULL, &rt), 0);
	ck_assert_str_eq(rt.heap, "app");
	ck_assert_uint_eq(rt.version, 4);
	ck_assert_uint_eq(rt.bytes, len);
	xu_expect_same(sa, "app", sb, "app");
	/* The same stream again: the name is taken; --as gives it another. */
	ck_assert_int_eq(recv_buf(sb, buf, len, NULL, &rt), -EEXIST);
	ck_assert_int_eq(recv_buf(sb, buf, len, "copy", &rt), 0);
	xu_expect_same(sa, "app", sb, "copy");
	ck_assert_int_eq(recv_buf(sb, buf, len, "../x", &rt), -EINVAL);
	free(buf);

	/* One checkpoint only, up to version 3 (1 and 3 travel). */
	buf = send_buf(sa, "app", 3, 0, &len, &st);
	ck_assert_uint_eq(st.versions, 2);
	ck_assert_uint_eq(st.version, 3);
	free(buf);
	{
		mg_io out = MG_IO_FD(1);

		ck_assert_int_eq(mg_send(sa, "app", 2, 0, &out, &st), -ENOENT);   /* deleted */
		ck_assert_int_eq(mg_send(sa, "app", 3, 4, &out, &st), -EINVAL);
		ck_assert_int_eq(mg_send(sa, "nope", 0, 0, &out, &st), -ENOENT);
	}

	/* B changes 1% of a 200-line heap and sends it back from the common
	 * version: the lines and their contents, not the heap. */
	ck_assert_int_eq(hs_heap_open(&h, sb, "app"), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 200 * LS), 0);
	xu_write_lines(h, 40, 160, 21);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	buf = send_buf(sb, "app", 0, 4, &len, &st);
	ck_assert_int_eq(recv_buf(sa, buf, len, NULL, &rt), 0);
	free(buf);
	xu_expect_same(sb, "app", sa, "app");
	ck_assert_int_eq(hs_heap_open(&h, sb, "app"), 0);
	xu_write_lines(h, 100, 2, 22);
	ck_assert_int_eq(hs_version_seal(h, "small", NULL), 0);
	hs_heap_close(h);
	buf = send_buf(sb, "app", 0, 5, &len, &st);
	ck_assert_uint_eq(st.lines, 2);
	ck_assert_uint_eq(st.blobs, 2);
	/* Two compressed lines and a few hundred bytes of records. */
	ck_assert_uint_lt(len, st.blob_bytes + 600);
	ck_assert_uint_lt(len, full_len);
	ck_assert_int_eq(recv_buf(sa, buf, len, NULL, &rt), 0);
	free(buf);
	xu_expect_same(sb, "app", sa, "app");
	ck_assert_int_eq(hs_store_fsck(sa, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
	ck_assert_int_eq(hs_store_fsck(sb, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
}
END_TEST

/* An increment verifies on its own (it carries what its lines name); a
 * store without its base heap cannot take it. */
START_TEST(verify_checks_against_a_store)
{
	mg_stats st, vt;
	uint8_t *buf;
	size_t len;
	hs_heap *h;

	xu_make_history(sa, "app");
	ck_assert_int_eq(hs_heap_open(&h, sa, "app"), 0);
	xu_write_lines(h, 0, 1, 30);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	buf = send_buf(sa, "app", 5, 4, &len, &st);
	ck_assert_uint_eq(st.lines, 1);
	ck_assert_int_eq(verify_buf(NULL, buf, len, &vt), 0);
	ck_assert_uint_eq(vt.lines_held, 0);
	ck_assert_int_eq(verify_buf(sb, buf, len, &vt), 0);
	/* B lacks the base, so the increment cannot go in there. */
	ck_assert_int_eq(recv_buf(sb, buf, len, NULL, &vt), -ENOENT);
	free(buf);
}
END_TEST

/* ---- the hostile corpus ---------------------------------------------- */

/* Where each record of @buf begins, and its type. */
static size_t records(const uint8_t *buf, size_t len, size_t *at, char *type, size_t max)
{
	size_t n = 0, p = MG_PREAMBLE_LEN;

	while (p + MG_REC_HDR <= len && n < max) {
		uint32_t l = (uint32_t)buf[p + 4] | (uint32_t)buf[p + 5] << 8 |
			     (uint32_t)buf[p + 6] << 16 | (uint32_t)buf[p + 7] << 24;

		at[n] = p;
		type[n++] = (char)buf[p];
		p += MG_REC_HDR + l;
	}
	ck_assert_uint_eq(p, len);
	return n;
}

/* Re-encode @buf without its blob record number @skip (a valid stream
 * whose lines name content it does not carry), or with heap name @name. */
struct reenc {
	mg_enc e;
	long skip, seen;
	const char *name;
	hs_store *held_by;                /* skip every blob this store holds */
};

static int re_heap(void *arg, const mg_heap_hdr *h)
{
	struct reenc *r = arg;
	mg_heap_hdr c = *h;

	if (r->name)
		snprintf(c.name, sizeof(c.name), "%s", r->name);
	return mg_enc_heap(&r->e, &c);
}

static int re_version(void *arg, const mg_version_hdr *v)
{
	return mg_enc_version(&((struct reenc *)arg)->e, v);
}

static int re_lines(void *arg, const hs_xline *l, size_t n)
{
	return mg_enc_lines(&((struct reenc *)arg)->e, l, n);
}

static int re_blob(void *arg, const uint8_t *hash, const void *frame, size_t len)
{
	struct reenc *r = arg;

	if (r->seen++ == r->skip)
		return 0;
	if (r->held_by) {
		uint8_t one[1][HS_HASH_LEN];
		uint32_t raw = 0;

		memcpy(one[0], hash, HS_HASH_LEN);
		ck_assert_int_eq(hs_blobs_held(r->held_by, (const uint8_t (*)[HS_HASH_LEN])one, 1,
					       &raw), 0);
		if (raw)
			return 0;
	}
	return mg_enc_blob(&r->e, hash, frame, len);
}

static int re_end(void *arg, const mg_trailer *t)
{
	(void)t;
	return mg_enc_end(&((struct reenc *)arg)->e);
}

static uint8_t *reencode_held(const uint8_t *buf, size_t len, long skip, const char *name,
			      hs_store *held_by, size_t *out_len)
{
	static const mg_dec_cb cb = { re_heap, re_version, re_lines, re_blob, re_end };
	struct reenc r = { .skip = skip, .name = name, .held_by = held_by };
	mg_dec *d;
	uint8_t *out;

	ck_assert_int_eq(mg_enc_init(&r.e), 0);
	ck_assert_int_eq(mg_dec_new(&d, &cb, &r), 0);
	ck_assert_int_eq(mg_dec_feed(d, buf, len), 0);
	ck_assert_int_eq(mg_dec_finish(d), 0);
	mg_dec_free(d);
	out = malloc(r.e.len);
	memcpy(out, r.e.buf, r.e.len);
	*out_len = r.e.len;
	mg_enc_free(&r.e);
	return out;
}

static uint8_t *reencode(const uint8_t *buf, size_t len, long skip, const char *name,
			 size_t *out_len)
{
	return reencode_held(buf, len, skip, name, NULL, out_len);
}

/* A full stream refused by B, which holds part of its content (pinned
 * while it stages) and another heap: B as it was afterwards. */
static void expect_refused(const uint8_t *buf, size_t len, const char *says, const char *what)
{
	struct xu_view before;
	mg_stats rt;
	int rc;

	xu_view_take(sb, &before);
	rc = recv_buf(sb, buf, len, NULL, &rt);
	ck_assert_msg(rc < 0, "%s: accepted", what);
	if (says)
		ck_assert_msg(strstr(hs_error_last(), says), "%s: %s", what, hs_error_last());
	xu_view_expect(sb, &before);
}

START_TEST(hostile_streams_leave_the_store_as_it_was)
{
	mg_stats st, vt;
	uint8_t *buf, *bad;
	size_t len, at[256], n, blen;
	char type[256], what[96];
	hs_heap *h;

	xu_make_history(sa, "app");
	h = tu_heap_new(sb, "other", LS);
	xu_write_lines(h, 0, 12, 1);   /* B holds some of app's content */
	hs_heap_close(h);
	buf = send_buf(sa, "app", 0, 0, &len, &st);
	n = records(buf, len, at, type, 256);
	ck_assert_uint_gt(n, 10);

	/* Cut at every record boundary, one byte either side, and inside. */
	for (size_t i = 0; i < n; i++) {
		size_t cuts[] = { at[i] - 1, at[i], at[i] + 1, at[i] + MG_REC_HDR + 3 };

		for (size_t c = 0; c < 4; c++) {
			if (cuts[c] >= len)
				continue;
			snprintf(what, sizeof(what), "cut at %zu (record %zu, %c)", cuts[c], i,
				 type[i]);
			expect_refused(buf, cuts[c], "truncated", what);
		}
	}
	/* One bit flipped in each record's header and body. */
	for (size_t i = 0; i < n; i++) {
		size_t end = i + 1 < n ? at[i + 1] : len;
		size_t spots[] = { at[i] + 5, (at[i] + MG_REC_HDR + end) / 2, end - 1 };

		for (size_t c = 0; c < 3; c++) {
			buf[spots[c]] ^= 0x08;
			snprintf(what, sizeof(what), "bit flipped at %zu (record %zu, %c)",
				 spots[c], i, type[i]);
			expect_refused(buf, len, NULL, what);
			buf[spots[c]] ^= 0x08;
		}
	}
	/* A length past its bound: refused before anything is allocated. */
	bad = malloc(len);
	memcpy(bad, buf, len);
	bad[at[n - 2] + 7] = 0x7f;   /* a blob of 2 GiB */
	expect_refused(bad, len, "past its bound", "huge blob length");
	free(bad);
	/* Bytes after the end. */
	bad = malloc(len + 3);
	memcpy(bad, buf, len);
	memcpy(bad + len, "xyz", 3);
	expect_refused(bad, len + 3, "after the end", "trailing bytes");
	free(bad);
	/* Bad names, with a valid hash. */
	bad = reencode(buf, len, -1, "../etc", &blen);
	expect_refused(bad, blen, "heap name", "name ../etc");
	free(bad);
	bad = reencode(buf, len, -1, "a/b", &blen);
	expect_refused(bad, blen, "heap name", "name a/b");
	free(bad);
	/* Content neither carried nor held: the last blob cut out. */
	bad = reencode(buf, len, (long)st.blobs - 1, NULL, &blen);
	expect_refused(bad, blen, "neither in the stream nor in this store", "absent content");
	ck_assert_int_eq(verify_buf(sb, bad, blen, &vt), -ENOENT);
	ck_assert_int_eq(verify_buf(NULL, bad, blen, &vt), 0);
	ck_assert_uint_eq(vt.lines_held, 1);
	free(bad);
	/* ... while a store holding it (A) verifies it. */
	bad = reencode(buf, len, (long)st.blobs - 1, NULL, &blen);
	ck_assert_int_eq(verify_buf(sa, bad, blen, &vt), 0);
	free(bad);

	/*
	 * A stream that leaves out every content B holds: fine for B's owner
	 * (the negotiation of migrate does that), refused for a sender who may
	 * not learn what B holds (carried_only), with B as it was.
	 */
	bad = reencode_held(buf, len, -1, NULL, sb, &blen);
	{
		struct xu_view before;

		xu_view_take(sb, &before);
		ck_assert_int_eq(recv_opts(sb, bad, blen, "held", 1, &vt), -ENOENT);
		ck_assert_ptr_nonnull(strstr(hs_error_last(), "neither in the stream nor"));
		xu_view_expect(sb, &before);
	}
	ck_assert_int_eq(recv_buf(sb, bad, blen, "held", &vt), 0);
	free(bad);

	/* After all that, the real stream goes in whole. */
	ck_assert_int_eq(recv_buf(sb, buf, len, NULL, &vt), 0);
	xu_expect_same(sa, "app", sb, "app");
	free(buf);
}
END_TEST

/*
 * The hello's protocol: a source of protocol 1 (which never ends a round
 * with 'f') is still served, 2 is this build's, others are refused by
 * name; 'f' carries nothing.
 */
START_TEST(hello_protocols_one_to_three)
{
	mg_hello h = { .flags = MG_HELLO_FINAL, .ident = { 7 }, .line_size = 4096 }, got;
	mg_enc e;

	strcpy(h.name, "app");
	ck_assert_uint_eq(mg_msg_max(MG_MSG_FINAL), 0);
	ck_assert_int_eq(mg_enc_init(&e), 0);   /* a round's hello is protocol 2 */
	ck_assert_int_eq(mg_hello_put(&e, &h), 0);
	ck_assert_int_eq(mg_hello_get(&got, e.buf + MG_REC_HDR, e.len - MG_REC_HDR), 0);
	ck_assert_uint_eq(got.proto, MG_PROTO_ROUND);
	mg_hello_free(&got);
	mg_enc_free(&e);
	for (uint32_t proto = 0; proto <= 4; proto++) {
		int rc;

		ck_assert_int_eq(mg_enc_init(&e), 0);
		ck_assert_int_eq(mg_hello_put(&e, &h), 0);
		/* After the record's header: "HEAPFSMG", then the protocol. */
		e.buf[MG_REC_HDR + 8] = (uint8_t)proto;
		rc = mg_hello_get(&got, e.buf + MG_REC_HDR, e.len - MG_REC_HDR);
		if (proto >= 1 && proto <= 3) {
			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(got.proto, proto);
			ck_assert_uint_eq(got.flags, MG_HELLO_FINAL);
			ck_assert_str_eq(got.name, "app");
		} else {
			char want[96];

			snprintf(want, sizeof(want), "migration protocol %u; this heapfs speaks 1 to 3",
				 proto);
			ck_assert_int_eq(rc, -EPROTONOSUPPORT);
			ck_assert_str_eq(hs_error_last(), want);
		}
		mg_hello_free(&got);
		mg_enc_free(&e);
	}
}
END_TEST

/* ---- a migration whose commit's sync fails at the destination --------- */

static hs_store *sync_fails;

static int fail_sync(hs_store *s)
{
	return s == sync_fails ? -EIO : 0;
}

struct serve_run {
	hs_store *s;
	int fd, rc;
};

static void *serve_main(void *arg)
{
	struct serve_run *r = arg;
	mg_io io = MG_IO_FD(r->fd);
	mg_serve_opts o;

	memset(&o, 0, sizeof(o));
	r->rc = mg_serve(r->s, &io, &io, &o);
	close(r->fd);
	return NULL;
}

/* mg_migrate of @heap from @src to mg_serve on @dst (threads, a socket
 * pair) with a downtime budget of @downtime_ms (0: the default): the
 * source's return code and *@st; the destination's in *@dst_rc. */
static int migrate_with(hs_store *src, hs_store *dst, const char *heap, unsigned downtime_ms,
			mg_migrate_stats *st, int *dst_rc)
{
	struct serve_run r = { dst, -1, 0 };
	mg_migrate_opts o;
	ckpt_policy *p;
	pthread_t t;
	int sv[2], rc;
	mg_io io;

	ck_assert_int_eq(ckpt_start(&p, src, NULL), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r.fd = sv[1];
	ck_assert_int_eq(pthread_create(&t, NULL, serve_main, &r), 0);
	memset(&o, 0, sizeof(o));
	o.dest = "b:/mnt";
	o.ckpt = p;
	o.downtime_ms = downtime_ms;
	io = (mg_io)MG_IO_FD(sv[0]);
	rc = mg_migrate(src, heap, &io, &io, &o, st);
	close(sv[0]);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ckpt_stop(p);
	*dst_rc = r.rc;
	return rc;
}

static int migrate_between(hs_store *src, hs_store *dst, const char *heap, int *dst_rc)
{
	mg_migrate_stats st;

	return migrate_with(src, dst, heap, 0, &st, dst_rc);
}

/* @name's lease in @s, or -1 if there is no such heap. */
static int lease_or_none(hs_store *s, const char *name)
{
	hs_heap_info hi;
	hs_heap *h;

	if (hs_heap_open(&h, s, name) == -ENOENT)
		return -1;
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	hs_heap_close(h);
	return (int)hi.lease;
}

/*
 * The final round's commit: its batch went in, then the sync failed (as a
 * failed fdatasync).  Whether it is committed is known only once the store
 * is reopened, where it is.  So the destination must not answer that it
 * committed nothing (the source would take the lease back: two live
 * copies); it answers nothing, the source stays read-only, a re-run is
 * refused until the destination's store is reopened, and then finds the
 * heap live there.
 */
START_TEST(a_commit_of_unknown_outcome_gets_no_answer)
{
	hs_heap *h = tu_heap_new(sa, "h", LS);
	int drc = 0;

	signal(SIGPIPE, SIG_IGN);   /* as the daemons: a closed peer is an error */
	xu_write_lines(h, 0, 8, 41);
	hs_heap_close(h);
	sync_fails = sb;
	hs__test_sync = fail_sync;
	ck_assert_int_lt(migrate_between(sa, sb, "h", &drc), 0);
	hs__test_sync = NULL;
	ck_assert_int_lt(drc, 0);
	ck_assert_int_ne(hs_store_write_error(sb), 0);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_EXPIRED);
	/* Not reopened, B decides nothing from what it shows (it may not be
	 * on its disk): the re-run is refused, A stays read-only. */
	ck_assert_int_lt(migrate_between(sa, sb, "h", &drc), 0);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_EXPIRED);
	/* B reopened: the batch is there, live. */
	hs_store_close(sb);
	sb = tu_store_open(dir_b, 0, 0);
	ck_assert_int_eq(lease_or_none(sb, "h"), HS_LEASE_HELD);
	ck_assert_int_eq(migrate_between(sa, sb, "h", &drc), 0);
	ck_assert_int_eq(drc, 0);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_MIGRATED);
	xu_expect_same(sa, "h", sb, "h");
}
END_TEST

/* ---- hand-overs a destination took ------------------------------------ */

/* The source's view after a hand-over whose answer it lost: read-only,
 * bound for B (as mg_migrate leaves it). */
static void lose_answer(hs_store *s, const char *name)
{
	hs_heap *h;

	ck_assert_int_eq(hs_heap_open(&h, s, name), 0);
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_EXPIRED, "b:/mnt"), 0);
	hs_heap_close(h);
}

/* A's answer to its hand-over of "h" to B is lost; B hands the heap on to
 * @sc and deletes its copy; A's re-run to B is refused by B's record. */
static void onward_then_refused(hs_store *sc)
{
	int drc = 0;

	lose_answer(sa, "h");
	ck_assert_int_eq(migrate_between(sb, sc, "h", &drc), 0);
	ck_assert_int_eq(hs_heap_delete(sb, "h"), 0);
	ck_assert_int_lt(migrate_between(sa, sb, "h", &drc), 0);
	ck_assert_msg(strstr(hs_error_last(), "took checkpoint"), "%s", hs_error_last());
}

/*
 * A hand-over A -> B whose answer A lost; B hands the heap on to C and
 * deletes its copy; A's re-run to B must be refused (else B and C are both
 * live), however B took it: as a new heap, or (@back: B held the heap
 * before, A -> B -> A first) as an incremental commit.
 * Then a copy of an older checkpoint received at B (recv, the same
 * identity) changes nothing.
 */
static void refused_after_onward(bool back)
{
	hs_heap *h = tu_heap_new(sa, "h", LS);
	char *dir_c = tu_tmpdir("xu-c");
	hs_store *sc = tu_store_open(dir_c, 0, 0);
	mg_stats st, rt;
	uint8_t *old;
	size_t len;
	uint64_t v1;
	int drc = 0;

	signal(SIGPIPE, SIG_IGN);
	xu_write_lines(h, 0, 8, 41);
	ck_assert_int_eq(hs_version_seal(h, NULL, &v1), 0);
	xu_write_lines(h, 0, 2, 42);
	hs_heap_close(h);
	old = send_buf(sa, "h", v1, 0, &len, &st);
	if (back) {
		ck_assert_int_eq(migrate_between(sa, sb, "h", &drc), 0);
		ck_assert_int_eq(migrate_between(sb, sa, "h", &drc), 0);
		ck_assert_int_eq(hs_heap_open(&h, sa, "h"), 0);
		xu_write_lines(h, 0, 2, 43);
		hs_heap_close(h);
	}
	ck_assert_int_eq(migrate_between(sa, sb, "h", &drc), 0);
	onward_then_refused(sc);
	ck_assert_int_eq(recv_buf(sb, old, len, "h", &rt), 0);
	ck_assert_int_eq(hs_heap_delete(sb, "h"), 0);
	ck_assert_int_lt(migrate_between(sa, sb, "h", &drc), 0);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_EXPIRED);
	ck_assert_int_eq(lease_or_none(sb, "h"), -1);
	ck_assert_int_eq(lease_or_none(sc, "h"), HS_LEASE_HELD);
	free(old);
	hs_store_close(sc);
	tu_rmtree(dir_c);
	free(dir_c);
}

START_TEST(a_handover_taken_new_is_remembered)
{
	refused_after_onward(false);
}
END_TEST

START_TEST(a_handover_taken_incrementally_is_remembered)
{
	refused_after_onward(true);
}
END_TEST

/*
 * A hand-over that carried no line is remembered too: the pre-copy round
 * took every line, a stream too large to turn final within a 1 ms budget,
 * so the final round hands over only the lease (hs_heap_lease_take_over
 * at B).  B hands the heap on to C and deletes its copy; A's re-run is
 * refused.
 */
START_TEST(a_handover_of_the_lease_alone_is_remembered)
{
	hs_heap *h = tu_heap_new(sa, "h", LS);
	char *dir_c = tu_tmpdir("xu-c");
	hs_store *sc = tu_store_open(dir_c, 0, 0);
	mg_migrate_stats st;
	hs_version_info vi;
	hs_heap_info hi;
	hs_handover ho;
	int drc = 0;

	signal(SIGPIPE, SIG_IGN);
	xu_write_lines(h, 0, 512, 41);   /* frames well over 40 KB a ms */
	hs_heap_close(h);
	ck_assert_int_eq(migrate_with(sa, sb, "h", 1, &st, &drc), 0);
	ck_assert_int_eq(drc, 0);
	ck_assert_uint_eq(st.rounds, 2);
	ck_assert_uint_eq(st.lines_sent, 512);   /* all in the first round */
	ck_assert_int_eq(hs_heap_open(&h, sb, "h"), 0);
	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	ck_assert_int_eq(hs_version_info_get(h, st.version, &vi), 0);
	hs_heap_close(h);
	ck_assert_int_eq(hs_handover_get(sb, hi.ident, vi.ident, &ho), 0);
	ck_assert_uint_eq(ho.version, st.version);
	onward_then_refused(sc);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_EXPIRED);
	ck_assert_int_eq(lease_or_none(sc, "h"), HS_LEASE_HELD);
	hs_store_close(sc);
	tu_rmtree(dir_c);
	free(dir_c);
}
END_TEST

/*
 * What B never took does not refuse a re-run: a stream of the heap
 * received there (recv), or a hand-over of another branch of it (after
 * resume --force at A, B's copy went on alone and was deleted; its
 * checkpoints carry the same numbers as A's, not the same identities).
 */
START_TEST(only_handovers_taken_refuse_a_rerun)
{
	hs_heap *h = tu_heap_new(sa, "h", LS);
	mg_stats st, rt;
	uint8_t *buf;
	size_t len;
	int drc = 0;

	signal(SIGPIPE, SIG_IGN);
	xu_write_lines(h, 0, 8, 41);
	hs_heap_close(h);
	ck_assert_int_eq(migrate_between(sa, sb, "h", &drc), 0);
	lose_answer(sa, "h");
	/* resume --force at A; B's branch goes on: checkpoints 3 and 4. */
	ck_assert_int_eq(hs_heap_open(&h, sa, "h"), 0);
	ck_assert_int_eq(hs_heap_lease_set(h, HS_LEASE_HELD, NULL), 0);
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_open(&h, sb, "h"), 0);
	for (int i = 0; i < 2; i++) {
		xu_write_lines(h, 0, 2, 50 + (uint64_t)i);
		ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	}
	hs_heap_close(h);
	ck_assert_int_eq(hs_heap_delete(sb, "h"), 0);
	/* A's branch: checkpoint 3 handed over, B never got the end. */
	ck_assert_int_eq(hs_heap_open(&h, sa, "h"), 0);
	xu_write_lines(h, 0, 2, 70);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	hs_heap_close(h);
	buf = send_buf(sa, "h", 0, 0, &len, &st);
	lose_answer(sa, "h");
	ck_assert_int_eq(recv_buf(sb, buf, len, "copy", &rt), 0);
	free(buf);
	ck_assert_int_eq(migrate_between(sa, sb, "h", &drc), 0);
	ck_assert_int_eq(drc, 0);
	ck_assert_int_eq(lease_or_none(sa, "h"), HS_LEASE_MIGRATED);
	ck_assert_int_eq(lease_or_none(sb, "h"), HS_LEASE_HELD);
	xu_expect_same(sa, "h", sb, "h");
}
END_TEST

static Suite *migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("streams");

	tcase_add_checked_fixture(tc, xu_setup, xu_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, send_recv_round_trips_and_return_trip);
	tcase_add_test(tc, verify_checks_against_a_store);
	tcase_add_test(tc, hostile_streams_leave_the_store_as_it_was);
	tcase_add_test(tc, hello_protocols_one_to_three);
	tcase_add_test(tc, a_commit_of_unknown_outcome_gets_no_answer);
	tcase_add_test(tc, a_handover_taken_new_is_remembered);
	tcase_add_test(tc, a_handover_taken_incrementally_is_remembered);
	tcase_add_test(tc, only_handovers_taken_refuse_a_rerun);
	tcase_add_test(tc, a_handover_of_the_lease_alone_is_remembered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(migrate_suite());
}
