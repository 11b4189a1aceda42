/*
 * store_demo.c - what the heapfs store does, in a few lines of output:
 * a sparse heap, checkpoints that cost only what changed, old versions read
 * back, dedup across heaps, compression, a transaction and its conflict,
 * diff and restore.  `make demo` runs it; later the demo grows into the
 * mount.
 *
 * usage: heapstore_demo [STORE_DIR]   (default: a temporary directory,
 *                                      removed afterwards)
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapstore.h"

#define LINE (64u * 1024u)
#define MIB (1024.0 * 1024.0)

static int failed(const char *what, int rc)
{
	fprintf(stderr, "heapstore_demo: %s: %s (%s)\n", what, hs_error_last(), strerror(-rc));
	return 1;
}

#define TRY(what, call)                                   \
	do {                                              \
		int rc_ = (int)(call);                    \
		if (rc_ < 0)                              \
			return failed(what, rc_);         \
	} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A line that looks like a runtime's heap: object headers, pointers, text. */
static void object_line(uint8_t *p, uint64_t line, uint64_t gen)
{
	static const char text[] = "player inventory sword shield potion gold ";
	uint64_t x = line * 0x9e3779b97f4a7c15ULL ^ gen * 0xbf58476d1ce4e5b9ULL;

	for (size_t i = 0; i < LINE; i += 64) {
		uint64_t hdr = 0xcafe000000000000ULL | (line << 16) | (i >> 6);

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(p + i, &hdr, 8);
		memcpy(p + i + 8, &x, 8);                 /* a pointer-ish word */
		memcpy(p + i + 16, text + (x % 8), 24);   /* a short string */
		memset(p + i + 40, 0, 24);                /* padding and nulls */
		p[i + 40] = (uint8_t)gen;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

static int show_diff(uint64_t line, void *payload)
{
	int *n = payload;

	printf("%s%llu", (*n)++ ? ", " : "", (unsigned long long)line);
	return 0;
}

static int run(const char *dir)
{
	hs_store *st;
	hs_heap *game, *copy;
	hs_heap_params p = HS_HEAP_PARAMS_INIT;
	hs_store_usage u;
	hs_version_info vi;
	hs_txn *t1, *t2;
	uint8_t *buf = malloc(LINE), *back = malloc(LINE);
	uint64_t v1, v2;
	double t0, ms;
	int n = 0, rc;

	if (!buf || !back)
		return failed("allocating", -ENOMEM);
	TRY("opening the store", hs_store_open(&st, dir, NULL));
	printf("store      %s\n", dir);

	p.size_bytes = 8ull << 30;
	TRY("creating heap 'game'", hs_heap_create(st, "game", &p));
	TRY("opening heap 'game'", hs_heap_open(&game, st, "game"));
	t0 = now_ms();
	for (uint64_t l = 0; l < 512; l++) {
		object_line(buf, l * 64, 1);
		TRY("writing", hs_heap_write(game, buf, LINE, l * 64 * LINE));
	}
	ms = now_ms() - t0;
	printf("heap       'game': 8 GiB sparse, 64 KiB lines; wrote 512 lines (32 MiB) in %.0f ms\n", ms);

	t0 = now_ms();
	TRY("checkpoint", hs_version_seal(game, "start", &v1));
	printf("checkpoint %llu 'start' in %.2f ms\n", (unsigned long long)v1, now_ms() - t0);

	for (uint64_t l = 0; l < 5; l++) {
		object_line(buf, l * 64, 2);
		TRY("writing", hs_heap_write(game, buf, LINE, l * 64 * LINE));
	}
	t0 = now_ms();
	TRY("checkpoint", hs_version_seal(game, NULL, &v2));
	ms = now_ms() - t0;
	TRY("checkpoint info", hs_version_info_get(game, v2, &vi));
	printf("checkpoint %llu after changing 5 lines: %.2f ms, %llu lines, %llu bytes stored for it\n",
	       (unsigned long long)v2, ms, (unsigned long long)vi.lines_changed,
	       (unsigned long long)vi.bytes_changed);

	TRY("reading checkpoint 1", hs_version_read(game, v1, back, LINE, 0));
	object_line(buf, 0, 1);
	printf("read back  line 0 as of checkpoint %llu: %s\n", (unsigned long long)v1,
	       memcmp(back, buf, LINE) == 0 ? "the original content" : "WRONG");

	printf("diff       %llu..%llu: lines ", (unsigned long long)v1, (unsigned long long)v2);
	TRY("diff", hs_version_diff(game, v1, v2, show_diff, &n));
	printf("\n");

	/* A second heap with the same content stores nothing new. */
	TRY("creating heap 'game-copy'", hs_heap_create(st, "game-copy", &p));
	TRY("opening heap 'game-copy'", hs_heap_open(&copy, st, "game-copy"));
	for (uint64_t l = 0; l < 512; l++) {
		object_line(buf, l * 64, 1);
		TRY("writing", hs_heap_write(copy, buf, LINE, l * 64 * LINE));
	}
	TRY("usage", hs_store_usage_get(st, &u));
	printf("dedup      'game-copy' holds the same 512 lines: %llu distinct blobs for %llu references\n",
	       (unsigned long long)u.blobs, (unsigned long long)u.references);
	printf("space      %.1f MiB referenced, %.1f MiB unique, %.1f MiB stored (zstd %.1fx, overall %.1fx)\n",
	       (double)u.bytes_referenced / MIB, (double)u.bytes_unique / MIB,
	       (double)u.bytes_stored / MIB,
	       (double)u.bytes_unique / (double)u.bytes_stored,
	       (double)u.bytes_referenced / (double)u.bytes_stored);

	/* Two transactions on line 0: the first to commit wins. */
	TRY("begin", hs_txn_begin(&t1, game));
	TRY("begin", hs_txn_begin(&t2, game));
	object_line(buf, 0, 3);
	TRY("txn write", hs_txn_write(t1, buf, LINE, 0));
	TRY("txn write", hs_txn_write(t1, buf, LINE, 64 * LINE));
	object_line(buf, 0, 4);
	TRY("txn write", hs_txn_write(t2, buf, LINE, 0));
	TRY("commit", hs_txn_commit(t1));
	rc = hs_txn_commit(t2);
	printf("txn        two lines committed atomically; a rival transaction on line 0 got %s\n",
	       rc == -EBUSY ? "EBUSY (nothing of it written)" : "UNEXPECTED SUCCESS");
	hs_txn_free(t1);
	hs_txn_free(t2);

	TRY("restore", hs_heap_restore(game, v1));
	TRY("reading", hs_heap_read(game, back, LINE, 0));
	object_line(buf, 0, 1);
	printf("restore    live heap back to checkpoint %llu: line 0 is %s\n",
	       (unsigned long long)v1, memcmp(back, buf, LINE) == 0 ? "the original again" : "WRONG");

	hs_heap_close(copy);
	hs_heap_close(game);
	if (hs_store_close(st) < 0) {
		fprintf(stderr, "store_demo: closing the store: %s\n", hs_error_last());
		rc = -EIO;
	}
	free(buf);
	free(back);
	return rc == -EBUSY ? 0 : 1;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/heapfs-demo-XXXXXX";
	const char *dir = argc > 1 ? argv[1] : NULL;
	int rc;

	if (!dir && !(dir = mkdtemp(tmp))) {
		perror("heapstore_demo: mkdtemp");
		return 1;
	}
	rc = run(dir);
	if (argc <= 1)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
