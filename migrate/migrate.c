/*
 * migrate.c - heapctl migrate's two ends over a pair of descriptors: the
 * source (mg_migrate: pre-copy rounds, the lease, the final round) and the
 * destination (mg_serve: answers each round and commits it through
 * hs_import).  A round is: hello (the heap and every checkpoint the source
 * holds) -> reply (the newest of them the destination's copy ends at, or
 * none) -> offers of the candidate contents' short ids -> bitmaps of those
 * held -> the stream of the versions after the base, carrying only the
 * contents not held -> end -> result.  A pre-copy round after which
 * nothing was written ends with 'f' instead: the source stopped the heap
 * while the destination checks the stream, which commits it live; the
 * final round it would have taken (a lease handed over, two synced writes
 * and a round trip) is not needed.
 *
 * Once the final round's end is out, only the destination knows whether it
 * committed: a lost answer leaves the source's lease expired (never two
 * live copies), and a later migrate to the same destination finds out
 * (the destination says the heap is live there at the source's newest
 * checkpoint) or finishes the hand-over.  So the destination says when a
 * round ended without its end (nothing committed), and the source gives
 * its lease back only on such an answer or before its end went out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "migrate_int.h"

#define ROUNDS_DEFAULT 8
#define DOWNTIME_DEFAULT_MS 100
/* A pre-copy round may turn final when it carried at most this many stream
 * bytes per ms of the downtime budget: what is in flight when the heap
 * stops is then checked and committed within the budget at 40 MB/s. */
#define FINISH_BYTES_PER_MS 40000u

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- framed messages over the two descriptors --------------------------- */

struct link {
	const mg_io *in, *out;
	mg_enc e;                         /* messages not yet written */
	uint8_t *buf;                     /* the last message read */
	size_t cap;
	uint64_t sent, recvd;             /* bytes */
	uint64_t data_sent;               /* of them, stream bytes in data messages */
};

static int link_flush(struct link *l)
{
	int rc = l->e.len ? mg__write_all(l->out, l->e.buf, l->e.len, &l->sent) : 0;

	mg_enc_drain(&l->e);
	return rc;
}

/* The next message: its type and payload (valid until the next read). */
static int link_read(struct link *l, uint8_t *type, const uint8_t **payload, size_t *len)
{
	uint8_t hdr[MG_REC_HDR];
	size_t n, max;
	int rc;

	if ((rc = mg__read_exact(l->in, hdr, sizeof(hdr), &l->recvd)) < 0)
		return rc;
	n = (size_t)hdr[4] | (size_t)hdr[5] << 8 | (size_t)hdr[6] << 16 | (size_t)hdr[7] << 24;
	max = mg_msg_max(hdr[0]);
	if (max == SIZE_MAX || hdr[1] || hdr[2] || hdr[3])
		return hs_errno_set(-EBADMSG, "a message of unknown type 0x%02x", hdr[0]);
	if (n > max)
		return hs_errno_set(-EBADMSG, "a '%c' message of %zu bytes (at most %zu)", hdr[0],
				    n, max);
	if (n > l->cap) {
		uint8_t *g = realloc(l->buf, n);

		if (!g)
			return hs_errno_set(-ENOMEM, "out of memory");
		l->buf = g;
		l->cap = n;
	}
	if ((rc = mg__read_exact(l->in, l->buf, n, &l->recvd)) < 0)
		return rc;
	*type = hdr[0];
	*payload = l->buf;
	*len = n;
	return 0;
}

static int link_expect(struct link *l, uint8_t want, const uint8_t **p, size_t *n)
{
	char why[MG_MSG_TEXT_MAX + 1];
	uint64_t v;
	uint8_t type = 0;   /* link_read() sets it when it returns 0 (-O3 cannot tell) */
	int rc = link_read(l, &type, p, n), status;

	if (rc == 0 && type != want && type == MG_MSG_RESULT &&
	    mg_result_get(*p, *n, &status, &v, why, sizeof(why)) == 0 && status < 0)
		return hs_errno_set(status, "the destination: %s", why);   /* it gave up */
	if (rc == 0 && type != want)
		rc = hs_errno_set(-EBADMSG, "a '%c' message where '%c' was due", type, want);
	return rc;
}

/* The destination's answer to a round: committed @version, or why not. */
static int link_result(struct link *l, int status, uint64_t version, const char *why)
{
	int rc = mg_result_put(&l->e, status, version, why);

	return rc < 0 ? rc : link_flush(l);
}

static void link_free(struct link *l)
{
	mg_enc_free(&l->e);
	free(l->buf);
}

/* ==== the source ========================================================= */

struct src {
	hs_store *s;
	hs_heap *h;
	hs_heap_info hi;
	const mg_migrate_opts *o;
	mg_migrate_stats *st;
	struct link l;
	unsigned budget;                  /* downtime, ms */
	bool expired;                     /* the lease: ours to give back on failure */
	bool handed;                      /* the final end is out, no answer yet */
	bool refused;                     /* the destination refused the round's hello */
	uint64_t down;                    /* when it expired (mono_ms) */
	char why[MG_MSG_TEXT_MAX + 1];
};

/* Bytes the live heap changed since its latest checkpoint, about. */
static uint64_t dirty_bytes(struct src *c)
{
	hs_heap_info hi;
	uint64_t changed = 0;

	if (hs_heap_info_get(c->h, &hi) < 0 || hs_heap_changed_lines(c->h, 0, &changed) < 0)
		return UINT64_MAX;
	return (changed + hi.lines_dirty) * hi.line_size;
}

/* Whether the live heap is still checkpoint @v: no line, size or state
 * changed since (so @v can be the final checkpoint). */
static bool unchanged_since(struct src *c, uint64_t v)
{
	hs_heap_info hi;
	hs_version_info vi;

	return v && hs_heap_info_get(c->h, &hi) == 0 && hi.latest == v && !hi.lines_dirty &&
	       hs_version_info_get(c->h, v, &vi) == 0 && vi.size_bytes == hi.size_bytes &&
	       vi.state_size == hi.state_size && dirty_bytes(c) == 0;
}

/* Stop the heap: the lease expires (synced), then the mapped pages' stores
 * that raced it are refused, and msync says so.  Downtime counts from
 * here: until the lease's record is written, writes are taken. */
static int expire(struct src *c)
{
	int rc;

	if ((rc = hs_heap_lease_set(c->h, HS_LEASE_EXPIRED, c->o->dest)) < 0)
		return rc;
	c->down = mono_ms();
	c->expired = true;
	if (c->o->flush_mapped)
		c->o->flush_mapped(c->hi.id, c->hi.name, c->o->arg);
	hs_event_post(c->h, "lease-expired");
	return 0;
}

/*
 * A pre-copy round's stream of checkpoint @v, @bytes of it, is out: if
 * nothing was written since @v (mapped pages written back first), stop
 * the heap now, while the destination checks the stream, and make this
 * round the final one.  Returns 1 if it is, 0 if not (the heap may have
 * stopped anyway: a store raced the lease), or -errno.
 */
static int finish_early(struct src *c, uint64_t v, uint64_t bytes)
{
	int rc;

	if (bytes > (uint64_t)c->budget * FINISH_BYTES_PER_MS || dirty_bytes(c) != 0)
		return 0;
	if (c->o->flush_mapped)
		c->o->flush_mapped(c->hi.id, c->hi.name, c->o->arg);
	if (!unchanged_since(c, v))
		return 0;
	if ((rc = expire(c)) < 0)
		return rc;
	return unchanged_since(c, v);
}

/* Stream bytes the encoder holds go out as data messages, once there are
 * MG_DATA_FLUSH of them. */
static int data_flush(struct src *c, mg_enc *se, bool force)
{
	size_t at = 0;
	int rc = 0;

	if (!force && se->len < MG_DATA_FLUSH)
		return 0;
	while (at < se->len && rc == 0) {
		size_t n = se->len - at < MG_DATA_MAX ? se->len - at : MG_DATA_MAX;

		rc = mg_msg_put(&c->l.e, MG_MSG_DATA, se->buf + at, n);
		c->l.data_sent += n + MG_REC_HDR;
		at += n;
		if (rc == 0 && c->l.e.len >= MG_DATA_FLUSH)
			rc = link_flush(&c->l);
	}
	mg_enc_drain(se);
	return rc;
}

/* One round: send what the destination lacks of the checkpoints up to @v.
 * A pre-copy round may turn final (finish_early): *@finished says so. */
static int round_run(struct src *c, uint64_t v, bool final, bool *finished)
{
	hs_export *x = NULL;
	hs_version_info *vs = NULL;
	size_t nv = 0, first = 0, last = 0, nh;
	struct mg__set set = { 0 };
	uint8_t *have = NULL, base_ident[HS_IDENT_LEN], (*ids)[HS_HASH_LEN] = NULL;
	hs_xline **lines = NULL;
	size_t *nlines = NULL;
	mg_hello hello;
	mg_enc se = { 0 };
	uint64_t base = 0, start = c->l.sent;
	const uint8_t *p;
	uint8_t end = MG_MSG_END;
	size_t n;
	int rc, status;

	memset(&hello, 0, sizeof(hello));
	if ((rc = hs_export_begin(&x, c->h)) < 0 || (rc = hs_export_versions(x, &vs, &nv)) < 0)
		goto out;
	while (last < nv && vs[last].version <= v)
		last++;
	if (!last || vs[last - 1].version != v) {
		rc = hs_errno_set(-ENOENT, "checkpoint %llu is gone", (unsigned long long)v);
		goto out;
	}
	/* Hello: the newest checkpoints up to v: the destination's copy ends
	 * at a recent one, and a hello stays small however long the history
	 * (a copy ending further back is dropped there and re-sent, mostly
	 * as contents it holds). */
	hello.flags = final ? MG_HELLO_FINAL : 0;
	if (c->hi.lease == HS_LEASE_EXPIRED) {   /* again_begin(): c->hi as it began */
		hello.flags |= MG_HELLO_AGAIN;
		hello.proto = MG_PROTO_AGAIN;
	}
	memcpy(hello.ident, c->hi.ident, HS_IDENT_LEN);
	hello.line_size = c->hi.line_size;
	strcpy(hello.name, c->hi.name);
	hello.created_ns = c->hi.created_ns;
	first = last > MG_HELLO_LIST ? last - MG_HELLO_LIST : 0;
	hello.n = (uint32_t)(last - first);
	if (!(hello.v = calloc(hello.n ? hello.n : 1, sizeof(*hello.v)))) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = first; i < last; i++) {
		hello.v[i - first].version = vs[i].version;
		memcpy(hello.v[i - first].ident, vs[i].ident, HS_IDENT_LEN);
	}
	if ((rc = mg_hello_put(&c->l.e, &hello)) < 0 || (rc = link_flush(&c->l)) < 0 ||
	    (rc = link_expect(&c->l, MG_MSG_REPLY, &p, &n)) < 0 ||
	    (rc = mg_reply_get(p, n, &status, &base, base_ident, c->why, sizeof(c->why))) < 0)
		goto out;
	if (status < 0) {
		c->refused = true;
		rc = hs_errno_set(status, "the destination: %s", c->why);
		goto out;
	}
	/* The base must be one of ours, below v (or v itself: nothing new). */
	first = 0;
	if (base) {
		while (first < last && vs[first].version != base)
			first++;
		if (first == last || memcmp(vs[first].ident, base_ident, HS_IDENT_LEN) != 0) {
			rc = hs_errno_set(-EBADMSG, "the destination names base %llu, which is not "
					  "one of this heap's", (unsigned long long)base);
			goto out;
		}
		first++;
	}
	if (!c->st->rounds)
		c->st->common_version = base;
	/* The candidates: the lines of the versions after the base. */
	if (last > first && (!(lines = calloc(last - first, sizeof(*lines))) ||
			     !(nlines = calloc(last - first, sizeof(*nlines))))) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = first; i < last; i++) {
		if ((rc = hs_export_changes(x, vs[i].version, &lines[i - first],
					    &nlines[i - first])) < 0)
			goto out;
		for (size_t j = 0; j < nlines[i - first]; j++) {
			const hs_xline *l = &lines[i - first][j];

			c->st->lines_total++;
			if (!l->zero && (rc = mg__set_add(&set, l->hash, l->stored)) < 0)
				goto out;
		}
	}
	mg__set_unique(&set);
	nh = set.n;
	/* Which of them the destination holds: short ids out, bits back. */
	if (!(have = calloc(nh + 8, 1)) || !(ids = malloc((nh + 1) * HS_HASH_LEN))) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nh; i++)
		memcpy(ids[i], set.c[i].hash, HS_HASH_LEN);
	for (size_t at = 0; at < nh; at += MG_OFFER_MAX) {
		size_t m = nh - at < MG_OFFER_MAX ? nh - at : MG_OFFER_MAX;
		const uint8_t *bits;

		if ((rc = mg_offer_put(&c->l.e, (const uint8_t (*)[HS_HASH_LEN])ids + at, m)) < 0 ||
		    (rc = link_flush(&c->l)) < 0 ||
		    (rc = link_expect(&c->l, MG_MSG_ANSWER, &p, &n)) < 0 ||
		    (rc = mg_answer_get(p, n, m, &bits)) < 0)
			goto out;
		for (size_t i = 0; i < m; i++)
			have[at + i] = (bits[i / 8] >> (i % 8)) & 1;
	}
	/* The stream: the versions after the base, the contents not held;
	 * its size is known now, for progress. */
	if (last > first) {
		uint64_t total = c->l.sent + 3 * MG_REC_HDR + 64, to_send = 0;

		for (size_t i = 0; i < nh; i++) {
			total += have[i] ? 0 : MG_REC_HDR + HS_HASH_LEN + set.c[i].stored;
			to_send += have[i] ? 0 : set.c[i].lines;
		}
		for (size_t i = first; i < last; i++)
			total += 2 * MG_REC_HDR + 80 + strlen(vs[i].label) + nlines[i - first] * 41;
		mg__io_total(total + total / MG_DATA_FLUSH * MG_REC_HDR + 300, to_send);

		/* first > 0 with a base: vs[first - 1] is it. */
		if ((rc = mg_enc_init(&se)) < 0 ||
		    (rc = mg__enc_heap_of(&se, &c->hi, base ? &vs[first - 1] : NULL,
					  (uint32_t)(last - first))) < 0)
			goto out;
		for (size_t i = first; i < last; i++) {
			if ((rc = mg__enc_version_of(&se, vs, i, first, base ? base_ident : NULL,
						     lines[i - first], nlines[i - first])) < 0 ||
			    (rc = data_flush(c, &se, false)) < 0)
				goto out;
			for (size_t j = 0; j < nlines[i - first]; j++) {
				const hs_xline *l = &lines[i - first][j];
				ssize_t f;

				if (l->zero)
					continue;
				f = mg__set_find(&set, l->hash);
				if (f >= 0 && have[f]) {
					c->st->lines_present++;
					c->st->bytes_skipped += l->stored;
				} else {
					c->st->lines_sent++;
				}
			}
		}
		for (size_t i = 0; i < nh; i++) {
			void *frame;
			size_t len;

			if (have[i]) {
				c->st->contents_present++;
				continue;
			}
			if ((rc = hs_export_blob(x, set.c[i].hash, &frame, &len)) < 0)
				goto out;
			rc = mg_enc_blob(&se, set.c[i].hash, frame, len);
			free(frame);
			c->st->contents_sent++;
			mg__io_lines(set.c[i].lines);
			if (rc < 0 || (rc = data_flush(c, &se, false)) < 0)
				goto out;
		}
		if ((rc = mg_enc_end(&se)) < 0 || (rc = data_flush(c, &se, true)) < 0)
			goto out;
	}
	if (!final && (rc = finish_early(c, v, c->l.sent - start)) != 0) {
		if (rc < 0)
			goto out;
		end = MG_MSG_FINAL;
	}
	if ((rc = mg_msg_put(&c->l.e, end, NULL, 0)) < 0 || (rc = link_flush(&c->l)) < 0)
		goto out;
	c->handed = final || end == MG_MSG_FINAL;   /* it may commit it live now */
	if ((rc = link_expect(&c->l, MG_MSG_RESULT, &p, &n)) < 0 ||
	    (rc = mg_result_get(p, n, &status, &base, c->why, sizeof(c->why))) < 0)
		goto out;
	if (status < 0) {
		c->handed = false;   /* it says it did not commit */
		rc = hs_errno_set(status, "the destination: %s", c->why);
	} else if (base != v) {
		rc = hs_errno_set(-EBADMSG, "the destination committed version %llu, not %llu",
				  (unsigned long long)base, (unsigned long long)v);
	} else {
		*finished = final || end == MG_MSG_FINAL;
	}
	c->st->rounds++;
out:
	for (size_t i = 0; lines && i < last - first; i++)
		free(lines[i]);
	free(lines);
	free(nlines);
	mg__set_free(&set);
	free(ids);
	free(have);
	mg__io_total(0, 0);
	mg_enc_free(&se);
	mg_hello_free(&hello);
	free(vs);
	hs_export_end(x);
	return rc;
}

static int take(struct src *c, uint64_t *v)
{
	return ckpt_take(c->o->ckpt, c->h, NULL, CKPT_MIGRATE, v);
}

/*
 * The heaps this process is migrating, by store and id: one migration of a
 * heap at a time, or two could hand it to two destinations.
 */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct running {
	const hs_store *s;
	uint64_t id;
	struct running *next;
} *running;

static int running_add(struct running *r, const hs_store *s, uint64_t id, const char *name)
{
	int rc = 0;

	pthread_mutex_lock(&running_lock);
	for (const struct running *o = running; o && rc == 0; o = o->next) {
		if (o->s == s && o->id == id)
			rc = hs_errno_set(-EBUSY, "heap '%s' is being migrated already "
					  "(another heapctl migrate)", name);
	}
	if (rc == 0) {
		r->s = s;
		r->id = id;
		r->next = running;
		running = r;
	}
	pthread_mutex_unlock(&running_lock);
	return rc;
}

static void running_drop(const struct running *r)
{
	pthread_mutex_lock(&running_lock);
	for (struct running **o = &running; *o; o = &(*o)->next) {
		if (*o == r) {
			*o = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&running_lock);
}

/*
 * A heap whose lease expired in a migration that lost its answer (or whose
 * daemon died in one), which recorded where it went: it may be live there.
 * Only a migration to that destination may go on, without pre-copy (the
 * heap is stopped) and from its newest checkpoint, which the destination
 * then recognises as its own if it committed it.
 */
static int again_begin(struct src *c, uint64_t *v)
{
	const char *dest = c->o->dest ? c->o->dest : "";

	if (!*c->hi.moved_to)   /* a copy a migration brought here, not handed over */
		return hs_errno_set(-EROFS, "heap '%s' is not live here (its lease expired)",
				    c->hi.name);
	if (strcmp(c->hi.moved_to, dest) != 0)
		return hs_errno_set(-EROFS, "heap '%s' was handed to %s by a migration that did "
				    "not learn the outcome: migrate it there again to find out, "
				    "or, if that node is lost for good, heapctl resume %s --force",
				    c->hi.name, c->hi.moved_to, c->hi.name);
	c->expired = true;
	c->down = mono_ms();
	*v = c->hi.latest;
	return 0;
}

int mg_migrate(hs_store *s, const char *heap, const mg_io *in, const mg_io *out,
	       const mg_migrate_opts *o, mg_migrate_stats *st)
{
	struct src c = { .s = s, .o = o, .st = st, .l = { .in = in, .out = out } };
	unsigned rounds = o->max_rounds ? o->max_rounds : ROUNDS_DEFAULT;
	uint64_t t0 = mono_ms(), v = 0;
	struct running me;
	bool done = false, listed = false;
	int rc;

	c.budget = o->downtime_ms ? o->downtime_ms : DOWNTIME_DEFAULT_MS;
	memset(st, 0, sizeof(*st));
	mg__io_widen(in);
	mg__io_widen(out);
	if ((rc = hs_heap_open(&c.h, s, heap)) < 0 || (rc = hs_heap_info_get(c.h, &c.hi)) < 0)
		goto out;
	if ((rc = running_add(&me, s, c.hi.id, heap)) < 0)
		goto out;
	listed = true;
	if (c.hi.lease == HS_LEASE_MIGRATED) {
		rc = hs_errno_set(-EROFS, "heap '%s' is not live here (%s)", heap, c.hi.moved_to);
		goto out;
	}
	if ((c.hi.lease == HS_LEASE_EXPIRED && (rc = again_begin(&c, &v)) < 0) ||
	    (rc = mg_enc_init(&c.l.e)) < 0)
		goto out;
	/* Pre-copy: the heap stays writable; each round ships what the
	 * destination lacks of a fresh checkpoint, until what changed since
	 * would go within the downtime budget at the rate seen.  A round
	 * after which nothing was written is the last (finish_early). */
	for (unsigned r = 0; r + 1 < rounds && !done && !c.expired; r++) {
		uint64_t t = mono_ms(), before = c.l.sent, dirty, rate;

		if ((rc = take(&c, &v)) < 0 || (rc = round_run(&c, v, false, &done)) < 0)
			goto out;
		rate = (c.l.sent - before) * 1000 / (mono_ms() - t + 1);   /* bytes a second */
		dirty = dirty_bytes(&c);
		if (dirty == 0 || (rate && dirty * 1000 / rate <= c.budget / 2))
			break;
	}
	if (!done) {
		/* Stop the heap (mapped pages first), unless a round did. */
		if (!c.expired) {
			if (o->flush_mapped)
				o->flush_mapped(c.hi.id, c.hi.name, o->arg);
			if ((rc = expire(&c)) < 0)
				goto out;
		}
		/* The final checkpoint: the last pre-copy one if nothing was
		 * written since (the destination has it all: the round only
		 * hands over the lease), else a new one. */
		if ((!unchanged_since(&c, v) && (rc = take(&c, &v)) < 0) ||
		    (rc = round_run(&c, v, true, &done)) < 0)
			goto out;
	}
	st->downtime_ms = mono_ms() - c.down;
	st->version = v;
	/* The far side may end now, while this side's record is synced. */
	(void)mg_msg_put(&c.l.e, MG_MSG_QUIT, NULL, 0);
	(void)link_flush(&c.l);
	/* The destination serves it now. */
	if ((rc = hs_heap_lease_set(c.h, HS_LEASE_MIGRATED, o->dest)) < 0)
		goto out;
	hs_event_post(c.h, "migrated %s", o->dest ? o->dest : "");
	c.expired = false;
out:
	if (c.expired) {
		char keep[512];

		snprintf(keep, sizeof(keep), "%s", hs_error_last());
		/* Not committed there, and not a hand-over to find out
		 * (c.hi is as the migration began): ours again. */
		if (!c.handed && c.hi.lease != HS_LEASE_EXPIRED) {
			(void)hs_heap_lease_set(c.h, HS_LEASE_HELD, NULL);
			hs_errno_set(rc, "%s", keep);
		} else if (c.refused) {   /* a re-run the destination turned away */
			hs_errno_set(rc, "%s; the heap stays read-only here: if no node has it "
				     "live, heapctl resume %s --force takes it back", keep, heap);
		} else {
			hs_errno_set(rc, "%s; the heap stays read-only here, as the destination "
				     "may have it live: migrate it there again to find out, or, if "
				     "that node is lost for good, heapctl resume %s --force", keep,
				     heap);
		}
	}
	if (listed)
		running_drop(&me);
	st->payload_bytes = c.l.data_sent;
	st->negotiation_bytes = c.l.sent + c.l.recvd - c.l.data_sent;
	st->total_ms = mono_ms() - t0;
	link_free(&c.l);
	hs_heap_close(c.h);
	return rc;
}

/* ==== the destination ==================================================== */

struct dst {
	hs_store *s;
	const mg_serve_opts *o;
	struct link l;
	hs_import *imp;
	mg_dec *dec;
	mg_hello hello;
	uint64_t base;
	uint8_t base_ident[HS_IDENT_LEN];
	bool any_data;
	bool live_here;                   /* a final hello for what is live here */
	bool unknown;                     /* the round's commit may be in after all */
	struct mg__batch batch;           /* blobs gathered for their checks */
	int err;                          /* the round failed here: said at its end */
	char err_msg[MG_MSG_TEXT_MAX + 1];
	char name[HS_NAME_MAX + 1];
};

static int dec_heap(void *arg, const mg_heap_hdr *h)
{
	struct dst *d = arg;

	/* The stream must be the heap the hello named, from the base agreed. */
	if (memcmp(h->ident, d->hello.ident, HS_IDENT_LEN) != 0 ||
	    h->line_size != d->hello.line_size || h->base_version != d->base)
		return hs_errno_set(-EBADMSG, "the stream is not the heap or base negotiated");
	return 0;
}

static int dec_version(void *arg, const mg_version_hdr *v)
{
	return hs_import_version(((struct dst *)arg)->imp, &v->vi, v->parent);
}

static int dec_lines(void *arg, const hs_xline *l, size_t n)
{
	return hs_import_lines(((struct dst *)arg)->imp, l, n);
}

static int dec_blob(void *arg, const uint8_t *hash, const void *frame, size_t len)
{
	struct dst *d = arg;

	return mg__batch_add(&d->batch, d->imp, hash, frame, len);
}

/* The copy here holds the source's newest checkpoint (the same one). */
static bool holds_newest(struct dst *d, hs_heap *h, hs_version_info *vi)
{
	const struct mg_hello_v *newest = d->hello.n ? &d->hello.v[d->hello.n - 1] : NULL;

	return newest && hs_version_info_get(h, newest->version, vi) == 0 &&
	       memcmp(vi->ident, newest->ident, HS_IDENT_LEN) == 0;
}

/*
 * The copy here was committed live: it holds the lease, or held it and was
 * handed on (@hi: migrated, or its lease expired with where it went).  A
 * final hello whose newest checkpoint it holds is a source asking again
 * after a hand-over whose answer it lost (or whose daemon died): that
 * hand-over was committed here.  The round carries nothing, and its answer
 * lets the source mark the heap migrated (d->live_here).  A copy that moved
 * on is never replaced by such a re-run (that would make it live twice),
 * unless it is older than the source's (d->base: its newest is one of the
 * source's, so the hand-over never arrived, and the round goes on).
 */
static int handed_here(struct dst *d, hs_heap *h, const hs_heap_info *hi)
{
	unsigned long long newest = d->hello.n ? d->hello.v[d->hello.n - 1].version : 0;
	hs_version_info vi;

	if ((d->hello.flags & MG_HELLO_FINAL) && holds_newest(d, h, &vi)) {
		d->base = vi.version;
		memcpy(d->base_ident, vi.ident, HS_IDENT_LEN);
		d->live_here = true;
		return 0;
	}
	if (hi->lease == HS_LEASE_HELD && (d->hello.flags & MG_HELLO_AGAIN))
		return hs_errno_set(-EBUSY, "heap '%s' is live there but lacks checkpoint %llu, "
				    "the one this node handed over (deleted there since, or the "
				    "copies diverged): keep one and heapctl rm the other", d->name,
				    newest);
	if (hi->lease == HS_LEASE_HELD)
		return hs_errno_set(-EBUSY, "heap '%s' is live there (it holds the lease; if the "
				    "source is stale, rm it there or resume it here)", d->name);
	if (d->base)
		return 0;
	return hs_errno_set(-EBUSY, "heap '%s' there was live and moved on to %s since: "
			    "it is not the copy this node handed over (it lacks checkpoint "
			    "%llu); heapctl rm the stale one", d->name,
			    *hi->moved_to ? hi->moved_to : "another node", newest);
}

/*
 * A re-run, whose hello ends at the checkpoint its source handed over:
 * *@took says whether this node took that very hand-over, whatever became
 * of its copy since (handed on, overwritten by another source's pre-copy,
 * deleted): its record of hand-overs taken tells.  Without one (not
 * taken, or taken by a build before these records) it did not.
 */
static int took_handover(struct dst *d, bool *took)
{
	const struct mg_hello_v *newest = d->hello.n ? &d->hello.v[d->hello.n - 1] : NULL;
	hs_handover ho;
	int rc;

	*took = false;
	if (!newest || (rc = hs_handover_get(d->s, d->hello.ident, newest->ident, &ho)) == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	*took = true;
	return 0;
}

/*
 * Hello: find the copy here and the base (its newest checkpoint, which
 * must be one the source holds), and begin the round's import.
 */
static int serve_hello(struct dst *d, const uint8_t *p, size_t n, char *why, size_t cap)
{
	hs_import_params ip;
	hs_version_info vi;
	hs_heap_info hi;
	uint8_t base_ident[HS_IDENT_LEN] = { 0 };
	hs_heap *h = NULL;
	bool exists, took = false;
	int rc;

	mg_hello_free(&d->hello);
	if ((rc = mg_hello_get(&d->hello, p, n)) < 0)
		return rc;
	/* A store whose writes failed may show what never reached its disk
	 * (a commit whose sync failed): nothing is decided from it. */
	if ((rc = hs_store_write_error(d->s)) < 0) {
		rc = hs_errno_set(rc, "the store there stopped writing after a write failed "
				  "(%s): remount it, then migrate again", strerror(-rc));
		goto out;
	}
	if ((d->hello.flags & MG_HELLO_AGAIN) && (rc = took_handover(d, &took)) < 0)
		goto out;
	strcpy(d->name, d->hello.name);
	d->base = 0;
	d->live_here = false;
	rc = hs_heap_open(&h, d->s, d->name);
	exists = rc == 0;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (d->o && d->o->allow && (rc = d->o->allow(d->o->arg, d->name, exists)) < 0)
		goto out;
	if (exists) {
		if ((rc = hs_heap_info_get(h, &hi)) < 0)
			goto out;
		if (memcmp(hi.ident, d->hello.ident, HS_IDENT_LEN) != 0) {
			rc = hs_errno_set(-EEXIST, "another heap named '%s' exists there", d->name);
			goto out;
		}
		if (hi.latest && (rc = hs_version_info_get(h, hi.latest, &vi)) == 0) {
			for (uint32_t i = 0; i < d->hello.n; i++) {
				if (d->hello.v[i].version == vi.version &&
				    memcmp(d->hello.v[i].ident, vi.ident, HS_IDENT_LEN) == 0)
					d->base = vi.version;
			}
			memcpy(base_ident, vi.ident, HS_IDENT_LEN);
		}
		if (rc < 0)
			goto out;
		/* Held, or handed on from here, asked by a re-run. */
		if ((hi.lease == HS_LEASE_HELD ||
		     ((d->hello.flags & MG_HELLO_AGAIN) &&
		      (hi.lease == HS_LEASE_MIGRATED || *hi.moved_to))) &&
		    ((rc = handed_here(d, h, &hi)) < 0 || d->live_here))
			goto out;
	}
	/* A re-run whose hand-over this node took, its copy here not showing
	 * it (gone, moved on, or changed since): never made live again. */
	if (took) {
		rc = hs_errno_set(-EBUSY, "heap '%s' there took checkpoint %llu handed over, "
				  "and its copy there went or changed since: it may be live "
				  "elsewhere", d->name,
				  (unsigned long long)d->hello.v[d->hello.n - 1].version);
		goto out;
	}
	if (exists) {
		if (!d->base) {
			/*
			 * Its copy here ends at a checkpoint the source no longer
			 * holds (its retention dropped it, or they diverged).  The
			 * copy is not live here, so it goes and the round starts
			 * afresh: its contents stay as garbage, which counts as
			 * held, so they do not travel again.
			 */
			hs_heap_close(h);
			h = NULL;
			if ((rc = hs_heap_delete(d->s, d->name)) < 0)
				goto out;
			if (d->o && d->o->dropped)
				d->o->dropped(d->o->arg, hi.id);
			exists = false;
		}
	}
	memset(&ip, 0, sizeof(ip));
	ip.name = d->name;
	memcpy(ip.ident, d->hello.ident, HS_IDENT_LEN);
	ip.line_size = d->hello.line_size;
	ip.created_ns = d->hello.created_ns;
	ip.incremental = exists;
	memcpy(ip.base, base_ident, HS_IDENT_LEN);
	memcpy(d->base_ident, base_ident, HS_IDENT_LEN);
	ip.lease = (d->hello.flags & MG_HELLO_FINAL) ? HS_LEASE_HELD : HS_LEASE_EXPIRED;
	ip.carried_only = d->o ? d->o->carried_only : 0;
	ip.migration = 1;
	if (d->o && d->o->owned) {
		ip.owned = 1;
		ip.uid = d->o->uid;
		ip.gid = d->o->gid;
		ip.mode = d->o->mode;
	}
	mg__batch_free(&d->batch, d->imp);
	hs_import_free(d->imp);
	d->imp = NULL;
	rc = hs_import_begin(&d->imp, d->s, &ip);
out:
	hs_heap_close(h);
	if (rc < 0)
		snprintf(why, cap, "%s", hs_error_last());
	return rc;
}

static int serve_offer(struct dst *d, const uint8_t *p, size_t n)
{
	const uint8_t *ids;
	uint8_t *bits, *found = NULL, (*hashes)[HS_HASH_LEN] = NULL;
	size_t count;
	int rc;

	if (!d->imp)
		return hs_errno_set(-EBADMSG, "an offer before a hello");
	if ((rc = mg_offer_get(p, n, &ids, &count)) < 0)
		return rc;
	if (!(bits = calloc((count + 7) / 8 + 1, 1)) || !(found = calloc(count + 1, 1)) ||
	    !(hashes = malloc((count + 1) * HS_HASH_LEN))) {
		rc = hs_errno_set(-ENOMEM, "out of memory");
		goto out;
	}
	/* A short id names what this store holds under it; the stream's full
	 * hash decides at the commit (a rare collision fails it, safely). */
	if (!(d->o && d->o->carried_only) &&
	    (rc = hs_blob_find_prefixes(d->s, ids, MG_SHORT_ID, count, hashes, found)) < 0)
		goto out;
	for (size_t i = 0; i < count && rc >= 0; i++) {
		if (found[i] && (rc = hs_import_have(d->imp, hashes[i])) == 1)
			bits[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	if (rc >= 0)
		rc = mg_answer_put(&d->l.e, bits, count);
out:
	free(hashes);
	free(found);
	free(bits);
	return rc < 0 ? rc : link_flush(&d->l);
}

/* The round's stream is whole: commit it (or, with no new version, only
 * the lease), and say so.  @finish: the source ended it with 'f', so the
 * round is final though its hello did not say so. */
static int serve_end(struct dst *d, bool finish)
{
	bool final = finish || (d->hello.flags & MG_HELLO_FINAL) != 0, changed = d->any_data;
	uint64_t version = d->base;
	hs_heap *h;
	int rc;

	if (d->live_here) {   /* committed here before: nothing changes */
		d->live_here = false;
		return link_result(&d->l, 0, d->base, NULL);
	}
	if (!d->imp)
		return hs_errno_set(-EBADMSG, "an end before a hello");
	if (d->any_data) {
		if (finish)   /* a final hello began the import live already */
			hs_import_lease_set(d->imp, HS_LEASE_HELD);
		if ((rc = mg_dec_finish(d->dec)) == 0 && (rc = mg__batch_flush(&d->batch, d->imp)) == 0)
			rc = hs_import_commit(d->imp, &version);
	} else if (!d->base) {
		rc = hs_errno_set(-EBADMSG, "a round with nothing to send for a new heap");
	} else if ((rc = hs_heap_open(&h, d->s, d->name)) == 0) {
		/* It has every version already: only the lease changes. */
		int was = hs_store_write_error(d->s);

		if (final && (rc = hs_heap_lease_take_over(h, d->base, d->base_ident)) < 0 &&
		    !was && hs_store_write_error(d->s))
			d->unknown = true;   /* its one synced write may be in */
		hs_heap_close(h);
	}
	if (rc < 0 && d->imp && hs_import_outcome_unknown(d->imp))
		d->unknown = true;
	if (rc == 0 && d->o && d->o->received)
		d->o->received(d->o->arg, d->name, version, changed, final, d->imp);
	if (rc == 0)
		rc = link_result(&d->l, 0, version, NULL);
	/* After the answer: its staging heap goes to the store's purger. */
	mg__batch_free(&d->batch, d->imp);
	hs_import_free(d->imp);
	d->imp = NULL;
	mg_dec_free(d->dec);
	d->dec = NULL;
	d->any_data = false;
	return rc;
}

int mg_serve(hs_store *s, const mg_io *in, const mg_io *out, const mg_serve_opts *o)
{
	static const mg_dec_cb cb = { dec_heap, dec_version, dec_lines, dec_blob, NULL };
	struct dst d = { .s = s, .o = o, .l = { .in = in, .out = out } };
	char why[MG_MSG_TEXT_MAX + 1];
	int rc;

	mg__io_widen(in);
	mg__io_widen(out);
	if ((rc = mg_enc_init(&d.l.e)) < 0)
		return rc;
	for (;;) {
		const uint8_t *p = NULL;   /* link_read() sets all three when it */
		uint8_t type = 0;          /* returns 0 (-O3 cannot tell) */
		size_t n = 0;

		if ((rc = link_read(&d.l, &type, &p, &n)) < 0) {
			/* The source's messages stopped (or came garbled) before
			 * a round's end: say that nothing was committed, should
			 * the way back still be open (a pipe cut one way), so
			 * the source knows it may take its lease back. */
			char keep[512];

			snprintf(keep, sizeof(keep), "%s", hs_error_last());
			snprintf(why, sizeof(why), "the source's messages stopped (%s): "
				 "nothing was committed in this round", keep);
			(void)link_result(&d.l, rc, 0, why);
			hs_errno_set(rc, "%s", keep);
			break;
		}
		if (type == MG_MSG_QUIT) {
			rc = 0;
			break;
		}
		if (type == MG_MSG_HELLO) {
			why[0] = '\0';
			rc = serve_hello(&d, p, n, why, sizeof(why));
			if (mg_reply_put(&d.l.e, rc, rc < 0 ? 0 : d.base, d.base_ident, why) < 0 ||
			    link_flush(&d.l) < 0)
				break;
			if (rc == -EBADMSG)
				break;
			continue;   /* a refused hello is an answer, not the end */
		}
		if (type == MG_MSG_OFFER) {
			if ((rc = serve_offer(&d, p, n)) < 0)
				break;
			continue;
		}
		if (type == MG_MSG_DATA) {
			if (!d.imp) {
				rc = hs_errno_set(-EBADMSG, "data before a hello");
				break;
			}
			/* A stream refused (damaged, or no room here) is read to its
			 * end and the refusal is the round's answer: the source then
			 * takes its lease back and may try again. */
			if (!d.err && !d.dec && (rc = mg_dec_new(&d.dec, &cb, &d)) < 0)
				break;
			d.any_data = true;
			if (!d.err && (rc = mg_dec_feed(d.dec, p, n)) < 0) {
				d.err = rc;
				snprintf(d.err_msg, sizeof(d.err_msg), "%s", hs_error_last());
			}
			continue;
		}
		if (type == MG_MSG_END || type == MG_MSG_FINAL) {
			rc = d.err ? d.err : serve_end(&d, type == MG_MSG_FINAL);
			if (rc < 0 && d.unknown) {
				/* The store's writes failed in the commit, which may
				 * be in after all (at its next open): no answer
				 * rather than a wrong one.  A final round's source
				 * then keeps the heap read-only until a re-run here
				 * finds out. */
				char keep[512];

				snprintf(keep, sizeof(keep), "%s", hs_error_last());
				hs_errno_set(rc, "%s; whether the round was committed is not known "
					     "until this store is reopened", keep);
				break;
			}
			if (rc < 0) {   /* the round failed: say why, keep serving */
				snprintf(why, sizeof(why), "%s", d.err ? d.err_msg : hs_error_last());
				if (d.imp)   /* what arrived whole is kept, as garbage */
					(void)mg__batch_flush(&d.batch, d.imp);
				mg__batch_free(&d.batch, d.imp);
				hs_import_free(d.imp);   /* its verified blobs stay, as garbage */
				d.imp = NULL;
				mg_dec_free(d.dec);
				d.dec = NULL;
				d.any_data = false;
				d.err = 0;
				if (link_result(&d.l, rc, 0, why) < 0)
					break;
			}
			continue;
		}
		rc = hs_errno_set(-EBADMSG, "a '%c' message out of place", type);
		break;
	}
	/* Whatever the round had staged goes (its verified blobs as garbage,
	 * those gathered but not yet checked too, for a re-run to find). */
	if (d.imp)
		(void)mg__batch_flush(&d.batch, d.imp);
	mg__batch_free(&d.batch, d.imp);
	hs_import_free(d.imp);
	mg_dec_free(d.dec);
	mg_hello_free(&d.hello);
	link_free(&d.l);
	return rc;
}
