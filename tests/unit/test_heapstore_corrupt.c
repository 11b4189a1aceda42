/*
 * test_heapstore_corrupt.c - heapstore against corruption injected into the
 * store (Check suite hs_corrupt_suite).
 *
 *   lines      faults injected into one line of a heap through the RocksDB
 *              handles (hs_store__db/hs_store__cf): damaged, foreign,
 *              missing and short blobs, malformed line entries
 *   records    damaged heap and checkpoint records
 *   format     damaged store records, directories and databases that are
 *              not heapfs stores, a store opened twice
 *
 * Every injected fault is followed by reads of the lines around it proving
 * that the damage is reported exactly where it is and nowhere else, and
 * every refusal by a re-read proving that nothing changed.  Faults are
 * written at keys made by the encoders of heapstore_int.h; the checks that
 * each original value is found where the key says keep those honest.
 * Hostile input through the public API is test_heapstore_hostile.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rocksdb/c.h>
#include <zstd.h>

#include "heapstore_int.h"
#include "corrupt_util.h"
#include "test_util.h"

#define LIVE_LINE 6                       /* rewritten after checkpoint 1 */
#define N_BYSTANDER 4                     /* lines written to "bystander" */

/* Expected content of "bystander", line by line. */
static uint8_t g_by[N_BYSTANDER][LS];

/* Scratch buffers, static for the reason corrupt_util.h gives. */
#define FRAME_CAP (ZSTD_COMPRESSBOUND(LS) + 16)
static uint8_t g_frame[FRAME_CAP];
static uint8_t g_other_frame[FRAME_CAP];

/* ---- helpers ------------------------------------------------------------ */

static void sha256(const void *data, size_t len, uint8_t out[HS_HASH_LEN])
{
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
	ck_assert_uint_eq(n, HS_HASH_LEN);
}

/* A valid zstd frame of @src with content size and checksum, as heapstore
 * writes them.  Returns its length in @dst (ZSTD_compressBound(len) bytes). */
static size_t zstd_frame(void *dst, const void *src, size_t len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t r;

	ck_assert_ptr_nonnull(c);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)));
	r = ZSTD_compress2(c, dst, ZSTD_compressBound(len), src, len);
	ZSTD_freeCCtx(c);
	ck_assert_msg(!ZSTD_isError(r), "zstd: %s", ZSTD_getErrorName(r));
	ck_assert_uint_eq(ZSTD_getFrameContentSize(dst, r), len);
	return r;
}

static uint64_t heap_id(hs_heap *h)
{
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	return hi.id;
}

/* ---- the store's RocksDB, through the test hooks ---------------------- */

/* Copy the value under @key in @cf to @out (@cap bytes); false if none. */
static bool raw_get(rocksdb_t *db, rocksdb_column_family_handle_t *cf,
		    const void *key, size_t klen, void *out, size_t cap, size_t *vlen)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL, *v;
	bool fits;

	*vlen = 0;
	v = rocksdb_get_cf(db, ro, cf, key, klen, vlen, &err);
	rocksdb_readoptions_destroy(ro);
	if (err) {
		ck_abort_msg("rocksdb get: %s", err);
	}
	if (!v)
		return false;
	fits = *vlen <= cap;
	if (fits)
		memcpy(out, v, *vlen);
	rocksdb_free(v);
	ck_assert_msg(fits, "value of %zu bytes, room for %zu", *vlen, cap);
	return true;
}

static void raw_put(rocksdb_t *db, rocksdb_column_family_handle_t *cf,
		    const void *key, size_t klen, const void *val, size_t vlen)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;

	rocksdb_put_cf(db, wo, cf, key, klen, val, vlen, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_msg(err == NULL, "rocksdb put: %s", err);
}

static void raw_delete(rocksdb_t *db, rocksdb_column_family_handle_t *cf,
		       const void *key, size_t klen)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;

	rocksdb_delete_cf(db, wo, cf, key, klen, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_msg(err == NULL, "rocksdb delete: %s", err);
}

static bool st_get(enum hs_cf cf, const void *key, size_t klen, void *out,
		   size_t cap, size_t *vlen)
{
	return raw_get(hs_store__db(g_store), hs_store__cf(g_store, cf), key, klen,
		       out, cap, vlen);
}

static void st_put(enum hs_cf cf, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	raw_put(hs_store__db(g_store), hs_store__cf(g_store, cf), key, klen, val, vlen);
}

static void st_delete(enum hs_cf cf, const void *key, size_t klen)
{
	raw_delete(hs_store__db(g_store), hs_store__cf(g_store, cf), key, klen);
}

/* A closed store opened with plain RocksDB: no merge operators, so only
 * point reads of put records, and no compactions that would need them. */
struct raw_db {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[HS_CF_COUNT];
};

static const char *const cf_names[HS_CF_COUNT] = {
	"default", "meta", "lines", "changes", "blobs", "refs", "hrefs",
};

static void raw_open(struct raw_db *r, const char *dir, bool read_only)
{
	const rocksdb_options_t *cfo[HS_CF_COUNT];
	char *err = NULL;

	r->opts = rocksdb_options_create();
	rocksdb_options_set_disable_auto_compactions(r->opts, 1);
	for (int i = 0; i < HS_CF_COUNT; i++)
		cfo[i] = r->opts;
	if (read_only)
		r->db = rocksdb_open_for_read_only_column_families(
			r->opts, dir, HS_CF_COUNT, cf_names, cfo, r->cf, 0, &err);
	else
		r->db = rocksdb_open_column_families(r->opts, dir, HS_CF_COUNT,
						     cf_names, cfo, r->cf, &err);
	ck_assert_msg(err == NULL, "rocksdb open %s: %s", dir, err);
}

static void raw_close(struct raw_db *r)
{
	for (int i = 0; i < HS_CF_COUNT; i++)
		rocksdb_column_family_handle_destroy(r->cf[i]);
	rocksdb_close(r->db);
	rocksdb_options_destroy(r->opts);
}

/* ---- fixtures ----------------------------------------------------------- */

static void close_heaps(void)
{
	hs_heap_close(g_heap);
	hs_heap_close(g_other);
	g_heap = g_other = NULL;
}

static void reopen_store(void)
{
	close_heaps();
	hs_store_close(g_store);
	g_store = NULL;
	ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
}

/* "victim": lines 0..7, checkpoint 1 ("sealed") holds them; line 6 has
 * been rewritten since (an entry of working version 2).  "bystander":
 * lines 0..3. */
static void setup_lines(void)
{
	uint64_t v = 0;

	cu_setup_store();
	ck_assert_int_eq(hs_heap_create(g_store, "victim", NULL), 0);
	ck_assert_int_eq(hs_heap_create(g_store, "bystander", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "victim"), 0);
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "bystander"), 0);
	for (uint64_t i = 0; i < NLINES; i++)
		tu_fill(g_v1[i], LS, 1, i);
	ck_assert_int_eq(hs_heap_write(g_heap, g_v1, sizeof(g_v1), 0), sizeof(g_v1));
	ck_assert_int_eq(hs_version_seal(g_heap, "sealed", &v), 0);
	ck_assert_uint_eq(v, 1);
	memcpy(g_live, g_v1, sizeof(g_live));
	tu_fill(g_live[LIVE_LINE], LS, 2, LIVE_LINE);
	ck_assert_int_eq(hs_heap_write(g_heap, g_live[LIVE_LINE], LS,
				       (uint64_t)LIVE_LINE * LS), LS);
	for (uint64_t i = 0; i < N_BYSTANDER; i++)
		tu_fill(g_by[i], LS, 3, i);
	ck_assert_int_eq(hs_heap_write(g_other, g_by, sizeof(g_by), 0), sizeof(g_by));
}

/* ==== 3. faults in one line ============================================ */

enum line_fault {
	BLOB_HALF,                /* frame truncated to half */
	BLOB_FLIP_MAGIC,          /* one bit of the frame's magic number */
	BLOB_FLIP_MIDDLE,         /* one bit in the compressed data */
	BLOB_FLIP_CHECKSUM,       /* one bit of the content checksum */
	BLOB_OTHER_CONTENT,       /* valid frame, other content, same length */
	BLOB_SHORT_CONTENT,       /* valid frame of 1000 bytes */
	BLOB_EMPTY,               /* zero-length value */
	BLOB_TRAILING,            /* the right frame plus 8 stray bytes */
	BLOB_DELETED,
	ENTRY_17,                 /* line entry of 17 bytes */
	ENTRY_33,                 /* line entry of 33 bytes */
	ENTRY_UNKNOWN_HASH,       /* 32 bytes naming no blob */
};

static const struct {
	enum line_fault fault;
	const char *what;
	int rc;
	const char *why;          /* the cause the message must carry */
	bool blob;                /* the entry is sound, its blob is not */
} line_faults[] = {
	{ BLOB_HALF, "blob truncated to half", -EBADMSG, "does not decode", true },
	{ BLOB_FLIP_MAGIC, "bit flipped in the magic", -EBADMSG, "not a zstd frame", true },
	{ BLOB_FLIP_MIDDLE, "bit flipped mid-frame", -EBADMSG, "does not decode", true },
	{ BLOB_FLIP_CHECKSUM, "bit flipped in the checksum", -EBADMSG, "does not decode", true },
	{ BLOB_OTHER_CONTENT, "valid frame, other content", -EBADMSG,
	  "content does not match its hash", true },
	{ BLOB_SHORT_CONTENT, "valid frame of 1000 bytes", -EBADMSG, "1000 bytes", true },
	{ BLOB_EMPTY, "empty blob", -EBADMSG, "not a zstd frame", true },
	{ BLOB_TRAILING, "frame with trailing bytes", -EBADMSG, "does not decode", true },
	{ BLOB_DELETED, "blob deleted", -EUCLEAN, "missing", true },
	{ ENTRY_17, "line entry of 17 bytes", -EUCLEAN, "17 bytes", false },
	{ ENTRY_33, "line entry of 33 bytes", -EUCLEAN, "33 bytes", false },
	{ ENTRY_UNKNOWN_HASH, "line entry naming no blob", -EUCLEAN, "missing", false },
};

/* Where the fault goes: a line checkpoint 1 holds (its entry is at
 * version 1), or the line rewritten live (entry at working version 2). */
struct fault_target {
	uint64_t line;
	uint64_t entry_version;
	bool sealed;
};

static const struct fault_target sealed_target = { 3, 1, true };
static const struct fault_target live_target = { LIVE_LINE, 2, false };

/* Damage the line @t of "victim" (content @content) as @fault says. */
static void inject_line_fault(enum line_fault fault, const struct fault_target *t,
			      const uint8_t *content)
{
	uint8_t hash[HS_HASH_LEN], key[HS_LINE_KEY_LEN], entry[64];
	uint8_t *frame = g_frame, *other = g_other_frame;
	size_t elen, flen;

	/* The entry holds the SHA-256 of the content, which keys the blob. */
	sha256(content, LS, hash);
	hs_key__line(key, heap_id(g_heap), t->line, t->entry_version);
	ck_assert(st_get(HS_CF_LINES, key, sizeof(key), entry, sizeof(entry), &elen));
	ck_assert_uint_eq(elen, HS_HASH_LEN);
	ck_assert_mem_eq(entry, hash, HS_HASH_LEN);
	ck_assert(st_get(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, FRAME_CAP - 16, &flen));
	ck_assert_uint_eq(ZSTD_getFrameContentSize(frame, flen), LS);
	ck_assert_uint_gt(flen, 64);

	switch (fault) {
	case BLOB_HALF:
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, flen / 2);
		break;
	case BLOB_FLIP_MAGIC:
		frame[0] ^= 0x01;
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, flen);
		break;
	case BLOB_FLIP_MIDDLE:
		frame[flen / 2] ^= 0x40;
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, flen);
		break;
	case BLOB_FLIP_CHECKSUM:
		frame[flen - 1] ^= 0x01;
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, flen);
		break;
	case BLOB_OTHER_CONTENT:
		tu_fill(g_wbuf, LS, 5, t->line);
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, other, zstd_frame(other, g_wbuf, LS));
		break;
	case BLOB_SHORT_CONTENT:
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, other, zstd_frame(other, content, 1000));
		break;
	case BLOB_EMPTY:
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, "", 0);
		break;
	case BLOB_TRAILING:
		memcpy(other, frame, flen);
		memcpy(other + flen, "trailing", 8);
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, other, flen + 8);
		break;
	case BLOB_DELETED:
		st_delete(HS_CF_BLOBS, hash, HS_HASH_LEN);
		break;
	case ENTRY_17:
		st_put(HS_CF_LINES, key, sizeof(key), hash, 17);
		break;
	case ENTRY_33:
		memcpy(other, hash, HS_HASH_LEN);
		other[HS_HASH_LEN] = 0x5a;
		st_put(HS_CF_LINES, key, sizeof(key), other, HS_HASH_LEN + 1);
		break;
	case ENTRY_UNKNOWN_HASH:
		memcpy(other, hash, HS_HASH_LEN);
		other[0] ^= 0xff;
		st_put(HS_CF_LINES, key, sizeof(key), other, HS_HASH_LEN);
		break;
	}
}

/* Reading [line start + @in, + @len) of @version fails as @i says, with a
 * message naming heap, line, entry version and cause. */
static void expect_line_error(int i, uint64_t version, const struct fault_target *t,
			      size_t in, size_t len)
{
	uint8_t *buf = g_rbuf;
	uint64_t off = t->line * LS + in;
	char phrase[64];
	ssize_t n;

	if (version == HS_VERSION_LIVE)
		n = hs_heap_read(g_heap, buf, len, off);
	else
		n = hs_version_read(g_heap, version, buf, len, off);
	ck_assert_msg(n == line_faults[i].rc,
		      "%s: read at %llu (version %llu) returned %zd, want %d: %s",
		      line_faults[i].what, (unsigned long long)off,
		      (unsigned long long)version, n, line_faults[i].rc, hs_error_last());
	cu_expect_msg_has("'victim'");
	snprintf(phrase, sizeof(phrase), "line %llu", (unsigned long long)t->line);
	cu_expect_msg_has(phrase);
	snprintf(phrase, sizeof(phrase), "version %llu", (unsigned long long)t->entry_version);
	cu_expect_msg_has(phrase);
	cu_expect_msg_has(line_faults[i].why);
}

static void run_line_fault(int i, const struct fault_target *t)
{
	const uint64_t bad = t->line;
	uint8_t *buf = g_wbuf;
	hs_heap_info before, after;
	uint64_t off;
	ssize_t n;

	ck_assert_int_eq(hs_heap_info_get(g_heap, &before), 0);
	inject_line_fault(line_faults[i].fault, t, g_live[bad]);

	/* The line fails, whole or in part, live and in the checkpoint. */
	expect_line_error(i, HS_VERSION_LIVE, t, 0, LS);
	expect_line_error(i, HS_VERSION_LIVE, t, 100, 10);
	if (t->sealed) {
		expect_line_error(i, 1, t, 0, LS);
		expect_line_error(i, 1, t, LS - 1, 1);
	}

	/* Every other line reads back exactly, each on its own. */
	for (uint64_t l = 0; l < NLINES; l++) {
		if (l != bad)
			cu_expect_bytes(g_heap, HS_VERSION_LIVE, l * LS, LS, g_live[l]);
		if (l != bad || !t->sealed)
			cu_expect_bytes(g_heap, 1, l * LS, LS, g_v1[l]);
	}
	for (uint64_t l = 0; l < N_BYSTANDER; l++)
		cu_expect_bytes(g_other, HS_VERSION_LIVE, l * LS, LS, g_by[l]);

	/* A read from a good line stops exactly where the bad one starts. */
	off = (bad - 2) * LS + 100;
	memset(buf, 0xa5, 4 * LS);
	n = hs_heap_read(g_heap, buf, 4 * LS, off);
	ck_assert_int_eq(n, (ssize_t)(bad * LS - off));
	ck_assert_int_eq(cu_first_diff(buf, (const uint8_t *)g_live + off, (size_t)n), -1);
	if (t->sealed) {
		memset(buf, 0xa5, 4 * LS);
		n = hs_version_read(g_heap, 1, buf, 4 * LS, off);
		ck_assert_int_eq(n, (ssize_t)(bad * LS - off));
		ck_assert_int_eq(cu_first_diff(buf, (const uint8_t *)g_v1 + off, (size_t)n), -1);
	}

	/* A write that has to read the bad line is refused whole: the line
	 * before it, in the same batch, is not changed either. */
	tu_fill(buf, LS, 6, bad);
	n = hs_heap_write(g_heap, buf, LS, (bad - 1) * LS + LS / 2);
	ck_assert_msg(n == line_faults[i].rc,
		      "%s: partial write over the bad line returned %zd: %s",
		      line_faults[i].what, n, hs_error_last());
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, (bad - 1) * LS, LS, g_live[bad - 1]);
	ck_assert_int_eq(hs_heap_info_get(g_heap, &after), 0);
	ck_assert_uint_eq(after.size_bytes, before.size_bytes);
	ck_assert_uint_eq(after.lines_used, before.lines_used);

	/* Writing a whole new line over a bad blob replaces it in the live
	 * heap; a checkpoint holding the old line still reports it. */
	if (line_faults[i].blob) {
		tu_fill(buf, LS, 4, bad);
		ck_assert_int_eq(hs_heap_write(g_heap, buf, LS, bad * LS), LS);
		cu_expect_bytes(g_heap, HS_VERSION_LIVE, bad * LS, LS, buf);
		if (t->sealed)
			expect_line_error(i, 1, t, 0, LS);
		else
			cu_expect_bytes(g_heap, 1, bad * LS, LS, g_v1[bad]);
	}
}

START_TEST(line_fault_in_checkpoint_reported_and_contained)
{
	run_line_fault(_i, &sealed_target);
}
END_TEST

START_TEST(line_fault_in_live_heap_reported_and_contained)
{
	run_line_fault(_i, &live_target);
}
END_TEST

/* ==== 3g/3h. damaged heap and checkpoint records ======================= */

/* Heap record fields (format 4): u8 format | u8 state | u16 name_len |
 * u32 line_size | u64 size | u64 quota | u64 reserve | u64 head |
 * u64 created_ns | u64 state_size | u32 uid | u32 gid | u32 mode |
 * u8 ident[16] | u8 lease | u8 moved_len | u16 0 | name | moved_to. */
#define HREC_FIXED 88

static const struct {
	const char *what;
	int field;                /* byte offset to change, or -1 */
	int width;                /* 1, 4 or 8 */
	uint64_t value;
	size_t keep;              /* > 0 or empty: truncate to this length */
	bool truncate;
} heap_rec_faults[] = {
	{ "truncated to 20 bytes", -1, 0, 0, 20, true },
	{ "empty", -1, 0, 0, 0, true },
	{ "unknown format", 0, 1, 5, 0, false },
	{ "format 1 (shorter) with a format 4 body", 0, 1, 1, 0, false },
	{ "format 2 (shorter) with a format 4 body", 0, 1, 2, 0, false },
	{ "format 3 (shorter) with a format 4 body", 0, 1, 3, 0, false },
	{ "unknown lease state", 84, 1, 3, 0, false },
	{ "moved-to length past the record", 85, 1, 4, 0, false },
	{ "unknown state", 1, 1, 7, 0, false },
	{ "name length past the record", 2, 1, sizeof("victim"), 0, false },
	{ "line size 3000", 4, 4, 3000, 0, false },
	{ "size past the limit", 8, 8, HS_HEAP_SIZE_MAX + 1, 0, false },
	{ "working version 0", 32, 8, 0, 0, false },
	{ "working version LIVE", 32, 8, HS_VERSION_LIVE, 0, false },
	{ "state size past the limit", 48, 8, HS_STATE_SIZE_MAX + 1, 0, false },
	{ "mode with bits past rwx (setuid)", 64, 4, 04700, 0, false },
	{ "record names another heap", HREC_FIXED + 5, 1, 'M', 0, false },
};

static void patch(uint8_t *rec, int field, int width, uint64_t value)
{
	if (width == 1)
		rec[field] = (uint8_t)value;
	else if (width == 4)
		hs_le32_put(rec + field, (uint32_t)value);
	else
		hs_le64_put(rec + field, value);
}

START_TEST(heap_record_damage_refused)
{
	uint8_t key[9], orig[HS_REC_MAX], dmg[HS_REC_MAX], now[HS_REC_MAX];
	size_t klen, olen, dlen, nlen;
	hs_heap *h = SENTINEL;
	int rc;

	klen = hs_key__meta(key, 'H', heap_id(g_heap), NULL);
	close_heaps();
	ck_assert(st_get(HS_CF_META, key, klen, orig, sizeof(orig), &olen));
	ck_assert_uint_eq(olen, HREC_FIXED + strlen("victim"));
	ck_assert_mem_eq(orig + HREC_FIXED, "victim", strlen("victim"));
	memcpy(dmg, orig, olen);
	dlen = olen;
	if (heap_rec_faults[_i].truncate)
		dlen = heap_rec_faults[_i].keep;
	else
		patch(dmg, heap_rec_faults[_i].field, heap_rec_faults[_i].width,
		      heap_rec_faults[_i].value);
	st_put(HS_CF_META, key, klen, dmg, dlen);
	reopen_store();

	rc = hs_heap_open(&h, g_store, "victim");
	if (rc == 0 && h && h != SENTINEL)
		hs_heap_close(h);
	ck_assert_msg(rc == -EUCLEAN, "%s: opening returned %d (%s)",
		      heap_rec_faults[_i].what, rc, rc ? hs_error_last() : "no error");
	ck_assert_ptr_null(h);
	cu_expect_msg_has("victim");
	h = SENTINEL;
	ck_assert_int_eq(hs_heap_open(&h, g_store, "victim"), -EUCLEAN);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(hs_heap_create(g_store, "victim", NULL), -EEXIST);
	ck_assert(st_get(HS_CF_META, key, klen, now, sizeof(now), &nlen));
	ck_assert_uint_eq(nlen, dlen);
	ck_assert_int_eq(cu_first_diff(now, dmg, dlen), -1);

	/* The other heap is unaffected. */
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "bystander"), 0);
	cu_expect_bytes(g_other, HS_VERSION_LIVE, 0, sizeof(g_by), g_by[0]);

	/* Put back, the record was the only thing wrong. */
	st_put(HS_CF_META, key, klen, orig, olen);
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "victim"), 0);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, sizeof(g_live), g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, sizeof(g_v1), g_v1[0]);
}
END_TEST

/* Checkpoint record fields (format 2): u8 format | u8 flags | u16 label_len |
 * u32 state_size | u64 version | u64 parent | u64 created_ns | u64 size |
 * u64 lines_changed | u64 bytes_changed | u64 lines_used | u8 ident[16] | label. */
#define VREC_FIXED 80

static const struct {
	const char *what;
	int field;
	int width;
	uint64_t value;
	size_t keep;
	bool truncate;
} version_rec_faults[] = {
	{ "truncated to 20 bytes", -1, 0, 0, 20, true },
	{ "empty", -1, 0, 0, 0, true },
	{ "unknown format", 0, 1, 9, 0, false },
	{ "format 1 (shorter) with a format 2 body", 0, 1, 1, 0, false },
	{ "label length past the record", 2, 1, sizeof("sealed"), 0, false },
	{ "version 0", 8, 8, 0, 0, false },
	{ "parent not below it", 16, 8, 1, 0, false },
	{ "size past the limit", 32, 8, HS_HEAP_SIZE_MAX + 1, 0, false },
	{ "state size past the limit", 4, 4, HS_STATE_SIZE_MAX + 1, 0, false },
	{ "record of another version", 8, 8, 5, 0, false },
};

START_TEST(version_record_damage_refused)
{
	uint8_t key[17], orig[HS_REC_MAX], dmg[HS_REC_MAX], now[HS_REC_MAX];
	uint8_t *buf = g_wbuf;
	size_t klen, olen, dlen, nlen;
	hs_version_info vi;
	uint64_t v = 0;
	int calls = 0, rc;
	ssize_t n;

	/* Checkpoint 2 holds the live content; damage checkpoint 1. */
	ck_assert_int_eq(hs_version_seal(g_heap, NULL, &v), 0);
	ck_assert_uint_eq(v, 2);
	klen = hs_key__meta_version(key, heap_id(g_heap), 1);
	ck_assert(st_get(HS_CF_META, key, klen, orig, sizeof(orig), &olen));
	ck_assert_uint_eq(olen, VREC_FIXED + strlen("sealed"));
	memcpy(dmg, orig, olen);
	dlen = olen;
	if (version_rec_faults[_i].truncate)
		dlen = version_rec_faults[_i].keep;
	else
		patch(dmg, version_rec_faults[_i].field, version_rec_faults[_i].width,
		      version_rec_faults[_i].value);
	st_put(HS_CF_META, key, klen, dmg, dlen);

	rc = hs_version_info_get(g_heap, 1, &vi);
	ck_assert_msg(rc == -EUCLEAN, "%s: info of checkpoint 1 returned %d (%s)",
		      version_rec_faults[_i].what, rc, rc ? hs_error_last() : "no error");
	cu_expect_msg_has("victim");
	ck_assert_msg(cu_has_phrase(hs_error_last(), "version 1") ||
		      cu_has_phrase(hs_error_last(), "checkpoint 1"),
		      "message \"%s\" does not name checkpoint 1", hs_error_last());
	n = hs_version_read(g_heap, 1, buf, LS, 0);
	ck_assert_msg(n == -EUCLEAN, "%s: read of checkpoint 1 returned %zd (%s)",
		      version_rec_faults[_i].what, n, n < 0 ? hs_error_last() : "no error");
	cu_expect_msg_has("victim");
	ck_assert_int_eq(hs_version_diff(g_heap, 1, 2, cu_diff_count, &calls), -EUCLEAN);
	ck_assert_int_eq(calls, 0);
	ck_assert_int_eq(hs_heap_restore(g_heap, 1), -EUCLEAN);
	ck_assert_int_eq(hs_version_delete(g_heap, 1), -EUCLEAN);
	ck_assert(st_get(HS_CF_META, key, klen, now, sizeof(now), &nlen));
	ck_assert_uint_eq(nlen, dlen);
	ck_assert_int_eq(cu_first_diff(now, dmg, dlen), -1);

	/* The live heap and checkpoint 2 are intact. */
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, sizeof(g_live), g_live[0]);
	cu_expect_bytes(g_heap, 2, 0, sizeof(g_live), g_live[0]);
	ck_assert_int_eq(hs_version_info_get(g_heap, 2, &vi), 0);
	ck_assert_uint_eq(vi.version, 2);
	ck_assert_uint_eq(vi.parent, 1);

	/* Put back, the record was the only thing wrong. */
	st_put(HS_CF_META, key, klen, orig, olen);
	ck_assert_int_eq(hs_version_info_get(g_heap, 1, &vi), 0);
	ck_assert_str_eq(vi.label, "sealed");
	cu_expect_bytes(g_heap, 1, 0, sizeof(g_v1), g_v1[0]);
}
END_TEST

/* ==== 4. store format and foreign directories ========================== */

/* Heap "keep": lines 0-1 in checkpoint 1 ("base"), line 2 live; closed. */
static void setup_format(void)
{
	uint64_t v = 0;

	cu_setup_heap("keep");
	for (uint64_t i = 0; i < 3; i++)
		tu_fill(g_live[i], LS, 7, i);
	ck_assert_int_eq(hs_heap_write(g_heap, g_live, 2 * LS, 0), 2 * LS);
	ck_assert_int_eq(hs_version_seal(g_heap, "base", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(hs_heap_write(g_heap, g_live[2], LS, 2 * LS), LS);
	close_heaps();
}

static void expect_keep_intact(void)
{
	hs_version_info vi;
	uint64_t v = 0;

	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "keep"), 0);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, 3 * LS, g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, 2 * LS, g_live[0]);
	ck_assert_int_eq(hs_version_info_get(g_heap, 1, &vi), 0);
	ck_assert_str_eq(vi.label, "base");
	ck_assert_int_eq(hs_version_find_label(g_heap, "base", &v), 0);
	ck_assert_uint_eq(v, 1);
	close_heaps();
}

enum store_rec_fault { SR_FORMAT, SR_MAGIC, SR_SHORT, SR_LONG, SR_ID_SHORT, SR_ID_DELETED };

static const struct {
	enum store_rec_fault fault;
	uint32_t format;
	int rc;
	const char *why;
} store_rec_faults[] = {
	{ SR_FORMAT, 4, -EPROTONOSUPPORT, "format 4" },
	{ SR_FORMAT, 0, -EPROTONOSUPPORT, "format 0" },
	{ SR_FORMAT, UINT32_MAX, -EPROTONOSUPPORT, "format 4294967295" },
	{ SR_MAGIC, 2, -EUCLEAN, "format record" },
	{ SR_SHORT, 2, -EUCLEAN, "format record" },
	{ SR_LONG, 2, -EUCLEAN, "format record" },
	{ SR_ID_SHORT, 2, -EUCLEAN, "counter" },
	{ SR_ID_DELETED, 2, -EUCLEAN, "counter" },
};

START_TEST(store_record_damage_refused)
{
	static const uint8_t want_f[17] = "heapfs-store\0\3\0\0\0";
	const uint8_t key = store_rec_faults[_i].fault >= SR_ID_SHORT ? 'I' : 'F';
	uint8_t dmg[32], orig[32], now[32];
	size_t olen, dlen = 0, nlen;
	bool deleted = false, found;
	struct raw_db raw;

	ck_assert(st_get(HS_CF_META, &key, 1, orig, sizeof(orig) - 1, &olen));
	if (key == 'F') {
		ck_assert_uint_eq(olen, sizeof(want_f));
		ck_assert_mem_eq(orig, want_f, sizeof(want_f));
	} else {
		ck_assert_uint_eq(olen, 8);
	}
	memcpy(dmg, orig, olen);
	switch (store_rec_faults[_i].fault) {
	case SR_FORMAT:
		hs_le32_put(dmg + 13, store_rec_faults[_i].format);
		dlen = olen;
		break;
	case SR_MAGIC:
		dmg[10] = 'o';        /* "heapfs-stooe" */
		dlen = olen;
		break;
	case SR_SHORT:
		dlen = 8;
		break;
	case SR_LONG:
		dmg[olen] = 0;
		dlen = olen + 1;
		break;
	case SR_ID_SHORT:
		dlen = 3;
		break;
	case SR_ID_DELETED:
		deleted = true;
		break;
	}
	if (deleted)
		st_delete(HS_CF_META, &key, 1);
	else
		st_put(HS_CF_META, &key, 1, dmg, dlen);
	hs_store_close(g_store);
	g_store = NULL;

	for (int ro = 0; ro < 2; ro++) {
		hs_store_opts o = HS_STORE_OPTS_INIT;
		hs_store *s = SENTINEL;
		int rc;

		o.read_only = ro;
		rc = hs_store_open(&s, g_dir, &o);
		if (rc == 0 && s && s != SENTINEL)
			hs_store_close(s);
		ck_assert_msg(rc == store_rec_faults[_i].rc, "open (read_only %d) gave %d: %s",
			      ro, rc, hs_error_last());
		ck_assert_ptr_null(s);
		cu_expect_msg_has(store_rec_faults[_i].why);
	}

	/* The refusals wrote nothing: the record is still the damaged one. */
	raw_open(&raw, g_dir, true);
	found = raw_get(raw.db, raw.cf[HS_CF_META], &key, 1, now, sizeof(now), &nlen);
	raw_close(&raw);
	ck_assert_int_eq(found, !deleted);
	if (found) {
		ck_assert_uint_eq(nlen, dlen);
		ck_assert_mem_eq(now, dmg, dlen);
	}

	/* Put back, the store opens with everything in it. */
	raw_open(&raw, g_dir, false);
	raw_put(raw.db, raw.cf[HS_CF_META], &key, 1, orig, olen);
	raw_close(&raw);
	ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
	expect_keep_intact();
}
END_TEST

/* "name size mtime" of every entry of @dir, sorted; malloc'd. */
static char *dir_snapshot(const char *dir)
{
	struct dirent **ents = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int n = scandir(dir, &ents, NULL, alphasort);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..") &&
		    stat(path, &st) == 0)
			fprintf(f, "%s %lld %lld.%09ld\n", ents[i]->d_name,
				(long long)st.st_size, (long long)st.st_mtim.tv_sec,
				st.st_mtim.tv_nsec);
		free(ents[i]);
	}
	free(ents);
	fclose(f);
	return out;
}

START_TEST(store_open_refuses_directory_with_other_files)
{
	static const char text[] = "heap notes, not a store\n";
	char path[4096], back[64] = { 0 };
	char *before, *after;
	FILE *f;

	g_aux = tu_tmpdir("foreign");
	ck_assert_ptr_nonnull(g_aux);
	snprintf(path, sizeof(path), "%s/notes.txt", g_aux);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	before = dir_snapshot(g_aux);

	for (int ro = 0; ro < 2; ro++) {
		hs_store_opts o = HS_STORE_OPTS_INIT;
		hs_store *s = SENTINEL;
		int rc;

		o.read_only = ro;
		rc = hs_store_open(&s, g_aux, &o);
		if (rc == 0 && s && s != SENTINEL)
			hs_store_close(s);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_ptr_null(s);
		cu_expect_msg_has("not a heapfs store");
	}
	after = dir_snapshot(g_aux);
	ck_assert_str_eq(after, before);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(back, 1, sizeof(back) - 1, f), strlen(text));
	fclose(f);
	ck_assert_str_eq(back, text);
	free(before);
	free(after);
}
END_TEST

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Column families of the database in @dir, sorted, comma-separated. */
static char *cf_list(const char *dir)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL, **names, *out = NULL;
	size_t n = 0, len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	names = rocksdb_list_column_families(o, dir, &n, &err);
	rocksdb_options_destroy(o);
	ck_assert_msg(err == NULL, "listing column families: %s", err);
	qsort(names, n, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", names[i]);
	rocksdb_list_column_families_destroy(names, n);
	fclose(f);
	return out;
}

static const struct {
	const char *what;
	const char *cfs[8];       /* column families besides "default" */
	bool heapfs_cfs;          /* exactly heapfs's column families */
	bool opens;               /* heapstore gets as far as opening it */
	const char *why;
} foreign_dbs[] = {
	{ "plain database", { NULL }, false, false, "not a heapfs store" },
	{ "some other column families", { "meta", "other", NULL }, false, false,
	  "not a heapfs store" },
	{ "heapfs column families, no format record",
	  { "meta", "lines", "changes", "blobs", "refs", "hrefs", NULL }, true, true,
	  "not a heapfs store" },
	{ "heapfs column families and one more",
	  { "meta", "lines", "changes", "blobs", "refs", "hrefs", "zzz", NULL }, false, true,
	  NULL },
};

START_TEST(store_open_refuses_foreign_database)
{
	static const char *const default_cf[1] = { "default" };
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	const rocksdb_options_t *cfo[1] = { o };
	rocksdb_column_family_handle_t *cfh[1] = { NULL };
	char *err = NULL, *cfs_before, *cfs_after, *files_before, *files_after, *v;
	size_t vlen = 0;
	rocksdb_t *db;

	g_aux = tu_tmpdir("rocksdb");
	ck_assert_ptr_nonnull(g_aux);
	rocksdb_options_set_create_if_missing(o, 1);
	db = rocksdb_open(o, g_aux, &err);
	ck_assert_msg(err == NULL, "rocksdb_open: %s", err);
	for (int i = 0; foreign_dbs[_i].cfs[i]; i++) {
		rocksdb_column_family_handle_t *cf =
			rocksdb_create_column_family(db, o, foreign_dbs[_i].cfs[i], &err);

		ck_assert_msg(err == NULL, "create column family: %s", err);
		rocksdb_column_family_handle_destroy(cf);
	}
	rocksdb_put(db, wo, "k", 1, "value", 5, &err);
	ck_assert_msg(err == NULL, "put: %s", err);
	rocksdb_close(db);
	cfs_before = cf_list(g_aux);
	files_before = dir_snapshot(g_aux);

	for (int read_only = 0; read_only < 2; read_only++) {
		hs_store_opts so = HS_STORE_OPTS_INIT;
		hs_store *s = SENTINEL;
		int rc;

		so.read_only = read_only;
		rc = hs_store_open(&s, g_aux, &so);
		if (rc == 0 && s && s != SENTINEL)
			hs_store_close(s);
		ck_assert_msg(rc == -EINVAL, "%s (read_only %d): %d: %s",
			      foreign_dbs[_i].what, read_only, rc, hs_error_last());
		ck_assert_ptr_null(s);
		if (foreign_dbs[_i].why)
			cu_expect_msg_has(foreign_dbs[_i].why);
	}

	/* The database is as it was: same column families, same data, and,
	 * unless heapstore had to open it to look, the very same files. */
	cfs_after = cf_list(g_aux);
	ck_assert_str_eq(cfs_after, cfs_before);
	files_after = dir_snapshot(g_aux);
	if (!foreign_dbs[_i].opens)
		ck_assert_str_eq(files_after, files_before);
	if (foreign_dbs[_i].heapfs_cfs) {
		struct raw_db raw;
		uint8_t fkey = 'F', ikey = 'I', val[64];
		bool has_f, has_i;

		raw_open(&raw, g_aux, true);
		has_f = raw_get(raw.db, raw.cf[HS_CF_META], &fkey, 1, val, sizeof(val), &vlen);
		has_i = raw_get(raw.db, raw.cf[HS_CF_META], &ikey, 1, val, sizeof(val), &vlen);
		raw_close(&raw);
		ck_assert_msg(!has_f && !has_i,
			      "heapstore wrote its records into a foreign database");
	}
	/* Read-only, RocksDB opens "default" alone whatever else there is. */
	rocksdb_options_set_create_if_missing(o, 0);
	db = rocksdb_open_for_read_only_column_families(o, g_aux, 1, default_cf, cfo,
							cfh, 0, &err);
	ck_assert_msg(err == NULL, "reopen: %s", err);
	v = rocksdb_get(db, ro, "k", 1, &vlen, &err);
	ck_assert_msg(err == NULL, "get: %s", err);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(vlen, 5);
	ck_assert_mem_eq(v, "value", 5);
	rocksdb_free(v);
	rocksdb_column_family_handle_destroy(cfh[0]);
	rocksdb_close(db);
	rocksdb_readoptions_destroy(ro);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_options_destroy(o);
	free(cfs_before);
	free(cfs_after);
	free(files_before);
	free(files_after);
}
END_TEST

START_TEST(store_open_twice_busy)
{
	hs_store *s = SENTINEL;
	uint8_t data[LS];
	int rc;

	rc = hs_store_open(&s, g_dir, NULL);
	if (rc == 0 && s && s != SENTINEL)
		hs_store_close(s);
	ck_assert_msg(rc == -EBUSY, "second open gave %d: %s", rc, hs_error_last());
	ck_assert_ptr_null(s);

	/* The first handle is unaffected. */
	expect_keep_intact();
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "keep"), 0);
	tu_fill(data, LS, 7, 3);
	ck_assert_int_eq(hs_heap_write(g_heap, data, LS, 3 * LS), LS);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 3 * LS, LS, data);
	ck_assert_int_eq(hs_heap_create(g_store, "after", NULL), 0);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

/* ==== 6. fsck finds what was damaged ==================================== */

struct found {
	int n;
	char text[4096];
};

static void found_add(const char *problem, void *payload)
{
	struct found *f = payload;
	size_t len = strlen(f->text);

	f->n++;
	snprintf(f->text + len, sizeof(f->text) - len, "%s\n", problem);
}

static struct found fsck_run(int flags)
{
	struct found f = { 0, "" };
	ssize_t n = hs_store_fsck(g_store, flags, found_add, &f);

	ck_assert_msg(n >= 0, "fsck failed: %s", hs_error_last());
	ck_assert_int_eq(n, f.n);
	return f;
}

START_TEST(fsck_clean_store_has_no_problems)
{
	struct found f = fsck_run(HS_FSCK_VERIFY_DATA);

	ck_assert_msg(f.n == 0, "a sound store has problems:\n%s", f.text);
	/* Deleting things keeps it sound. */
	ck_assert_int_eq(hs_version_delete(g_heap, 1), 0);
	close_heaps();
	ck_assert_int_eq(hs_heap_delete(g_store, "bystander"), 0);
	f = fsck_run(HS_FSCK_VERIFY_DATA);
	ck_assert_msg(f.n == 0, "problems after deletions:\n%s", f.text);
}
END_TEST

/* Each line fault of the table is reported, the blob ones only with --verify-data
 * where the frame still looks like one. */
START_TEST(fsck_reports_each_line_fault)
{
	const struct fault_target *t = &sealed_target;
	struct found f;

	inject_line_fault(line_faults[_i].fault, t, g_v1[t->line]);
	f = fsck_run(HS_FSCK_VERIFY_DATA);
	ck_assert_msg(f.n >= 1, "%s: fsck found nothing", line_faults[_i].what);
	/* Without data verification it still sees everything but bad content. */
	f = fsck_run(0);
	if (!line_faults[_i].blob || line_faults[_i].fault == BLOB_DELETED ||
	    line_faults[_i].fault == BLOB_EMPTY || line_faults[_i].fault == BLOB_FLIP_MAGIC)
		ck_assert_msg(f.n >= 1, "%s: fsck without --verify-data found nothing",
			      line_faults[_i].what);
}
END_TEST

START_TEST(fsck_reports_wrong_refcount_and_dangling_records)
{
	uint8_t hash[HS_HASH_LEN], op[HS_REF_VALUE_LEN] = { 0 }, key[HS_META_KEY_MAX];
	uint8_t ckey[HS_CHANGE_KEY_LEN], v[8], zero4[4] = { 0 };
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;
	struct found f;
	size_t kl;

	/* One reference too many on line 0's blob. */
	sha256(g_v1[0], LS, hash);
	hs_le64_put(op, 1);
	rocksdb_merge_cf(hs_store__db(g_store), wo, hs_store__cf(g_store, HS_CF_REFS),
			 (const char *)hash, HS_HASH_LEN, (const char *)op, sizeof(op), &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_ptr_null(err);
	/* A change record whose entry does not exist. */
	hs_key__change(ckey, heap_id(g_heap), 2, 99);
	st_put(HS_CF_CHANGES, ckey, sizeof(ckey), zero4, 4);
	/* A label pointing at a checkpoint that does not exist. */
	kl = hs_key__meta(key, 'L', heap_id(g_heap), "ghost");
	hs_be64_put(v, 42);
	st_put(HS_CF_META, key, kl, v, 8);
	/* A line counter that lies. */
	kl = hs_key__meta(key, 'C', heap_id(g_other), NULL);
	hs_le64_put(v, 1000);
	st_put(HS_CF_META, key, kl, v, 8);
	f = fsck_run(0);
	ck_assert_msg(f.n == 4, "want 4 problems, got %d:\n%s", f.n, f.text);
	ck_assert_ptr_nonnull(strstr(f.text, "reference count 2, but 1 entries"));
	ck_assert_ptr_nonnull(strstr(f.text, "change record of line 99 has no entry"));
	ck_assert_ptr_nonnull(strstr(f.text, "label 'ghost'"));
	ck_assert_ptr_nonnull(strstr(f.text, "line counter says 1000"));
}
END_TEST

/* A hand-over taken leaves a record of its checkpoint that outlives the
 * heap; a damaged record is a problem fsck reports and a read refuses, and
 * repair rewrites it, never drops it (a re-run of that hand-over is then
 * still refused). */
START_TEST(fsck_checks_handover_records)
{
	uint8_t key[HS_HANDOVER_KEY_LEN], junk[5] = { 1, 2, 3, 4, 5 };
	hs_version_info vi;
	hs_heap_info hi;
	hs_handover ho;
	struct found f;

	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_int_eq(hs_version_info_get(g_heap, 1, &vi), 0);
	ck_assert_int_eq(hs_handover_get(g_store, hi.ident, vi.ident, &ho), -ENOENT);
	ck_assert_int_eq(hs_heap_lease_set(g_heap, HS_LEASE_EXPIRED, "nodeb:/m"), 0);
	/* Only at the newest checkpoint, as it is. */
	ck_assert_int_eq(hs_heap_lease_take_over(g_heap, 2, vi.ident), -ESTALE);
	ck_assert_int_eq(hs_heap_lease_take_over(g_heap, 1, hi.ident), -ESTALE);
	ck_assert_int_eq(hs_handover_get(g_store, hi.ident, vi.ident, &ho), -ENOENT);
	ck_assert_int_eq(hs_heap_lease_take_over(g_heap, 1, vi.ident), 0);
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_int_eq(hi.lease, HS_LEASE_HELD);
	close_heaps();
	ck_assert_int_eq(hs_heap_delete(g_store, "victim"), 0);
	ck_assert_int_eq(hs_handover_get(g_store, hi.ident, vi.ident, &ho), 0);
	ck_assert_uint_eq(ho.version, 1);
	ck_assert_int_eq(hs_handover_get(g_store, vi.ident, hi.ident, &ho), -ENOENT);
	f = fsck_run(0);
	ck_assert_msg(f.n == 0, "problems with a record:\n%s", f.text);
	hs_key__handover(key, hi.ident, vi.ident);
	st_put(HS_CF_META, key, sizeof(key), junk, sizeof(junk));
	ck_assert_int_eq(hs_handover_get(g_store, hi.ident, vi.ident, &ho), -EUCLEAN);
	f = fsck_run(0);
	ck_assert_msg(f.n == 1 && strstr(f.text, "hand-over record damaged"),
		      "want 1 problem, got %d:\n%s", f.n, f.text);
	f.n = 0;
	f.text[0] = '\0';
	ck_assert_int_eq(hs_store_fsck(g_store, HS_FSCK_REPAIR, found_add, &f), 0);
	ck_assert_msg(f.n == 1 && strstr(f.text, "rewritten as unknown"), "%s", f.text);
	ck_assert_int_eq(hs_handover_get(g_store, hi.ident, vi.ident, &ho), 0);
	ck_assert_uint_eq(ho.version, 0);
	f = fsck_run(0);
	ck_assert_msg(f.n == 0, "problems after repair:\n%s", f.text);
}
END_TEST

Suite *hs_corrupt_suite(void);

Suite *hs_corrupt_suite(void)
{
	Suite *s = suite_create("heapstore_corrupt");
	TCase *tc;

	tc = tcase_create("lines");
	tcase_add_checked_fixture(tc, setup_lines, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, line_fault_in_checkpoint_reported_and_contained, 0,
			    (int)ARRAY_LEN(line_faults));
	tcase_add_loop_test(tc, line_fault_in_live_heap_reported_and_contained, 0,
			    (int)ARRAY_LEN(line_faults));
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_checked_fixture(tc, setup_lines, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, heap_record_damage_refused, 0, (int)ARRAY_LEN(heap_rec_faults));
	tcase_add_loop_test(tc, version_record_damage_refused, 0,
			    (int)ARRAY_LEN(version_rec_faults));
	suite_add_tcase(s, tc);

	tc = tcase_create("fsck");
	tcase_add_checked_fixture(tc, setup_lines, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fsck_clean_store_has_no_problems);
	tcase_add_loop_test(tc, fsck_reports_each_line_fault, 0, (int)ARRAY_LEN(line_faults));
	tcase_add_test(tc, fsck_reports_wrong_refcount_and_dangling_records);
	tcase_add_test(tc, fsck_checks_handover_records);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_checked_fixture(tc, setup_format, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, store_record_damage_refused, 0, (int)ARRAY_LEN(store_rec_faults));
	tcase_add_test(tc, store_open_refuses_directory_with_other_files);
	tcase_add_loop_test(tc, store_open_refuses_foreign_database, 0,
			    (int)ARRAY_LEN(foreign_dbs));
	tcase_add_test(tc, store_open_twice_busy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("test_heapstore_corrupt", hs_corrupt_suite);
}
