/*
 * test_stream.c - the stream codec (migrate/stream.c, STREAM.md) on
 * buffers alone: what the encoder writes the decoder reads back exactly,
 * in any split of the bytes; every truncation, every flipped bit and a
 * table of hostile streams (bad names, line sizes, counts, lengths, orders,
 * parents, lines) is refused with a message saying what, and no callback
 * ever sees a version, line or blob the stream's own rules forbid.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "migrate.h"
#include "test_util.h"
#include "xfer_util.h"

#ifndef LS
#define LS 4096u   /* xfer_util.h's too */
#endif

/* A stream as a structure: what the encoder is given and the decoder gives. */
struct sv {
	mg_version_hdr h;
	hs_xline *lines;
	size_t n;
};

struct sblob {
	uint8_t hash[HS_HASH_LEN];
	uint8_t frame[64];
	size_t len;
};

struct model {
	mg_heap_hdr heap;
	struct sv v[8];
	size_t nv;
	struct sblob b[16];
	size_t nb;
	mg_trailer end;
	bool ended;
};

static void ident_fill(uint8_t *id, unsigned seed)
{
	for (int i = 0; i < HS_IDENT_LEN; i++)
		id[i] = (uint8_t)(seed * 31 + (unsigned)i * 7 + 1);
}

/* Blob @i: a real line's frame (as heapfs stores it) and its SHA-256, so
 * the frame check can judge what a damaged stream delivers. */
static void line_of(size_t i, uint8_t *line)
{
	memset(line, (int)(0x40 + i), LS);
	for (size_t k = 0; k < LS; k += 512)
		line[k] = (uint8_t)(k / 512 + i);
}

static void blob_make(struct sblob *b, size_t i)
{
	static uint8_t line[LS];
	ZSTD_CCtx *c = ZSTD_createCCtx();
	unsigned int hl = 0;
	size_t r;

	line_of(i, line);
	ck_assert_ptr_nonnull(c);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	r = ZSTD_compress2(c, b->frame, sizeof(b->frame), line, LS);
	ck_assert_msg(!ZSTD_isError(r), "zstd: %s", ZSTD_getErrorName(r));
	b->len = r;
	ZSTD_freeCCtx(c);
	ck_assert_int_eq(EVP_Digest(line, LS, b->hash, &hl, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(hs_frame_check(LS, b->hash, b->frame, b->len), 0);
}

/* Three versions: heap and state lines, zero lines, a label; four blobs. */
static void model_make(struct model *m)
{
	memset(m, 0, sizeof(*m));
	ident_fill(m->heap.ident, 1);
	m->heap.line_size = LS;
	strcpy(m->heap.name, "app");
	m->heap.created_ns = 12345;
	m->heap.n_versions = 3;
	for (size_t i = 0; i < 3; i++) {
		struct sv *v = &m->v[i];

		v->h.vi.version = 2 * i + 1;
		ident_fill(v->h.vi.ident, 10 + (unsigned)i);
		if (i)
			memcpy(v->h.parent, m->v[i - 1].h.vi.ident, HS_IDENT_LEN);
		v->h.vi.created_ns = 1000 + i;
		v->h.vi.size_bytes = 64 * LS;
		v->h.vi.state_size = 100;
		if (i == 1)
			strcpy(v->h.vi.label, "before");
		v->n = 4;
		v->lines = calloc(v->n, sizeof(hs_xline));
		for (size_t j = 0; j < 3; j++) {
			v->lines[j].line = 10 * j + i;
			v->lines[j].zero = j == 1 && i == 2;
			if (!v->lines[j].zero)
				memset(v->lines[j].hash, (int)(j + 1), HS_HASH_LEN);
		}
		v->lines[3].line = HS_STATE_LINE;
		memset(v->lines[3].hash, 9, HS_HASH_LEN);
		v->h.n_lines = v->n;
	}
	m->nv = 3;
	m->nb = 4;
	for (size_t i = 0; i < m->nb; i++)
		blob_make(&m->b[i], i);
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->nv; i++)
		free(m->v[i].lines);
}

/* Encode @m into a malloc'd buffer. */
static uint8_t *encode(const struct model *m, size_t *len)
{
	mg_enc e;
	uint8_t *out;

	ck_assert_int_eq(mg_enc_init(&e), 0);
	ck_assert_int_eq(mg_enc_heap(&e, &m->heap), 0);
	for (size_t i = 0; i < m->nv; i++) {
		ck_assert_int_eq(mg_enc_version(&e, &m->v[i].h), 0);
		ck_assert_int_eq(mg_enc_lines(&e, m->v[i].lines, m->v[i].n), 0);
	}
	for (size_t i = 0; i < m->nb; i++)
		ck_assert_int_eq(mg_enc_blob(&e, m->b[i].hash, m->b[i].frame, m->b[i].len), 0);
	ck_assert_int_eq(mg_enc_end(&e), 0);
	out = malloc(e.len);
	memcpy(out, e.buf, e.len);
	*len = e.len;
	mg_enc_free(&e);
	return out;
}

/* The decoder's callbacks build a model back. */
static int cb_heap(void *arg, const mg_heap_hdr *h)
{
	((struct model *)arg)->heap = *h;
	return 0;
}

static int cb_version(void *arg, const mg_version_hdr *v)
{
	struct model *m = arg;

	ck_assert_uint_lt(m->nv, 8);
	m->v[m->nv].h = *v;
	m->v[m->nv].lines = calloc(v->n_lines ? v->n_lines : 1, sizeof(hs_xline));
	m->v[m->nv].n = 0;
	m->nv++;
	return 0;
}

static int cb_lines(void *arg, const hs_xline *l, size_t n)
{
	struct model *m = arg;
	struct sv *v = &m->v[m->nv - 1];

	ck_assert_uint_le(v->n + n, v->h.n_lines);
	memcpy(v->lines + v->n, l, n * sizeof(*l));
	v->n += n;
	return 0;
}

static int cb_blob(void *arg, const uint8_t *hash, const void *frame, size_t len)
{
	struct model *m = arg;

	ck_assert_uint_lt(m->nb, 16);
	memcpy(m->b[m->nb].hash, hash, HS_HASH_LEN);
	/* A damaged stream may carry more (it fails at its end record). */
	memcpy(m->b[m->nb].frame, frame, len < 64 ? len : 64);
	m->b[m->nb].len = len;
	m->nb++;
	return 0;
}

static int cb_end(void *arg, const mg_trailer *t)
{
	struct model *m = arg;

	m->end = *t;
	m->ended = true;
	return 0;
}

static const mg_dec_cb cbs = { cb_heap, cb_version, cb_lines, cb_blob, cb_end };

/* Decode @buf fed in pieces of @step bytes (0: random); 0 or the error. */
static int decode(const uint8_t *buf, size_t len, size_t step, struct model *out)
{
	mg_dec *d;
	size_t at = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	ck_assert_int_eq(mg_dec_new(&d, &cbs, out), 0);
	while (at < len && rc == 0) {
		size_t n = step ? step : 1 + (size_t)rand() % 97;

		if (n > len - at)
			n = len - at;
		rc = mg_dec_feed(d, buf + at, n);
		at += n;
	}
	if (rc == 0)
		rc = mg_dec_finish(d);
	mg_dec_free(d);
	return rc;
}

static void expect_model_eq(const struct model *a, const struct model *b)
{
	ck_assert_mem_eq(&a->heap, &b->heap, sizeof(a->heap));
	ck_assert_uint_eq(a->nv, b->nv);
	for (size_t i = 0; i < a->nv; i++) {
		ck_assert_uint_eq(a->v[i].h.vi.version, b->v[i].h.vi.version);
		ck_assert_mem_eq(a->v[i].h.vi.ident, b->v[i].h.vi.ident, HS_IDENT_LEN);
		ck_assert_mem_eq(a->v[i].h.parent, b->v[i].h.parent, HS_IDENT_LEN);
		ck_assert_uint_eq(a->v[i].h.vi.created_ns, b->v[i].h.vi.created_ns);
		ck_assert_uint_eq(a->v[i].h.vi.size_bytes, b->v[i].h.vi.size_bytes);
		ck_assert_uint_eq(a->v[i].h.vi.state_size, b->v[i].h.vi.state_size);
		ck_assert_str_eq(a->v[i].h.vi.label, b->v[i].h.vi.label);
		ck_assert_uint_eq(a->v[i].n, b->v[i].n);
		for (size_t j = 0; j < a->v[i].n; j++) {
			ck_assert_uint_eq(a->v[i].lines[j].line, b->v[i].lines[j].line);
			ck_assert_int_eq(!!a->v[i].lines[j].zero, !!b->v[i].lines[j].zero);
			ck_assert_mem_eq(a->v[i].lines[j].hash, b->v[i].lines[j].hash,
					 HS_HASH_LEN);
		}
	}
	ck_assert_uint_eq(a->nb, b->nb);
	for (size_t i = 0; i < a->nb; i++) {
		ck_assert_mem_eq(a->b[i].hash, b->b[i].hash, HS_HASH_LEN);
		ck_assert_uint_eq(a->b[i].len, b->b[i].len);
		ck_assert_mem_eq(a->b[i].frame, b->b[i].frame, a->b[i].len);
	}
}

START_TEST(round_trip_in_any_split)
{
	struct model m, got;
	size_t len;
	uint8_t *buf;
	static const size_t steps[] = { 1, 7, 16, 4096, 0, 0, 0 };

	model_make(&m);
	buf = encode(&m, &len);
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		ck_assert_int_eq(decode(buf, len, steps[s], &got), 0);
		ck_assert(got.ended);
		ck_assert_uint_eq(got.end.versions, 3);
		ck_assert_uint_eq(got.end.lines, 12);
		ck_assert_uint_eq(got.end.blobs, 4);
		expect_model_eq(&m, &got);
		model_free(&got);
	}
	free(buf);
	model_free(&m);
}
END_TEST

/* Cut anywhere, the stream is refused; with a byte more, too. */
START_TEST(every_truncation_and_trailing_byte_refused)
{
	struct model m, got;
	size_t len;
	uint8_t *buf, *more;

	model_make(&m);
	buf = encode(&m, &len);
	for (size_t cut = 0; cut < len; cut++) {
		int rc = decode(buf, cut, 0, &got);

		ck_assert_msg(rc == -EBADMSG, "cut at %zu of %zu: %d", cut, len, rc);
		ck_assert(!got.ended);
		ck_assert_ptr_nonnull(strstr(hs_error_last(), cut ? "truncated" : "empty"));
		model_free(&got);
	}
	more = malloc(len + 1);
	memcpy(more, buf, len);
	more[len] = 0;
	ck_assert_int_eq(decode(more, len + 1, 0, &got), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "after the end"));
	model_free(&got);
	free(more);
	free(buf);
	model_free(&m);
}
END_TEST

/*
 * Any one bit flipped anywhere: refused, and nothing reaches the end; or,
 * within a frame (which the stream's hash leaves to its line's hash,
 * STREAM.md), the frame check every receiver runs refuses it, or the frame
 * still decodes to exactly the line it names (zstd ignores a few header
 * and entropy bits), which is all a receiver keeps of it.
 */
START_TEST(every_flipped_bit_refused)
{
	static uint8_t want[LS], out[LS];
	struct model m, got;
	size_t len, in_frames = 0, caught = 0;
	uint8_t *buf;

	model_make(&m);
	buf = encode(&m, &len);
	for (size_t at = 0; at < len; at++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			buf[at] ^= (uint8_t)(1u << bit);
			rc = decode(buf, len, 0, &got);
			buf[at] ^= (uint8_t)(1u << bit);
			ck_assert_msg(rc < 0 || got.nb == m.nb, "bit %d of byte %zu", bit, at);
			for (size_t i = 0; rc == 0 && i < got.nb; i++) {
				size_t r;

				ck_assert_mem_eq(got.b[i].hash, m.b[i].hash, HS_HASH_LEN);
				if (hs_frame_check(LS, got.b[i].hash, got.b[i].frame, got.b[i].len) < 0) {
					caught++;
					continue;
				}
				line_of(i, want);
				r = ZSTD_decompress(out, LS, got.b[i].frame, got.b[i].len);
				ck_assert_msg(r == LS && memcmp(out, want, LS) == 0,
					      "bit %d of byte %zu flipped: a wrong line accepted", bit, at);
			}
			in_frames += rc == 0;
			ck_assert(rc == 0 || !got.ended);
			model_free(&got);
		}
	}
	/* Only the frames' bits get past the decoder, and most of those are
	 * caught by the frame check. */
	len = 0;
	for (size_t i = 0; i < m.nb; i++)
		len += 8 * m.b[i].len;
	ck_assert_uint_eq(in_frames, len);
	ck_assert_uint_gt(caught, in_frames * 9 / 10);
	free(buf);
	model_free(&m);
}
END_TEST

/* Hostile streams, encoded with a valid hash: each refused for its fault. */
enum hostile {
	H_NAME_SLASH, H_NAME_DOTDOT, H_NAME_DOT, H_LINE_SIZE, H_NO_IDENT, H_NO_VERSIONS,
	H_MANY_VERSIONS, H_BASE_NO_IDENT, H_VERSION_ORDER, H_OWN_PARENT, H_WRONG_PARENT,
	H_FIRST_PARENT, H_LABEL_DIGITS, H_LABEL_SLASH, H_SIZE_HUGE, H_STATE_HUGE,
	H_LINE_PAST, H_STATE_PAST, H_LINE_ORDER, H_LINE_DUP, H_LINES_MANY, H_LINES_FEW,
	H_VERSION_NO_IDENT, H_COUNT
};

static const struct {
	enum hostile what;
	const char *says;
} hostile[] = {
	{ H_NAME_SLASH, "heap name" }, { H_NAME_DOTDOT, "heap name" },
	{ H_NAME_DOT, "heap name" }, { H_LINE_SIZE, "line size" },
	{ H_NO_IDENT, "no identity" }, { H_NO_VERSIONS, "0 versions" },
	{ H_MANY_VERSIONS, "versions" }, { H_BASE_NO_IDENT, "base version" },
	{ H_VERSION_ORDER, "after version" }, { H_OWN_PARENT, "own parent" },
	{ H_WRONG_PARENT, "does not follow" }, { H_FIRST_PARENT, "does not follow" },
	{ H_LABEL_DIGITS, "digits" }, { H_LABEL_SLASH, "label" },
	{ H_SIZE_HUGE, "size" }, { H_STATE_HUGE, "state" },
	{ H_LINE_PAST, "past its size" }, { H_STATE_PAST, "state line" },
	{ H_LINE_ORDER, "out of order" }, { H_LINE_DUP, "out of order" },
	{ H_LINES_MANY, "more lines" }, { H_LINES_FEW, "where a lines record" },
	{ H_VERSION_NO_IDENT, "no identity" },
};

static void mutate(struct model *m, enum hostile h)
{
	switch (h) {
	case H_NAME_SLASH: strcpy(m->heap.name, "a/b"); break;
	case H_NAME_DOTDOT: strcpy(m->heap.name, ".."); break;
	case H_NAME_DOT: strcpy(m->heap.name, ".hidden"); break;
	case H_LINE_SIZE: m->heap.line_size = 3000; break;
	case H_NO_IDENT: memset(m->heap.ident, 0, HS_IDENT_LEN); break;
	case H_NO_VERSIONS: m->heap.n_versions = 0; break;
	case H_MANY_VERSIONS: m->heap.n_versions = UINT32_MAX; break;
	case H_BASE_NO_IDENT: m->heap.base_version = 5; break;
	case H_VERSION_ORDER: m->v[2].h.vi.version = m->v[1].h.vi.version; break;
	case H_OWN_PARENT:
		memcpy(m->v[1].h.vi.ident, m->v[0].h.vi.ident, HS_IDENT_LEN);
		break;
	case H_WRONG_PARENT:
		memcpy(m->v[2].h.parent, m->v[2].h.vi.ident, HS_IDENT_LEN);
		break;
	case H_FIRST_PARENT: ident_fill(m->v[0].h.parent, 99); break;
	case H_LABEL_DIGITS: strcpy(m->v[1].h.vi.label, "123"); break;
	case H_LABEL_SLASH: strcpy(m->v[1].h.vi.label, "../x"); break;
	case H_SIZE_HUGE: m->v[0].h.vi.size_bytes = HS_HEAP_SIZE_MAX + 1; break;
	case H_STATE_HUGE: m->v[0].h.vi.state_size = HS_STATE_SIZE_MAX + 1; break;
	case H_LINE_PAST: m->v[0].lines[2].line = 64; break;   /* size: 64 lines */
	case H_STATE_PAST: m->v[0].lines[3].line = HS_STATE_LINE | 1; break;
	case H_LINE_ORDER: m->v[0].lines[1].line = 0; m->v[0].lines[0].line = 5; break;
	case H_LINE_DUP: m->v[0].lines[1].line = m->v[0].lines[0].line; break;
	case H_LINES_MANY: m->v[0].h.n_lines = 2; break;
	case H_LINES_FEW: m->v[0].h.n_lines = 6; break;
	case H_VERSION_NO_IDENT: memset(m->v[1].h.vi.ident, 0, HS_IDENT_LEN); break;
	case H_COUNT: break;
	}
}

/*
 * The same streams received by a store that holds a heap with history: each
 * refused for its fault, and the store as it was (its heaps, its bytes and
 * blobs after GC, no garbage, fsck with every blob's content checked).
 */
START_TEST(hostile_streams_leave_a_store_as_it_was)
{
	mg_recv_opts o = { 0 };
	struct xu_view before;
	struct model m;
	mg_stats st;
	uint8_t *buf;
	size_t len;
	int fd, rc;

	xu_make_history(sb, "keep");
	xu_view_take(sb, &before);
	model_make(&m);
	mutate(&m, hostile[_i].what);
	buf = encode(&m, &len);
	fd = xu_file_of(buf, len);
	{
		mg_io io = MG_IO_FD(fd);

		rc = mg_recv(sb, &io, &o, &st);
	}
	close(fd);
	ck_assert_msg(rc < 0, "case %d: received", _i);
	ck_assert_msg(strstr(hs_error_last(), hostile[_i].says), "case %d says: %s", _i,
		      hs_error_last());
	xu_view_expect(sb, &before);
	free(buf);
	model_free(&m);
}
END_TEST

START_TEST(hostile_streams_refused)
{
	struct model m, got;
	size_t len;
	uint8_t *buf;
	int rc;

	model_make(&m);
	mutate(&m, hostile[_i].what);
	buf = encode(&m, &len);
	rc = decode(buf, len, 0, &got);
	ck_assert_msg(rc == -EBADMSG, "case %d: %d", _i, rc);
	ck_assert_msg(strstr(hs_error_last(), hostile[_i].says), "case %d says: %s", _i,
		      hs_error_last());
	ck_assert(!got.ended);
	model_free(&got);
	free(buf);
	model_free(&m);
}
END_TEST

/*
 * Raw damage the encoder cannot write: lengths past a record type's bound
 * (refused before anything is allocated for them), unknown types, reserved
 * bytes, a line kind that does not exist, a zero line with a hash, and
 * counts in the end record that disagree.
 */
START_TEST(raw_damage_refused)
{
	struct model m, got;
	size_t len, h_at = MG_PREAMBLE_LEN, v_at, l_at;
	uint8_t *buf;
	static const struct {
		int rec;       /* 0 H, 1 V, 2 L */
		size_t at;     /* offset in the record, header included */
		uint8_t value[4];
		size_t n;
		const char *says;
	} cases[] = {
		{ 0, 4, { 0xff, 0xff, 0xff, 0xff }, 4, "past its bound" },
		{ 1, 4, { 0xff, 0xff, 0xff, 0x7f }, 4, "past its bound" },
		{ 2, 4, { 0xff, 0xff, 0xff, 0xff }, 4, "past its bound" },
		{ 2, 8, { 0xff, 0xff, 0xff, 0xff }, 4, "lines record of" },
		{ 0, 0, { 'Z' }, 1, "unknown record" },
		{ 1, 0, { 'B' }, 1, "blob record" },
		{ 0, 1, { 1 }, 1, "reserved" },
		{ 2, 8 + 4 + 8, { 2 }, 1, "kind 2" },
	};

	model_make(&m);
	m.v[0].lines[0].zero = 1;   /* its hash stays: the encoder drops it */
	buf = encode(&m, &len);
	v_at = h_at + MG_REC_HDR + 64 + strlen(m.heap.name);
	l_at = v_at + MG_REC_HDR + 80;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at = (cases[i].rec == 0 ? h_at : cases[i].rec == 1 ? v_at : l_at) +
			    cases[i].at;
		uint8_t save[4];

		memcpy(save, buf + at, cases[i].n);
		memcpy(buf + at, cases[i].value, cases[i].n);
		ck_assert_int_eq(decode(buf, len, 0, &got), -EBADMSG);
		ck_assert_msg(strstr(hs_error_last(), cases[i].says), "case %zu says: %s", i,
			      hs_error_last());
		model_free(&got);
		memcpy(buf + at, save, cases[i].n);
	}
	/* A zero line with a hash: encode one by hand. */
	buf[l_at + MG_REC_HDR + 4 + 9] = 0xaa;
	ck_assert_int_eq(decode(buf, len, 0, &got), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "with a hash"));
	model_free(&got);
	free(buf);
	model_free(&m);
	/* Not a stream at all, and another format. */
	ck_assert_int_eq(decode((const uint8_t *)"GIF89a..........", 16, 0, &got), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "not a heapfs stream"));
	ck_assert_int_eq(decode((const uint8_t *)"HEAPFSST\3\0\0\0\0\0\0\0", 16, 0, &got),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "format 3"));
}
END_TEST

/*
 * A blob's bytes must be exactly one zstd frame: zstd itself would take a
 * skippable frame or a second frame after it (bytes no hash covers, kept
 * as they came), and the frame check refuses both; the frame alone passes.
 */
START_TEST(frame_with_bytes_after_it_refused)
{
	static const uint8_t skippable[] = { 0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'e', 'v', 'i', 'l' };
	struct model m;
	uint8_t buf[256];
	size_t n;

	model_make(&m);
	n = m.b[0].len;
	memcpy(buf, m.b[0].frame, n);
	ck_assert_int_eq(hs_frame_check(LS, m.b[0].hash, buf, n), 0);
	memcpy(buf + n, skippable, sizeof(skippable));
	ck_assert_int_eq(hs_frame_check(LS, m.b[0].hash, buf, n + sizeof(skippable)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "not exactly one zstd frame"));
	memcpy(buf + n, m.b[0].frame, n);            /* the frame twice */
	ck_assert_int_eq(hs_frame_check(LS, m.b[0].hash, buf, 2 * n), -EBADMSG);
	ck_assert_int_eq(hs_frame_check(LS, m.b[0].hash, buf, n - 1), -EBADMSG);
	model_free(&m);
}
END_TEST

/*
 * Format 1 (whose end hash covers the frames too) is still read: a
 * stream re-labelled 1 with that hash decodes to the same model; with
 * format 2's hash it is refused.
 */
START_TEST(format_1_read)
{
	struct model m, got;
	size_t len;
	uint8_t *buf, sum[32];
	unsigned int hl = 0;

	model_make(&m);
	buf = encode(&m, &len);
	ck_assert_uint_eq(buf[8], MG_FORMAT);
	buf[8] = 1;
	ck_assert_int_eq(decode(buf, len, 0, &got), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(hs_error_last(), "SHA-256"));
	model_free(&got);
	/* The E record is the last 8 + 64 bytes; its hash is the last 32. */
	ck_assert_int_eq(EVP_Digest(buf, len - MG_REC_HDR - 64, sum, &hl, EVP_sha256(), NULL), 1);
	memcpy(buf + len - 32, sum, 32);
	ck_assert_int_eq(decode(buf, len, 0, &got), 0);
	ck_assert(got.ended);
	ck_assert_uint_eq(got.nb, m.nb);
	for (size_t i = 0; i < m.nb; i++) {
		ck_assert_uint_eq(got.b[i].len, m.b[i].len);
		ck_assert_mem_eq(got.b[i].frame, m.b[i].frame, m.b[i].len);
	}
	model_free(&got);
	free(buf);
	model_free(&m);
}
END_TEST

/* Lines of a version past one record's count are cut into several. */
START_TEST(long_versions_span_records)
{
	struct model m, got;
	size_t len, n = MG_LINES_PER_REC + 3;
	uint8_t *buf;

	model_make(&m);
	free(m.v[0].lines);
	m.v[0].lines = calloc(n, sizeof(hs_xline));
	for (size_t j = 0; j < n; j++) {
		m.v[0].lines[j].line = j;
		m.v[0].lines[j].zero = 1;
	}
	m.v[0].n = m.v[0].h.n_lines = n;
	m.v[0].h.vi.size_bytes = (uint64_t)n * LS;
	buf = encode(&m, &len);
	ck_assert_int_eq(decode(buf, len, 0, &got), 0);
	expect_model_eq(&m, &got);
	model_free(&got);
	free(buf);
	model_free(&m);
}
END_TEST

static Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("stream");

	tcase_add_test(tc, round_trip_in_any_split);
	tcase_add_test(tc, every_truncation_and_trailing_byte_refused);
	tcase_add_test(tc, every_flipped_bit_refused);
	tcase_add_loop_test(tc, hostile_streams_refused, 0,
			    (int)(sizeof(hostile) / sizeof(hostile[0])));
	tcase_add_test(tc, raw_damage_refused);
	tcase_add_test(tc, format_1_read);
	tcase_add_test(tc, frame_with_bytes_after_it_refused);
	tcase_add_test(tc, long_versions_span_records);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");   /* its own fixture: two stores */
	tcase_add_checked_fixture(tc, xu_setup, xu_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, hostile_streams_leave_a_store_as_it_was, 0,
			    (int)(sizeof(hostile) / sizeof(hostile[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(stream_suite());
}
