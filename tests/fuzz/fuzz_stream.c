/*
 * fuzz_stream.c - libFuzzer harness for the stream decoder
 * (migrate/stream.c), the frame check every received blob goes through
 * (hs_frame_check: zstd on hostile input), and the migration protocol's
 * message decoders (migrate/proto.c), each given the input as a payload.  Each input is decoded whole
 * and again cut in two at a point its length picks; the callbacks check
 * what the decoder promises its users: a heap record with a valid name and
 * line size, versions increasing, lines increasing and within their
 * version's size, blobs within their bound, an end only after all that.
 *
 * Built with -DHEAPFS_FUZZ=ON and clang (tests/fuzz/CMakeLists.txt).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "migrate.h"

struct seen {
	bool heap, ended;
	mg_heap_hdr h;
	uint64_t version, lines_owed;
	bool any_line;
	uint64_t last_line;
	uint64_t size, state_size;
};

static void must(bool ok)
{
	if (!ok)
		abort();
}

static int on_heap(void *arg, const mg_heap_hdr *h)
{
	struct seen *s = arg;

	must(!s->heap);
	must(hs_name_check(h->name) == 0);
	must(h->line_size >= HS_LINE_SIZE_MIN && h->line_size <= HS_LINE_SIZE_MAX &&
	     !(h->line_size & (h->line_size - 1)));
	s->heap = true;
	s->h = *h;
	s->version = h->base_version;
	return 0;
}

static int on_version(void *arg, const mg_version_hdr *v)
{
	struct seen *s = arg;

	must(s->heap && !s->lines_owed && v->vi.version > s->version);
	must(v->vi.size_bytes <= HS_HEAP_SIZE_MAX && v->vi.state_size <= HS_STATE_SIZE_MAX);
	s->version = v->vi.version;
	s->lines_owed = v->n_lines;
	s->any_line = false;
	s->size = v->vi.size_bytes;
	s->state_size = v->vi.state_size;
	return 0;
}

static int on_lines(void *arg, const hs_xline *l, size_t n)
{
	struct seen *s = arg;
	uint64_t ls = s->h.line_size;

	must(n && n <= s->lines_owed);
	for (size_t i = 0; i < n; i++) {
		bool state = (l[i].line & HS_STATE_LINE) != 0;
		uint64_t idx = l[i].line & ~HS_STATE_LINE;

		must(!s->any_line || l[i].line > s->last_line);
		if (!l[i].zero)
			must(idx * ls < (state ? s->state_size : s->size));
		s->any_line = true;
		s->last_line = l[i].line;
	}
	s->lines_owed -= n;
	return 0;
}

static int on_blob(void *arg, const uint8_t *hash, const void *frame, size_t len)
{
	struct seen *s = arg;

	must(s->heap && !s->lines_owed && len <= ZSTD_COMPRESSBOUND(s->h.line_size));
	(void)hs_frame_check(s->h.line_size, hash, frame, len);
	return 0;
}

static int on_end(void *arg, const mg_trailer *t)
{
	struct seen *s = arg;

	(void)t;
	must(s->heap && !s->lines_owed && !s->ended);
	s->ended = true;
	return 0;
}

static int run(const uint8_t *data, size_t size, size_t cut)
{
	static const mg_dec_cb cb = { on_heap, on_version, on_lines, on_blob, on_end };
	struct seen s;
	mg_dec *d;
	int rc;

	memset(&s, 0, sizeof(s));
	if (mg_dec_new(&d, &cb, &s) < 0)
		return -1;
	rc = mg_dec_feed(d, data, cut);
	if (rc == 0)
		rc = mg_dec_feed(d, data + cut, size - cut);
	if (rc == 0)
		rc = mg_dec_finish(d);
	/* Success means the end record came (bytes after it fail later). */
	must(rc != 0 || s.ended);
	mg_dec_free(d);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every message decoder on @data as its payload: what it accepts is
 * within its bounds. */
static void messages(const uint8_t *data, size_t size)
{
	mg_hello h;
	const uint8_t *ids, *bits;
	size_t count;
	int status;
	uint64_t num;
	uint8_t ident[HS_IDENT_LEN];
	char msg[64];

	if (mg_hello_get(&h, data, size) == 0) {
		must(h.n <= MG_HELLO_MAX && hs_name_check(h.name) == 0);
		for (uint32_t i = 1; i < h.n; i++)
			must(h.v[i].version > h.v[i - 1].version);
		mg_hello_free(&h);
	}
	if (mg_reply_get(data, size, &status, &num, ident, msg, sizeof(msg)) == 0)
		must(status <= 0 && strlen(msg) < sizeof(msg));
	if (mg_result_get(data, size, &status, &num, msg, sizeof(msg)) == 0)
		must(status <= 0);
	if (mg_offer_get(data, size, &ids, &count) == 0)
		must(count <= MG_OFFER_MAX && ids + count * MG_SHORT_ID <= data + size);
	if (size >= 4 && mg_answer_get(data, size, size * 8, &bits) == 0)
		must(0);   /* no answer holds more bits than its bytes allow */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int whole = run(data, size, size);

	messages(data, size);

	/* The same bytes in two pieces decode the same way. */
	must(run(data, size, size ? (size * 7 / 13) % size : 0) == whole);
	return 0;
}
