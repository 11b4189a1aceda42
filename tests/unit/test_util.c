/*
 * test_util.c - see test_util.h.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

char *tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&path, "%s/heapfs-%s-XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

void tu_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* splitmix64: a fast, well-mixed function of its input. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void tu_fill(void *buf, size_t len, uint64_t a, uint64_t b)
{
	static const char words[] = "heap line version checkpoint object frame ";
	uint8_t *p = buf;
	uint64_t seed = mix(a * 0x100000001b3ULL ^ mix(b));

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v, r = mix(seed + i / 64);
		size_t n = len - i < 8 ? len - i : 8;

		switch ((i / 64) % 4) {
		case 0:  /* a pointer-like word */
			v = 0x00007f0000000000ULL | (r & 0xfffffff8ULL);
			break;
		case 1:  /* text */
			memcpy(&v, words + (r % (sizeof(words) - 8)), 8);
			break;
		case 2:  /* zeros */
			v = 0;
			break;
		default: /* a counter, unique per (a, b) */
			v = seed ^ (uint64_t)i;
			break;
		}
		memcpy(p + i, &v, n);
	}
	/* Make every (a, b) distinct even where the mix collides in a short buffer. */
	if (len >= 16) {
		memcpy(p, &a, 8);
		memcpy(p + 8, &b, 8);
	}
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

hs_store *tu_store_open(const char *dir, uint64_t cache, unsigned idle_ms)
{
	hs_store_opts o = HS_STORE_OPTS_INIT;
	hs_store *s = NULL;

	o.cache_bytes = cache;
	o.cache_idle_ms = idle_ms;
	o.cache_release_ms = idle_ms;   /* both periods shortened alike */
	ck_assert_msg(hs_store_open(&s, dir, &o) == 0, "%s", hs_error_last());
	return s;
}

hs_heap *tu_heap_new(hs_store *s, const char *name, uint32_t line)
{
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_heap *h = NULL;

	p.line_size = line;
	ck_assert_msg(hs_heap_create(s, name, &p) == 0, "%s", hs_error_last());
	ck_assert_int_eq(hs_heap_open(&h, s, name), 0);
	return h;
}

rocksdb_readoptions_t *tu_scan_ro(void)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();

	rocksdb_readoptions_set_total_order_seek(ro, 1);
	return ro;
}
