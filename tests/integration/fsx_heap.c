/*
 * fsx_heap.c - a model-based random exerciser of one heap file, in the
 * manner of fsx (xfstests ltp/fsx.c), on a real heapfs mount.
 *
 * A seeded, reproducible stream of pread, pwrite, mmap read, mmap write +
 * msync, ftruncate, fallocate(PUNCH_HOLE | KEEP_SIZE), fsync, close and
 * reopen (sometimes dropping the page cache), SEEK_DATA, SEEK_HOLE and
 * lines/ listings runs against MNT/fsx/heap and an in-memory model of it;
 * every result is compared with the model.  Every FSX_CHECK ops and at the
 * end the whole file is read back (page cache dropped first) and st_size
 * and st_blocks checked; the run ends with a remount and one more check.
 * On the first mismatch it prints the seed, the op number, the last ops
 * with their arguments and the first differing byte, then fails.
 *
 * The model of SEEK_DATA / SEEK_HOLE, lines/ and st_blocks is the README's:
 * heapfs answers at line granularity, a line holding any non-zero byte is
 * data and an all-zero line is a hole (zero lines are never stored; what
 * the line cache holds counts in st_blocks once written back, so the check
 * fsyncs first).  Every
 * mmap store is msync'd at once, so the daemon always sees what the model
 * holds.
 *
 * Two ways to run it:
 *   ctest -R fsx_heap     the Check suite, one CTest test per line size (the
 *                         default 64K, and line=4K): 10,000 ops with a fixed
 *                         seed and 10,000 with a time-based seed (printed),
 *                         16 MiB max file size (FSX_CTEST_OPS, FSX_MAXSIZE)
 *   FSX_OPS=1000000 FSX_SEED=42 FSX_LINE=4K build/tests/integration/fsx_heap
 *                         one run by hand (any of the three selects it; a
 *                         missing seed is time-based, FSX_LINE defaults to
 *                         64K, FSX_OPS to 20,000), 64 MiB max file size,
 *                         in-process (CK_FORK=no) unless CK_FORK is set.
 * Also FSX_MAXSIZE, FSX_CHECK (full compare every N ops, default 1000) and
 * FSX_VERBOSE=1 (every op to stderr).  The same seed and settings replay
 * the same ops.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "mount_util.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)

#define FIXED_SEED 20240601ULL    /* the CTest run's fixed seed */
#define CTEST_OPS 10000           /* ops per CTest run (FSX_CTEST_OPS) */
#define CTEST_MAXSIZE (16 * MiB)  /* the CTest runs' max file size */
#define HAND_OPS 20000            /* by hand, without FSX_OPS */
#define HAND_MAXSIZE (64 * MiB)   /* by hand, without FSX_MAXSIZE */
#define MAX_LEN_LINES 4           /* reads and writes: 1 byte to this many lines */
#define HIST 24                   /* ops printed on a mismatch */
#define HEAP "fsx"

/* ---- configuration -------------------------------------------------- */

struct cfg {
	uint64_t seed;
	uint64_t ops;
	uint64_t line;            /* the heap's line size */
	uint64_t maxsize;         /* the file never grows past this */
	uint64_t check_every;     /* full compare every this many ops */
	bool verbose;
};

/* "4096", "4K", "64k", "1M"; 0 if it is not a size. */
static uint64_t size_parse(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v *= KiB; end++; break;
	case 'm': case 'M': v *= MiB; end++; break;
	case 'g': case 'G': v *= 1024 * MiB; end++; break;
	default: break;
	}
	return *end ? 0 : (uint64_t)v;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	uint64_t v;

	if (!s || !*s)
		return dflt;
	v = size_parse(s);
	ck_assert_msg(v > 0 || strcmp(s, "0") == 0, "%s=%s: not a number", name, s);
	return v;
}

static uint64_t time_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Small enough to type back in. */
	return ((uint64_t)ts.tv_sec * 1000003ULL + (uint64_t)ts.tv_nsec / 1000 +
		(uint64_t)getpid()) % 1000000000ULL;
}

/* ---- the exerciser's state ------------------------------------------ */

enum op_kind {
	OP_READ, OP_WRITE, OP_MAPREAD, OP_MAPWRITE, OP_TRUNCATE, OP_PUNCH,
	OP_FSYNC, OP_REOPEN, OP_SEEK_DATA, OP_SEEK_HOLE, OP_LINES, OP_CHECK, OP_REMOUNT, OP_N
};

static const char *const op_names[OP_N] = {
	"pread", "pwrite", "mapread", "mapwrite", "ftruncate", "punch",
	"fsync", "reopen", "seek_data", "seek_hole", "lines/", "check", "remount",
};

/*
 * Per mille of the stream.  Not drawn: OP_CHECK runs every check_every ops
 * and at the end, OP_REMOUNT once at the end.
 */
static const unsigned op_weights[OP_N] = {
	[OP_READ] = 200, [OP_WRITE] = 230, [OP_MAPREAD] = 100, [OP_MAPWRITE] = 90,
	[OP_TRUNCATE] = 70, [OP_PUNCH] = 90, [OP_FSYNC] = 30, [OP_REOPEN] = 20,
	[OP_SEEK_DATA] = 80, [OP_SEEK_HOLE] = 80, [OP_LINES] = 10,
};

enum fill { FILL_RANDOM, FILL_ZERO, FILL_SPARSE };
static const char *const fill_names[] = { "random", "zeros", "sparse" };

struct op_rec {
	uint64_t no;
	enum op_kind kind;
	uint64_t off, len;        /* len: new size for ftruncate */
	uint64_t size_before;
	const char *note;         /* fill pattern, "skipped", ... */
	long long result;         /* what the call returned (-errno on failure) */
};

struct fsx {
	struct cfg c;
	struct mu_rng rng;
	uint8_t *model;           /* the file as it should be; zeros past size */
	uint64_t size;
	uint64_t nlines;          /* lines the model buffer covers */
	uint8_t *nz;              /* per line: holds a non-zero byte */
	uint8_t *nz_stale;        /* per line: nz needs recomputing */
	uint8_t *buf, *got;       /* scratch, MAX_LEN_LINES lines (+ slack) each */
	size_t scratch;
	int fd;
	uint8_t *map;
	uint64_t map_len;
	char path[600];
	char lines_dir[600];
	uint64_t opno;
	struct op_rec hist[HIST];
	uint64_t nhist;
	uint64_t count[OP_N];
	double secs[OP_N];        /* time spent in each kind of op */
};

static struct fsx X;

/* ---- reporting ------------------------------------------------------ */

static void rec_print(FILE *f, const struct op_rec *o)
{
	uint64_t ls = X.c.line;

	fprintf(f, "  #%-8" PRIu64 " %-9s", o->no, op_names[o->kind]);
	switch (o->kind) {
	case OP_READ: case OP_WRITE: case OP_MAPREAD: case OP_MAPWRITE: case OP_PUNCH:
		fprintf(f, " off 0x%" PRIx64 " (line %" PRIu64 " +%" PRIu64 ") len 0x%" PRIx64
			" (%" PRIu64 ")", o->off, o->off / ls, o->off % ls, o->len, o->len);
		break;
	case OP_TRUNCATE:
		fprintf(f, " to 0x%" PRIx64 " (%" PRIu64 ", line %" PRIu64 " +%" PRIu64 ")",
			o->len, o->len, o->len / ls, o->len % ls);
		break;
	case OP_SEEK_DATA: case OP_SEEK_HOLE:
		fprintf(f, " off 0x%" PRIx64 " (line %" PRIu64 " +%" PRIu64 ")", o->off,
			o->off / ls, o->off % ls);
		break;
	default:
		break;
	}
	fprintf(f, " [size 0x%" PRIx64 "]", o->size_before);
	if (o->note)
		fprintf(f, " %s", o->note);
	fprintf(f, " -> %lld", o->result);
	if (o->result < 0 && o->result > -4096)
		fprintf(f, " (%s)", strerror((int)-o->result));
	fputc('\n', f);
}

static struct op_rec *rec_new(enum op_kind kind, uint64_t off, uint64_t len)
{
	struct op_rec *o = &X.hist[X.nhist++ % HIST];

	*o = (struct op_rec){ X.opno, kind, off, len, X.size, NULL, 0 };
	X.count[kind]++;
	return o;
}

static void rec_done(struct op_rec *o, long long result)
{
	o->result = result;
	if (X.c.verbose)
		rec_print(stderr, o);
}

static void bytes_print(FILE *f, const char *what, const uint8_t *p, size_t n)
{
	fprintf(f, "fsx:   %-8s", what);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %02x", p[i]);
	fputc('\n', f);
}

/*
 * The first mismatch: print everything needed to replay it, then fail.
 * @file_off/@want/@got (non-NULL) show the first differing byte.
 */
static void mismatch(uint64_t file_off, const uint8_t *want, const uint8_t *got, size_t avail,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6), noreturn));

static void mismatch(uint64_t file_off, const uint8_t *want, const uint8_t *got, size_t avail,
		 const char *fmt, ...)
{
	char what[512];
	va_list ap;
	uint64_t first = X.nhist > HIST ? X.nhist - HIST : 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "\nfsx: MISMATCH: seed %" PRIu64 ", op %" PRIu64 " of %" PRIu64
		", line size %" PRIu64 ", max size %" PRIu64 "\nfsx: %s\n", X.c.seed, X.opno,
		X.c.ops, X.c.line, X.c.maxsize, what);
	if (want && got) {
		size_t n = avail < 16 ? avail : 16;

		fprintf(stderr, "fsx: first difference at offset 0x%" PRIx64 " (%" PRIu64
			", line %" PRIu64 " +%" PRIu64 "): expected 0x%02x, got 0x%02x\n",
			file_off, file_off, file_off / X.c.line, file_off % X.c.line, want[0],
			got[0]);
		bytes_print(stderr, "expected", want, n);
		bytes_print(stderr, "got", got, n);
	}
	fprintf(stderr, "fsx: the last %" PRIu64 " ops (model size now 0x%" PRIx64 "):\n",
		X.nhist - first, X.size);
	for (uint64_t i = first; i < X.nhist; i++)
		rec_print(stderr, &X.hist[i % HIST]);
	fprintf(stderr, "fsx: replay: FSX_SEED=%" PRIu64 " FSX_OPS=%" PRIu64 " FSX_LINE=%" PRIu64
		" FSX_MAXSIZE=%" PRIu64 " FSX_CHECK=%" PRIu64 " FSX_VERBOSE=1\n", X.c.seed,
		X.opno, X.c.line, X.c.maxsize, X.c.check_every);
	fflush(stderr);
	ck_abort_msg("fsx: seed %" PRIu64 " op %" PRIu64 ": %s (details on stderr)", X.c.seed,
		     X.opno, what);
	abort();   /* not reached */
}

/* Compare @n bytes read at @off with the model; fail at the first difference. */
static void compare(const char *what, const uint8_t *got, uint64_t off, size_t n)
{
	const uint8_t *want = X.model + off;

	if (memcmp(want, got, n) == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (want[i] != got[i])
			mismatch(off + i, want + i, got + i, n - i,
			     "%s of %zu bytes at 0x%" PRIx64 " differs from the model", what, n,
			     off);
	}
}

/* ---- the model ------------------------------------------------------ */

static void model_touch(uint64_t off, uint64_t len)
{
	if (!len)
		return;
	for (uint64_t l = off / X.c.line; l <= (off + len - 1) / X.c.line && l < X.nlines; l++)
		X.nz_stale[l] = 1;
}

/* Does line @l hold a non-zero byte (of the model)? */
static bool line_nz(uint64_t l)
{
	if (X.nz_stale[l]) {
		const uint8_t *p = X.model + l * X.c.line;
		uint64_t i = 0;

		while (i < X.c.line && !p[i])
			i++;
		X.nz[l] = i < X.c.line;
		X.nz_stale[l] = 0;
	}
	return X.nz[l];
}

static uint64_t lines_in_size(void)
{
	return (X.size + X.c.line - 1) / X.c.line;
}

/* What lseek(@off, @whence) must return: the offset, or -ENXIO. */
static long long model_seek(uint64_t off, int whence)
{
	uint64_t n = lines_in_size(), l;

	if (off >= X.size)
		return -ENXIO;
	for (l = off / X.c.line; l < n; l++) {
		if (line_nz(l) == (whence == SEEK_DATA))
			break;
	}
	if (l == n)
		return whence == SEEK_DATA ? -ENXIO : (long long)X.size;
	l *= X.c.line;
	return (long long)(l > off ? (l < X.size ? l : X.size) : off);
}

static void model_zero(uint64_t off, uint64_t len)
{
	memset(X.model + off, 0, len);
	model_touch(off, len);
}

/* ---- the file ------------------------------------------------------- */

static void unmap(void)
{
	if (X.map) {
		ck_assert_msg(munmap(X.map, X.map_len) == 0, "munmap: %s", strerror(errno));
		X.map = NULL;
		X.map_len = 0;
	}
}

/* A MAP_SHARED mapping of exactly the current size (which is not 0). */
static void map_current(void)
{
	void *p;

	if (X.map && X.map_len == X.size)
		return;
	unmap();
	p = mmap(NULL, X.size, PROT_READ | PROT_WRITE, MAP_SHARED, X.fd, 0);
	if (p == MAP_FAILED)
		mismatch(0, NULL, NULL, 0, "mmap of %" PRIu64 " bytes: %s", X.size, strerror(errno));
	X.map = p;
	X.map_len = X.size;
}

static void file_open(void)
{
	X.fd = open(X.path, O_RDWR | O_CLOEXEC);
	if (X.fd < 0)
		mismatch(0, NULL, NULL, 0, "open %s: %s", X.path, strerror(errno));
}

/* Drop the heap file's clean cached pages: the next reads ask the daemon. */
static void cache_drop(void)
{
	int rc = posix_fadvise(X.fd, 0, 0, POSIX_FADV_DONTNEED);

	if (rc != 0)
		mismatch(0, NULL, NULL, 0, "posix_fadvise(DONTNEED): %s", strerror(rc));
}

/*
 * st_size is the model's size (and st_blocks its non-zero lines when
 * @blocks: st_blocks counts the lines in the store, so after an fsync has
 * written back what the line cache holds).
 */
static void stat_check(const char *after, bool blocks)
{
	struct stat st;
	uint64_t used = 0;

	if (blocks && fsync(X.fd) != 0)
		mismatch(0, NULL, NULL, 0, "fsync before st_blocks, after %s: %s", after,
			 strerror(errno));
	if (fstat(X.fd, &st) != 0)
		mismatch(0, NULL, NULL, 0, "fstat after %s: %s", after, strerror(errno));
	if ((uint64_t)st.st_size != X.size)
		mismatch(0, NULL, NULL, 0, "after %s: st_size %lld, model 0x%" PRIx64 " (%" PRIu64 ")",
		     after, (long long)st.st_size, X.size, X.size);
	if (!blocks)
		return;
	for (uint64_t l = 0; l < lines_in_size(); l++)
		used += line_nz(l);
	if ((uint64_t)st.st_blocks != used * X.c.line / 512)
		mismatch(0, NULL, NULL, 0, "st_blocks %lld, model %" PRIu64 " non-zero lines of %" PRIu64
		     " = %" PRIu64 " blocks", (long long)st.st_blocks, used, X.c.line,
		     used * X.c.line / 512);
}

/* ---- picking offsets, lengths and data ------------------------------ */

/* An offset in [0, @limit), biased to line boundaries and to the end of file. */
static uint64_t pick_off(uint64_t limit)
{
	uint64_t ls = X.c.line, off;
	int64_t jitter;

	if (limit == 0)
		return 0;
	switch (mu_rnd(&X.rng, 10)) {
	case 0: case 1: case 2:
		off = mu_rnd(&X.rng, limit);
		break;
	case 3: case 4: case 5:   /* a line boundary, exact or a few bytes off */
		off = mu_rnd(&X.rng, limit / ls + 1) * ls;
		switch (mu_rnd(&X.rng, 3)) {
		case 0: break;
		case 1: off -= off >= 16 ? 1 + mu_rnd(&X.rng, 16) : 0; break;
		default: off += 1 + mu_rnd(&X.rng, 16); break;
		}
		break;
	case 6: case 7:           /* around the end of file */
		jitter = (int64_t)mu_rnd(&X.rng, 3 * ls) - (int64_t)(2 * ls);
		if (mu_rnd(&X.rng, 4) == 0)
			jitter = (int64_t)mu_rnd(&X.rng, 33) - 16;
		off = jitter < 0 && (uint64_t)-jitter > X.size ? 0 : X.size + (uint64_t)jitter;
		break;
	default:                  /* inside the file */
		off = mu_rnd(&X.rng, X.size ? X.size : limit);
		break;
	}
	return off < limit ? off : limit - 1 - mu_rnd(&X.rng, limit < 16 ? limit : 16);
}

/* 1 byte to MAX_LEN_LINES lines, biased to small and to whole lines. */
static uint64_t pick_len(void)
{
	uint64_t ls = X.c.line;

	switch (mu_rnd(&X.rng, 10)) {
	case 0: case 1: return 1 + mu_rnd(&X.rng, 16);
	case 2: case 3: return 1 + mu_rnd(&X.rng, ls);
	case 4: return ls;
	case 5: return ls * (1 + mu_rnd(&X.rng, MAX_LEN_LINES));
	default: return 1 + mu_rnd(&X.rng, MAX_LEN_LINES * ls);
	}
}

/* Fill @p with @n bytes of a random pattern; its name. */
static const char *pick_data(uint8_t *p, size_t n)
{
	enum fill f = mu_rnd(&X.rng, 10) < 7 ? FILL_RANDOM : mu_rnd(&X.rng, 2) ? FILL_ZERO : FILL_SPARSE;

	switch (f) {
	case FILL_RANDOM:
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = mu_rng_next(&X.rng);

			memcpy(p + i, &v, n - i < 8 ? n - i : 8);
		}
		break;
	case FILL_ZERO:
		memset(p, 0, n);
		break;
	case FILL_SPARSE:         /* mostly zeros: a few non-zero bytes, maybe none */
		memset(p, 0, n);
		for (uint64_t k = mu_rnd(&X.rng, 4); k > 0; k--)
			p[mu_rnd(&X.rng, n)] = (uint8_t)(1 + mu_rnd(&X.rng, 255));
		break;
	}
	return fill_names[f];
}

/* A range inside [0, size) for the mmap ops; false when the file is empty. */
static bool pick_inside(uint64_t *off, uint64_t *len)
{
	if (X.size == 0)
		return false;
	*off = pick_off(X.size);
	*len = pick_len();
	if (*len > X.size - *off)
		*len = X.size - *off;
	return true;
}

/* ---- the ops -------------------------------------------------------- */

static void op_check(void);
static void op_lines(void);

static void op_read(void)
{
	uint64_t off = pick_off(X.size + 2 * X.c.line), len = pick_len();
	struct op_rec *o = rec_new(OP_READ, off, len);
	uint64_t want = off >= X.size ? 0 : (len < X.size - off ? len : X.size - off);
	ssize_t r = pread(X.fd, X.got, len, (off_t)off);

	rec_done(o, r < 0 ? -errno : r);
	if (r != (ssize_t)want)
		mismatch(0, NULL, NULL, 0, "pread of %" PRIu64 " at 0x%" PRIx64 " returned %zd (%s), "
		     "expected %" PRIu64, len, off, r, r < 0 ? strerror(errno) : "count", want);
	compare("pread", X.got, off, (size_t)want);
}

static void op_write(void)
{
	uint64_t off = pick_off(X.c.maxsize), len = pick_len();
	struct op_rec *o;
	ssize_t r;

	if (len > X.c.maxsize - off)
		len = X.c.maxsize - off;
	o = rec_new(OP_WRITE, off, len);
	o->note = pick_data(X.buf, len);
	r = pwrite(X.fd, X.buf, len, (off_t)off);
	rec_done(o, r < 0 ? -errno : r);
	if (r != (ssize_t)len)
		mismatch(0, NULL, NULL, 0, "pwrite of %" PRIu64 " at 0x%" PRIx64 " returned %zd (%s)",
		     len, off, r, r < 0 ? strerror(errno) : "short");
	memcpy(X.model + off, X.buf, len);
	model_touch(off, len);
	if (off + len > X.size) {
		X.size = off + len;
		stat_check("an extending pwrite", false);
	}
}

static void op_mapread(void)
{
	uint64_t off = 0, len = 0;
	struct op_rec *o;

	if (!pick_inside(&off, &len)) {
		rec_new(OP_MAPREAD, 0, 0)->note = "skipped: empty file";
		return;
	}
	o = rec_new(OP_MAPREAD, off, len);
	map_current();
	memcpy(X.got, X.map + off, len);
	rec_done(o, (long long)len);
	compare("mmap read", X.got, off, len);
}

static void op_mapwrite(void)
{
	uint64_t off = 0, len = 0, page = (uint64_t)sysconf(_SC_PAGESIZE), start;
	struct op_rec *o;
	int rc;

	if (!pick_inside(&off, &len)) {
		rec_new(OP_MAPWRITE, 0, 0)->note = "skipped: empty file";
		return;
	}
	o = rec_new(OP_MAPWRITE, off, len);
	o->note = pick_data(X.buf, len);
	map_current();
	memcpy(X.map + off, X.buf, len);
	start = off / page * page;
	rc = msync(X.map + start, off + len - start, MS_SYNC);
	rec_done(o, rc < 0 ? -errno : rc);
	if (rc != 0)
		mismatch(0, NULL, NULL, 0, "msync(MS_SYNC) of [0x%" PRIx64 ", 0x%" PRIx64 "): %s",
		     start, off + len, strerror(errno));
	memcpy(X.model + off, X.buf, len);
	model_touch(off, len);
}

static void op_truncate(void)
{
	uint64_t ls = X.c.line, max = X.c.maxsize, ns;
	struct op_rec *o;
	int rc;

	switch (mu_rnd(&X.rng, 8)) {
	case 0: case 1: ns = mu_rnd(&X.rng, X.size + 1); break;                 /* shrink */
	case 2: case 3: ns = X.size + mu_rnd(&X.rng, max - X.size + 1); break;  /* grow */
	case 4: ns = mu_rnd(&X.rng, max / ls + 1) * ls; break;                  /* a boundary */
	case 5: ns = X.size / ls * ls + mu_rnd(&X.rng, ls); break;              /* in the last line */
	case 6: ns = X.size + mu_rnd(&X.rng, 2 * ls + 1); break;                /* grow a little */
	default: ns = mu_rnd(&X.rng, 16) == 0 ? 0 : mu_rnd(&X.rng, max + 1); break;
	}
	if (ns > max)
		ns = max;
	o = rec_new(OP_TRUNCATE, 0, ns);
	rc = ftruncate(X.fd, (off_t)ns);
	rec_done(o, rc < 0 ? -errno : rc);
	if (rc != 0)
		mismatch(0, NULL, NULL, 0, "ftruncate to %" PRIu64 ": %s", ns, strerror(errno));
	if (ns < X.size)
		model_zero(ns, X.size - ns);
	X.size = ns;
	stat_check("ftruncate", false);
}

static void op_punch(void)
{
	uint64_t off = pick_off(X.size + 2 * X.c.line), len = pick_len();
	struct op_rec *o;
	int rc;

	if (mu_rnd(&X.rng, 4) == 0)
		len *= 1 + mu_rnd(&X.rng, 8);   /* sometimes many lines */
	o = rec_new(OP_PUNCH, off, len);
	rc = fallocate(X.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	rec_done(o, rc < 0 ? -errno : rc);
	if (rc != 0)
		mismatch(0, NULL, NULL, 0, "fallocate(PUNCH_HOLE | KEEP_SIZE, 0x%" PRIx64 ", %" PRIu64
		     "): %s", off, len, strerror(errno));
	if (off < X.size)
		model_zero(off, len < X.size - off ? len : X.size - off);
	stat_check("punch", false);
}

static void op_fsync(void)
{
	bool data = mu_rnd(&X.rng, 2);
	struct op_rec *o = rec_new(OP_FSYNC, 0, 0);
	int rc = data ? fdatasync(X.fd) : fsync(X.fd);

	o->note = data ? "fdatasync" : "fsync";
	rec_done(o, rc < 0 ? -errno : rc);
	if (rc != 0)
		mismatch(0, NULL, NULL, 0, "%s: %s", o->note, strerror(errno));
}

static void op_reopen(void)
{
	struct op_rec *o = rec_new(OP_REOPEN, 0, 0);
	bool mapped = X.map != NULL;

	bool drop = mu_rnd(&X.rng, 2);

	o->note = mapped ? (drop ? "mapped, cache dropped" : "mapped") :
			   (drop ? "not mapped, cache dropped" : "not mapped");
	unmap();
	if (close(X.fd) != 0)
		mismatch(0, NULL, NULL, 0, "close: %s", strerror(errno));
	file_open();
	if (drop)
		cache_drop();
	if (mapped && X.size)
		map_current();
	rec_done(o, 0);
}

static void op_seek(int whence)
{
	enum op_kind k = whence == SEEK_DATA ? OP_SEEK_DATA : OP_SEEK_HOLE;
	uint64_t off = pick_off(X.size + 2 * X.c.line);
	struct op_rec *o = rec_new(k, off, 0);
	long long want = model_seek(off, whence);
	off_t r = lseek(X.fd, (off_t)off, whence);
	long long got = r < 0 ? -errno : (long long)r;

	rec_done(o, got);
	if (got != want)
		mismatch(0, NULL, NULL, 0, "lseek(0x%" PRIx64 ", %s) returned %lld%s%s, model %lld%s",
		     off, op_names[k], got, got < 0 ? " " : "", got < 0 ? strerror((int)-got) : "",
		     want, want == -ENXIO ? " (ENXIO)" : "");
}

/*
 * Read the line file of the @k-th non-zero line: direct I/O, so the bytes
 * come from the store, not the page cache.  It holds the line up to the
 * end of the heap.
 */
static void line_file_check(uint64_t k)
{
	uint64_t l = 0, off, want;
	char path[700];
	ssize_t r;
	int fd;

	for (;; l++) {
		if (line_nz(l) && k-- == 0)
			break;
	}
	off = l * X.c.line;
	want = X.size - off < X.c.line ? X.size - off : X.c.line;
	snprintf(path, sizeof(path), "%s/%016" PRIx64, X.lines_dir, off);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		mismatch(0, NULL, NULL, 0, "open %s: %s", path, strerror(errno));
	r = pread(fd, X.got, X.c.line + 1, 0);
	close(fd);
	if (r != (ssize_t)want)
		mismatch(0, NULL, NULL, 0, "read of line file %016" PRIx64 " returned %zd (%s), "
			 "expected %" PRIu64, off, r, r < 0 ? strerror(errno) : "count", want);
	compare("line file read", X.got, off, (size_t)want);
}

static void op_lines(void)
{
	struct op_rec *o = rec_new(OP_LINES, 0, 0);
	char *list = mu_list(X.lines_dir), *p, name[32];
	uint64_t n = lines_in_size(), count = 0;

	if (!list)
		mismatch(0, NULL, NULL, 0, "listing %s: %s", X.lines_dir, strerror(errno));
	p = list;
	for (uint64_t l = 0; l < n; l++) {
		size_t nl;

		if (!line_nz(l))
			continue;
		snprintf(name, sizeof(name), "%016" PRIx64 "\n", l * X.c.line);
		nl = strlen(name);
		if (strncmp(p, name, nl) != 0) {
			char got[32];

			snprintf(got, sizeof(got), "%.*s", (int)strcspn(p, "\n"), p);
			free(list);
			rec_done(o, (long long)count);
			mismatch(0, NULL, NULL, 0, "lines/ entry %" PRIu64 " is \"%s\", model \"%.16s\" "
			     "(the non-zero line %" PRIu64 ")", count, *got ? got : "(end)", name, l);
		}
		p += nl;
		count++;
	}
	rec_done(o, (long long)count);
	if (*p) {
		char extra[32];

		snprintf(extra, sizeof(extra), "%.*s", (int)strcspn(p, "\n"), p);
		free(list);
		mismatch(0, NULL, NULL, 0, "lines/ lists \"%s\" after the model's %" PRIu64
		     " non-zero lines", extra, count);
	}
	free(list);
	if (count)
		line_file_check(mu_rnd(&X.rng, count));
}

/* The last op: does the store hold the file across a daemon restart? */
static void op_remount(void)
{
	struct op_rec *o = rec_new(OP_REMOUNT, 0, 0);

	unmap();
	if (close(X.fd) != 0)
		mismatch(0, NULL, NULL, 0, "close: %s", strerror(errno));
	mu_remount();
	file_open();
	rec_done(o, 0);
	op_check();
	op_lines();
}

/* The whole file against the model: size, st_blocks, every byte, EOF. */
static void op_check(void)
{
	struct op_rec *o = rec_new(OP_CHECK, 0, X.size);
	uint64_t off = 0;
	ssize_t r;

	stat_check("the periodic check", true);
	cache_drop();
	while (off < X.size) {
		size_t want = X.size - off < X.scratch ? (size_t)(X.size - off) : X.scratch;

		r = pread(X.fd, X.got, want, (off_t)off);
		if (r != (ssize_t)want)
			mismatch(0, NULL, NULL, 0, "whole-file pread of %zu at 0x%" PRIx64 " returned %zd"
			     " (%s)", want, off, r, r < 0 ? strerror(errno) : "short");
		compare("whole-file pread", X.got, off, want);
		off += want;
	}
	r = pread(X.fd, X.got, 1, (off_t)X.size);
	rec_done(o, 0);
	if (r != 0)
		mismatch(0, NULL, NULL, 0, "pread at EOF 0x%" PRIx64 " returned %zd, expected 0", X.size,
		     r);
}

static enum op_kind pick_op(void)
{
	unsigned v = (unsigned)mu_rnd(&X.rng, 1000), acc = 0;

	for (int k = 0; k < OP_N; k++) {
		acc += op_weights[k];
		if (v < acc)
			return (enum op_kind)k;
	}
	return OP_READ;
}

/* ---- a run ---------------------------------------------------------- */

static void fsx_run(const struct cfg *c, const char *mount_opts)
{
	uint64_t ls = c->line, every = c->check_every ? c->check_every : c->ops + 1;
	struct stat st;
	double t0;

	memset(&X, 0, sizeof(X));
	X.c = *c;
	ck_assert_msg(ls >= 512 && (ls & (ls - 1)) == 0, "line size %" PRIu64 "?", ls);
	ck_assert_msg(c->maxsize >= ls, "FSX_MAXSIZE %" PRIu64 " below a line", c->maxsize);
	printf("fsx: seed %" PRIu64 ", %" PRIu64 " ops, line size %" PRIu64 " (%s), max size %"
	       PRIu64 ", check every %" PRIu64 "\n", c->seed, c->ops, ls,
	       mount_opts ? mount_opts : "default", c->maxsize, c->check_every);
	fflush(stdout);

	mu_rng_seed(&X.rng, c->seed);
	X.nlines = c->maxsize / ls + 2;
	X.model = calloc(X.nlines, ls);
	X.nz = calloc(X.nlines, 1);
	X.nz_stale = calloc(X.nlines, 1);
	X.scratch = (size_t)(MAX_LEN_LINES * ls > MiB ? MAX_LEN_LINES * ls : MiB);
	X.buf = malloc(X.scratch);
	X.got = malloc(X.scratch);
	ck_assert_msg(X.model && X.nz && X.nz_stale && X.buf && X.got, "out of memory");

	mu_mount(mount_opts);
	ck_assert_msg(mkdir(mu_at(HEAP), 0755) == 0, "mkdir %s: %s", mu_at(HEAP), strerror(errno));
	snprintf(X.path, sizeof(X.path), "%s", mu_at(HEAP "/heap"));
	snprintf(X.lines_dir, sizeof(X.lines_dir), "%s", mu_at(HEAP "/lines"));
	file_open();
	ck_assert_int_eq(fstat(X.fd, &st), 0);
	ck_assert_msg((uint64_t)st.st_blksize == ls, "the heap's st_blksize (its line size) is "
		      "%ld, expected %" PRIu64, (long)st.st_blksize, ls);

	t0 = mu_now();
	for (X.opno = 1; X.opno <= c->ops; X.opno++) {
		enum op_kind k = pick_op();
		double t = mu_now();

		switch (k) {
		case OP_READ: op_read(); break;
		case OP_WRITE: op_write(); break;
		case OP_MAPREAD: op_mapread(); break;
		case OP_MAPWRITE: op_mapwrite(); break;
		case OP_TRUNCATE: op_truncate(); break;
		case OP_PUNCH: op_punch(); break;
		case OP_FSYNC: op_fsync(); break;
		case OP_REOPEN: op_reopen(); break;
		case OP_SEEK_DATA: op_seek(SEEK_DATA); break;
		case OP_SEEK_HOLE: op_seek(SEEK_HOLE); break;
		case OP_LINES: op_lines(); break;
		default: break;
		}
		X.secs[k] += mu_now() - t;
		if (X.opno % every == 0 || X.opno == c->ops) {
			t = mu_now();
			op_check();
			X.secs[OP_CHECK] += mu_now() - t;
		}
		if (X.opno % 100000 == 0) {
			printf("fsx: %" PRIu64 " ops, %.0f s, size 0x%" PRIx64 "\n", X.opno,
			       mu_now() - t0, X.size);
			fflush(stdout);
		}
	}
	X.opno = c->ops;
	op_lines();
	op_remount();

	printf("fsx: seed %" PRIu64 ", line size %" PRIu64 ": %" PRIu64 " ops passed in %.1f s"
	       " (%.0f ops/s), final size %" PRIu64 "\nfsx:  ", c->seed, ls, c->ops,
	       mu_now() - t0, (double)c->ops / (mu_now() - t0), X.size);
	for (int k = 0; k < OP_N; k++)
		printf(" %s %" PRIu64 " (%.1f s)", op_names[k], X.count[k], X.secs[k]);
	printf("\n");
	fflush(stdout);

	unmap();
	ck_assert_int_eq(close(X.fd), 0);
	free(X.model);
	free(X.nz);
	free(X.nz_stale);
	free(X.buf);
	free(X.got);
}

/* ---- the suite ------------------------------------------------------ */

static struct cfg cfg_base(uint64_t line, bool by_hand)
{
	struct cfg c = {
		.seed = FIXED_SEED,
		.ops = by_hand ? env_u64("FSX_OPS", HAND_OPS) : env_u64("FSX_CTEST_OPS", CTEST_OPS),
		.line = line,
		.maxsize = env_u64("FSX_MAXSIZE", by_hand ? HAND_MAXSIZE : CTEST_MAXSIZE),
		.check_every = env_u64("FSX_CHECK", 1000),
		.verbose = getenv("FSX_VERBOSE") && strcmp(getenv("FSX_VERBOSE"), "0") != 0,
	};

	return c;
}

START_TEST(fsx_fixed_seed_64k)
{
	struct cfg c = cfg_base(64 * KiB, false);

	fsx_run(&c, NULL);
}
END_TEST

START_TEST(fsx_time_seed_64k)
{
	struct cfg c = cfg_base(64 * KiB, false);

	c.seed = time_seed();
	fsx_run(&c, NULL);
}
END_TEST

START_TEST(fsx_fixed_seed_4k)
{
	struct cfg c = cfg_base(4 * KiB, false);

	fsx_run(&c, "line=4K");
}
END_TEST

START_TEST(fsx_time_seed_4k)
{
	struct cfg c = cfg_base(4 * KiB, false);

	c.seed = time_seed();
	fsx_run(&c, "line=4K");
}
END_TEST

/* By hand: FSX_OPS, FSX_SEED, FSX_LINE. */
START_TEST(fsx_by_hand)
{
	const char *line = getenv("FSX_LINE");
	struct cfg c = cfg_base(64 * KiB, true);
	char opts[64];

	c.seed = getenv("FSX_SEED") && *getenv("FSX_SEED") ? env_u64("FSX_SEED", 0) : time_seed();
	if (line && *line) {
		c.line = size_parse(line);
		ck_assert_msg(c.line, "FSX_LINE=%s: not a size", line);
		snprintf(opts, sizeof(opts), "line=%s", line);
	}
	fsx_run(&c, line && *line ? opts : NULL);
}
END_TEST

/* A fresh root per test; fsx_run() mounts it with its line size. */
static TCase *tcase_new(Suite *s, const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, mu_root_make, mu_teardown);
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

/* Any of FSX_OPS, FSX_SEED, FSX_LINE: one run by hand. */
static bool by_hand(void)
{
	return getenv("FSX_OPS") || getenv("FSX_SEED") || getenv("FSX_LINE");
}

static Suite *fsx_suite(void)
{
	Suite *s = suite_create("fsx_heap");
	TCase *tc;

	if (by_hand()) {
		tc = tcase_new(s, "by hand", 7 * 24 * 3600);
		tcase_add_test(tc, fsx_by_hand);
		return s;
	}
	tc = tcase_new(s, "line=64K", 240);
	tcase_add_test(tc, fsx_fixed_seed_64k);
	tcase_add_test(tc, fsx_time_seed_64k);
	tc = tcase_new(s, "line=4K", 240);
	tcase_add_test(tc, fsx_fixed_seed_4k);
	tcase_add_test(tc, fsx_time_seed_4k);
	return s;
}

int main(void)
{
	/*
	 * A run by hand can take hours, and a forked Check test cannot report
	 * a duration over about 35 minutes (microseconds packed in 32 bits: the
	 * test then errors after passing).  So it runs in-process unless
	 * CK_FORK says otherwise; the fixture's teardown still unmounts.
	 */
	if (by_hand() && !getenv("CK_FORK"))
		setenv("CK_FORK", "no", 1);
	return mu_main(fsx_suite());
}
