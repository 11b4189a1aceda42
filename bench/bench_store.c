/*
 * bench_store.c - the heapstore benchmark: one command that measures, in
 * one run, what the store costs against what the machine allows.
 *
 *   (1) checkpoint (hs_version_seal) time with 1% of lines dirty, on a
 *       1 GiB and an 8 GiB sparse heap that already have history;
 *   (2) write throughput of heap-like lines through hs_heap_write, beside
 *       the compute limit (zstd -1 + SHA-256 of the same bytes, in process)
 *       and the zstd -1 CLI; random line reads beside zstd decompression +
 *       SHA-256; RocksDB blob files on and off; one and two writers;
 *   (3) stored bytes beside zstd -1 of the unique lines;
 *   (4) ten checkpoints of 1% change each: store growth against one.
 *
 * Sizes (--quick in brackets): (1) history of every 16th [64th] line, 5 [3]
 * repetitions after a warm-up, medians; (2) 1 GiB [128 MiB] written per
 * store, limits the best of 3 [1] passes, 4096 [1024] random reads;
 * (4) a 256 [64] MiB heap.  About 1-2 minutes [15 s] on 2 cores.
 *
 * Every store lives in its own directory under one mkdtemp() root in
 * $TMPDIR (or /tmp), removed at the end, failure included.  Wall times are
 * CLOCK_MONOTONIC; CPU times (getrusage) sit beside them because other work
 * on a 2-CPU machine moves wall times a lot.  Line content comes from
 * line_fill(): a function of a seed, distinct for every seed, compressing
 * about 3.1:1 with zstd -1 per line.
 *
 * Usage: bench_store [--quick]   (or BENCH_QUICK=1): smaller sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "bench_util.h"
#include "heapstore.h"

#define LINE_SIZE HS_LINE_SIZE_DEFAULT
#define CHUNK_BYTES (1u << 20)           /* hs_heap_write size in (2) and (4) */
#define MIB (1024.0 * 1024.0)
#define GIB (1024ULL * 1024 * 1024)
#define ZSTD_CLI "/usr/bin/zstd"
#define HEAP_NAME "bench"


struct bench {
	bool quick;
	const char *root;                 /* mkdtemp directory holding it all */
	size_t write_bytes;               /* (2): bytes written per store run */
	int reps;                         /* (1): measured repetitions */
	unsigned populate_stride;         /* (1): history = every n-th line */
	size_t n_reads;                   /* (2): random line reads */
	int limit_reps;                   /* (2): compute passes, best taken */
	size_t ten_heap_bytes;            /* (4): populated heap */
	uint64_t seed;                    /* next content seed: lines never repeat */
	uint64_t rng;                     /* line picks */
};

/* ---- reporting failures ---------------------------------------------- */

/* Print "bench_store: @what: <store message>" if @rc failed; return @rc. */
static int check_hs(int rc, const char *what)
{
	if (rc < 0)
		fprintf(stderr, "bench_store: %s: %s\n", what, hs_error_last());
	return rc;
}

/* An hs_ read or write must move exactly @want bytes. */
static int check_hs_io(ssize_t n, size_t want, const char *what)
{
	if (n == (ssize_t)want)
		return 0;
	if (n < 0)
		return check_hs((int)n, what);
	fprintf(stderr, "bench_store: %s: %zd of %zu bytes\n", what, n, want);
	return -EIO;
}

static int sys_fail(int rc, const char *what)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, strerror(-rc));
	return rc;
}

/* ---- small helpers ---------------------------------------------------- */

/*
 * CPU seconds: of the whole process (RUSAGE_SELF: every thread, RocksDB's
 * background threads included), of reaped children, of the calling thread.
 * Beside wall time they show cost when other work shares the 2 CPUs.
 */
static double cpu_of(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_thread_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One measurement: wall and CPU seconds. */
struct timing {
	double wall;
	double cpu;
};

/* The 1-minute load average, or -1. */
static double loadavg(void)
{
	double l[1];

	return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static uint64_t rng_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of @v (sorted in place). */
static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}


/* @n lines of fresh content (never seen before in this run). */
static uint8_t *lines_new(struct bench *b, size_t n)
{
	uint8_t *buf = malloc(n * LINE_SIZE);

	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++)
		line_fill(buf + i * LINE_SIZE, LINE_SIZE, b->seed++);
	return buf;
}

/* @n distinct line indices below @n_lines, ascending (a flusher's order). */
static int lines_pick(struct bench *b, uint64_t *out, size_t n, uint64_t n_lines)
{
	uint8_t *seen = calloc(n_lines / 8 + 1, 1);
	size_t k = 0;

	if (!seen)
		return sys_fail(-ENOMEM, "picking lines");
	while (k < n && k < n_lines) {
		uint64_t x = rng_next(&b->rng) % n_lines;

		if (seen[x / 8] & (1u << (x % 8)))
			continue;
		seen[x / 8] |= (uint8_t)(1u << (x % 8));
		out[k++] = x;
	}
	free(seen);
	qsort(out, k, sizeof(*out), u64_cmp);
	return 0;
}

/* ---- files ------------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(path);
}

static void rmtree(const char *path)
{
	if (path && *path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Apparent bytes of a store directory (du -sb), split by RocksDB file kind. */
struct du {
	uint64_t total;
	uint64_t sst;
	uint64_t blob;
	uint64_t wal;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct du du_acc;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)f;
	if (flag != FTW_F)
		return 0;
	du_acc.total += (uint64_t)st->st_size;
	if (ends_with(path, ".sst"))
		du_acc.sst += (uint64_t)st->st_size;
	else if (ends_with(path, ".blob"))
		du_acc.blob += (uint64_t)st->st_size;
	else if (ends_with(path, ".log"))
		du_acc.wal += (uint64_t)st->st_size;
	return 0;
}

static int du_get(const char *dir, struct du *out)
{
	memset(&du_acc, 0, sizeof(du_acc));
	if (nftw(dir, du_one, 16, FTW_PHYS) < 0)
		return sys_fail(-errno, dir);
	*out = du_acc;
	return 0;
}

static int file_write(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t done = 0;
	int rc = 0;

	if (fd < 0)
		return sys_fail(-errno, path);
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0) {
			rc = sys_fail(-errno, path);
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && rc == 0)
		rc = sys_fail(-errno, path);
	return rc;
}

/*
 * Bytes this process has passed to write(2) and friends so far (wchar in
 * /proc/self/io: WAL, SST and blob files alike), or 0 if not available.
 */
static uint64_t io_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "wchar: %llu", &v) == 1)
			break;
	}
	fclose(f);
	return v;
}

/* Run `zstd -1 -T1 -q -f @in -o @out`; its time in *tm. */
static int zstd_cli_run(const char *in, const char *out, struct timing *tm)
{
	char *const argv[] = {
		(char *)(uintptr_t)"zstd", (char *)(uintptr_t)"-1",
		(char *)(uintptr_t)"-T1", (char *)(uintptr_t)"-q",
		(char *)(uintptr_t)"-f", (char *)(uintptr_t)in,
		(char *)(uintptr_t)"-o", (char *)(uintptr_t)out, NULL,
	};
	double t0 = now_s(), c0 = cpu_of(RUSAGE_CHILDREN);
	pid_t pid;
	int st, rc;

	rc = posix_spawn(&pid, ZSTD_CLI, NULL, NULL, argv, environ);
	if (rc)
		return sys_fail(-rc, "starting " ZSTD_CLI);
	if (waitpid(pid, &st, 0) < 0)
		return sys_fail(-errno, "waiting for zstd");
	tm->wall = now_s() - t0;
	tm->cpu = cpu_of(RUSAGE_CHILDREN) - c0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_store: zstd -1 failed (status %d)\n", st);
		return -EIO;
	}
	return 0;
}

/* ---- the compute limit: zstd -1 and SHA-256 in process ---------------- */

enum { CP_ZSTD = 1, CP_SHA = 2 };

struct cworker {
	const uint8_t *data;              /* lines [first, first + n) */
	size_t first, n;
	int mode;
	size_t frame_cap;
	uint64_t bytes_out;               /* summed frame sizes */
	int rc;
};

/* What the store does per line: SHA-256, then a zstd frame with checksum. */
static void *cworker_run(void *p)
{
	struct cworker *w = p;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	uint8_t *tmp = malloc(w->frame_cap), digest[EVP_MAX_MD_SIZE];
	unsigned dlen;

	w->rc = -ENOMEM;
	if (!cctx || !md || !sha || !tmp)
		goto out;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
	w->rc = -EIO;
	for (size_t i = w->first; i < w->first + w->n; i++) {
		const uint8_t *line = w->data + i * LINE_SIZE;

		if (w->mode & CP_SHA) {
			if (EVP_DigestInit_ex(md, sha, NULL) != 1 ||
			    EVP_DigestUpdate(md, line, LINE_SIZE) != 1 ||
			    EVP_DigestFinal_ex(md, digest, &dlen) != 1)
				goto out;
		}
		if (w->mode & CP_ZSTD) {
			size_t r = ZSTD_compress2(cctx, tmp, w->frame_cap, line, LINE_SIZE);

			if (ZSTD_isError(r))
				goto out;
			w->bytes_out += r;
		}
	}
	w->rc = 0;
out:
	free(tmp);
	EVP_MD_free(sha);
	EVP_MD_CTX_free(md);
	ZSTD_freeCCtx(cctx);
	return NULL;
}

/* One pass over @n lines with @threads workers; its time in *tm. */
static int compute_pass(const uint8_t *data, size_t n, int threads, int mode,
			struct timing *tm, uint64_t *bytes_out)
{
	struct cworker w[2];
	pthread_t tid[2];
	double t0, c0;
	int rc = 0;

	memset(w, 0, sizeof(w));
	for (int t = 0; t < threads; t++) {
		w[t].data = data;
		w[t].first = n * (size_t)t / (size_t)threads;
		w[t].n = n * (size_t)(t + 1) / (size_t)threads - w[t].first;
		w[t].mode = mode;
		w[t].frame_cap = ZSTD_compressBound(LINE_SIZE);
	}
	t0 = now_s();
	c0 = cpu_of(RUSAGE_SELF);
	for (int t = 1; t < threads; t++) {
		if ((rc = pthread_create(&tid[t], NULL, cworker_run, &w[t])) != 0)
			return sys_fail(-rc, "starting a thread");
	}
	cworker_run(&w[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(tid[t], NULL);
	tm->wall = now_s() - t0;
	tm->cpu = cpu_of(RUSAGE_SELF) - c0;
	if (bytes_out)
		*bytes_out = 0;
	for (int t = 0; t < threads; t++) {
		if (w[t].rc < 0)
			rc = w[t].rc;
		if (bytes_out)
			*bytes_out += w[t].bytes_out;
	}
	if (rc < 0)
		fprintf(stderr, "bench_store: compute pass: zstd or SHA-256 failed\n");
	return rc;
}

/*
 * compute_pass() @reps times; the shortest wall and CPU times in *tm.  A
 * limit is the best the machine does: other work on the CPUs only ever
 * makes a pass slower.
 */
static int compute_best(const uint8_t *data, size_t n, int threads, int mode,
			int reps, struct timing *tm, uint64_t *bytes_out)
{
	int rc = 0;

	for (int i = 0; i < reps && rc == 0; i++) {
		struct timing one = { 0, 0 };

		rc = compute_pass(data, n, threads, mode, &one, bytes_out);
		if (i == 0 || one.wall < tm->wall)
			tm->wall = one.wall;
		if (i == 0 || one.cpu < tm->cpu)
			tm->cpu = one.cpu;
	}
	return rc;
}

/*
 * The read limit: what the store must compute to read lines @idx of @data,
 * zstd decompression and SHA-256 (it verifies every line it reads).  The
 * frames are made first, untimed; the best of @reps passes in *tm.
 */
static int read_limit(const uint8_t *data, const uint64_t *idx, size_t n,
		      int reps, struct timing *tm)
{
	size_t cap = ZSTD_compressBound(LINE_SIZE);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	uint8_t *line = malloc(LINE_SIZE), digest[EVP_MAX_MD_SIZE];
	uint8_t *frames = malloc(n * cap);
	size_t *frame_len = malloc(n * sizeof(*frame_len));
	unsigned dlen;
	double t0, c0;
	int rc = -ENOMEM;

	if (!cctx || !dctx || !md || !sha || !line || !frames || !frame_len)
		goto out;
	rc = -EIO;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	for (size_t i = 0; i < n; i++) {
		frame_len[i] = ZSTD_compress2(cctx, frames + i * cap, cap,
					      data + idx[i] * LINE_SIZE, LINE_SIZE);
		if (ZSTD_isError(frame_len[i]))
			goto out;
	}
	for (int rep = 0; rep < reps; rep++) {
		t0 = now_s();
		c0 = cpu_thread_s();
		for (size_t i = 0; i < n; i++) {
			size_t r = ZSTD_decompressDCtx(dctx, line, LINE_SIZE,
						       frames + i * cap, frame_len[i]);

			if (ZSTD_isError(r) || r != LINE_SIZE ||
			    EVP_DigestInit_ex(md, sha, NULL) != 1 ||
			    EVP_DigestUpdate(md, line, LINE_SIZE) != 1 ||
			    EVP_DigestFinal_ex(md, digest, &dlen) != 1)
				goto out;
		}
		t0 = now_s() - t0;
		c0 = cpu_thread_s() - c0;
		if (rep == 0 || t0 < tm->wall)
			tm->wall = t0;
		if (rep == 0 || c0 < tm->cpu)
			tm->cpu = c0;
	}
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "bench_store: read limit: zstd or SHA-256 failed\n");
	free(frame_len);
	free(frames);
	free(line);
	EVP_MD_free(sha);
	EVP_MD_CTX_free(md);
	ZSTD_freeDCtx(dctx);
	ZSTD_freeCCtx(cctx);
	return rc;
}

/* ---- stores ----------------------------------------------------------- */

/* Open a fresh store @root/@tag with one heap of @size_bytes (sparse). */
static int store_new(const struct bench *b, const char *tag, int blob_files,
		     uint64_t size_bytes, char *dir, size_t dir_cap,
		     hs_store **store_out, hs_heap **heap_out)
{
	hs_store_opts opts = HS_STORE_OPTS_INIT;
	int rc;

	*store_out = NULL;
	*heap_out = NULL;
	opts.blob_files = blob_files;
	if ((size_t)snprintf(dir, dir_cap, "%s/%s", b->root, tag) >= dir_cap) {
		dir[0] = '\0';  /* never remove a truncated path */
		return sys_fail(-ENAMETOOLONG, tag);
	}
	if ((rc = check_hs(hs_store_open(store_out, dir, &opts), "opening the store")) < 0 ||
	    (rc = check_hs(hs_heap_create(*store_out, HEAP_NAME, NULL), "creating a heap")) < 0 ||
	    (rc = check_hs(hs_heap_open(heap_out, *store_out, HEAP_NAME), "opening a heap")) < 0 ||
	    (rc = check_hs(hs_heap_truncate(*heap_out, size_bytes), "sizing a heap")) < 0)
		return rc;
	return 0;
}

static int store_reopen(const char *dir, hs_store **store, hs_heap **heap)
{
	int rc;

	if ((rc = check_hs(hs_store_open(store, dir, NULL), "reopening the store")) < 0)
		return rc;
	return check_hs(hs_heap_open(heap, *store, HEAP_NAME), "opening a heap");
}

/*
 * Open and close the store in @dir once: RocksDB replays the WAL into files
 * and drops it, which shows the store's size without the WAL's copy.  The
 * open's time in *secs.
 */
static int store_settle(const char *dir, int blob_files, double *secs)
{
	hs_store_opts opts = HS_STORE_OPTS_INIT;
	hs_store *store = NULL;
	double t0 = now_s();
	int rc;

	opts.blob_files = blob_files;
	rc = check_hs(hs_store_open(&store, dir, &opts), "reopening the store");
	*secs = now_s() - t0;
	hs_store_close(store);
	return rc;
}

static void store_close(hs_store **store, hs_heap **heap)
{
	hs_heap_close(*heap);
	hs_store_close(*store);
	*heap = NULL;
	*store = NULL;
}

/* Write lines @idx[0..n) with the @n lines at @content, one call each. */
static int lines_write(hs_heap *heap, const uint64_t *idx, size_t n,
		       const uint8_t *content)
{
	for (size_t i = 0; i < n; i++) {
		ssize_t w = hs_heap_write(heap, content + i * LINE_SIZE, LINE_SIZE,
					  idx[i] * LINE_SIZE);
		int rc = check_hs_io(w, LINE_SIZE, "writing a line");

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- (1) checkpoint time ---------------------------------------------- */

struct ckpt_result {
	uint64_t heap_bytes;
	uint64_t lines_history;
	double populate_s;
	size_t n_fixed, n_pct;            /* dirty lines in (a) and (b) */
	double write_fixed, seal_fixed;   /* medians, seconds */
	double write_pct, seal_pct;
	double sync_pct, seal_synced_pct; /* (b) again, hs_heap_sync() first */
};

/*
 * Dirty @n random lines (fresh content) and seal, @reps times after one
 * warm-up; median times in *write_med and *seal_med.  With @sync_med, make
 * the writes durable with hs_heap_sync() before sealing and time that apart.
 */
static int ckpt_measure(struct bench *b, hs_heap *heap, uint64_t n_lines,
			size_t n, double *write_med, double *seal_med,
			double *sync_med)
{
	double *wt = calloc((size_t)b->reps, sizeof(double));
	double *st = calloc((size_t)b->reps, sizeof(double));
	double *yt = calloc((size_t)b->reps, sizeof(double));
	uint64_t *idx = calloc(n, sizeof(uint64_t));
	uint8_t *content = NULL;
	int rc = -ENOMEM;

	if (!wt || !st || !yt || !idx) {
		sys_fail(rc, "checkpoint");
		goto out;
	}
	for (int r = -1; r < b->reps; r++) {
		double t0, t1, ts, t2;

		free(content);
		if (!(content = lines_new(b, n))) {
			rc = sys_fail(-ENOMEM, "line content");
			goto out;
		}
		if ((rc = lines_pick(b, idx, n, n_lines)) < 0)
			goto out;
		t0 = now_s();
		if ((rc = lines_write(heap, idx, n, content)) < 0)
			goto out;
		t1 = now_s();
		if (sync_med && (rc = check_hs(hs_heap_sync(heap), "syncing")) < 0)
			goto out;
		ts = now_s();
		if ((rc = check_hs(hs_version_seal(heap, NULL, NULL), "sealing")) < 0)
			goto out;
		t2 = now_s();
		if (r >= 0) {
			wt[r] = t1 - t0;
			yt[r] = ts - t1;
			st[r] = t2 - ts;
		}
	}
	*write_med = median(wt, (size_t)b->reps);
	*seal_med = median(st, (size_t)b->reps);
	if (sync_med)
		*sync_med = median(yt, (size_t)b->reps);
	rc = 0;
out:
	free(content);
	free(idx);
	free(yt);
	free(st);
	free(wt);
	return rc;
}

static int bench_ckpt_heap(struct bench *b, uint64_t heap_bytes, size_t n_fixed,
			   struct ckpt_result *res)
{
	const uint64_t n_lines = heap_bytes / LINE_SIZE;
	char dir[PATH_MAX] = "", tag[32];
	hs_store *store = NULL;
	hs_heap *heap = NULL;
	uint64_t *idx = NULL;
	uint8_t *content = NULL;
	size_t n_hist = (size_t)(n_lines / b->populate_stride);
	double t0, write_synced;
	int rc;

	memset(res, 0, sizeof(*res));
	res->heap_bytes = heap_bytes;
	res->lines_history = n_hist;
	res->n_fixed = n_fixed;
	res->n_pct = (size_t)((n_lines + 99) / 100);
	snprintf(tag, sizeof(tag), "ckpt-%lluG", (unsigned long long)(heap_bytes / GIB));
	if ((rc = store_new(b, tag, -1, heap_bytes, dir, sizeof(dir), &store, &heap)) < 0)
		goto out;

	/* History: every stride-th line written once, then one checkpoint. */
	idx = malloc(n_hist * sizeof(*idx));
	content = lines_new(b, n_hist);
	if (!idx || !content) {
		rc = sys_fail(-ENOMEM, "history");
		goto out;
	}
	for (size_t i = 0; i < n_hist; i++)
		idx[i] = (uint64_t)i * b->populate_stride;
	t0 = now_s();
	if ((rc = lines_write(heap, idx, n_hist, content)) < 0 ||
	    (rc = check_hs(hs_version_seal(heap, NULL, NULL), "sealing")) < 0)
		goto out;
	res->populate_s = now_s() - t0;

	if ((rc = ckpt_measure(b, heap, n_lines, res->n_fixed, &res->write_fixed,
			       &res->seal_fixed, NULL)) < 0 ||
	    (rc = ckpt_measure(b, heap, n_lines, res->n_pct, &res->write_pct,
			       &res->seal_pct, NULL)) < 0 ||
	    (rc = ckpt_measure(b, heap, n_lines, res->n_pct, &write_synced,
			       &res->seal_synced_pct, &res->sync_pct)) < 0)
		goto out;
out:
	free(content);
	free(idx);
	store_close(&store, &heap);
	rmtree(dir);
	return rc;
}

static int bench_ckpt(struct bench *b)
{
	struct ckpt_result r1, r8;
	size_t n_fixed = (size_t)((GIB / LINE_SIZE + 99) / 100);
	int rc;

	printf("(1) Checkpoint (hs_version_seal) with 1%% of lines dirty; sparse heaps\n"
	       "    with history (every %uth line written once, sealed); dirty lines\n"
	       "    random, fresh content, one hs_heap_write each; median of %d\n\n",
	       b->populate_stride, b->reps);
	fflush(stdout);
	if ((rc = bench_ckpt_heap(b, GIB, n_fixed, &r1)) < 0 ||
	    (rc = bench_ckpt_heap(b, 8 * GIB, n_fixed, &r8)) < 0)
		return rc;

	printf("    %-34s %14s %14s %8s\n", "", "1 GiB heap", "8 GiB heap", "8G/1G");
	printf("    %-34s %14llu %14llu %8.2f\n", "lines in heap",
	       (unsigned long long)(r1.heap_bytes / LINE_SIZE),
	       (unsigned long long)(r8.heap_bytes / LINE_SIZE), 8.0);
	printf("    %-34s %14llu %14llu %8.2f\n", "history lines (written, sealed)",
	       (unsigned long long)r1.lines_history, (unsigned long long)r8.lines_history,
	       ratio((double)r8.lines_history, (double)r1.lines_history));
	printf("    %-34s %11.2f s  %11.2f s  %8.2f\n", "  history write + seal",
	       r1.populate_s, r8.populate_s, ratio(r8.populate_s, r1.populate_s));
	printf("    (a) same dirty lines on both\n");
	printf("    %-34s %14zu %14zu %8.2f\n", "  dirty lines", r1.n_fixed, r8.n_fixed,
	       ratio((double)r8.n_fixed, (double)r1.n_fixed));
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  write (hs_heap_write)",
	       r1.write_fixed * 1e3, r8.write_fixed * 1e3,
	       ratio(r8.write_fixed, r1.write_fixed));
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  checkpoint (seal)",
	       r1.seal_fixed * 1e3, r8.seal_fixed * 1e3,
	       ratio(r8.seal_fixed, r1.seal_fixed));
	printf("    (b) 1%% of each heap's own lines\n");
	printf("    %-34s %14zu %14zu %8.2f\n", "  dirty lines", r1.n_pct, r8.n_pct,
	       ratio((double)r8.n_pct, (double)r1.n_pct));
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  write (hs_heap_write)",
	       r1.write_pct * 1e3, r8.write_pct * 1e3, ratio(r8.write_pct, r1.write_pct));
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  checkpoint (seal)",
	       r1.seal_pct * 1e3, r8.seal_pct * 1e3, ratio(r8.seal_pct, r1.seal_pct));
	printf("    %-34s %11.2f us %11.2f us %8.2f\n", "  seal per dirty line",
	       r1.seal_pct * 1e6 / (double)r1.n_pct, r8.seal_pct * 1e6 / (double)r8.n_pct,
	       ratio(r8.seal_pct / (double)r8.n_pct, r1.seal_pct / (double)r1.n_pct));
	printf("    %-34s %11.2f us %11.2f us %8.2f\n", "  write per dirty line",
	       r1.write_pct * 1e6 / (double)r1.n_pct, r8.write_pct * 1e6 / (double)r8.n_pct,
	       ratio(r8.write_pct / (double)r8.n_pct, r1.write_pct / (double)r1.n_pct));
	printf("    (b') as (b), but hs_heap_sync() before the seal: the seal's own cost\n");
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  hs_heap_sync (WAL fsync)",
	       r1.sync_pct * 1e3, r8.sync_pct * 1e3, ratio(r8.sync_pct, r1.sync_pct));
	printf("    %-34s %11.2f ms %11.2f ms %8.2f\n", "  checkpoint (seal) after it",
	       r1.seal_synced_pct * 1e3, r8.seal_synced_pct * 1e3,
	       ratio(r8.seal_synced_pct, r1.seal_synced_pct));
	printf("    %-34s %11.2f us %11.2f us %8.2f\n", "  seal per dirty line",
	       r1.seal_synced_pct * 1e6 / (double)r1.n_pct,
	       r8.seal_synced_pct * 1e6 / (double)r8.n_pct,
	       ratio(r8.seal_synced_pct / (double)r8.n_pct,
		     r1.seal_synced_pct / (double)r1.n_pct));
	printf("\n");
	fflush(stdout);
	return 0;
}

/* ---- (2) and (3) write/read throughput and stored bytes ---------------- */

struct writer {
	hs_heap *heap;
	const uint8_t *data;
	uint64_t off;                     /* first byte of this writer's part */
	size_t len;
	int rc;
	char err[256];                    /* hs_error_last() is per thread */
};

static void *writer_run(void *p)
{
	struct writer *w = p;

	w->rc = 0;
	for (size_t done = 0; done < w->len; done += CHUNK_BYTES) {
		size_t n = w->len - done < CHUNK_BYTES ? w->len - done : CHUNK_BYTES;
		ssize_t r = hs_heap_write(w->heap, w->data + w->off + done, n, w->off + done);

		if (r != (ssize_t)n) {
			w->rc = r < 0 ? (int)r : -EIO;
			snprintf(w->err, sizeof(w->err), "%s",
				 r < 0 ? hs_error_last() : "short write");
			break;
		}
	}
	return NULL;
}

struct store_run {
	const char *tag;
	int blob_files;
	int threads;
	bool reads;
	struct timing write;              /* CPU: the process, flushes included */
	struct timing read;               /* CPU: the reading thread */
	double reopen_s;                  /* first reopen: WAL replay and flush */
	uint64_t wchar;                   /* bytes written to files, open to close */
	hs_store_usage usage;
	struct du du_closed;              /* right after hs_store_close() */
	struct du du_settled;             /* after one reopen and close */
};

/*
 * Write @len bytes of @data into a fresh store (heap sized first, so no
 * write extends it), with 1 or 2 writers on disjoint halves; then, if asked,
 * random line reads of @idx checked against @data; close; du; reopen and
 * close once more (settling the WAL); du again.
 */
static int store_run_do(struct bench *b, struct store_run *r, const uint8_t *data,
			size_t len, const uint64_t *idx)
{
	struct writer w[2];
	pthread_t tid[2];
	char dir[PATH_MAX] = "";
	hs_store *store = NULL;
	hs_heap *heap = NULL;
	uint8_t *line = malloc(LINE_SIZE);
	const uint64_t n_lines = len / LINE_SIZE;
	double t0, c0;
	int rc, started = 0;

	if (!line)
		return sys_fail(-ENOMEM, "read buffer");
	r->wchar = io_wchar();
	if ((rc = store_new(b, r->tag, r->blob_files, len, dir, sizeof(dir), &store,
			    &heap)) < 0)
		goto out;
	memset(w, 0, sizeof(w));
	for (int t = 0; t < r->threads; t++) {
		uint64_t first = n_lines * (uint64_t)t / (uint64_t)r->threads;
		uint64_t end = n_lines * (uint64_t)(t + 1) / (uint64_t)r->threads;

		w[t].heap = heap;
		w[t].data = data;
		w[t].off = first * LINE_SIZE;
		w[t].len = (size_t)((end - first) * LINE_SIZE);
	}
	t0 = now_s();
	c0 = cpu_of(RUSAGE_SELF);
	for (int t = 1; t < r->threads; t++, started++) {
		if ((rc = pthread_create(&tid[t], NULL, writer_run, &w[t])) != 0) {
			rc = sys_fail(-rc, "starting a writer");
			break;
		}
	}
	if (rc == 0)
		writer_run(&w[0]);
	for (int t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	r->write.wall = now_s() - t0;
	r->write.cpu = cpu_of(RUSAGE_SELF) - c0;
	for (int t = 0; t < r->threads && rc == 0; t++) {
		if ((rc = w[t].rc) < 0)
			fprintf(stderr, "bench_store: writing lines: %s\n", w[t].err);
	}
	if (rc < 0)
		goto out;
	if ((rc = check_hs(hs_store_usage_get(store, &r->usage), "store usage")) < 0)
		goto out;

	if (r->reads) {
		memset(&r->read, 0, sizeof(r->read));
		for (size_t i = 0; i < b->n_reads; i++) {
			double t1 = now_s(), c1 = cpu_thread_s();
			ssize_t n = hs_heap_read(heap, line, LINE_SIZE, idx[i] * LINE_SIZE);

			r->read.cpu += cpu_thread_s() - c1;
			r->read.wall += now_s() - t1;
			if ((rc = check_hs_io(n, LINE_SIZE, "reading a line")) < 0)
				goto out;
			if (memcmp(line, data + idx[i] * LINE_SIZE, LINE_SIZE) != 0) {
				fprintf(stderr, "bench_store: line %llu reads back different\n",
					(unsigned long long)idx[i]);
				rc = -EIO;
				goto out;
			}
		}
	}
	store_close(&store, &heap);
	r->wchar = io_wchar() - r->wchar;
	if ((rc = du_get(dir, &r->du_closed)) < 0 ||
	    (rc = store_settle(dir, r->blob_files, &r->reopen_s)) < 0 ||
	    (rc = du_get(dir, &r->du_settled)) < 0)
		goto out;
out:
	store_close(&store, &heap);
	rmtree(dir);
	free(line);
	return rc;
}

static void du_print(const char *what, const struct du *d, double base)
{
	printf("    %-40s %10.1f MiB %7.3f   (sst %.1f, blob %.1f, WAL %.1f)\n",
	       what, (double)d->total / MIB, ratio((double)d->total, base),
	       (double)d->sst / MIB, (double)d->blob / MIB, (double)d->wal / MIB);
}

/* One table row: @mib moved in @t, beside wall and CPU limits. */
static void row_print(const char *what, double mib, const struct timing *t,
		      double lim, double clim, double per_line_us)
{
	printf("    %-38s %8.0f %8.3f %10.0f %8.3f", what, mib / t->wall,
	       ratio(mib / t->wall, lim), mib / t->cpu, ratio(mib / t->cpu, clim));
	if (per_line_us >= 0)
		printf(" %8.1f", per_line_us);
	printf("\n");
}

static int bench_throughput(struct bench *b)
{
	const size_t len = b->write_bytes, n_lines = len / LINE_SIZE;
	struct store_run runs[] = {
		{ .tag = "on-1", .blob_files = -1, .threads = 1, .reads = true },
		{ .tag = "on-2", .blob_files = -1, .threads = 2 },
		{ .tag = "off-1", .blob_files = 0, .threads = 1, .reads = true },
		{ .tag = "off-2", .blob_files = 0, .threads = 2 },
	};
	const size_t n_runs = sizeof(runs) / sizeof(runs[0]);
	char path[PATH_MAX], zpath[PATH_MAX];
	uint8_t *data = NULL;
	uint64_t *idx = NULL, frames_bytes = 0, cli_bytes = 0;
	struct timing t_zstd = { 0, 0 }, t_sha = { 0, 0 }, t_both = { 0, 0 };
	struct timing t_both2 = { 0, 0 }, t_cli = { 0, 0 }, t_rlimit = { 0, 0 };
	double lim, lim2, clim, clim2;
	double mib = (double)len / MIB, rmib = (double)b->n_reads * LINE_SIZE / MIB;
	bool have_cli = access(ZSTD_CLI, X_OK) == 0;
	struct stat st;
	int rc;

	printf("(2) Write throughput: %.0f MiB of distinct heap-like 64 KiB lines through\n"
	       "    hs_heap_write in 1 MiB chunks into a fresh store (heap sized first);\n"
	       "    LIMIT = the store's own per-line work (SHA-256, zstd -1 frame with\n"
	       "    checksum) on the same bytes, in process, best of %d\n\n", mib,
	       b->limit_reps);
	fflush(stdout);
	data = lines_new(b, n_lines);
	idx = malloc(b->n_reads * sizeof(*idx));
	if (!data || !idx) {
		rc = sys_fail(-ENOMEM, "test data");
		goto out;
	}
	for (size_t i = 0; i < b->n_reads; i++)
		idx[i] = rng_next(&b->rng) % n_lines;

	if ((rc = compute_best(data, n_lines, 1, CP_ZSTD, b->limit_reps, &t_zstd,
				 &frames_bytes)) < 0 ||
	    (rc = compute_best(data, n_lines, 1, CP_SHA, b->limit_reps, &t_sha, NULL)) < 0 ||
	    (rc = compute_best(data, n_lines, 1, CP_ZSTD | CP_SHA, b->limit_reps,
				 &t_both, NULL)) < 0 ||
	    (rc = compute_best(data, n_lines, 2, CP_ZSTD | CP_SHA, b->limit_reps,
				 &t_both2, NULL)) < 0 ||
	    (rc = read_limit(data, idx, b->n_reads, b->limit_reps, &t_rlimit)) < 0)
		goto out;
	if (have_cli) {
		snprintf(path, sizeof(path), "%s/lines.bin", b->root);
		snprintf(zpath, sizeof(zpath), "%s/lines.bin.zst", b->root);
		if ((rc = file_write(path, data, len)) < 0 ||
		    (rc = zstd_cli_run(path, zpath, &t_cli)) < 0)
			goto out;
		if (stat(zpath, &st) < 0) {
			rc = sys_fail(-errno, zpath);
			goto out;
		}
		cli_bytes = (uint64_t)st.st_size;
		unlink(path);
		unlink(zpath);
	}
	for (size_t i = 0; i < n_runs; i++) {
		if ((rc = store_run_do(b, &runs[i], data, len, idx)) < 0)
			goto out;
	}

	lim = mib / t_both.wall;
	lim2 = mib / t_both2.wall;
	clim = mib / t_both.cpu;
	clim2 = mib / t_both2.cpu;
	printf("    %-38s %8s %8s %10s %8s\n", "", "MiB/s", "vs limit", "MiB/CPU-s",
	       "vs limit");
	row_print("LIMIT SHA-256 + zstd -1, 1 thread", mib, &t_both, lim, clim, -1);
	row_print("  zstd -1 only (per line, checksum)", mib, &t_zstd, lim, clim, -1);
	row_print("  SHA-256 only (OpenSSL EVP)", mib, &t_sha, lim, clim, -1);
	if (have_cli)
		row_print("  zstd -1 -T1 CLI, file to file", mib, &t_cli, lim, clim, -1);
	else
		printf("    %-38s %8s\n", "  zstd -1 CLI", "n/a (" ZSTD_CLI " missing)");
	row_print("LIMIT SHA-256 + zstd -1, 2 threads", mib, &t_both2, lim, clim, -1);
	for (size_t i = 0; i < n_runs; i++) {
		const struct store_run *r = &runs[i];
		char what[64];

		snprintf(what, sizeof(what), "store, blob files %s, %d writer%s",
			 r->blob_files ? "on" : "off", r->threads, r->threads > 1 ? "s" : "");
		if (r->threads == 1) {
			row_print(what, mib, &r->write, lim, clim, -1);
		} else {
			row_print(what, mib, &r->write, lim2, clim2, -1);
			printf("    %-38s   (vs the 2-thread limit; x%.2f the MiB/s of 1 writer)\n",
			       "", ratio(runs[i - 1].write.wall, r->write.wall));
		}
	}

	printf("\n    Random line reads (hs_heap_read of one 64 KiB line, %zu reads, content\n"
	       "    checked untimed); LIMIT = zstd decompress + SHA-256 of the same lines;\n"
	       "    CPU = the reading thread's\n\n", b->n_reads);
	printf("    %-38s %8s %8s %10s %8s %8s\n", "", "MiB/s", "vs limit", "MiB/CPU-s",
	       "vs limit", "us/line");
	lim = rmib / t_rlimit.wall;
	clim = rmib / t_rlimit.cpu;
	row_print("LIMIT zstd decompress + SHA-256", rmib, &t_rlimit, lim, clim,
		  t_rlimit.wall * 1e6 / (double)b->n_reads);
	for (size_t i = 0; i < n_runs; i++) {
		const struct store_run *r = &runs[i];

		if (!r->reads)
			continue;
		row_print(r->blob_files ? "store, blob files on" : "store, blob files off",
			  rmib, &r->read, lim, clim, r->read.wall * 1e6 / (double)b->n_reads);
	}

	if (!have_cli)
		cli_bytes = frames_bytes;
	printf("\n(3) Stored bytes of the same %zu unique lines (%s)\n\n", n_lines,
	       have_cli ? "BASELINE: zstd -1 CLI" : "BASELINE: per-line zstd -1, no CLI");
	printf("    %-40s %14s %7s\n", "", "size", "vs base");
	if (have_cli)
		printf("    %-40s %10.1f MiB %7.3f   (ratio %.2f)\n",
		       "BASELINE zstd -1 CLI, one stream", (double)cli_bytes / MIB, 1.0,
		       ratio((double)len, (double)cli_bytes));
	printf("    %-40s %10.1f MiB %7.3f\n", "raw lines", mib,
	       ratio((double)len, (double)cli_bytes));
	printf("    %-40s %10.1f MiB %7.3f   (ratio %.2f)\n", "zstd -1 per line, frames summed",
	       (double)frames_bytes / MIB, ratio((double)frames_bytes, (double)cli_bytes),
	       ratio((double)len, (double)frames_bytes));
	for (size_t i = 0; i < n_runs; i++) {
		const struct store_run *r = &runs[i];
		const char *on = r->blob_files ? "on" : "off";
		char what[64];

		if (r->threads != 1)
			continue;
		printf("    blob files %s:\n", on);
		printf("    %-40s %10.1f MiB %7.3f   (%llu blobs)\n", "  hs_store_usage bytes_stored",
		       (double)r->usage.bytes_stored / MIB,
		       ratio((double)r->usage.bytes_stored, (double)cli_bytes),
		       (unsigned long long)r->usage.blobs);
		du_print("  du -sb after hs_store_close", &r->du_closed, (double)cli_bytes);
		du_print("  du -sb after a reopen (WAL replayed)", &r->du_settled,
			 (double)cli_bytes);
		printf("    %-40s %10.2f s\n", "  that reopen took", r->reopen_s);
		if (r->wchar) {
			snprintf(what, sizeof(what), "  written to files, open to close");
			printf("    %-40s %10.1f MiB %7.3f   (x%.2f bytes_stored)\n", what,
			       (double)r->wchar / MIB, ratio((double)r->wchar, (double)cli_bytes),
			       ratio((double)r->wchar, (double)r->usage.bytes_stored));
		}
	}
	printf("\n");
	fflush(stdout);
	rc = 0;
out:
	free(idx);
	free(data);
	return rc;
}

/* ---- (4) ten checkpoints ---------------------------------------------- */

struct ten_point {
	hs_store_usage usage;
	struct du du_closed;
	struct du du_settled;
};

/* Usage now; close, du; reopen and close once (WAL replayed), du; reopen. */
static int ten_sample(const char *dir, hs_store **store, hs_heap **heap,
		      struct ten_point *p)
{
	double reopen_s;
	int rc = check_hs(hs_store_usage_get(*store, &p->usage), "store usage");

	if (rc < 0)
		return rc;
	store_close(store, heap);
	if ((rc = du_get(dir, &p->du_closed)) < 0 ||
	    (rc = store_settle(dir, -1, &reopen_s)) < 0 ||
	    (rc = du_get(dir, &p->du_settled)) < 0)
		return rc;
	return store_reopen(dir, store, heap);
}

static int bench_ten(struct bench *b)
{
	const size_t len = b->ten_heap_bytes, n_lines = len / LINE_SIZE;
	const size_t n_dirty = (n_lines + 99) / 100;
	struct ten_point base, one, ten;
	char dir[PATH_MAX] = "";
	hs_store *store = NULL;
	hs_heap *heap = NULL;
	uint8_t *content = NULL;
	uint64_t *idx = NULL, all_dirty = 0;
	double seal_s = 0, hb, g1, g10, d1, d10;
	int rc;

	printf("(4) Ten checkpoints of 1%% change each: a %.0f MiB heap written in full and\n"
	       "    sealed (base), then %zu random lines (1%%) rewritten and sealed, ten times\n\n",
	       (double)len / MIB, n_dirty);
	fflush(stdout);
	idx = malloc(n_dirty * sizeof(*idx));
	content = lines_new(b, n_lines);
	if (!idx || !content) {
		rc = sys_fail(-ENOMEM, "heap content");
		goto out;
	}
	if ((rc = store_new(b, "ten", -1, len, dir, sizeof(dir), &store, &heap)) < 0)
		goto out;
	for (size_t done = 0; done < len; done += CHUNK_BYTES) {
		size_t n = len - done < CHUNK_BYTES ? len - done : CHUNK_BYTES;

		if ((rc = check_hs_io(hs_heap_write(heap, content + done, n, done), n,
				      "writing the heap")) < 0)
			goto out;
	}
	if ((rc = check_hs(hs_version_seal(heap, NULL, NULL), "sealing")) < 0 ||
	    (rc = ten_sample(dir, &store, &heap, &base)) < 0)
		goto out;
	for (int k = 1; k <= 10; k++) {
		double t0;

		free(content);
		if (!(content = lines_new(b, n_dirty))) {
			rc = sys_fail(-ENOMEM, "line content");
			goto out;
		}
		if ((rc = lines_pick(b, idx, n_dirty, n_lines)) < 0 ||
		    (rc = lines_write(heap, idx, n_dirty, content)) < 0)
			goto out;
		t0 = now_s();
		if ((rc = check_hs(hs_version_seal(heap, NULL, NULL), "sealing")) < 0)
			goto out;
		seal_s += now_s() - t0;
		all_dirty += n_dirty;
		if (k == 1 && (rc = ten_sample(dir, &store, &heap, &one)) < 0)
			goto out;
	}
	if ((rc = ten_sample(dir, &store, &heap, &ten)) < 0)
		goto out;

	hb = (double)base.usage.bytes_stored;
	g1 = (double)one.usage.bytes_stored - hb;
	g10 = (double)ten.usage.bytes_stored - hb;
	d1 = (double)one.du_settled.total - (double)base.du_settled.total;
	d10 = (double)ten.du_settled.total - (double)base.du_settled.total;
	printf("    %-36s %12s %12s %12s\n", "", "base", "+1 ckpt", "+10 ckpts");
	printf("    %-36s %8.1f MiB %8.1f MiB %8.1f MiB\n", "bytes_stored", hb / MIB,
	       (double)one.usage.bytes_stored / MIB, (double)ten.usage.bytes_stored / MIB);
	printf("    %-36s %8.1f MiB %8.1f MiB %8.1f MiB\n", "du -sb after close",
	       (double)base.du_closed.total / MIB, (double)one.du_closed.total / MIB,
	       (double)ten.du_closed.total / MIB);
	printf("    %-36s %8.1f MiB %8.1f MiB %8.1f MiB\n", "  of which WAL",
	       (double)base.du_closed.wal / MIB, (double)one.du_closed.wal / MIB,
	       (double)ten.du_closed.wal / MIB);
	printf("    %-36s %8.1f MiB %8.1f MiB %8.1f MiB\n", "du -sb after a reopen",
	       (double)base.du_settled.total / MIB, (double)one.du_settled.total / MIB,
	       (double)ten.du_settled.total / MIB);
	printf("    %-36s %12s %8.2f MiB %8.2f MiB   x%.2f (ideal x10)\n",
	       "growth of bytes_stored", "", g1 / MIB, g10 / MIB, ratio(g10, g1));
	printf("    %-36s %12s %11.2f%% %11.2f%%   (ideal 1%% per ckpt)\n",
	       "  vs the base's bytes_stored", "", 100 * ratio(g1, hb), 100 * ratio(g10, hb));
	printf("    %-36s %12s %11.2f%% %11.2f%%\n", "  vs the heap size (raw)", "",
	       100 * ratio(g1, (double)len), 100 * ratio(g10, (double)len));
	printf("    %-36s %12s %8.2f MiB %8.2f MiB   x%.2f\n", "growth of du after a reopen",
	       "", d1 / MIB, d10 / MIB, ratio(d10, d1));
	printf("    %-36s %12s %12s %9.2f ms   (%llu lines rewritten in all)\n",
	       "mean seal time", "", "", seal_s * 1e3 / 10, (unsigned long long)all_dirty);
	printf("\n");
	fflush(stdout);
out:
	free(content);
	free(idx);
	store_close(&store, &heap);
	rmtree(dir);
	return rc;
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_store [--quick]\n"
		   "  --quick   smaller sizes (also BENCH_QUICK=1)\n"
		   "Stores go under $TMPDIR (or /tmp) and are removed at the end.\n");
}

int main(int argc, char **argv)
{
	struct bench b;
	const char *tmp = getenv("TMPDIR"), *q = getenv("BENCH_QUICK");
	char *root = NULL;
	double t0 = now_s();
	int rc;

	memset(&b, 0, sizeof(b));
	b.quick = q && *q && strcmp(q, "0") != 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			b.quick = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	b.write_bytes = (b.quick ? 128 : 1024) * (size_t)(1 << 20);
	b.reps = b.quick ? 3 : 5;
	b.populate_stride = b.quick ? 64 : 16;
	b.n_reads = b.quick ? 1024 : 4096;
	b.limit_reps = b.quick ? 1 : 3;
	b.ten_heap_bytes = (b.quick ? 64 : 256) * (size_t)(1 << 20);
	b.seed = 1;
	b.rng = 0x2545f4914f6cdd1dULL;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&root, "%s/heapfs-bench-XXXXXX", tmp) < 0) {
		fprintf(stderr, "bench_store: out of memory\n");
		return 1;
	}
	if (!mkdtemp(root)) {
		rc = sys_fail(-errno, root);
		free(root);
		return 1;
	}
	b.root = root;

	printf("heapfs store benchmark%s: line %u KiB, zstd level 1, %ld CPUs, stores in %s\n"
	       "content: heap-like lines (pointers, text, zeros, counters), all distinct\n"
	       "load average at start %.2f (other work on the CPUs slows wall times; the\n"
	       "MiB/CPU-s columns are less sensitive to it)\n\n",
	       b.quick ? " (quick)" : "", LINE_SIZE / 1024, sysconf(_SC_NPROCESSORS_ONLN),
	       tmp, loadavg());
	fflush(stdout);
	if ((rc = bench_ckpt(&b)) == 0 && (rc = bench_throughput(&b)) == 0)
		rc = bench_ten(&b);
	rmtree(root);
	free(root);
	if (rc < 0)
		return 1;
	printf("total run time %.1f s, load average at end %.2f\n", now_s() - t0, loadavg());
	return 0;
}
