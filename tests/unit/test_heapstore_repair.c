/*
 * test_heapstore_repair.c - fsck and fsck --repair against faults injected
 * into a real store (Check suite hs_repair_suite).
 *
 *   faults     one fault per test, written into the RocksDB values of a
 *              store built through the public API (hs_store__db/cf): a
 *              byte flipped in a blob, a deleted blob, reference counts too
 *              high and too low, a line entry naming no blob and no refs
 *              record, wrong live line counters.  fsck reports it, naming
 *              heap and line, and changes nothing (a digest of every key and
 *              value of every column family, before and after); repair
 *              fixes it; fsck --verify-data then finds no error; every
 *              untouched line reads back exactly, the damaged one reads as
 *              an error until rewritten, and then reads its new content.
 *   invariant  line entries and change records match after checkpoint
 *              deletes that merge entries into the next version; a missing
 *              change record and an orphan one are reported, and repair
 *              leaves them (and the store) alone.
 *   repair     on a clean store repair changes nothing; it is refused on a
 *              read-only store and while a heap is open; a lost line comes
 *              back when its content is written anywhere.
 *   heapctl    the built heapctl binary: fsck exits 1, --json, --repair
 *              refused while the store is held, --repair, then fsck exits 0
 *              with "0 errors".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rocksdb/c.h>

#include "heapstore_int.h"
#include "corrupt_util.h"
#include "test_util.h"

#define LIVE_LINE 6                       /* rewritten after checkpoint 1 */
#define SHARED_LINE 0                     /* its content is bystander line 3 too */
#define N_BYSTANDER 4

static uint8_t g_by[N_BYSTANDER][LS];
static uint64_t g_victim_id, g_by_id;
static uint64_t g_victim_lines, g_by_lines;   /* lines_used after setup */

/* ---- raw access through the test hooks --------------------------------- */

static void sha256(const void *data, size_t len, uint8_t out[HS_HASH_LEN])
{
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
	ck_assert_uint_eq(n, HS_HASH_LEN);
}

static bool st_get(enum hs_cf cf, const void *key, size_t klen, void *out, size_t cap,
		   size_t *vlen)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL, *v;
	bool fits;

	*vlen = 0;
	v = rocksdb_get_cf(hs_store__db(g_store), ro, hs_store__cf(g_store, cf), key, klen,
			   vlen, &err);
	rocksdb_readoptions_destroy(ro);
	ck_assert_msg(err == NULL, "rocksdb get: %s", err);
	if (!v)
		return false;
	fits = *vlen <= cap;
	if (fits)
		memcpy(out, v, *vlen);
	rocksdb_free(v);
	ck_assert_msg(fits, "value of %zu bytes, room for %zu", *vlen, cap);
	return true;
}

static void st_put(enum hs_cf cf, const void *key, size_t klen, const void *val, size_t vlen)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;

	rocksdb_put_cf(hs_store__db(g_store), wo, hs_store__cf(g_store, cf), key, klen, val,
		       vlen, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_msg(err == NULL, "rocksdb put: %s", err);
}

static void st_delete(enum hs_cf cf, const void *key, size_t klen)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char *err = NULL;

	rocksdb_delete_cf(hs_store__db(g_store), wo, hs_store__cf(g_store, cf), key, klen, &err);
	rocksdb_writeoptions_destroy(wo);
	ck_assert_msg(err == NULL, "rocksdb delete: %s", err);
}

/* SHA-256 over every key and value of every column family, in order. */
static void store_digest(uint8_t out[HS_HASH_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	rocksdb_readoptions_t *ro = tu_scan_ro();
	unsigned int n = 0;

	ck_assert_ptr_nonnull(md);
	ck_assert_int_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	for (int cf = 0; cf < HS_CF_COUNT; cf++) {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(hs_store__db(g_store), ro,
								    hs_store__cf(g_store, cf));
		uint8_t tag = (uint8_t)cf;

		EVP_DigestUpdate(md, &tag, 1);
		for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
			size_t kl, vl;
			const char *k = rocksdb_iter_key(it, &kl);
			const char *v = rocksdb_iter_value(it, &vl);
			uint64_t lens[2] = { kl, vl };

			EVP_DigestUpdate(md, lens, sizeof(lens));
			EVP_DigestUpdate(md, k, kl);
			EVP_DigestUpdate(md, v, vl);
		}
		rocksdb_iter_destroy(it);
	}
	ck_assert_int_eq(EVP_DigestFinal_ex(md, out, &n), 1);
	EVP_MD_CTX_free(md);
	rocksdb_readoptions_destroy(ro);
}

/* ---- running fsck ------------------------------------------------------- */

enum { R_ERROR, R_REPAIRED, R_LOST };

static struct reports {
	int n[3];
	char text[3][16384];
} g_r;

static void rep_add(const char *msg, void *payload)
{
	struct reports *r = payload;
	int kind = R_ERROR;
	size_t len;

	if (!strncmp(msg, HS_FSCK_REPAIRED, strlen(HS_FSCK_REPAIRED)))
		kind = R_REPAIRED;
	else if (!strncmp(msg, HS_FSCK_LOST, strlen(HS_FSCK_LOST)))
		kind = R_LOST;
	r->n[kind]++;
	len = strlen(r->text[kind]);
	snprintf(r->text[kind] + len, sizeof(r->text[kind]) - len, "%s\n", msg);
}

/* Run fsck on g_store; its result must be the errors it reported. */
static ssize_t fsck_run(int flags)
{
	ssize_t n;

	memset(&g_r, 0, sizeof(g_r));
	n = hs_store_fsck(g_store, flags, rep_add, &g_r);
	ck_assert_msg(n >= 0, "fsck (flags %d) failed: %zd %s", flags, n, hs_error_last());
	ck_assert_int_eq(n, g_r.n[R_ERROR]);
	return n;
}

#define expect_report(kind, phrase) \
	ck_assert_msg(strstr(g_r.text[kind], (phrase)) != NULL, \
		      "no " #kind " report has \"%s\"; errors:\n%srepaired:\n%slost:\n%s", \
		      (phrase), g_r.text[R_ERROR], g_r.text[R_REPAIRED], g_r.text[R_LOST])

#define expect_clean(what) \
	ck_assert_msg(g_r.n[R_ERROR] == 0, "%s: errors:\n%s", (what), g_r.text[R_ERROR])

/* ---- fixtures ----------------------------------------------------------- */

static void close_heaps(void)
{
	hs_heap_close(g_heap);
	hs_heap_close(g_other);
	g_heap = g_other = NULL;
}

static void open_heaps(void)
{
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "victim"), 0);
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "bystander"), 0);
}

static uint64_t lines_used(hs_heap *h)
{
	hs_heap_info hi;

	ck_assert_int_eq(hs_heap_info_get(h, &hi), 0);
	return hi.lines_used;
}

/*
 * "victim": lines 0..7, checkpoint 1 ("sealed") holds them; line 6 has
 * been rewritten since (an entry of working version 2).  "bystander":
 * lines 0..3, line 3 holding victim line 0's content (one blob, two
 * references).  The heaps are closed afterwards: repair wants the store
 * to itself.
 */
static void setup_heaps(void)
{
	hs_heap_info hi;
	uint64_t v = 0;

	cu_setup_store();
	ck_assert_int_eq(hs_heap_create(g_store, "victim", NULL), 0);
	ck_assert_int_eq(hs_heap_create(g_store, "bystander", NULL), 0);
	open_heaps();
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
	memcpy(g_by[3], g_v1[SHARED_LINE], LS);
	ck_assert_int_eq(hs_heap_write(g_other, g_by, sizeof(g_by), 0), sizeof(g_by));
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	g_victim_id = hi.id;
	g_victim_lines = hi.lines_used;
	ck_assert_uint_eq(g_victim_lines, NLINES);
	ck_assert_int_eq(hs_heap_info_get(g_other, &hi), 0);
	g_by_id = hi.id;
	g_by_lines = hi.lines_used;
	ck_assert_uint_eq(g_by_lines, N_BYSTANDER);
	close_heaps();
	/* A sound store to begin with. */
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_int_eq(g_r.n[R_LOST], 0);
}

/* ---- the faults --------------------------------------------------------- */

enum fault {
	BLOB_FLIPPED,             /* one byte flipped mid-frame */
	BLOB_DELETED,
	REFS_TOO_HIGH,            /* line 1's blob: one reference too many */
	REFS_TOO_LOW,             /* the shared blob: 1 of its 2 references */
	DANGLING_ENTRY,           /* line 5's entry names a hash with no blob, no refs */
	COUNTER_TOO_HIGH,         /* victim's live line counter */
	COUNTER_TOO_LOW,          /* bystander's */
	HEAP_ID_COUNTER,          /* the next heap id: below the heaps' */
};

/* Where a line fault goes: a line checkpoint 1 holds, or the live one. */
#define SEALED_LINE 3
#define DANGLING_LINE 5

static const struct {
	enum fault fault;
	uint64_t line;            /* the damaged line of victim, or -1: none */
	uint64_t entry_version;   /* the version of its entry */
	const char *found;        /* what fsck must say, naming heap and line */
	const char *fixed;        /* what repair must say it did */
	const char *lost;         /* what fsck must say after repair, or NULL */
} faults[] = {
	{ BLOB_FLIPPED, SEALED_LINE, 1, "heap 'victim' line 3 version 1: blob ",
	  "blob deleted, marked lost", "lost: heap 'victim' line 3 version 1: content lost" },
	{ BLOB_FLIPPED, LIVE_LINE, 2, "heap 'victim' line 6 version 2: blob ",
	  "blob deleted, marked lost", "lost: heap 'victim' line 6 version 2: content lost" },
	{ BLOB_DELETED, SEALED_LINE, 1, "heap 'victim' line 3 version 1: blob ",
	  "is missing; marked lost", "lost: heap 'victim' line 3 version 1: content lost" },
	{ BLOB_DELETED, LIVE_LINE, 2, "heap 'victim' line 6 version 2: blob ",
	  "is missing; marked lost", "lost: heap 'victim' line 6 version 2: content lost" },
	{ REFS_TOO_HIGH, UINT64_MAX, 0,
	  "reference count 2, but 1 entries refer to it (heap 'victim' line 1 version 1)",
	  "count set to 1", NULL },
	{ REFS_TOO_LOW, UINT64_MAX, 0,
	  "reference count 1, but 2 entries refer to it (heap 'victim' line 0 version 1 and 1 more)",
	  "count set to 2", NULL },
	{ DANGLING_ENTRY, DANGLING_LINE, 1, "heap 'victim' line 5 version 1: blob ",
	  "is missing; marked lost", "lost: heap 'victim' line 5 version 1: content lost" },
	{ COUNTER_TOO_HIGH, UINT64_MAX, 0,
	  "heap 'victim': line counter says 1000 non-zero lines, there are 8",
	  "set to 8", NULL },
	{ COUNTER_TOO_LOW, UINT64_MAX, 0,
	  "heap 'bystander': line counter says 1 non-zero lines, there are 4",
	  "set to 4", NULL },
	{ HEAP_ID_COUNTER, UINT64_MAX, 0, "heap id counter 1 is not above heap 2",
	  "set to 3", NULL },
};

static const uint8_t *victim_content(uint64_t line, uint64_t version)
{
	return version == 1 ? g_v1[line] : g_live[line];
}

static void ref_count_set(const uint8_t *hash, int64_t count)
{
	uint8_t rec[HS_REF_VALUE_LEN];
	size_t vl;

	ck_assert(st_get(HS_CF_REFS, hash, HS_HASH_LEN, rec, sizeof(rec), &vl));
	ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
	hs_le64_put(rec, (uint64_t)count);
	st_put(HS_CF_REFS, hash, HS_HASH_LEN, rec, sizeof(rec));
}

static int64_t ref_count(const uint8_t *hash)
{
	uint8_t rec[HS_REF_VALUE_LEN];
	size_t vl;

	ck_assert(st_get(HS_CF_REFS, hash, HS_HASH_LEN, rec, sizeof(rec), &vl));
	ck_assert_uint_eq(vl, HS_REF_VALUE_LEN);
	return (int64_t)hs_le64_get(rec);
}

static void counter_set(uint64_t id, uint64_t value)
{
	uint8_t key[HS_META_KEY_MAX], v[8];
	size_t kl = hs_key__meta(key, 'C', id, NULL);

	hs_le64_put(v, value);
	st_put(HS_CF_META, key, kl, v, 8);
}

static void inject(int i)
{
	uint8_t hash[HS_HASH_LEN], key[HS_LINE_KEY_LEN], entry[64];
	static uint8_t frame[2 * LS];
	size_t vl, flen;

	if (faults[i].line != UINT64_MAX) {
		/* The entry names the content's hash, which keys the blob. */
		sha256(victim_content(faults[i].line, faults[i].entry_version), LS, hash);
		hs_key__line(key, g_victim_id, faults[i].line, faults[i].entry_version);
		ck_assert(st_get(HS_CF_LINES, key, sizeof(key), entry, sizeof(entry), &vl));
		ck_assert_uint_eq(vl, HS_HASH_LEN);
		ck_assert_mem_eq(entry, hash, HS_HASH_LEN);
	}
	switch (faults[i].fault) {
	case BLOB_FLIPPED:
		ck_assert(st_get(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, sizeof(frame), &flen));
		ck_assert_uint_gt(flen, 64);
		frame[flen / 2] ^= 0x40;
		st_put(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, flen);
		break;
	case BLOB_DELETED:
		ck_assert(st_get(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, sizeof(frame), &flen));
		st_delete(HS_CF_BLOBS, hash, HS_HASH_LEN);
		break;
	case REFS_TOO_HIGH:
		sha256(g_v1[1], LS, hash);
		ck_assert_int_eq(ref_count(hash), 1);
		ref_count_set(hash, 2);
		break;
	case REFS_TOO_LOW:
		sha256(g_v1[SHARED_LINE], LS, hash);
		ck_assert_int_eq(ref_count(hash), 2);
		ref_count_set(hash, 1);
		break;
	case DANGLING_ENTRY:
		tu_fill(g_wbuf, LS, 9, DANGLING_LINE);
		sha256(g_wbuf, LS, hash);
		ck_assert(!st_get(HS_CF_BLOBS, hash, HS_HASH_LEN, frame, sizeof(frame), &flen));
		ck_assert(!st_get(HS_CF_REFS, hash, HS_HASH_LEN, frame, sizeof(frame), &flen));
		st_put(HS_CF_LINES, key, sizeof(key), hash, HS_HASH_LEN);
		break;
	case COUNTER_TOO_HIGH:
		counter_set(g_victim_id, 1000);
		break;
	case COUNTER_TOO_LOW:
		counter_set(g_by_id, 1);
		break;
	case HEAP_ID_COUNTER:
		ck_assert_uint_eq(g_by_id, 2);
		key[0] = 'I';
		hs_le64_put(entry, 1);
		st_put(HS_CF_META, key, 1, entry, 8);
		/* Reopened, the store would give the next heap id 1: victim's. */
		hs_store_close(g_store);
		g_store = NULL;
		ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
		break;
	}
}

/* Does line @l of victim's @version (1 or live) hold the fault of @i? */
static bool damaged(int i, uint64_t l, uint64_t version)
{
	if (i < 0 || faults[i].line != l)
		return false;
	/* An entry of the working version is not what checkpoint 1 reads. */
	return version == HS_VERSION_LIVE || faults[i].entry_version == 1;
}

/* Every line reads back exactly, but the one fault @i (or none: -1) damaged. */
static void expect_contents(int i)
{
	static const uint64_t versions[] = { HS_VERSION_LIVE, 1 };

	for (size_t k = 0; k < ARRAY_LEN(versions); k++) {
		uint64_t ver = versions[k];

		for (uint64_t l = 0; l < NLINES; l++) {
			const uint8_t *want = ver == 1 ? g_v1[l] : g_live[l];
			ssize_t n;

			if (!damaged(i, l, ver)) {
				cu_expect_bytes(g_heap, ver, l * LS, LS, want);
				continue;
			}
			n = ver == HS_VERSION_LIVE ? hs_heap_read(g_heap, g_rbuf, LS, l * LS) :
				hs_version_read(g_heap, ver, g_rbuf, LS, l * LS);
			ck_assert_msg(n == -EUCLEAN, "damaged line %llu (version %llu) read gave %zd: %s",
				      (unsigned long long)l, (unsigned long long)ver, n,
				      hs_error_last());
			cu_expect_msg_has("'victim'");
			cu_expect_msg_has("missing");
		}
	}
	for (uint64_t l = 0; l < N_BYSTANDER; l++)
		cu_expect_bytes(g_other, HS_VERSION_LIVE, l * LS, LS, g_by[l]);
}

START_TEST(fault_reported_then_repaired)
{
	uint8_t before[HS_HASH_LEN], after[HS_HASH_LEN];
	ssize_t n;

	inject(_i);

	/* fsck reports it, naming heap and line, and changes nothing. */
	store_digest(before);
	n = fsck_run(HS_FSCK_VERIFY_DATA);
	ck_assert_msg(n >= 1, "fsck found nothing");
	expect_report(R_ERROR, faults[_i].found);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), n);
	if (faults[_i].fault != BLOB_FLIPPED) {   /* needs the data read */
		ck_assert_int_ge(fsck_run(0), 1);
		expect_report(R_ERROR, faults[_i].found);
	}
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);

	/* Repair fixes every one of them, and says what it did. */
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], (int)n);
	expect_report(R_REPAIRED, faults[_i].found);
	expect_report(R_REPAIRED, faults[_i].fixed);
	store_digest(after);
	ck_assert(memcmp(before, after, HS_HASH_LEN) != 0);

	/* Then fsck finds no error; a dropped line is reported as lost. */
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
	if (faults[_i].lost) {
		ck_assert_int_eq(g_r.n[R_LOST], 1);
		expect_report(R_LOST, faults[_i].lost);
	} else {
		ck_assert_int_eq(g_r.n[R_LOST], 0);
	}
	/* A second repair has nothing left to do. */
	store_digest(before);
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);

	/* Untouched lines read exactly; the counters are the recount. */
	open_heaps();
	expect_contents(_i);
	ck_assert_uint_eq(lines_used(g_heap), g_victim_lines);
	ck_assert_uint_eq(lines_used(g_other), g_by_lines);
	if (faults[_i].fault == HEAP_ID_COUNTER) {
		hs_heap *third = NULL;
		hs_heap_info hi;

		/* A new heap gets a new id, and victim keeps its own. */
		ck_assert_int_eq(hs_heap_create(g_store, "third", NULL), 0);
		ck_assert_int_eq(hs_heap_open(&third, g_store, "third"), 0);
		ck_assert_int_eq(hs_heap_info_get(third, &hi), 0);
		hs_heap_close(third);
		ck_assert_uint_eq(hi.id, 3);
		expect_contents(_i);
	}
	if (faults[_i].line == UINT64_MAX)
		return;

	/* Rewritten, the damaged line reads its new content; fsck stays clean. */
	tu_fill(g_wbuf, LS, 7, faults[_i].line);
	ck_assert_int_eq(hs_heap_write(g_heap, g_wbuf, LS, faults[_i].line * LS), LS);
	memcpy(g_live[faults[_i].line], g_wbuf, LS);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, faults[_i].line * LS, LS, g_wbuf);
	for (uint64_t l = 0; l < NLINES; l++) {
		if (l != faults[_i].line)
			cu_expect_bytes(g_heap, HS_VERSION_LIVE, l * LS, LS, g_live[l]);
	}
	ck_assert_uint_eq(lines_used(g_heap), g_victim_lines);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	/* Checkpoint 1 still holds the lost content; the live entry is gone. */
	ck_assert_int_eq(g_r.n[R_LOST], faults[_i].entry_version == 1 ? 1 : 0);
	open_heaps();
	if (faults[_i].entry_version == 1) {
		ck_assert_int_eq(hs_version_read(g_heap, 1, g_rbuf, LS, faults[_i].line * LS),
				 -EUCLEAN);
	} else {
		cu_expect_bytes(g_heap, 1, faults[_i].line * LS, LS, g_v1[faults[_i].line]);
	}
}
END_TEST

/* ==== repair itself ====================================================== */

START_TEST(repair_of_clean_store_changes_nothing)
{
	uint8_t before[HS_HASH_LEN], after[HS_HASH_LEN];

	store_digest(before);
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
	ck_assert_int_eq(g_r.n[R_LOST], 0);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	open_heaps();
	expect_contents(-1);
}
END_TEST

START_TEST(repair_refused_while_a_heap_is_open)
{
	uint8_t before[HS_HASH_LEN], after[HS_HASH_LEN];
	ssize_t n;

	inject(0);
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "bystander"), 0);
	store_digest(before);
	n = hs_store_fsck(g_store, HS_FSCK_REPAIR, rep_add, &g_r);
	ck_assert_msg(n == -EBUSY, "repair with a heap open gave %zd: %s", n, hs_error_last());
	cu_expect_msg_has("open");
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	/* Closed, it goes ahead. */
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	ck_assert_int_ge(g_r.n[R_REPAIRED], 1);
}
END_TEST

START_TEST(repair_refused_on_read_only_store)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	uint8_t before[HS_HASH_LEN], after[HS_HASH_LEN];
	ssize_t n;

	inject(3);   /* a deleted blob */
	hs_store_close(g_store);
	o.read_only = 1;
	ck_assert_int_eq(hs_store_open(&g_store, g_dir, &o), 0);
	store_digest(before);
	n = hs_store_fsck(g_store, HS_FSCK_REPAIR, rep_add, &g_r);
	ck_assert_msg(n == -EROFS, "repair on a read-only store gave %zd: %s", n,
		      hs_error_last());
	/* fsck itself runs, and sees the fault. */
	ck_assert_int_ge(fsck_run(0), 1);
	expect_report(R_ERROR, faults[3].found);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	ck_assert_int_eq(hs_store_fsck(g_store, 0x40, NULL, NULL), -EINVAL);
}
END_TEST

/* A lost line's content written anywhere stores its blob again: it reads. */
START_TEST(lost_line_comes_back_when_its_content_is_written)
{
	inject(2);   /* victim line 3's blob deleted */
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	open_heaps();
	ck_assert_int_eq(hs_heap_read(g_heap, g_rbuf, LS, SEALED_LINE * LS), -EUCLEAN);
	/* Into bystander, past its end: the dedup probe must not trust the lost blob. */
	ck_assert_int_eq(hs_heap_write(g_other, g_v1[SEALED_LINE], LS, 5 * LS), LS);
	cu_expect_bytes(g_other, HS_VERSION_LIVE, 5 * LS, LS, g_v1[SEALED_LINE]);
	expect_contents(-1);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_int_eq(g_r.n[R_LOST], 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
}
END_TEST

/* Its own content written back in place brings a lost line back, in every
 * version naming it: the write changes no entry, yet must store the blob. */
START_TEST(lost_line_comes_back_when_rewritten_in_place)
{
	inject(2);   /* victim line 3's blob deleted */
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 0);
	open_heaps();
	ck_assert_int_eq(hs_heap_read(g_heap, g_rbuf, LS, SEALED_LINE * LS), -EUCLEAN);
	ck_assert_int_eq(hs_heap_write(g_heap, g_v1[SEALED_LINE], LS, SEALED_LINE * LS), LS);
	ck_assert_int_eq(hs_heap_sync(g_heap), 0);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, SEALED_LINE * LS, LS, g_v1[SEALED_LINE]);
	cu_expect_bytes(g_heap, 1, SEALED_LINE * LS, LS, g_v1[SEALED_LINE]);
	expect_contents(-1);
	ck_assert_uint_eq(lines_used(g_heap), g_victim_lines);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_int_eq(g_r.n[R_LOST], 0);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
}
END_TEST

/* ==== line entries against change records ================================ */

/* Entries move to the next version with their change records. */
START_TEST(entries_and_changes_match_after_checkpoint_deletes)
{
	static uint8_t line7[LS];
	uint64_t v = 0;

	open_heaps();
	tu_fill(line7, LS, 11, 7);
	ck_assert_int_eq(hs_heap_write(g_heap, line7, LS, 7 * LS), LS);
	ck_assert_int_eq(hs_version_seal(g_heap, NULL, &v), 0);   /* 2: lines 6, 7 */
	ck_assert_uint_eq(v, 2);
	tu_fill(g_wbuf, LS, 12, LIVE_LINE);
	ck_assert_int_eq(hs_heap_write(g_heap, g_wbuf, LS, LIVE_LINE * LS), LS);
	ck_assert_int_eq(hs_state_write(g_heap, g_wbuf, 100, 0), 100);
	ck_assert_int_eq(hs_version_seal(g_heap, NULL, &v), 0);   /* 3: line 6, state */
	tu_fill(g_wbuf, LS, 13, 1);
	ck_assert_int_eq(hs_heap_write(g_heap, g_wbuf, LS, 1 * LS), LS);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);

	/* Line 7's entry moves from 2 to 3; line 6's goes (3 has its own). */
	open_heaps();
	ck_assert_int_eq(hs_version_delete(g_heap, 2), 0);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_msg(g_r.n[R_LOST] == 0 && g_r.n[R_REPAIRED] == 0, "reports:\n%s%s",
		      g_r.text[R_LOST], g_r.text[R_REPAIRED]);

	/* Checkpoint 1's entries move to 3, the working version's stay. */
	open_heaps();
	ck_assert_int_eq(hs_version_delete(g_heap, 1), 0);
	cu_expect_bytes(g_heap, 3, 7 * LS, LS, line7);
	cu_expect_bytes(g_heap, 3, 2 * LS, LS, g_v1[2]);
	ck_assert_int_eq(hs_heap_restore(g_heap, 3), 0);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);

	/* The last checkpoint's entries move into the working version. */
	open_heaps();
	ck_assert_int_eq(hs_version_delete(g_heap, 3), 0);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 7 * LS, LS, line7);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 2 * LS, LS, g_v1[2]);
	close_heaps();
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
	ck_assert_int_eq(hs_heap_delete(g_store, "bystander"), 0);
	ck_assert_int_eq(fsck_run(HS_FSCK_VERIFY_DATA), 0);
}
END_TEST

START_TEST(entry_without_change_record_reported_not_repaired)
{
	uint8_t ckey[HS_CHANGE_KEY_LEN], before[HS_HASH_LEN], after[HS_HASH_LEN];
	uint8_t v[8];
	size_t vl;

	/* Checkpoint 1 forgets that it changed line 2. */
	hs_key__change(ckey, g_victim_id, 1, 2);
	ck_assert(st_get(HS_CF_CHANGES, ckey, sizeof(ckey), v, sizeof(v), &vl));
	st_delete(HS_CF_CHANGES, ckey, sizeof(ckey));
	/* The working version claims a line it has no entry for. */
	hs_key__change(ckey, g_by_id, 1, 99);
	st_put(HS_CF_CHANGES, ckey, sizeof(ckey), v, 4);
	/* And a change record of the wrong size. */
	hs_key__change(ckey, g_victim_id, 2, LIVE_LINE);
	st_put(HS_CF_CHANGES, ckey, sizeof(ckey), v, 7);

	ck_assert_int_eq(fsck_run(0), 3);
	expect_report(R_ERROR, "heap 'victim' line 2 version 1: entry has no change record");
	expect_report(R_ERROR, "heap 'bystander' version 1: change record of line 99 has no entry");
	expect_report(R_ERROR, "heap 'victim' version 2: change record of line 6 is 7 bytes");

	/* Repair may not guess which side is right: it leaves both. */
	store_digest(before);
	ck_assert_int_eq(fsck_run(HS_FSCK_REPAIR), 3);
	ck_assert_int_eq(g_r.n[R_REPAIRED], 0);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
}
END_TEST

/* ==== heapctl end to end ================================================= */

static char g_out[65536], g_err[8192];

static void slurp(int fd, char *buf, size_t cap)
{
	ssize_t n;
	size_t len = 0;

	lseek(fd, 0, SEEK_SET);
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
}

/* Run heapctl with @args (NULL-terminated): exit status, output in g_out/g_err. */
static int heapctl(const char *const *args)
{
	char *out = tu_tmpdir("ctl-out"), path[4200];
	const char *argv[16] = { HEAPCTL_BIN };
	int ofd, efd, status = 0;
	size_t n = 1;
	pid_t pid;

	ck_assert_ptr_nonnull(out);
	for (; args[n - 1] && n < ARRAY_LEN(argv) - 1; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/out", out);
	ofd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	snprintf(path, sizeof(path), "%s/err", out);
	efd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	tu_rmtree(out);
	free(out);
	ck_assert_int_ge(ofd, 0);
	ck_assert_int_ge(efd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
			_exit(126);
		execv(HEAPCTL_BIN, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	slurp(ofd, g_out, sizeof(g_out));
	slurp(efd, g_err, sizeof(g_err));
	ck_assert_msg(WIFEXITED(status), "heapctl died: status %d", status);
	return WEXITSTATUS(status);
}

/* The last line of g_out. */
static const char *last_line(void)
{
	size_t len = strlen(g_out);

	while (len && g_out[len - 1] == '\n')
		g_out[--len] = '\0';
	while (len && g_out[len - 1] != '\n')
		len--;
	return g_out + len;
}

#define expect_out(phrase) \
	ck_assert_msg(strstr(g_out, (phrase)) != NULL, "heapctl output lacks \"%s\":\n%s\n%s", \
		      (phrase), g_out, g_err)

START_TEST(heapctl_fsck_repair_end_to_end)
{
	const char *fsck[] = { "fsck", "--store", g_dir, NULL };
	const char *fsck_json[] = { "--json", "fsck", "--store", g_dir, "--verify-data", NULL };
	const char *repair[] = { "fsck", "--store", g_dir, "--repair", NULL };
	const char *verify[] = { "fsck", "--store", g_dir, "--verify-data", NULL };
	uint8_t before[HS_HASH_LEN], after[HS_HASH_LEN];
	int rc;

	inject(2);   /* victim line 3's blob deleted */
	inject(7);   /* victim's line counter too high */
	store_digest(before);

	/* Held by another process (this one), the store is not repaired. */
	rc = heapctl(repair);
	ck_assert_msg(rc == 1, "repair of a held store exited %d:\n%s%s", rc, g_out, g_err);
	ck_assert_msg(strstr(g_err, "heapctl: ") && strstr(g_err, g_dir),
		      "no error naming the store: %s", g_err);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	hs_store_close(g_store);
	g_store = NULL;

	/* Plain fsck: exit 1, each problem on a line, "N errors" last. */
	rc = heapctl(fsck);
	ck_assert_msg(rc == 1, "fsck of a damaged store exited %d:\n%s%s", rc, g_out, g_err);
	expect_out("heap 'victim' line 3 version 1: blob ");
	expect_out("heap 'victim': line counter says 1000");
	ck_assert_str_eq(last_line(), "2 errors");
	rc = heapctl(fsck_json);
	ck_assert_int_eq(rc, 1);
	expect_out("\"errors\": 2");
	expect_out("\"problems\": [");
	expect_out("heap 'victim' line 3 version 1: blob ");

	ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
	store_digest(after);
	ck_assert_mem_eq(before, after, HS_HASH_LEN);
	hs_store_close(g_store);
	g_store = NULL;

	/* Repair: every problem fixed, exit 0. */
	rc = heapctl(repair);
	ck_assert_msg(rc == 0, "repair exited %d:\n%s%s", rc, g_out, g_err);
	expect_out("repaired: heap 'victim' line 3 version 1: blob ");
	expect_out("repaired: heap 'victim': line counter says 1000 non-zero lines, there are 8");
	expect_out("\n2 repaired\n");
	ck_assert_str_eq(last_line(), "0 errors");

	/* Then fsck --verify-data: clean, exit 0, the lost line listed apart. */
	rc = heapctl(verify);
	ck_assert_msg(rc == 0, "fsck after repair exited %d:\n%s%s", rc, g_out, g_err);
	expect_out("lost: heap 'victim' line 3 version 1: content lost");
	expect_out("\n1 lines lost\n");
	ck_assert_str_eq(last_line(), "0 errors");
	rc = heapctl(fsck_json);
	ck_assert_int_eq(rc, 0);
	expect_out("\"errors\": 0");
	expect_out("\"lost\": [");
	expect_out("\"heap 'victim' line 3 version 1: content lost");

	ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
	open_heaps();
	expect_contents(2);
}
END_TEST

Suite *hs_repair_suite(void);

Suite *hs_repair_suite(void)
{
	Suite *s = suite_create("heapstore_repair");
	TCase *tc;

	tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, setup_heaps, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fault_reported_then_repaired, 0, (int)ARRAY_LEN(faults));
	suite_add_tcase(s, tc);

	tc = tcase_create("invariant");
	tcase_add_checked_fixture(tc, setup_heaps, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, entries_and_changes_match_after_checkpoint_deletes);
	tcase_add_test(tc, entry_without_change_record_reported_not_repaired);
	suite_add_tcase(s, tc);

	tc = tcase_create("repair");
	tcase_add_checked_fixture(tc, setup_heaps, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, repair_of_clean_store_changes_nothing);
	tcase_add_test(tc, repair_refused_while_a_heap_is_open);
	tcase_add_test(tc, repair_refused_on_read_only_store);
	tcase_add_test(tc, lost_line_comes_back_when_its_content_is_written);
	tcase_add_test(tc, lost_line_comes_back_when_rewritten_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("heapctl");
	tcase_add_checked_fixture(tc, setup_heaps, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, heapctl_fsck_repair_end_to_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("test_heapstore_repair", hs_repair_suite);
}
