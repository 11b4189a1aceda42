/*
 * corrupt_util.c - see corrupt_util.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "corrupt_util.h"
#include "test_util.h"

char *g_dir;
char *g_aux;
hs_store *g_store;
hs_heap *g_heap;
hs_heap *g_other;
hs_txn *g_txn;

uint8_t g_v1[NLINES][LS];
uint8_t g_live[NLINES][LS];

uint8_t g_rbuf[HS_LINE_SIZE_MAX];
uint8_t g_wbuf[HS_LINE_SIZE_MAX];

char g_sentinel;

void cu_setup_store(void)
{
	g_dir = tu_tmpdir("store");
	ck_assert_ptr_nonnull(g_dir);
	ck_assert_int_eq(hs_store_open(&g_store, g_dir, NULL), 0);
}

void cu_setup_heap(const char *name)
{
	cu_setup_store();
	ck_assert_int_eq(hs_heap_create(g_store, name, NULL), 0);
	ck_assert_int_eq(hs_heap_open(&g_heap, g_store, name), 0);
}

void cu_teardown(void)
{
	hs_txn_free(g_txn);
	hs_heap_close(g_heap);
	hs_heap_close(g_other);
	hs_store_close(g_store);
	tu_rmtree(g_dir);
	tu_rmtree(g_aux);
	free(g_dir);
	free(g_aux);
	g_txn = NULL;
	g_heap = g_other = NULL;
	g_store = NULL;
	g_dir = g_aux = NULL;
}

bool cu_has_phrase(const char *msg, const char *phrase)
{
	size_t n = strlen(phrase);

	for (const char *p = strstr(msg, phrase); p; p = strstr(p + 1, phrase)) {
		if (p[n] < '0' || p[n] > '9')
			return true;
	}
	return false;
}

long cu_first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (long)i;
	}
	return -1;
}

void cu_expect_bytes(hs_heap *h, uint64_t version, uint64_t off, size_t len,
		     const uint8_t *want)
{
	uint8_t *buf = g_rbuf;
	ssize_t n;
	long d;

	ck_assert_uint_le(len, sizeof(g_rbuf));
	memset(buf, 0xa5, len);
	if (version == HS_VERSION_LIVE)
		n = hs_heap_read(h, buf, len, off);
	else
		n = hs_version_read(h, version, buf, len, off);
	ck_assert_msg(n == (ssize_t)len,
		      "read of %zu bytes at %llu (version %llu) returned %zd: %s",
		      len, (unsigned long long)off, (unsigned long long)version, n,
		      hs_error_last());
	d = cu_first_diff(buf, want, len);
	ck_assert_msg(d < 0, "read at %llu (version %llu) differs at byte %ld",
		      (unsigned long long)off, (unsigned long long)version, d);
}

int cu_diff_count(uint64_t line_idx, void *payload)
{
	(void)line_idx;
	++*(int *)payload;
	return 0;
}

int cu_main(const char *prog, Suite *(*make)(void))
{
	char *run = tu_tmpdir(prog);
	int rc;

	if (!run || setenv("TMPDIR", run, 1) != 0) {
		fprintf(stderr, "%s: cannot make a run directory\n", prog);
		tu_rmtree(run);
		free(run);
		return EXIT_FAILURE;
	}
	rc = tu_run(make());
	tu_rmtree(run);
	free(run);
	return rc;
}
