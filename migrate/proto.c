/*
 * proto.c - the negotiation messages of heapctl migrate (PROTOCOL in
 * STREAM.md): their encoding into a buffer and their decoding from one,
 * every length and count checked against what arrived and against its
 * bound.  No I/O, so they are fuzzed with the stream (fuzz_stream).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate_int.h"

#define HELLO_FIXED 56
#define HELLO_ENTRY 24
#define REPLY_FIXED 32
#define RESULT_FIXED 16

size_t mg_msg_max(uint8_t type)
{
	switch (type) {
	case MG_MSG_HELLO: return HELLO_FIXED + HS_NAME_MAX + (size_t)MG_HELLO_MAX * HELLO_ENTRY;
	case MG_MSG_REPLY: return REPLY_FIXED + MG_MSG_TEXT_MAX;
	case MG_MSG_OFFER: return 4 + (size_t)MG_OFFER_MAX * MG_SHORT_ID;
	case MG_MSG_ANSWER: return 4 + (MG_OFFER_MAX + 7) / 8;
	case MG_MSG_DATA: return MG_DATA_MAX;
	case MG_MSG_RESULT: return RESULT_FIXED + MG_MSG_TEXT_MAX;
	case MG_MSG_END:
	case MG_MSG_FINAL:
	case MG_MSG_QUIT: return 0;
	default: return SIZE_MAX;   /* unknown */
	}
}

/* Room for a message of @type and @len payload bytes: its payload. */
static uint8_t *msg_begin(mg_enc *e, uint8_t type, size_t len)
{
	uint8_t *p;

	if (e->len + MG_REC_HDR + len > e->cap) {
		size_t cap = e->cap ? e->cap : 1 << 16;
		uint8_t *g;

		while (cap < e->len + MG_REC_HDR + len)
			cap *= 2;
		if (!(g = realloc(e->buf, cap)))
			return NULL;
		e->buf = g;
		e->cap = cap;
	}
	p = e->buf + e->len;
	memset(p, 0, MG_REC_HDR + len);
	p[0] = type;
	le32_put(p + 4, (uint32_t)len);
	e->len += MG_REC_HDR + len;
	return p + MG_REC_HDR;
}

int mg_msg_put(mg_enc *e, uint8_t type, const void *payload, size_t len)
{
	uint8_t *p = msg_begin(e, type, len);

	if (!p)
		return hs_errno_set(-ENOMEM, "out of memory");
	if (len)
		memcpy(p, payload, len);
	return 0;
}

int mg_hello_put(mg_enc *e, const mg_hello *h)
{
	size_t nl = strlen(h->name);
	uint8_t *p;

	if (nl > HS_NAME_MAX || h->n > MG_HELLO_MAX)
		return hs_errno_set(-E2BIG, "hello: %u versions (at most %u)", h->n, MG_HELLO_MAX);
	if (!(p = msg_begin(e, MG_MSG_HELLO, HELLO_FIXED + nl + (size_t)h->n * HELLO_ENTRY)))
		return hs_errno_set(-ENOMEM, "out of memory");
	memcpy(p, "HEAPFSMG", 8);
	le32_put(p + 8, h->proto ? h->proto : MG_PROTO_ROUND);
	le32_put(p + 12, h->flags);
	memcpy(p + 16, h->ident, HS_IDENT_LEN);
	le32_put(p + 32, h->line_size);
	le16_put(p + 36, (uint16_t)nl);
	le64_put(p + 40, h->created_ns);
	le32_put(p + 48, h->n);
	memcpy(p + HELLO_FIXED, h->name, nl);
	p += HELLO_FIXED + nl;
	for (uint32_t i = 0; i < h->n; i++, p += HELLO_ENTRY) {
		le64_put(p, h->v[i].version);
		memcpy(p + 8, h->v[i].ident, HS_IDENT_LEN);
	}
	return 0;
}

int mg_hello_get(mg_hello *h, const uint8_t *p, size_t n)
{
	size_t nl;

	memset(h, 0, sizeof(*h));
	if (n < HELLO_FIXED || memcmp(p, "HEAPFSMG", 8) != 0)
		return hs_errno_set(-EBADMSG, "not a heapfs migration (hello of %zu bytes)", n);
	h->proto = le32_get(p + 8);
	if (h->proto < 1 || h->proto > MG_PROTO)
		return hs_errno_set(-EPROTONOSUPPORT, "migration protocol %u; this heapfs speaks "
				    "1 to %u", h->proto, MG_PROTO);
	h->flags = le32_get(p + 12);
	memcpy(h->ident, p + 16, HS_IDENT_LEN);
	h->line_size = le32_get(p + 32);
	nl = le16_get(p + 36);
	h->created_ns = le64_get(p + 40);
	h->n = le32_get(p + 48);
	if (nl == 0 || nl > HS_NAME_MAX || h->n > MG_HELLO_MAX ||
	    n != HELLO_FIXED + nl + (size_t)h->n * HELLO_ENTRY)
		return hs_errno_set(-EBADMSG, "hello of %zu bytes: name %zu, %u versions", n, nl,
				    h->n);
	memcpy(h->name, p + HELLO_FIXED, nl);
	h->name[nl] = '\0';
	if (memchr(h->name, '\0', nl) || hs_name_check(h->name) < 0)
		return hs_errno_set(-EBADMSG, "hello: heap name: %s", hs_error_last());
	if (mg_ident_zero(h->ident) || h->line_size < HS_LINE_SIZE_MIN ||
	    h->line_size > HS_LINE_SIZE_MAX || (h->line_size & (h->line_size - 1)))
		return hs_errno_set(-EBADMSG, "hello: no identity or line size %u", h->line_size);
	if (h->n && !(h->v = calloc(h->n, sizeof(*h->v))))
		return hs_errno_set(-ENOMEM, "out of memory");
	p += HELLO_FIXED + nl;
	for (uint32_t i = 0; i < h->n; i++, p += HELLO_ENTRY) {
		h->v[i].version = le64_get(p);
		memcpy(h->v[i].ident, p + 8, HS_IDENT_LEN);
		if (h->v[i].version == 0 || (i && h->v[i].version <= h->v[i - 1].version)) {
			mg_hello_free(h);
			return hs_errno_set(-EBADMSG, "hello: versions out of order");
		}
	}
	return 0;
}

void mg_hello_free(mg_hello *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* A status, a number, an identity (reply only) and a message. */
static int status_put(mg_enc *e, uint8_t type, int status, uint64_t num,
		      const uint8_t *ident, const char *msg)
{
	size_t ml = msg ? strlen(msg) : 0, fixed = type == MG_MSG_REPLY ? REPLY_FIXED : RESULT_FIXED;
	uint8_t *p;

	if (ml > MG_MSG_TEXT_MAX)
		ml = MG_MSG_TEXT_MAX;
	if (!(p = msg_begin(e, type, fixed + ml)))
		return hs_errno_set(-ENOMEM, "out of memory");
	le32_put(p, (uint32_t)(status < 0 ? -status : status));
	le32_put(p + 4, (uint32_t)ml);
	le64_put(p + 8, num);
	if (type == MG_MSG_REPLY && ident)
		memcpy(p + 16, ident, HS_IDENT_LEN);
	if (ml)
		memcpy(p + fixed, msg, ml);
	return 0;
}

static int status_get(uint8_t type, const uint8_t *p, size_t n, int *status, uint64_t *num,
		      uint8_t *ident, char *msg, size_t cap)
{
	size_t fixed = type == MG_MSG_REPLY ? REPLY_FIXED : RESULT_FIXED, ml;
	uint32_t st;

	if (n < fixed)
		return hs_errno_set(-EBADMSG, "answer of %zu bytes", n);
	st = le32_get(p);
	ml = le32_get(p + 4);
	if (ml > MG_MSG_TEXT_MAX || n != fixed + ml || st > 4095)
		return hs_errno_set(-EBADMSG, "answer of %zu bytes with %zu of text, status %u", n,
				    ml, st);
	*status = -(int)st;
	*num = le64_get(p + 8);
	if (ident)
		memcpy(ident, p + 16, HS_IDENT_LEN);
	if (ml >= cap)
		ml = cap - 1;
	memcpy(msg, p + fixed, ml);
	msg[ml] = '\0';
	for (size_t i = 0; i < ml; i++) {
		if ((unsigned char)msg[i] < 0x20)
			msg[i] = '?';   /* it is printed: no terminal escapes */
	}
	return 0;
}

int mg_reply_put(mg_enc *e, int status, uint64_t base_version, const uint8_t *base_ident,
		 const char *msg)
{
	return status_put(e, MG_MSG_REPLY, status, base_version, base_ident, msg);
}

int mg_reply_get(const uint8_t *p, size_t n, int *status, uint64_t *base_version,
		 uint8_t base_ident[HS_IDENT_LEN], char *msg, size_t cap)
{
	return status_get(MG_MSG_REPLY, p, n, status, base_version, base_ident, msg, cap);
}

int mg_result_put(mg_enc *e, int status, uint64_t version, const char *msg)
{
	return status_put(e, MG_MSG_RESULT, status, version, NULL, msg);
}

int mg_result_get(const uint8_t *p, size_t n, int *status, uint64_t *version, char *msg,
		  size_t cap)
{
	return status_get(MG_MSG_RESULT, p, n, status, version, NULL, msg, cap);
}

int mg_offer_put(mg_enc *e, const uint8_t (*hashes)[HS_HASH_LEN], size_t n)
{
	uint8_t *p;

	if (n > MG_OFFER_MAX)
		return hs_errno_set(-E2BIG, "offer of %zu", n);
	if (!(p = msg_begin(e, MG_MSG_OFFER, 4 + n * MG_SHORT_ID)))
		return hs_errno_set(-ENOMEM, "out of memory");
	le32_put(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		memcpy(p + 4 + i * MG_SHORT_ID, hashes[i], MG_SHORT_ID);
	return 0;
}

int mg_offer_get(const uint8_t *p, size_t n, const uint8_t **ids, size_t *count)
{
	uint32_t c;

	if (n < 4 || (c = le32_get(p)) > MG_OFFER_MAX || n != 4 + (size_t)c * MG_SHORT_ID)
		return hs_errno_set(-EBADMSG, "offer of %zu bytes", n);
	*ids = p + 4;
	*count = c;
	return 0;
}

int mg_answer_put(mg_enc *e, const uint8_t *bits, size_t count)
{
	uint8_t *p;

	if (count > MG_OFFER_MAX)
		return hs_errno_set(-E2BIG, "answer of %zu", count);
	if (!(p = msg_begin(e, MG_MSG_ANSWER, 4 + (count + 7) / 8)))
		return hs_errno_set(-ENOMEM, "out of memory");
	le32_put(p, (uint32_t)count);
	memcpy(p + 4, bits, (count + 7) / 8);
	return 0;
}

int mg_answer_get(const uint8_t *p, size_t n, size_t want, const uint8_t **bits)
{
	if (n < 4 || le32_get(p) != want || n != 4 + (want + 7) / 8)
		return hs_errno_set(-EBADMSG, "answer of %zu bytes for %zu ids", n, want);
	*bits = p + 4;
	return 0;
}
