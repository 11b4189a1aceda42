/*
 * xfer_util.c - what the suites moving heaps between stores share: heaps
 * with history, comparing two heaps version by version, and a store's
 * view (heaps, bytes stored after GC, fsck) that a failed transfer must
 * leave as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xfer_util.h"

char *dir_a, *dir_b;
hs_store *sa, *sb;

int xu_file_of(const void *buf, size_t len)
{
	char path[] = "/tmp/heapfs-stream-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

void xu_setup(void)
{
	dir_a = tu_tmpdir("xu-a");
	dir_b = tu_tmpdir("xu-b");
	sa = tu_store_open(dir_a, 0, 0);
	sb = tu_store_open(dir_b, 0, 0);
}

void xu_teardown(void)
{
	hs_store_close(sa);
	hs_store_close(sb);
	tu_rmtree(dir_a);
	tu_rmtree(dir_b);
	free(dir_a);
	free(dir_b);
}

/* Every checkpoint of @a's heap and its live heap read the same in @b's. */
void xu_expect_same(hs_store *a, const char *na, hs_store *b, const char *nb)
{
	hs_heap *ha, *hb;
	hs_heap_info ia, ib;
	hs_version_info *va, *vb;
	size_t n, m;
	uint8_t *x = malloc(4 << 20), *y = malloc(4 << 20);

	ck_assert_int_eq(hs_heap_open(&ha, a, na), 0);
	ck_assert_int_eq(hs_heap_open(&hb, b, nb), 0);
	ck_assert_int_eq(hs_heap_info_get(ha, &ia), 0);
	ck_assert_int_eq(hs_heap_info_get(hb, &ib), 0);
	ck_assert_mem_eq(ia.ident, ib.ident, HS_IDENT_LEN);
	ck_assert_uint_eq(ia.line_size, ib.line_size);
	ck_assert_int_eq(hs_version_list(ha, &va, &n), 0);
	ck_assert_int_eq(hs_version_list(hb, &vb, &m), 0);
	ck_assert_uint_eq(n, m);
	for (size_t i = 0; i <= n; i++) {
		uint64_t v = i < n ? va[i].version : HS_VERSION_LIVE;
		uint64_t size = i < n ? va[i].size_bytes : ia.size_bytes;
		uint64_t ssize = i < n ? va[i].state_size : ia.state_size;

		if (i < n) {
			ck_assert_uint_eq(va[i].version, vb[i].version);
			ck_assert_mem_eq(va[i].ident, vb[i].ident, HS_IDENT_LEN);
			ck_assert_str_eq(va[i].label, vb[i].label);
			ck_assert_uint_eq(va[i].created_ns, vb[i].created_ns);
			ck_assert_uint_eq(va[i].size_bytes, vb[i].size_bytes);
			ck_assert_uint_eq(va[i].state_size, vb[i].state_size);
			ck_assert_uint_eq(va[i].lines_used, vb[i].lines_used);
		} else {
			ck_assert_uint_eq(ia.size_bytes, ib.size_bytes);
			ck_assert_uint_eq(ia.state_size, ib.state_size);
			ck_assert_uint_eq(ia.lines_used, ib.lines_used);
		}
		ck_assert_uint_le(size, 4 << 20);
		ck_assert_int_eq(hs_version_read(ha, v, x, 4 << 20, 0), (ssize_t)size);
		ck_assert_int_eq(hs_version_read(hb, v, y, 4 << 20, 0), (ssize_t)size);
		ck_assert_msg(memcmp(x, y, size) == 0, "version %llu differs",
			      (unsigned long long)v);
		ck_assert_int_eq(hs_state_read(ha, v, x, 4 << 20, 0), (ssize_t)ssize);
		ck_assert_int_eq(hs_state_read(hb, v, y, 4 << 20, 0), (ssize_t)ssize);
		ck_assert_msg(memcmp(x, y, ssize) == 0, "state of version %llu differs",
			      (unsigned long long)v);
	}
	free(va);
	free(vb);
	free(x);
	free(y);
	hs_heap_close(ha);
	hs_heap_close(hb);
}

void xu_write_lines(hs_heap *h, uint64_t first, uint64_t n, uint64_t seed)
{
	uint8_t buf[LS];

	for (uint64_t i = first; i < first + n; i++) {
		tu_fill(buf, LS, seed, i);
		ck_assert_int_eq(hs_heap_write(h, buf, LS, i * LS), LS);
	}
}

/* A heap with history: labels, a state, a punch, a shrink, a deleted
 * checkpoint (its changes merged into the next). */
void xu_make_history(hs_store *s, const char *name)
{
	hs_heap *h = tu_heap_new(s, name, LS);
	char state[3000];

	xu_write_lines(h, 0, 40, 1);
	memset(state, 's', sizeof(state));
	ck_assert_int_eq(hs_state_write(h, state, sizeof(state), 0), (ssize_t)sizeof(state));
	ck_assert_int_eq(hs_version_seal(h, "one", NULL), 0);
	xu_write_lines(h, 3, 5, 2);
	ck_assert_int_eq(hs_heap_punch(h, 20 * LS, 2 * LS), 0);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_heap_truncate(h, 30 * LS + 100), 0);
	ck_assert_int_eq(hs_state_write(h, "new state", 9, 100), 9);
	ck_assert_int_eq(hs_version_seal(h, "three", NULL), 0);
	xu_write_lines(h, 28, 6, 3);
	ck_assert_int_eq(hs_version_seal(h, NULL, NULL), 0);
	ck_assert_int_eq(hs_version_delete(h, 2), 0);
	hs_heap_close(h);
}

hs_store_totals xu_totals_after_gc(hs_store *s)
{
	hs_store_totals t;
	hs_gc_stats g;

	do
		ck_assert_int_eq(hs_store_gc(s, 0, &g), 0);
	while (g.more);
	hs_store_totals_get(s, &t);
	return t;
}

/* A receiver's view that a failed transfer must leave as it was. */
void xu_view_take(hs_store *s, struct xu_view *v)
{
	hs_heap_info *list;

	memset(v, 0, sizeof(*v));
	v->t = xu_totals_after_gc(s);
	ck_assert_int_eq(hs_heap_list(s, &list, &v->heaps), 0);
	ck_assert_uint_le(v->heaps, 8);
	for (size_t i = 0; i < v->heaps; i++)
		strcpy(v->names[i], list[i].name);
	free(list);
}

void xu_view_expect(hs_store *s, const struct xu_view *before)
{
	struct xu_view now;

	xu_view_take(s, &now);
	ck_assert_uint_eq(now.heaps, before->heaps);
	for (size_t i = 0; i < now.heaps; i++)
		ck_assert_str_eq(now.names[i], before->names[i]);
	ck_assert_uint_eq(now.t.bytes_stored, before->t.bytes_stored);
	ck_assert_uint_eq(now.t.blobs, before->t.blobs);
	ck_assert_uint_eq(now.t.bytes_garbage, 0);
	ck_assert_int_eq(hs_store_fsck(s, HS_FSCK_VERIFY_DATA, NULL, NULL), 0);
}

