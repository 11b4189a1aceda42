/*
 * test_heapstore_hostile.c - heapstore refusing hostile input (Check suite
 * hs_hostile_suite).
 *
 *   names      heap names that break the rules
 *   labels     checkpoint labels that break the rules
 *   sizes      line sizes, heap sizes, offsets and lengths at and past the
 *              limits, versions that do not exist, oversized transactions
 *
 * Input goes in through the public API only.  A refused call must give the
 * exact errno and is followed by a re-read proving that nothing changed; an
 * input at the limit must be accepted and work.  Faults injected into the
 * store itself are test_heapstore_corrupt.c's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "heapstore.h"
#include "corrupt_util.h"
#include "test_util.h"

#define IO_SIZE (2 * (uint64_t)LS + LS / 2)   /* size of heap "io" */

/* Scratch buffers, static for the reason corrupt_util.h gives. */
static uint8_t g_big[HS_LINE_SIZE_MAX];
static uint8_t g_want[sizeof(g_live)];

/* Offset of the first byte of @p that is not @c, or -1. */
static long first_byte_not(const uint8_t *p, uint8_t c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != c)
			return (long)i;
	}
	return -1;
}

/* ==== 1. hostile names and labels ====================================== */

/* Heaps "alpha" (100 bytes written) and "beta" exist before each name test. */
static hs_heap_info g_base[2];

static void setup_names(void)
{
	static const char *const names[2] = { "alpha", "beta" };
	uint8_t buf[100];

	cu_setup_store();
	ck_assert_int_eq(hs_heap_create(g_store, "alpha", NULL), 0);
	ck_assert_int_eq(hs_heap_create(g_store, "beta", NULL), 0);
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, "alpha"), 0);
	tu_fill(buf, sizeof(buf), 11, 0);
	ck_assert_int_eq(hs_heap_write(g_heap, buf, sizeof(buf), 0), sizeof(buf));
	hs_heap_close(g_heap);
	g_heap = NULL;
	for (int i = 0; i < 2; i++) {
		hs_heap *h;

		ck_assert_int_eq(hs_heap_open(&h, g_store, names[i]), 0);
		ck_assert_int_eq(hs_heap_info_get(h, &g_base[i]), 0);
		hs_heap_close(h);
	}
}

/* The heap list is exactly the two heaps of setup_names, unchanged, plus
 * @extra if it is not NULL. */
static void expect_base_heaps(const char *extra)
{
	hs_heap_info *arr = NULL;
	size_t n = 0, j = 0, extras = 0;

	ck_assert_int_eq(hs_heap_list(g_store, &arr, &n), 0);
	ck_assert_uint_eq(n, extra ? 3 : 2);
	for (size_t i = 0; i < n; i++) {
		if (extra && strcmp(arr[i].name, extra) == 0) {
			extras++;
			continue;
		}
		ck_assert_uint_lt(j, 2);
		ck_assert_str_eq(arr[i].name, g_base[j].name);
		ck_assert_uint_eq(arr[i].id, g_base[j].id);
		ck_assert_uint_eq(arr[i].size_bytes, g_base[j].size_bytes);
		ck_assert_uint_eq(arr[i].lines_used, g_base[j].lines_used);
		ck_assert_uint_eq(arr[i].version, g_base[j].version);
		j++;
	}
	ck_assert_uint_eq(extras, extra ? 1 : 0);
	free(arr);
}

struct name_case {
	const char *name;         /* the name, unless fill or null says otherwise */
	size_t fill;              /* > 0: a name of this many bytes */
	bool null;                /* the NULL pointer */
	int rc;
	const char *why;          /* what the refusal's message must say */
};

static const struct name_case name_cases[] = {
	{ "", 0, false, -EINVAL, "empty" },
	{ NULL, HS_NAME_MAX + 1, false, -EINVAL, "longer than 200" },
	{ NULL, HS_NAME_MAX, false, 0, NULL },
	{ "/", 0, false, -EINVAL, "0x2f" },
	{ "a/b", 0, false, -EINVAL, "0x2f" },
	{ "..", 0, false, -EINVAL, "starts with '.'" },
	{ ".", 0, false, -EINVAL, "starts with '.'" },
	{ ".hidden", 0, false, -EINVAL, "starts with '.'" },
	{ "a b", 0, false, -EINVAL, "0x20" },
	{ "h\xc3\xa9" "ap", 0, false, -EINVAL, "0xc3" },
	{ "tab\t", 0, false, -EINVAL, "0x09" },
	{ "new\nline", 0, false, -EINVAL, "0x0a" },
	{ "-ok", 0, false, 0, NULL },
	{ "ok.1_x-Y", 0, false, 0, NULL },
	{ NULL, 0, true, -EINVAL, "empty" },
};

static const char *case_name(const struct name_case *c, char *buf)
{
	if (c->null)
		return NULL;
	if (!c->fill)
		return c->name;
	for (size_t i = 0; i < c->fill; i++)
		buf[i] = (char)('a' + i % 26);
	buf[c->fill] = '\0';
	return buf;
}

START_TEST(heap_name_hostile_refused_or_accepted)
{
	const struct name_case *c = &name_cases[_i];
	char buf[HS_NAME_MAX + 2];
	const char *name = case_name(c, buf);
	hs_heap *h = SENTINEL;
	hs_heap_info hi;
	uint8_t data[10], back[10];

	ck_assert_int_eq(hs_name_check(name), c->rc);
	if (c->rc < 0) {
		cu_expect_msg_has(c->why);
		ck_assert_int_eq(hs_heap_create(g_store, name, NULL), c->rc);
		cu_expect_msg_has(c->why);
		expect_base_heaps(NULL);
		ck_assert_int_eq(hs_heap_open(&h, g_store, name), c->rc);
		ck_assert_ptr_null(h);
		ck_assert_int_eq(hs_heap_delete(g_store, name), c->rc);
		expect_base_heaps(NULL);
		return;
	}

	ck_assert_int_eq(hs_heap_delete(g_store, name), -ENOENT);
	ck_assert_int_eq(hs_heap_open(&h, g_store, name), -ENOENT);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(hs_heap_create(g_store, name, NULL), 0);
	ck_assert_int_eq(hs_heap_create(g_store, name, NULL), -EEXIST);
	expect_base_heaps(name);
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, name), 0);
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_str_eq(hi.name, name);
	tu_fill(data, sizeof(data), 12, 0);
	ck_assert_int_eq(hs_heap_write(g_heap, data, sizeof(data), 5), sizeof(data));
	ck_assert_int_eq(hs_heap_read(g_heap, back, sizeof(back), 5), sizeof(back));
	ck_assert_mem_eq(back, data, sizeof(data));
	hs_heap_close(g_heap);
	g_heap = NULL;
	ck_assert_int_eq(hs_heap_delete(g_store, name), 0);
	h = SENTINEL;
	ck_assert_int_eq(hs_heap_open(&h, g_store, name), -ENOENT);
	ck_assert_ptr_null(h);
	expect_base_heaps(NULL);
}
END_TEST

/* Heap "lab": checkpoint 1 labelled "first", then a live change. */
static void setup_labels(void)
{
	uint64_t v = 0;

	cu_setup_heap("lab");
	memset(g_v1, 0, 2 * LS);
	tu_fill(g_v1[0], LS, 13, 0);
	ck_assert_int_eq(hs_heap_write(g_heap, g_v1[0], LS, 0), LS);
	ck_assert_int_eq(hs_version_seal(g_heap, "first", &v), 0);
	ck_assert_uint_eq(v, 1);
	memcpy(g_live, g_v1, 2 * LS);
	tu_fill(g_live[1], LS, 13, 1);
	ck_assert_int_eq(hs_heap_write(g_heap, g_live[1], LS, LS), LS);
}

/* Checkpoint 1 is the only one, unchanged; the live heap is unchanged. */
static void expect_labels_unchanged(void)
{
	hs_version_info *arr = NULL;
	hs_heap_info hi;
	size_t n = 0;
	uint64_t v = 0;

	ck_assert_int_eq(hs_version_list(g_heap, &arr, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(arr[0].version, 1);
	ck_assert_str_eq(arr[0].label, "first");
	ck_assert_uint_eq(arr[0].size_bytes, LS);
	free(arr);
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_uint_eq(hi.version, 2);
	ck_assert_uint_eq(hi.latest, 1);
	ck_assert_uint_eq(hi.checkpoints, 1);
	ck_assert_uint_eq(hi.size_bytes, 2 * LS);
	ck_assert_int_eq(hs_version_find_label(g_heap, "first", &v), 0);
	ck_assert_uint_eq(v, 1);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, 2 * LS, g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, LS, g_v1[0]);
}

static const struct name_case label_cases[] = {
	{ "123", 0, false, -EINVAL, "all digits" },
	{ "0", 0, false, -EINVAL, "all digits" },
	{ "latest", 0, false, -EINVAL, "latest" },
	{ "", 0, false, 0, NULL },                       /* unlabelled */
	{ NULL, 0, true, 0, NULL },                      /* unlabelled */
	{ ".x", 0, false, -EINVAL, "starts with '.'" },
	{ "a/b", 0, false, -EINVAL, "0x2f" },
	{ NULL, HS_NAME_MAX + 1, false, -EINVAL, "longer than 200" },
	{ NULL, HS_NAME_MAX, false, 0, NULL },
	{ "first", 0, false, -EEXIST, "first" },         /* taken */
	{ "12a", 0, false, 0, NULL },
	{ "latest.1", 0, false, 0, NULL },
};

START_TEST(label_hostile_refused_or_accepted)
{
	const struct name_case *c = &label_cases[_i];
	char buf[HS_NAME_MAX + 2];
	const char *label = case_name(c, buf);
	hs_version_info vi;
	hs_heap_info hi;
	uint64_t v = 777, found = 0;

	ck_assert_int_eq(hs_version_seal(g_heap, label, &v), c->rc);
	if (c->rc < 0) {
		cu_expect_msg_has("label");
		cu_expect_msg_has(c->why);
		expect_labels_unchanged();
		if (c->rc != -EEXIST)
			ck_assert_int_eq(hs_version_find_label(g_heap, label, &found),
					 -ENOENT);
		/* The working version still takes writes as version 2. */
		ck_assert_int_eq(hs_version_seal(g_heap, NULL, &v), 0);
		ck_assert_uint_eq(v, 2);
		return;
	}

	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(hs_version_info_get(g_heap, 2, &vi), 0);
	ck_assert_uint_eq(vi.version, 2);
	ck_assert_uint_eq(vi.parent, 1);
	ck_assert_uint_eq(vi.lines_changed, 1);
	ck_assert_str_eq(vi.label, label ? label : "");
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_uint_eq(hi.version, 3);
	ck_assert_uint_eq(hi.checkpoints, 2);
	if (label && *label) {
		ck_assert_int_eq(hs_version_find_label(g_heap, label, &found), 0);
		ck_assert_uint_eq(found, 2);
		/* and a second checkpoint cannot take it */
		ck_assert_int_eq(hs_version_seal(g_heap, label, &v), -EEXIST);
		ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
		ck_assert_uint_eq(hi.checkpoints, 2);
	}
	cu_expect_bytes(g_heap, 2, 0, 2 * LS, g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, LS, g_v1[0]);
}
END_TEST

/* ==== 2. hostile sizes and offsets ===================================== */

/* Heap "io": 2.5 lines; checkpoint 1 holds them; line 0 rewritten since.
 * g_v1 and g_live hold the expected content (zeros past the end). */
static void setup_io(void)
{
	uint64_t v = 0;

	cu_setup_heap("io");
	memset(g_v1, 0, sizeof(g_v1));
	tu_fill(g_v1[0], LS, 8, 0);
	tu_fill(g_v1[1], LS, 8, 1);
	tu_fill(g_v1[2], LS / 2, 8, 2);
	ck_assert_int_eq(hs_heap_write(g_heap, g_v1, IO_SIZE, 0), IO_SIZE);
	ck_assert_int_eq(hs_version_seal(g_heap, NULL, &v), 0);
	ck_assert_uint_eq(v, 1);
	memcpy(g_live, g_v1, sizeof(g_live));
	tu_fill(g_live[0], LS, 9, 0);
	ck_assert_int_eq(hs_heap_write(g_heap, g_live[0], LS, 0), LS);
}

static void expect_io_unchanged(void)
{
	hs_heap_info hi;
	uint8_t buf[16];

	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, IO_SIZE);
	ck_assert_uint_eq(hi.lines_used, 3);
	ck_assert_uint_eq(hi.version, 2);
	ck_assert_uint_eq(hi.latest, 1);
	ck_assert_uint_eq(hi.checkpoints, 1);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, IO_SIZE, g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, IO_SIZE, g_v1[0]);
	ck_assert_int_eq(hs_heap_read(g_heap, buf, sizeof(buf), IO_SIZE), 0);
}

/* The heaps of the store are exactly "io" and @extra (if not NULL). */
static void expect_io_heaps(const char *extra)
{
	hs_heap_info *arr = NULL;
	size_t n = 0;

	ck_assert_int_eq(hs_heap_list(g_store, &arr, &n), 0);
	ck_assert_uint_eq(n, extra ? 2 : 1);
	ck_assert_str_eq(arr[0].name, "io");
	if (extra)
		ck_assert_str_eq(arr[1].name, extra);
	free(arr);
}

static const struct {
	uint32_t line_size;
	int rc;
	uint32_t want;            /* the heap's line size when accepted */
} line_size_cases[] = {
	{ 0, 0, HS_LINE_SIZE_DEFAULT },
	{ 1000, -EINVAL, 0 },
	{ 3000, -EINVAL, 0 },
	{ 2048, -EINVAL, 0 },
	{ 4095, -EINVAL, 0 },
	{ 4096, 0, 4096 },
	{ 12288, -EINVAL, 0 },
	{ 65535, -EINVAL, 0 },
	{ 1u << 20, 0, 1u << 20 },
	{ (1u << 20) + 1, -EINVAL, 0 },
	{ 1u << 21, -EINVAL, 0 },
	{ 0x80000000u, -EINVAL, 0 },
	{ UINT32_MAX, -EINVAL, 0 },
};

START_TEST(heap_create_line_size_checked)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = SENTINEL;
	hs_heap_info hi;
	uint8_t data[10], back[10];

	p.line_size = line_size_cases[_i].line_size;
	ck_assert_int_eq(hs_heap_create(g_store, "ls", &p), line_size_cases[_i].rc);
	if (line_size_cases[_i].rc < 0) {
		cu_expect_msg_has("line size");
		ck_assert_int_eq(hs_heap_open(&h, g_store, "ls"), -ENOENT);
		ck_assert_ptr_null(h);
		expect_io_heaps(NULL);
		expect_io_unchanged();
		return;
	}
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "ls"), 0);
	ck_assert_int_eq(hs_heap_info_get(g_other, &hi), 0);
	ck_assert_uint_eq(hi.line_size, line_size_cases[_i].want);
	/* Ten bytes across the first line boundary touch exactly two lines. */
	tu_fill(data, sizeof(data), 14, 0);
	ck_assert_int_eq(hs_heap_write(g_other, data, sizeof(data), hi.line_size - 5),
			 sizeof(data));
	ck_assert_int_eq(hs_heap_info_get(g_other, &hi), 0);
	ck_assert_uint_eq(hi.lines_used, 2);
	ck_assert_uint_eq(hi.size_bytes, line_size_cases[_i].want + 5);
	ck_assert_int_eq(hs_heap_read(g_other, back, sizeof(back), hi.line_size - 5),
			 sizeof(back));
	ck_assert_mem_eq(back, data, sizeof(data));
	expect_io_heaps("ls");
}
END_TEST

static const struct {
	uint64_t size;
	int rc;
} heap_size_cases[] = {
	{ 0, 0 },
	{ HS_HEAP_SIZE_MAX, 0 },
	{ HS_HEAP_SIZE_MAX + 1, -EFBIG },
	{ INT64_MAX, -EFBIG },
	{ UINT64_MAX, -EFBIG },
};

START_TEST(heap_create_size_checked)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = SENTINEL;
	hs_heap_info hi;
	uint8_t buf[100], zero[100] = { 0 };

	p.size_bytes = heap_size_cases[_i].size;
	ck_assert_int_eq(hs_heap_create(g_store, "sz", &p), heap_size_cases[_i].rc);
	if (heap_size_cases[_i].rc < 0) {
		ck_assert_int_eq(hs_heap_open(&h, g_store, "sz"), -ENOENT);
		ck_assert_ptr_null(h);
		expect_io_heaps(NULL);
		expect_io_unchanged();
		return;
	}
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "sz"), 0);
	ck_assert_int_eq(hs_heap_info_get(g_other, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, heap_size_cases[_i].size);
	ck_assert_uint_eq(hi.lines_used, 0);
	if (hi.size_bytes >= 10) {
		memset(buf, 0xa5, sizeof(buf));
		ck_assert_int_eq(hs_heap_read(g_other, buf, sizeof(buf), hi.size_bytes - 10), 10);
		ck_assert_mem_eq(buf, zero, 10);
	}
	expect_io_heaps("sz");
}
END_TEST

static const struct {
	uint64_t off;
	size_t len;
	ssize_t rc;
} write_cases[] = {
	{ HS_HEAP_SIZE_MAX - 10, 100, -EFBIG },
	{ HS_HEAP_SIZE_MAX, 1, -EFBIG },
	{ INT64_MAX, 1, -EFBIG },
	{ UINT64_MAX, 1, -EFBIG },
	{ UINT64_MAX - 5, 10, -EFBIG },
	{ HS_HEAP_SIZE_MAX, 0, 0 },
	{ HS_HEAP_SIZE_MAX - 100, 100, 100 },     /* ends exactly at the limit */
};

START_TEST(heap_write_bounds_checked)
{
	uint8_t data[128];
	hs_heap_info hi;

	tu_fill(data, sizeof(data), 15, (uint64_t)_i);
	ck_assert_int_eq(hs_heap_write(g_heap, data, write_cases[_i].len, write_cases[_i].off),
			 write_cases[_i].rc);
	if (write_cases[_i].rc <= 0) {
		expect_io_unchanged();
		return;
	}
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, HS_HEAP_SIZE_MAX);
	ck_assert_uint_eq(hi.lines_used, 4);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, write_cases[_i].off, write_cases[_i].len, data);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, 3 * LS, g_live[0]);
	cu_expect_bytes(g_heap, 1, 0, IO_SIZE, g_v1[0]);
}
END_TEST

static const struct {
	uint64_t off;
	size_t len;
	ssize_t rc;
} read_cases[] = {
	{ INT64_MAX, 2, -EINVAL },
	{ UINT64_MAX, 1, -EINVAL },
	{ UINT64_MAX - 5, 10, -EINVAL },
	{ 1, SIZE_MAX, -EINVAL },
	{ IO_SIZE, 10, 0 },                               /* at the end */
	{ IO_SIZE + 1000, 10, 0 },                        /* beyond it */
	{ HS_HEAP_SIZE_MAX, 100, 0 },
	{ INT64_MAX - 1, 1, 0 },
	{ IO_SIZE - 1000, 5000, 1000 },                   /* across the end */
	{ 0, IO_SIZE + LS, (ssize_t)IO_SIZE },
	{ LS - 7, 14, 14 },                               /* across a line */
};

START_TEST(heap_read_bounds_checked)
{
	const size_t cap = 4 * LS;
	uint8_t *buf = g_wbuf;
	const uint8_t *want[2] = { g_live[0], g_v1[0] };

	for (int k = 0; k < 2; k++) {
		uint64_t off = read_cases[_i].off;
		ssize_t n, rc = read_cases[_i].rc;

		memset(buf, 0xa5, cap);
		if (k == 0)
			n = hs_heap_read(g_heap, buf, read_cases[_i].len, off);
		else
			n = hs_version_read(g_heap, 1, buf, read_cases[_i].len, off);
		ck_assert_msg(n == rc, "%s read at %llu: %zd, want %zd (%s)",
			      k ? "checkpoint" : "live", (unsigned long long)off,
			      n, rc, hs_error_last());
		if (rc > 0) {
			ck_assert_int_eq(cu_first_diff(buf, want[k] + off, (size_t)rc), -1);
		}
		/* Nothing is written past the count returned. */
		ck_assert_int_eq(first_byte_not(buf + (rc > 0 ? rc : 0), 0xa5,
						cap - (size_t)(rc > 0 ? rc : 0)), -1);
	}
	expect_io_unchanged();
}
END_TEST

START_TEST(heap_truncate_past_limit_refused)
{
	uint8_t buf[100], zero[100] = { 0 };

	ck_assert_int_eq(hs_heap_truncate(g_heap, HS_HEAP_SIZE_MAX + 1), -EFBIG);
	expect_io_unchanged();
	ck_assert_int_eq(hs_heap_truncate(g_heap, UINT64_MAX), -EFBIG);
	expect_io_unchanged();

	/* The limit itself is fine, and sparse; and back again. */
	ck_assert_int_eq(hs_heap_truncate(g_heap, HS_HEAP_SIZE_MAX), 0);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, 3 * LS, g_live[0]);
	memset(buf, 0xa5, sizeof(buf));
	ck_assert_int_eq(hs_heap_read(g_heap, buf, sizeof(buf), HS_HEAP_SIZE_MAX - 10), 10);
	ck_assert_mem_eq(buf, zero, 10);
	ck_assert_int_eq(hs_heap_truncate(g_heap, IO_SIZE), 0);
	expect_io_unchanged();
}
END_TEST

static const struct {
	uint64_t off, len;
	int rc;
} punch_cases[] = {
	{ INT64_MAX, 2, -EINVAL },
	{ UINT64_MAX - 1, 5, -EINVAL },
	{ 1, UINT64_MAX, -EINVAL },
	{ IO_SIZE + 10, 100, 0 },                         /* past the end */
	{ IO_SIZE, LS, 0 },
	{ HS_HEAP_SIZE_MAX, 100, 0 },
	{ IO_SIZE - 100, 1000, 0 },                       /* across the end */
	{ LS + 10, (uint64_t)INT64_MAX - LS - 10, 0 },    /* to the end and far past */
	{ 5, 10, 0 },
};

START_TEST(heap_punch_bounds_checked)
{
	uint64_t off = punch_cases[_i].off, len = punch_cases[_i].len;
	uint8_t *want = g_want;
	uint64_t used = 0;
	hs_heap_info hi;

	memcpy(want, g_live, sizeof(g_live));
	ck_assert_int_eq(hs_heap_punch(g_heap, off, len), punch_cases[_i].rc);
	if (punch_cases[_i].rc == 0 && off < IO_SIZE) {
		uint64_t end = len > IO_SIZE - off ? IO_SIZE : off + len;

		memset(want + off, 0, (size_t)(end - off));
	}
	for (uint64_t l = 0; l < 3; l++) {
		static const uint8_t zero[LS];

		used += memcmp(want + l * LS, zero, LS) != 0;
	}
	ck_assert_int_eq(hs_heap_info_get(g_heap, &hi), 0);
	ck_assert_uint_eq(hi.size_bytes, IO_SIZE);
	ck_assert_uint_eq(hi.lines_used, used);
	cu_expect_bytes(g_heap, HS_VERSION_LIVE, 0, IO_SIZE, want);
	cu_expect_bytes(g_heap, 1, 0, IO_SIZE, g_v1[0]);
}
END_TEST

START_TEST(missing_versions_refused)
{
	/* 2 is the working version, which reads as the live heap. */
	static const uint64_t missing[] = { 0, 3, 99, UINT64_MAX - 1 };
	uint8_t buf[64];
	hs_version_info vi;
	hs_version_info *arr = NULL;
	size_t n = 0;
	uint64_t line = 77;
	int calls = 0;

	for (size_t i = 0; i < ARRAY_LEN(missing); i++) {
		uint64_t v = missing[i];

		ck_assert_int_eq(hs_version_read(g_heap, v, buf, sizeof(buf), 0), -ENOENT);
		ck_assert_int_eq(hs_version_info_get(g_heap, v, &vi), -ENOENT);
		ck_assert_int_eq(hs_heap_line_next(g_heap, v, 0, &line), -ENOENT);
		ck_assert_uint_eq(line, 77);
		ck_assert_int_eq(hs_version_diff(g_heap, 1, v, cu_diff_count, &calls), -ENOENT);
		ck_assert_int_eq(calls, 0);
		ck_assert_int_eq(hs_heap_restore(g_heap, v), -ENOENT);
		expect_io_unchanged();
		ck_assert_int_eq(hs_version_delete(g_heap, v), -ENOENT);
		ck_assert_int_eq(hs_version_list(g_heap, &arr, &n), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(arr[0].version, 1);
		free(arr);
		expect_io_unchanged();
	}
	ck_assert_int_eq(hs_version_read(g_heap, 1, buf, 2, INT64_MAX), -EINVAL);
}
END_TEST

START_TEST(txn_write_past_limit_refused)
{
	uint8_t data[100], *buf = g_wbuf;

	tu_fill(data, sizeof(data), 16, 0);
	ck_assert_int_eq(hs_txn_begin(&g_txn, g_heap), 0);
	ck_assert_int_eq(hs_txn_write(g_txn, data, 100, HS_HEAP_SIZE_MAX - 10), -EFBIG);
	ck_assert_int_eq(hs_txn_write(g_txn, data, 1, HS_HEAP_SIZE_MAX), -EFBIG);
	ck_assert_int_eq(hs_txn_write(g_txn, data, 1, UINT64_MAX), -EFBIG);
	ck_assert_int_eq(hs_txn_write(g_txn, data, 10, UINT64_MAX - 5), -EFBIG);
	ck_assert_int_eq(hs_txn_punch(g_txn, INT64_MAX, 2), -EINVAL);
	ck_assert_int_eq(hs_txn_read(g_txn, buf, 10, UINT64_MAX - 5), -EINVAL);
	/* Nothing was staged: the transaction still reads the snapshot. */
	ck_assert_int_eq(hs_txn_read(g_txn, buf, 4 * LS, 0), IO_SIZE);
	ck_assert_int_eq(cu_first_diff(buf, g_live[0], IO_SIZE), -1);
	ck_assert_int_eq(hs_txn_commit(g_txn), 0);
	hs_txn_free(g_txn);
	g_txn = NULL;
	expect_io_unchanged();

	/* Up to the limit is fine; aborted, it leaves nothing. */
	ck_assert_int_eq(hs_txn_begin(&g_txn, g_heap), 0);
	ck_assert_int_eq(hs_txn_write(g_txn, data, 100, HS_HEAP_SIZE_MAX - 100), 100);
	memset(buf, 0, 100);
	ck_assert_int_eq(hs_txn_read(g_txn, buf, 200, HS_HEAP_SIZE_MAX - 100), 100);
	ck_assert_mem_eq(buf, data, 100);
	hs_txn_free(g_txn);
	g_txn = NULL;
	expect_io_unchanged();
}
END_TEST

/* Staging more than HS_TXN_STAGED_MAX bytes is refused, and the refused
 * call stages nothing.  Whole zero lines cost no memory to stage, so a
 * punch reaches the limit cheaply. */
START_TEST(txn_staged_limit_refused_whole)
{
	const uint64_t big_ls = HS_LINE_SIZE_MAX;
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	uint8_t *content = g_big, *buf = g_wbuf;
	hs_heap_info hi;

	p.line_size = (uint32_t)big_ls;
	p.size_bytes = HS_TXN_STAGED_MAX + 4 * big_ls;
	ck_assert_int_eq(hs_heap_create(g_store, "big", &p), 0);
	ck_assert_int_eq(hs_heap_open(&g_other, g_store, "big"), 0);
	tu_fill(content, big_ls, 17, 0);
	ck_assert_int_eq(hs_heap_write(g_other, content, big_ls, 0), big_ls);

	ck_assert_int_eq(hs_txn_begin(&g_txn, g_other), 0);
	ck_assert_int_eq(hs_txn_punch(g_txn, 0, HS_TXN_STAGED_MAX + big_ls), -EFBIG);
	memset(buf, 0xa5, big_ls);
	ck_assert_int_eq(hs_txn_read(g_txn, buf, big_ls, 0), big_ls);
	ck_assert_msg(cu_first_diff(buf, content, big_ls) < 0,
		      "the refused punch left line 0 staged as zeros");
	ck_assert_int_eq(hs_txn_commit(g_txn), 0);
	hs_txn_free(g_txn);
	g_txn = NULL;
	cu_expect_bytes(g_other, HS_VERSION_LIVE, 0, big_ls, content);
	ck_assert_int_eq(hs_heap_info_get(g_other, &hi), 0);
	ck_assert_uint_eq(hi.lines_used, 1);
	ck_assert_uint_eq(hi.size_bytes, HS_TXN_STAGED_MAX + 4 * big_ls);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

Suite *hs_hostile_suite(void);

Suite *hs_hostile_suite(void)
{
	Suite *s = suite_create("heapstore_hostile");
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_checked_fixture(tc, setup_names, cu_teardown);
	tcase_add_loop_test(tc, heap_name_hostile_refused_or_accepted, 0,
			    (int)ARRAY_LEN(name_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("labels");
	tcase_add_checked_fixture(tc, setup_labels, cu_teardown);
	tcase_add_loop_test(tc, label_hostile_refused_or_accepted, 0,
			    (int)ARRAY_LEN(label_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sizes");
	tcase_add_checked_fixture(tc, setup_io, cu_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, heap_create_line_size_checked, 0,
			    (int)ARRAY_LEN(line_size_cases));
	tcase_add_loop_test(tc, heap_create_size_checked, 0, (int)ARRAY_LEN(heap_size_cases));
	tcase_add_loop_test(tc, heap_write_bounds_checked, 0, (int)ARRAY_LEN(write_cases));
	tcase_add_loop_test(tc, heap_read_bounds_checked, 0, (int)ARRAY_LEN(read_cases));
	tcase_add_test(tc, heap_truncate_past_limit_refused);
	tcase_add_loop_test(tc, heap_punch_bounds_checked, 0, (int)ARRAY_LEN(punch_cases));
	tcase_add_test(tc, missing_versions_refused);
	tcase_add_test(tc, txn_write_past_limit_refused);
	tcase_add_test(tc, txn_staged_limit_refused_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("test_heapstore_hostile", hs_hostile_suite);
}
