/*
 * stream.c - the heapfs stream (STREAM.md): an encoder that appends
 * records to a buffer, and a decoder that takes the bytes in any split and
 * calls back once per record, checking every length against its bound
 * before allocating, every count against what arrived, the order of
 * records, versions and lines, and the hash at the end.  No I/O: so it can
 * be fuzzed and tested on buffers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "migrate_int.h"

#define MAGIC "HEAPFSST"
#define HEAP_FIXED 64
#define VERSION_FIXED 80
#define END_LEN 64

static const uint8_t zero_ident[HS_IDENT_LEN];
static const uint8_t zero_hash[HS_HASH_LEN];

bool mg_ident_zero(const uint8_t ident[HS_IDENT_LEN])
{
	return memcmp(ident, zero_ident, HS_IDENT_LEN) == 0;
}

static bool line_size_ok(uint32_t ls)
{
	return ls >= HS_LINE_SIZE_MIN && ls <= HS_LINE_SIZE_MAX && !(ls & (ls - 1));
}

/* Lines a space of @bytes holds, for lines of 1 << @shift. */
static uint64_t lines_of(uint64_t bytes, unsigned shift)
{
	return (bytes >> shift) + ((bytes & ((1ULL << shift) - 1)) != 0);
}

/* ==== encoder ============================================================ */

int mg_enc_init(mg_enc *e)
{
	memset(e, 0, sizeof(*e));
	if (!(e->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(e->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(e->md);
		e->md = NULL;
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	return 0;
}

void mg_enc_free(mg_enc *e)
{
	free(e->buf);
	EVP_MD_CTX_free(e->md);
	memset(e, 0, sizeof(*e));
}

void mg_enc_drain(mg_enc *e)
{
	e->len = 0;
}

/* Room for @n more bytes; a pointer to them. */
static uint8_t *enc_room(mg_enc *e, size_t n)
{
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 1 << 16;
		uint8_t *grown;

		while (cap < e->len + n)
			cap *= 2;
		if (!(grown = realloc(e->buf, cap)))
			return NULL;
		e->buf = grown;
		e->cap = cap;
	}
	return e->buf + e->len;
}

/* Append @n bytes at @p (from enc_room) and hash them. */
static void enc_commit(mg_enc *e, size_t n, bool hash)
{
	if (hash)
		EVP_DigestUpdate(e->md, e->buf + e->len, n);
	e->len += n;
}

static uint8_t *enc_record(mg_enc *e, char type, size_t len)
{
	uint8_t *p = enc_room(e, MG_REC_HDR + len);

	if (!p)
		return NULL;
	memset(p, 0, MG_REC_HDR + len);
	p[0] = (uint8_t)type;
	le32_put(p + 4, (uint32_t)len);
	return p + MG_REC_HDR;
}

int mg_enc_heap(mg_enc *e, const mg_heap_hdr *h)
{
	size_t nl = strlen(h->name);
	uint8_t *p = enc_room(e, MG_PREAMBLE_LEN);

	if (!p || nl > HS_NAME_MAX)
		return hs_errno_set(-ENOMEM, "out of memory");
	memcpy(p, MAGIC, 8);
	le32_put(p + 8, MG_FORMAT);
	le32_put(p + 12, 0);
	enc_commit(e, MG_PREAMBLE_LEN, true);
	if (!(p = enc_record(e, 'H', HEAP_FIXED + nl)))
		return hs_errno_set(-ENOMEM, "out of memory");
	memcpy(p, h->ident, HS_IDENT_LEN);
	le32_put(p + 16, h->line_size);
	le16_put(p + 20, (uint16_t)nl);
	le64_put(p + 24, h->created_ns);
	memcpy(p + 32, h->base, HS_IDENT_LEN);
	le64_put(p + 48, h->base_version);
	le32_put(p + 56, h->n_versions);
	memcpy(p + HEAP_FIXED, h->name, nl);
	enc_commit(e, MG_REC_HDR + HEAP_FIXED + nl, true);
	e->line_size = h->line_size;
	return 0;
}

int mg_enc_version(mg_enc *e, const mg_version_hdr *v)
{
	size_t ll = strlen(v->vi.label);
	uint8_t *p = enc_record(e, 'V', VERSION_FIXED + ll);

	if (!p)
		return hs_errno_set(-ENOMEM, "out of memory");
	le64_put(p, v->vi.version);
	memcpy(p + 8, v->vi.ident, HS_IDENT_LEN);
	memcpy(p + 24, v->parent, HS_IDENT_LEN);
	le64_put(p + 40, v->vi.created_ns);
	le64_put(p + 48, v->vi.size_bytes);
	le64_put(p + 56, v->vi.state_size);
	le64_put(p + 64, v->n_lines);
	le16_put(p + 72, (uint16_t)ll);
	memcpy(p + VERSION_FIXED, v->vi.label, ll);
	enc_commit(e, MG_REC_HDR + VERSION_FIXED + ll, true);
	e->count.versions++;
	return 0;
}

int mg_enc_lines(mg_enc *e, const hs_xline *lines, size_t n)
{
	while (n) {
		size_t m = n < MG_LINES_PER_REC ? n : MG_LINES_PER_REC;
		uint8_t *p = enc_record(e, 'L', 4 + m * MG_LINE_ENTRY);

		if (!p)
			return hs_errno_set(-ENOMEM, "out of memory");
		le32_put(p, (uint32_t)m);
		p += 4;
		for (size_t i = 0; i < m; i++, p += MG_LINE_ENTRY) {
			le64_put(p, lines[i].line);
			p[8] = lines[i].zero ? 0 : 1;
			if (!lines[i].zero)
				memcpy(p + 9, lines[i].hash, HS_HASH_LEN);
		}
		enc_commit(e, MG_REC_HDR + 4 + m * MG_LINE_ENTRY, true);
		e->count.lines += m;
		lines += m;
		n -= m;
	}
	return 0;
}

int mg_enc_blob(mg_enc *e, const uint8_t hash[HS_HASH_LEN], const void *frame, size_t len)
{
	uint8_t *p = enc_record(e, 'B', HS_HASH_LEN + len);

	if (!p)
		return hs_errno_set(-ENOMEM, "out of memory");
	memcpy(p, hash, HS_HASH_LEN);
	memcpy(p + HS_HASH_LEN, frame, len);
	/* The frame is not in the stream's hash: its line's hash covers it. */
	enc_commit(e, MG_REC_HDR + HS_HASH_LEN, true);
	enc_commit(e, len, false);
	e->count.blobs++;
	e->count.blob_bytes += len;
	return 0;
}

int mg_enc_end(mg_enc *e)
{
	uint8_t *p = enc_record(e, 'E', END_LEN);
	unsigned int hl = 0;

	if (!p)
		return hs_errno_set(-ENOMEM, "out of memory");
	le64_put(p, e->count.versions);
	le64_put(p + 8, e->count.lines);
	le64_put(p + 16, e->count.blobs);
	le64_put(p + 24, e->count.blob_bytes);
	EVP_DigestFinal_ex(e->md, p + 32, &hl);
	enc_commit(e, MG_REC_HDR + END_LEN, false);
	return 0;
}

/* ==== decoder ============================================================ */

enum phase {
	P_PREAMBLE,
	P_HEAP,        /* the H record */
	P_VERSIONS,    /* V, or L while the version's lines are owed */
	P_BLOBS,       /* B or E */
	P_DONE,
};

struct mg_dec {
	mg_dec_cb cb;
	void *arg;
	EVP_MD_CTX *md;
	enum phase phase;
	uint64_t off;                     /* bytes consumed */
	uint64_t rec_off;                 /* where the record being read began */
	uint8_t hdr[MG_PREAMBLE_LEN];     /* the preamble or a record header */
	size_t hdr_have;
	uint8_t *body;                    /* the record's payload */
	size_t body_cap, body_len, body_have;
	bool in_body;
	bool hash_frames;                 /* format 1: its hash covers frames too */
	/* what the stream said so far */
	mg_heap_hdr heap;
	unsigned shift;
	uint32_t versions_seen;
	mg_version_hdr ver;               /* the current version */
	uint64_t lines_owed;              /* its lines still to come */
	bool any_line;                    /* of this version, for their order */
	uint64_t last_line;
	mg_trailer count;
	hs_xline *xl;                     /* decoded entries of one L record */
	size_t xl_cap;
};

int mg_dec_new(mg_dec **out, const mg_dec_cb *cb, void *arg)
{
	mg_dec *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return hs_errno_set(-ENOMEM, "out of memory");
	if (cb)
		d->cb = *cb;
	d->arg = arg;
	if (!(d->md = EVP_MD_CTX_new()) || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1) {
		mg_dec_free(d);
		return hs_errno_set(-ENOMEM, "out of memory");
	}
	*out = d;
	return 0;
}

void mg_dec_free(mg_dec *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->md);
	free(d->body);
	free(d->xl);
	free(d);
}

uint64_t mg_dec_offset(const mg_dec *d)
{
	return d->off;
}

static const char *type_name(uint8_t t)
{
	switch (t) {
	case 'H': return "heap";
	case 'V': return "version";
	case 'L': return "lines";
	case 'B': return "blob";
	case 'E': return "end";
	default: return "unknown";
	}
}

#define BAD(d, ...) bad(d, __VA_ARGS__)

static int bad(const mg_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(const mg_dec *d, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return hs_errno_set(-EBADMSG, "%s (record at byte %llu)", what,
			    (unsigned long long)d->rec_off);
}

/* The largest payload a record of @type may have here. */
static size_t body_max(const mg_dec *d, uint8_t type)
{
	switch (type) {
	case 'H': return HEAP_FIXED + HS_NAME_MAX;
	case 'V': return VERSION_FIXED + HS_NAME_MAX;
	case 'L': return 4 + (size_t)MG_LINES_PER_REC * MG_LINE_ENTRY;
	case 'B': return HS_HASH_LEN + ZSTD_COMPRESSBOUND(d->heap.line_size);
	case 'E': return END_LEN;
	default: return 0;
	}
}

/* Whether a record of @type may come now. */
static bool type_expected(const mg_dec *d, uint8_t type)
{
	switch (d->phase) {
	case P_HEAP:
		return type == 'H';
	case P_VERSIONS:
		if (d->lines_owed)
			return type == 'L';
		return type == 'V';
	case P_BLOBS:
		return type == 'B' || type == 'E';
	default:
		return false;
	}
}

static const char *expected_name(const mg_dec *d)
{
	switch (d->phase) {
	case P_HEAP: return "a heap record";
	case P_VERSIONS: return d->lines_owed ? "a lines record" : "a version record";
	case P_BLOBS: return "a blob or the end record";
	default: return "nothing";
	}
}

static int rec_heap(mg_dec *d, const uint8_t *p, size_t n)
{
	mg_heap_hdr *h = &d->heap;
	size_t nl;

	if (n < HEAP_FIXED)
		return BAD(d, "heap record of %zu bytes", n);
	nl = le16_get(p + 20);
	if (n != HEAP_FIXED + nl || nl == 0 || nl > HS_NAME_MAX)
		return BAD(d, "heap record of %zu bytes with a name of %zu", n, nl);
	memset(h, 0, sizeof(*h));
	memcpy(h->ident, p, HS_IDENT_LEN);
	h->line_size = le32_get(p + 16);
	h->created_ns = le64_get(p + 24);
	memcpy(h->base, p + 32, HS_IDENT_LEN);
	h->base_version = le64_get(p + 48);
	h->n_versions = le32_get(p + 56);
	memcpy(h->name, p + HEAP_FIXED, nl);
	h->name[nl] = '\0';
	if (memchr(h->name, '\0', nl) || hs_name_check(h->name) < 0)
		return BAD(d, "heap name: %s", hs_error_last());
	if (mg_ident_zero(h->ident))
		return BAD(d, "the heap has no identity");
	if (!line_size_ok(h->line_size))
		return BAD(d, "line size %u is not a power of two from 4K to 1M", h->line_size);
	if (mg_ident_zero(h->base) != (h->base_version == 0))
		return BAD(d, "base version %llu with%s identity",
			   (unsigned long long)h->base_version,
			   mg_ident_zero(h->base) ? "out an" : " an");
	if (h->n_versions == 0 || h->n_versions > MG_VERSIONS_MAX)
		return BAD(d, "%u versions (1 to %u)", h->n_versions, MG_VERSIONS_MAX);
	d->shift = (unsigned)__builtin_ctz(h->line_size);
	d->phase = P_VERSIONS;
	return d->cb.heap ? d->cb.heap(d->arg, h) : 0;
}

static int rec_version(mg_dec *d, const uint8_t *p, size_t n)
{
	mg_version_hdr *v = &d->ver;
	uint64_t prev = d->versions_seen ? v->vi.version : d->heap.base_version;
	uint8_t want[HS_IDENT_LEN];
	size_t ll;

	memcpy(want, d->versions_seen ? v->vi.ident : d->heap.base, HS_IDENT_LEN);
	if (n < VERSION_FIXED)
		return BAD(d, "version record of %zu bytes", n);
	ll = le16_get(p + 72);
	if (n != VERSION_FIXED + ll || ll > HS_NAME_MAX)
		return BAD(d, "version record of %zu bytes with a label of %zu", n, ll);
	memset(v, 0, sizeof(*v));
	v->vi.version = le64_get(p);
	memcpy(v->vi.ident, p + 8, HS_IDENT_LEN);
	memcpy(v->parent, p + 24, HS_IDENT_LEN);
	v->vi.created_ns = le64_get(p + 40);
	v->vi.size_bytes = le64_get(p + 48);
	v->vi.state_size = le64_get(p + 56);
	v->n_lines = le64_get(p + 64);
	memcpy(v->vi.label, p + VERSION_FIXED, ll);
	v->vi.label[ll] = '\0';
	if (v->vi.version <= prev || v->vi.version >= HS_VERSION_LIVE - 1)
		return BAD(d, "version %llu after version %llu", (unsigned long long)v->vi.version,
			   (unsigned long long)prev);
	if (mg_ident_zero(v->vi.ident))
		return BAD(d, "version %llu has no identity", (unsigned long long)v->vi.version);
	if (memcmp(v->parent, want, HS_IDENT_LEN) != 0)
		return BAD(d, "version %llu does not follow %s", (unsigned long long)v->vi.version,
			   d->versions_seen ? "the version before it" :
			   d->heap.base_version ? "the base" : "nothing (a full stream)");
	if (memcmp(v->vi.ident, want, HS_IDENT_LEN) == 0)
		return BAD(d, "version %llu is its own parent", (unsigned long long)v->vi.version);
	if (v->vi.size_bytes > HS_HEAP_SIZE_MAX || v->vi.state_size > HS_STATE_SIZE_MAX)
		return BAD(d, "version %llu: size %llu, state %llu",
			   (unsigned long long)v->vi.version,
			   (unsigned long long)v->vi.size_bytes,
			   (unsigned long long)v->vi.state_size);
	if (ll && (memchr(v->vi.label, '\0', ll) || hs_label_check(v->vi.label) < 0))
		return BAD(d, "version %llu: %s", (unsigned long long)v->vi.version,
			   hs_error_last());
	if (v->n_lines > MG_LINES_MAX - d->count.lines)
		return BAD(d, "version %llu: %llu lines, past %u in one stream",
			   (unsigned long long)v->vi.version, (unsigned long long)v->n_lines,
			   MG_LINES_MAX);
	d->versions_seen++;
	d->count.versions++;
	d->lines_owed = v->n_lines;
	d->any_line = false;
	if (!d->lines_owed && d->versions_seen == d->heap.n_versions)
		d->phase = P_BLOBS;
	return d->cb.version ? d->cb.version(d->arg, v) : 0;
}

static int rec_lines(mg_dec *d, const uint8_t *p, size_t n)
{
	const mg_version_hdr *v = &d->ver;
	uint32_t count;

	if (n < 4)
		return BAD(d, "lines record of %zu bytes", n);
	count = le32_get(p);
	if (count == 0 || count > MG_LINES_PER_REC || n != 4 + (size_t)count * MG_LINE_ENTRY)
		return BAD(d, "lines record of %zu bytes for %u lines", n, count);
	if (count > d->lines_owed)
		return BAD(d, "version %llu: %u more lines than its %llu",
			   (unsigned long long)v->vi.version, count,
			   (unsigned long long)v->n_lines);
	if (count > d->xl_cap) {   /* as the records need, not the bound */
		hs_xline *g = realloc(d->xl, count * sizeof(*d->xl));

		if (!g)
			return hs_errno_set(-ENOMEM, "out of memory");
		d->xl = g;
		d->xl_cap = count;
	}
	p += 4;
	for (uint32_t i = 0; i < count; i++, p += MG_LINE_ENTRY) {
		hs_xline *l = &d->xl[i];
		bool state;
		uint64_t idx, bound;

		memset(l, 0, sizeof(*l));
		l->line = le64_get(p);
		if (p[8] > 1)
			return BAD(d, "line entry of kind %u", p[8]);
		l->zero = p[8] == 0;
		memcpy(l->hash, p + 9, HS_HASH_LEN);
		if (l->zero && memcmp(l->hash, zero_hash, HS_HASH_LEN) != 0)
			return BAD(d, "zero line %llu with a hash", (unsigned long long)l->line);
		state = (l->line & HS_STATE_LINE) != 0;
		idx = l->line & ~HS_STATE_LINE;
		bound = lines_of(l->zero ? (state ? HS_STATE_SIZE_MAX : HS_HEAP_SIZE_MAX) :
				 state ? v->vi.state_size : v->vi.size_bytes, d->shift);
		if (idx >= bound)
			return BAD(d, "version %llu: %s line %llu is past its %s",
				   (unsigned long long)v->vi.version, state ? "state" : "heap",
				   (unsigned long long)idx, l->zero ? "largest size" : "size");
		if (d->any_line && l->line <= d->last_line)
			return BAD(d, "version %llu: line %llu out of order",
				   (unsigned long long)v->vi.version, (unsigned long long)l->line);
		d->any_line = true;
		d->last_line = l->line;
	}
	d->lines_owed -= count;
	d->count.lines += count;
	if (!d->lines_owed && d->versions_seen == d->heap.n_versions)
		d->phase = P_BLOBS;
	return d->cb.lines ? d->cb.lines(d->arg, d->xl, count) : 0;
}

static int rec_blob(mg_dec *d, const uint8_t *p, size_t n)
{
	if (n <= HS_HASH_LEN)
		return BAD(d, "blob record of %zu bytes", n);
	d->count.blobs++;
	d->count.blob_bytes += n - HS_HASH_LEN;
	return d->cb.blob ? d->cb.blob(d->arg, p, p + HS_HASH_LEN, n - HS_HASH_LEN) : 0;
}

static int rec_end(mg_dec *d, const uint8_t *p, size_t n)
{
	uint8_t got[32];
	unsigned int hl = 0;
	mg_trailer t;

	if (n != END_LEN)
		return BAD(d, "end record of %zu bytes", n);
	t.versions = le64_get(p);
	t.lines = le64_get(p + 8);
	t.blobs = le64_get(p + 16);
	t.blob_bytes = le64_get(p + 24);
	if (t.versions != d->count.versions || t.lines != d->count.lines ||
	    t.blobs != d->count.blobs || t.blob_bytes != d->count.blob_bytes)
		return BAD(d, "the end says %llu versions, %llu lines, %llu blobs of %llu bytes; "
			   "the stream had %llu, %llu, %llu of %llu",
			   (unsigned long long)t.versions, (unsigned long long)t.lines,
			   (unsigned long long)t.blobs, (unsigned long long)t.blob_bytes,
			   (unsigned long long)d->count.versions,
			   (unsigned long long)d->count.lines,
			   (unsigned long long)d->count.blobs,
			   (unsigned long long)d->count.blob_bytes);
	EVP_DigestFinal_ex(d->md, got, &hl);
	if (memcmp(got, p + 32, 32) != 0)
		return BAD(d, "the stream's SHA-256 does not match its end record: it was "
			   "damaged on the way");
	d->phase = P_DONE;
	return d->cb.end ? d->cb.end(d->arg, &t) : 0;
}

static int preamble(mg_dec *d)
{
	uint32_t format = le32_get(d->hdr + 8);

	if (memcmp(d->hdr, MAGIC, 8) != 0)
		return hs_errno_set(-EBADMSG, "not a heapfs stream (no HEAPFSST at its start)");
	if (format != MG_FORMAT && format != 1)
		return hs_errno_set(-EBADMSG, "stream format %u; this heapfs reads formats 1 "
				    "and %u", format, MG_FORMAT);
	d->hash_frames = format == 1;
	if (le32_get(d->hdr + 12) != 0)
		return hs_errno_set(-EBADMSG, "stream flags %#x unknown", le32_get(d->hdr + 12));
	EVP_DigestUpdate(d->md, d->hdr, MG_PREAMBLE_LEN);
	d->phase = P_HEAP;
	return 0;
}

/* A record's header is complete: check it and make room for its body. */
static int record_begin(mg_dec *d)
{
	uint8_t type = d->hdr[0];
	uint32_t len = le32_get(d->hdr + 4);

	if (d->hdr[1] || d->hdr[2] || d->hdr[3])
		return BAD(d, "record header with reserved bytes set");
	if (!type_expected(d, type))
		return BAD(d, "%s record (type 0x%02x) where %s was expected", type_name(type),
			   type, expected_name(d));
	if (len > body_max(d, type))
		return BAD(d, "%s record of %u bytes, past its bound of %zu", type_name(type), len,
			   body_max(d, type));
	if (len > d->body_cap) {
		uint8_t *b = realloc(d->body, len);

		if (!b)
			return hs_errno_set(-ENOMEM, "out of memory");
		d->body = b;
		d->body_cap = len;
	}
	d->body_len = len;
	d->body_have = 0;
	d->in_body = true;
	return 0;
}

static int record_end(mg_dec *d)
{
	uint8_t type = d->hdr[0];

	d->in_body = false;
	d->hdr_have = 0;
	if (type != 'E') {
		EVP_DigestUpdate(d->md, d->hdr, MG_REC_HDR);
		EVP_DigestUpdate(d->md, d->body, type == 'B' && !d->hash_frames &&
				 d->body_len > HS_HASH_LEN ? HS_HASH_LEN : d->body_len);
	}
	switch (type) {
	case 'H': return rec_heap(d, d->body, d->body_len);
	case 'V': return rec_version(d, d->body, d->body_len);
	case 'L': return rec_lines(d, d->body, d->body_len);
	case 'B': return rec_blob(d, d->body, d->body_len);
	default: return rec_end(d, d->body, d->body_len);
	}
}

int mg_dec_feed(mg_dec *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	while (len) {
		size_t take;

		if (d->phase == P_DONE)
			return hs_errno_set(-EBADMSG, "data after the end of the stream (byte %llu)",
					    (unsigned long long)d->off);
		if (d->in_body) {
			take = d->body_len - d->body_have < len ? d->body_len - d->body_have : len;
			memcpy(d->body + d->body_have, p, take);
			d->body_have += take;
		} else {
			size_t want = d->phase == P_PREAMBLE ? MG_PREAMBLE_LEN : MG_REC_HDR;

			if (!d->hdr_have)
				d->rec_off = d->off;
			take = want - d->hdr_have < len ? want - d->hdr_have : len;
			memcpy(d->hdr + d->hdr_have, p, take);
			d->hdr_have += take;
		}
		p += take;
		len -= take;
		d->off += take;
		if (d->in_body) {
			if (d->body_have == d->body_len && (rc = record_end(d)) < 0)
				return rc;
		} else if (d->phase == P_PREAMBLE && d->hdr_have == MG_PREAMBLE_LEN) {
			d->hdr_have = 0;
			if ((rc = preamble(d)) < 0)
				return rc;
		} else if (d->phase != P_PREAMBLE && d->hdr_have == MG_REC_HDR) {
			if ((rc = record_begin(d)) < 0)
				return rc;
			if (d->body_len == 0 && (rc = record_end(d)) < 0)
				return rc;
		}
	}
	return 0;
}

int mg_dec_finish(mg_dec *d)
{
	if (d->phase == P_DONE)
		return 0;
	if (d->off == 0)
		return hs_errno_set(-EBADMSG, "the stream is empty");
	if (d->in_body)
		return hs_errno_set(-EBADMSG, "the stream is truncated: %llu bytes into a %s "
				    "record of %zu (at byte %llu)",
				    (unsigned long long)d->body_have, type_name(d->hdr[0]),
				    d->body_len, (unsigned long long)d->rec_off);
	return hs_errno_set(-EBADMSG, "the stream is truncated at byte %llu, where %s was "
			    "expected", (unsigned long long)d->off,
			    d->phase == P_PREAMBLE ? "its preamble" : expected_name(d));
}
