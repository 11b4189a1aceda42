/*
 * fsck.c - checking a whole store against its own invariants, changing
 * nothing (see hs_store_fsck() in heapstore.h).
 *
 * One pass per column family.  The heaps and their versions are read first
 * (meta), then every line entry is checked against them while its hash is
 * collected; sorted, the hashes give each blob's true reference count, which
 * must equal the refs record, and each referenced blob must exist.  Memory
 * is one 40-byte slot per line entry holding a hash: fsck is an offline
 * tool, and the live paths never need this recount.
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
	uint64_t last_line;           /* the line being counted */
	bool last_line_counted;
};

struct fsck {
	hs_store *s;
	int flags;
	hs_fsck_cb cb;
	void *payload;
	ssize_t problems;
	struct fsck_heap *heaps;
	size_t n_heaps, cap_heaps;
	uint8_t (*hashes)[HS_HASH_LEN];
	size_t n_hashes, cap_hashes;
};

static void problem(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->problems++;
	if (f->cb)
		f->cb(line, f->payload);
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

static rocksdb_iterator_t *scan(struct fsck *f, enum hs_cf cf)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(f->s->db, f->s->ro, f->s->cf[cf]);

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
		case 'H':
			if ((rc = hs_grow((void **)&f->heaps, &f->cap_heaps, f->n_heaps,
					  sizeof(*f->heaps))) < 0)
				break;
			h = &f->heaps[f->n_heaps];
			memset(h, 0, sizeof(*h));
			h->id = id;
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
		} else if (k[0] == 'C') {
			if (!heap_find(f, id) || vl != 8)
				problem(f, "line counter of missing heap %llu", (unsigned long long)id);
		}
	}
	return scan_end(it, "fsck: reading meta");
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

		if (kl != HS_LINE_KEY_LEN) {
			problem(f, "line entry with a %zu-byte key", kl);
			continue;
		}
		hs_key__line_parse(k, &id, &line, &ver);
		if (!(h = heap_find(f, id))) {
			problem(f, "line %llu version %llu of missing heap %llu",
				(unsigned long long)line, (unsigned long long)ver,
				(unsigned long long)id);
			continue;
		}
		if (vl != 0 && vl != HS_HASH_LEN) {
			problem(f, "heap '%s' line %llu version %llu: entry of %zu bytes",
				h->rec.name, (unsigned long long)line, (unsigned long long)ver, vl);
			continue;
		}
		if (ver > h->rec.head || !version_known(h, ver))
			problem(f, "heap '%s' line %llu: entry for missing version %llu",
				h->rec.name, (unsigned long long)line, (unsigned long long)ver);
		/* The first entry of a line at or below the head is its live value. */
		if (ver <= h->rec.head && (!h->last_line_counted || h->last_line != line)) {
			h->last_line = line;
			h->last_line_counted = true;
			h->live_lines += vl == HS_HASH_LEN && !(line & HS_STATE_LINE);
		}
		if (vl == HS_HASH_LEN) {
			if ((rc = hs_grow((void **)&f->hashes, &f->cap_hashes, f->n_hashes,
					  sizeof(*f->hashes))) < 0)
				break;
			memcpy(f->hashes[f->n_hashes++], v, HS_HASH_LEN);
		}
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
		char *val = NULL;
		size_t vl = 0;
		int64_t stored = 0;
		int rc;

		if (h->rec.state != HS_HEAP_LIVE)
			continue;
		rc = hs_store__get(f->s, HS_CF_META, NULL, key, kl, &val, &vl);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (val && vl == 8)
			stored = (int64_t)hs_le64_get((const uint8_t *)val);
		rocksdb_free(val);
		if (stored != h->live_lines)
			problem(f, "heap '%s': line counter says %lld non-zero lines, there are %lld",
				h->rec.name, (long long)stored, (long long)h->live_lines);
	}
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, HS_HASH_LEN);
}

/* One referenced blob: present, and with VERIFY_DATA decoding to its hash. */
static int check_blob(struct fsck *f, const uint8_t *hash)
{
	rocksdb_pinnableslice_t *ps;
	struct hs_scratch *sc;
	char *err = NULL, hex[20];
	const char *frame;
	size_t flen;
	unsigned long long csize;
	uint8_t check[HS_HASH_LEN];

	hs_hash_hex(hex, sizeof(hex), hash);
	ps = rocksdb_get_pinned_cf(f->s->db, f->s->ro, f->s->cf[HS_CF_BLOBS],
				   (const char *)hash, HS_HASH_LEN, &err);
	if (err)
		return hs_rdb_error(err, "fsck: reading a blob");
	if (!ps) {
		problem(f, "blob %s: referenced but missing", hex);
		return 0;
	}
	frame = rocksdb_pinnableslice_value(ps, &flen);
	csize = ZSTD_getFrameContentSize(frame, flen);
	if (csize == ZSTD_CONTENTSIZE_ERROR || csize == ZSTD_CONTENTSIZE_UNKNOWN ||
	    csize < HS_LINE_SIZE_MIN || csize > HS_LINE_SIZE_MAX) {
		problem(f, "blob %s: not a zstd frame of a line", hex);
	} else if (f->flags & HS_FSCK_VERIFY_DATA) {
		if (!(sc = hs_scratch__get())) {
			rocksdb_pinnableslice_destroy(ps);
			return -ENOMEM;
		}
		if (hs_codec__decompress(sc, frame, flen, sc->line, (size_t)csize) < 0) {
			problem(f, "blob %s: %s", hex, hs_error_last());
		} else {
			hs_codec__hash(sc, sc->line, (size_t)csize, check);
			if (memcmp(check, hash, HS_HASH_LEN))
				problem(f, "blob %s: content does not match its hash", hex);
		}
	}
	rocksdb_pinnableslice_destroy(ps);
	return 0;
}

/* Pass 3: reference counts against the recount, and the blobs themselves. */
static int check_refs(struct fsck *f)
{
	rocksdb_iterator_t *it;
	size_t i = 0;
	int rc = 0;

	if (f->n_hashes)
		qsort(f->hashes, f->n_hashes, HS_HASH_LEN, hash_cmp);
	it = scan(f, HS_CF_REFS);
	/* Merge-walk two sorted sequences: the refs records and the recount. */
	while (rc == 0 && (rocksdb_iter_valid(it) || i < f->n_hashes)) {
		size_t kl = 0, vl = 0;
		const uint8_t *k = rocksdb_iter_valid(it) ?
			(const uint8_t *)rocksdb_iter_key(it, &kl) : NULL;
		int order = !k ? 1 : i >= f->n_hashes ? -1 : memcmp(k, f->hashes[i], HS_HASH_LEN);
		int64_t stored = 0, counted = 0;
		const uint8_t *hash;
		char hex[20];

		if (k && kl != HS_HASH_LEN) {
			problem(f, "reference record with a %zu-byte key", kl);
			rocksdb_iter_next(it);
			continue;
		}
		hash = order <= 0 ? k : f->hashes[i];
		if (order <= 0) {
			const uint8_t *v = (const uint8_t *)rocksdb_iter_value(it, &vl);

			if (vl != HS_REF_VALUE_LEN)
				problem(f, "reference record of %zu bytes", vl);
			else
				stored = (int64_t)hs_le64_get(v);
		}
		if (order >= 0) {
			size_t j = i;

			while (j < f->n_hashes && !memcmp(f->hashes[j], f->hashes[i], HS_HASH_LEN))
				j++;
			counted = (int64_t)(j - i);
			i = j;
		}
		if (stored != counted) {
			hs_hash_hex(hex, sizeof(hex), hash);
			problem(f, "blob %s: reference count %lld, but %lld entries refer to it", hex,
				(long long)stored, (long long)counted);
		}
		if (counted)
			rc = check_blob(f, hash);
		if (order <= 0)
			rocksdb_iter_next(it);
	}
	return scan_end(it, "fsck: reading refs") ?: rc;
}

/* Pass 4: every change record has its line entry. */
static int check_changes(struct fsck *f)
{
	rocksdb_iterator_t *it = scan(f, HS_CF_CHANGES);

	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kl);
		uint8_t key[HS_LINE_KEY_LEN];
		struct fsck_heap *h;
		char *val = NULL;
		uint64_t id, ver, line;
		int rc;

		if (kl != HS_CHANGE_KEY_LEN) {
			problem(f, "change record with a %zu-byte key", kl);
			continue;
		}
		id = hs_be64_get(k), ver = hs_be64_get(k + 8), line = hs_be64_get(k + 16);
		if (!(h = heap_find(f, id))) {
			problem(f, "change record of missing heap %llu", (unsigned long long)id);
			continue;
		}
		hs_key__line(key, id, line, ver);
		rc = hs_store__get(f->s, HS_CF_LINES, NULL, key, sizeof(key), &val, &vl);
		rocksdb_free(val);
		if (rc == -ENOENT)
			problem(f, "heap '%s' version %llu: change record of line %llu has no entry",
				h->rec.name, (unsigned long long)ver, (unsigned long long)line);
		else if (rc < 0) {
			rocksdb_iter_destroy(it);
			return rc;
		}
	}
	return scan_end(it, "fsck: reading changes");
}

ssize_t hs_store_fsck(hs_store *s, int flags, hs_fsck_cb cb, void *payload)
{
	struct fsck f = { .s = s, .flags = flags, .cb = cb, .payload = payload };
	int rc;

	if ((rc = check_meta(&f)) < 0 || (rc = check_lines(&f)) < 0 ||
	    (rc = check_counters(&f)) < 0 || (rc = check_refs(&f)) < 0 ||
	    (rc = check_changes(&f)) < 0)
		f.problems = rc;
	for (size_t i = 0; i < f.n_heaps; i++)
		free(f.heaps[i].versions);
	free(f.heaps);
	free(f.hashes);
	return f.problems;
}
