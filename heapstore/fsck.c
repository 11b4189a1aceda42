/*
 * fsck.c - checking a whole store against its own invariants, and with
 * HS_FSCK_REPAIR fixing the few things that can be fixed without guessing
 * (see hs_store_fsck() in heapstore.h).
 *
 * One pass per column family, all through one snapshot.  The heaps and
 * their versions are read first (meta), then every line entry is checked
 * against them and collected: 56 bytes per entry (hash, line, version, heap
 * index).  fsck is an offline tool, and the live paths never need this.
 * Sorted by hash, the entries give each blob's true reference count, which
 * must equal its refs record, and name the lines a bad blob breaks; sorted
 * by (heap, version, line) they are walked beside the changes family, since
 * every line entry at version v has a change record (id, v, line) and
 * every change record has its entry (hs_line__stage writes and deletes the
 * two together, and deleting a checkpoint moves both to the next version).
 *
 * Repair (HS_FSCK_REPAIR) does only this, in one synced WriteBatch written
 * after every pass, so a failure leaves the store as it was:
 *
 *   counts   every refs record gets the recount: a wrong count is rewritten,
 *            a missing record with entries is created, a malformed one is
 *            rewritten, or deleted when nothing refers to its hash.  Sizes
 *            come from the blob (stored = its frame length when the record
 *            has none, raw = its content size).  Each live heap's line
 *            counter ('C') gets the recount of its non-zero live lines, a
 *            counter of a missing heap is deleted, and the heap id counter
 *            ('I') is raised above the largest heap id if it is not.
 *
 *   lost     a referenced blob that is missing, or corrupt (checked by
 *            decompressing and re-hashing: repair implies
 *            HS_FSCK_VERIFY_DATA), is "dropped": a corrupt blob is deleted,
 *            so every such blob is consistently missing, and its refs record
 *            becomes (count = entries naming the hash, stored = 0, raw = line
 *            size).  The line entries stay as they are - there is no value
 *            that means "lost" - so each such line reads as -EUCLEAN ("blob
 *            ... is missing") in every version that holds it, until it is
 *            rewritten.  The count stays the number of entries so that
 *            rewriting or dropping those entries later (which subtracts one
 *            reference each) brings it to exactly 0, never below; stored = 0
 *            tells the write path's dedup probe that no copy exists, so
 *            writing that same content anywhere stores the blob again, and
 *            every line naming it reads again.  A natural record never has a
 *            positive count with 0 stored bytes, so fsck recognises the mark
 *            afterwards: such entries are reported as lost lines
 *            (HS_FSCK_LOST, not errors), the store fscks clean.
 *
 * Everything else (malformed entries and records, entries of missing heaps
 * or versions, entries without change records and the reverse, dangling
 * names and labels) is reported and left alone: fixing it means choosing
 * which data to believe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapstore_int.h"

struct fsck_heap {
	uint64_t id;
	struct hs_heap_rec rec;
	uint64_t *versions;           /* sealed, ascending */
	size_t n_versions, cap_versions;
	int64_t live_lines;           /* non-zero lines at the working version */
	int64_t referenced, unique;   /* recounted bytes (blob.c, accounting) */
	int64_t referenced_was, unique_was;   /* the same before this repair's
						 lost blobs: a figure that only
						 follows them is fixed silently */
	uint64_t last_line;           /* the line being counted */
	bool last_line_counted;
};

#define NO_HEAP UINT32_MAX

enum entry_kind { ENTRY_HASH, ENTRY_ZERO, ENTRY_BAD };

/* One line entry. */
struct fsck_entry {
	uint8_t hash[HS_HASH_LEN];    /* ENTRY_HASH only */
	uint64_t line, ver;
	uint32_t heap;                /* index in fsck.heaps, or NO_HEAP */
	uint8_t kind;
};

struct fsck {
	hs_store *s;
	int flags;
	bool repair;
	hs_fsck_cb cb;
	void *payload;
	ssize_t problems;             /* errors left in the store */
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;    /* reads through snap */
	rocksdb_writebatch_t *wb;     /* the repairs, with HS_FSCK_REPAIR */
	uint64_t next_heap_id;        /* 'I'; 0 if unreadable */
	uint64_t max_heap_id;         /* of every heap record, damaged or not */
	struct fsck_heap *heaps;
	size_t n_heaps, cap_heaps;
	struct fsck_entry *entries;
	size_t n_entries, cap_entries;
	bool fix_space;               /* repair the space figures (and only them,
					 without HS_FSCK_REPAIR): hs_fsck__space() */
	struct fsck_href *hrefs;      /* the recount of hrefs, in key order */
	size_t n_hrefs, cap_hrefs;
	struct fsck_garbage *garbage; /* the garbage records there must be, */
	size_t n_garbage, cap_garbage;/* in hash order */
	int64_t totals[HS_TOTAL_COUNT], totals_was[HS_TOTAL_COUNT];
};

/* A garbage record ('G' hash -> le64 stored) there must be: a blob with a
 * reference record and no entry naming it. */
struct fsck_garbage {
	uint8_t hash[HS_HASH_LEN];
	uint64_t stored;
};

/* What one hrefs record must say. */
struct fsck_href {
	uint8_t key[HS_HREF_KEY_LEN];
	int64_t count;
	uint32_t stored, stored_was;
};

static void emit(struct fsck *f, const char *prefix, const char *fix, const char *fmt,
		 va_list ap) __attribute__((format(printf, 4, 0)));
static void emit(struct fsck *f, const char *prefix, const char *fix, const char *fmt,
		 va_list ap)
{
	char line[768];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s", prefix);

	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	if (fix)
		snprintf(line + n, sizeof(line) - n, "; %s", fix);
	if (f->cb)
		f->cb(line, f->payload);
}

/* A problem repair leaves alone: an error. */
static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(f, "", NULL, fmt, ap);
	va_end(ap);
	f->problems++;
}

/* A problem repair fixes (saying how in @fix): an error unless repairing. */
static void fixable(struct fsck *f, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fixable(struct fsck *f, const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (f->repair) {
		emit(f, HS_FSCK_REPAIRED, fix, fmt, ap);
	} else {
		emit(f, "", NULL, fmt, ap);
		f->problems++;
	}
	va_end(ap);
}

/* A line whose content an earlier repair dropped: not an error. */
static void lost(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lost(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(f, HS_FSCK_LOST, NULL, fmt, ap);
	va_end(ap);
}

static struct fsck_heap *heap_find(struct fsck *f, uint64_t id)
{
	size_t lo = 0, hi = f->n_heaps;

	while (lo < hi) {   /* heaps are read in id order */
		size_t mid = (lo + hi) / 2;

		if (f->heaps[mid].id == id)
			return &f->heaps[mid];
		if (f->heaps[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool version_known(const struct fsck_heap *h, uint64_t v)
{
	size_t lo = 0, hi = h->n_versions;

	if (v == h->rec.head)
		return true;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h->versions[mid] == v)
			return true;
		if (h->versions[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* "line 3" or "state line 3". */
static const char *line_name(char *buf, size_t cap, uint64_t line)
{
	snprintf(buf, cap, "%sline %llu", line & HS_STATE_LINE ? "state " : "",
		 (unsigned long long)(line & ~HS_STATE_LINE));
	return buf;
}

/* Where entry @e is: "heap 'x' line 3 version 1". */
static const char *entry_name(struct fsck *f, const struct fsck_entry *e, char *buf,
			      size_t cap)
{
	char ln[48];

	line_name(ln, sizeof(ln), e->line);
	if (e->heap == NO_HEAP)
		snprintf(buf, cap, "%s version %llu of a missing heap", ln,
			 (unsigned long long)e->ver);
	else
		snprintf(buf, cap, "heap '%s' %s version %llu", f->heaps[e->heap].rec.name, ln,
			 (unsigned long long)e->ver);
	return buf;
}

static rocksdb_iterator_t *scan(struct fsck *f, enum hs_cf cf)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(f->s->db, f->ro, f->s->cf[cf]);

	rocksdb_iter_seek_to_first(it);
	return it;
}

static int scan_end(rocksdb_iterator_t *it, const char *what)
{
	char *err = NULL;

	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	return err ? hs_rdb_error(err, what) : 0;
}

/* A run's reads: one snapshot, in total order (refs has a prefix filter). */
static void fsck_begin(struct fsck *f)
{
	f->snap = rocksdb_create_snapshot(f->s->db);
	f->ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_total_order_seek(f->ro, 1);
	rocksdb_readoptions_set_snapshot(f->ro, f->snap);
}

/* The reads end; what the checks gathered goes. */
static void fsck_end(struct fsck *f)
{
	rocksdb_readoptions_destroy(f->ro);
	rocksdb_release_snapshot(f->s->db, f->snap);
	for (size_t i = 0; i < f->n_heaps; i++)
		free(f->heaps[i].versions);
	free(f->heaps);
	free(f->entries);
	free(f->hrefs);
	free(f->garbage);
}

static void put(struct fsck *f, enum hs_cf cf, const void *key, size_t kl, const void *v,
		size_t vl)
{
	if (f->repair)
		rocksdb_writebatch_put_cf(f->wb, f->s->cf[cf], key, kl, v, vl);
}

static void put_ref(struct fsck *f, const uint8_t *hash, int64_t count, uint32_t stored,
		    uint32_t raw)
{
	uint8_t v[HS_REF_VALUE_LEN];

	hs_le64_put(v, (uint64_t)count);
	hs_le32_put(v + 8, stored);
	hs_le32_put(v + 12, raw);
	put(f, HS_CF_REFS, hash, HS_HASH_LEN, v, sizeof(v));
}

static void put_counter(struct fsck *f, const uint8_t *key, size_t kl, uint64_t value)
{
	uint8_t v[8];

	hs_le64_put(v, value);
	put(f, HS_CF_META, key, kl, v, sizeof(v));
}

static void del(struct fsck *f, enum hs_cf cf, const void *key, size_t kl)
{
	if (f->repair)
		rocksdb_writebatch_delete_cf(f->wb, f->s->cf[cf], key, kl);
}

/* The space figures' fixes: with HS_FSCK_REPAIR, or alone (fix_space). */
static void space_put(struct fsck *f, enum hs_cf cf, const void *key, size_t kl,
		      const void *v, size_t vl)
{
	if (f->repair || f->fix_space)
		rocksdb_writebatch_put_cf(f->wb, f->s->cf[cf], key, kl, v, vl);
}

static void space_del(struct fsck *f, enum hs_cf cf, const void *key, size_t kl)
{
	if (f->repair || f->fix_space)
		rocksdb_writebatch_delete_cf(f->wb, f->s->cf[cf], key, kl);
}

/* Pass 1: meta.  Heap records, then versions, names, labels, counters. */
static int check_meta(struct fsck *f)
{
	rocksdb_iterator_t *it = scan(f, HS_CF_META);
	int rc = 0;

	for (; rocksdb_iter_valid(it) && rc == 0; rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint64_t id = kl >= 9 ? hs_be64_get(k + 1) : 0;
		struct fsck_heap *h;
		hs_version_info vi;

		switch (kl ? k[0] : 0) {
		case 'I':
			if (kl == 1 && vl == 8)
				f->next_heap_id = hs_le64_get(v);
			break;
		case 'H':
			if ((rc = hs_grow((void **)&f->heaps, &f->cap_heaps, f->n_heaps,
					  sizeof(*f->heaps))) < 0)
				break;
			h = &f->heaps[f->n_heaps];
			memset(h, 0, sizeof(*h));
			h->id = id;
			if (id > f->max_heap_id)
				f->max_heap_id = id;
			if (kl != 9 || hs_heap_rec__decode(&h->rec, v, vl) < 0) {
				problem(f, "heap %llu: damaged record: %s", (unsigned long long)id,
					hs_error_last());
				break;
			}
			f->n_heaps++;
			break;
		case 'V':
			if (!(h = heap_find(f, id))) {
				problem(f, "checkpoint record for missing heap %llu",
					(unsigned long long)id);
				break;
			}
			if (kl != 17 || hs_version_rec__decode(&vi, v, vl) < 0 ||
			    vi.version != hs_be64_get(k + 9)) {
				problem(f, "heap '%s' checkpoint %llu: damaged record", h->rec.name,
					kl == 17 ? (unsigned long long)hs_be64_get(k + 9) : 0ULL);
				break;
			}
			if (vi.version >= h->rec.head)
				problem(f, "heap '%s' checkpoint %llu: not below the working version %llu",
					h->rec.name, (unsigned long long)vi.version,
					(unsigned long long)h->rec.head);
			if ((rc = hs_grow((void **)&h->versions, &h->cap_versions, h->n_versions,
					  sizeof(*h->versions))) == 0)
				h->versions[h->n_versions++] = vi.version;
			break;
		default:
			break;
		}
	}
	rc = scan_end(it, "fsck: reading meta") ?: rc;
	if (rc < 0)
		return rc;

	/* The heap id counter must be above every heap, or a new heap reuses an id. */
	if (f->next_heap_id && f->next_heap_id <= f->max_heap_id) {
		uint64_t want = f->max_heap_id + 1;
		uint8_t key = 'I';
		char fix[64];

		snprintf(fix, sizeof(fix), "set to %llu", (unsigned long long)want);
		fixable(f, fix, "heap id counter %llu is not above heap %llu",
			(unsigned long long)f->next_heap_id,
			(unsigned long long)f->max_heap_id);
		put_counter(f, &key, 1, want);
		f->next_heap_id = want;
	}

	/* Second look at meta: names, labels and counters point at the above. */
	it = scan(f, HS_CF_META);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint64_t id = kl >= 9 ? hs_be64_get(k + 1) : 0;
		struct fsck_heap *h;

		if (!kl)
			continue;
		if (k[0] == 'N') {
			h = vl == 8 ? heap_find(f, hs_be64_get(v)) : NULL;
			if (!h || h->rec.state != HS_HEAP_LIVE ||
			    kl - 1 != strlen(h->rec.name) || memcmp(k + 1, h->rec.name, kl - 1))
				problem(f, "name '%.*s' points at no live heap of that name",
					(int)(kl - 1), (const char *)k + 1);
		} else if (k[0] == 'L') {
			uint64_t ver = vl == 8 ? hs_be64_get(v) : 0;

			h = heap_find(f, id);
			if (!h || !ver || ver == h->rec.head || !version_known(h, ver))
				problem(f, "heap %llu label '%.*s' points at missing checkpoint %llu",
					(unsigned long long)id, (int)(kl - 9), (const char *)k + 9,
					(unsigned long long)ver);
		} else if (k[0] == 'D') {
			hs_handover ho = { .version = 0 };
			uint8_t val[HS_HANDOVER_LEN];

			/* What counts is that the key is there (a re-run of that
			 * hand-over is refused here): a damaged value is
			 * rewritten, never dropped (STREAM.md). */
			if (kl != HS_HANDOVER_KEY_LEN) {
				fixable(f, "deleted", "hand-over record with a %zu-byte key", kl);
				del(f, HS_CF_META, k, kl);
			} else if (hs_handover__decode(&ho, v, vl) < 0) {
				fixable(f, "rewritten as unknown", "hand-over record damaged "
					"(%zu bytes)", vl);
				hs_handover__encode(val, &ho);   /* version 0: unknown */
				put(f, HS_CF_META, k, kl, val, sizeof(val));
			}
		} else if ((k[0] == 'C' || k[0] == 'R' || k[0] == 'U') &&
			   (kl != 9 || !heap_find(f, id))) {
			/* A heap whose record is damaged (reported above) keeps its counter. */
			uint8_t hkey[HS_META_KEY_MAX];
			char *val = NULL;
			size_t hl = hs_key__meta(hkey, 'H', id, NULL), hvl;
			int rc2 = kl == 9 ? hs_store__get(f->s, HS_CF_META, f->ro, hkey, hl,
							  &val, &hvl) : -ENOENT;

			rocksdb_free(val);
			if (rc2 == -ENOENT) {
				fixable(f, "deleted", "%s counter of missing heap %llu",
					k[0] == 'C' ? "line" : k[0] == 'R' ? "referenced bytes" :
					"unique bytes", (unsigned long long)id);
				if (k[0] == 'C')
					del(f, HS_CF_META, k, kl);
				else
					space_del(f, HS_CF_META, k, kl);
			} else if (rc2 < 0) {
				rc = rc2;
				break;
			}
		}
	}
	rc = scan_end(it, "fsck: reading meta") ?: rc;
	return rc;
}

static int entry_add(struct fsck *f, uint32_t heap, uint64_t line, uint64_t ver,
		     enum entry_kind kind, const uint8_t *hash)
{
	struct fsck_entry *e;
	int rc = hs_grow((void **)&f->entries, &f->cap_entries, f->n_entries,
			 sizeof(*f->entries));

	if (rc < 0)
		return rc;
	e = &f->entries[f->n_entries++];
	memset(e, 0, sizeof(*e));
	if (kind == ENTRY_HASH)
		memcpy(e->hash, hash, HS_HASH_LEN);
	e->line = line;
	e->ver = ver;
	e->heap = heap;
	e->kind = (uint8_t)kind;
	return 0;
}

/* Pass 2: line entries.  Each must belong to a heap and an existing version. */
static int check_lines(struct fsck *f)
{
	rocksdb_iterator_t *it = scan(f, HS_CF_LINES);
	int rc = 0;

	for (; rocksdb_iter_valid(it) && rc == 0; rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		uint64_t id, line, ver;
		struct fsck_heap *h;
		enum entry_kind kind = vl == HS_HASH_LEN ? ENTRY_HASH :
				       vl == 0 ? ENTRY_ZERO : ENTRY_BAD;
		char ln[48];

		if (kl != HS_LINE_KEY_LEN) {
			problem(f, "line entry with a %zu-byte key", kl);
			continue;
		}
		hs_key__line_parse(k, &id, &line, &ver);
		if (!(h = heap_find(f, id))) {
			problem(f, "line %llu version %llu of missing heap %llu",
				(unsigned long long)line, (unsigned long long)ver,
				(unsigned long long)id);
			/* It still holds a reference: count it. */
			if (kind == ENTRY_HASH)
				rc = entry_add(f, NO_HEAP, line, ver, kind, v);
			continue;
		}
		line_name(ln, sizeof(ln), line);
		if (kind == ENTRY_BAD)
			problem(f, "heap '%s' %s version %llu: entry of %zu bytes",
				h->rec.name, ln, (unsigned long long)ver, vl);
		else if (ver > h->rec.head || !version_known(h, ver))
			problem(f, "heap '%s' %s: entry for missing version %llu",
				h->rec.name, ln, (unsigned long long)ver);
		/*
		 * The first entry of a line at or below the head is its live value
		 * (a malformed one reads as an error: not a non-zero line).
		 */
		if (ver <= h->rec.head && (!h->last_line_counted || h->last_line != line)) {
			h->last_line = line;
			h->last_line_counted = true;
			h->live_lines += kind == ENTRY_HASH && !(line & HS_STATE_LINE);
		}
		rc = entry_add(f, (uint32_t)(h - f->heaps), line, ver, kind, v);
	}
	return scan_end(it, "fsck: reading lines") ?: rc;
}

/* Live line counters against the recount. */
static int check_counters(struct fsck *f)
{
	for (size_t i = 0; i < f->n_heaps; i++) {
		struct fsck_heap *h = &f->heaps[i];
		uint8_t key[HS_META_KEY_MAX];
		size_t kl = hs_key__meta(key, 'C', h->id, NULL);
		char *val = NULL, fix[64];
		size_t vl = 0;
		int64_t stored = 0;
		int rc;

		if (h->rec.state != HS_HEAP_LIVE)
			continue;
		rc = hs_store__get(f->s, HS_CF_META, f->ro, key, kl, &val, &vl);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (val && vl == 8)
			stored = (int64_t)hs_le64_get((const uint8_t *)val);
		rocksdb_free(val);
		snprintf(fix, sizeof(fix), "set to %lld", (long long)h->live_lines);
		if (rc == 0 && vl != 8)
			fixable(f, fix, "heap '%s': line counter record of %zu bytes",
				h->rec.name, vl);
		else if (stored != h->live_lines)
			fixable(f, fix, "heap '%s': line counter says %lld non-zero lines, there are %lld",
				h->rec.name, (long long)stored, (long long)h->live_lines);
		else
			continue;
		put_counter(f, key, kl, (uint64_t)h->live_lines);
	}
	return 0;
}

/* By hash (hashed entries first), then by where, so reports are stable. */
static int entry_hash_cmp(const void *a, const void *b)
{
	const struct fsck_entry *x = a, *y = b;
	int d = (x->kind != ENTRY_HASH) - (y->kind != ENTRY_HASH);

	if (d)
		return d;
	if ((d = memcmp(x->hash, y->hash, HS_HASH_LEN)))
		return d;
	if (x->heap != y->heap)
		return x->heap < y->heap ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->ver < y->ver ? -1 : x->ver > y->ver;
}

/* By (heap, version, line), the order of the changes family. */
static int entry_change_cmp(const void *a, const void *b)
{
	const struct fsck_entry *x = a, *y = b;

	if (x->heap != y->heap)
		return x->heap < y->heap ? -1 : 1;
	if (x->ver != y->ver)
		return x->ver < y->ver ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

enum blob_kind { BLOB_SOUND, BLOB_MISSING, BLOB_BAD };

struct blob_state {
	enum blob_kind kind;
	size_t flen;                  /* SOUND: frame length */
	unsigned long long csize;     /* SOUND: content size */
	char why[256];                /* BAD: what is wrong */
};

/* A referenced blob: present, and with VERIFY_DATA decoding to its hash. */
static int blob_examine(struct fsck *f, const uint8_t *hash, struct blob_state *b)
{
	rocksdb_pinnableslice_t *ps;
	struct hs_scratch *sc;
	char *err = NULL;
	const char *frame;
	size_t flen;
	unsigned long long csize;
	uint8_t check[HS_HASH_LEN];

	b->kind = BLOB_SOUND;
	ps = rocksdb_get_pinned_cf(f->s->db, f->ro, f->s->cf[HS_CF_BLOBS],
				   (const char *)hash, HS_HASH_LEN, &err);
	if (err)
		return hs_rdb_error(err, "fsck: reading a blob");
	if (!ps) {
		b->kind = BLOB_MISSING;
		return 0;
	}
	frame = rocksdb_pinnableslice_value(ps, &flen);
	csize = ZSTD_getFrameContentSize(frame, flen);
	b->flen = flen;
	b->csize = csize;
	if (csize == ZSTD_CONTENTSIZE_ERROR || csize == ZSTD_CONTENTSIZE_UNKNOWN ||
	    csize < HS_LINE_SIZE_MIN || csize > HS_LINE_SIZE_MAX) {
		b->kind = BLOB_BAD;
		snprintf(b->why, sizeof(b->why), "not a zstd frame of a line");
	} else if (f->flags & HS_FSCK_VERIFY_DATA) {
		if (!(sc = hs_scratch__get())) {
			rocksdb_pinnableslice_destroy(ps);
			return -ENOMEM;
		}
		if (hs_codec__decompress(sc, frame, flen, sc->line, (size_t)csize) < 0) {
			b->kind = BLOB_BAD;
			snprintf(b->why, sizeof(b->why), "%s", hs_error_last());
		} else {
			hs_codec__hash(sc, sc->line, (size_t)csize, check);
			if (memcmp(check, hash, HS_HASH_LEN)) {
				b->kind = BLOB_BAD;
				snprintf(b->why, sizeof(b->why), "content does not match its hash");
			}
		}
	}
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

/*
 * One hash: its refs record (@v, @vl; NULL if none) against the @n entries
 * @e naming it, and the blob itself.  *@eff: the stored bytes its record
 * says once repaired (0: lost, or no valid record).
 */
static int check_hash_refs(struct fsck *f, const uint8_t *hash, const uint8_t *v, size_t vl,
			   const struct fsck_entry *e, size_t n, uint32_t *eff,
			   uint32_t *eff_was)
{
	const bool rec_ok = v && vl == HS_REF_VALUE_LEN;
	const int64_t count = rec_ok ? (int64_t)hs_le64_get(v) : 0;
	const uint32_t stored = rec_ok ? hs_le32_get(v + 8) : 0;
	const uint32_t raw = rec_ok ? hs_le32_get(v + 12) : 0;
	struct blob_state b;
	char hex[20], where[320], fix[320];
	bool put = false;
	int rc;

	*eff = *eff_was = rec_ok ? stored : 0;
	hs_hash_hex(hex, sizeof(hex), hash);
	if (n == 0) {
		if (v && !rec_ok) {
			fixable(f, "deleted", "blob %s: reference record of %zu bytes", hex, vl);
			del(f, HS_CF_REFS, hash, HS_HASH_LEN);
		} else if (count != 0) {
			fixable(f, "count set to 0",
				"blob %s: reference count %lld, but 0 entries refer to it", hex,
				(long long)count);
			put_ref(f, hash, 0, stored, raw);
		}
		return 0;
	}

	entry_name(f, &e[0], where, sizeof(where));
	if (n > 1)
		snprintf(where + strlen(where), sizeof(where) - strlen(where), " and %zu more",
			 n - 1);
	snprintf(fix, sizeof(fix), "count set to %zu", n);
	if (v && !rec_ok) {
		fixable(f, fix, "blob %s (%s): reference record of %zu bytes", hex, where, vl);
		put = true;
	} else if (count != (int64_t)n) {
		fixable(f, fix, "blob %s: reference count %lld, but %zu entries refer to it (%s)",
			hex, (long long)count, n, where);
		put = true;
	}

	if ((rc = blob_examine(f, hash, &b)) < 0)
		return rc;
	if (b.kind == BLOB_SOUND) {
		if (!put && (stored == 0 || raw != b.csize)) {
			fixable(f, "sizes set from the blob",
				"blob %s (%s): reference record says %u stored and %u raw bytes, "
				"the blob is %zu and %llu", hex, where, stored, raw, b.flen, b.csize);
			put = true;
		}
		/* The hash fixes the content's length: an entry of another line size is wrong. */
		for (size_t i = 0; i < n; i++) {
			if (e[i].heap != NO_HEAP && f->heaps[e[i].heap].rec.line_size != b.csize)
				problem(f, "%s: blob %s holds %llu bytes, the heap's lines are %u",
					entry_name(f, &e[i], where, sizeof(where)), hex, b.csize,
					f->heaps[e[i].heap].rec.line_size);
		}
		*eff = *eff_was = stored ? stored : (uint32_t)b.flen;
		if (put)
			put_ref(f, hash, (int64_t)n, *eff, (uint32_t)b.csize);
		return 0;
	}
	/* Lost once repaired; the figures that only follow from that are
	 * rewritten without a report of their own (check_space). */
	*eff = f->repair ? 0 : stored;
	*eff_was = stored;

	/* Missing or corrupt.  Marked lost by an earlier repair, unless the count is off. */
	if (!put && stored == 0 && b.kind == BLOB_MISSING) {
		for (size_t i = 0; i < n; i++)
			lost(f, "%s: content lost (blob %s is missing); rewrite the line",
			     entry_name(f, &e[i], where, sizeof(where)), hex);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		entry_name(f, &e[i], where, sizeof(where));
		if (b.kind == BLOB_MISSING)
			fixable(f, "marked lost: the line reads as an error until rewritten",
				"%s: blob %s is missing", where, hex);
		else
			fixable(f, "blob deleted, marked lost: the line reads as an error "
				"until rewritten", "%s: blob %s: %s", where, hex, b.why);
	}
	if (b.kind == BLOB_BAD)
		del(f, HS_CF_BLOBS, hash, HS_HASH_LEN);
	put_ref(f, hash, (int64_t)n, 0,
		raw ? raw : e[0].heap != NO_HEAP ? f->heaps[e[0].heap].rec.line_size : 0);
	return 0;
}

/*
 * The space figures a blob contributes: @n entries @e (sorted by heap index,
 * which is id order) naming a blob of @eff stored bytes.
 */
static int space_note(struct fsck *f, const uint8_t *hash, const struct fsck_entry *e,
		      size_t n, uint32_t eff, uint32_t was, bool record)
{
	if (n == 0) {
		if (record) {   /* garbage GC has not reclaimed yet */
			struct fsck_garbage *g;

			f->totals[HS_TOTAL_GARBAGE] += eff;
			f->totals_was[HS_TOTAL_GARBAGE] += was;
			f->totals[HS_TOTAL_GARBAGE_BLOBS]++;
			f->totals_was[HS_TOTAL_GARBAGE_BLOBS]++;
			if (hs_grow((void **)&f->garbage, &f->cap_garbage, f->n_garbage,
				    sizeof(*f->garbage)) < 0)
				return -ENOMEM;
			g = &f->garbage[f->n_garbage++];
			memcpy(g->hash, hash, HS_HASH_LEN);
			g->stored = eff;
		}
		return 0;
	}
	f->totals[HS_TOTAL_STORED] += eff;
	f->totals_was[HS_TOTAL_STORED] += was;
	f->totals[HS_TOTAL_BLOBS]++;
	f->totals_was[HS_TOTAL_BLOBS]++;
	for (size_t i = 0, j; i < n; i = j) {
		struct fsck_heap *h;
		struct fsck_href *r;

		for (j = i; j < n && e[j].heap == e[i].heap; j++)
			;
		if (e[i].heap == NO_HEAP)
			continue;
		h = &f->heaps[e[i].heap];
		h->referenced += eff;
		h->referenced_was += was;
		if (j - i == n) {
			h->unique += eff;
			h->unique_was += was;
		}
		if (hs_grow((void **)&f->hrefs, &f->cap_hrefs, f->n_hrefs, sizeof(*f->hrefs)) < 0)
			return -ENOMEM;
		r = &f->hrefs[f->n_hrefs++];
		hs_key__href(r->key, hash, h->id);
		r->count = (int64_t)(j - i);
		r->stored = eff;
		r->stored_was = was;
	}
	return 0;
}

static int check_hash(struct fsck *f, const uint8_t *hash, const uint8_t *v, size_t vl,
		      const struct fsck_entry *e, size_t n)
{
	uint32_t eff = 0, was = 0;
	int rc = check_hash_refs(f, hash, v, vl, e, n, &eff, &was);

	return rc < 0 ? rc : space_note(f, hash, e, n, eff, was, v && vl == HS_REF_VALUE_LEN);
}

/* Pass 3: reference counts against the recount, and the blobs themselves. */
static int check_refs(struct fsck *f)
{
	rocksdb_iterator_t *it;
	size_t i = 0, n_hashed = 0;
	int rc = 0;

	if (f->n_entries)
		qsort(f->entries, f->n_entries, sizeof(*f->entries), entry_hash_cmp);
	while (n_hashed < f->n_entries && f->entries[n_hashed].kind == ENTRY_HASH)
		n_hashed++;
	it = scan(f, HS_CF_REFS);
	/* Merge-walk two sorted sequences: the refs records and the recount. */
	while (rc == 0 && (rocksdb_iter_valid(it) || i < n_hashed)) {
		size_t kl = 0, vl = 0, j = i;
		const uint8_t *k = rocksdb_iter_valid(it) ?
			(const uint8_t *)rocksdb_iter_key(it, &kl) : NULL;
		const uint8_t *v = NULL;
		int order;

		if (k && kl != HS_HASH_LEN) {
			fixable(f, "deleted", "reference record with a %zu-byte key", kl);
			del(f, HS_CF_REFS, k, kl);
			rocksdb_iter_next(it);
			continue;
		}
		order = !k ? 1 : i >= n_hashed ? -1 : memcmp(k, f->entries[i].hash, HS_HASH_LEN);
		if (order <= 0)
			v = (const uint8_t *)rocksdb_iter_value(it, &vl);
		if (order >= 0) {
			while (j < n_hashed &&
			       !memcmp(f->entries[j].hash, f->entries[i].hash, HS_HASH_LEN))
				j++;
		}
		/* No entries at all: no array to point into (e is read only
		 * when j > i). */
		rc = check_hash(f, order <= 0 ? k : f->entries[i].hash, v, vl,
				f->entries ? &f->entries[i] : NULL, j - i);
		i = j;
		if (order <= 0)
			rocksdb_iter_next(it);
	}
	return scan_end(it, "fsck: reading refs") ?: rc;
}

/* Pass 4: every change record has its line entry, and every entry its record. */
static int check_changes(struct fsck *f)
{
	rocksdb_iterator_t *it = scan(f, HS_CF_CHANGES);
	size_t i = 0, n = f->n_entries;
	char where[320], ln[48];

	if (n)
		qsort(f->entries, n, sizeof(*f->entries), entry_change_cmp);
	while (n && f->entries[n - 1].heap == NO_HEAP)
		n--;
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		struct fsck_entry key = { .kind = ENTRY_ZERO };
		struct fsck_heap *h;
		uint64_t id;
		bool found = false;

		(void)rocksdb_iter_value(it, &vl);
		if (kl != HS_CHANGE_KEY_LEN) {
			problem(f, "change record with a %zu-byte key", kl);
			continue;
		}
		id = hs_be64_get(k), key.ver = hs_be64_get(k + 8), key.line = hs_be64_get(k + 16);
		if (!(h = heap_find(f, id))) {
			problem(f, "change record of missing heap %llu", (unsigned long long)id);
			continue;
		}
		key.heap = (uint32_t)(h - f->heaps);
		for (; i < n && entry_change_cmp(&f->entries[i], &key) <= 0; i++) {
			if (entry_change_cmp(&f->entries[i], &key) == 0)
				found = true;
			/* A heap being deleted loses its entries before its change records. */
			else if (f->heaps[f->entries[i].heap].rec.state == HS_HEAP_LIVE)
				problem(f, "%s: entry has no change record",
					entry_name(f, &f->entries[i], where, sizeof(where)));
		}
		line_name(ln, sizeof(ln), key.line);
		if (!found && h->rec.state == HS_HEAP_LIVE)
			problem(f, "heap '%s' version %llu: change record of %s has no entry",
				h->rec.name, (unsigned long long)key.ver, ln);
		if (vl != 4)
			problem(f, "heap '%s' version %llu: change record of %s is %zu bytes",
				h->rec.name, (unsigned long long)key.ver, ln, vl);
	}
	for (; i < n; i++) {
		if (f->heaps[f->entries[i].heap].rec.state == HS_HEAP_LIVE)
			problem(f, "%s: entry has no change record",
				entry_name(f, &f->entries[i], where, sizeof(where)));
	}
	return scan_end(it, "fsck: reading changes");
}

static int href_cmp(const void *a, const void *b)
{
	return memcmp(((const struct fsck_href *)a)->key, ((const struct fsck_href *)b)->key,
		      HS_HREF_KEY_LEN);
}

/* One space counter (meta @key) against its recount @want (@was before
 * this repair marked blobs lost). */
static int space_counter(struct fsck *f, const uint8_t *key, size_t kl, int64_t want,
			 int64_t was, const char *what)
{
	char *val = NULL, fix[64];
	size_t vl = 0;
	int64_t have = 0;
	uint8_t v[8];
	int rc = hs_store__get(f->s, HS_CF_META, f->ro, key, kl, &val, &vl);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (val && vl == 8)
		have = (int64_t)hs_le64_get((const uint8_t *)val);
	rocksdb_free(val);
	if ((rc == 0 && vl != 8) || have != want) {
		snprintf(fix, sizeof(fix), "set to %lld", (long long)want);
		if ((rc == 0 && vl != 8) || have != was)
			fixable(f, fix, "%s says %lld, the recount %lld", what, (long long)have,
				(long long)want);
		hs_le64_put(v, (uint64_t)want);
		space_put(f, HS_CF_META, key, kl, v, 8);
	}
	return 0;
}

/*
 * The garbage records against the blobs no entry names (kept in order by
 * check_hash): GC trusts them, so one for a referenced blob would have it
 * deleted; one missing leaves a blob no GC will find.
 */
static int check_garbage(struct fsck *f)
{
	uint8_t start = 'G', end = 'H', v[8];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	size_t i = 0;
	char hex[20], *err = NULL;

	rocksdb_readoptions_set_snapshot(ro, f->snap);
	rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)&end, 1);
	it = rocksdb_create_iterator_cf(f->s->db, ro, f->s->cf[HS_CF_META]);
	rocksdb_iter_seek(it, (const char *)&start, 1);
	while (rocksdb_iter_valid(it) || i < f->n_garbage) {
		size_t kl = 0, vl = 0;
		const uint8_t *k = rocksdb_iter_valid(it) ?
			(const uint8_t *)rocksdb_iter_key(it, &kl) : NULL;
		const uint8_t *val = k ? (const uint8_t *)rocksdb_iter_value(it, &vl) : NULL;
		const struct fsck_garbage *g = i < f->n_garbage ? &f->garbage[i] : NULL;
		int order = !k ? 1 : !g ? -1 : kl != 1 + HS_HASH_LEN ? -1 :
			memcmp(k + 1, g->hash, HS_HASH_LEN);

		if (order < 0) {
			hs_hash_hex(hex, sizeof(hex), kl > 1 ? k + 1 : k);
			fixable(f, "deleted", "blob %s: a garbage record, but the blob is %s", hex,
				kl != 1 + HS_HASH_LEN ? "not a hash" : "referenced or gone");
			space_del(f, HS_CF_META, k, kl);
			rocksdb_iter_next(it);
			continue;
		}
		hs_hash_hex(hex, sizeof(hex), g->hash);
		if (order > 0 || vl != 8 || hs_le64_get(val) != g->stored) {
			uint8_t key[1 + HS_HASH_LEN] = { 'G' };

			fixable(f, "rewritten", "blob %s: nothing names it, its garbage record %s",
				hex, order > 0 ? "is missing" : "is wrong");
			memcpy(key + 1, g->hash, HS_HASH_LEN);
			hs_le64_put(v, g->stored);
			space_put(f, HS_CF_META, key, sizeof(key), v, sizeof(v));
		}
		i++;
		if (order == 0)
			rocksdb_iter_next(it);
	}
	rocksdb_iter_get_error(it, &err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return err ? hs_rdb_error(err, "fsck: reading garbage records") : 0;
}

/* Pass 5: the space figures (hrefs, 'R', 'U', 'T') against the recount. */
static int check_space(struct fsck *f)
{
	static const char *const total_names[HS_TOTAL_COUNT] = {
		"stored bytes", "referenced blobs", "garbage bytes", "garbage blobs",
	};
	rocksdb_iterator_t *it;
	uint8_t key[HS_META_KEY_MAX];
	size_t i = 0;
	char hex[20], what[HS_NAME_MAX + 64];
	int rc = 0;

	if (f->n_hrefs)
		qsort(f->hrefs, f->n_hrefs, sizeof(*f->hrefs), href_cmp);
	it = scan(f, HS_CF_HREFS);
	while (rc == 0 && (rocksdb_iter_valid(it) || i < f->n_hrefs)) {
		size_t kl = 0, vl = 0;
		const uint8_t *k = rocksdb_iter_valid(it) ?
			(const uint8_t *)rocksdb_iter_key(it, &kl) : NULL;
		const uint8_t *v = k ? (const uint8_t *)rocksdb_iter_value(it, &vl) : NULL;
		const struct fsck_href *r = i < f->n_hrefs ? &f->hrefs[i] : NULL;
		int order = !k ? 1 : !r ? -1 : kl != HS_HREF_KEY_LEN ? -1 :
			memcmp(k, r->key, HS_HREF_KEY_LEN);
		uint8_t nv[HS_HREF_VALUE_LEN];

		if (order < 0) {
			hs_hash_hex(hex, sizeof(hex), k);
			fixable(f, "deleted", "blob %s: a heap reference record (heap %llu) no entry "
				"backs", hex, kl == HS_HREF_KEY_LEN ?
				(unsigned long long)hs_be64_get(k + HS_HASH_LEN) : 0ULL);
			space_del(f, HS_CF_HREFS, k, kl);
			rocksdb_iter_next(it);
			continue;
		}
		hs_hash_hex(hex, sizeof(hex), r->key);
		if (order > 0 || vl != HS_HREF_VALUE_LEN ||
		    (int64_t)hs_le64_get(v) != r->count || hs_le32_get(v + 8) != r->stored) {
			if (order > 0 || vl != HS_HREF_VALUE_LEN ||
			    (int64_t)hs_le64_get(v) != r->count || hs_le32_get(v + 8) != r->stored_was)
				fixable(f, "rewritten", "blob %s: heap %llu's reference record %s "
					"(%lld entries, %u bytes)", hex,
					(unsigned long long)hs_be64_get(r->key + HS_HASH_LEN),
					order > 0 ? "is missing" : "is wrong", (long long)r->count,
					r->stored);
			hs_le64_put(nv, (uint64_t)r->count);
			hs_le32_put(nv + 8, r->stored);
			space_put(f, HS_CF_HREFS, r->key, HS_HREF_KEY_LEN, nv, sizeof(nv));
		}
		i++;
		if (order == 0)
			rocksdb_iter_next(it);
	}
	if ((rc = scan_end(it, "fsck: reading heap references") ?: rc) < 0)
		return rc;
	if ((rc = check_garbage(f)) < 0)
		return rc;
	for (size_t j = 0; j < f->n_heaps && rc == 0; j++) {
		struct fsck_heap *h = &f->heaps[j];

		snprintf(what, sizeof(what), "heap '%s': referenced bytes", h->rec.name);
		rc = space_counter(f, key, hs_key__meta(key, 'R', h->id, NULL), h->referenced,
				   h->referenced_was, what);
		snprintf(what, sizeof(what), "heap '%s': unique bytes", h->rec.name);
		if (rc == 0)
			rc = space_counter(f, key, hs_key__meta(key, 'U', h->id, NULL), h->unique,
					   h->unique_was, what);
	}
	for (int k = 0; k < HS_TOTAL_COUNT && rc == 0; k++) {
		snprintf(what, sizeof(what), "the store's %s", total_names[k]);
		rc = space_counter(f, key, hs_key__meta(key, 'T', (uint64_t)k, NULL),
				   f->totals[k], f->totals_was[k], what);
	}
	return rc;
}

static int repair_write(struct fsck *f)
{
	int rc;

	if (!rocksdb_writebatch_count(f->wb))
		return 0;
	if ((rc = hs_store__write(f->s, f->wb, true)) < 0)
		return rc;
	if (f->next_heap_id > f->s->next_heap_id)
		f->s->next_heap_id = f->next_heap_id;
	return 0;
}

ssize_t hs_store_fsck(hs_store *s, int flags, hs_fsck_cb cb, void *payload)
{
	struct fsck f = { .s = s, .flags = flags, .cb = cb, .payload = payload };
	int rc;

	if (flags & ~(HS_FSCK_VERIFY_DATA | HS_FSCK_REPAIR))
		return hs_errno_set(-EINVAL, "fsck: unknown flags %#x", (unsigned)flags);
	hs_store__purge_drain(s);   /* a heap half dropped is no finding */
	if (flags & HS_FSCK_REPAIR) {
		if (s->read_only)
			return hs_errno_set(-EROFS, "%s: repair needs the store open read-write",
					    s->dir);
		/* Held to the end: no heap can be opened, so nothing writes meanwhile. */
		pthread_mutex_lock(&s->lock);
		if (s->heaps) {
			pthread_mutex_unlock(&s->lock);
			return hs_errno_set(-EBUSY, "%s: a heap of the store is open (or has "
					    "lines in the line cache); repair needs the store "
					    "to itself", s->dir);
		}
		f.repair = true;
		f.flags |= HS_FSCK_VERIFY_DATA;
		f.wb = rocksdb_writebatch_create();
	}
	fsck_begin(&f);

	if ((rc = check_meta(&f)) < 0 || (rc = check_lines(&f)) < 0 ||
	    (rc = check_counters(&f)) < 0 || (rc = check_refs(&f)) < 0 ||
	    (rc = check_changes(&f)) < 0 || (rc = check_space(&f)) < 0 ||
	    (f.repair && (rc = repair_write(&f)) < 0))
		f.problems = rc;

	fsck_end(&f);
	if (f.repair) {
		rocksdb_writebatch_destroy(f.wb);
		pthread_mutex_unlock(&s->lock);
	}
	return f.problems;
}

/*
 * Recount the space figures and rewrite those that differ, in one synced
 * batch, touching nothing else: upgrading a format 1 store (which had none)
 * at open, before any heap is open.  The other problems fsck would report
 * are left for fsck.
 */
int hs_fsck__space(hs_store *s)
{
	struct fsck f = { .s = s, .fix_space = true };
	int rc;

	f.wb = rocksdb_writebatch_create();
	fsck_begin(&f);
	if ((rc = check_meta(&f)) == 0 && (rc = check_lines(&f)) == 0 &&
	    (rc = check_refs(&f)) == 0 && (rc = check_space(&f)) == 0 &&
	    rocksdb_writebatch_count(f.wb))
		rc = hs_store__write(s, f.wb, true);
	fsck_end(&f);
	rocksdb_writebatch_destroy(f.wb);
	return rc;
}
