/*
 * io.c - send, receive and verify a stream over file descriptors: the
 * store's checkpoints through hs_export into the encoder, and the
 * decoder's records into hs_import, committed only once the whole stream
 * (its end record and end of input) checked out.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migrate_int.h"

#define IO_CHUNK (1u << 20)
#define IO_TICK_MS 250

/* Wait until @io->fd is ready for @events, unless the asker went away or
 * the daemon stops: 0 or -ECANCELED. */
static int io_wait(const mg_io *io, short events)
{
	if (io->watch_fd < 0 && !io->cancel)
		return 0;   /* plain blocking I/O */
	for (;;) {
		struct pollfd p[2] = { { io->fd, events, 0 }, { io->watch_fd, POLLRDHUP, 0 } };
		int n = poll(p, io->watch_fd < 0 ? 1 : 2, IO_TICK_MS);

		if (io->cancel && atomic_load(io->cancel))
			return hs_errno_set(-ECANCELED, "the daemon is stopping");
		if (n < 0 && errno != EINTR)
			return hs_errno_set(-errno, "waiting for the stream: %s", strerror(errno));
		if (n > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return hs_errno_set(-ECANCELED, "heapctl went away");
		if (n > 0 && p[0].revents)
			return 0;   /* ready, or an error the read or write will tell */
	}
}

static __thread mg_progress io_prog;
static __thread bool io_fresh;   /* a total just became known: show it at once */

void mg__io_total(uint64_t total, uint64_t lines_total)
{
	io_prog.total = total;
	io_prog.lines_total = lines_total;
	io_prog.lines = 0;
	io_fresh = total != 0;
}

void mg__io_lines(uint64_t lines)
{
	io_prog.lines += lines;
}

static void io_progress(const mg_io *io, uint64_t bytes, uint64_t *last_ns)
{
	struct timespec ts;
	uint64_t now;

	if (!io->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (io_fresh || now - *last_ns >= IO_TICK_MS * 1000000ull) {
		io_fresh = false;
		*last_ns = now;
		io_prog.bytes = bytes;
		io->progress(io->arg, &io_prog);
	}
}

int mg__write_all(const mg_io *io, const uint8_t *p, size_t n, uint64_t *total)
{
	static __thread uint64_t last;

	while (n) {
		ssize_t w;
		int rc;

		if ((rc = io_wait(io, POLLOUT)) < 0)
			return rc;
		if ((w = write(io->fd, p, n)) < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return hs_errno_set(-errno, "writing the stream: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
		*total += (uint64_t)w;
		io_progress(io, *total, &last);
	}
	return 0;
}

int mg__read_exact(const mg_io *io, uint8_t *p, size_t n, uint64_t *total)
{
	while (n) {
		ssize_t r;
		int rc;

		if ((rc = io_wait(io, POLLIN)) < 0)
			return rc;
		if ((r = read(io->fd, p, n)) < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return hs_errno_set(-errno, "reading from the other end: %s", strerror(errno));
		if (r == 0)
			return hs_errno_set(-EPIPE, "the other end closed the connection");
		p += r;
		n -= (size_t)r;
		*total += (uint64_t)r;
	}
	return 0;
}

static int enc_flush(mg_enc *e, const mg_io *io, uint64_t *total, bool force)
{
	int rc;

	if (!e->len || (!force && e->len < IO_CHUNK))
		return 0;
	rc = mg__write_all(io, e->buf, e->len, total);
	mg_enc_drain(e);
	return rc;
}

static int content_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HS_HASH_LEN);   /* the hash leads */
}

int mg__set_add(struct mg__set *s, const uint8_t *hash, uint32_t stored)
{
	if (s->n == s->cap) {
		size_t c = s->cap ? 2 * s->cap : 1024;
		void *g = realloc(s->c, c * sizeof(*s->c));

		if (!g)
			return hs_errno_set(-ENOMEM, "out of memory");
		s->c = g;
		s->cap = c;
	}
	memcpy(s->c[s->n].hash, hash, HS_HASH_LEN);
	s->c[s->n].lines = 1;
	s->c[s->n++].stored = stored;
	return 0;
}

size_t mg__set_unique(struct mg__set *s)
{
	size_t u = 0, before = s->n;

	if (s->n)
		qsort(s->c, s->n, sizeof(*s->c), content_cmp);
	for (size_t i = 0; i < s->n; i++) {
		if (!u || memcmp(s->c[u - 1].hash, s->c[i].hash, HS_HASH_LEN) != 0)
			s->c[u++] = s->c[i];
		else
			s->c[u - 1].lines += s->c[i].lines;
	}
	s->n = u;
	return before;
}

ssize_t mg__set_find(const struct mg__set *s, const uint8_t *hash)
{
	const struct mg__content *f = s->n ? bsearch(hash, s->c, s->n, sizeof(*s->c),
						     content_cmp) : NULL;

	return f ? f - s->c : -1;
}

void mg__set_free(struct mg__set *s)
{
	free(s->c);
	memset(s, 0, sizeof(*s));
}

void mg__batch_free(struct mg__batch *b, hs_import *imp)
{
	if (imp)   /* its workers may be reading the other buffer */
		(void)hs_import_blobs_wait(imp);
	for (unsigned k = 0; k < 2; k++)
		free(b->buf[k].arena);
	memset(b, 0, sizeof(*b));
}

/* The gathered buffer's checks start; the other one's end, kept. */
static int batch_submit(struct mg__batch *b, hs_import *imp)
{
	struct mg__bbuf *g = &b->buf[b->cur];
	int rc;

	for (size_t i = 0; i < g->n; i++)
		g->frame[i] = g->arena + g->off[i];
	rc = hs_import_blobs(imp, g->n, (const uint8_t (*)[HS_HASH_LEN])g->hash, g->frame, g->len);
	b->cur ^= 1;   /* failed or not, that one may be in flight now */
	b->buf[b->cur].n = b->buf[b->cur].used = 0;
	return rc;
}

int mg__batch_flush(struct mg__batch *b, hs_import *imp)
{
	int rc = b->buf[b->cur].n && imp ? batch_submit(b, imp) : 0;

	if (rc == 0 && imp)
		rc = hs_import_blobs_wait(imp);
	for (unsigned k = 0; k < 2; k++)
		b->buf[k].n = b->buf[k].used = 0;
	return rc;
}

int mg__batch_add(struct mg__batch *b, hs_import *imp, const uint8_t *hash, const void *frame,
		  size_t len)
{
	struct mg__bbuf *g = &b->buf[b->cur];
	uint64_t max = b->seen / 8 < MG_BATCH_MIN ? MG_BATCH_MIN :
		       b->seen / 8 > MG_BATCH_BYTES ? MG_BATCH_BYTES : b->seen / 8;
	int rc;

	if (g->n && (g->n == MG_BATCH_BLOBS || g->used + len > max)) {
		if ((rc = batch_submit(b, imp)) < 0)
			return rc;
		g = &b->buf[b->cur];
	}
	if (g->used + len > g->cap) {   /* a frame is at most a line's bound */
		size_t cap = g->used + len > MG_BATCH_BYTES ? g->used + len : MG_BATCH_BYTES;
		uint8_t *a = realloc(g->arena, cap);

		if (!a)
			return hs_errno_set(-ENOMEM, "out of memory");
		g->arena = a;
		g->cap = cap;
	}
	memcpy(g->arena + g->used, frame, len);
	memcpy(g->hash[g->n], hash, HS_HASH_LEN);
	g->off[g->n] = g->used;
	g->len[g->n++] = len;
	g->used += len;
	b->seen += len;
	return 0;
}

int mg__enc_heap_of(mg_enc *e, const hs_heap_info *hi, const hs_version_info *base,
		    uint32_t n)
{
	mg_heap_hdr h;

	memset(&h, 0, sizeof(h));
	memcpy(h.ident, hi->ident, HS_IDENT_LEN);
	h.line_size = hi->line_size;
	strcpy(h.name, hi->name);
	h.created_ns = hi->created_ns;
	if (base) {
		memcpy(h.base, base->ident, HS_IDENT_LEN);
		h.base_version = base->version;
	}
	h.n_versions = n;
	return mg_enc_heap(e, &h);
}

int mg__enc_version_of(mg_enc *e, const hs_version_info *vs, size_t i, size_t first,
		       const uint8_t *base_ident, const hs_xline *lines, size_t n)
{
	mg_version_hdr v;
	int rc;

	memset(&v, 0, sizeof(v));
	v.vi = vs[i];
	if (i > first)
		memcpy(v.parent, vs[i - 1].ident, HS_IDENT_LEN);
	else if (base_ident)
		memcpy(v.parent, base_ident, HS_IDENT_LEN);
	v.n_lines = n;
	if ((rc = mg_enc_version(e, &v)) < 0)
		return rc;
	return mg_enc_lines(e, lines, n);
}

/* ==== send =============================================================== */

/*
 * A pipe holds 64 KiB and a Unix socket 208 KiB by default: a sender
 * stalls each time its receiver turns to writing a batch into its store,
 * and the receiver then waits for the sender to be scheduled again.  A
 * pipe takes up to pipe-max-size (1 MiB unprivileged), a socket up to
 * rmem_max/wmem_max; either refusal leaves the default.
 */
static void widen(int fd)
{
	struct stat st;
	int sz = 4 << 20;

	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	if (S_ISFIFO(st.st_mode)) {
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
	} else if (S_ISSOCK(st.st_mode)) {
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
}

void mg__io_widen(const mg_io *io)
{
	widen(io->fd);
	widen(io->out_fd);
}

int mg_send(hs_store *s, const char *name, uint64_t version, uint64_t from,
	    const mg_io *io, mg_stats *st)
{
	hs_heap *h = NULL;
	hs_heap_info hi;
	hs_export *x = NULL;
	hs_version_info *vs = NULL;
	size_t nv = 0, first = 0, last = 0;
	struct mg__set set = { 0 };
	mg_enc e = { 0 };
	bool have_from = from == 0, have_v = false;
	int rc;

	memset(st, 0, sizeof(*st));
	mg__io_widen(io);
	if ((rc = hs_heap_open(&h, s, name)) < 0 || (rc = hs_heap_info_get(h, &hi)) < 0 ||
	    (rc = hs_export_begin(&x, h)) < 0 || (rc = hs_export_versions(x, &vs, &nv)) < 0)
		goto out;
	if (!nv) {
		rc = hs_errno_set(-ENOENT, "heap '%s' has no checkpoint to send (take one: "
				  "heapctl checkpoint %s)", name, name);
		goto out;
	}
	if (mg_ident_zero(hi.ident)) {
		rc = hs_errno_set(-EINVAL, "heap '%s' has no identity yet (its store was opened "
				  "read-only since an upgrade)", name);
		goto out;
	}
	if (!version)
		version = vs[nv - 1].version;
	for (size_t i = 0; i < nv; i++) {
		if (from && vs[i].version == from) {
			have_from = true;
			first = i + 1;
		}
		if (vs[i].version == version) {
			have_v = true;
			last = i;
		}
	}
	if (!have_v || !have_from) {
		rc = hs_errno_set(-ENOENT, "heap '%s' has no checkpoint %llu", name,
				  (unsigned long long)(have_v ? from : version));
		goto out;
	}
	if (from >= version) {
		rc = hs_errno_set(-EINVAL, "the base (%llu) must be older than the version sent "
				  "(%llu)", (unsigned long long)from, (unsigned long long)version);
		goto out;
	}
	if ((rc = mg_enc_init(&e)) < 0 ||
	    (rc = mg__enc_heap_of(&e, &hi, from ? &vs[first - 1] : NULL,
				  (uint32_t)(last + 1 - first))) < 0)
		goto out;
	for (size_t i = first; i <= last; i++) {
		hs_xline *ls = NULL;
		size_t nl = 0;

		if ((rc = hs_export_changes(x, vs[i].version, &ls, &nl)) < 0)
			goto out;
		rc = mg__enc_version_of(&e, vs, i, first, from ? vs[first - 1].ident : NULL,
					 ls, nl);
		for (size_t j = 0; j < nl && rc == 0; j++) {
			if (!ls[j].zero)
				rc = mg__set_add(&set, ls[j].hash, ls[j].stored);
		}
		free(ls);
		if (rc < 0 || (rc = enc_flush(&e, io, &st->bytes, false)) < 0)
			goto out;
	}
	mg__set_unique(&set);
	{
		/* The stream's exact size, now the contents are known: what went
		 * and what is encoded, each blob's record and frame, the end. */
		uint64_t total = st->bytes + e.len + MG_REC_HDR + 64, lines = 0;

		for (size_t i = 0; i < set.n; i++) {
			total += MG_REC_HDR + HS_HASH_LEN + set.c[i].stored;
			lines += set.c[i].lines;
		}
		mg__io_total(total, lines);
	}
	for (size_t i = 0; i < set.n; i++) {
		void *frame;
		size_t len;

		if ((rc = hs_export_blob(x, set.c[i].hash, &frame, &len)) < 0)
			goto out;
		rc = mg_enc_blob(&e, set.c[i].hash, frame, len);
		free(frame);
		mg__io_lines(set.c[i].lines);
		if (rc < 0 || (rc = enc_flush(&e, io, &st->bytes, false)) < 0)
			goto out;
	}
	if ((rc = mg_enc_end(&e)) < 0 || (rc = enc_flush(&e, io, &st->bytes, true)) < 0)
		goto out;
	strcpy(st->heap, hi.name);
	st->version = version;
	st->versions = e.count.versions;
	st->lines = e.count.lines;
	st->blobs = e.count.blobs;
	st->blob_bytes = e.count.blob_bytes;
out:
	mg_enc_free(&e);
	mg__set_free(&set);
	mg__io_total(0, 0);
	free(vs);
	hs_export_end(x);
	hs_heap_close(h);
	return rc;
}

/* ==== receive ============================================================ */

/* Feed everything @io has to @d; 0 at end of input, after mg_dec_finish. */
static int read_all(const mg_io *io, mg_dec *d, uint64_t *total)
{
	uint8_t *buf = malloc(IO_CHUNK);
	uint64_t last = 0;
	int rc = 0;

	if (!buf)
		return hs_errno_set(-ENOMEM, "out of memory");
	for (;;) {
		ssize_t r;

		if ((rc = io_wait(io, POLLIN)) < 0)
			break;
		r = read(io->fd, buf, IO_CHUNK);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			rc = hs_errno_set(-errno, "reading the stream: %s", strerror(errno));
			break;
		}
		if (r == 0) {
			rc = mg_dec_finish(d);
			break;
		}
		*total += (uint64_t)r;
		io_progress(io, *total, &last);
		if ((rc = mg_dec_feed(d, buf, (size_t)r)) < 0)
			break;
	}
	free(buf);
	return rc;
}

struct recv_ctx {
	hs_store *s;
	const mg_recv_opts *o;
	hs_import *imp;
	mg_stats *st;
	uint64_t version;
	struct mg__batch batch;
};

static int recv_heap(void *arg, const mg_heap_hdr *h)
{
	struct recv_ctx *c = arg;
	hs_import_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.name = c->o && c->o->as ? c->o->as : h->name;
	memcpy(p.ident, h->ident, HS_IDENT_LEN);
	p.line_size = h->line_size;
	p.created_ns = h->created_ns;
	p.incremental = !mg_ident_zero(h->base);
	memcpy(p.base, h->base, HS_IDENT_LEN);
	if (c->o && c->o->allow && (rc = c->o->allow(c->o->arg, p.name, p.incremental)) < 0)
		return rc;
	p.carried_only = c->o ? c->o->carried_only : 0;
	if (c->o && c->o->owned) {
		p.owned = 1;
		p.uid = c->o->uid;
		p.gid = c->o->gid;
		p.mode = c->o->mode;
	}
	if ((rc = hs_import_begin(&c->imp, c->s, &p)) < 0)
		return rc;
	snprintf(c->st->heap, sizeof(c->st->heap), "%s", p.name);
	return 0;
}

static int recv_version(void *arg, const mg_version_hdr *v)
{
	struct recv_ctx *c = arg;

	c->version = v->vi.version;
	return hs_import_version(c->imp, &v->vi, v->parent);
}

static int recv_lines(void *arg, const hs_xline *lines, size_t n)
{
	struct recv_ctx *c = arg;

	return hs_import_lines(c->imp, lines, n);
}

static int recv_blob(void *arg, const uint8_t hash[HS_HASH_LEN], const void *frame, size_t len)
{
	struct recv_ctx *c = arg;

	return mg__batch_add(&c->batch, c->imp, hash, frame, len);
}

static void stats_from(mg_stats *st, const mg_trailer *t)
{
	st->versions = t->versions;
	st->lines = t->lines;
	st->blobs = t->blobs;
	st->blob_bytes = t->blob_bytes;
}

static int recv_end(void *arg, const mg_trailer *t)
{
	struct recv_ctx *c = arg;

	stats_from(c->st, t);
	return 0;
}

int mg_recv(hs_store *s, const mg_io *io, const mg_recv_opts *o, mg_stats *st)
{
	static const mg_dec_cb cb = { recv_heap, recv_version, recv_lines, recv_blob, recv_end };
	static struct recv_ctx zero;
	struct recv_ctx c = zero;
	mg_dec *d = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	mg__io_widen(io);
	c.s = s;
	c.o = o;
	c.st = st;
	if (o && o->as && (rc = hs_name_check(o->as)) < 0)
		return hs_errno_set(rc, "--as: %s", hs_error_last());
	if ((rc = mg_dec_new(&d, &cb, &c)) < 0)
		return rc;
	/* Nothing is committed before the input ended right after the end
	 * record: a stream with anything after it is refused whole. */
	if ((rc = read_all(io, d, &st->bytes)) == 0 && (rc = mg__batch_flush(&c.batch, c.imp)) == 0 &&
	    (rc = hs_import_commit(c.imp, &st->version)) == 0 && o && o->received)
		o->received(o->arg, st->heap, st->version, true, true, c.imp);
	if (rc < 0 && c.imp) {   /* what arrived whole is kept, as garbage */
		char why[512];

		snprintf(why, sizeof(why), "%s", hs_error_last());
		(void)mg__batch_flush(&c.batch, c.imp);
		hs_errno_set(rc, "%s", why);
	}
	mg__batch_free(&c.batch, c.imp);
	mg_dec_free(d);
	hs_import_free(c.imp);   /* after a failure: drops what was staged */
	return rc;
}

/* ==== verify ============================================================= */

struct verify_ctx {
	mg_heap_hdr heap;
	struct mg__set carried;
	struct mg__set named;             /* every non-zero line's content */
	mg_stats *st;
};

static int verify_heap(void *arg, const mg_heap_hdr *h)
{
	struct verify_ctx *c = arg;

	c->heap = *h;
	snprintf(c->st->heap, sizeof(c->st->heap), "%s", h->name);
	return 0;
}

static int verify_version(void *arg, const mg_version_hdr *v)
{
	struct verify_ctx *c = arg;

	c->st->version = v->vi.version;
	return 0;
}

static int verify_lines(void *arg, const hs_xline *lines, size_t n)
{
	struct verify_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (!lines[i].zero && (rc = mg__set_add(&c->named, lines[i].hash, 0)) < 0)
			return rc;
	}
	return 0;
}

static int verify_blob(void *arg, const uint8_t hash[HS_HASH_LEN], const void *frame, size_t len)
{
	struct verify_ctx *c = arg;
	int rc = hs_frame_check(c->heap.line_size, hash, frame, len);

	return rc < 0 ? rc : mg__set_add(&c->carried, hash, (uint32_t)len);
}

static int verify_end(void *arg, const mg_trailer *t)
{
	struct verify_ctx *c = arg;

	stats_from(c->st, t);
	return 0;
}

int mg_verify(hs_store *s, const mg_io *io, mg_stats *st)
{
	static const mg_dec_cb cb = { verify_heap, verify_version, verify_lines, verify_blob,
				      verify_end };
	struct verify_ctx c;
	mg_dec *d = NULL;
	uint32_t *raw = NULL;
	uint8_t (*ah)[HS_HASH_LEN] = NULL;
	size_t missing = 0, n_absent;
	struct mg__set absent = { 0 };
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&c, 0, sizeof(c));
	c.st = st;
	if ((rc = mg_dec_new(&d, &cb, &c)) < 0)
		return rc;
	if ((rc = read_all(io, d, &st->bytes)) < 0)
		goto out;
	if (mg__set_unique(&c.carried) != c.carried.n) {
		rc = hs_errno_set(-EBADMSG, "a blob is carried twice");
		goto out;
	}
	mg__set_unique(&c.named);
	/* The contents named but not carried: the receiver must hold them. */
	for (size_t i = 0; i < c.named.n; i++) {
		if (mg__set_find(&c.carried, c.named.c[i].hash) < 0 &&
		    (rc = mg__set_add(&absent, c.named.c[i].hash, 0)) < 0)
			goto out;
	}
	n_absent = absent.n;
	st->lines_held = n_absent;
	if (s && n_absent) {
		if (!(raw = calloc(n_absent, sizeof(*raw))) || !(ah = malloc(n_absent * HS_HASH_LEN))) {
			rc = hs_errno_set(-ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n_absent; i++)
			memcpy(ah[i], absent.c[i].hash, HS_HASH_LEN);
		if ((rc = hs_blobs_held(s, (const uint8_t (*)[HS_HASH_LEN])ah, n_absent, raw)) < 0)
			goto out;
		for (size_t i = 0; i < n_absent; i++)
			missing += raw[i] != c.heap.line_size;
		if (missing)
			rc = hs_errno_set(-ENOENT, "%zu of the contents its lines name are neither "
					  "in the stream nor in this store", missing);
	}
out:
	mg_dec_free(d);
	mg__set_free(&c.carried);
	mg__set_free(&c.named);
	mg__set_free(&absent);
	free(ah);
	free(raw);
	return rc;
}
